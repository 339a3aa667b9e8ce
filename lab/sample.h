/* lab/sample.h — sampling the next token from logits: temperature, top-k, top-p (nucleus).
 * temperature <= 0 means greedy (argmax). top_k <= 0 and top_p >= 1 disable those filters.
 * Order as in common practice (HF / llama2.c): scale by 1/temperature, keep the top_k
 * largest, softmax, keep the smallest prefix (by descending probability) whose mass reaches
 * top_p, renormalise, draw. work must hold 2*V floats (or ints). */
#ifndef SL_LAB_SAMPLE_H
#define SL_LAB_SAMPLE_H

#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float temperature;
    int top_k;
    float top_p;
} sl_sampler;

int sl_sample_logits(const float *logits, int V, const sl_sampler *s, sl_rng *rng, float *work, int *idx_work);

/* probs (V): the distribution sl_sample_logits draws from (zero outside the top-k / nucleus;
 * one-hot at the argmax when greedy), for speculative decoding's acceptance test. */
void sl_sample_probs(const float *logits, int V, const sl_sampler *s, float *probs, float *work, int *idx_work);

/* one draw from probs (V, non-negative, any positive sum), walking the ids in order; the
 * argmax if every entry is zero */
int sl_sample_from_probs(const float *probs, int V, sl_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
