/* ssm/s4d.c — S4D (see s4d.h). Complex gradients use g = dL/dRe + i dL/dIm; for w = f(z)
 * holomorphic, g_z = conj(f'(z)) g_w; for a real parameter r, dL/dr = Re(conj(dw/dr) g_w). */
#include "ssm/s4d.h"
#include "ssm/hippo.h"
#include "ssm/ssmblock.h"
#include "core/error.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const sl_spec_key sl_s4d_keys[] = {
    SL_KEY_INT(sl_s4d_config, d_model, "d_model", "64", 1, 1 << 16, "H, channels"),
    SL_KEY_INT(sl_s4d_config, d_state, "d_state", "64", 2, 1 << 14, "N, state size (N/2 complex modes; even)"),
    SL_KEY_STR(sl_s4d_config, init, "init", "lin", "A initialisation: lin, inv, real, legs"),
    SL_KEY_STR(sl_s4d_config, discretization, "discretization", "zoh", "zoh or bilinear"),
    SL_SSM_BLOCK_KEYS(sl_s4d_config, "learning-rate multiplier of log_dt, log_A_real, A_imag (no weight decay)"),
    SL_KEY_END,
};

void sl_s4d_config_default(sl_s4d_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_s4d_keys, c); /* cannot fail: the table's defaults are valid */
}

/* discretization of one mode and its partial derivatives */
typedef struct {
    double complex z, bb, dz_dA, dz_ddt, dbb_dA, dbb_ddt;
} disc1;

static disc1 discretize(double complex A, double dt, int disc, int derivs)
{
    disc1 d;
    if (disc == SL_SSM_ZOH) {
        d.z = cexp(dt * A);
        d.bb = (d.z - 1.0) / A;
        if (derivs) {
            d.dz_dA = dt * d.z;
            d.dz_ddt = A * d.z;
            d.dbb_dA = dt * d.z / A - (d.z - 1.0) / (A * A);
            d.dbb_ddt = d.z;
        }
    } else {
        double complex q = 1.0 - dt * A / 2.0;
        d.z = (1.0 + dt * A / 2.0) / q;
        d.bb = dt / q;
        if (derivs) {
            d.dz_dA = dt / (q * q);
            d.dz_ddt = A / (q * q);
            d.dbb_dA = dt * dt / (2.0 * q * q);
            d.dbb_ddt = 1.0 / (q * q);
        }
    }
    return d;
}

void sl_s4d_kernel(float *K, const float *log_dt, const float *C, const float *lar, const float *aim, int H, int N2, int L,
                   int disc)
{
    #pragma omp parallel if (H > 1 && (size_t)H * N2 * L >= 65536)
    {
        double *acc = malloc((size_t)L * sizeof *acc);
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!acc) continue;
            double dt = exp((double)log_dt[h]);
            memset(acc, 0, (size_t)L * sizeof *acc);
            for (int n = 0; n < N2; n++) {
                size_t i = (size_t)h * N2 + n;
                double complex A = -exp((double)lar[i]) + I * (double)aim[i];
                disc1 d = discretize(A, dt, disc, 0);
                double complex w = (C[2 * i] + I * C[2 * i + 1]) * d.bb; /* C Bb z^l, l = 0 */
                for (int l = 0; l < L; l++) {
                    acc[l] += creal(w);
                    w *= d.z;
                }
            }
            for (int l = 0; l < L; l++) K[(size_t)h * L + l] = (float)(2.0 * acc[l]);
        }
        free(acc);
    }
}

void sl_s4d_kernel_naive(double *K, const float *log_dt, const float *C, const float *lar, const float *aim, int H, int N2, int L,
                         int disc)
{
    for (int h = 0; h < H; h++) {
        double dt = exp((double)log_dt[h]);
        for (int l = 0; l < L; l++) {
            double s = 0.0;
            for (int n = 0; n < N2; n++) {
                size_t i = (size_t)h * N2 + n;
                double complex A = -exp((double)lar[i]) + I * (double)aim[i];
                disc1 d = discretize(A, dt, disc, 0);
                double complex p = disc == SL_SSM_ZOH ? cexp(dt * A * (double)l) : cpow(d.z, l);
                s += creal((C[2 * i] + I * C[2 * i + 1]) * d.bb * p);
            }
            K[(size_t)h * L + l] = 2.0 * s;
        }
    }
}

