/* ssm/fftconv.c — see fftconv.h. Gradients of the zero-padded circular convolution
 * y = u (*) K (length n = 2T, real): du = irfft(conj(K^) dY^), dK = irfft(conj(U^) dY^), each
 * cut to the first T entries. */
#include "ssm/fftconv.h"
#include "core/error.h"
#include "seq/model.h"

#include <complex.h>
#include <fftw3.h>
#include <stdlib.h>
#include <string.h>

enum { SUBS = 31 }; /* packed rows: sub-convolution sizes 2m, m = 2^k */

struct sl_fftconv {
    int T, n, nf;
    fftwf_plan r2c, c2r;
    fftwf_plan sr2c[SUBS], sc2r[SUBS]; /* [k]: length 2^(k+1), made on first use */
};

sl_fftconv *sl_fftconv_alloc(int T)
{
    if (T < 1) {
        sl_error(SL_EINVAL, "fftconv: bad length %d", T);
        return NULL;
    }
    sl_fftconv *c = calloc(1, sizeof *c);
    float *buf = NULL;
    fftwf_complex *fb = NULL;
    if (!c) goto oom;
    c->T = T;
    c->n = 2 * T;
    c->nf = T + 1;
    buf = fftwf_malloc(sizeof(float) * c->n);
    fb = fftwf_malloc(sizeof(fftwf_complex) * c->nf);
    if (!buf || !fb) goto oom;
    /* FFTW's planner is not thread-safe: models planning in concurrent batch slices
     * (lab/replicas.h) take turns; executing distinct plans needs no lock */
    #pragma omp critical(sl_fftw_planner)
    {
        c->r2c = fftwf_plan_dft_r2c_1d(c->n, buf, fb, FFTW_ESTIMATE);
        c->c2r = fftwf_plan_dft_c2r_1d(c->n, fb, buf, FFTW_ESTIMATE);
    }
    fftwf_free(buf);
    fftwf_free(fb);
    if (!c->r2c || !c->c2r) {
        sl_fftconv_free(c);
        sl_error(SL_ENOMEM, "fftconv: FFTW could not plan length %d", 2 * T);
        return NULL;
    }
    return c;
oom:
    fftwf_free(buf);
    fftwf_free(fb);
    free(c);
    sl_error(SL_ENOMEM, "fftconv: out of memory");
    return NULL;
}

void sl_fftconv_free(sl_fftconv *c)
{
    if (!c) return;
    #pragma omp critical(sl_fftw_planner)
    {
        if (c->r2c) fftwf_destroy_plan(c->r2c);
        if (c->c2r) fftwf_destroy_plan(c->c2r);
        for (int k = 0; k < SUBS; k++) {
            if (c->sr2c[k]) fftwf_destroy_plan(c->sr2c[k]);
            if (c->sc2r[k]) fftwf_destroy_plan(c->sc2r[k]);
        }
    }
    free(c);
}

int sl_fftconv_len(const sl_fftconv *c) { return c->T; }

/* in (n) <- column h of x (B,T,H) row b, zero-padded */
static void load(float *in, const float *x, int b, int h, int T, int H, int n)
{
    for (int t = 0; t < T; t++) in[t] = x[((size_t)b * T + t) * H + h];
    memset(in + T, 0, (size_t)(n - T) * sizeof *in);
}

int sl_fftconv_forward(sl_fftconv *c, float *y, const float *u, const float *K, int B, int H)
{
    const int T = c->T, n = c->n, nf = c->nf;
    const float scale = 1.0f / (float)n;
    int fail = 0;
    /* threads only when there is work enough to pay for waking them */
    #pragma omp parallel if (H > 1 && (size_t)B * H * n >= 65536)
    {
        float *in = fftwf_malloc(sizeof(float) * n);
        fftwf_complex *kf = fftwf_malloc(sizeof(fftwf_complex) * nf), *uf = fftwf_malloc(sizeof(fftwf_complex) * nf);
        int ok = in && kf && uf;
        if (!ok) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!ok) continue;
            memcpy(in, K + (size_t)h * T, (size_t)T * sizeof *in);
            memset(in + T, 0, (size_t)(n - T) * sizeof *in);
            fftwf_execute_dft_r2c(c->r2c, in, kf);
            for (int b = 0; b < B; b++) {
                load(in, u, b, h, T, H, n);
                fftwf_execute_dft_r2c(c->r2c, in, uf);
                for (int f = 0; f < nf; f++) uf[f] *= kf[f] * scale;
                fftwf_execute_dft_c2r(c->c2r, uf, in);
                for (int t = 0; t < T; t++) y[((size_t)b * T + t) * H + h] = in[t];
            }
        }
        fftwf_free(in);
        fftwf_free(kf);
        fftwf_free(uf);
    }
    return fail ? sl_error(SL_ENOMEM, "fftconv: out of memory") : SL_OK;
}

