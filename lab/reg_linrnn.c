/* lab/reg_linrnn.c — registry entries of the linear-RNN family (docs/linear-rnn.md): `lru`
 * (Orvieto et al. 2023), `retnet` (multi-scale retention, Sun et al. 2023), `gla` (gated linear
 * attention, Yang et al. 2024), `rwkv` (RWKV-4, Peng et al. 2023). The key tables, bound to the
 * configuration structs, are the models' own (ssm/lru.c, ssm/retnet.c, ssm/gla.c, ssm/rwkv.c). */
#include "lab/registry.h"
#include "ssm/gla.h"
#include "ssm/lru.h"
#include "ssm/retnet.h"
#include "ssm/rwkv.h"

const sl_model_entry sl_models_linrnn[] = {
    {.name = "lru",
     .family = "linrnn",
     .help = "Linear Recurrent Unit (Orvieto et al. 2023): diagonal complex recurrence, exp(nu, theta) parameterisation, "
             "gamma normalisation, ring init; chunked scan",
     .keys = sl_lru_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_lru_create_spec},
    {.name = "retnet",
     .family = "linrnn",
     .help = "multi-scale retention (torchscale MultiScaleRetention): rotated q k, decay 1 - 2^(-5-h) per head, RMS group "
             "norm, swish gate; chunkwise (or parallel, recurrent) form",
     .keys = sl_retnet_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_retnet_create_spec},
    {.name = "gla",
     .family = "linrnn",
     .help = "gated linear attention (fla GatedLinearAttention): data-dependent per-channel forget gates, chunkwise form "
             "with log-space gates, RMSNorm, swish gate",
     .keys = sl_gla_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_gla_create_spec},
    {.name = "rwkv",
     .family = "linrnn",
     .help = "RWKV-4 block (BlinkDL RWKV-LM names): token-shift time mix with the WKV recurrence in its safe form, "
             "ln2, channel mix (squared-ReLU key, sigmoid receptance)",
     .keys = sl_rwkv_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_rwkv_create_spec},
    {0},
};
