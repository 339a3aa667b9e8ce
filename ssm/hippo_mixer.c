/* ssm/hippo_mixer.c — the `hippo` mixer: a fixed (untrained) HiPPO memory per channel with a
 * learnable linear read-out of its coefficients.
 *
 *   c_{b,h,t} = Ad c_{b,h,t-1} + Bd u_{b,t,h}          (time-invariant measures, step dt)
 *   c_{b,h,t} = LegS GBT step k = t+1 (O(N))           (legs, time-varying A/t, B/t)
 *   y_{b,t,h} = sum_n C[h,n] c_{b,h,t}[n] + D[h] u_{b,t,h}
 *
 * Tensors: A (N,N), B (N) the continuous operator (frozen: trainable = 0; the legs path uses
 * its O(N) closed form, the others discretize the stored A, B), C (H,N), D (H) learnable.
 * Sequence and step mode run the same recurrence in double precision.
 */
#include "ssm/hippo.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sl_spec_key sl_hippo_keys[] = {
    SL_KEY_INT(sl_hippo_config, d_model, "d_model", "64", 1, 1 << 16, "channels (each gets its own HiPPO state)"),
    SL_KEY_INT(sl_hippo_config, d_state, "d_state", "32", 1, 4096, "N, the number of HiPPO coefficients per channel"),
    SL_KEY_STR(sl_hippo_config, measure, "measure", "legs", "legs, legt, lmu, lagt, glagt, fout"),
    SL_KEY_STR(sl_hippo_config, discretization, "discretization", "bilinear",
               "forward, backward, bilinear, gbt, zoh (legs: GBT rules only)"),
    SL_KEY_DOUBLE(sl_hippo_config, gbt_alpha, "gbt_alpha", "0.5", 0, 1,
                  "alpha of the generalized bilinear transform (discretization=gbt)"),
    SL_KEY_DOUBLE(sl_hippo_config, dt, "dt", "0.01", 1e-9, 1e9,
                  "step of the time-invariant measures in units of their time scale (dt/theta)"),
    SL_KEY_DOUBLE(sl_hippo_config, lag_alpha, "lag_alpha", "0", -0.999, 1e3, "glagt: Laguerre alpha"),
    SL_KEY_DOUBLE(sl_hippo_config, lag_beta, "lag_beta", "0", -1e3, 1e3, "glagt: tilt beta"),
    SL_KEY_END,
};

void sl_hippo_config_default(sl_hippo_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_hippo_keys, c); /* cannot fail: the table's defaults are valid */
}

typedef struct {
    sl_model base;
    int H, N;
    sl_hippo_measure meas;
    sl_disc disc;
    double ga, dt, lag_a, lag_b;
    int iA, iB, iC, iD;
    int cB, cT;        /* cached batch shape */
    double *r;         /* (N) sqrt(2n+1) for the LegS step */
    sl_arena fwd, bwd; /* forward cache and backward scratch, carved per call */
    double *S;         /* (B, H, T, N) states after each step */
    float *x;          /* (B, T, H) input copy */
    double *Ad, *Bd;   /* (N, N), (N) the discretized operator (time-invariant measures; empty for legs) */
    double *gAd, *gBd; /* backward's copy of the operator */
} hippo_mixer;

typedef struct {
    int B;
    long k;          /* steps taken */
    sl_arena mem;    /* one block, carved into the fields below */
    double *c;       /* (B, H, N) */
    double *Ad, *Bd; /* (N, N), (N) */
    double *work;    /* (N) */
    long *k0;        /* (B) the step count at each row's last per-row reset: row b is at step k - k0[b] */
} hippo_state;

static int is_legs(const hippo_mixer *m) { return m->meas == SL_HIPPO_LEGS; }