void sl_s4d_kernel_backward(const sl_s4d_kernel_grads *g, const float *dK, const sl_s4d_kernel_params *p)
{
    float *g_log_dt = g->g_log_dt, *g_C = g->g_C, *g_lar = g->g_log_A_real, *g_aim = g->g_A_imag;
    const float *log_dt = p->log_dt, *C = p->C, *lar = p->log_A_real, *aim = p->A_imag;
    const int H = p->H, N2 = p->N2, L = p->L, disc = p->disc;
    #pragma omp parallel for schedule(static) if (H > 1 && (size_t)H * N2 * L >= 32768)
    for (int h = 0; h < H; h++) {
        double dt = exp((double)log_dt[h]), gdt = 0.0;
        const float *dk = dK + (size_t)h * L;
        for (int n = 0; n < N2; n++) {
            size_t i = (size_t)h * N2 + n;
            double complex A = -exp((double)lar[i]) + I * (double)aim[i];
            double complex c = C[2 * i] + I * C[2 * i + 1];
            disc1 d = discretize(A, dt, disc, 1);
            /* S0 = sum_l dK_l conj(z)^l, S1 = sum_l l dK_l conj(z)^(l-1) */
            double complex zc = conj(d.z), p = 1.0, S0 = 0.0, S1 = 0.0;
            for (int l = 0; l < L; l++) {
                S0 += dk[l] * p;
                if (l + 1 < L) S1 += (l + 1.0) * dk[l + 1] * p;
                p *= zc;
            }
            double complex W = c * d.bb;
            double complex gW = 2.0 * S0, gz = 2.0 * conj(W) * S1;
            double complex gc = conj(d.bb) * gW, gbb = conj(c) * gW;
            double complex gA = conj(d.dbb_dA) * gbb + conj(d.dz_dA) * gz;
            gdt += creal(conj(d.dbb_ddt) * gbb + conj(d.dz_ddt) * gz);
            if (g_C) {
                g_C[2 * i] += (float)creal(gc);
                g_C[2 * i + 1] += (float)cimag(gc);
            }
            if (g_lar) g_lar[i] += (float)(-exp((double)lar[i]) * creal(gA));
            if (g_aim) g_aim[i] += (float)cimag(gA);
        }
        if (g_log_dt) g_log_dt[h] += (float)(dt * gdt);
    }
}

int sl_s4d_init_A(const char *init, int N2, double *re, double *im)
{
    const int N = 2 * N2;
    if (!strcasecmp(init, "lin")) {
        for (int n = 0; n < N2; n++) {
            re[n] = -0.5;
            im[n] = M_PI * n;
        }
    } else if (!strcasecmp(init, "inv")) {
        for (int n = 0; n < N2; n++) {
            re[n] = -0.5;
            im[n] = N / M_PI * ((double)N / (2.0 * n + 1.0) - 1.0);
        }
    } else if (!strcasecmp(init, "real")) {
        for (int n = 0; n < N2; n++) {
            re[n] = -(n + 1.0);
            im[n] = 0.0;
        }
    } else if (!strcasecmp(init, "legs")) {
        double complex *lam = malloc((size_t)N2 * sizeof *lam);
        if (!lam) return sl_error(SL_ENOMEM, "out of memory");
        int rc = sl_hippo_legs_dplr(N, lam, NULL, NULL, NULL);
        for (int n = 0; !rc && n < N2; n++) {
            re[n] = creal(lam[n]);
            im[n] = cimag(lam[n]);
        }
        free(lam);
        return rc;
    } else {
        return sl_error(SL_EINVAL, "s4d: unknown init '%s' (lin, inv, real, legs)", init);
    }
    return SL_OK;
}

/* ---- the model ---- */

