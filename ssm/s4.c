/* ssm/s4.c — S4: Cauchy/Woodbury kernel over the DPLR HiPPO-LegS of ssm/hippo.c, and the S4
 * block (see s4.h).
 * Complex gradients use g = dL/dRe + i dL/dIm; for w = f(z) holomorphic g_z = conj(f'(z)) g_w,
 * for w = f(conj z) holomorphic in conj z g_z = f'(conj z) conj(g_w). */
#include "ssm/s4.h"
#include "ssm/ssmblock.h"
#include "core/error.h"

#include <cblas.h>
#include <fftw3.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef CMPLX /* glibc defines CMPLX for GCC only; clang (the --enable-fuzzing build) takes a complex literal */
#define CMPLX(x, y) ((double _Complex){(x), (y)})
#endif

int sl_s4_dplr_legs(int N, double complex *lam, double complex *Pt, double complex *Bt, double complex *V)
{
    return sl_hippo_legs_dplr(N, lam, Pt, Bt, V);
}

/* ---- FFT helper ---- */

struct sl_s4_fft {
    int L, nf;
    fftw_plan c2r, r2c;
    double complex *w; /* (nf) the roots of unity exp(-2 pi i j / L), made once with the plans
                          * (the kernels used to call cexp for every channel and frequency) */
};

