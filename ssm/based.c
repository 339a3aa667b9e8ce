/* ssm/based.c — Based: Taylor linear attention (chunked, and its naive reference) plus
 * sliding-window softmax attention (banded, and its naive reference). Equations: based.h.
 *
 * Backward of the linear attention, per head (den_t includes eps, a_ts = kappa(q_t, k_s)):
 *   dnum_t = dy_t / den_t,  dden_t = -(dy_t . y_t) / den_t,  g_ts = dnum_t . v_s + dden_t
 *   dv_s = sum_{t>=s} a_ts dnum_t,  dq_t = sum_s g_ts (1 + s_ts) k_s / sqrt F,
 *   dk_s = sum_t g_ts (1 + s_ts) q_t / sqrt F.
 * In chunked form the pairs inside a chunk use those sums; pairs across chunks go through
 * the features: dphi(q_t) = S dnum_t + z dden_t (a forward sweep rebuilding S, z) and
 * dphi(k_s) = R v_s + r, dv_s += R^T phi(k_s) with R = sum_{later t} phi(q_t) dnum_t^T,
 * r = sum_{later t} phi(q_t) dden_t (a reverse sweep). */
#include "ssm/based.h"
#include "core/error.h"
#include "seq/layers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the Taylor feature map ------------------------------------------------------------- */

/* o (D) = phi(x), x (F) */
static void phi_fwd(float *o, const float *x, int F)
{
    const float c1 = 1.0f / sqrtf(sqrtf((float)F)), c2 = 1.0f / sqrtf(2.0f * F);
    o[0] = 1.0f;
    for (int i = 0; i < F; i++) o[1 + i] = x[i] * c1;
    for (int i = 0; i < F; i++)
        for (int j = 0; j < F; j++) o[1 + F + i * F + j] = x[i] * x[j] * c2;
}

/* dx (F) += J_phi(x)^T dphi */
static void phi_bwd(float *dx, const float *dphi, const float *x, int F)
{
    const float c1 = 1.0f / sqrtf(sqrtf((float)F)), c2 = 1.0f / sqrtf(2.0f * F);
    const float *d2 = dphi + 1 + F; // (F, F)
    for (int i = 0; i < F; i++) {
        float s = dphi[1 + i] * c1;
        for (int j = 0; j < F; j++) s += (d2[i * F + j] + d2[j * F + i]) * x[j] * c2;
        dx[i] += s;
    }
}

/* ---- linear attention: chunked ---------------------------------------------------------- */

typedef struct {
    float *qc, *kc, *vc;  // (L, F) (L, F) (L, Dv): one chunk, contiguous
    float *pq, *pk;       // (L, D) features of the chunk's queries and keys
    float *A, *G;         // (L, L) scores, then kernel values / pair gradients
    float *num, *dn, *dd; // (L, Dv) (L, Dv) (L)
    float *dq, *dk, *dv;  // (L, F) (L, F) (L, Dv) chunk gradients
    float *dp;            // (L, D)
    float *S, *z;         // (D, Dv) (D) running state (forward) / R, r (reverse)
} la_ws;

static la_ws *la_ws_new(int L, int F, int Dv)
{
    const size_t D = 1 + (size_t)F + (size_t)F * F;
    la_ws *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    float **p[] = {&w->qc, &w->kc, &w->vc, &w->pq, &w->pk, &w->A,  &w->G, &w->num,
                   &w->dn, &w->dd, &w->dq, &w->dk, &w->dv, &w->dp, &w->S, &w->z};
    size_t n[] = {(size_t)L * F,  (size_t)L * F,  (size_t)L * Dv, L * D,     L * D,         (size_t)L * L,
                  (size_t)L * L,  (size_t)L * Dv, (size_t)L * Dv, (size_t)L, (size_t)L * F, (size_t)L * F,
                  (size_t)L * Dv, L * D,          D * Dv,         D};
    int ok = 1;
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) ok &= (*p[i] = malloc(n[i] * sizeof(float))) != NULL;
    if (!ok) {
        for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) free(*p[i]);
        free(w);
        return NULL;
    }
    return w;
}

static void la_ws_free(la_ws *w)
{
    if (!w) return;
    float *p[] = {w->qc, w->kc, w->vc, w->pq, w->pk, w->A, w->G, w->num, w->dn, w->dd, w->dq, w->dk, w->dv, w->dp, w->S, w->z};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    free(w);
}

/* copies rows t0..t0+n of head h of batch b into the chunk buffers (and their features) */
static void la_load(la_ws *w, const float *q, const float *k, const float *v, const sl_linattn_shape *s, int b, int h, int t0,
                    int n)
{
    const int H = s->H, F = s->F, Dv = s->Dv, D = 1 + F + F * F;
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)b * s->T + t0 + i;
        memcpy(w->qc + (size_t)i * F, q + (r * H + h) * F, F * sizeof(float));
        memcpy(w->kc + (size_t)i * F, k + (r * H + h) * F, F * sizeof(float));
        memcpy(w->vc + (size_t)i * Dv, v + (r * H + h) * Dv, Dv * sizeof(float));
        phi_fwd(w->pq + (size_t)i * D, w->qc + (size_t)i * F, F);
        phi_fwd(w->pk + (size_t)i * D, w->kc + (size_t)i * F, F);
    }
}

/* A (n, n): s_ts = q_t.k_s / sqrt F for the chunk's pairs */
static void la_scores(la_ws *w, int n, int F)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, F, 1.0f / sqrtf((float)F), w->qc, F, w->kc, F, 0.0f, w->A, n);
}