typedef struct {
    sl_model base;
    int H, N2, disc;
    char init[16];
    double dt_min, dt_max;
    int iD, ilogdt, iC, ilar, iaim, iW, ib;
    sl_ssmblock blk;
    sl_arena fwd;  /* carved per forward into the kernel and its gradient */
    float *K, *dK; /* (H, T) each */
} s4d_model;

typedef struct {
    int B;
    sl_arena mem;                /* one block, carved into the fields below */
    double complex *s;           /* (B, H, N2) */
    double complex *ab, *cb, *c; /* (H, N2) Ab, Bb and C, from the weights at state_new/reset */
    float *z;                    /* (B, H) */
} s4d_state;

#define PD(i) sl_params_data(m->base.P, m->i)
#define PG(i) sl_params_grad(m->base.P, m->i)

static void s4d_destroy(sl_model *base)
{
    s4d_model *m = (s4d_model *)base;
    sl_ssmblock_clear(&m->blk);
    sl_arena_free(&m->fwd);
    free(m);
}

/* seq/model.h's release: the kernel, its gradient and the block's caches */
static void s4d_release(sl_model *base)
{
    s4d_model *m = (s4d_model *)base;
    sl_ssmblock_release(&m->blk);
    sl_arena_free(&m->fwd);
}

static int s4d_init(sl_model *base, sl_rng *rng)
{
    s4d_model *m = (s4d_model *)base;
    const int H = m->H, N2 = m->N2;
    double *re = malloc((size_t)N2 * sizeof *re), *im = malloc((size_t)N2 * sizeof *im);
    if (!re || !im) {
        free(re);
        free(im);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    int rc = sl_s4d_init_A(m->init, N2, re, im);
    if (!rc) {
        /* s4d.py: D = randn(H); log_dt ~ U(log dt_min, log dt_max); C = randn(H, N/2) complex
         * (real and imaginary parts each N(0, 1/2)); Conv1d default init U(-1/sqrt(H), 1/sqrt(H)) */
        sl_rng_fill_normal(rng, PD(iD), (size_t)H, 1.0f);
        float *ld = PD(ilogdt);
        for (int h = 0; h < H; h++) ld[h] = (float)(log(m->dt_min) + sl_rng_uniform(rng) * (log(m->dt_max) - log(m->dt_min)));
        sl_rng_fill_normal(rng, PD(iC), (size_t)H * N2 * 2, (float)M_SQRT1_2);
        float *lar = PD(ilar), *aim = PD(iaim);
        for (int h = 0; h < H; h++)
            for (int n = 0; n < N2; n++) {
                lar[h * N2 + n] = (float)log(-re[n]);
                aim[h * N2 + n] = (float)im[n];
            }
        float bound = (float)(1.0 / sqrt((double)H));
        sl_rng_fill_uniform(rng, PD(iW), (size_t)2 * H * H, -bound, bound);
        sl_rng_fill_uniform(rng, PD(ib), (size_t)2 * H, -bound, bound);
    }
    free(re);
    free(im);
    return rc;
}

static int s4d_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int B, int T)
{
    (void)tok;
    s4d_model *m = (s4d_model *)base;
    const size_t n = (size_t)m->H * T;
    /* inference mode: no kernel gradient, and the block keeps no cache (ssm/ssmblock.h) */
    int rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->K, n), SL_FIELD(m->dK, base->inference ? 0 : n));
    if (rc) return sl_error_wrap(rc, "s4d: cannot allocate the kernel (H=%d, T=%d)", m->H, T);
    sl_s4d_kernel(m->K, PD(ilogdt), PD(iC), PD(ilar), PD(iaim), m->H, m->N2, T, m->disc);
    const sl_ssmblock_weights w = {.K = m->K, .D = PD(iD), .W = PD(iW), .bW = PD(ib)};
    m->blk.pos = base->doc_pos; /* packed rows: the long convolution runs per document */
    m->blk.infer = base->inference;
    return sl_ssmblock_forward(&m->blk, y, x, &w, B, T, base->training, base->rng);
}

