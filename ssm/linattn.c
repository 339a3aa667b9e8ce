/* ssm/linattn.c — chunkwise / parallel / recurrent gated linear attention (see linattn.h). */
#include "ssm/linattn.h"
#include "core/error.h"
#include "core/fastmath.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

SL_NO_TRAPPING_MATH

static int check(const sl_linattn_args *a, const char *who)
{
    if (!a || a->B < 1 || a->T < 1 || a->H < 1 || a->K < 1 || a->V < 1 || !a->q || !a->k || !a->v || (!a->g && !a->gh))
        return sl_error(SL_EINVAL, "%s: bad arguments (B, T, H, K, V must be positive; q, k, v and g or gh given)", who);
    return SL_OK;
}

/* one chunk's view of head (b, h): rows t0 .. t0+c-1 */
typedef struct {
    const float *q, *k, *v, *g; /* first row; rows are ldk = H K, ldv = H V floats apart */
    int ldk, ldv, c, K, V;
    float gh; /* per-head decay (g == NULL) */
} chunk_view;

static chunk_view view(const sl_linattn_args *a, int b, int h, int t0, int c)
{
    const size_t rk = ((size_t)b * a->T + t0) * a->H + h;
    chunk_view w = {a->q + rk * a->K,
                    a->k + rk * a->K,
                    a->v + rk * a->V,
                    a->g ? a->g + rk * a->K : NULL,
                    a->H * a->K,
                    a->H * a->V,
                    c,
                    a->K,
                    a->V,
                    a->g ? 0.0f : a->gh[h]};
    return w;
}

/* Gl (c, K): log gates summed from the chunk's first row through row j */
static void cumgates(float *Gl, const chunk_view *w)
{
    const int K = w->K;
    for (int j = 0; j < w->c; j++)
        for (int d = 0; d < K; d++) {
            float prev = j ? Gl[(size_t)(j - 1) * K + d] : 0.0f;
            Gl[(size_t)j * K + d] = prev + (w->g ? w->g[(size_t)j * w->ldk + d] : w->gh);
        }
}

/* intra-chunk scores A (c, c), row stride C: scale sum_d q_jd k_id exp(Gl_jd - Gl_id), i <= j; 0 above */
static void scores(float *A, int C, const chunk_view *w, const float *Gl, float scale)
{
    const int c = w->c, K = w->K;
    if (w->g) {
        for (int j = 0; j < c; j++) {
            const float *qj = w->q + (size_t)j * w->ldk, *Gj = Gl + (size_t)j * K;
            for (int i = 0; i <= j; i++) {
                const float *ki = w->k + (size_t)i * w->ldk, *Gi = Gl + (size_t)i * K;
                float s = 0.0f;
                #pragma omp simd reduction(+ : s)
                for (int d = 0; d < K; d++) s += qj[d] * ki[d] * sl_fm_expf(Gj[d] - Gi[d]);
                A[(size_t)j * C + i] = scale * s;
            }
            for (int i = j + 1; i < c; i++) A[(size_t)j * C + i] = 0.0f;
        }
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, c, K, scale, w->q, w->ldk, w->k, w->ldk, 0.0f, A, C);
        for (int j = 0; j < c; j++)
            for (int i = 0; i < c; i++)
                A[(size_t)j * C + i] = i <= j ? A[(size_t)j * C + i] * expf(w->gh * (float)(j - i)) : 0.0f;
    }
}

/* Qe (c, K) = scale q (.) exp(Gl); Ke (c, K) = k (.) exp(Gend - Gl) */
static void decayed_qk(float *Qe, float *Ke, const chunk_view *w, const float *Gl, float scale)
{
    const int c = w->c, K = w->K;
    const float *Ge = Gl + (size_t)(c - 1) * K;
    for (int j = 0; j < c; j++)
        for (int d = 0; d < K; d++) {
            const float G = Gl[(size_t)j * K + d];
            if (Qe) Qe[(size_t)j * K + d] = scale * w->q[(size_t)j * w->ldk + d] * sl_fm_expf(G);
            if (Ke) Ke[(size_t)j * K + d] = w->k[(size_t)j * w->ldk + d] * sl_fm_expf(Ge[d] - G);
        }
}

/* S <- diag(exp(Gend)) S + Ke^T V */
static void state_update(float *S, const chunk_view *w, const float *Gl, const float *Ke)
{
    const int c = w->c, K = w->K, V = w->V;
    const float *Ge = Gl + (size_t)(c - 1) * K;
    for (int d = 0; d < K; d++) {
        const float f = sl_fm_expf(Ge[d]);
        for (int e = 0; e < V; e++) S[(size_t)d * V + e] *= f;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, V, c, 1.0f, Ke, K, w->v, w->ldv, 1.0f, S, V);
}

