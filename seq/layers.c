/* seq/layers.c — shared layers (see layers.h). */
#include "seq/layers.h"
#include "core/error.h"
#include "core/fastmath.h"
#include "core/gemv.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include <strings.h>

/* ---- linear ------------------------------------------------------------------------------ */

void sl_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC)
{
    // out (N,OC) = inp (N,C) . w^T (C,OC)
    if (N <= SL_GEMV_MAX_N) {
        sl_gemv(out, inp, w, b, N, C, OC);
        return;
    } /* decoding: core/gemv.h */
    if (b) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, b, (size_t)OC * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

static void linear_backward(float *dinp, float beta, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            int N, int C, int OC)
{
    if (dinp) // (N,C) = beta dinp + dout (N,OC) . w (OC,C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C, beta, dinp, C);
    if (dw) // (OC,C) += dout^T (OC,N) . inp (N,C)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
    if (db)
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            for (int o = 0; o < OC; o++) db[o] += d[o];
        }
}

void sl_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N, int C,
                        int OC)
{
    linear_backward(dinp, 1.0f, dw, db, dout, inp, w, N, C, OC);
}

void sl_linear_backward_set(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N, int C,
                            int OC)
{
    linear_backward(dinp, 0.0f, dw, db, dout, inp, w, N, C, OC);
}

/* ---- embedding --------------------------------------------------------------------------- */

void sl_cols_get(float *dst, const float *src, size_t N, int ld, int c0, int w)
{
    for (size_t n = 0; n < N; n++) memcpy(dst + n * w, src + n * ld + c0, (size_t)w * sizeof(float));
}

void sl_cols_put(float *dst, const float *src, size_t N, int ld, int c0, int w)
{
    for (size_t n = 0; n < N; n++) memcpy(dst + n * ld + c0, src + n * w, (size_t)w * sizeof(float));
}

void sl_embedding_forward(float *out, const int32_t *tok, const float *wte, int N, int C)
{
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, wte + (size_t)tok[n] * C, (size_t)C * sizeof(float));
}

void sl_embedding_backward(float *dwte, const float *dout, const int32_t *tok, int N, int C)
{
    for (int n = 0; n < N; n++) {
        float *d = dwte + (size_t)tok[n] * C;
        const float *g = dout + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}

/* ---- layernorm / rmsnorm ----------------------------------------------------------------- */

void sl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C,
                          float eps)
{
    #pragma omp parallel for if (N > 256)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double m = 0.0, v = 0.0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        float s = (float)(1.0 / sqrt(v + eps));
        for (int c = 0; c < C; c++) {
            float y = ((float)(x[c] - m)) * s;
            o[c] = y * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
        }
        mean[n] = (float)m;
        rstd[n] = s;
    }
}

void sl_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        double dnorm_mean = 0.0, dnorm_norm = 0.0;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * s;
            float dn = g[c] * (w ? w[c] : 1.0f);
            dnorm_mean += dn;
            dnorm_norm += dn * xh;
            if (dw) dw[c] += g[c] * xh;
            if (db) db[c] += g[c];
        }
        dnorm_mean /= C;
        dnorm_norm /= C;
        if (dinp) {
            float *dx = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                float xh = (x[c] - m) * s;
                float dn = g[c] * (w ? w[c] : 1.0f);
                dx[c] += s * (dn - (float)dnorm_mean - xh * (float)dnorm_norm);
            }
        }
    }
}

/* ---- LayerNorm fast path -----------------------------------------------------------------
 * Same formulas as sl_layernorm_forward/backward above, with float row sums in vector
 * lanes instead of a serial double sum (the rows are short: C values of similar size, so the
 * difference is a few ulp; t/t-transformer.c compares with the reference). */
SL_CLONES void sl_layernorm_fast_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                                         int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float sm = 0.0f, sv = 0.0f;
        #pragma omp simd reduction(+:sm)
        for (int c = 0; c < C; c++) sm += x[c];
        const float m = sm / (float)C;
        #pragma omp simd reduction(+:sv)
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            sv += d * d;
        }
        const float s = 1.0f / sqrtf(sv / (float)C + eps);
        if (w && b) {
            #pragma omp simd
            for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        } else if (w) {
            #pragma omp simd
            for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c];
        } else {
            #pragma omp simd
            for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s + (b ? b[c] : 0.0f);
        }
        mean[n] = m;
        rstd[n] = s;
    }
}