static int s4d_backward(sl_model *base, const float *dy, float *dx)
{
    s4d_model *m = (s4d_model *)base;
    if (!m->blk.cached) return sl_error(SL_EINVAL, "s4d: backward before forward");
    const int T = m->blk.T;
    memset(m->dK, 0, (size_t)m->H * T * sizeof *m->dK);
    const sl_ssmblock_weights w = {.K = m->K, .D = PD(iD), .W = PD(iW), .bW = PD(ib)};
    const sl_ssmblock_grads g = {.dK = m->dK, .dD = PG(iD), .dW = PG(iW), .dbW = PG(ib)};
    int rc = sl_ssmblock_backward(&m->blk, dx, &g, dy, &w);
    if (rc) return rc;
    const sl_s4d_kernel_grads kg = {.g_log_dt = PG(ilogdt), .g_C = PG(iC), .g_log_A_real = PG(ilar), .g_A_imag = PG(iaim)};
    const sl_s4d_kernel_params kp = {.log_dt = PD(ilogdt),
                                     .C = PD(iC),
                                     .log_A_real = PD(ilar),
                                     .A_imag = PD(iaim),
                                     .H = m->H,
                                     .N2 = m->N2,
                                     .L = T,
                                     .disc = m->disc};
    sl_s4d_kernel_backward(&kg, m->dK, &kp);
    return SL_OK;
}

static void s4d_state_free(sl_model *base, void *p)
{
    (void)base;
    s4d_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

static int s4d_state_reset(sl_model *base, void *p)
{
    s4d_model *m = (s4d_model *)base;
    s4d_state *s = p;
    const int H = m->H, N2 = m->N2;
    const float *ld = PD(ilogdt), *C = PD(iC), *lar = PD(ilar), *aim = PD(iaim);
    memset(s->s, 0, (size_t)s->B * H * N2 * sizeof *s->s);
    /* the discretized system is taken from the weights now (change weights -> reset) */
    for (int h = 0; h < H; h++) {
        double dt = exp((double)ld[h]);
        for (int n = 0; n < N2; n++) {
            size_t i = (size_t)h * N2 + n;
            disc1 d = discretize(-exp((double)lar[i]) + I * (double)aim[i], dt, m->disc, 0);
            s->ab[i] = d.z;
            s->cb[i] = d.bb;
            s->c[i] = C[2 * i] + I * C[2 * i + 1];
        }
    }
    return SL_OK;
}

static void *s4d_state_new(sl_model *base, int B)
{
    s4d_model *m = (s4d_model *)base;
    s4d_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->B = B;
    const size_t HN = (size_t)m->H * m->N2;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->s, (size_t)B * HN), SL_FIELD(s->z, (size_t)B * m->H), SL_FIELD(s->ab, HN),
                       SL_FIELD(s->cb, HN), SL_FIELD(s->c, HN))) {
        s4d_state_free(base, s);
        return NULL;
    }
    s4d_state_reset(base, s);
    return s;
}

static int s4d_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    s4d_model *m = (s4d_model *)base;
    s4d_state *s = p;
    const int H = m->H, N2 = m->N2;
    const float *D = PD(iD);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < H; h++) {
            const double u = x[b * H + h];
            double complex *st = s->s + ((size_t)b * H + h) * N2;
            const double complex *ab = s->ab + (size_t)h * N2, *cb = s->cb + (size_t)h * N2, *c = s->c + (size_t)h * N2;
            double acc = 0.0;
            for (int n = 0; n < N2; n++) {
                st[n] = ab[n] * st[n] + cb[n] * u;
                acc += creal(c[n] * st[n]);
            }
            s->z[b * H + h] = (float)(2.0 * acc + D[h] * u);
        }
    return sl_ssmblock_post(&m->blk, y, s->z, PD(iW), PD(ib), s->B);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int s4d_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    s4d_state *d = dst;
    const s4d_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's state_reset_rows: the chosen rows' state to zero (the discretized system,
 * shared by the rows, stays as the last full reset made it) */
static int s4d_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    s4d_model *m = (s4d_model *)base;
    s4d_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t n = (size_t)m->H * m->N2;
    for (int b = 0; b < B; b++)
        if (rows[b]) memset(s->s + b * n, 0, n * sizeof *s->s);
    return SL_OK;
}