sl_s4_fft *sl_s4_fft_alloc(int L)
{
    if (L < 2) {
        sl_error(SL_EINVAL, "s4: kernel length must be >= 2 (got %d)", L);
        return NULL;
    }
    sl_s4_fft *f = calloc(1, sizeof *f);
    double *r = fftw_malloc(sizeof(double) * L);
    fftw_complex *c = fftw_malloc(sizeof(fftw_complex) * (L / 2 + 1));
    if (!f || !r || !c) {
        free(f);
        fftw_free(r);
        fftw_free(c);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    f->L = L;
    f->nf = L / 2 + 1;
    f->c2r = fftw_plan_dft_c2r_1d(L, c, r, FFTW_ESTIMATE);
    f->r2c = fftw_plan_dft_r2c_1d(L, r, c, FFTW_ESTIMATE);
    fftw_free(r);
    fftw_free(c);
    f->w = malloc((size_t)f->nf * sizeof *f->w);
    if (!f->w) {
        sl_s4_fft_free(f);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    for (int j = 0; j < f->nf; j++) f->w[j] = cexp(-2.0 * M_PI * I * j / L);
    if (!f->c2r || !f->r2c) {
        sl_s4_fft_free(f);
        sl_error(SL_ENOMEM, "s4: FFTW could not plan length %d", L);
        return NULL;
    }
    return f;
}

void sl_s4_fft_free(sl_s4_fft *f)
{
    if (!f) return;
    if (f->c2r) fftw_destroy_plan(f->c2r);
    if (f->r2c) fftw_destroy_plan(f->r2c);
    free(f->w);
    free(f);
}

/* 1/z without the overflow-guarded library division (__divdc3): the Cauchy denominators are
 * far from 0 and from overflow (|z| >= 2 |Re lambda| > 0) */
static inline double complex cinv(double complex z)
{
    double a = creal(z), b = cimag(z), id = 1.0 / (a * a + b * b);
    return CMPLX(a * id, -b * id);
}

/* one Cauchy sum over the full spectrum: sum_n v_n r_n + conj(v_n) rt_n */
static inline double complex cauchy2(double complex v, double complex r, double complex rt) { return v * r + conj(v) * rt; }

int sl_s4_kernel(const sl_s4_ssm *s, sl_s4_fft *f, double *K)
{
    const int L = f->L, nf = f->nf, N2 = s->N2;
    fftw_complex *Kh = fftw_malloc(sizeof(fftw_complex) * nf);
    double *out = fftw_malloc(sizeof(double) * L);
    double complex *v = malloc((size_t)4 * N2 * sizeof *v);
    if (!Kh || !out || !v) {
        fftw_free(Kh);
        fftw_free(out);
        free(v);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int n = 0; n < N2; n++) {
        v[4 * n] = s->Ct[n] * s->B[n];
        v[4 * n + 1] = s->Ct[n] * s->P[n];
        v[4 * n + 2] = conj(s->P[n]) * s->B[n];
        v[4 * n + 3] = conj(s->P[n]) * s->P[n];
    }
    double complex *kh = (double complex *)Kh;
    for (int j = 0; j < nf; j++) {
        double complex w = f->w[j], sp = 1.0 + w, dd = (2.0 / s->dt) * (1.0 - w);
        double complex k00 = 0, k01 = 0, k10 = 0, k11 = 0;
        for (int n = 0; n < N2; n++) {
            double complex r = cinv(dd - sp * s->lam[n]), rt = cinv(dd - sp * conj(s->lam[n]));
            k00 += cauchy2(v[4 * n], r, rt);
            k01 += cauchy2(v[4 * n + 1], r, rt);
            k10 += cauchy2(v[4 * n + 2], r, rt);
            k11 += cauchy2(v[4 * n + 3], r, rt);
        }
        kh[j] = 2.0 * (k00 - sp * k01 * k10 / (1.0 + sp * k11));
    }
    fftw_execute_dft_c2r(f->c2r, Kh, out);
    for (int k = 0; k < L; k++) K[k] = out[k] / L;
    fftw_free(Kh);
    fftw_free(out);
    free(v);
    return SL_OK;
}

int sl_s4_kernel_backward(const sl_s4_ssm *s, sl_s4_fft *f, const double *dK, double complex *g_lam, double complex *g_P,
                          double complex *g_B, double complex *g_Ct, double *g_dt)
{
    const int L = f->L, nf = f->nf, N2 = s->N2;
    double *in = fftw_malloc(sizeof(double) * L);
    fftw_complex *G = fftw_malloc(sizeof(fftw_complex) * nf);
    double complex *acc = calloc((size_t)4 * N2, sizeof *acc); /* G00 G01 G10 G11 per mode */
    double complex *v = malloc((size_t)4 * N2 * sizeof *v), *rr = malloc((size_t)2 * N2 * sizeof *rr);
    if (!in || !G || !acc || !v || !rr) {
        fftw_free(in);
        fftw_free(G);
        free(acc);
        free(v);
        free(rr);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int n = 0; n < N2; n++) {
        v[4 * n] = s->Ct[n] * s->B[n];
        v[4 * n + 1] = s->Ct[n] * s->P[n];
        v[4 * n + 2] = conj(s->P[n]) * s->B[n];
        v[4 * n + 3] = conj(s->P[n]) * s->P[n];
    }
    memcpy(in, dK, (size_t)L * sizeof *in);
    fftw_execute_dft_r2c(f->r2c, in, G);
    double complex *g = (double complex *)G;
    double gdt = 0.0;
    for (int j = 0; j < nf; j++) {
        /* adjoint of K = irfft(Khat)/L: weight 1 at j = 0 and j = L/2, 2 elsewhere */
        double cj = (j == 0 || 2 * j == L) ? 1.0 : 2.0;
        double complex gK = g[j] * (cj / L);
        double complex w = f->w[j], sp = 1.0 + w, dd = (2.0 / s->dt) * (1.0 - w);
        double complex ddd = -(2.0 / (s->dt * s->dt)) * (1.0 - w); /* d dd / d dt */
        double complex k01 = 0, k10 = 0, k11 = 0;
        for (int n = 0; n < N2; n++) {
            double complex r = cinv(dd - sp * s->lam[n]), rt = cinv(dd - sp * conj(s->lam[n]));
            rr[2 * n] = r;
            rr[2 * n + 1] = rt;
            k01 += cauchy2(v[4 * n + 1], r, rt);
            k10 += cauchy2(v[4 * n + 2], r, rt);
            k11 += cauchy2(v[4 * n + 3], r, rt);
        }
        double complex den = 1.0 + sp * k11;
        double complex gk[4];
        gk[0] = 2.0 * gK;
        gk[1] = conj(-2.0 * sp * k10 / den) * gK;
        gk[2] = conj(-2.0 * sp * k01 / den) * gK;
        gk[3] = conj(2.0 * sp * sp * k01 * k10 / (den * den)) * gK;
        for (int n = 0; n < N2; n++) {
            /* k_a = sum v_a r + conj(v_a) rt:  g_{v_a} += conj(r) g_a + rt conj(g_a);
             * d k_a / d lambda = v_a sp r^2 (and conj(v_a) sp rt^2 through conj(lambda));
             * d k_a / d dt = -(v_a r^2 + conj(v_a) rt^2) d dd/d dt. With W = sum_a conj(v_a) g_a
             * and Z = sum_a v_a g_a: g_lambda += conj(sp r^2) W + sp rt^2 conj(Z),
             * dL/d dt += -Re(conj(ddd) (conj(r^2) W + conj(rt^2) Z)). */
            const double complex r = rr[2 * n], rt = rr[2 * n + 1], *va = v + 4 * n;
            double complex W = 0, Z = 0;
            for (int a = 0; a < 4; a++) {
                acc[4 * n + a] += conj(r) * gk[a] + rt * conj(gk[a]);
                W += conj(va[a]) * gk[a];
                Z += va[a] * gk[a];
            }
            double complex r2 = r * r, rt2 = rt * rt;
            if (g_lam) g_lam[n] += conj(sp * r2) * W + sp * rt2 * conj(Z);
            gdt -= creal(conj(ddd) * (conj(r2) * W + conj(rt2) * Z));
        }
    }
    for (int n = 0; n < N2; n++) {
        double complex G00 = acc[4 * n], G01 = acc[4 * n + 1], G10 = acc[4 * n + 2], G11 = acc[4 * n + 3];
        if (g_Ct) g_Ct[n] += conj(s->B[n]) * G00 + conj(s->P[n]) * G01;
        if (g_B) g_B[n] += conj(s->Ct[n]) * G00 + s->P[n] * G10;
        if (g_P) g_P[n] += conj(s->Ct[n]) * G01 + s->B[n] * conj(G10) + 2.0 * creal(G11) * s->P[n];
    }
    if (g_dt) *g_dt += gdt;
    fftw_free(in);
    fftw_free(G);
    free(acc);
    free(v);
    free(rr);
    return SL_OK;
}

/* ---- dense reference ---- */

static void zmm(int N, const double complex *X, const double complex *Y, double complex *Z)
{
    const double complex one = 1.0, zero = 0.0;
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, &one, X, N, Y, N, &zero, Z, N);
}

int sl_s4_dense(const sl_s4_ssm *s, int L, double complex *Ab, double complex *Bb, double complex *C)
{
    const int N2 = s->N2, N = 2 * N2;
    const double dt = s->dt;
    size_t NN = (size_t)N * N;
    double complex *M = malloc(NN * sizeof *M), *pw = malloc(NN * sizeof *pw), *acc = malloc(NN * sizeof *acc),
                   *tmp = malloc(NN * sizeof *tmp), *lf = malloc((size_t)N * sizeof *lf), *pf = malloc((size_t)N * sizeof *pf);
    lapack_int *piv = malloc((size_t)N * sizeof *piv);
    int rc = SL_OK;
    if (!M || !pw || !acc || !tmp || !lf || !pf || !piv) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int n = 0; n < N2; n++) {
        lf[n] = s->lam[n];
        lf[N2 + n] = conj(s->lam[n]);
        pf[n] = s->P[n];
        pf[N2 + n] = conj(s->P[n]);
        Bb[n] = dt * s->B[n];
        Bb[N2 + n] = dt * conj(s->B[n]);
    }
    /* A = diag(lf) - pf pf^*; M = I - dt/2 A; Ab = M^-1 (I + dt/2 A); Bb = M^-1 dt B */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            double complex a = (i == k ? lf[i] : 0.0) - pf[i] * conj(pf[k]);
            M[i * N + k] = (i == k) - dt / 2 * a;
            Ab[i * N + k] = (i == k) + dt / 2 * a;
        }
    memcpy(tmp, M, NN * sizeof *tmp);
    if (LAPACKE_zgesv(LAPACK_ROW_MAJOR, N, N, tmp, N, piv, Ab, N) ||
        LAPACKE_zgetrs(LAPACK_ROW_MAJOR, 'N', N, 1, tmp, N, piv, Bb, 1)) {
        rc = sl_error(SL_EINVAL, "s4: I - dt/2 A is singular");
        goto done;
    }
    if (C) {
        /* Ab^L by repeated squaring */
        memcpy(pw, Ab, NN * sizeof *pw);
        int first = 1;
        for (int e = L; e > 0; e >>= 1) {
            if (e & 1) {
                if (first) {
                    memcpy(acc, pw, NN * sizeof *acc);
                    first = 0;
                } else {
                    zmm(N, acc, pw, tmp);
                    memcpy(acc, tmp, NN * sizeof *acc);
                }
            }
            if (e > 1) {
                zmm(N, pw, pw, tmp);
                memcpy(pw, tmp, NN * sizeof *pw);
            }
        }
        /* C (I - Ab^L) = Ct  <=>  (I - Ab^L)^T C^T = Ct^T */
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++) M[k * N + i] = (i == k) - acc[i * N + k];
        for (int n = 0; n < N2; n++) {
            C[n] = s->Ct[n];
            C[N2 + n] = conj(s->Ct[n]);
        }
        if (LAPACKE_zgesv(LAPACK_ROW_MAJOR, N, 1, M, N, piv, C, 1)) {
            rc = sl_error(SL_EINVAL, "s4: I - Ab^L is singular");
            goto done;
        }
    }
