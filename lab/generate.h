/* lab/generate.h — autoregressive decoding of any token model: the context, the model's
 * step-mode state and the logits of the next token, behind one object.
 *
 *   sl_decoder_new(m, slide, &d);
 *   sl_decoder_feed(d, prompt, n);                   // the prompt (any length, any number of calls)
 *   loop: next = sl_sample_logits(sl_decoder_logits(d), ...); sl_decoder_feed(d, &next, 1);
 *
 * A model with step mode keeps its state (KV cache, recurrent or SSM state) and takes one
 * step per token; several tokens fed at once (a prompt) run as one sequence-mode pass from the
 * state (sl_model_prefill, seq/model.h), which leaves the state at the last of them. A model whose state holds at most m->max_len positions (a transformer's
 * block size, learned position tables, an attention mixer's KV cache) is full after max_len
 * tokens; then, with slide = 1, every further token recomputes the logits from the last
 * max_len tokens in one sequence-mode pass (positions 0..max_len-1 again), as nanoGPT's
 * generate does by cropping the context to block_size; with slide = 0, feeding past the
 * context is an error (SL_ESHAPE, "context full") and sl_decoder_room says how many tokens
 * still fit. Models without step mode recompute the logits from the whole context (or the
 * window) each time. Timing counters let callers report tokens per second. */
#ifndef SL_LAB_GENERATE_H
#define SL_LAB_GENERATE_H

#include "seq/model.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_decoder sl_decoder;

int sl_decoder_new(sl_model *m, int slide, sl_decoder **out);
void sl_decoder_free(sl_decoder *d);

/* Append n tokens (each in [0, vocabulary)) to the context; afterwards sl_decoder_logits gives
 * the logits of the token that follows them. */
int sl_decoder_feed(sl_decoder *d, const int32_t *tok, int n);

/* (V) logits after the last token fed; NULL before the first. */
const float *sl_decoder_logits(const sl_decoder *d);

/* Tokens fed so far. */
long sl_decoder_len(const sl_decoder *d);

/* How many more tokens can be fed: -1 if unbounded (slide on, or no limit). */
long sl_decoder_room(const sl_decoder *d);

/* 1 once the decoder recomputes a window per token (slide on, context past max_len). */
int sl_decoder_sliding(const sl_decoder *d);

/* Model evaluations so far: positions run (steps, or rows of sequence-mode passes whose
 * logits were used) and the seconds spent in the model. */
void sl_decoder_stats(const sl_decoder *d, long *positions, double *seconds);

#ifdef __cplusplus
}
#endif
#endif
