/* ssm/lru.c — the Linear Recurrent Unit (see lru.h). Complex gradients use g = dL/dRe + i dL/dIm:
 * for w = a z, g_z = conj(a) g_w and g_a = conj(z) g_w; for a real parameter r of a,
 * dL/dr = Re(conj(da/dr) g_a). */
#include "ssm/lru.h"
#include "core/error.h"
#include "seq/layers.h"

#include <cblas.h>
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const sl_spec_key sl_lru_keys[] = {
    SL_KEY_INT(sl_lru_config, d_model, "d_model", "64", 1, 1 << 16, "H, input and output width"),
    SL_KEY_INT(sl_lru_config, d_hidden, "d_hidden", "64", 1, 1 << 16, "N, complex state modes"),
    SL_KEY_DOUBLE(sl_lru_config, r_min, "r_min", "0", 0, 1, "ring init: smallest |lambda|"),
    SL_KEY_DOUBLE(sl_lru_config, r_max, "r_max", "1", 0, 1, "ring init: largest |lambda|"),
    SL_KEY_DOUBLE(sl_lru_config, max_phase, "max_phase", "6.28", 0, 100, "ring init: arg(lambda) ~ U(0, max_phase)"),
    SL_KEY_INT(sl_lru_config, chunk_size, "chunk_size", "64", 1, 1 << 20, "steps per chunk of the chunked scan"),
    SL_KEY_DOUBLE(sl_lru_config, lr_scale, "lr_scale", "0.5", 0, 10,
                  "learning-rate multiplier of nu_log, theta_log, gamma_log (no weight decay)"),
    SL_KEY_END,
};

void sl_lru_config_default(sl_lru_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_lru_keys, c); /* cannot fail: the table's defaults are valid */
}

/* ---- the scan ---- */

void sl_lru_scan(float *xr, float *xi, const float *lr, const float *li, int B, int T, int N, int L, int reverse, float *ws)
{
    const int NC = (T + L - 1) / L;
    float *cr = ws, *ci = ws + (size_t)B * NC * N;                 /* (B, NC, N): chunk-end states, then carries in */
    float *pr = ci + (size_t)B * NC * N, *pi = pr + (size_t)L * N; /* (L, N): lam^(k+1) */
    for (int n = 0; n < N; n++) {
        double complex lam = lr[n] + I * li[n], p = lam;
        for (int k = 0; k < L; k++, p *= lam) {
            pr[(size_t)k * N + n] = (float)creal(p);
            pi[(size_t)k * N + n] = (float)cimag(p);
        }
    }
#define ROW(b, t) (((size_t)(b)*T + (size_t)(reverse ? T - 1 - (t) : (t))) * N)
    /* 1: every chunk from a zero state */
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * T * N >= 65536)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < NC; c++) {
            const int t0 = c * L, t1 = t0 + L < T ? t0 + L : T;
            for (int t = t0 + 1; t < t1; t++) {
                float *r = xr + ROW(b, t), *i = xi + ROW(b, t);
                const float *r0 = xr + ROW(b, t - 1), *i0 = xi + ROW(b, t - 1);
                for (int n = 0; n < N; n++) {
                    float a = r0[n], bb = i0[n];
                    r[n] += lr[n] * a - li[n] * bb;
                    i[n] += lr[n] * bb + li[n] * a;
                }
            }
            memcpy(cr + ((size_t)b * NC + c) * N, xr + ROW(b, t1 - 1), (size_t)N * sizeof(float));
            memcpy(ci + ((size_t)b * NC + c) * N, xi + ROW(b, t1 - 1), (size_t)N * sizeof(float));
        }
    /* 2: the state entering chunk c is E_{c-1} = end_{c-1} + lam^L E_{c-2}; overwrite end_c by it */
    const float *pLr = pr + (size_t)(L - 1) * N, *pLi = pi + (size_t)(L - 1) * N;
    #pragma omp parallel for schedule(static) if ((size_t)B * NC * N >= 65536)
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            float er = 0.0f, ei = 0.0f; /* E_{c-1} */
            for (int c = 0; c < NC; c++) {
                size_t k = ((size_t)b * NC + c) * N + n;
                float endr = cr[k], endi = ci[k];
                cr[k] = er;
                ci[k] = ei;
                float nr = endr + pLr[n] * er - pLi[n] * ei, ni = endi + pLr[n] * ei + pLi[n] * er;
                er = nr;
                ei = ni;
            }
        }
    /* 3: row k of chunk c gets lam^(k+1) E_{c-1} */
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * T * N >= 65536)
    for (int b = 0; b < B; b++)
        for (int c = 1; c < NC; c++) {
            const int t0 = c * L, t1 = t0 + L < T ? t0 + L : T;
            const float *er = cr + ((size_t)b * NC + c) * N, *ei = ci + ((size_t)b * NC + c) * N;
            for (int t = t0; t < t1; t++) {
                float *r = xr + ROW(b, t), *i = xi + ROW(b, t);
                const float *qr = pr + (size_t)(t - t0) * N, *qi = pi + (size_t)(t - t0) * N;
                for (int n = 0; n < N; n++) {
                    r[n] += qr[n] * er[n] - qi[n] * ei[n];
                    i[n] += qr[n] * ei[n] + qi[n] * er[n];
                }
            }
        }