static int make_operator(const hippo_mixer *m, double *Ad, double *Bd)
{
    const sl_params *P = m->base.P;
    int N = m->N;
    double *A = malloc((size_t)N * N * sizeof *A), *B = malloc((size_t)N * sizeof *B);
    if (!A || !B) {
        free(A);
        free(B);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    const float *pa = sl_params_data(P, m->iA), *pb = sl_params_data(P, m->iB);
    for (int i = 0; i < N * N; i++) A[i] = pa[i];
    for (int i = 0; i < N; i++) B[i] = pb[i];
    int rc = sl_hippo_discretize(m->disc, m->ga, A, B, N, m->dt, Ad, Bd);
    free(A);
    free(B);
    return rc;
}

static double legs_a(const hippo_mixer *m)
{
    return m->disc == SL_DISC_GBT ? m->ga : m->disc == SL_DISC_FORWARD ? 0.0 : m->disc == SL_DISC_BACKWARD ? 1.0 : 0.5;
}

static void hm_destroy(sl_model *base)
{
    hippo_mixer *m = (hippo_mixer *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
    free(m->r);
    free(m);
}

static int hm_init(sl_model *base, sl_rng *rng)
{
    hippo_mixer *m = (hippo_mixer *)base;
    sl_params *P = base->P;
    int N = m->N, H = m->H;
    double *A = malloc((size_t)N * N * sizeof *A), *B = malloc((size_t)N * sizeof *B);
    if (!A || !B) {
        free(A);
        free(B);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    int rc = sl_hippo_transition(m->meas, N, m->lag_a, m->lag_b, A, B);
    if (!rc) {
        float *pa = sl_params_data(P, m->iA), *pb = sl_params_data(P, m->iB);
        for (int i = 0; i < N * N; i++) pa[i] = (float)A[i];
        for (int i = 0; i < N; i++) pb[i] = (float)B[i];
        /* read-out C ~ N(0, 1/N) so y has unit scale for unit-scale coefficients; D = 1 */
        sl_rng_fill_normal(rng, sl_params_data(P, m->iC), (size_t)H * N, (float)(1.0 / sqrt((double)N)));
        float *D = sl_params_data(P, m->iD);
        for (int h = 0; h < H; h++) D[h] = 1.0f;
    }
    free(A);
    free(B);
    return rc;
}

/* The LegS rows of sequence mode, HM_R at a time. One LegS step (sl_hippo_legs_step: a
 * triangular product and a triangular solve, each a serial chain over n through a running sum)
 * is latency-bound; interleaving HM_R independent rows keeps the core busy with HM_R chains at
 * once. The arithmetic is sl_hippo_legs_step's, expression by expression (the product and the
 * solve fused into one pass over n, as both only look at indices below n); step mode, which
 * runs sl_hippo_legs_step row by row, is the reference the tests compare with. */
#define HM_R 8

/* dp: the rows' positions in their documents ((T), packed rows: every row of the group in the
 * same batch row), or NULL: the step index k restarts at 1 where a document starts */
static void legs_rows_forward(const hippo_mixer *m, double *const *Srow, const float *const *xrow, float *const *yrow,
                              const int *hrow, int nr, int T, int H, double a, const int32_t *dp)
{
    const int N = m->N;
    const double *r = m->r;
    const float *C = sl_params_data(m->base.P, m->iC), *D = sl_params_data(m->base.P, m->iD);
    double u[HM_R], Sm[HM_R], Ss[HM_R];
    for (int t = 0; t < T; t++) {
        const int k = dp ? dp[t] : t; /* steps taken in this document */
        const double ik = 1.0 / (double)(k + 1), al = (1.0 - a) * ik, be = a * ik;
        for (int j = 0; j < nr; j++) {
            u[j] = xrow[j][(size_t)t * H];
            Sm[j] = Ss[j] = 0.0;
        }
        for (int n = 0; n < N; n++) {
            const double rn = r[n], np1 = n + 1.0, den = 1.0 + be * np1, irn = ik * rn, brn = be * rn;
            for (int j = 0; j < nr; j++) {
                double *c = Srow[j] + (size_t)t * N;
                const double xo = k ? c[n - N] : 0.0;
                double w = -rn * Sm[j] - np1 * xo; /* (A c)_n, sl_hippo_legs_mv */
                Sm[j] += rn * xo;
                w = xo + al * w + irn * u[j];
                const double xn = (w - brn * Ss[j]) / den; /* sl_hippo_legs_solve */
                Ss[j] += rn * xn;
                c[n] = xn;
            }
        }
        for (int j = 0; j < nr; j++) {
            const double *c = Srow[j] + (size_t)t * N;
            const int h = hrow[j];
            double o = D[h] * u[j];
            for (int i = 0; i < N; i++) o += C[h * N + i] * c[i];
            yrow[j][(size_t)t * H] = (float)o;
        }
    }
}

/* backward of HM_R rows of one channel h (rows b0 .. b0+nr-1): the adjoint G of each row through
 * sl_hippo_legs_solve_t and sl_hippo_legs_mtv fused into one descending pass over n (both
 * accumulate the same running sum over indices above n). dC, dD partials per row. */
static void legs_rows_backward(const hippo_mixer *m, int h, int b0, int nr, int T, const float *dy, float *dx, double a,
                               double (*G)[64], double (*W)[64], double (*dC)[64], double *dD, const int32_t *dp)
{
    const int N = m->N, H = m->H;
    const double *r = m->r;
    const float *C = sl_params_data(m->base.P, m->iC), *D = sl_params_data(m->base.P, m->iD);
    for (int j = 0; j < nr; j++) memset(G[j], 0, (size_t)N * sizeof(double));
    double du[HM_R], S1[HM_R];
    for (int t = T - 1; t >= 0; t--) {
        const int kk = dp ? dp[t] : t; /* packed rows (nr = 1): the position in the document */
        const double ik = 1.0 / (kk + 1.0), be = a * ik, al = (1.0 - a) * ik;
        for (int j = 0; j < nr; j++) {
            size_t ix = ((size_t)(b0 + j) * T + t) * H + h;
            const double g = dy[ix];
            const double *c = m->S + ((size_t)(b0 + j) * H + h) * T * N + (size_t)t * N;
            for (int i = 0; i < N; i++) {
                G[j][i] += g * C[h * N + i];
                dC[j][i] += g * c[i];
            }
            dD[j] += g * m->x[ix];
            du[j] = D[h] * g;
            S1[j] = 0.0;
        }
        for (int k = N - 1; k >= 0; k--) {
            const double rk = r[k], kp1 = k + 1.0, den = 1.0 + be * kp1, brk = be * rk;
            for (int j = 0; j < nr; j++) {
                const double w = (G[j][k] - brk * S1[j]) / den; /* sl_hippo_legs_solve_t */
                const double v = -kp1 * w - rk * S1[j];         /* sl_hippo_legs_mtv */
                S1[j] += rk * w;
                W[j][k] = w;
                G[j][k] = w + al * v;
            }
        }
        for (int j = 0; j < nr; j++) {
            for (int i = 0; i < N; i++) du[j] += ik * r[i] * W[j][i];
            if (dx) dx[((size_t)(b0 + j) * T + t) * H + h] += (float)du[j];
            if (dp && kk == 0) memset(G[j], 0, (size_t)N * sizeof(double)); /* a document starts: nothing flows back */
        }
    }
}

static int hm_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int Bn, int T)
{
    (void)tok;
    hippo_mixer *m = (hippo_mixer *)base;
    const int H = m->H, N = m->N;
    const size_t nS = (size_t)Bn * H * T * N, nX = (size_t)Bn * T * H, nA = is_legs(m) ? 0 : (size_t)N;
    int rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->S, nS), SL_FIELD(m->x, nX), SL_FIELD(m->Ad, nA * N), SL_FIELD(m->Bd, nA));
    if (rc) return sl_error_wrap(rc, "hippo: cannot cache %zu states", nS);
    memcpy(m->x, x, nX * sizeof *x);
    m->cB = Bn;
    m->cT = T;
    const double *Ad = m->Ad, *Bd = m->Bd;
    if (!is_legs(m) && (rc = make_operator(m, m->Ad, m->Bd))) return rc;
    const float *C = sl_params_data(base->P, m->iC), *D = sl_params_data(base->P, m->iD);
    const double a = legs_a(m);
    int fail = 0;
    const int32_t *dp = base->doc_pos; /* packed rows: states restart, k counts inside the document */
    if (dp && (rc = sl_docs_check(dp, Bn, T))) return rc;
    if (is_legs(m)) {
        /* groups of HM_R rows r = b H + h; packed, a group stays inside one batch row */
        const int gpb = (H + HM_R - 1) / HM_R, ng = dp ? Bn * gpb : (Bn * H + HM_R - 1) / HM_R;
        #pragma omp parallel for schedule(static) if (ng > 1 && (size_t)Bn * H * T * N >= 16384)
        for (int gi = 0; gi < ng; gi++) {
            const int r0 = dp ? gi / gpb * H + gi % gpb * HM_R : gi * HM_R;
            const int rend = dp ? (gi / gpb + 1) * H : Bn * H;
            const int nr = rend - r0 < HM_R ? rend - r0 : HM_R;
            double *Srow[HM_R];
            const float *xrow[HM_R];
            float *yrow[HM_R];
            int hrow[HM_R];
            for (int j = 0; j < nr; j++) {
                int r = r0 + j, b = r / H, h = r % H;
                Srow[j] = m->S + (size_t)r * T * N;
                xrow[j] = x + (size_t)b * T * H + h;
                yrow[j] = y + (size_t)b * T * H + h;
                hrow[j] = h;
            }
            legs_rows_forward(m, Srow, xrow, yrow, hrow, nr, T, H, a, dp ? dp + (size_t)(r0 / H) * T : NULL);
        }
        return SL_OK;
    }
    #pragma omp parallel if (Bn * H > 1 && (size_t)Bn * H * T * N >= 16384)
    {
        double *work = malloc((size_t)N * sizeof *work);
        if (!work) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int r = 0; r < Bn * H; r++) {
            if (!work) continue;
            int b = r / H, h = r % H;
            double *S = m->S + (size_t)r * T * N;
            for (int t = 0; t < T; t++) {
                double u = x[((size_t)b * T + t) * H + h];
                double *c = S + (size_t)t * N;
                const int k = dp ? dp[(size_t)b * T + t] : t; /* steps taken in this document */
                if (k == 0) memset(c, 0, (size_t)N * sizeof *c);
                else memcpy(c, c - N, (size_t)N * sizeof *c);
                if (is_legs(m)) {
                    sl_hippo_legs_step(c, N, k + 1, u, a, m->r, work);
                } else {
                    const double *cp = c - N;
                    for (int i = 0; i < N; i++) {
                        double s = Bd[i] * u;
                        if (k > 0)
                            for (int j = 0; j < N; j++) s += Ad[i * N + j] * cp[j];
                        c[i] = s;
                    }
                }
                double o = D[h] * u;
                for (int i = 0; i < N; i++) o += C[h * N + i] * c[i];
                y[((size_t)b * T + t) * H + h] = (float)o;
            }
        }
        free(work);
    }
    return fail ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
}

