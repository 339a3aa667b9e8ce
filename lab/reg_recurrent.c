/* lab/reg_recurrent.c — registry entries of the recurrent family (rnn,lstm,gru). */
#include "lab/registry.h"

const sl_model_entry sl_models_recurrent[] = {
    {0},
};
