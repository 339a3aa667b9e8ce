/* ssm/based.h — Based (Arora et al. 2024, "Simple linear attention language models balance
 * the recall-throughput tradeoff"): causal linear attention with the 2nd-order Taylor feature
 * map, plus sliding-window softmax attention, in one mixer (zoology's names).
 *
 * Linear attention (zoology Based; H = num_heads, F = feature_dim, Dv = d_model / H):
 *   q = x proj_q^T (H*F), k = x proj_k^T (H*F), v = x proj_v^T (d_model)       (no biases)
 *   phi(x) = [1, x / F^(1/4), vec(x x^T) / (sqrt 2 sqrt F)]   (D = 1 + F + F^2 features)
 *   kappa(q, k) = phi(q).phi(k) = 1 + s + s^2 / 2,  s = q.k / sqrt F   (> 0 for every s)
 *   o_t = sum_{s<=t} kappa(q_t, k_s) v_s / (sum_{s<=t} kappa(q_t, k_s) + eps)   per head
 *   lin = o proj_o^T
 * Sequence mode is chunked: inside a chunk of chunk_size positions the kernel kappa is applied
 * to the (chunk x chunk) scores; across chunks a running state S = sum phi(k) v^T (D, Dv) and
 * z = sum phi(k) (D) carries the past. Step mode keeps S and z. The naive reference is the
 * direct O(T^2) double sum.
 *
 * Sliding-window attention (zoology SlidingAttn names, one head of width d_model, scale
 * 1/sqrt(d_model)), present when window_size W > 0:
 *   (q, k, v) = x window_attn.Wqkv^T + b;  o_t = softmax_{t-W < j <= t}(q_t.k_j / sqrt C) v
 *   swa = o window_attn.out_proj^T + b
 * Sequence mode is banded (O(T W): blocks of W queries against their 2W - 1 keys by sgemm),
 * step mode keeps the last W keys and values; the naive reference is the full masked (T x T)
 * softmax.
 *
 * `train_view=quadratic` (zoology's name for its T x T form) runs the linear attention's naive
 * reference in sequence mode instead of the chunked form (for tests and benchmarks).
 *
 * The mixer's output is lin + swa: both branches read the same input, in parallel (zoology
 * alternates Based and sliding-window layers across depth instead; window_size=0 gives its
 * Based layer alone, whose state_dict loads by name).
 */
#ifndef SL_SSM_BASED_H
#define SL_SSM_BASED_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int d_model, feature_dim, num_heads, window_size, chunk_size;
    float eps;
    int quadratic; /* train_view=quadratic: the naive O(T^2) linear attention (the reference) */
} sl_based_config;

extern const sl_spec_key sl_based_keys[];
void sl_based_config_default(sl_based_config *c);
int sl_based_create(const sl_based_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_based_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* Causal Taylor linear attention on token-major arrays: q, k (B, T, H*F), v, y (B, T, H*Dv),
 * den (B, H, T) = the denominators (eps included), written by forward and read by backward.
 * Backward accumulates (+=) into dq, dk, dv (any may be NULL). chunk: positions per chunk. */
typedef struct {
    int B, T, H, F, Dv, chunk;
    float eps;
} sl_linattn_shape;
int sl_based_linattn_forward(float *y, float *den, const float *q, const float *k, const float *v, const sl_linattn_shape *s);
int sl_based_linattn_backward(float *dq, float *dk, float *dv, const float *dy, const float *y, const float *den, const float *q,
                              const float *k, const float *v, const sl_linattn_shape *s);
/* the reference: every kappa(q_t, k_s) summed directly in double */
void sl_based_linattn_naive_forward(float *y, float *den, const float *q, const float *k, const float *v,
                                    const sl_linattn_shape *s);
void sl_based_linattn_naive_backward(float *dq, float *dk, float *dv, const float *dy, const float *q, const float *k,
                                     const float *v, const sl_linattn_shape *s);

/* Causal sliding-window softmax attention, one head: qkv (B, T, 3C) holds q | k | v per row,
 * out (B, T, C), P (B, T, W) the probabilities of keys t-W+1..t (written by forward). */
void sl_based_window_forward(float *out, float *P, const float *qkv, int B, int T, int C, int W);
void sl_based_window_backward(float *dqkv, const float *dout, const float *qkv, const float *P, int B, int T, int C, int W);
/* the reference: full (T x T) scores with the band mask, double */
void sl_based_window_naive_forward(float *out, const float *qkv, int B, int T, int C, int W);

#ifdef __cplusplus
}
#endif
#endif