#undef ROW
}

/* Packed rows (seq/model.h): the same scan, sequential in time per row (rows and modes in
 * parallel), cut where a document starts: forward h_t = v_t there; reverse (the adjoint)
 * G_t = g_t where t + 1 starts a document. pos (B, T). */
static void lru_scan_docs(float *xr, float *xi, const float *lr, const float *li, const int32_t *pos, int B, int T, int N,
                          int reverse)
{
    #pragma omp parallel for schedule(static) if ((size_t)B * T * N >= 65536)
    for (int b = 0; b < B; b++)
        for (int s = 1; s < T; s++) {
            const int t = reverse ? T - 1 - s : s, tp = reverse ? t + 1 : t - 1;
            if (pos[(size_t)b * T + (t > tp ? t : tp)] == 0) continue; /* a document starts between them */
            float *r = xr + ((size_t)b * T + t) * N, *i = xi + ((size_t)b * T + t) * N;
            const float *r0 = xr + ((size_t)b * T + tp) * N, *i0 = xi + ((size_t)b * T + tp) * N;
            for (int n = 0; n < N; n++) {
                float a = r0[n], bb = i0[n];
                r[n] += lr[n] * a - li[n] * bb;
                i[n] += lr[n] * bb + li[n] * a;
            }
        }
}

void sl_lru_scan_naive(double *hr, double *hi, const float *vr, const float *vi, const float *lr, const float *li, int B, int T,
                       int N, int reverse)
{
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            double complex h = 0.0, lam = (double)lr[n] + I * (double)li[n];
            for (int s = 0; s < T; s++) {
                size_t k = ((size_t)b * T + (reverse ? T - 1 - s : s)) * N + n;
                h = lam * h + (vr[k] + I * vi[k]);
                hr[k] = creal(h);
                hi[k] = cimag(h);
            }
        }
}

/* ---- the model ---- */

typedef struct {
    sl_model base;
    sl_lru_config cfg;
    int H, N;
    int i_nu, i_th, i_ga, i_Br, i_Bi, i_Cr, i_Ci, i_D;
    int B, T;
    sl_arena fwd, bwd;
    float *bn, *lam;          /* (2, N, H): gamma (.) B_re, gamma (.) B_im; (2, N): Re, Im lambda (own block) */
    float *u;                 /* (BT, H) the input */
    float *vr, *vi, *hr, *hi; /* (BT, N): v = gamma B u, and the states */
    float *ws;                /* the scan's workspace */
    float *gr, *gi, *tmp;     /* (BT, N) x 2, max(N H, N) */
} lru_model;

typedef struct {
    int B;
    sl_arena mem;
    float *hr, *hi; /* (B, N) */
    float *vr, *vi; /* (B, N) */
    float *t;       /* (B, H) */
} lru_state;

