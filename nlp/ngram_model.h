/* nlp/ngram_model.h — the n-gram LM as a token model of the sequence interface.
 *
 * spec: ngram:order=3,method=mkn,vocab_size=65[,k=1][,discount=0][,discount_fallback=1]
 * fit(tok, n) counts the stream as one sentence <s> t0 .. t(n-1) </s> (several fit calls add
 * sentences) and re-estimates. forward()/step() give, at position t, the natural-log
 * probabilities of the next token given tokens 0..t (context starts at <s>), renormalised over
 * the vocab_size token ids (the mass the model gives </s> and <unk> is spread back), so they
 * are proper log-softmax "logits" (B, T, vocab_size) comparable with the neural models'.
 * Before any fit the model is uniform. It has no parameters (declares no tensors).
 */
#ifndef SL_NLP_NGRAM_MODEL_H
#define SL_NLP_NGRAM_MODEL_H

#include "nlp/ngram.h"
#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The spec's configuration; sl_ngram_keys is bound to it. */
typedef struct {
    int order, vocab_size;
    int method; /* sl_ngram_method */
    double k, discount;
    int discount_fallback;
} sl_ngram_model_config;

extern const sl_spec_key sl_ngram_keys[];
void sl_ngram_model_config_default(sl_ngram_model_config *c);

int sl_ngram_model_create(const sl_ngram_opts *o, int vocab_size, sl_params *P, sl_model **out);
int sl_ngram_model_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* the estimated model inside (NULL before fit); token t is word id t + 3 */
const sl_ngram_lm *sl_ngram_model_lm(const sl_model *m);

#ifdef __cplusplus
}
#endif
#endif