static int la_check(const sl_linattn_shape *s)
{
    if (s->B <= 0 || s->T <= 0 || s->H <= 0 || s->F <= 0 || s->Dv <= 0 || s->chunk <= 0)
        return sl_error(SL_ESHAPE, "based: bad linear-attention shape B=%d T=%d H=%d F=%d Dv=%d chunk=%d", s->B, s->T, s->H, s->F,
                        s->Dv, s->chunk);
    return SL_OK;
}

int sl_based_linattn_forward(float *y, float *den, const float *q, const float *k, const float *v, const sl_linattn_shape *s)
{
    int rc = la_check(s);
    if (rc) return rc;
    const int T = s->T, H = s->H, F = s->F, Dv = s->Dv, D = 1 + F + F * F, L = s->chunk < T ? s->chunk : T;
    int fail = 0;
    #pragma omp parallel
    {
        la_ws *w = la_ws_new(L, F, Dv);
        if (!w) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int bh = 0; bh < s->B * H; bh++) {
            if (!w) continue;
            const int b = bh / H, h = bh % H;
            memset(w->S, 0, (size_t)D * Dv * sizeof(float));
            memset(w->z, 0, (size_t)D * sizeof(float));
            for (int t0 = 0; t0 < T; t0 += L) {
                const int n = T - t0 < L ? T - t0 : L;
                la_load(w, q, k, v, s, b, h, t0, n);
                la_scores(w, n, F);
                /* kernel values, masked to s <= t; the denominators' intra-chunk part */
                for (int i = 0; i < n; i++) {
                    float *a = w->A + (size_t)i * n, d = 0.0f;
                    for (int j = 0; j < n; j++) {
                        float x = a[j];
                        a[j] = j <= i ? 1.0f + x + 0.5f * x * x : 0.0f;
                        d += a[j];
                    }
                    w->dd[i] = d;
                }
                /* num = A V + phi(Q) S ; den += phi(Q) z */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Dv, n, 1.0f, w->A, n, w->vc, Dv, 0.0f, w->num, Dv);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Dv, D, 1.0f, w->pq, D, w->S, Dv, 1.0f, w->num, Dv);
                for (int i = 0; i < n; i++) {
                    float d = w->dd[i] + s->eps;
                    const float *pq = w->pq + (size_t)i * D;
                    for (int e = 0; e < D; e++) d += pq[e] * w->z[e];
                    den[(size_t)bh * T + t0 + i] = d;
                    float *yo = y + (((size_t)b * T + t0 + i) * H + h) * Dv;
                    for (int e = 0; e < Dv; e++) yo[e] = w->num[(size_t)i * Dv + e] / d;
                }
                /* S += phi(K)^T V ; z += sum phi(K) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, Dv, n, 1.0f, w->pk, D, w->vc, Dv, 1.0f, w->S, Dv);
                for (int i = 0; i < n; i++)
                    for (int e = 0; e < D; e++) w->z[e] += w->pk[(size_t)i * D + e];
            }
        }
        la_ws_free(w);
    }
    return fail ? sl_error(SL_ENOMEM, "based: out of memory") : SL_OK;
}

/* dn (n, Dv) = dy / den, dd (n) = -(dy . y) / den for the chunk */
static void la_dnum(la_ws *w, const float *dy, const float *y, const float *den, const sl_linattn_shape *s, int b, int h, int t0,
                    int n)
{
    const int T = s->T, H = s->H, Dv = s->Dv;
    for (int i = 0; i < n; i++) {
        size_t r = (((size_t)b * T + t0 + i) * H + h) * Dv;
        float d = den[((size_t)b * H + h) * T + t0 + i], dot = 0.0f;
        for (int e = 0; e < Dv; e++) {
            w->dn[(size_t)i * Dv + e] = dy[r + e] / d;
            dot += dy[r + e] * y[r + e];
        }
        w->dd[i] = -dot / d;
    }
}

int sl_based_linattn_backward(float *dq, float *dk, float *dv, const float *dy, const float *y, const float *den, const float *q,
                              const float *k, const float *v, const sl_linattn_shape *s)
{
    int rc = la_check(s);
    if (rc) return rc;
    const int T = s->T, H = s->H, F = s->F, Dv = s->Dv, D = 1 + F + F * F, L = s->chunk < T ? s->chunk : T;
    const float rf = 1.0f / sqrtf((float)F);
    int fail = 0;
    #pragma omp parallel
    {
        la_ws *w = la_ws_new(L, F, Dv);
        if (!w) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(static)
        for (int bh = 0; bh < s->B * H; bh++) {
            if (!w) continue;
            const int b = bh / H, h = bh % H;
            /* forward sweep: the pairs inside each chunk, and dq through S, z of the chunks before */
            memset(w->S, 0, (size_t)D * Dv * sizeof(float));
            memset(w->z, 0, (size_t)D * sizeof(float));
            for (int t0 = 0; t0 < T; t0 += L) {
                const int n = T - t0 < L ? T - t0 : L;
                la_load(w, q, k, v, s, b, h, t0, n);
                la_dnum(w, dy, y, den, s, b, h, t0, n);
                la_scores(w, n, F);
                /* G = dn V^T + dd (pair gradients g_ts) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, Dv, 1.0f, w->dn, Dv, w->vc, Dv, 0.0f, w->G, n);
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        float x = w->A[(size_t)i * n + j], *g = &w->G[(size_t)i * n + j];
                        if (j <= i) {
                            *g = (*g + w->dd[i]) * (1.0f + x) * rf; /* d kappa / d s, times ds/d(q.k) */
                            w->A[(size_t)i * n + j] = 1.0f + x + 0.5f * x * x;
                        } else {
                            *g = 0.0f;
                            w->A[(size_t)i * n + j] = 0.0f;
                        }
                    }
                /* dq = G K ; dk = G^T Q ; dv = A^T dn (intra-chunk) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, F, n, 1.0f, w->G, n, w->kc, F, 0.0f, w->dq, F);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, F, n, 1.0f, w->G, n, w->qc, F, 0.0f, w->dk, F);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, Dv, n, 1.0f, w->A, n, w->dn, Dv, 0.0f, w->dv, Dv);
                /* dphi(Q) = dn S^T + dd z^T -> dq */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, Dv, 1.0f, w->dn, Dv, w->S, Dv, 0.0f, w->dp, D);
                for (int i = 0; i < n; i++) {
                    float *dp = w->dp + (size_t)i * D;
                    for (int e = 0; e < D; e++) dp[e] += w->dd[i] * w->z[e];
                    phi_bwd(w->dq + (size_t)i * F, dp, w->qc + (size_t)i * F, F);
                }
                for (int i = 0; i < n; i++) {
                    size_t r = (size_t)b * T + t0 + i;
                    if (dq)
                        for (int e = 0; e < F; e++) dq[(r * H + h) * F + e] += w->dq[(size_t)i * F + e];
                    if (dk)
                        for (int e = 0; e < F; e++) dk[(r * H + h) * F + e] += w->dk[(size_t)i * F + e];
                    if (dv)
                        for (int e = 0; e < Dv; e++) dv[(r * H + h) * Dv + e] += w->dv[(size_t)i * Dv + e];
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, Dv, n, 1.0f, w->pk, D, w->vc, Dv, 1.0f, w->S, Dv);
                for (int i = 0; i < n; i++)
                    for (int e = 0; e < D; e++) w->z[e] += w->pk[(size_t)i * D + e];
            }
            /* reverse sweep: dk, dv through R = sum phi(q) dn^T, r = sum phi(q) dd of the later chunks */
            float *R = w->S, *rr = w->z;
            memset(R, 0, (size_t)D * Dv * sizeof(float));
            memset(rr, 0, (size_t)D * sizeof(float));
            const int nc = (T + L - 1) / L;
            for (int c = nc - 1; c >= 0; c--) {
                const int t0 = c * L, n = T - t0 < L ? T - t0 : L;
                la_load(w, q, k, v, s, b, h, t0, n);
                la_dnum(w, dy, y, den, s, b, h, t0, n);
                if (c < nc - 1) {
                    /* dphi(K) = V R^T + r ; dv = phi(K) R */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, Dv, 1.0f, w->vc, Dv, R, Dv, 0.0f, w->dp, D);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Dv, D, 1.0f, w->pk, D, R, Dv, 0.0f, w->dv, Dv);
                    memset(w->dk, 0, (size_t)n * F * sizeof(float));
                    for (int i = 0; i < n; i++) {
                        float *dp = w->dp + (size_t)i * D;
                        for (int e = 0; e < D; e++) dp[e] += rr[e];
                        phi_bwd(w->dk + (size_t)i * F, dp, w->kc + (size_t)i * F, F);
                    }
                    for (int i = 0; i < n; i++) {
                        size_t r = (size_t)b * T + t0 + i;
                        if (dk)
                            for (int e = 0; e < F; e++) dk[(r * H + h) * F + e] += w->dk[(size_t)i * F + e];
                        if (dv)
                            for (int e = 0; e < Dv; e++) dv[(r * H + h) * Dv + e] += w->dv[(size_t)i * Dv + e];
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, Dv, n, 1.0f, w->pq, D, w->dn, Dv, 1.0f, R, Dv);
                for (int i = 0; i < n; i++)
                    for (int e = 0; e < D; e++) rr[e] += w->pq[(size_t)i * D + e] * w->dd[i];
            }
        }
        la_ws_free(w);
    }
    return fail ? sl_error(SL_ENOMEM, "based: out of memory") : SL_OK;
}

