/* ssm/retnet.h — multi-scale retention (Sun et al. 2023, "Retentive Network"), the layer of
 * torchscale's MultiScaleRetention with its parameter names:
 *   q = x Wq^T, k = x Wk^T / sqrt(d_k), v = x Wv^T, g = x Wg^T       q_proj k_proj v_proj g_proj
 *   q, k rotated per head by position (torchscale theta_shift: pairs (2i, 2i+1) turn by
 *     t * 10000^(-i / (d_k/2 - 1)))
 *   o_t = sum_{s<=t} gamma_h^(t-s) (q_t . k_s) v_s,  gamma_h = 1 - 2^(-5-h)   per head h
 *   y = out_proj(swish(g) (.) group_norm(o))      group_norm: RMSNorm over each head's d_v
 *     channels without weights (torchscale: elementwise_affine=False), so it has no tensor
 * d_k = d_model / num_heads, d_v = value_dim / num_heads (value_dim 0: 2 d_model, RetNet's).
 * Sequence mode runs the chunkwise form of ssm/linattn.h (mode=chunkwise, the default), or the
 * parallel or recurrent form (mode=parallel|recurrent); the three compute the same function
 * and backward is the chunkwise one for all. torchscale's extra per-row rescalings of the
 * scores and states (detached, for fp16 range) cancel in the group norm up to its eps and are
 * not applied. Step mode is the recurrent form with a position counter. */
#ifndef SL_SSM_RETNET_H
#define SL_SSM_RETNET_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SL_RETNET_CHUNKWISE, SL_RETNET_PARALLEL, SL_RETNET_RECURRENT };

typedef struct {
    int d_model, num_heads, value_dim, chunk_size, mode;
    float layernorm_eps;
} sl_retnet_config;

/* The `retnet` spec's keys bound to sl_retnet_config (seq/spec.h), their defaults, and the
 * constructors from a configuration and from a spec already checked against the table. */
extern const sl_spec_key sl_retnet_keys[];
void sl_retnet_config_default(sl_retnet_config *c);
int sl_retnet_create(const sl_retnet_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_retnet_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
