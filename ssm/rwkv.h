/* ssm/rwkv.h — RWKV-4 (Peng et al. 2023, "RWKV: Reinventing RNNs for the Transformer Era"), one
 * RWKV block's time-mix and channel-mix with the parameter names of BlinkDL's RWKV-LM
 * (RWKV-v4neo, RWKV_TimeMix / RWKV_ChannelMix / Block.ln2):
 *   time mix (att.*), token shift xx_t = z_{t-1} (0 at t = 0), per channel:
 *     xk = z mk + xx (1 - mk) (time_mix_k), likewise xv (time_mix_v), xr (time_mix_r)
 *     k = key(xk), v = value(xv), r = receptance(xr)             (C x C, no bias)
 *     wkv_t = (sum_{i<t} e^{-(t-1-i) exp(time_decay) + k_i} v_i + e^{time_first + k_t} v_t)
 *           / (sum_{i<t} e^{-(t-1-i) exp(time_decay) + k_i}     + e^{time_first + k_t})
 *     a = output(sigmoid(r) (.) wkv)
 *   channel mix (ffn.*) on n = ln2(z + a) (LayerNorm with weight and bias):
 *     xk, xr token-shifted with ffn.time_mix_k, ffn.time_mix_r
 *     f = sigmoid(receptance(xr)) (.) value(relu(key(xk))^2)     key (F x C), value (C x F)
 *   y = a + f
 * Inside lm:/seq: the wrapper's pre-norm plays ln1 and its residual adds y, so a layer is
 * h + a + f with f = ffn(ln2(ln1(h) + a)); RWKV's block feeds ln2 with h + a instead (the
 * difference is which stream the channel mix normalises). Tensors: att.time_decay (C),
 * att.time_first (C), att.time_mix_k/v/r (1, 1, C), att.key/value/receptance/output.weight
 * (C, C), ln2.weight, ln2.bias (C), ffn.time_mix_k/r (1, 1, C), ffn.key.weight (F, C),
 * ffn.receptance.weight (C, C), ffn.value.weight (C, F); F = dim_ffn (0: 4 C).
 * The WKV recurrence keeps its state as (aa, bb, pp) with a = aa e^pp, b = bb e^pp and every
 * exponent taken against a running maximum, forward and backward (the RWKV-4 kernels' safe
 * form), so large k never overflows. Sequence mode runs it per channel (parallel over batch
 * and channels); step mode is the same recurrence one position at a time. */
#ifndef SL_SSM_RWKV_H
#define SL_SSM_RWKV_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The WKV recurrence's inputs: k, v (B, T, C); w = -exp(time_decay), u = time_first (C). */
typedef struct {
    const float *k, *v, *w, *u;
    int B, T, C;
} sl_rwkv_wkv_in;
/* WKV: y (B, T, C) written; st (B, T+1, C, 3) receives the scaled state (aa, bb, pp) before every
 * step and after the last (for the backward) */
void sl_rwkv_wkv_forward(float *y, float *st, const sl_rwkv_wkv_in *in);
/* dk, dv (B, T, C) written; dw, du (C) accumulated (+=), dw for w itself */
void sl_rwkv_wkv_backward(float *dk, float *dv, float *dw, float *du, const float *dy, const float *y, const float *st,
                          const sl_rwkv_wkv_in *in);
/* reference: the definition above summed directly in double (O(T^2)) */
void sl_rwkv_wkv_naive(double *y, const sl_rwkv_wkv_in *in);

typedef struct {
    int d_model, dim_ffn, layer_id, n_layer;
    float layernorm_eps;
} sl_rwkv_config;

/* The `rwkv` spec's keys bound to sl_rwkv_config (seq/spec.h), their defaults, and the
 * constructors from a configuration and from a spec already checked against the table. */
extern const sl_spec_key sl_rwkv_keys[];
void sl_rwkv_config_default(sl_rwkv_config *c);
int sl_rwkv_create(const sl_rwkv_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_rwkv_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
