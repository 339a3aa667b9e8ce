/* seq/attention_naive.c — the naive attention kernel: materialises the probabilities
 * P (B, Hq, T, T); the reference the flash kernel and the mixer's other paths are tested
 * against. Equations: seq/attention_kernels.h. */
#include "seq/attention_kernels.h"
#include "core/error.h"
#include "seq/model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

int sl_attn_shape_check(const sl_attn_shape *s)
{
    if (s->B <= 0 || s->Hq <= 0 || s->Hkv <= 0 || s->T <= 0 || s->Dk <= 0 || s->Dv <= 0)
        return sl_error(SL_ESHAPE, "attention: bad shape B=%d Hq=%d Hkv=%d T=%d Dk=%d Dv=%d", s->B, s->Hq, s->Hkv, s->T, s->Dk,
                        s->Dv);
    if (s->Hq % s->Hkv)
        return sl_error(SL_ESHAPE, "attention: %d query heads cannot be grouped over %d key/value heads", s->Hq, s->Hkv);
    return SL_OK;
}

/* ---- naive kernel ----------------------------------------------------------------------- */

void sl_attn_naive_forward(float *out, float *att, const float *q, const float *k, const float *v, const float *dmask,
                           const sl_attn_shape *s)
{
    const int B = s->B, Hq = s->Hq, G = s->Hq / s->Hkv, T = s->T, Dk = s->Dk, Dv = s->Dv;
    const size_t TT = (size_t)T * T;
    #pragma omp parallel
    {
        float *tmp = dmask ? malloc(TT * sizeof(float)) : NULL;
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * Hq; bh++) {
            int b = bh / Hq, h = bh % Hq, hk = b * s->Hkv + h / G;
            const float *Q = q + (size_t)bh * T * Dk; // (T, Dk)
            const float *K = k + (size_t)hk * T * Dk; // (T, Dk)
            const float *V = v + (size_t)hk * T * Dv; // (T, Dv)
            float *A = att + (size_t)bh * TT;         // (T, T)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dk, s->scale, Q, Dk, K, Dk, 0.0f, A, T);
            const int32_t *dp = s->doc_pos ? s->doc_pos + (size_t)b * T : NULL;
            for (int i = 0; i < T; i++) {
                float *a = A + (size_t)i * T;
                /* visible keys [j0, n): causal and/or this row's document */
                int n = s->causal ? i + 1 : dp ? sl_docs_end(dp, i, T) : T, j0 = dp ? i - dp[i] : 0;
                float mx = -INFINITY;
                for (int j = j0; j < n; j++)
                    if (a[j] > mx) mx = a[j];
                double sum = 0.0;
                for (int j = j0; j < n; j++) {
                    a[j] = expf(a[j] - mx);
                    sum += a[j];
                }
                float inv = (float)(1.0 / sum);
                for (int j = j0; j < n; j++) a[j] *= inv;
                for (int j = 0; j < j0; j++) a[j] = 0.0f;
                for (int j = n; j < T; j++) a[j] = 0.0f;
            }
            const float *Ad = A;
            if (dmask) {
                const float *M = dmask + (size_t)bh * TT;
                for (size_t i = 0; i < TT; i++) tmp[i] = A[i] * M[i];
                Ad = tmp;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dv, T, 1.0f, Ad, T, V, Dv, 0.0f, out + (size_t)bh * T * Dv,
                        Dv);
        }
        free(tmp);
    }
}

void sl_attn_naive_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
                            const float *att, const float *dmask, const sl_attn_shape *s)
{
    const int B = s->B, Hq = s->Hq, Hkv = s->Hkv, G = Hq / Hkv, T = s->T, Dk = s->Dk, Dv = s->Dv;
    const size_t TT = (size_t)T * T;
    /* one task per key/value head: its G query heads all accumulate into the same dk, dv */
    #pragma omp parallel
    {
        float *dA = malloc(TT * sizeof(float));
        float *Ad = dmask ? malloc(TT * sizeof(float)) : NULL;
        #pragma omp for schedule(static)
        for (int bk = 0; bk < B * Hkv; bk++) {
            const int b = bk / Hkv, hk = bk % Hkv;
            const float *K = k + (size_t)bk * T * Dk, *V = v + (size_t)bk * T * Dv;
            float *dK = dk + (size_t)bk * T * Dk, *dV = dv + (size_t)bk * T * Dv;
            for (int g = 0; g < G; g++) {
                const size_t bh = (size_t)b * Hq + (size_t)hk * G + g;
                const float *A = att + bh * TT, *Q = q + bh * T * Dk, *dO = dout + bh * T * Dv;
                const float *M = dmask ? dmask + bh * TT : NULL;
                const float *P = A;
                if (M) {
                    for (size_t i = 0; i < TT; i++) Ad[i] = A[i] * M[i];
                    P = Ad;
                }
                // dV (T,Dv) += P^T (T,T) . dO (T,Dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dv, T, 1.0f, P, T, dO, Dv, 1.0f, dV, Dv);
                // dA (T,T) = dO . V^T
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dv, 1.0f, dO, Dv, V, Dv, 0.0f, dA, T);
                for (int i = 0; i < T; i++) {
                    const float *a = A + (size_t)i * T;
                    float *d = dA + (size_t)i * T;
                    if (M) {
                        const float *mm = M + (size_t)i * T;
                        for (int j = 0; j < T; j++) d[j] *= mm[j];
                    }
                    double dot = 0.0;
                    for (int j = 0; j < T; j++) dot += (double)a[j] * d[j];
                    for (int j = 0; j < T; j++) d[j] = a[j] * (d[j] - (float)dot); // dS (0 where masked)
                }
                // dQ (T,Dk) += scale dS . K ; dK (T,Dk) += scale dS^T . Q
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dk, T, s->scale, dA, T, K, Dk, 1.0f, dq + bh * T * Dk,
                            Dk);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dk, T, s->scale, dA, T, Q, Dk, 1.0f, dK, Dk);
            }
        }
        free(dA);
        free(Ad);
    }
}
