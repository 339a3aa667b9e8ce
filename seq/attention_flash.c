/* seq/attention_flash.c — the flash attention kernel (FlashAttention, Dao et al. 2022, on
 * the CPU): tiles, online softmax, recomputation in backward. Equations and parallel
 * schedule: seq/attention_kernels.h. Checked against seq/attention_naive.c (t/t-attention). */
#include "seq/attention_kernels.h"
#include "core/error.h"
#include "core/fastmath.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The row kernels are SL_CLONES (core/fastmath.h): AVX-512 and baseline variants. The score
 * rows' e^x is sl_fm_expf_flush (core/fastmath.h): vectorisable, exactly 0 for masked -inf
 * scores. SL_FASTMATH lets GCC turn the clamps into min/max so the loops vectorise; the values
 * handled are finite or -inf, for which that is exact. */

/* row[j] = e^(row[j] - m), returns the sum */
SL_CLONES SL_FASTMATH static float row_exp(float *row, int n, float m)
{
    float sum = 0.0f;
    #pragma omp simd reduction(+:sum)
    for (int j = 0; j < n; j++) {
        float p = sl_fm_expf_flush(row[j] - m);
        row[j] = p;
        sum += p;
    }
    return sum;
}

/* max(m, row[0..n)) */
SL_CLONES static float row_max(const float *row, int n, float m)
{
    #pragma omp simd reduction(max:m)
    for (int j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
    return m;
}

/* o[d] = a[d] * s */
SL_CLONES static void row_scale(float *o, const float *a, int n, float s)
{
    #pragma omp simd
    for (int d = 0; d < n; d++) o[d] = a[d] * s;
}

/* p = e^(s - lse); ds = p (dp - D) */
SL_CLONES SL_FASTMATH static void row_grad(float *srow, float *drow, int n, float lse, float D)
{
    #pragma omp simd
    for (int j = 0; j < n; j++) {
        float p = sl_fm_expf_flush(srow[j] - lse);
        srow[j] = p;
        drow[j] = p * (drow[j] - D);
    }
}

#define BR 64 /* query rows per tile */
#define BC 64 /* key columns per tile */

/* ---- flash kernel ----------------------------------------------------------------------- */

static sl_attn_lay lay_heads(int H, int T, int D)
{
    return (sl_attn_lay){.bs = (size_t)H * T * D, .hs = (size_t)T * D, .rs = (size_t)D};
}

static inline size_t lay_off(sl_attn_lay l, int b, int h, int t)
{
    return (size_t)b * l.bs + (size_t)h * l.hs + (size_t)t * l.rs;
}

/* A tile: query rows [q0, q0 + br) against key rows [k0, k0 + bc) of one batch row, whose
 * packed-row positions are dp (its doc_pos row, or NULL). */
typedef struct {
    int q0, br, k0, bc;
    const int32_t *dp;
} flash_tile;

/* S (br, bc) = scale Q K^T for tile t (Q rows ldq apart, K rows ldk apart), with causal
 * masking to -inf. Rows i (absolute q0+i) may see keys j (absolute k0+j) <= q0+i, and with
 * packed rows only keys j >= q0+i - dp[q0+i]. */
static void tile_scores(float *S, const float *Q, int ldq, const float *K, int ldk, flash_tile t, const sl_attn_shape *s)
{
    const int br = t.br, bc = t.bc, q0 = t.q0, k0 = t.k0;
    const int32_t *dp = t.dp;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, br, bc, s->Dk, s->scale, Q, ldq, K, ldk, 0.0f, S, BC);
    if (s->causal && k0 + bc - 1 > q0) {
        for (int i = 0; i < br; i++) {
            int jmax = q0 + i - k0; /* last visible column */
            for (int j = jmax + 1 < 0 ? 0 : jmax + 1; j < bc; j++) S[(size_t)i * BC + j] = -INFINITY;
        }
    }
    if (dp && q0 + br - 1 - dp[q0 + br - 1] > k0) { /* some row's document starts inside or after the tile */
        for (int i = 0; i < br; i++) {
            int j0 = q0 + i - dp[q0 + i] - k0; /* first visible column */
            for (int j = 0; j < (j0 < bc ? j0 : bc); j++) S[(size_t)i * BC + j] = -INFINITY;
        }
    }
}

/* packed rows: the first key tile a query tile starting at q0 can see (its first row's
 * document start; document starts do not decrease along a row) */
static int doc_ktile(const int32_t *dp, int q0) { return dp ? (q0 - dp[q0]) / BC : 0; }
/* packed rows: 1 if no row of the query tile [q0, q0+br) sees a key before k1 (exclusive end of
 * a key tile), so that tile and every later query tile are fully masked for it */
static int doc_past(const int32_t *dp, int q0, int k1) { return dp && q0 - dp[q0] >= k1; }