int sl_fftconv_backward(sl_fftconv *c, float *du, float *dK, const float *dy, const float *u, const float *K, int B, int H)
{
    const int T = c->T, n = c->n, nf = c->nf;
    const float scale = 1.0f / (float)n;
    int fail = 0;
    #pragma omp parallel if (H > 1 && (size_t)B * H * n >= 32768)
    {
        float *in = fftwf_malloc(sizeof(float) * n);
        fftwf_complex *kf = fftwf_malloc(sizeof(fftwf_complex) * nf), *uf = fftwf_malloc(sizeof(fftwf_complex) * nf),
                      *gf = fftwf_malloc(sizeof(fftwf_complex) * nf), *acc = fftwf_malloc(sizeof(fftwf_complex) * nf);
        int ok = in && kf && uf && gf && acc;
        if (!ok) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!ok) continue;
            if (du) {
                memcpy(in, K + (size_t)h * T, (size_t)T * sizeof *in);
                memset(in + T, 0, (size_t)(n - T) * sizeof *in);
                fftwf_execute_dft_r2c(c->r2c, in, kf);
            }
            for (int f = 0; f < nf; f++) acc[f] = 0;
            for (int b = 0; b < B; b++) {
                load(in, dy, b, h, T, H, n);
                fftwf_execute_dft_r2c(c->r2c, in, gf);
                if (dK) {
                    load(in, u, b, h, T, H, n);
                    fftwf_execute_dft_r2c(c->r2c, in, uf);
                    for (int f = 0; f < nf; f++) acc[f] += conjf(uf[f]) * gf[f];
                }
                if (du) {
                    for (int f = 0; f < nf; f++) uf[f] = conjf(kf[f]) * gf[f] * scale;
                    fftwf_execute_dft_c2r(c->c2r, uf, in);
                    for (int t = 0; t < T; t++) du[((size_t)b * T + t) * H + h] += in[t];
                }
            }
            if (dK) {
                for (int f = 0; f < nf; f++) acc[f] *= scale;
                fftwf_execute_dft_c2r(c->c2r, acc, in);
                for (int t = 0; t < T; t++) dK[(size_t)h * T + t] += in[t];
            }
        }
        fftwf_free(in);
        fftwf_free(kf);
        fftwf_free(uf);
        fftwf_free(gf);
        fftwf_free(acc);
    }
    return fail ? sl_error(SL_ENOMEM, "fftconv: out of memory") : SL_OK;
}

void sl_conv_naive_forward(float *y, const float *u, const float *K, int B, int T, int H)
{
    #pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                double s = 0.0;
                for (int j = 0; j <= t; j++) s += (double)K[(size_t)h * T + j] * u[((size_t)b * T + t - j) * H + h];
                y[((size_t)b * T + t) * H + h] = (float)s;
            }
}

void sl_conv_naive_backward(float *du, float *dK, const float *dy, const float *u, const float *K, int B, int T, int H)
{
    #pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                float g = dy[((size_t)b * T + t) * H + h];
                for (int j = 0; j <= t; j++) {
                    if (du) du[((size_t)b * T + t - j) * H + h] += g * K[(size_t)h * T + j];
                    if (dK) dK[(size_t)h * T + j] += g * u[((size_t)b * T + t - j) * H + h];
                }
            }
}

/* ---- packed rows: per-document sub-convolutions ---- */

/* k with 2^k >= L (the document's sub-convolution has length n = 2^(k+1)) */
static int sub_k(int L)
{
    int k = 0;
    while ((1 << k) < L) k++;
    return k;
}

