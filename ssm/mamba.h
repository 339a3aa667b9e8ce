/* ssm/mamba.h — the Mamba block (Gu & Dao 2023), as mamba_ssm's `Mamba` module.
 *
 *   (x, z) = in_proj(h)                       x, z: (B, T, E), E = expand * d_model
 *   u      = silu(conv1d_causal(x))           depthwise, width d_conv, with bias
 *   (dt_r, Bm, Cm) = x_proj(u)                widths dt_rank, d_state, d_state
 *   delta  = dt_proj.weight @ dt_r            (dt_proj.bias is the scan's delta_bias)
 *   y      = selective_scan(u, delta, A = -exp(A_log), Bm, Cm, D, z, dt_proj.bias, softplus)
 *   out    = out_proj(y)
 *
 * Parameters (mamba_ssm names and shapes, relative to the prefix):
 *   in_proj.weight (2E, d_model) [in_proj.bias (2E) if bias]
 *   conv1d.weight (E, 1, d_conv)  conv1d.bias (E) [if conv_bias]
 *   x_proj.weight (dt_rank + 2 d_state, E)
 *   dt_proj.weight (E, dt_rank)   dt_proj.bias (E)
 *   A_log (E, d_state)            D (E)
 *   out_proj.weight (d_model, E)  [out_proj.bias (d_model) if bias]
 * Initialisation as mamba_ssm: nn.Linear / nn.Conv1d defaults U(+-1/sqrt(fan_in)); dt_proj
 * weight U(+-dt_scale/sqrt(dt_rank)); dt_proj.bias = softplus^-1(dt) with dt log-uniform in
 * [dt_min, dt_max] clamped to >= dt_init_floor; A_log[d, n] = log(n + 1) (S4D-Real); D = 1.
 * A_log and D get no weight decay (mamba_ssm's _no_weight_decay).
 *
 * Step mode keeps the last d_conv inputs of the convolution and the SSM state (B, E, d_state).
 */
#ifndef SL_SSM_MAMBA_H
#define SL_SSM_MAMBA_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int d_model, d_state, d_conv, expand, dt_rank; /* dt_rank <= 0: ceil(d_model / 16) */
    int conv_bias, bias;
    double dt_min, dt_max, dt_init_floor, dt_scale;
    int scan_chunks; /* 0 auto, 1 fast path, > 1 chunked */
} sl_mamba_config;

/* The `mamba` spec's keys (mamba_ssm Mamba's argument names), bound to sl_mamba_config
 * (seq/spec.h): the one source of the defaults. dt_rank (an integer or auto) is read apart. */
extern const sl_spec_key sl_mamba_keys[];
/* The table's defaults (mamba_ssm's), with d_model (0 is an error at create) and dt_rank auto. */
sl_mamba_config sl_mamba_defaults(int d_model);

int sl_mamba_create(const sl_mamba_config *cfg, sl_params *P, const char *prefix, sl_model **out);
/* From a spec already checked against sl_mamba_keys. */
int sl_mamba_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
