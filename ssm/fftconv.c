/* ssm/fftconv.c — see fftconv.h. Gradients of the zero-padded circular convolution
 * y = u (*) K (length n = 2T, real): du = irfft(conj(K^) dY^), dK = irfft(conj(U^) dY^), each
 * cut to the first T entries. */
#include "ssm/fftconv.h"
#include "core/error.h"

#include <complex.h>
#include <fftw3.h>
#include <stdlib.h>
#include <string.h>

struct sl_fftconv {
    int T, n, nf;
    fftwf_plan r2c, c2r;
};

sl_fftconv *sl_fftconv_alloc(int T)
{
    if (T < 1) { sl_error(SL_EINVAL, "fftconv: bad length %d", T); return NULL; }
    sl_fftconv *c = calloc(1, sizeof *c);
    float *buf = NULL;
    fftwf_complex *fb = NULL;
    if (!c) goto oom;
    c->T = T; c->n = 2 * T; c->nf = T + 1;
    buf = fftwf_malloc(sizeof(float) * c->n);
    fb = fftwf_malloc(sizeof(fftwf_complex) * c->nf);
    if (!buf || !fb) goto oom;
    c->r2c = fftwf_plan_dft_r2c_1d(c->n, buf, fb, FFTW_ESTIMATE);
    c->c2r = fftwf_plan_dft_c2r_1d(c->n, fb, buf, FFTW_ESTIMATE);
    fftwf_free(buf); fftwf_free(fb);
    if (!c->r2c || !c->c2r) { sl_fftconv_free(c); sl_error(SL_ENOMEM, "fftconv: FFTW could not plan length %d", 2 * T); return NULL; }
    return c;
oom:
    fftwf_free(buf); fftwf_free(fb); free(c);
    sl_error(SL_ENOMEM, "fftconv: out of memory");
    return NULL;
}

void sl_fftconv_free(sl_fftconv *c)
{
    if (!c) return;
    if (c->r2c) fftwf_destroy_plan(c->r2c);
    if (c->c2r) fftwf_destroy_plan(c->c2r);
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
        fftwf_free(in); fftwf_free(kf); fftwf_free(uf);
    }
    return fail ? sl_error(SL_ENOMEM, "fftconv: out of memory") : SL_OK;
}

int sl_fftconv_backward(sl_fftconv *c, float *du, float *dK, const float *dy, const float *u, const float *K,
                        int B, int H)
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
        fftwf_free(in); fftwf_free(kf); fftwf_free(uf); fftwf_free(gf); fftwf_free(acc);
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