SL_CLONES void sl_layernorm_fast_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                                          const float *mean, const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        const float m = mean[n], s = rstd[n];
        float dm = 0.0f, dd = 0.0f;
        #pragma omp simd reduction(+:dm, dd)
        for (int c = 0; c < C; c++) {
            const float xh = (x[c] - m) * s, dn = g[c] * (w ? w[c] : 1.0f);
            dm += dn;
            dd += dn * xh;
        }
        if (dw) {
            #pragma omp simd
            for (int c = 0; c < C; c++) dw[c] += g[c] * ((x[c] - m) * s);
        }
        if (db) {
            #pragma omp simd
            for (int c = 0; c < C; c++) db[c] += g[c];
        }
        dm /= (float)C;
        dd /= (float)C;
        if (dinp) {
            float *dx = dinp + (size_t)n * C;
            #pragma omp simd
            for (int c = 0; c < C; c++) {
                const float xh = (x[c] - m) * s, dn = g[c] * (w ? w[c] : 1.0f);
                dx[c] += s * (dn - dm - xh * dd);
            }
        }
    }
}

void sl_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps)
{
    #pragma omp parallel for if (N > 256)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        float s = (float)(1.0 / sqrt(ss / C + eps));
        for (int c = 0; c < C; c++) o[c] = x[c] * s * (w ? w[c] : 1.0f);
        rstd[n] = s;
    }
}

void sl_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, const float *rstd, int N,
                         int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float s = rstd[n];
        double dot = 0.0; // sum_c dn_c * x_c
        for (int c = 0; c < C; c++) {
            float dn = g[c] * (w ? w[c] : 1.0f);
            dot += dn * x[c];
            if (dw) dw[c] += g[c] * x[c] * s;
        }
        if (dinp) {
            float *dx = dinp + (size_t)n * C;
            float k = (float)(dot / C) * s * s * s;
            for (int c = 0; c < C; c++) dx[c] += g[c] * (w ? w[c] : 1.0f) * s - k * x[c];
        }
    }
}

/* ---- activations ------------------------------------------------------------------------- */

#define SQRT_2_OVER_PI 0.7978845608028654f

float sl_act1(sl_act a, float x)
{
    switch (a) {
    case SL_ACT_IDENTITY: return x;
    case SL_ACT_TANH: return tanhf(x);
    case SL_ACT_RELU: return x > 0 ? x : 0.0f;
    case SL_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case SL_ACT_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case SL_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
    case SL_ACT_SILU: return x / (1.0f + expf(-x));
    case SL_ACT_SOFTPLUS: return x > 20.0f ? x : log1pf(expf(x)); /* torch's threshold 20 */
    }
    return x;
}

float sl_dact1(sl_act a, float x)
{
    switch (a) {
    case SL_ACT_IDENTITY: return 1.0f;
    case SL_ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case SL_ACT_RELU: return x > 0 ? 1.0f : 0.0f;
    case SL_ACT_SIGMOID: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f - s);
    }
    case SL_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        float pdf = expf(-0.5f * x * x) * 0.3989422804014327f;
        return cdf + x * pdf;
    }
    case SL_ACT_GELU_TANH: {
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case SL_ACT_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case SL_ACT_SOFTPLUS: return x > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-x));
    }
    return 1.0f;
}

void sl_act_forward(sl_act a, float *out, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = sl_act1(a, inp[i]);
}

void sl_act_backward(sl_act a, float *dinp, const float *dout, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * sl_dact1(a, inp[i]);
}

/* ---- GELU fast path ----------------------------------------------------------------------
 * gelu(x) = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),  gelu'(x) = Phi(x) + x phi(x).
 * libm's erff/expf are scalar calls; these branch-free versions vectorise (omp simd). erf is a
 * rational minimax fit on [-4, 4] (|error| < 5e-7; erf is +-1 to float precision beyond), exp
 * is sl_fm_expf_nonpos (core/fastmath.h; its argument -x^2/2 is never positive). The
 * reference is sl_act_forward/backward(SL_ACT_GELU) above; t/t-transformer.c compares the
 * two. The transformer's MLP uses it. */
SL_FASTMATH __attribute__((always_inline)) static inline float fast_erf(float x)
{
    x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

/* The kernels below are SL_CLONES (core/fastmath.h: AVX-512 and baseline variants). They are
 * serial: callers run them inside their slices or split them over threads in fixed chunks
 * (element-wise, so any split gives the same values). */
SL_CLONES SL_FASTMATH static void gelu_fwd_k(float *out, const float *inp, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i];
        out[i] = 0.5f * x * (1.0f + fast_erf(x * 0.70710678118654752f));
    }
}