done:
    free(M);
    free(pw);
    free(acc);
    free(tmp);
    free(lf);
    free(pf);
    free(piv);
    return rc;
}

int sl_s4_kernel_naive(const sl_s4_ssm *s, int L, double *K)
{
    const int N = 2 * s->N2;
    double complex *Ab = malloc((size_t)N * N * sizeof *Ab), *x = malloc((size_t)N * sizeof *x),
                   *y = malloc((size_t)N * sizeof *y), *C = malloc((size_t)N * sizeof *C);
    int rc = (!Ab || !x || !y || !C) ? sl_error(SL_ENOMEM, "out of memory") : sl_s4_dense(s, L, Ab, x, C);
    for (int k = 0; !rc && k < L; k++) {
        double complex o = 0;
        for (int i = 0; i < N; i++) o += C[i] * x[i];
        K[k] = creal(o);
        for (int i = 0; i < N; i++) {
            double complex v = 0;
            for (int j = 0; j < N; j++) v += Ab[i * N + j] * x[j];
            y[i] = v;
        }
        memcpy(x, y, (size_t)N * sizeof *x);
    }
    free(Ab);
    free(x);
    free(y);
    free(C);
    return rc;
}

double sl_s4_step(const sl_s4_ssm *s, const double complex *d, const double complex *C, double complex *x, double u)
{
    const int N2 = s->N2;
    const double h = s->dt / 2;
    double sx = 0.0, num = 0.0, den = 0.0;
    for (int n = 0; n < N2; n++) sx += creal(conj(s->P[n]) * x[n]);
    sx *= 2.0; /* P^* x over the full state */
    for (int n = 0; n < N2; n++) {
        /* r = (I + dt/2 A) x + dt B u, kept in x */
        x[n] = x[n] + h * (s->lam[n] * x[n] - s->P[n] * sx) + s->dt * s->B[n] * u;
        num += creal(conj(s->P[n]) * d[n] * x[n]);
        den += creal(conj(s->P[n]) * s->P[n] * d[n]);
    }
    /* sigma = P^* x' solves sigma = 2 Re(P^* d r) - dt sigma Re(P^* d P) */
    double sigma = 2.0 * num / (1.0 + s->dt * den), y = 0.0;
    for (int n = 0; n < N2; n++) {
        x[n] = d[n] * (x[n] - h * sigma * s->P[n]);
        y += creal(C[n] * x[n]);
    }
    return 2.0 * y;
}

