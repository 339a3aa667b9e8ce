/* ssm/hyena.h — the Hyena operator (Poli et al. 2023, "Hyena Hierarchy"), order 2, one head,
 * zoology `Hyena` names.
 *
 * C = d_model, L = l_max, K = short_filter_order, M = filter_order (the filter MLP's width):
 *   u = x in_proj^T + b                                    (B, T, 3C)
 *   uc = short depthwise causal conv of u (K taps) + b    -> x1 | x2 | v   (C each)
 *   v1 = v * x1                                            (first gate)
 *   h[t, c] = MLP(z[t]) * (exp(-t_t |deltas_c|) + shift)  implicit long filter, t < T
 *       MLP = Linear(emb_dim, M) -> sin(freq .) -> [Linear(M, M) -> sin(freq .)] x num_inner_mlps
 *             -> Linear(M, C, no bias);   z (L, emb_dim) = [t, cos(f w), -sin(f w)] positional
 *             features, t = linspace(0, 1, L), w = 2 pi l / L; deltas from the decay targets
 *   y = h (*) v1 + filter_fn.bias * v1                     (causal long convolution along time)
 *   out = (y * x2) out_proj^T + b                          (second gate)
 * Sequence mode: the long convolution by FFT (ssm/fftconv.c); `conv=naive` takes the direct
 * O(T^2) sums (the reference). Step mode keeps the convolution history: the last K-1 inputs of
 * the short filter and every v1 so far (up to l_max positions); each step sums
 * h[j] v1[t - j] over the whole history (O(t) per step), with the filter computed from the
 * parameters at the state's first step. Sequences and states are limited to l_max positions.
 *
 * Tensors: in_proj.weight (3C, C), in_proj.bias (3C), short_filter.weight (3C, 1, K),
 * short_filter.bias (3C), filter_fn.bias (C), filter_fn.pos_emb.z (1, L, emb_dim) (lr_scale
 * 0.01: zoology trains it at lr 1e-5), filter_fn.pos_emb.t (1, L, 1) (fixed),
 * filter_fn.implicit_filter.{0,2,..}.weight/bias, filter_fn.implicit_filter.1.freq (1, M) (one
 * Sin module shared by every activation, as in zoology), filter_fn.implicit_filter.{2n+2}.weight
 * (C, M), filter_fn.modulation.deltas (1, 1, C) (fixed). The filter MLP has no weight decay.
 */
#ifndef SL_SSM_HYENA_H
#define SL_SSM_HYENA_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int d_model, l_max, filter_order, short_filter_order, emb_dim, num_inner_mlps, modulate;
    float w, fast_decay_pct, slow_decay_pct, target, shift;
    int naive; /* conv=naive: the long convolution as direct sums (the reference) */
} sl_hyena_config;

extern const sl_spec_key sl_hyena_keys[];
void sl_hyena_config_default(sl_hyena_config *c);
int sl_hyena_create(const sl_hyena_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_hyena_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* The implicit filter of a built hyena model for positions 0..T-1: h (C, T), from its current
 * parameters. */
int sl_hyena_filter(sl_model *m, float *h, int T);

#ifdef __cplusplus
}
#endif
#endif
