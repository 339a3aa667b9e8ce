/* seq/layers.h — shared layers as _forward/_backward pairs over raw float pointers.
 *
 * Conventions (llm.c): output arguments first, dimensions last; every backward ACCUMULATES
 * (+=) into its gradient outputs, any of which may be NULL when not wanted; weights use the
 * PyTorch layout (nn.Linear weight is (OC, C)). N is the number of rows (B*T).
 * Matrix products go through CBLAS.
 */
#ifndef SL_SEQ_LAYERS_H
#define SL_SEQ_LAYERS_H

#include "core/rng.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out (N,OC) = inp (N,C) @ w (OC,C)^T + b (OC) ; b may be NULL */
void sl_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC);
/* dinp (N,C) += dout @ w ; dw (OC,C) += dout^T @ inp ; db (OC) += sum_n dout */
void sl_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N, int C,
                        int OC);
/* The same, but dinp (N,C) = dout @ w is WRITTEN (no need to zero it first); dw, db accumulate. */
void sl_linear_backward_set(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N, int C,
                            int OC);

/* Column blocks of row-major arrays: get copies columns [c0, c0+w) of src (N rows, ld floats
 * apart) into dst (N, w); put copies src (N, w) into those columns of dst (N rows, ld
 * apart). For splitting a fused projection's output into its parts and back. */
void sl_cols_get(float *dst, const float *src, size_t N, int ld, int c0, int w);
void sl_cols_put(float *dst, const float *src, size_t N, int ld, int c0, int w);

/* out (N,C) = wte[tok[n]] ; tok must be in [0, V) (checked by callers at the boundary) */
void sl_embedding_forward(float *out, const int32_t *tok, const float *wte, int N, int C);
void sl_embedding_backward(float *dwte, const float *dout, const int32_t *tok, int N, int C);

/* LayerNorm over the last dim: out = (x - mean) * rstd * w + b ; mean, rstd (N) cached.
 * w, b may be NULL (no affine / no bias). */
void sl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C,
                          float eps);
void sl_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int N, int C);
/* The fast path (SL_CLONES, float row sums in vector lanes instead of a serial double sum: a
 * few ulp from the reference; t/t-transformer.c compares them). Serial over rows: callers run
 * it inside their slices. Backward accumulates like the reference. */
void sl_layernorm_fast_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N,
                               int C, float eps);
void sl_layernorm_fast_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                                const float *mean, const float *rstd, int N, int C);

/* RMSNorm: out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) */
void sl_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
void sl_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, const float *rstd, int N,
                         int C);

/* Elementwise activations over n values. Backward: dinp += dout * f'(inp). */
typedef enum {
    SL_ACT_IDENTITY,
    SL_ACT_TANH,
    SL_ACT_RELU,
    SL_ACT_SIGMOID,
    SL_ACT_GELU,
    SL_ACT_GELU_TANH,
    SL_ACT_SILU,
    SL_ACT_SOFTPLUS
} sl_act;
void sl_act_forward(sl_act a, float *out, const float *inp, size_t n);
void sl_act_backward(sl_act a, float *dinp, const float *dout, const float *inp, size_t n);
/* GELU (exact, erf form), the vectorised fast path (SL_CLONES; a rational erf, |error| < 5e-7)
 * the transformer's MLP uses; reference: sl_act_*(SL_ACT_GELU). Arrays over 65536 values
 * outside a parallel region are split over the threads in fixed chunks. backward accumulates
 * (dinp += dout * gelu'(inp)); _set writes dinp. */
void sl_gelu_fast_forward(float *out, const float *inp, size_t n);
void sl_gelu_fast_backward(float *dinp, const float *dout, const float *inp, size_t n);
void sl_gelu_fast_backward_set(float *dinp, const float *dout, const float *inp, size_t n);
float sl_act1(sl_act a, float x);  /* scalar f(x) */
float sl_dact1(sl_act a, float x); /* scalar f'(x) */
int sl_act_from_name(const char *name, sl_act *a);

/* GLU over the last dim (torch.nn.GLU(dim=-1)): inp (N, 2C) -> out (N, C) = a * sigmoid(b) */
void sl_glu_forward(float *out, const float *inp, int N, int C);
void sl_glu_backward(float *dinp, const float *dout, const float *inp, int N, int C);

/* Softmax cross-entropy with integer targets; target < 0 is ignored. probs (N,V) is written.
 * Returns the mean loss over counted rows (0 if none) and stores the count in *count. A
 * target >= V (a vocabulary wider than the logits) is never read: the function records an
 * SL_EINVAL message naming the row and returns NaN, and the backward skips such rows. */
double sl_xent_forward(float *probs, const float *logits, const int32_t *targets, int N, int V, int *count);
/* dlogits (N,V) += scale * (probs - onehot) on counted rows; callers pass scale = 1/count */
void sl_xent_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V, float scale);

/* Masked mean squared error over (N, D); mask (N) may be NULL (all ones). Returns
 * sum(mask * (y - t)^2) / (sum(mask) * D). backward: dy += scale * 2 (y - t) mask. */
double sl_mse_forward(const float *y, const float *target, const float *mask, int N, int D, double *weight);
void sl_mse_backward(float *dy, const float *y, const float *target, const float *mask, int N, int D, float scale);

/* Depthwise causal conv1d, batch-first: inp (B,T,C), w (C,K) (torch (C,1,K)), b (C) or NULL.
 * out[b,t,c] = b[c] + sum_k w[c,k] * inp[b, t-(K-1)+k, c]  (zero before t=0). */
void sl_conv1d_causal_forward(float *out, const float *inp, const float *w, const float *b, int B, int T, int C, int K);
void sl_conv1d_causal_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int B,
                               int T, int C, int K);
/* The same over packed rows (seq/model.h): pos (B, T) each position's place in its document, or
 * NULL; the window of t starts no earlier than its document (t - pos[b,t]), as if every document
 * were zero-padded on its left alone, and no gradient crosses a document start. */
void sl_conv1d_causal_docs_forward(float *out, const float *inp, const float *w, const float *b, const int32_t *pos, int B, int T,
                                   int C, int K);
void sl_conv1d_causal_docs_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                                    const int32_t *pos, int B, int T, int C, int K);

/* Inverted dropout: mask (n) holds 0 or 1/(1-p). p == 0 copies and sets mask to 1. */
void sl_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, sl_rng *rng);
void sl_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* Row-wise softmax in place over (N, V), numerically stable. */
void sl_softmax_rows(float *x, int N, int V);

#ifdef __cplusplus
}
#endif
#endif