int sl_linattn_chunk_forward(float *o, const sl_linattn_args *a, int C)
{
    int rc = check(a, "linattn");
    if (rc) return rc;
    if (C < 1) return sl_error(SL_EINVAL, "linattn: chunk size must be >= 1, not %d", C);
    const int T = a->T, H = a->H, K = a->K, V = a->V;
    if (C > T) C = T;
    const size_t per = 3 * (size_t)C * K + (size_t)C * C + (size_t)K * V;
    int fail = 0;
    #pragma omp parallel if ((double)a->B * H * T * K * V >= 65536.0)
    {
        float *ws = malloc(per * sizeof(float));
        if (!ws) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (long bh = 0; bh < (long)a->B * H; bh++) {
            if (!ws) continue;
            const int b = (int)(bh / H), h = (int)(bh % H);
            float *Gl = ws, *Qe = Gl + (size_t)C * K, *Ke = Qe + (size_t)C * K, *A = Ke + (size_t)C * K, *S = A + (size_t)C * C;
            memset(S, 0, (size_t)K * V * sizeof(float));
            for (int t0 = 0; t0 < T; t0 += C) {
                const int c = T - t0 < C ? T - t0 : C;
                chunk_view w = view(a, b, h, t0, c);
                float *oc = o + (((size_t)b * T + t0) * H + h) * V;
                cumgates(Gl, &w);
                decayed_qk(Qe, Ke, &w, Gl, a->scale);
                /* from the state entering the chunk, then from the chunk itself */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, V, K, 1.0f, Qe, K, S, V, 0.0f, oc, w.ldv);
                scores(A, C, &w, Gl, a->scale);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, V, c, 1.0f, A, C, w.v, w.ldv, 1.0f, oc, w.ldv);
                state_update(S, &w, Gl, Ke);
            }
        }
        free(ws);
    }
    return fail ? sl_error(SL_ENOMEM, "linattn: out of memory") : SL_OK;
}