/* dinp = (acc ? dinp : 0) + dout * gelu'(inp) */
SL_CLONES SL_FASTMATH static void gelu_bwd_k(float *dinp, const float *dout, const float *inp, size_t n, int acc)
{
    if (acc) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const float x = inp[i];
            const float cdf = 0.5f * (1.0f + fast_erf(x * 0.70710678118654752f));
            const float pdf = 0.39894228040143268f * sl_fm_expf_nonpos(-0.5f * x * x);
            dinp[i] += dout[i] * (cdf + x * pdf);
        }
    } else {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const float x = inp[i];
            const float cdf = 0.5f * (1.0f + fast_erf(x * 0.70710678118654752f));
            const float pdf = 0.39894228040143268f * sl_fm_expf_nonpos(-0.5f * x * x);
            dinp[i] = dout[i] * (cdf + x * pdf);
        }
    }
}

/* large arrays outside a parallel region: fixed chunks of 4096 over the threads */
#define GELU_CHUNK 4096
void sl_gelu_fast_forward(float *out, const float *inp, size_t n)
{
    if (n <= 65536 || omp_in_parallel()) {
        gelu_fwd_k(out, inp, n);
        return;
    }
    const long nc = (long)((n + GELU_CHUNK - 1) / GELU_CHUNK);
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < nc; c++) {
        size_t i0 = (size_t)c * GELU_CHUNK, m = n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK;
        gelu_fwd_k(out + i0, inp + i0, m);
    }
}

static void gelu_bwd(float *dinp, const float *dout, const float *inp, size_t n, int acc)
{
    if (n <= 65536 || omp_in_parallel()) {
        gelu_bwd_k(dinp, dout, inp, n, acc);
        return;
    }
    const long nc = (long)((n + GELU_CHUNK - 1) / GELU_CHUNK);
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < nc; c++) {
        size_t i0 = (size_t)c * GELU_CHUNK, m = n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK;
        gelu_bwd_k(dinp + i0, dout + i0, inp + i0, m, acc);
    }
}

void sl_gelu_fast_backward(float *dinp, const float *dout, const float *inp, size_t n) { gelu_bwd(dinp, dout, inp, n, 1); }
void sl_gelu_fast_backward_set(float *dinp, const float *dout, const float *inp, size_t n) { gelu_bwd(dinp, dout, inp, n, 0); }

int sl_act_from_name(const char *name, sl_act *a)
{
    static const struct {
        const char *n;
        sl_act a;
    } tab[] = {{"identity", SL_ACT_IDENTITY}, {"tanh", SL_ACT_TANH},        {"relu", SL_ACT_RELU},
               {"sigmoid", SL_ACT_SIGMOID},   {"gelu", SL_ACT_GELU},        {"gelu_tanh", SL_ACT_GELU_TANH},
               {"silu", SL_ACT_SILU},         {"softplus", SL_ACT_SOFTPLUS}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(name, tab[i].n)) {
            *a = tab[i].a;
            return SL_OK;
        }
    return sl_error(SL_EINVAL, "unknown activation '%s' (identity, tanh, relu, sigmoid, gelu, gelu_tanh, silu, softplus)", name);
}

/* ---- GLU --------------------------------------------------------------------------------- */

void sl_glu_forward(float *out, const float *inp, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *a = inp + (size_t)n * 2 * C, *g = a + C;
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = a[c] / (1.0f + expf(-g[c]));
    }
}

void sl_glu_backward(float *dinp, const float *dout, const float *inp, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *a = inp + (size_t)n * 2 * C, *g = a + C;
        const float *d = dout + (size_t)n * C;
        float *da = dinp + (size_t)n * 2 * C, *dg = da + C;
        for (int c = 0; c < C; c++) {
            float s = 1.0f / (1.0f + expf(-g[c]));
            da[c] += d[c] * s;
            dg[c] += d[c] * a[c] * s * (1.0f - s);
        }
    }
}

/* ---- losses ------------------------------------------------------------------------------ */

void sl_softmax_rows(float *x, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *r = x + (size_t)n * V;
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = fmaxf(mx, r[v]);
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            r[v] = expf(r[v] - mx);
            sum += r[v];
        }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) r[v] *= inv;
    }
}

double sl_xent_forward(float *probs, const float *logits, const int32_t *targets, int N, int V, int *count)
{
    /* one pass per row: the softmax exactly as sl_softmax_rows computes it, and the loss from
     * the same max and sum, -(z_t - max - log sum) (the log-softmax, accurate at tiny
     * probabilities, without a second exponential per logit) */
    double loss = 0.0;
    int cnt = 0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= V) {
            if (count) *count = 0;
            sl_error(SL_EINVAL, "cross-entropy: target %d at row %d is outside the %d logits", (int)targets[n], n, V);
            return NAN;
        }
    for (int n = 0; n < N; n++) {
        const float *r = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = fmaxf(mx, r[v]);
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            p[v] = expf(r[v] - mx);
            sum += p[v];
        }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) p[v] *= inv;
        int t = targets[n];
        if (t < 0) continue;
        loss += -((double)r[t] - mx - log(sum));
        cnt++;
    }
    if (count) *count = cnt;
    return cnt ? loss / cnt : 0.0;
}