/* ---- the model ---- */

const sl_spec_key sl_s4_keys[] = {
    SL_KEY_INT(sl_s4_config, d_model, "d_model", "64", 1, 1 << 16, "H, channels"),
    SL_KEY_INT(sl_s4_config, d_state, "d_state", "64", 2, 1024, "N, state size (N/2 complex modes; even)"),
    SL_KEY_INT(sl_s4_config, l_max, "l_max", "1024", 2, 1 << 22,
               "kernel length L (sequences must have T <= l_max); C is C~ = C (I - Ab^L)"),
    SL_SSM_BLOCK_KEYS(sl_s4_config, "learning-rate multiplier of log_dt, log_A_real, A_imag, B, P (no weight decay)"),
    SL_KEY_END,
};

void sl_s4_config_default(sl_s4_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_s4_keys, c); /* cannot fail: the table's defaults are valid */
}

typedef struct {
    sl_model base;
    int H, N2, L;
    double dt_min, dt_max;
    int iD, ilogdt, iC, iB, iP, ilar, iaim, iW, ib;
    sl_ssmblock blk;
    sl_s4_fft *fft; /* plans for l_max, shared by the threads (new-array execution) */
    sl_arena fwd;   /* carved per forward into the kernel and its gradient */
    float *K, *dK;  /* (H, T) each */
} s4_model;

