/* lab/reg_nlp.c — registry entries of the nlp family (ngram). */
#include "lab/registry.h"
#include "nlp/ngram_model.h"

const sl_model_entry sl_models_nlp[] = {
    {.name = "ngram",
     .family = "ngram",
     .help = "n-gram LM (mkn/kn/addk/mle, lmplz conventions): fit() on tokens; logits = log-probs over the vocabulary",
     .keys = sl_ngram_keys,
     .create = sl_ngram_model_create_spec},
    {0},
};