int sl_attn_flash_forward_lay(float *out, sl_attn_lay lo, float *lse, const sl_attn_qkv *in, const sl_attn_shape *s)
{
    const float *q = in->q, *k = in->k, *v = in->v;
    const sl_attn_lay lq = in->lq, lk = in->lk, lv = in->lv;
    int rc = sl_attn_shape_check(s);
    if (rc) return rc;
    if (s->doc_pos && !s->causal) return sl_error(SL_EUNSUPPORTED, "attention: the flash kernel takes causal packed rows only");
    const int B = s->B, Hq = s->Hq, G = s->Hq / s->Hkv, T = s->T, Dv = s->Dv;
    const int nq = (T + BR - 1) / BR, nk = (T + BC - 1) / BC;
    int fail = 0;
    #pragma omp parallel
    {
        float *S = malloc((size_t)BR * BC * sizeof(float));
        float *acc = malloc((size_t)BR * Dv * sizeof(float));
        float mrow[BR], lrow[BR];
        if (!S || !acc) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < (long)B * Hq * nq; task++) {
            if (!S || !acc) continue;
            const int bh = (int)(task / nq), qt = (int)(task % nq);
            const int b = bh / Hq, h = bh % Hq, hk = h / G;
            const int q0 = qt * BR, br = T - q0 < BR ? T - q0 : BR;
            const float *Q = q + lay_off(lq, b, h, q0);
            const float *K = k + lay_off(lk, b, hk, 0), *V = v + lay_off(lv, b, hk, 0);
            const int32_t *dp = s->doc_pos ? s->doc_pos + (size_t)b * T : NULL;
            for (int i = 0; i < br; i++) {
                mrow[i] = -INFINITY;
                lrow[i] = 0.0f;
            }
            memset(acc, 0, (size_t)br * Dv * sizeof(float));
            int kend = s->causal ? (q0 + br - 1) / BC + 1 : nk;
            for (int kt = doc_ktile(dp, q0); kt < kend; kt++) {
                const int k0 = kt * BC, bc = T - k0 < BC ? T - k0 : BC;
                tile_scores(S, Q, (int)lq.rs, K + (size_t)k0 * lk.rs, (int)lk.rs, (flash_tile){q0, br, k0, bc, dp}, s);
                for (int i = 0; i < br; i++) {
                    float *srow = S + (size_t)i * BC;
                    const float mx = row_max(srow, bc, mrow[i]);
                    /* mx is finite: the first visible key of every row lies in its first tile;
                     * with packed rows a row's document may start in a later tile */
                    if (dp && mx == -INFINITY) {
                        memset(srow, 0, (size_t)bc * sizeof(float));
                        continue;
                    }
                    float corr = expf(mrow[i] - mx), sum = row_exp(srow, bc, mx);
                    lrow[i] = lrow[i] * corr + sum;
                    mrow[i] = mx;
                    if (corr != 1.0f) {
                        float *a = acc + (size_t)i * Dv;
                        row_scale(a, a, Dv, corr);
                    }
                }
                // acc (br,Dv) += P (br,bc) . V_tile (bc,Dv)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, br, Dv, bc, 1.0f, S, BC, V + (size_t)k0 * lv.rs,
                            (int)lv.rs, 1.0f, acc, Dv);
            }
            float *O = out + lay_off(lo, b, h, q0);
            float *L = lse + (size_t)bh * T + q0;
            for (int i = 0; i < br; i++) {
                row_scale(O + (size_t)i * lo.rs, acc + (size_t)i * Dv, Dv, 1.0f / lrow[i]);
                L[i] = mrow[i] + logf(lrow[i]);
            }
        }
        free(S);
        free(acc);
    }
    return fail ? sl_error(SL_ENOMEM, "attention: out of memory for tiles") : SL_OK;
}

int sl_attn_flash_forward(float *out, float *lse, const float *q, const float *k, const float *v, const sl_attn_shape *s)
{
    const sl_attn_qkv in = {(float *)q,
                            (float *)k,
                            (float *)v,
                            lay_heads(s->Hq, s->T, s->Dk),
                            lay_heads(s->Hkv, s->T, s->Dk),
                            lay_heads(s->Hkv, s->T, s->Dv)}; /* read only */
    return sl_attn_flash_forward_lay(out, lay_heads(s->Hq, s->T, s->Dv), lse, &in, s);
}

/* Backward's operands for one tile: its query rows of q and dout, its key rows of k and v
 * (each with its row stride), and its query rows' lse and D = rowsum(dO * O) entries. */
typedef struct {
    const float *q, *k, *v, *dout, *lse, *D;
    int ldq, ldk, ldv, ldo;
} flash_rows;