typedef struct {
    int B;
    sl_arena mem;        /* one block, carved into the fields below */
    double complex *par; /* (H, 6, N2): lam, P, B, Ct (unused), d, C per channel */
    double *dt;          /* (H) */
    double complex *x;   /* (B, H, N2) half states */
    float *z;            /* (B, H) */
} s4_state;

#define PD(i) sl_params_data(m->base.P, m->i)
#define PG(i) sl_params_grad(m->base.P, m->i)

/* channel h's parameters as double complex (buf: 4 * N2) */
static sl_s4_ssm load_ssm(const s4_model *m, int h, double complex *buf)
{
    const int N2 = m->N2;
    const float *C = PD(iC) + (size_t)h * N2 * 2, *B = PD(iB) + (size_t)h * N2 * 2, *P = PD(iP) + (size_t)h * N2 * 2;
    const float *lar = PD(ilar) + (size_t)h * N2, *aim = PD(iaim) + (size_t)h * N2;
    double complex *lam = buf, *pp = buf + N2, *bb = buf + 2 * N2, *cc = buf + 3 * N2;
    for (int n = 0; n < N2; n++) {
        lam[n] = -exp((double)lar[n]) + I * (double)aim[n];
        pp[n] = P[2 * n] + I * P[2 * n + 1];
        bb[n] = B[2 * n] + I * B[2 * n + 1];
        cc[n] = C[2 * n] + I * C[2 * n + 1];
    }
    sl_s4_ssm s = {.N2 = N2, .dt = exp((double)PD(ilogdt)[h]), .lam = lam, .P = pp, .B = bb, .Ct = cc};
    return s;
}

static void s4_destroy(sl_model *base)
{
    s4_model *m = (s4_model *)base;
    sl_ssmblock_clear(&m->blk);
    sl_s4_fft_free(m->fft);
    sl_arena_free(&m->fwd);
    free(m);
}

/* seq/model.h's release: the kernel, its gradient and the block's caches */
static void s4_release(sl_model *base)
{
    s4_model *m = (s4_model *)base;
    sl_ssmblock_release(&m->blk);
    sl_arena_free(&m->fwd);
}

