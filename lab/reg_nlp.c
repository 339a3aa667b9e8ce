/* lab/reg_nlp.c — registry entries of the nlp family (ngram). */
#include "lab/registry.h"

const sl_model_entry sl_models_nlp[] = {
    {0},
};