int sl_linattn_chunk_backward(float *dq, float *dk, float *dv, float *dg, const float *dO, const sl_linattn_args *a, int C)
{
    int rc = check(a, "linattn");
    if (rc) return rc;
    if (C < 1) return sl_error(SL_EINVAL, "linattn: chunk size must be >= 1, not %d", C);
    if (a->g && !dg) return sl_error(SL_EINVAL, "linattn: per-channel gates need dg");
    const int T = a->T, H = a->H, K = a->K, V = a->V;
    if (C > T) C = T;
    const int NC = (T + C - 1) / C;
    const size_t per = 4 * (size_t)C * K + 2 * (size_t)C * C + ((size_t)NC + 1) * K * V;
    int fail = 0;
    #pragma omp parallel if ((double)a->B * H * T * K * V >= 65536.0)
    {
        float *ws = malloc(per * sizeof(float));
        if (!ws) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (long bh = 0; bh < (long)a->B * H; bh++) {
            if (!ws) continue;
            const int b = (int)(bh / H), h = (int)(bh % H);
            float *Gl = ws, *Qe = Gl + (size_t)C * K, *Ke = Qe + (size_t)C * K, *dX = Ke + (size_t)C * K;
            float *A = dX + (size_t)C * K, *dA = A + (size_t)C * C, *dS = dA + (size_t)C * C, *Sc = dS + (size_t)K * V;
            /* 1: the state entering every chunk */
            memset(Sc, 0, (size_t)K * V * sizeof(float));
            for (int ci = 0; ci + 1 < NC; ci++) {
                chunk_view w = view(a, b, h, ci * C, C);
                float *S = Sc + (size_t)(ci + 1) * K * V;
                memcpy(S, S - (size_t)K * V, (size_t)K * V * sizeof(float));
                cumgates(Gl, &w);
                decayed_qk(NULL, Ke, &w, Gl, a->scale);
                state_update(S, &w, Gl, Ke);
            }
            /* 2: backwards over the chunks; dS = dL/d(state leaving the chunk) */
            memset(dS, 0, (size_t)K * V * sizeof(float));
            for (int ci = NC - 1; ci >= 0; ci--) {
                const int t0 = ci * C, c = T - t0 < C ? T - t0 : C;
                chunk_view w = view(a, b, h, t0, c);
                const size_t r0 = ((size_t)b * T + t0) * H + h;
                const float *S = Sc + (size_t)ci * K * V, *dOc = dO + r0 * V;
                float *dqc = dq + r0 * K, *dkc = dk + r0 * K, *dvc = dv + r0 * V;
                const float *Ge;
                cumgates(Gl, &w);
                Ge = Gl + (size_t)(c - 1) * K;
                decayed_qk(Qe, Ke, &w, Gl, a->scale);
                /* o += Qe S: dq = scale exp(Gl) (.) (dO S^T) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, K, V, 1.0f, dOc, w.ldv, S, V, 0.0f, dX, K);
                for (int j = 0; j < c; j++)
                    for (int d = 0; d < K; d++)
                        dqc[(size_t)j * w.ldk + d] = a->scale * sl_fm_expf(Gl[(size_t)j * K + d]) * dX[(size_t)j * K + d];
                /* S_out = diag(exp(Gend)) S + Ke^T V: dk = exp(Gend - Gl) (.) (V dS^T), dv = Ke dS */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, K, V, 1.0f, w.v, w.ldv, dS, V, 0.0f, dX, K);
                for (int j = 0; j < c; j++)
                    for (int d = 0; d < K; d++)
                        dkc[(size_t)j * w.ldk + d] = sl_fm_expf(Ge[d] - Gl[(size_t)j * K + d]) * dX[(size_t)j * K + d];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, V, K, 1.0f, Ke, K, dS, V, 0.0f, dvc, w.ldv);
                /* o += A V: dv += A^T dO; dA = dO V^T (i <= j) */
                scores(A, C, &w, Gl, a->scale);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, V, c, 1.0f, A, C, dOc, w.ldv, 1.0f, dvc, w.ldv);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, c, V, 1.0f, dOc, w.ldv, w.v, w.ldv, 0.0f, dA, C);
                if (w.g) {
                    for (int j = 0; j < c; j++) {
                        const float *qj = w.q + (size_t)j * w.ldk, *Gj = Gl + (size_t)j * K;
                        float *dqj = dqc + (size_t)j * w.ldk;
                        for (int i = 0; i <= j; i++) {
                            const float *ki = w.k + (size_t)i * w.ldk, *Gi = Gl + (size_t)i * K;
                            float *dki = dkc + (size_t)i * w.ldk;
                            const float s = a->scale * dA[(size_t)j * C + i];
                            #pragma omp simd
                            for (int d = 0; d < K; d++) {
                                const float e = s * sl_fm_expf(Gj[d] - Gi[d]);
                                dqj[d] += e * ki[d];
                                dki[d] += e * qj[d];
                            }
                        }
                    }
                } else {
                    for (int j = 0; j < c; j++)
                        for (int i = 0; i < c; i++)
                            dA[(size_t)j * C + i] =
                                i <= j ? a->scale * dA[(size_t)j * C + i] * expf(w.gh * (float)(j - i)) : 0.0f;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, K, c, 1.0f, dA, C, w.k, w.ldk, 1.0f, dqc, w.ldk);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, K, c, 1.0f, dA, C, w.q, w.ldk, 1.0f, dkc, w.ldk);
                }
                /* the state entering the chunk: dS <- diag(exp(Gend)) dS + Qe^T dO */
                for (int d = 0; d < K; d++) {
                    const float f = sl_fm_expf(Ge[d]);
                    for (int e = 0; e < V; e++) dS[(size_t)d * V + e] *= f;
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, V, c, 1.0f, Qe, K, dOc, w.ldv, 1.0f, dS, V);
            }
            /* 3: G_t = sum_{s<=t} g_s and dL/dG_t = q_t dq_t - k_t dk_t, so dg_s = sum_{t>=s} dL/dG_t */
            if (a->g) {
                for (int d = 0; d < K; d++) {
                    double acc = 0.0;
                    for (int t = T - 1; t >= 0; t--) {
                        const size_t r = (((size_t)b * T + t) * H + h) * K + d;
                        acc += (double)a->q[r] * dq[r] - (double)a->k[r] * dk[r];
                        dg[r] = (float)acc;
                    }
                }
            }
        }
        free(ws);
    }
    return fail ? sl_error(SL_ENOMEM, "linattn: out of memory") : SL_OK;
}