/* plans for every size the batch's documents need (FFTW's planner is not thread-safe: here,
 * before the parallel region); *kmax receives the largest k */
static int sub_plans(sl_fftconv *c, const int32_t *pos, int B, int *kmax, unsigned *used)
{
    const int T = c->T;
    *kmax = 0;
    *used = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0, e; t < T; t = e) {
            e = sl_docs_end(pos + (size_t)b * T, t, T);
            const int k = sub_k(e - t);
            *used |= 1u << k;
            if (k > *kmax) *kmax = k;
        }
    for (int k = 0; k <= *kmax; k++) {
        if (!(*used & (1u << k)) || c->sr2c[k]) continue;
        const int n = 2 << k;
        float *buf = fftwf_malloc(sizeof(float) * n);
        fftwf_complex *fb = fftwf_malloc(sizeof(fftwf_complex) * (n / 2 + 1));
        if (buf && fb) {
            #pragma omp critical(sl_fftw_planner)
            {
                c->sr2c[k] = fftwf_plan_dft_r2c_1d(n, buf, fb, FFTW_ESTIMATE);
                c->sc2r[k] = fftwf_plan_dft_c2r_1d(n, fb, buf, FFTW_ESTIMATE);
            }
        }
        fftwf_free(buf);
        fftwf_free(fb);
        if (!c->sr2c[k] || !c->sc2r[k]) return sl_error(SL_ENOMEM, "fftconv: FFTW could not plan length %d", n);
    }
    return SL_OK;
}

/* in (n) <- column h of x (B,T,H), row b, positions [t0, t0 + L), zero-padded */
static void load_doc(float *in, const float *x, int b, int t0, int L, int h, int T, int H, int n)
{
    for (int t = 0; t < L; t++) in[t] = x[((size_t)b * T + t0 + t) * H + h];
    memset(in + L, 0, (size_t)(n - L) * sizeof *in);
}

/* kf[k] <- the transform of K's row h cut to 2^k taps, zero-padded to 2^(k+1), for every used k */
static void sub_kernels(const sl_fftconv *c, fftwf_complex *const *kf, float *in, const float *K, int h, int kmax, unsigned used)
{
    const int T = c->T;
    for (int k = 0; k <= kmax; k++) {
        if (!(used & (1u << k))) continue;
        const int m = 1 << k, n = 2 * m, taps = m < T ? m : T;
        memcpy(in, K + (size_t)h * T, (size_t)taps * sizeof *in);
        memset(in + taps, 0, (size_t)(n - taps) * sizeof *in);
        fftwf_execute_dft_r2c(c->sr2c[k], in, kf[k]);
    }
}

int sl_fftconv_docs_forward(sl_fftconv *c, float *y, const float *u, const float *K, const int32_t *pos, int B, int H)
{
    if (!pos) return sl_fftconv_forward(c, y, u, K, B, H);
    const int T = c->T;
    int kmax, rc;
    unsigned used;
    if ((rc = sub_plans(c, pos, B, &kmax, &used))) return rc;
    const int nmax = 2 << kmax, nfmax = nmax / 2 + 1;
    int fail = 0;
    #pragma omp parallel if (H > 1 && (size_t)B * H * T >= 32768)
    {
        float *in = fftwf_malloc(sizeof(float) * nmax);
        fftwf_complex *uf = fftwf_malloc(sizeof(fftwf_complex) * nfmax), *kf[SUBS] = {0};
        int ok = in && uf;
        for (int k = 0; k <= kmax; k++)
            if (used & (1u << k)) ok = ok && (kf[k] = fftwf_malloc(sizeof(fftwf_complex) * ((1 << k) + 1)));
        if (!ok) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!ok) continue;
            sub_kernels(c, kf, in, K, h, kmax, used);
            for (int b = 0; b < B; b++)
                for (int t0 = 0, t1; t0 < T; t0 = t1) {
                    t1 = sl_docs_end(pos + (size_t)b * T, t0, T);
                    const int L = t1 - t0, k = sub_k(L), n = 2 << k, nf = n / 2 + 1;
                    const float scale = 1.0f / (float)n;
                    load_doc(in, u, b, t0, L, h, T, H, n);
                    fftwf_execute_dft_r2c(c->sr2c[k], in, uf);
                    for (int f = 0; f < nf; f++) uf[f] *= kf[k][f] * scale;
                    fftwf_execute_dft_c2r(c->sc2r[k], uf, in);
                    for (int t = 0; t < L; t++) y[((size_t)b * T + t0 + t) * H + h] = in[t];
                }
        }
        fftwf_free(in);
        fftwf_free(uf);
        for (int k = 0; k < SUBS; k++) fftwf_free(kf[k]);
    }
    return fail ? sl_error(SL_ENOMEM, "fftconv: out of memory") : SL_OK;
}