static int s4_init(sl_model *base, sl_rng *rng)
{
    s4_model *m = (s4_model *)base;
    const int H = m->H, N2 = m->N2;
    double complex *lam = malloc((size_t)3 * N2 * sizeof *lam);
    if (!lam) return sl_error(SL_ENOMEM, "out of memory");
    double complex *Pt = lam + N2, *Bt = lam + 2 * N2;
    int rc = sl_s4_dplr_legs(2 * N2, lam, Pt, Bt, NULL);
    if (!rc) {
        sl_rng_fill_normal(rng, PD(iD), (size_t)H, 1.0f);
        float *ld = PD(ilogdt);
        for (int h = 0; h < H; h++) ld[h] = (float)(log(m->dt_min) + sl_rng_uniform(rng) * (log(m->dt_max) - log(m->dt_min)));
        sl_rng_fill_normal(rng, PD(iC), (size_t)H * N2 * 2, (float)M_SQRT1_2);
        float *lar = PD(ilar), *aim = PD(iaim), *B = PD(iB), *P = PD(iP);
        for (int h = 0; h < H; h++)
            for (int n = 0; n < N2; n++) {
                size_t i = (size_t)h * N2 + n;
                lar[i] = (float)log(-creal(lam[n]));
                aim[i] = (float)cimag(lam[n]);
                B[2 * i] = (float)creal(Bt[n]);
                B[2 * i + 1] = (float)cimag(Bt[n]);
                P[2 * i] = (float)creal(Pt[n]);
                P[2 * i + 1] = (float)cimag(Pt[n]);
            }
        float bound = (float)(1.0 / sqrt((double)H));
        sl_rng_fill_uniform(rng, PD(iW), (size_t)2 * H * H, -bound, bound);
        sl_rng_fill_uniform(rng, PD(ib), (size_t)2 * H, -bound, bound);
    }
    free(lam);
    return rc;
}

static int s4_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int B, int T)
{
    (void)tok;
    s4_model *m = (s4_model *)base;
    const int H = m->H, L = m->L;
    if (T > L) return sl_error(SL_ESHAPE, "s4: sequence length %d exceeds l_max=%d (raise l_max in the spec)", T, L);
    const size_t n = (size_t)H * T;
    /* inference mode: no kernel gradient, and the block keeps no cache (ssm/ssmblock.h) */
    int rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->K, n), SL_FIELD(m->dK, base->inference ? 0 : n));
    if (rc) return sl_error_wrap(rc, "s4: cannot allocate the kernel");
    int fail = 0;
    #pragma omp parallel if (H > 1 && (size_t)H * m->N2 * L >= 16384)
    {
        double complex *buf = malloc((size_t)4 * m->N2 * sizeof *buf);
        double *K = malloc((size_t)L * sizeof *K);
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            sl_s4_ssm s;
            if (!buf || !K) {
                #pragma omp atomic write
                fail = 1;
                continue;
            }
            s = load_ssm(m, h, buf);
            if (sl_s4_kernel(&s, m->fft, K)) {
                #pragma omp atomic write
                fail = 1;
                continue;
            }
            for (int t = 0; t < T; t++) m->K[(size_t)h * T + t] = (float)K[t];
        }
        free(buf);
        free(K);
    }
    if (fail) return sl_error(SL_ENOMEM, "s4: kernel computation ran out of memory");
    const sl_ssmblock_weights w = {.K = m->K, .D = PD(iD), .W = PD(iW), .bW = PD(ib)};
    m->blk.pos = base->doc_pos; /* packed rows: the long convolution runs per document */
    m->blk.infer = base->inference;
    return sl_ssmblock_forward(&m->blk, y, x, &w, B, T, base->training, base->rng);
}