/* ---- linear attention: the naive reference ---------------------------------------------- */

static double kappa_d(const float *q, const float *k, int F, double *sv)
{
    double x = 0.0;
    for (int e = 0; e < F; e++) x += (double)q[e] * k[e];
    x /= sqrt((double)F);
    if (sv) *sv = x;
    return 1.0 + x + 0.5 * x * x;
}

void sl_based_linattn_naive_forward(float *y, float *den, const float *q, const float *k, const float *v,
                                    const sl_linattn_shape *s)
{
    const int T = s->T, H = s->H, F = s->F, Dv = s->Dv;
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s->B * H; bh++) {
        const int b = bh / H, h = bh % H;
        double *num = malloc((size_t)Dv * sizeof(double));
        for (int t = 0; t < T; t++) {
            const float *qt = q + (((size_t)b * T + t) * H + h) * F;
            double d = s->eps;
            for (int e = 0; e < Dv; e++) num[e] = 0.0;
            for (int j = 0; j <= t; j++) {
                double a = kappa_d(qt, k + (((size_t)b * T + j) * H + h) * F, F, NULL);
                const float *vj = v + (((size_t)b * T + j) * H + h) * Dv;
                for (int e = 0; e < Dv; e++) num[e] += a * vj[e];
                d += a;
            }
            if (den) den[(size_t)bh * T + t] = (float)d;
            for (int e = 0; e < Dv; e++) y[(((size_t)b * T + t) * H + h) * Dv + e] = (float)(num[e] / d);
        }
        free(num);
    }
}

