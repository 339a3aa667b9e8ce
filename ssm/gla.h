/* ssm/gla.h — gated linear attention (Yang, Wang, Shen, Panda, Kim 2024, "Gated Linear Attention
 * Transformers with Hardware-Efficient Training"), the layer of fla's GatedLinearAttention
 * (flash-linear-attention, fla/layers/gla.py) with its parameter names:
 *   q = x Wq^T, k = x Wk^T (key_dim = expand_k d_model), v = x Wv^T (value_dim = expand_v
 *     d_model), g = x Wg^T (value_dim)                      q_proj k_proj v_proj g_proj
 *   log alpha = logsigmoid(gk_proj.1(gk_proj.0(x))) / gate_logit_normalizer   (key_dim; a
 *     low-rank map through gate_low_rank_dim, the second linear with a bias)
 *   per head h (d_k = key_dim / H, d_v = value_dim / H):
 *     S_t = diag(alpha_t) S_{t-1} + k_t^T v_t,  o_t = q_t S_t / sqrt(d_k)
 *   y = o_proj(swish(g) (.) g_norm(o))   g_norm: RMSNorm over d_v with a weight (d_v) shared by
 *     the heads (fla's unfused g_norm; its fused FusedRMSNormSwishGate computes the same)
 * Sequence mode: the chunkwise form of ssm/linattn.h (mode=chunk, default) with the gates'
 * cumulative sums in log space inside each chunk (stable for any gate values), or the
 * recurrent form (mode=recurrent); backward is the chunkwise one. Step mode: the recurrence. */
#ifndef SL_SSM_GLA_H
#define SL_SSM_GLA_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SL_GLA_CHUNK, SL_GLA_RECURRENT };

typedef struct {
    int d_model, num_heads, gate_low_rank_dim, chunk_size, mode;
    double expand_k, expand_v, gate_logit_normalizer;
    float norm_eps;
} sl_gla_config;

/* The `gla` spec's keys bound to sl_gla_config (seq/spec.h), their defaults, and the
 * constructors from a configuration and from a spec already checked against the table. */
extern const sl_spec_key sl_gla_keys[];
void sl_gla_config_default(sl_gla_config *c);
int sl_gla_create(const sl_gla_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_gla_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