static int s4_backward(sl_model *base, const float *dy, float *dx)
{
    s4_model *m = (s4_model *)base;
    if (!m->blk.cached) return sl_error(SL_EINVAL, "s4: backward before forward");
    const int H = m->H, T = m->blk.T, L = m->L, N2 = m->N2;
    memset(m->dK, 0, (size_t)H * T * sizeof *m->dK);
    const sl_ssmblock_weights w = {.K = m->K, .D = PD(iD), .W = PD(iW), .bW = PD(ib)};
    const sl_ssmblock_grads g = {.dK = m->dK, .dD = PG(iD), .dW = PG(iW), .dbW = PG(ib)};
    int rc = sl_ssmblock_backward(&m->blk, dx, &g, dy, &w);
    if (rc) return rc;
    float *gld = PG(ilogdt), *gC = PG(iC), *gB = PG(iB), *gP = PG(iP), *glar = PG(ilar), *gaim = PG(iaim);
    const float *lar = PD(ilar);
    int fail = 0;
    #pragma omp parallel if (H > 1 && (size_t)H * N2 * L >= 16384)
    {
        double complex *buf = malloc((size_t)8 * N2 * sizeof *buf);
        double *dK = calloc((size_t)L, sizeof *dK);
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!buf || !dK) {
                #pragma omp atomic write
                fail = 1;
                continue;
            }
            sl_s4_ssm s = load_ssm(m, h, buf);
            double complex *g = buf + 4 * N2; /* g_lam, g_P, g_B, g_Ct */
            memset(g, 0, (size_t)4 * N2 * sizeof *g);
            for (int t = 0; t < T; t++) dK[t] = m->dK[(size_t)h * T + t];
            double gdt = 0.0;
            if (sl_s4_kernel_backward(&s, m->fft, dK, g, g + N2, g + 2 * N2, g + 3 * N2, &gdt)) {
                #pragma omp atomic write
                fail = 1;
                continue;
            }
            gld[h] += (float)(s.dt * gdt);
            for (int n = 0; n < N2; n++) {
                size_t i = (size_t)h * N2 + n;
                glar[i] += (float)(-exp((double)lar[i]) * creal(g[n]));
                gaim[i] += (float)cimag(g[n]);
                gP[2 * i] += (float)creal(g[N2 + n]);
                gP[2 * i + 1] += (float)cimag(g[N2 + n]);
                gB[2 * i] += (float)creal(g[2 * N2 + n]);
                gB[2 * i + 1] += (float)cimag(g[2 * N2 + n]);
                gC[2 * i] += (float)creal(g[3 * N2 + n]);
                gC[2 * i + 1] += (float)cimag(g[3 * N2 + n]);
            }
        }
        free(buf);
        free(dK);
    }
    return fail ? sl_error(SL_ENOMEM, "s4: kernel backward ran out of memory") : SL_OK;
}

static void s4_state_free(sl_model *base, void *p)
{
    (void)base;
    s4_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

/* the discretized system comes from the weights at state_new/reset (change weights -> reset) */
static int s4_state_reset(sl_model *base, void *p)
{
    s4_model *m = (s4_model *)base;
    s4_state *s = p;
    const int N2 = m->N2, N = 2 * N2, H = m->H;
    memset(s->x, 0, (size_t)s->B * H * N2 * sizeof *s->x);
    double complex *Ab = malloc((size_t)N * N * sizeof *Ab), *Bb = malloc((size_t)N * sizeof *Bb),
                   *C = malloc((size_t)N * sizeof *C);
    int rc = (!Ab || !Bb || !C) ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
    for (int h = 0; h < H && !rc; h++) {
        double complex *par = s->par + (size_t)h * 6 * N2;
        sl_s4_ssm ss = load_ssm(m, h, par); /* fills lam, P, B, Ct */
        s->dt[h] = ss.dt;
        for (int n = 0; n < N2; n++) par[4 * N2 + n] = 1.0 / (1.0 - ss.dt / 2 * ss.lam[n]);
        rc = sl_s4_dense(&ss, m->L, Ab, Bb, C);
        for (int n = 0; !rc && n < N2; n++) par[5 * N2 + n] = C[n];
    }
    free(Ab);
    free(Bb);
    free(C);
    return rc;
}

static void *s4_state_new(sl_model *base, int B)
{
    s4_model *m = (s4_model *)base;
    const int N2 = m->N2, H = m->H;
    s4_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->B = B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->par, (size_t)H * 6 * N2), SL_FIELD(s->dt, H), SL_FIELD(s->x, (size_t)B * H * N2),
                       SL_FIELD(s->z, (size_t)B * H))) {
        s4_state_free(base, s);
        return NULL;
    }
    if (s4_state_reset(base, s)) {
        s4_state_free(base, s);
        return NULL;
    }
    return s;
}

static int s4_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    s4_model *m = (s4_model *)base;
    s4_state *s = p;
    const int N2 = m->N2, H = m->H;
    const float *D = PD(iD);
    for (int h = 0; h < H; h++) {
        const double complex *par = s->par + (size_t)h * 6 * N2;
        sl_s4_ssm ss = {.N2 = N2, .dt = s->dt[h], .lam = par, .P = par + N2, .B = par + 2 * N2, .Ct = par + 3 * N2};
        for (int b = 0; b < s->B; b++) {
            double u = x[b * H + h];
            double o = sl_s4_step(&ss, par + 4 * N2, par + 5 * N2, s->x + ((size_t)b * H + h) * N2, u);
            s->z[b * H + h] = (float)(o + D[h] * u);
        }
    }
    return sl_ssmblock_post(&m->blk, y, s->z, PD(iW), PD(ib), s->B);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int s4_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    s4_state *d = dst;
    const s4_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's state_reset_rows: the chosen rows' state to zero (the discretized system,
 * shared by the rows, stays as the last full reset made it) */