void sl_based_linattn_naive_backward(float *dq, float *dk, float *dv, const float *dy, const float *q, const float *k,
                                     const float *v, const sl_linattn_shape *s)
{
    const int T = s->T, H = s->H, F = s->F, Dv = s->Dv;
    const double rf = 1.0 / sqrt((double)F);
    /* a head's positions in order (dk, dv of one position gather from every later query); heads
     * write disjoint rows, so they run in parallel */
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s->B * H; bh++) {
        const int b = bh / H, h = bh % H;
        double *num = malloc((size_t)Dv * sizeof(double));
        for (int t = 0; t < T; t++) {
            const size_t rt = ((size_t)b * T + t) * H + h;
            const float *qt = q + rt * F;
            double d = s->eps;
            for (int e = 0; e < Dv; e++) num[e] = 0.0;
            for (int j = 0; j <= t; j++) {
                double a = kappa_d(qt, k + (((size_t)b * T + j) * H + h) * F, F, NULL);
                for (int e = 0; e < Dv; e++) num[e] += a * v[(((size_t)b * T + j) * H + h) * Dv + e];
                d += a;
            }
            /* y = num / d: dnum = dy / d, dd = -(dy . num) / d^2 */
            double dd = 0.0;
            for (int e = 0; e < Dv; e++) dd -= dy[rt * Dv + e] * num[e] / (d * d);
            for (int j = 0; j <= t; j++) {
                const size_t rj = ((size_t)b * T + j) * H + h;
                double x, a = kappa_d(qt, k + rj * F, F, &x), g = dd;
                for (int e = 0; e < Dv; e++) {
                    g += dy[rt * Dv + e] / d * v[rj * Dv + e];
                    if (dv) dv[rj * Dv + e] += (float)(a * dy[rt * Dv + e] / d);
                }
                g *= (1.0 + x) * rf;
                for (int e = 0; e < F; e++) {
                    if (dq) dq[rt * F + e] += (float)(g * k[rj * F + e]);
                    if (dk) dk[rj * F + e] += (float)(g * qt[e]);
                }
            }
        }
        free(num);
    }
}

/* ---- sliding-window softmax attention --------------------------------------------------- */

/* Blocks of W queries (rows t0..t1-1) against their keys k0..t1-1 (k0 = max(0, t0 - W + 1), at most
 * 2W - 1 of them): the scores and the products are sgemm calls on row-strided views of qkv
 * (ld 3C); the band mask is applied inside the block. Sequences run in parallel; the blocks of
 * one sequence in order (neighbouring blocks share keys in backward). */
void sl_based_window_forward(float *out, float *P, const float *qkv, int B, int T, int C, int W)
{
    const float scale = 1.0f / sqrtf((float)C);
    const int ld = 3 * C, KB = 2 * W;
    #pragma omp parallel
    {
        float *S = malloc((size_t)W * KB * sizeof(float)); // (nq, nk) scores, then probabilities
        #pragma omp for schedule(static)
        for (int b = 0; b < B; b++)
            for (int t0 = 0; t0 < T; t0 += W) {
                const int t1 = t0 + W < T ? t0 + W : T, k0 = t0 - W + 1 > 0 ? t0 - W + 1 : 0, nq = t1 - t0, nk = t1 - k0;
                const float *Q = qkv + ((size_t)b * T + t0) * ld, *K = qkv + ((size_t)b * T + k0) * ld + C,
                            *V = qkv + ((size_t)b * T + k0) * ld + 2 * C;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, C, scale, Q, ld, K, ld, 0.0f, S, nk);
                for (int i = 0; i < nq; i++) {
                    const int t = t0 + i, lo = t - W + 1 - k0, hi = t - k0; // keys lo..hi of the block
                    float *s = S + (size_t)i * nk, mx = -INFINITY, sum = 0.0f;
                    for (int j = lo > 0 ? lo : 0; j <= hi; j++) mx = s[j] > mx ? s[j] : mx;
                    for (int j = 0; j < nk; j++) {
                        s[j] = j >= lo && j <= hi ? expf(s[j] - mx) : 0.0f;
                        sum += s[j];
                    }
                    float *p = P + ((size_t)b * T + t) * W; // p[j - t + W - 1] for key j
                    for (int j = 0; j < W; j++) p[j] = 0.0f;
                    for (int j = lo > 0 ? lo : 0; j <= hi; j++) p[j + k0 - t + W - 1] = s[j] /= sum;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, C, nk, 1.0f, S, nk, V, ld, 0.0f,
                            out + ((size_t)b * T + t0) * C, C);
            }
        free(S);
    }
}

