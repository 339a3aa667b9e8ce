/* seq/attention_kernels.h — scaled dot-product attention kernels: naive (seq/attention_naive.c)
 * and flash (seq/attention_flash.c).
 *
 * Kernels work on head-major arrays (the layout llm.c and FlashAttention use):
 *   q (B, Hq, T, Dk)   k (B, Hkv, T, Dk)   v (B, Hkv, T, Dv)   out (B, Hq, T, Dv)
 * Query head h reads key/value head h / (Hq / Hkv): Hkv == Hq is multi-head attention (MHA),
 * Hkv == 1 multi-query (MQA, Shazeer 2019), anything between grouped-query (GQA, Ainslie et
 * al. 2023). Dk may differ from Dv (MLA's decoupled RoPE part makes keys wider than values).
 *   S = scale * q k^T  (masked to j <= i when causal),  P = softmax_rows(S),  out = P v
 *
 * naive: materialises P (B, Hq, T, T) for backward; memory O(T^2). It is the reference.
 * flash: FlashAttention (Dao et al. 2022) on the CPU: query tiles against key tiles with an
 *   online softmax (running row max m and row sum l, the partial output rescaled by
 *   exp(m_old - m_new) whenever the max grows); it keeps only lse = m + log l (B, Hq, T).
 *   Backward recomputes P = exp(S - lse) tile by tile, with D_i = rowsum(dout_i * out_i):
 *   dS = P * (dout v^T - D), dq = scale dS k, dk = scale dS^T q, dv = P^T dout. Memory O(T).
 *   With B*Hkv >= 16 one fused pass runs a task per key/value head (it owns dk, dv and the dq
 *   of its query heads); otherwise two parallel passes (dq over query tiles; dk, dv over key
 *   tiles). No atomics, and the path depends on the shape only: results are deterministic for
 *   any thread count.
 * Backward functions ACCUMULATE into dq, dk, dv.
 */
#ifndef SL_SEQ_ATTENTION_KERNELS_H
#define SL_SEQ_ATTENTION_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int B, Hq, Hkv, T, Dk, Dv;
    float scale; /* usually 1/sqrt(Dk) */
    int causal;
    /* packed rows (seq/model.h, sl_model_set_docs): (B, T) each token's position in its
     * document, or NULL. Query t of row b then sees only the keys of its own document,
     * t - doc_pos[b,t] <= j (<= t when causal): a block-diagonal mask. The flash kernel starts
     * each query tile at its first document's first key tile and skips the tiles in which every
     * pair is masked; it takes causal packed rows only (the naive kernel takes both). */
    const int32_t *doc_pos;
} sl_attn_shape;

/* Validates the shape (positive sizes, Hq % Hkv == 0); SL_ESHAPE otherwise. */
int sl_attn_shape_check(const sl_attn_shape *s);

/* att (B, Hq, T, T): softmax probabilities (written). dmask (B, Hq, T, T) or NULL: inverted
 * dropout mask applied to the probabilities (0 or 1/(1-p)). */
void sl_attn_naive_forward(float *out, float *att, const float *q, const float *k, const float *v, const float *dmask,
                           const sl_attn_shape *s);
void sl_attn_naive_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
                            const float *att, const float *dmask, const sl_attn_shape *s);

/* lse (B, Hq, T): log-sum-exp of each score row (written). */
int sl_attn_flash_forward(float *out, float *lse, const float *q, const float *k, const float *v, const sl_attn_shape *s);
int sl_attn_flash_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
                           const float *out, const float *lse, const sl_attn_shape *s);

/* The flash kernels on arrays in any row layout: row t of head h of batch b starts at
 * b*bs + h*hs + t*rs floats. Head-major (B,H,T,D) is {H*T*D, T*D, D}; token-major rows of
 * width W holding the heads side by side are {T*W, D, W}, so the mixer's batch slices read the
 * projections in place. lse stays (B, Hq, T). dq, dk, dv have the layouts of q, k, v; dout
 * that of out. */
typedef struct {
    size_t bs, hs, rs;
} sl_attn_lay;
/* q, k, v (or their gradients) with their layouts */
typedef struct {
    float *q, *k, *v;
    sl_attn_lay lq, lk, lv;
} sl_attn_qkv;
/* out (layout lo) and lse from in's q, k, v */
int sl_attn_flash_forward_lay(float *out, sl_attn_lay lo, float *lse, const sl_attn_qkv *in, const sl_attn_shape *s);
/* d's q, k, v receive (+=) the gradients, in in's layouts (d's own layouts must equal them:
 * SL_EINVAL otherwise); dout has out's layout lo */
int sl_attn_flash_backward_lay(const sl_attn_qkv *d, const float *dout, const sl_attn_qkv *in, const float *out, sl_attn_lay lo,
                               const float *lse, const sl_attn_shape *s);

#ifdef __cplusplus
}
#endif
#endif