static int s4_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    s4_model *m = (s4_model *)base;
    s4_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t n = (size_t)m->H * m->N2;
    for (int b = 0; b < B; b++)
        if (rows[b]) memset(s->x + b * n, 0, n * sizeof *s->x);
    return SL_OK;
}

static const sl_model_vt s4_vt = {
    .kind = "s4",
    .destroy = s4_destroy,
    .release = s4_release,
    .init = s4_init,
    .forward = s4_forward,
    .backward = s4_backward,
    .state_new = s4_state_new,
    .state_free = s4_state_free,
    .state_reset = s4_state_reset,
    .state_reset_rows = s4_state_reset_rows,
    .state_copy = s4_state_copy,
    .step = s4_step,
};

int sl_s4_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_s4_config c;
    sl_s4_config_default(&c);
    int rc = sl_spec_read(s, sl_s4_keys, &c);
    return rc ? rc : sl_s4_create(&c, P, prefix, out);
}

int sl_s4_create(const sl_s4_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    const int H = cfg->d_model, N = cfg->d_state, L = cfg->l_max;
    const double drop = cfg->dropout, lrs = cfg->lr_scale, dtmin = cfg->dt_min, dtmax = cfg->dt_max;
    sl_act act;
    int rc;
    if (H < 1 || L < 2 || N < 2)
        return sl_error(SL_EINVAL, "s4: need d_model >= 1, d_state >= 2, l_max >= 2 (got %d, %d, %d)", H, N, L);
    if ((rc = sl_ssm_block_check("s4", cfg->activation, dtmin, dtmax, NULL, &act, NULL))) return rc;
    if (N % 2) return sl_error(SL_EINVAL, "s4: d_state must be even (N/2 complex modes), got %d", N);
    s4_model *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    m->H = H;
    m->N2 = N / 2;
    m->L = L;
    m->dt_min = dtmin;
    m->dt_max = dtmax;
    if (!(m->fft = sl_s4_fft_alloc(L))) {
        free(m);
        return SL_ENOMEM;
    }
    sl_ssmblock_init(&m->blk, H, act, (float)drop);
    m->base.vt = &s4_vt;
    m->base.caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_PACK | SL_CAP_INFER;
    m->base.d_in = m->base.d_out = H;
    m->base.P = P;
    const int N2 = m->N2;
    struct {
        int *idx;
        const char *name;
        int nd;
        int64_t d0, d1, d2, d3;
        int ssm;
    } tab[] = {
        {&m->iD, "D", 1, H, 0, 0, 0, 0},
        {&m->ilogdt, "kernel.log_dt", 1, H, 0, 0, 0, 1},
        {&m->iC, "kernel.C", 3, H, N2, 2, 0, 0},
        {&m->iB, "kernel.B", 3, H, N2, 2, 0, 1},
        {&m->iP, "kernel.P", 4, 1, H, N2, 2, 1},
        {&m->ilar, "kernel.log_A_real", 2, H, N2, 0, 0, 1},
        {&m->iaim, "kernel.A_imag", 2, H, N2, 0, 0, 1},
        {&m->iW, "output_linear.0.weight", 3, 2 * H, H, 1, 0, 0},
        {&m->ib, "output_linear.0.bias", 1, 2 * H, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        int k = sl_params_add(P, prefix, tab[i].name, tab[i].nd, tab[i].d0, tab[i].d1, tab[i].d2, tab[i].d3);
        if (k < 0) {
            sl_s4_fft_free(m->fft);
            free(m);
            return k;
        }
        *tab[i].idx = k;
        if (tab[i].ssm) sl_params_set_group(P, k, (float)lrs, 0.0f);
    }
    *out = &m->base;
    return SL_OK;
}