#define PD(i) sl_params_data(base->P, m->i)
#define PG(i) sl_params_grad(base->P, m->i)

/* lambda (lr, li) and gamma (.) B from the parameters */
static void lru_prepare(lru_model *m, sl_model *base, float *lam, float *bn)
{
    const int N = m->N, H = m->H;
    const float *nu = PD(i_nu), *th = PD(i_th), *ga = PD(i_ga), *Br = PD(i_Br), *Bi = PD(i_Bi);
    for (int n = 0; n < N; n++) {
        double r = exp(-exp((double)nu[n])), a = exp((double)th[n]);
        lam[n] = (float)(r * cos(a));
        lam[N + n] = (float)(r * sin(a));
        float g = expf(ga[n]);
        for (int h = 0; h < H; h++) {
            bn[(size_t)n * H + h] = g * Br[(size_t)n * H + h];
            bn[(size_t)(N + n) * H + h] = g * Bi[(size_t)n * H + h];
        }
    }
}

static int lru_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int B, int T)
{
    (void)tok;
    lru_model *m = (lru_model *)base;
    const int H = m->H, N = m->N, L = m->cfg.chunk_size;
    const size_t BT = (size_t)B * T, NC = (size_t)(T + L - 1) / L;
    int rc;
    if (base->doc_pos && (rc = sl_docs_check(base->doc_pos, B, T))) return rc;
    if ((rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->u, BT * H), SL_FIELD(m->vr, BT * N), SL_FIELD(m->vi, BT * N),
                             SL_FIELD(m->hr, BT * N), SL_FIELD(m->hi, BT * N),
                             SL_FIELD(m->ws, 2 * (size_t)B * NC * N + 2 * (size_t)L * N))))
        return rc;
    m->B = B;
    m->T = T;
    float *lam = m->lam, *bn = m->bn;
    lru_prepare(m, base, lam, bn);
    memcpy(m->u, x, BT * H * sizeof(float));
    /* v = gamma (.) (B_re + i B_im) u: (BT, N) twice */
    sl_linear_forward(m->vr, x, bn, NULL, (int)BT, H, N);
    sl_linear_forward(m->vi, x, bn + (size_t)N * H, NULL, (int)BT, H, N);
    memcpy(m->hr, m->vr, BT * N * sizeof(float));
    memcpy(m->hi, m->vi, BT * N * sizeof(float));
    if (base->doc_pos) lru_scan_docs(m->hr, m->hi, lam, lam + N, base->doc_pos, B, T, N, 0); /* packed rows */
    else sl_lru_scan(m->hr, m->hi, lam, lam + N, B, T, N, L, 0, m->ws);
    /* y = h_re C_re^T - h_im C_im^T + D u */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, H, N, 1.0f, m->hr, N, PD(i_Cr), N, 0.0f, y, H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, H, N, -1.0f, m->hi, N, PD(i_Ci), N, 1.0f, y, H);
    const float *D = PD(i_D);
    for (size_t r = 0; r < BT; r++)
        for (int h = 0; h < H; h++) y[r * H + h] += D[h] * x[r * H + h];
    return SL_OK;
}