/* dS = P (dP - rowsum(P dP)) scale with dP = dO V^T; dQ += dS K, dK += dS^T Q, dV += P^T dO */
void sl_based_window_backward(float *dqkv, const float *dout, const float *qkv, const float *P, int B, int T, int C, int W)
{
    const float scale = 1.0f / sqrtf((float)C);
    const int ld = 3 * C, KB = 2 * W;
    #pragma omp parallel
    {
        float *Pf = malloc((size_t)W * KB * sizeof(float)), *dS = malloc((size_t)W * KB * sizeof(float));
        #pragma omp for schedule(static)
        for (int b = 0; b < B; b++)
            for (int t0 = 0; t0 < T; t0 += W) {
                const int t1 = t0 + W < T ? t0 + W : T, k0 = t0 - W + 1 > 0 ? t0 - W + 1 : 0, nq = t1 - t0, nk = t1 - k0;
                const size_t rq = (size_t)b * T + t0, rk = (size_t)b * T + k0;
                for (int i = 0; i < nq; i++) {
                    const int t = t0 + i;
                    const float *p = P + ((size_t)b * T + t) * W;
                    for (int j = 0; j < nk; j++) {
                        const int slot = j + k0 - t + W - 1;
                        Pf[(size_t)i * nk + j] = slot >= 0 && slot < W ? p[slot] : 0.0f;
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, C, 1.0f, dout + rq * C, C, qkv + rk * ld + 2 * C, ld,
                            0.0f, dS, nk);
                for (int i = 0; i < nq; i++) {
                    float *d = dS + (size_t)i * nk, dot = 0.0f;
                    const float *pf = Pf + (size_t)i * nk;
                    for (int j = 0; j < nk; j++) dot += pf[j] * d[j];
                    for (int j = 0; j < nk; j++) d[j] = pf[j] * (d[j] - dot) * scale;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, C, nk, 1.0f, dS, nk, qkv + rk * ld + C, ld, 1.0f,
                            dqkv + rq * ld, ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, C, nq, 1.0f, dS, nk, qkv + rq * ld, ld, 1.0f,
                            dqkv + rk * ld + C, ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, C, nq, 1.0f, Pf, nk, dout + rq * C, C, 1.0f,
                            dqkv + rk * ld + 2 * C, ld);
            }
        free(Pf);
        free(dS);
    }
}

void sl_based_window_naive_forward(float *out, const float *qkv, int B, int T, int C, int W)
{
    double *s = malloc((size_t)T * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *qt = qkv + ((size_t)b * T + t) * 3 * C;
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < T; j++) {
                if (j > t || j <= t - W) {
                    s[j] = -INFINITY;
                    continue;
                }
                double x = 0.0;
                for (int e = 0; e < C; e++) x += (double)qt[e] * qkv[((size_t)b * T + j) * 3 * C + C + e];
                s[j] = x / sqrt((double)C);
                if (s[j] > mx) mx = s[j];
            }
            for (int j = 0; j < T; j++) sum += s[j] = exp(s[j] - mx);
            for (int e = 0; e < C; e++) {
                double o = 0.0;
                for (int j = 0; j < T; j++) o += s[j] / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + e];
                out[((size_t)b * T + t) * C + e] = (float)o;
            }
        }
    free(s);
}

/* ---- the mixer ---------------------------------------------------------------------------- */

typedef struct {
    sl_model base;
    sl_based_config cfg;
    int H, F, Dv, D, W;
    int i_q, i_k, i_v, i_o, i_wqkv, i_wqkvb, i_wo, i_wob;
    int B, T;
    sl_buf xin, q, k, v, y, den, qkv, o, P; /* caches */
    sl_buf gq, gk, gv, gy, gqkv, go;        /* backward scratch */
} based_model;

typedef struct {
    int B, pos;
    float *S, *z;   /* (B, H, D, Dv), (B, H, D) */
    float *kc, *vc; /* (B, W, C): keys and values of the window, ring by position % W */
    float *q, *k, *v, *y, *qkv, *o, *tmp, *p;
    int *p0;   /* (B) pos at each row's last per-row reset: its window holds positions from p0 on */
    int apart; /* some p0 is not 0 */
} based_state;

const sl_spec_key sl_based_keys[] = {
    SL_KEY_INT(sl_based_config, d_model, "d_model", "64", 1, 65536, "model width"),
    SL_KEY_INT(sl_based_config, feature_dim, "feature_dim", "16", 1, 64,
               "query/key width per head before the Taylor map (1 + F + F^2 features)"),
    SL_KEY_INT(sl_based_config, num_heads, "num_heads", "1", 1, 4096,
               "linear-attention heads; d_model / num_heads per value head"),
    SL_KEY_INT(sl_based_config, window_size, "window_size", "64", 0, 1 << 20,
               "sliding-window softmax attention over the last window_size positions (0: linear attention alone)"),
    SL_KEY_INT(sl_based_config, chunk_size, "chunk_size", "64", 1, 1 << 20, "positions per chunk of the linear attention"),
    SL_KEY_FLOAT(sl_based_config, eps, "eps", "1e-12", 0, 1, "added to the linear attention's denominator"),
    SL_KEY_CHOICE(sl_based_config, quadratic, "train_view", "linear", "linear|quadratic", NULL,
                  "linear attention in chunked form, or as the naive O(T^2) sums (the reference)"),
    SL_KEY_END,
};

void sl_based_config_default(sl_based_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_based_keys, c);
}

int sl_based_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_based_config c;
    sl_based_config_default(&c);
    int rc = sl_spec_read(s, sl_based_keys, &c);
    return rc ? rc : sl_based_create(&c, P, prefix, out);
}

static sl_linattn_shape la_shape(const based_model *bm, int B, int T)
{
    return (sl_linattn_shape){
        .B = B, .T = T, .H = bm->H, .F = bm->F, .Dv = bm->Dv, .chunk = bm->cfg.chunk_size, .eps = bm->cfg.eps};
}