static int hm_backward(sl_model *base, const float *dy, float *dx)
{
    hippo_mixer *m = (hippo_mixer *)base;
    const int H = m->H, N = m->N, Bn = m->cB, T = m->cT;
    if (!m->S || Bn <= 0) return sl_error(SL_EINVAL, "hippo: backward before forward");
    const size_t nA = is_legs(m) ? 0 : (size_t)N;
    int rc = SL_ARENA_CARVE(&m->bwd, SL_FIELD(m->gAd, nA * N), SL_FIELD(m->gBd, nA));
    if (rc) return rc;
    const double *Ad = m->gAd, *Bd = m->gBd;
    if (!is_legs(m) && (rc = make_operator(m, m->gAd, m->gBd))) return rc;
    const float *C = sl_params_data(base->P, m->iC), *D = sl_params_data(base->P, m->iD);
    float *gC = sl_params_grad(base->P, m->iC), *gD = sl_params_grad(base->P, m->iD);
    const double a = legs_a(m);
    const int32_t *dp = base->doc_pos; /* packed rows (forward's): the adjoint stops at document starts */
    int fail = 0;
    if (is_legs(m) && N <= 64) {
        /* parallel over channels as below; within one, HM_R batch rows at a time */
        #pragma omp parallel for schedule(static) if (H > 1 && (size_t)Bn * H * T * N >= 16384)
        for (int h = 0; h < H; h++) {
            double G[HM_R][64], Wk[HM_R][64], dC[HM_R][64], dD[HM_R];
            double sC[64] = {0}, sD = 0.0;
            const int step = dp ? 1 : HM_R; /* packed: one row at a time (its own positions) */
            for (int b0 = 0; b0 < Bn; b0 += step) {
                const int nr = Bn - b0 < step ? Bn - b0 : step;
                memset(dC, 0, sizeof dC);
                memset(dD, 0, sizeof dD);
                legs_rows_backward(m, h, b0, nr, T, dy, dx, a, G, Wk, dC, dD, dp ? dp + (size_t)b0 * T : NULL);
                for (int j = 0; j < nr; j++) {
                    for (int i = 0; i < N; i++) sC[i] += dC[j][i];
                    sD += dD[j];
                }
            }
            for (int i = 0; i < N; i++) gC[h * N + i] += (float)sC[i];
            gD[h] += (float)sD;
        }
        return SL_OK;
    }
    /* parallel over channels: every row of channel h is reduced into dC[h], dD[h] by one thread */
    #pragma omp parallel if (H > 1 && (size_t)Bn * H * T * N >= 16384)
    {
        double *G = malloc((size_t)N * sizeof *G), *w = malloc((size_t)N * sizeof *w), *v = malloc((size_t)N * sizeof *v),
               *dC = malloc((size_t)N * sizeof *dC);
        if (!G || !w || !v || !dC) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!G || !w || !v || !dC) continue;
            double dD = 0.0;
            memset(dC, 0, (size_t)N * sizeof *dC);
            for (int b = 0; b < Bn; b++) {
                const double *S = m->S + ((size_t)b * H + h) * T * N;
                memset(G, 0, (size_t)N * sizeof *G);
                for (int t = T - 1; t >= 0; t--) {
                    size_t ix = ((size_t)b * T + t) * H + h;
                    double g = dy[ix];
                    const double *c = S + (size_t)t * N;
                    for (int i = 0; i < N; i++) {
                        G[i] += g * C[h * N + i];
                        dC[i] += g * c[i];
                    }
                    dD += g * m->x[ix];
                    double du = D[h] * g;
                    const int k = dp ? dp[(size_t)b * T + t] : t;
                    if (is_legs(m)) {
                        double ik = 1.0 / (k + 1.0);
                        sl_hippo_legs_solve_t(w, G, a * ik, m->r, N);
                        for (int i = 0; i < N; i++) du += ik * m->r[i] * w[i];
                        sl_hippo_legs_mtv(v, w, m->r, N);
                        for (int i = 0; i < N; i++) G[i] = w[i] + (1.0 - a) * ik * v[i];
                    } else {
                        for (int i = 0; i < N; i++) du += Bd[i] * G[i];
                        for (int j = 0; j < N; j++) v[j] = 0.0;
                        for (int i = 0; i < N; i++)
                            for (int j = 0; j < N; j++) v[j] += Ad[i * N + j] * G[i];
                        memcpy(G, v, (size_t)N * sizeof *G);
                    }
                    if (dx) dx[ix] += (float)du;
                    if (dp && k == 0) memset(G, 0, (size_t)N * sizeof *G); /* a document starts */
                }
            }
            for (int i = 0; i < N; i++) gC[h * N + i] += (float)dC[i];
            gD[h] += (float)dD;
        }
        free(G);
        free(w);
        free(v);
        free(dC);
    }
    return fail ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
}