static int lru_backward(sl_model *base, const float *dy, float *dx)
{
    lru_model *m = (lru_model *)base;
    const int H = m->H, N = m->N, B = m->B, T = m->T, L = m->cfg.chunk_size;
    const size_t BT = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "lru: backward before forward");
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->bwd, SL_FIELD(m->gr, BT * N), SL_FIELD(m->gi, BT * N),
                             SL_FIELD(m->tmp, (size_t)N * H > (size_t)N ? (size_t)N * H : (size_t)N))))
        return rc;
    const float *u = m->u, *D = PD(i_D), *lam = m->lam, *bn = m->bn;
    float *gD = PG(i_D);
    for (size_t r = 0; r < BT; r++)
        for (int h = 0; h < H; h++) {
            gD[h] += dy[r * H + h] * u[r * H + h];
            if (dx) dx[r * H + h] += D[h] * dy[r * H + h];
        }
    /* y = h_re C_re^T - h_im C_im^T: g_h = dy C_re - i dy C_im; dC_re += dy^T h_re, dC_im -= dy^T h_im */
    float *gr = m->gr, *gi = m->gi;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, N, H, 1.0f, dy, H, PD(i_Cr), N, 0.0f, gr, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, N, H, -1.0f, dy, H, PD(i_Ci), N, 0.0f, gi, N);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, N, (int)BT, 1.0f, dy, H, m->hr, N, 1.0f, PG(i_Cr), N);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, N, (int)BT, -1.0f, dy, H, m->hi, N, 1.0f, PG(i_Ci), N);
    /* adjoint: G_t = g_t + conj(lam) G_{t+1} — the same scan, backwards, with conj(lam) */
    float *lci = m->tmp; /* -Im lam */
    for (int n = 0; n < N; n++) lci[n] = -lam[N + n];
    if (base->doc_pos) lru_scan_docs(gr, gi, lam, lci, base->doc_pos, B, T, N, 1);
    else sl_lru_scan(gr, gi, lam, lci, B, T, N, L, 1, m->ws);
    /* g_lam = sum_t G_t conj(h_{t-1}); dgamma_log = sum_t Re(conj(v_t) G_t) (v includes gamma) */
    double *acc = calloc(3 * (size_t)N, sizeof *acc);
    if (!acc) return sl_error(SL_ENOMEM, "out of memory");
    const float *hr = m->hr, *hi = m->hi, *vr = m->vr, *vi = m->vi;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t k = ((size_t)b * T + t) * N;
            for (int n = 0; n < N; n++) acc[2 * N + n] += (double)vr[k + n] * gr[k + n] + (double)vi[k + n] * gi[k + n];
            if (t == 0 || (base->doc_pos && base->doc_pos[(size_t)b * T + t] == 0)) continue; /* no h_{t-1} */
            size_t k0 = k - N;
            for (int n = 0; n < N; n++) {
                acc[n] += (double)gr[k + n] * hr[k0 + n] + (double)gi[k + n] * hi[k0 + n];
                acc[N + n] += (double)gi[k + n] * hr[k0 + n] - (double)gr[k + n] * hi[k0 + n];
            }
        }
    /* lam = exp(-e^nu + i e^theta): dlam/dnu = -e^nu lam, dlam/dtheta = i e^theta lam */
    const float *nu = PD(i_nu), *th = PD(i_th);
    float *gnu = PG(i_nu), *gth = PG(i_th), *gga = PG(i_ga);
    for (int n = 0; n < N; n++) {
        double complex l = (double)lam[n] + I * (double)lam[N + n], gl = acc[n] + I * acc[N + n];
        double complex w = conj(l) * gl;
        gnu[n] += (float)(-exp((double)nu[n]) * creal(w));
        gth[n] += (float)(exp((double)th[n]) * cimag(w));
        gga[n] += (float)acc[2 * N + n];
    }
    free(acc);
    /* v = gamma (.) (B_re + i B_im) u: dB_re = gamma (.) G_re^T u, dB_im = gamma (.) G_im^T u;
     * du += G_re (gamma B_re) + G_im (gamma B_im) */
    const float *ga = PD(i_ga);
    float *tmp = m->tmp;
    for (int part = 0; part < 2; part++) {
        const float *G = part ? gi : gr;
        float *gB = part ? PG(i_Bi) : PG(i_Br);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, H, (int)BT, 1.0f, G, N, u, H, 0.0f, tmp, H);
        for (int n = 0; n < N; n++) {
            float g = expf(ga[n]);
            for (int h = 0; h < H; h++) gB[(size_t)n * H + h] += g * tmp[(size_t)n * H + h];
        }
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, H, N, 1.0f, G, N, bn + (size_t)part * N * H, H, 1.0f,
                        dx, H);
    }
    return SL_OK;
}

