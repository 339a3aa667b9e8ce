/* lab/reg_mamba.c — registry entries of the mamba family (mamba,mamba2). */
#include "lab/registry.h"

const sl_model_entry sl_models_mamba[] = {
    {0},
};