static void hs_free(sl_model *base, void *p)
{
    (void)base;
    hippo_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

static int hs_reset(sl_model *base, void *p)
{
    hippo_mixer *m = (hippo_mixer *)base;
    hippo_state *s = p;
    s->k = 0;
    memset(s->k0, 0, (size_t)s->B * sizeof *s->k0);
    memset(s->c, 0, (size_t)s->B * m->H * m->N * sizeof *s->c);
    return is_legs(m) ? SL_OK : make_operator(m, s->Ad, s->Bd);
}

static void *hs_new(sl_model *base, int Bn)
{
    hippo_mixer *m = (hippo_mixer *)base;
    hippo_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->B = Bn;
    const size_t N = (size_t)m->N;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->c, (size_t)Bn * m->H * N), SL_FIELD(s->Ad, N * N), SL_FIELD(s->Bd, N),
                       SL_FIELD(s->work, N), SL_FIELD(s->k0, Bn))) {
        hs_free(base, s);
        return NULL;
    }
    if (hs_reset(base, s)) {
        hs_free(base, s);
        return NULL;
    }
    return s;
}

static int hs_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    hippo_mixer *m = (hippo_mixer *)base;
    hippo_state *s = p;
    const int H = m->H, N = m->N;
    const float *C = sl_params_data(base->P, m->iC), *D = sl_params_data(base->P, m->iD);
    s->k++;
    double *tmp = s->work; /* (N): the legs step's workspace, the dense product's result otherwise */
    for (int r = 0; r < s->B * H; r++) {
        int h = r % H;
        double u = x[r], *c = s->c + (size_t)r * N;
        if (is_legs(m)) {
            sl_hippo_legs_step(c, N, s->k - s->k0[r / H], u, legs_a(m), m->r, s->work);
        } else {
            for (int i = 0; i < N; i++) {
                double v = s->Bd[i] * u;
                for (int j = 0; j < N; j++) v += s->Ad[i * N + j] * c[j];
                tmp[i] = v;
            }
            memcpy(c, tmp, (size_t)N * sizeof *c);
        }
        double o = D[h] * u;
        for (int i = 0; i < N; i++) o += C[h * N + i] * c[i];
        y[r] = (float)o;
    }
    return SL_OK;
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int hs_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    hippo_state *d = dst;
    const hippo_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    d->k = s->k;
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's state_reset_rows: the chosen rows' states to zero and their LegS step index
 * back to the start (the operator of the other measures is shared and unchanged) */