static void lru_state_free(sl_model *base, void *p)
{
    (void)base;
    lru_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

static int lru_state_reset(sl_model *base, void *p)
{
    lru_model *m = (lru_model *)base;
    lru_state *s = p;
    memset(s->hr, 0, (size_t)s->B * m->N * sizeof(float));
    memset(s->hi, 0, (size_t)s->B * m->N * sizeof(float));
    return SL_OK;
}

static void *lru_state_new(sl_model *base, int B)
{
    lru_model *m = (lru_model *)base;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "lru: bad batch size %d", B);
        return NULL;
    }
    lru_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B;
    s->B = B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->hr, b * m->N), SL_FIELD(s->hi, b * m->N), SL_FIELD(s->vr, b * m->N),
                       SL_FIELD(s->vi, b * m->N), SL_FIELD(s->t, b * m->H))) {
        free(s);
        return NULL;
    }
    lru_state_reset(base, s);
    return s;
}

/* the recurrence, one position: x (B, H) -> y (B, H) */
static int lru_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    lru_model *m = (lru_model *)base;
    lru_state *s = p;
    const int B = s->B, H = m->H, N = m->N;
    float *lam = m->lam, *bn = m->bn;
    lru_prepare(m, base, lam, bn);
    sl_linear_forward(s->vr, x, bn, NULL, B, H, N);
    sl_linear_forward(s->vi, x, bn + (size_t)N * H, NULL, B, H, N);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            size_t k = (size_t)b * N + n;
            float a = s->hr[k], c = s->hi[k];
            s->hr[k] = lam[n] * a - lam[N + n] * c + s->vr[k];
            s->hi[k] = lam[n] * c + lam[N + n] * a + s->vi[k];
        }
    sl_linear_forward(y, s->hr, PD(i_Cr), NULL, B, N, H);
    sl_linear_forward(s->t, s->hi, PD(i_Ci), NULL, B, N, H);
    const float *D = PD(i_D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) y[(size_t)b * H + h] += D[h] * x[(size_t)b * H + h] - s->t[(size_t)b * H + h];
    return SL_OK;
}

static int lru_init(sl_model *base, sl_rng *rng)
{
    lru_model *m = (lru_model *)base;
    const int H = m->H, N = m->N;
    const double rmin = m->cfg.r_min, rmax = m->cfg.r_max;
    float *nu = PD(i_nu), *th = PD(i_th), *ga = PD(i_ga);
    /* ring init (paper, appendix A): |lambda|^2 uniform on [r_min^2, r_max^2] */
    for (int n = 0; n < N; n++) {
        double u1 = sl_rng_uniform(rng), u2 = sl_rng_uniform(rng);
        double r2 = u1 * (rmax * rmax - rmin * rmin) + rmin * rmin;
        if (r2 < 1e-12) r2 = 1e-12;           /* keep nu_log finite */
        if (r2 > 1.0 - 1e-7) r2 = 1.0 - 1e-7; /* keep gamma_log finite */
        double phase = m->cfg.max_phase * u2;
        if (phase < 1e-12) phase = 1e-12;
        nu[n] = (float)log(-0.5 * log(r2));
        th[n] = (float)log(phase);
        ga[n] = (float)log(sqrt(1.0 - r2));
    }
    sl_rng_fill_normal(rng, PD(i_Br), (size_t)N * H, (float)(1.0 / sqrt(2.0 * H)));
    sl_rng_fill_normal(rng, PD(i_Bi), (size_t)N * H, (float)(1.0 / sqrt(2.0 * H)));
    sl_rng_fill_normal(rng, PD(i_Cr), (size_t)H * N, (float)(1.0 / sqrt((double)N)));
    sl_rng_fill_normal(rng, PD(i_Ci), (size_t)H * N, (float)(1.0 / sqrt((double)N)));
    sl_rng_fill_normal(rng, PD(i_D), (size_t)H, 1.0f);
    return SL_OK;
}