int sl_linattn_parallel_forward(float *o, const sl_linattn_args *a)
{
    int rc = check(a, "linattn");
    if (rc) return rc;
    if (a->g) return sl_error(SL_EINVAL, "linattn: the parallel form takes a per-head decay only");
    const int T = a->T, H = a->H, K = a->K, V = a->V;
    int fail = 0;
    #pragma omp parallel if ((double)a->B * H * T * T >= 65536.0)
    {
        float *D = malloc((size_t)T * T * sizeof(float));
        if (!D) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (long bh = 0; bh < (long)a->B * H; bh++) {
            if (!D) continue;
            const int b = (int)(bh / H), h = (int)(bh % H);
            chunk_view w = view(a, b, h, 0, T);
            /* D_ts = scale (q_t . k_s) gamma^(t-s), s <= t */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, K, a->scale, w.q, w.ldk, w.k, w.ldk, 0.0f, D, T);
            for (int t = 0; t < T; t++)
                for (int s = 0; s < T; s++)
                    D[(size_t)t * T + s] = s <= t ? D[(size_t)t * T + s] * expf(w.gh * (float)(t - s)) : 0.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, V, T, 1.0f, D, T, w.v, w.ldv, 0.0f,
                        o + (size_t)b * T * H * V + (size_t)h * V, w.ldv);
        }
        free(D);
    }
    return fail ? sl_error(SL_ENOMEM, "linattn: out of memory (the parallel form needs T^2 = %lld floats per thread)",
                           (long long)T * T)
                : SL_OK;
}

/* one step of head (b, h) at row t: S (K, V) <- diag(exp(g)) S + k^T v; o (V) = scale q S */
static void step1(float *o, float *S, const sl_linattn_args *a, int b, int h, int t)
{
    const int K = a->K, V = a->V;
    const size_t rk = (((size_t)b * a->T + t) * a->H + h) * K, rv = (((size_t)b * a->T + t) * a->H + h) * V;
    const float *q = a->q + rk, *k = a->k + rk, *v = a->v + rv;
    for (int e = 0; e < V; e++) o[e] = 0.0f;
    for (int d = 0; d < K; d++) {
        const float f = sl_fm_expf(a->g ? a->g[rk + d] : a->gh[h]), kd = k[d], qd = a->scale * q[d];
        float *Sd = S + (size_t)d * V;
        for (int e = 0; e < V; e++) {
            Sd[e] = f * Sd[e] + kd * v[e];
            o[e] += qd * Sd[e];
        }
    }
}

void sl_linattn_step(float *o, float *S, const sl_linattn_args *a)
{
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            step1(o + ((size_t)b * a->H + h) * a->V, S + ((size_t)b * a->H + h) * a->K * a->V, a, b, h, 0);
}

int sl_linattn_recurrent_forward(float *o, const sl_linattn_args *a)
{
    int rc = check(a, "linattn");
    if (rc) return rc;
    const int T = a->T, H = a->H, K = a->K, V = a->V;
    int fail = 0;
    #pragma omp parallel if ((double)a->B * H * T * K * V >= 65536.0)
    {
        float *S = malloc((size_t)K * V * sizeof(float));
        if (!S) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (long bh = 0; bh < (long)a->B * H; bh++) {
            if (!S) continue;
            const int b = (int)(bh / H), h = (int)(bh % H);
            memset(S, 0, (size_t)K * V * sizeof(float));
            for (int t = 0; t < T; t++) step1(o + (((size_t)b * T + t) * H + h) * V, S, a, b, h, t);
        }
        free(S);
    }
    return fail ? sl_error(SL_ENOMEM, "linattn: out of memory") : SL_OK;
}

void sl_linattn_naive(double *o, const sl_linattn_args *a)
{
    const int T = a->T, H = a->H, K = a->K, V = a->V;
    double *S = malloc((size_t)K * V * sizeof *S);
    if (!S) return;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < H; h++) {
            memset(S, 0, (size_t)K * V * sizeof *S);
            for (int t = 0; t < T; t++) {
                const size_t rk = (((size_t)b * T + t) * H + h) * K, rv = (((size_t)b * T + t) * H + h) * V;
                double *ot = o + rv;
                for (int e = 0; e < V; e++) ot[e] = 0.0;
                for (int d = 0; d < K; d++) {
                    const double f = exp(a->g ? (double)a->g[rk + d] : (double)a->gh[h]);
                    for (int e = 0; e < V; e++) {
                        S[(size_t)d * V + e] = f * S[(size_t)d * V + e] + (double)a->k[rk + d] * a->v[rv + e];
                        ot[e] += (double)a->scale * a->q[rk + d] * S[(size_t)d * V + e];
                    }
                }
            }
        }
    free(S);
}