static int based_forward(sl_model *m, const float *x, const int32_t *tok, float *out, int B, int T)
{
    based_model *bm = (based_model *)m;
    const sl_params *P = m->P;
    const int C = bm->cfg.d_model, HF = bm->H * bm->F, W = bm->W;
    const size_t N = (size_t)B * T;
    int rc;
    if ((rc = sl_buf_reserve(&bm->xin, N * C)) || (rc = sl_buf_reserve(&bm->q, N * HF)) ||
        (rc = sl_buf_reserve(&bm->k, N * HF)) || (rc = sl_buf_reserve(&bm->v, N * C)) || (rc = sl_buf_reserve(&bm->y, N * C)) ||
        (rc = sl_buf_reserve(&bm->den, N * bm->H)))
        return rc;
    if (W && ((rc = sl_buf_reserve(&bm->qkv, N * 3 * C)) || (rc = sl_buf_reserve(&bm->o, N * C)) ||
              (rc = sl_buf_reserve(&bm->P, N * W))))
        return rc;
    bm->B = B;
    bm->T = T;
    memcpy(bm->xin.p, x, N * C * sizeof(float));
    sl_linear_forward(bm->q.p, x, sl_params_data(P, bm->i_q), NULL, (int)N, C, HF);
    sl_linear_forward(bm->k.p, x, sl_params_data(P, bm->i_k), NULL, (int)N, C, HF);
    sl_linear_forward(bm->v.p, x, sl_params_data(P, bm->i_v), NULL, (int)N, C, C);
    sl_linattn_shape s = la_shape(bm, B, T);
    if (bm->cfg.quadratic) sl_based_linattn_naive_forward(bm->y.p, bm->den.p, bm->q.p, bm->k.p, bm->v.p, &s);
    else if ((rc = sl_based_linattn_forward(bm->y.p, bm->den.p, bm->q.p, bm->k.p, bm->v.p, &s))) return rc;
    sl_linear_forward(out, bm->y.p, sl_params_data(P, bm->i_o), NULL, (int)N, C, C);
    if (W) {
        /* out += out_proj(window attention) */
        sl_linear_forward(bm->qkv.p, x, sl_params_data(P, bm->i_wqkv), sl_params_data(P, bm->i_wqkvb), (int)N, C, 3 * C);
        sl_based_window_forward(bm->o.p, bm->P.p, bm->qkv.p, B, T, C, W);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, C, C, 1.0f, bm->o.p, C, sl_params_data(P, bm->i_wo), C, 1.0f,
                    out, C);
        const float *ob = sl_params_data(P, bm->i_wob);
        for (size_t n = 0; n < N; n++)
            for (int c = 0; c < C; c++) out[n * C + c] += ob[c];
    }
    return SL_OK;
}

static int based_backward(sl_model *m, const float *dout, float *dx)
{
    based_model *bm = (based_model *)m;
    sl_params *P = m->P;
    const int C = bm->cfg.d_model, HF = bm->H * bm->F, W = bm->W, B = bm->B, T = bm->T;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "based: backward before forward");
    int rc;
    if ((rc = sl_buf_reserve(&bm->gq, N * HF)) || (rc = sl_buf_reserve(&bm->gk, N * HF)) ||
        (rc = sl_buf_reserve(&bm->gv, N * C)) || (rc = sl_buf_reserve(&bm->gy, N * C)))
        return rc;
    memset(bm->gy.p, 0, N * C * sizeof(float));
    sl_linear_backward(bm->gy.p, sl_params_grad(P, bm->i_o), NULL, dout, bm->y.p, sl_params_data(P, bm->i_o), (int)N, C, C);
    memset(bm->gq.p, 0, N * HF * sizeof(float));
    memset(bm->gk.p, 0, N * HF * sizeof(float));
    memset(bm->gv.p, 0, N * C * sizeof(float));
    sl_linattn_shape s = la_shape(bm, B, T);
    if (bm->cfg.quadratic) sl_based_linattn_naive_backward(bm->gq.p, bm->gk.p, bm->gv.p, bm->gy.p, bm->q.p, bm->k.p, bm->v.p, &s);
    else if ((rc = sl_based_linattn_backward(bm->gq.p, bm->gk.p, bm->gv.p, bm->gy.p, bm->y.p, bm->den.p, bm->q.p, bm->k.p,
                                             bm->v.p, &s)))
        return rc;
    sl_linear_backward(dx, sl_params_grad(P, bm->i_q), NULL, bm->gq.p, bm->xin.p, sl_params_data(P, bm->i_q), (int)N, C, HF);
    sl_linear_backward(dx, sl_params_grad(P, bm->i_k), NULL, bm->gk.p, bm->xin.p, sl_params_data(P, bm->i_k), (int)N, C, HF);
    sl_linear_backward(dx, sl_params_grad(P, bm->i_v), NULL, bm->gv.p, bm->xin.p, sl_params_data(P, bm->i_v), (int)N, C, C);
    if (W) {
        if ((rc = sl_buf_reserve(&bm->gqkv, N * 3 * C)) || (rc = sl_buf_reserve(&bm->go, N * C))) return rc;
        memset(bm->go.p, 0, N * C * sizeof(float));
        sl_linear_backward(bm->go.p, sl_params_grad(P, bm->i_wo), sl_params_grad(P, bm->i_wob), dout, bm->o.p,
                           sl_params_data(P, bm->i_wo), (int)N, C, C);
        memset(bm->gqkv.p, 0, N * 3 * C * sizeof(float));
        sl_based_window_backward(bm->gqkv.p, bm->go.p, bm->qkv.p, bm->P.p, B, T, C, W);
        sl_linear_backward(dx, sl_params_grad(P, bm->i_wqkv), sl_params_grad(P, bm->i_wqkvb), bm->gqkv.p, bm->xin.p,
                           sl_params_data(P, bm->i_wqkv), (int)N, C, 3 * C);
    }
    return SL_OK;
}

static void based_state_free(sl_model *m, void *state)
{
    (void)m;
    based_state *s = state;
    if (!s) return;
    float *p[] = {s->S, s->z, s->kc, s->vc, s->q, s->k, s->v, s->y, s->qkv, s->o, s->tmp, s->p};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    free(s->p0);
    free(s);
}

static int based_state_reset(sl_model *m, void *state)
{
    based_model *bm = (based_model *)m;
    based_state *s = state;
    const size_t b = (size_t)s->B, C = bm->cfg.d_model;
    memset(s->S, 0, b * bm->H * bm->D * bm->Dv * sizeof(float));
    memset(s->z, 0, b * bm->H * bm->D * sizeof(float));
    if (bm->W) {
        memset(s->kc, 0, b * bm->W * C * sizeof(float));
        memset(s->vc, 0, b * bm->W * C * sizeof(float));
    }
    memset(s->p0, 0, b * sizeof *s->p0);
    s->apart = 0;
    s->pos = 0;
    return SL_OK;
}

