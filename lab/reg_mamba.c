/* lab/reg_mamba.c — registry entries of the mamba family: `mamba` (mamba_ssm Mamba) and
 * `mamba2` (mamba_ssm Mamba2, SSD). The key tables, bound to the configuration structs, are
 * the models' own (ssm/mamba.c, ssm/mamba2.c). */
#include "lab/registry.h"
#include "ssm/mamba.h"
#include "ssm/mamba2.h"

const sl_model_entry sl_models_mamba[] = {
    {.name = "mamba",
     .family = "mamba",
     .help = "Mamba block (mamba_ssm Mamba): in_proj -> causal conv1d + SiLU -> selective scan (S6) gated by SiLU(z) -> out_proj",
     .keys = sl_mamba_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_mamba_create_spec},
    {.name = "mamba2",
     .family = "mamba",
     .help = "Mamba-2 block (mamba_ssm Mamba2): in_proj -> conv1d + SiLU over (x,B,C) -> SSD (scalar A per head) -> gated "
             "RMSNorm -> out_proj",
     .keys = sl_mamba2_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_mamba2_create_spec},
    {0},
};