void sl_xent_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V, float scale)
{
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t < 0 || t >= V) continue;
        float *d = dlogits + (size_t)n * V;
        const float *p = probs + (size_t)n * V;
        for (int v = 0; v < V; v++) d[v] += scale * (p[v] - (v == t ? 1.0f : 0.0f));
    }
}

double sl_mse_forward(const float *y, const float *target, const float *mask, int N, int D, double *weight)
{
    double s = 0.0, w = 0.0;
    for (int n = 0; n < N; n++) {
        double m = mask ? mask[n] : 1.0;
        if (m == 0.0) continue;
        for (int d = 0; d < D; d++) {
            double e = (double)y[(size_t)n * D + d] - target[(size_t)n * D + d];
            s += m * e * e;
        }
        w += m;
    }
    if (weight) *weight = w * D;
    return w > 0 ? s / (w * D) : 0.0;
}

void sl_mse_backward(float *dy, const float *y, const float *target, const float *mask, int N, int D, float scale)
{
    for (int n = 0; n < N; n++) {
        float m = mask ? mask[n] : 1.0f;
        if (m == 0.0f) continue;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)n * D + d;
            dy[i] += scale * 2.0f * (y[i] - target[i]) * m;
        }
    }
}

/* ---- depthwise causal conv1d ------------------------------------------------------------- */

void sl_conv1d_causal_forward(float *out, const float *inp, const float *w, const float *b, int B, int T, int C, int K)
{
    sl_conv1d_causal_docs_forward(out, inp, w, b, NULL, B, T, C, K);
}

void sl_conv1d_causal_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int B,
                               int T, int C, int K)
{
    sl_conv1d_causal_docs_backward(dinp, dw, db, dout, inp, w, NULL, B, T, C, K);
}

/* the first tap k of position t that reads inside the row and, packed, inside t's document */
static inline int conv_k0(const int32_t *pos, int bb, int t, int T, int K)
{
    const int first = pos ? t - pos[(size_t)bb * T + t] : 0; /* the document's (or the row's) start */
    const int k0 = first - t + K - 1;
    return k0 > 0 ? k0 : 0;
}

void sl_conv1d_causal_docs_forward(float *out, const float *inp, const float *w, const float *b, const int32_t *pos, int B, int T,
                                   int C, int K)
{
    #pragma omp parallel for collapse(2) if ((size_t)B * T * C > 65536)
    for (int bb = 0; bb < B; bb++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)bb * T + t) * C;
            for (int c = 0; c < C; c++) o[c] = b ? b[c] : 0.0f;
            for (int k = conv_k0(pos, bb, t, T, K); k < K; k++) {
                int s = t - (K - 1) + k;
                const float *x = inp + ((size_t)bb * T + s) * C;
                for (int c = 0; c < C; c++) o[c] += w[(size_t)c * K + k] * x[c];
            }
        }
}

void sl_conv1d_causal_docs_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                                    const int32_t *pos, int B, int T, int C, int K)
{
    for (int bb = 0; bb < B; bb++)
        for (int t = 0; t < T; t++) {
            const float *g = dout + ((size_t)bb * T + t) * C;
            if (db)
                for (int c = 0; c < C; c++) db[c] += g[c];
            for (int k = conv_k0(pos, bb, t, T, K); k < K; k++) {
                int s = t - (K - 1) + k;
                const float *x = inp + ((size_t)bb * T + s) * C;
                float *dx = dinp ? dinp + ((size_t)bb * T + s) * C : NULL;
                for (int c = 0; c < C; c++) {
                    if (dw) dw[(size_t)c * K + k] += g[c] * x[c];
                    if (dx) dx[c] += g[c] * w[(size_t)c * K + k];
                }
            }
        }
}

/* ---- dropout ----------------------------------------------------------------------------- */

void sl_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, sl_rng *rng)
{
    if (p <= 0.0f || !rng) {
        for (size_t i = 0; i < n; i++) {
            out[i] = inp[i];
            mask[i] = 1.0f;
        }
        return;
    }
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = sl_rng_uniform(rng) < p ? 0.0f : keep;
        out[i] = inp[i] * mask[i];
    }
}

void sl_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}
