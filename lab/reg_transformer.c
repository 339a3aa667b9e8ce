/* lab/reg_transformer.c — registry entries of the transformer family (attention,gpt,llama). */
#include "lab/registry.h"

const sl_model_entry sl_models_transformer[] = {
    {0},
};