static void lru_destroy(sl_model *base)
{
    lru_model *m = (lru_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
    free(m->bn);
    free(m);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int lru_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    lru_state *d = dst;
    const lru_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's release: the forward cache and backward's scratch */
static void lru_release(sl_model *base)
{
    lru_model *m = (lru_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
}

/* seq/model.h's state_reset_rows: the chosen rows' hidden state to zero */
static int lru_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    lru_model *m = (lru_model *)base;
    lru_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t n = (size_t)m->N;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->hr + b * n, 0, n * sizeof(float));
            memset(s->hi + b * n, 0, n * sizeof(float));
        }
    return SL_OK;
}

static const sl_model_vt lru_vt = {
    .kind = "lru",
    .destroy = lru_destroy,
    .release = lru_release,
    .init = lru_init,
    .forward = lru_forward,
    .backward = lru_backward,
    .state_new = lru_state_new,
    .state_free = lru_state_free,
    .state_reset = lru_state_reset,
    .state_reset_rows = lru_state_reset_rows,
    .state_copy = lru_state_copy,
    .step = lru_step,
};

int sl_lru_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_lru_config c;
    sl_lru_config_default(&c);
    int rc = sl_spec_read(s, sl_lru_keys, &c);
    return rc ? rc : sl_lru_create(&c, P, prefix, out);
}

int sl_lru_create(const sl_lru_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_lru_config c = *cfg;
    if (c.d_model < 1 || c.d_hidden < 1 || c.chunk_size < 1)
        return sl_error(SL_EINVAL, "lru: d_model, d_hidden and chunk_size must be positive (got %d, %d, %d)", c.d_model,
                        c.d_hidden, c.chunk_size);
    if (!(c.r_min >= 0 && c.r_min <= c.r_max && c.r_max <= 1))
        return sl_error(SL_EINVAL, "lru: need 0 <= r_min <= r_max <= 1 (got r_min=%g, r_max=%g)", c.r_min, c.r_max);
    if (!(c.max_phase > 0)) return sl_error(SL_EINVAL, "lru: max_phase must be positive (got %g)", c.max_phase);
    lru_model *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *base = &m->base;
    base->vt = &lru_vt;
    base->P = P;
    base->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_PACK;
    base->d_in = base->d_out = c.d_model;
    m->cfg = c;
    m->H = c.d_model;
    m->N = c.d_hidden;
    const char *pre = prefix ? prefix : "";
    const int H = m->H, N = m->N;
    int *idx[] = {&m->i_nu, &m->i_th, &m->i_ga, &m->i_Br, &m->i_Bi, &m->i_Cr, &m->i_Ci, &m->i_D};
    m->i_nu = sl_params_add(P, pre, "nu_log", 1, N, 0, 0, 0);
    m->i_th = sl_params_add(P, pre, "theta_log", 1, N, 0, 0, 0);
    m->i_ga = sl_params_add(P, pre, "gamma_log", 1, N, 0, 0, 0);
    m->i_Br = sl_params_add(P, pre, "B_re", 2, N, H, 0, 0);
    m->i_Bi = sl_params_add(P, pre, "B_im", 2, N, H, 0, 0);
    m->i_Cr = sl_params_add(P, pre, "C_re", 2, H, N, 0, 0);
    m->i_Ci = sl_params_add(P, pre, "C_im", 2, H, N, 0, 0);
    m->i_D = sl_params_add(P, pre, "D", 1, H, 0, 0, 0);
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (*idx[i] < 0) {
            int rc = *idx[i];
            free(m);
            return rc;
        }
    m->bn = malloc((2 * (size_t)N * H + 2 * (size_t)N) * sizeof(float));
    if (!m->bn) {
        free(m);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    m->lam = m->bn + 2 * (size_t)N * H;
    /* the paper trains nu_log, theta_log, gamma_log at a reduced learning rate without weight decay */
    sl_params_set_group(P, m->i_nu, (float)c.lr_scale, 0.0f);
    sl_params_set_group(P, m->i_th, (float)c.lr_scale, 0.0f);
    sl_params_set_group(P, m->i_ga, (float)c.lr_scale, 0.0f);
    *out = base;
    return SL_OK;
}