static int hs_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    hippo_mixer *m = (hippo_mixer *)base;
    hippo_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t n = (size_t)m->H * m->N;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->c + b * n, 0, n * sizeof *s->c);
            s->k0[b] = s->k;
        }
    return SL_OK;
}

/* seq/model.h's release: the forward cache (states, input copy, operator) and backward's scratch */
static void hm_release(sl_model *base)
{
    hippo_mixer *m = (hippo_mixer *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
}

static const sl_model_vt hippo_vt = {
    .kind = "hippo",
    .destroy = hm_destroy,
    .release = hm_release,
    .init = hm_init,
    .forward = hm_forward,
    .backward = hm_backward,
    .state_new = hs_new,
    .state_free = hs_free,
    .state_reset = hs_reset,
    .state_reset_rows = hs_reset_rows,
    .state_copy = hs_copy,
    .step = hs_step,
};

int sl_hippo_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_hippo_config c;
    sl_hippo_config_default(&c);
    int rc = sl_spec_read(s, sl_hippo_keys, &c);
    return rc ? rc : sl_hippo_create(&c, P, prefix, out);
}

int sl_hippo_create(const sl_hippo_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    const int H = cfg->d_model, N = cfg->d_state;
    const char *meas = cfg->measure ? cfg->measure : "", *disc = cfg->discretization ? cfg->discretization : "";
    const double ga = cfg->gbt_alpha, dt = cfg->dt, la = cfg->lag_alpha, lb = cfg->lag_beta;
    int rc;
    if (H < 1 || N < 1) return sl_error(SL_EINVAL, "hippo: d_model=%d and d_state=%d must be positive", H, N);
    hippo_mixer *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    m->H = H;
    m->N = N;
    m->dt = dt;
    m->lag_a = la;
    m->lag_b = lb;
    m->ga = ga;
    double dflt = ga;
    if ((rc = sl_hippo_measure_from_name(meas, &m->meas)) || (rc = sl_disc_from_name(disc, &m->disc, &dflt))) {
        free(m);
        return sl_error_wrap(rc, "hippo");
    }
    if (m->disc != SL_DISC_GBT) m->ga = dflt;
    if (is_legs(m) && m->disc == SL_DISC_ZOH) {
        free(m);
        return sl_error(SL_EINVAL,
                        "hippo: measure legs is time-varying; use a GBT rule (forward, backward, bilinear, gbt), not zoh");
    }
    m->base.vt = &hippo_vt;
    m->base.caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_PACK;
    m->base.d_in = m->base.d_out = H;
    m->base.P = P;
    if ((m->iA = sl_params_add(P, prefix, "A", 2, N, N, 0, 0)) < 0 ||
        (m->iB = sl_params_add(P, prefix, "B", 1, N, 0, 0, 0)) < 0 ||
        (m->iC = sl_params_add(P, prefix, "C", 2, H, N, 0, 0)) < 0 ||
        (m->iD = sl_params_add(P, prefix, "D", 1, H, 0, 0, 0)) < 0) {
        rc = m->iA < 0 ? m->iA : m->iB < 0 ? m->iB : m->iC < 0 ? m->iC : m->iD;
        free(m);
        return rc;
    }
    sl_params_set_trainable(P, m->iA, 0);
    sl_params_set_trainable(P, m->iB, 0);
    if (!(m->r = malloc((size_t)N * sizeof *m->r))) {
        free(m);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    sl_hippo_legs_r(N, m->r);
    *out = &m->base;
    return SL_OK;
}