/* P = exp(S - lse) and dS = P * (dO V^T - D) for tile t; S and dP are (br, BC) buffers. */
static void tile_grad(float *S, float *dP, const flash_rows *r, flash_tile t, const sl_attn_shape *s)
{
    tile_scores(S, r->q, r->ldq, r->k, r->ldk, t, s);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t.br, t.bc, s->Dv, 1.0f, r->dout, r->ldo, r->v, r->ldv, 0.0f, dP, BC);
    for (int i = 0; i < t.br; i++) {
        float *srow = S + (size_t)i * BC, *drow = dP + (size_t)i * BC;
        row_grad(srow, drow, t.bc, r->lse[i], r->D[i]);
    }
}

/* dq, dk, dv have the layouts of q, k, v; dout that of out */
static int lay_eq(sl_attn_lay a, sl_attn_lay b) { return a.bs == b.bs && a.hs == b.hs && a.rs == b.rs; }

int sl_attn_flash_backward_lay(const sl_attn_qkv *d, const float *dout, const sl_attn_qkv *in, const float *out, sl_attn_lay lo,
                               const float *lse, const sl_attn_shape *s)
{
    if (!lay_eq(d->lq, in->lq) || !lay_eq(d->lk, in->lk) || !lay_eq(d->lv, in->lv))
        return sl_error(SL_EINVAL, "attention: the gradients' layouts differ from those of q, k, v");
    float *dq = d->q, *dk = d->k, *dv = d->v;
    const float *q = in->q, *k = in->k, *v = in->v;
    const sl_attn_lay lq = in->lq, lk = in->lk, lv = in->lv;
    int rc = sl_attn_shape_check(s);
    if (rc) return rc;
    if (s->doc_pos && !s->causal) return sl_error(SL_EUNSUPPORTED, "attention: the flash kernel takes causal packed rows only");
    const int B = s->B, Hq = s->Hq, Hkv = s->Hkv, G = Hq / Hkv, T = s->T, Dk = s->Dk, Dv = s->Dv;
    const int nq = (T + BR - 1) / BR, nk = (T + BC - 1) / BC;
    float *Dd = malloc((size_t)B * Hq * T * sizeof(float)); // (B,Hq,T) rowsum(dO * O)
    if (!Dd) return sl_error(SL_ENOMEM, "attention: out of memory");
    #pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)B * Hq * T; r++) {
        const int b = (int)(r / ((long)Hq * T)), h = (int)((r / T) % Hq), t = (int)(r % T);
        const float *a = dout + lay_off(lo, b, h, t), *o = out + lay_off(lo, b, h, t);
        float acc = 0.0f;
        for (int d = 0; d < Dv; d++) acc += a[d] * o[d];
        Dd[r] = acc;
    }
    int fail = 0;
    /* enough key/value heads to keep the threads busy: a single fused pass (scores computed
     * once); otherwise two passes parallel over tiles (scores computed twice). The choice
     * depends on the shape only, so results do not depend on the thread count. */
    const int fused = B * Hkv >= 16;
    const int ldq = (int)lq.rs, ldk = (int)lk.rs, ldv = (int)lv.rs, ldo = (int)lo.rs;
    #pragma omp parallel
    {
        float *S = malloc((size_t)BR * BC * sizeof(float)), *dP = malloc((size_t)BR * BC * sizeof(float));
        if (!S || !dP) {
            #pragma omp atomic write
            fail = 1;
        }
        if (fused) {
            /* one pass, one task per key/value head: every output it writes (dk, dv of the
             * head, dq of the query heads of its group) belongs to it alone */
            #pragma omp for schedule(dynamic, 1)
            for (long bk = 0; bk < (long)B * Hkv; bk++) {
                if (!S || !dP) continue;
                const int b = (int)(bk / Hkv), hk = (int)(bk % Hkv);
                const int32_t *dp = s->doc_pos ? s->doc_pos + (size_t)b * T : NULL;
                for (int kt = 0; kt < nk; kt++) {
                    const int k0 = kt * BC, bc = T - k0 < BC ? T - k0 : BC;
                    const size_t ko = lay_off(lk, b, hk, k0), vo = lay_off(lv, b, hk, k0);
                    for (int g = 0; g < G; g++) {
                        const int h = hk * G + g;
                        const size_t bh = (size_t)b * Hq + h;
                        for (int qt = s->causal ? k0 / BR : 0; qt < nq; qt++) {
                            const int q0 = qt * BR, br = T - q0 < BR ? T - q0 : BR;
                            if (doc_past(dp, q0, k0 + bc)) break;
                            const size_t qo = lay_off(lq, b, h, q0), oo = lay_off(lo, b, h, q0), lo_ = bh * T + q0;
                            const flash_rows r = {q + qo, k + ko, v + vo, dout + oo, lse + lo_, Dd + lo_, ldq, ldk, ldv, ldo};
                            tile_grad(S, dP, &r, (flash_tile){q0, br, k0, bc, dp}, s);
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bc, Dv, br, 1.0f, S, BC, dout + oo, ldo, 1.0f,
                                        dv + vo, ldv);
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bc, Dk, br, s->scale, dP, BC, q + qo, ldq, 1.0f,
                                        dk + ko, ldk);
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, br, Dk, bc, s->scale, dP, BC, k + ko, ldk,
                                        1.0f, dq + qo, ldq);
                        }
                    }
                }
            }
        } else {
            /* pass 1: dq, one task per query tile */
            #pragma omp for schedule(dynamic, 1)
            for (long task = 0; task < (long)B * Hq * nq; task++) {
                if (!S || !dP) continue;
                const int bh = (int)(task / nq), qt = (int)(task % nq);
                const int b = bh / Hq, h = bh % Hq, hk = h / G;
                const int q0 = qt * BR, br = T - q0 < BR ? T - q0 : BR;
                const size_t qo = lay_off(lq, b, h, q0), oo = lay_off(lo, b, h, q0), lo_ = (size_t)bh * T + q0;
                int kend = s->causal ? (q0 + br - 1) / BC + 1 : nk;
                for (int kt = doc_ktile(s->doc_pos ? s->doc_pos + (size_t)b * T : NULL, q0); kt < kend; kt++) {
                    const int k0 = kt * BC, bc = T - k0 < BC ? T - k0 : BC;
                    const size_t ko = lay_off(lk, b, hk, k0), vo = lay_off(lv, b, hk, k0);
                    const flash_rows r = {q + qo, k + ko, v + vo, dout + oo, lse + lo_, Dd + lo_, ldq, ldk, ldv, ldo};
                    tile_grad(S, dP, &r, (flash_tile){q0, br, k0, bc, s->doc_pos ? s->doc_pos + (size_t)b * T : NULL}, s);
                    // dQ (br,Dk) += scale dS (br,bc) . K (bc,Dk)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, br, Dk, bc, s->scale, dP, BC, k + ko, ldk, 1.0f,
                                dq + qo, ldq);
                }
            }
            /* pass 2: dk, dv, one task per key tile of a key/value head (all its query heads) */
            #pragma omp for schedule(dynamic, 1)
            for (long task = 0; task < (long)B * Hkv * nk; task++) {
                if (!S || !dP) continue;
                const int bk = (int)(task / nk), kt = (int)(task % nk);
                const int b = bk / Hkv, hk = bk % Hkv;
                const int k0 = kt * BC, bc = T - k0 < BC ? T - k0 : BC;
                const size_t ko = lay_off(lk, b, hk, k0), vo = lay_off(lv, b, hk, k0);
                const int32_t *dp = s->doc_pos ? s->doc_pos + (size_t)b * T : NULL;
                for (int g = 0; g < G; g++) {
                    const int h = hk * G + g;
                    const size_t bh = (size_t)b * Hq + h;
                    int qstart = s->causal ? k0 / BR : 0;
                    for (int qt = qstart; qt < nq; qt++) {
                        const int q0 = qt * BR, br = T - q0 < BR ? T - q0 : BR;
                        if (doc_past(dp, q0, k0 + bc)) break;
                        const size_t qo = lay_off(lq, b, h, q0), oo = lay_off(lo, b, h, q0), lo_ = bh * T + q0;
                        const flash_rows r = {q + qo, k + ko, v + vo, dout + oo, lse + lo_, Dd + lo_, ldq, ldk, ldv, ldo};
                        tile_grad(S, dP, &r, (flash_tile){q0, br, k0, bc, dp}, s);
                        // dV (bc,Dv) += P^T (bc,br) . dO (br,Dv) ; dK (bc,Dk) += scale dS^T . Q
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bc, Dv, br, 1.0f, S, BC, dout + oo, ldo, 1.0f,
                                    dv + vo, ldv);
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bc, Dk, br, s->scale, dP, BC, q + qo, ldq, 1.0f,
                                    dk + ko, ldk);
                    }
                }
            }
        }
        free(S);
        free(dP);
    }
    free(Dd);
    return fail ? sl_error(SL_ENOMEM, "attention: out of memory for tiles") : SL_OK;
}

int sl_attn_flash_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
                           const float *out, const float *lse, const sl_attn_shape *s)
{
    const int T = s->T;
    const sl_attn_lay lq = lay_heads(s->Hq, T, s->Dk), lk = lay_heads(s->Hkv, T, s->Dk), lv = lay_heads(s->Hkv, T, s->Dv);
    const sl_attn_qkv in = {(float *)q, (float *)k, (float *)v, lq, lk, lv}; /* read only */
    const sl_attn_qkv d = {dq, dk, dv, lq, lk, lv};
    return sl_attn_flash_backward_lay(&d, dout, &in, out, lay_heads(s->Hq, T, s->Dv), lse, s);
}
