/* lab/reg_ssm.c — registry entries of the ssm family (hippo,s4,s4d). */
#include "lab/registry.h"

const sl_model_entry sl_models_ssm[] = {
    {0},
};