static const sl_model_vt s4d_vt = {
    .kind = "s4d",
    .destroy = s4d_destroy,
    .release = s4d_release,
    .init = s4d_init,
    .forward = s4d_forward,
    .backward = s4d_backward,
    .state_new = s4d_state_new,
    .state_free = s4d_state_free,
    .state_reset = s4d_state_reset,
    .state_reset_rows = s4d_state_reset_rows,
    .state_copy = s4d_state_copy,
    .step = s4d_step,
};

int sl_s4d_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_s4d_config c;
    sl_s4d_config_default(&c);
    int rc = sl_spec_read(s, sl_s4d_keys, &c);
    return rc ? rc : sl_s4d_create(&c, P, prefix, out);
}

int sl_s4d_create(const sl_s4d_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    const int H = cfg->d_model, N = cfg->d_state;
    const char *init = cfg->init ? cfg->init : "";
    const double drop = cfg->dropout, lrs = cfg->lr_scale, dtmin = cfg->dt_min, dtmax = cfg->dt_max;
    sl_act act;
    int disc, rc;
    if (H < 1 || N < 2) return sl_error(SL_EINVAL, "s4d: need d_model >= 1 and d_state >= 2 (got %d, %d)", H, N);
    if ((rc = sl_ssm_block_check("s4d", cfg->activation, dtmin, dtmax, cfg->discretization, &act, &disc))) return rc;
    if (N % 2) return sl_error(SL_EINVAL, "s4d: d_state must be even (N/2 complex modes), got %d", N);
    if (strlen(init) >= 16 ||
        (strcasecmp(init, "lin") && strcasecmp(init, "inv") && strcasecmp(init, "real") && strcasecmp(init, "legs")))
        return sl_error(SL_EINVAL, "s4d: unknown init '%s' (lin, inv, real, legs)", init);
    s4d_model *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    m->H = H;
    m->N2 = N / 2;
    m->disc = disc;
    m->dt_min = dtmin;
    m->dt_max = dtmax;
    strcpy(m->init, init);
    sl_ssmblock_init(&m->blk, H, act, (float)drop);
    m->base.vt = &s4d_vt;
    m->base.caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_PACK | SL_CAP_INFER;
    m->base.d_in = m->base.d_out = H;
    m->base.P = P;
    const int N2 = m->N2;
    if ((m->iD = sl_params_add(P, prefix, "D", 1, H, 0, 0, 0)) < 0) {
        rc = m->iD;
        goto fail;
    }
    if ((m->ilogdt = sl_params_add(P, prefix, "kernel.log_dt", 1, H, 0, 0, 0)) < 0) {
        rc = m->ilogdt;
        goto fail;
    }
    if ((m->iC = sl_params_add(P, prefix, "kernel.C", 3, H, N2, 2, 0)) < 0) {
        rc = m->iC;
        goto fail;
    }
    if ((m->ilar = sl_params_add(P, prefix, "kernel.log_A_real", 2, H, N2, 0, 0)) < 0) {
        rc = m->ilar;
        goto fail;
    }
    if ((m->iaim = sl_params_add(P, prefix, "kernel.A_imag", 2, H, N2, 0, 0)) < 0) {
        rc = m->iaim;
        goto fail;
    }
    if ((m->iW = sl_params_add(P, prefix, "output_linear.0.weight", 3, 2 * H, H, 1, 0)) < 0) {
        rc = m->iW;
        goto fail;
    }
    if ((m->ib = sl_params_add(P, prefix, "output_linear.0.bias", 1, 2 * H, 0, 0, 0)) < 0) {
        rc = m->ib;
        goto fail;
    }
    /* s4d.py registers log_dt, log_A_real, A_imag with lr=0.001 and weight_decay=0; C, D and
     * the output layer use the optimizer's settings */
    sl_params_set_group(P, m->ilogdt, (float)lrs, 0.0f);
    sl_params_set_group(P, m->ilar, (float)lrs, 0.0f);
    sl_params_set_group(P, m->iaim, (float)lrs, 0.0f);
    *out = &m->base;
    return SL_OK;
fail:
    free(m);
    return rc;
}
