/* lab/reg_conv.c — registry entries of the convolution / attention-hybrid mixers of the
 * efficient-model zoo (issue 20): `based`, `h3`, `hyena` (zoology's names). The key tables,
 * bound to the configuration structs, are the models' own (ssm/based.c, ssm/h3.c,
 * ssm/hyena.c). */
#include "lab/registry.h"
#include "ssm/based.h"
#include "ssm/h3.h"
#include "ssm/hyena.h"

const sl_model_entry sl_models_conv[] = {
    {.name = "based",
     .family = "conv",
     .help = "Based (zoology Based): causal linear attention with the 2nd-order Taylor feature map (chunked) plus "
             "sliding-window softmax attention",
     .keys = sl_based_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_based_create_spec},
    {.name = "h3",
     .family = "conv",
     .help = "H3 (zoology/safari H3): shift SSM on k, diagonal SSM on k v per head, gated by q; FFT convolutions",
     .keys = sl_h3_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_h3_create_spec},
    {.name = "hyena",
     .family = "conv",
     .help = "Hyena operator of order 2 (zoology Hyena): short conv, implicit long filter (positional MLP with decay), "
             "FFT long convolution between two gates",
     .keys = sl_hyena_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .create = sl_hyena_create_spec},
    {0},
};
