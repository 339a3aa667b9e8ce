/* lab/reg_ssm.c — registry entries of the ssm family (hippo, s4, s4d). */
#include "lab/registry.h"
#include "ssm/hippo.h"
#include "ssm/s4.h"
#include "ssm/s4d.h"

const sl_model_entry sl_models_ssm[] = {
    {.name = "hippo",
     .family = "ssm",
     .help = "fixed HiPPO memory per channel (frozen A, B) with a learnable read-out y = C c + D u",
     .keys = sl_hippo_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_hippo_create_spec},
    {.name = "s4",
     .family = "ssm",
     .help = "S4 block: DPLR HiPPO-LegS kernel (Cauchy + Woodbury + FFT) -> GELU -> Conv1d(H,2H,1) -> GLU",
     .keys = sl_s4_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_s4_create_spec},
    {.name = "s4d",
     .family = "ssm",
     .help = "S4D block (minimal s4d.py layout): diagonal SSM Vandermonde kernel -> GELU -> Conv1d(H,2H,1) -> GLU",
     .keys = sl_s4d_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_s4d_create_spec},
    {0},
};