/* seq/model.h's state_reset_rows: the chosen rows' linear-attention state to zero and their
 * sliding window emptied (it holds their positions from the next one on) */
static int based_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    based_model *bm = (based_model *)m;
    based_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    const size_t nS = (size_t)bm->H * bm->D * bm->Dv, nz = (size_t)bm->H * bm->D;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->S + b * nS, 0, nS * sizeof(float));
            memset(s->z + b * nz, 0, nz * sizeof(float));
            s->p0[b] = s->pos;
        }
    s->apart = 0;
    for (int b = 0; b < B; b++) s->apart |= s->p0[b] != 0;
    return SL_OK;
}

static void *based_state_new(sl_model *m, int B)
{
    based_model *bm = (based_model *)m;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "based: bad batch size %d", B);
        return NULL;
    }
    based_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B, C = bm->cfg.d_model, HF = (size_t)bm->H * bm->F, W = bm->W ? bm->W : 1;
    s->B = B;
    s->S = malloc(b * bm->H * bm->D * bm->Dv * sizeof(float));
    s->z = malloc(b * bm->H * bm->D * sizeof(float));
    s->kc = malloc(b * W * C * sizeof(float));
    s->vc = malloc(b * W * C * sizeof(float));
    s->q = malloc(b * HF * sizeof(float));
    s->k = malloc(b * HF * sizeof(float));
    s->v = malloc(b * C * sizeof(float));
    s->y = malloc(b * C * sizeof(float));
    s->qkv = malloc(b * 3 * C * sizeof(float));
    s->o = malloc(b * C * sizeof(float));
    s->tmp = malloc(2 * (size_t)bm->D * sizeof(float));
    s->p = malloc(W * sizeof(float));
    s->p0 = calloc(b, sizeof *s->p0);
    if (!s->S || !s->z || !s->kc || !s->vc || !s->q || !s->k || !s->v || !s->y || !s->qkv || !s->o || !s->tmp || !s->p ||
        !s->p0) {
        based_state_free(m, s);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    based_state_reset(m, s);
    return s;
}

/* one position: S += phi(k) v^T, z += phi(k), y = phi(q)^T S / (phi(q).z + eps); the window
 * keeps keys and values at slot pos % W */
static int based_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *out)
{
    based_model *bm = (based_model *)m;
    based_state *s = state;
    const sl_params *P = m->P;
    const int B = s->B, C = bm->cfg.d_model, H = bm->H, F = bm->F, Dv = bm->Dv, D = bm->D, W = bm->W, HF = H * F;
    if (!x) return sl_error(SL_EINVAL, "based takes real input");
    sl_linear_forward(s->q, x, sl_params_data(P, bm->i_q), NULL, B, C, HF);
    sl_linear_forward(s->k, x, sl_params_data(P, bm->i_k), NULL, B, C, HF);
    sl_linear_forward(s->v, x, sl_params_data(P, bm->i_v), NULL, B, C, C);
    float *pq = s->tmp, *pk = s->tmp + D;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *S = s->S + ((size_t)b * H + h) * D * Dv, *z = s->z + ((size_t)b * H + h) * D;
            const float *v = s->v + (size_t)b * C + (size_t)h * Dv;
            phi_fwd(pq, s->q + (size_t)b * HF + (size_t)h * F, F);
            phi_fwd(pk, s->k + (size_t)b * HF + (size_t)h * F, F);
            for (int e = 0; e < D; e++) {
                z[e] += pk[e];
                for (int d = 0; d < Dv; d++) S[(size_t)e * Dv + d] += pk[e] * v[d];
            }
            float den = bm->cfg.eps, *y = s->y + (size_t)b * C + (size_t)h * Dv;
            for (int e = 0; e < D; e++) den += pq[e] * z[e];
            for (int d = 0; d < Dv; d++) y[d] = 0.0f;
            for (int e = 0; e < D; e++)
                for (int d = 0; d < Dv; d++) y[d] += pq[e] * S[(size_t)e * Dv + d];
            for (int d = 0; d < Dv; d++) y[d] /= den;
        }
    sl_linear_forward(out, s->y, sl_params_data(P, bm->i_o), NULL, B, C, C);
    if (W) {
        sl_linear_forward(s->qkv, x, sl_params_data(P, bm->i_wqkv), sl_params_data(P, bm->i_wqkvb), B, C, 3 * C);
        const int slot = s->pos % W;
        const float scale = 1.0f / sqrtf((float)C);
        for (int b = 0; b < B; b++) {
            /* the row's window: its last n positions (since its start p0); slot i of the ring
             * holds a position of the window for i < n, or, restarted apart, the n slots that
             * end at this position */
            const int since = s->pos - s->p0[b] + 1, n = since < W ? since : W;
#define WSLOT(i) (s->apart ? ((s->pos - n + 1 + (i)) % W) : (i))
            float *kc = s->kc + (size_t)b * W * C, *vc = s->vc + (size_t)b * W * C, *qkv = s->qkv + (size_t)b * 3 * C;
            memcpy(kc + (size_t)slot * C, qkv + C, C * sizeof(float));
            memcpy(vc + (size_t)slot * C, qkv + 2 * C, C * sizeof(float));
            float mx = -INFINITY, sum = 0.0f;
            for (int i = 0; i < n; i++) {
                float d = 0.0f;
                for (int e = 0; e < C; e++) d += qkv[e] * kc[(size_t)WSLOT(i) * C + e];
                s->p[i] = d * scale;
                if (s->p[i] > mx) mx = s->p[i];
            }
            for (int i = 0; i < n; i++) sum += s->p[i] = expf(s->p[i] - mx);
            float *o = s->o + (size_t)b * C;
            for (int e = 0; e < C; e++) o[e] = 0.0f;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < C; e++) o[e] += s->p[i] / sum * vc[(size_t)WSLOT(i) * C + e];
#undef WSLOT
        }
        const float *ob = sl_params_data(P, bm->i_wob);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, C, C, 1.0f, s->o, C, sl_params_data(P, bm->i_wo), C, 1.0f, out,
                    C);
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) out[(size_t)b * C + c] += ob[c];
    }
    s->pos++;
    return SL_OK;
}

/* nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for every tensor */
static int based_init(sl_model *m, sl_rng *rng)
{
    based_model *bm = (based_model *)m;
    sl_params *P = m->P;
    const int C = bm->cfg.d_model;
    const float a = 1.0f / sqrtf((float)C);
    int idx[] = {bm->i_q, bm->i_k, bm->i_v, bm->i_o, bm->i_wqkv, bm->i_wqkvb, bm->i_wo, bm->i_wob};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, idx[i]), P->t[idx[i]].numel, -a, a);
    return SL_OK;
}

static void based_destroy(sl_model *m)
{
    based_model *bm = (based_model *)m;
    sl_buf *bufs[] = {&bm->xin, &bm->q,  &bm->k,  &bm->v,  &bm->y,  &bm->den,  &bm->qkv, &bm->o,
                      &bm->P,   &bm->gq, &bm->gk, &bm->gv, &bm->gy, &bm->gqkv, &bm->go};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) sl_buf_free(bufs[i]);
    free(bm);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int based_state_copy(sl_model *base_, void *dst, const void *src)
{
    based_model *bm = (based_model *)base_;
    based_state *d = dst;
    const based_state *s = src;
    const size_t b = (size_t)s->B, C = (size_t)bm->cfg.d_model, W = (size_t)bm->W;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "based: state copy: %d rows into %d", s->B, d->B);
    memcpy(d->S, s->S, b * bm->H * bm->D * bm->Dv * sizeof(float));
    memcpy(d->z, s->z, b * bm->H * bm->D * sizeof(float));
    memcpy(d->kc, s->kc, b * W * C * sizeof(float));
    memcpy(d->vc, s->vc, b * W * C * sizeof(float));
    memcpy(d->p0, s->p0, b * sizeof *s->p0);
    d->apart = s->apart;
    d->pos = s->pos;
    return SL_OK;
}

static const sl_model_vt based_vt = {
    .kind = "based",
    .destroy = based_destroy,
    .init = based_init,
    .forward = based_forward,
    .backward = based_backward,
    .state_new = based_state_new,
    .state_free = based_state_free,
    .state_reset = based_state_reset,
    .state_reset_rows = based_state_reset_rows,
    .state_copy = based_state_copy,
    .step = based_step,
};

int sl_based_create(const sl_based_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_based_config c = *cfg;
    if (c.d_model <= 0 || c.feature_dim <= 0 || c.num_heads <= 0 || c.chunk_size <= 0 || c.window_size < 0)
        return sl_error(SL_EINVAL, "based: d_model, feature_dim, num_heads, chunk_size must be positive and window_size >= 0");
    if (c.d_model % c.num_heads)
        return sl_error(SL_EINVAL, "based: d_model=%d is not a multiple of num_heads=%d", c.d_model, c.num_heads);
    if (!(c.eps >= 0)) return sl_error(SL_EINVAL, "based: eps must be >= 0");
    based_model *bm = calloc(1, sizeof *bm);
    if (!bm) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &bm->base;
    m->vt = &based_vt;
    m->P = P;
    m->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    m->d_in = m->d_out = c.d_model;
    bm->cfg = c;
    bm->H = c.num_heads;
    bm->F = c.feature_dim;
    bm->Dv = c.d_model / c.num_heads;
    bm->W = c.window_size;
    bm->D = 1 + c.feature_dim + c.feature_dim * c.feature_dim;
    const char *pre = prefix ? prefix : "";
    const int C = c.d_model, HF = c.num_heads * c.feature_dim;
    bm->i_wqkv = bm->i_wqkvb = bm->i_wo = bm->i_wob = -1;
    bm->i_q = sl_params_add(P, pre, "proj_q.weight", 2, HF, C, 0, 0);
    bm->i_k = sl_params_add(P, pre, "proj_k.weight", 2, HF, C, 0, 0);
    bm->i_v = sl_params_add(P, pre, "proj_v.weight", 2, C, C, 0, 0);
    bm->i_o = sl_params_add(P, pre, "proj_o.weight", 2, C, C, 0, 0);
    if (c.window_size) {
        bm->i_wqkv = sl_params_add(P, pre, "window_attn.Wqkv.weight", 2, 3 * C, C, 0, 0);
        bm->i_wqkvb = sl_params_add(P, pre, "window_attn.Wqkv.bias", 1, 3 * C, 0, 0, 0);
        bm->i_wo = sl_params_add(P, pre, "window_attn.out_proj.weight", 2, C, C, 0, 0);
        bm->i_wob = sl_params_add(P, pre, "window_attn.out_proj.bias", 1, C, 0, 0, 0);
    }
    int idx[] = {bm->i_q,
                 bm->i_k,
                 bm->i_v,
                 bm->i_o,
                 c.window_size ? bm->i_wqkv : 0,
                 c.window_size ? bm->i_wqkvb : 0,
                 c.window_size ? bm->i_wo : 0,
                 c.window_size ? bm->i_wob : 0};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            based_destroy(m);
            return idx[i];
        }
    *out = m;
    return SL_OK;
}