int sl_fftconv_docs_backward(sl_fftconv *c, float *du, float *dK, const float *dy, const float *u, const float *K,
                             const int32_t *pos, int B, int H)
{
    if (!pos) return sl_fftconv_backward(c, du, dK, dy, u, K, B, H);
    const int T = c->T;
    int kmax, rc;
    unsigned used;
    if ((rc = sub_plans(c, pos, B, &kmax, &used))) return rc;
    const int nmax = 2 << kmax, nfmax = nmax / 2 + 1;
    int fail = 0;
    #pragma omp parallel if (H > 1 && (size_t)B * H * T >= 16384)
    {
        float *in = fftwf_malloc(sizeof(float) * nmax);
        fftwf_complex *uf = fftwf_malloc(sizeof(fftwf_complex) * nfmax), *gf = fftwf_malloc(sizeof(fftwf_complex) * nfmax);
        fftwf_complex *kf[SUBS] = {0}, *acc[SUBS] = {0}; /* per size: K's transform, dK's sum */
        int ok = in && uf && gf;
        for (int k = 0; k <= kmax; k++)
            if (used & (1u << k)) {
                ok = ok && (kf[k] = fftwf_malloc(sizeof(fftwf_complex) * ((1 << k) + 1)));
                ok = ok && (acc[k] = fftwf_malloc(sizeof(fftwf_complex) * ((1 << k) + 1)));
            }
        if (!ok) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (!ok) continue;
            if (du) sub_kernels(c, kf, in, K, h, kmax, used);
            for (int k = 0; k <= kmax; k++)
                for (int f = 0; acc[k] && f <= (1 << k); f++) acc[k][f] = 0;
            for (int b = 0; b < B; b++)
                for (int t0 = 0, t1; t0 < T; t0 = t1) {
                    t1 = sl_docs_end(pos + (size_t)b * T, t0, T);
                    const int L = t1 - t0, k = sub_k(L), n = 2 << k, nf = n / 2 + 1;
                    const float scale = 1.0f / (float)n;
                    load_doc(in, dy, b, t0, L, h, T, H, n);
                    fftwf_execute_dft_r2c(c->sr2c[k], in, gf);
                    if (dK) {
                        load_doc(in, u, b, t0, L, h, T, H, n);
                        fftwf_execute_dft_r2c(c->sr2c[k], in, uf);
                        for (int f = 0; f < nf; f++) acc[k][f] += conjf(uf[f]) * gf[f];
                    }
                    if (du) {
                        for (int f = 0; f < nf; f++) uf[f] = conjf(kf[k][f]) * gf[f] * scale;
                        fftwf_execute_dft_c2r(c->sc2r[k], uf, in);
                        for (int t = 0; t < L; t++) du[((size_t)b * T + t0 + t) * H + h] += in[t];
                    }
                }
            for (int k = 0; dK && k <= kmax; k++) { /* dK's lags < 2^k from the documents of size k */
                if (!(used & (1u << k))) continue;
                const int m = 1 << k, n = 2 * m, taps = m < T ? m : T;
                const float scale = 1.0f / (float)n;
                for (int f = 0; f <= m; f++) acc[k][f] *= scale;
                fftwf_execute_dft_c2r(c->sc2r[k], acc[k], in);
                for (int t = 0; t < taps; t++) dK[(size_t)h * T + t] += in[t];
            }
        }
        fftwf_free(in);
        fftwf_free(uf);
        fftwf_free(gf);
        for (int k = 0; k < SUBS; k++) {
            fftwf_free(kf[k]);
            fftwf_free(acc[k]);
        }
    }
    return fail ? sl_error(SL_ENOMEM, "fftconv: out of memory") : SL_OK;
}
