/* ssm/mamba2.h — the Mamba2 block (Dao & Gu 2024; mamba_ssm Mamba2 names), built on the SSD
 * algorithm of ssm/ssd.h:
 *   in_proj.weight (2E + 2GN + H, d_model) -> (z (E), xBC (E + 2GN), dt (H))
 *   conv1d.weight (E + 2GN, 1, d_conv), conv1d.bias  -> SiLU -> (x, B, C)
 *   dt_bias (H), A_log (H), D (H)                    -> y = SSD(x, dt, -exp(A_log), B, C, D)
 *   norm.weight (E): RMSNormGated, y = rmsnorm(y * silu(z)) * w per group of E/G channels
 *   out_proj.weight (d_model, E)
 * E = expand * d_model, H = E / headdim. dt_bias, A_log and D have no weight decay. */
#ifndef SL_SSM_MAMBA2_H
#define SL_SSM_MAMBA2_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int d_model, d_state, d_conv, expand, headdim, ngroups, chunk_size;
    int conv_bias, bias;
    double dt_min, dt_max, dt_init_floor, A_init_min, A_init_max;
    float norm_eps;
} sl_mamba2_config;

/* The `mamba2` spec's keys (mamba_ssm Mamba2's argument names), bound to sl_mamba2_config
 * (seq/spec.h): the one source of the defaults. */
extern const sl_spec_key sl_mamba2_keys[];
/* The table's defaults (mamba_ssm's), with d_model. */
sl_mamba2_config sl_mamba2_defaults(int d_model);
int sl_mamba2_create(const sl_mamba2_config *cfg, sl_params *P, const char *prefix, sl_model **out);
/* From a spec already checked against sl_mamba2_keys. */
int sl_mamba2_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
