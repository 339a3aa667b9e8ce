/* lab/speculative.h — speculative decoding (Leviathan et al. 2023, "Fast Inference from
 * Transformers via Speculative Decoding"; Chen et al. 2023, "Accelerating Large Language Model
 * Decoding with Speculative Sampling") with any two seqlab token models of one vocabulary.
 *
 * Each round the draft model proposes k tokens by sampling from its own (filtered) distribution
 * q; the target runs the last committed token and the k proposals as one prefill pass
 * (sequence mode, sl_model_prefill), which gives its distributions p at all k+1 positions.
 * Proposal i is accepted with probability min(1, p_i(x) / q_i(x)); at the first rejection the
 * token is drawn from norm(max(0, p_i - q_i)) and the round ends; if all k are accepted a
 * (k+1)-th token is drawn from p_{k+1}. Every token is then distributed exactly as sampling the
 * target alone with the same sampler (temperature, top-k, top-p filter both p and q); with
 * temperature 0 (greedy) p and q are one-hot and the output is the target's greedy output.
 *
 * State at the accepted position (snapshot + recompute): before the verification pass the
 * target's state is copied (sl_model_state_copy); when a proposal is rejected the copy is put
 * back and the accepted prefix (at most k tokens) is run again as one prefill. The draft does
 * the same with its state. A target or draft whose state cannot be copied is refused. The
 * invariant between rounds: both states hold every committed token but the last, which is
 * pending (the next round's first input).
 *
 *   sl_speculative_new(target, draft, k, &s); sl_speculative_feed(s, prompt, n);
 *   loop: sl_speculative_round(s, &smp, rng, out, &n_out);   // 1 .. k+1 new tokens
 */
#ifndef SL_LAB_SPECULATIVE_H
#define SL_LAB_SPECULATIVE_H

#include "core/rng.h"
#include "lab/constrain.h"
#include "lab/sample.h"
#include "seq/model.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_speculative sl_speculative;

/* target and draft: token in, logits out, step mode, the same vocabulary (SL_EINVAL
 * otherwise, with both sizes in the message); k in 1..64. The models are borrowed. */
int sl_speculative_new(sl_model *target, sl_model *draft, int k, sl_speculative **out);
void sl_speculative_free(sl_speculative *s);

/* The prompt (n >= 1 tokens in total before the first round; may be called several times). */
int sl_speculative_feed(sl_speculative *s, const int32_t *tok, int n);

/* One round: writes 1..k+1 tokens to out (room for k+1) and their number to *n_out. Near a
 * bounded context (max_len) k shrinks to what fits; SL_ESHAPE "context full" when not even one
 * more token fits. */
int sl_speculative_round(sl_speculative *s, const sl_sampler *smp, sl_rng *rng, int32_t *out, int *n_out);

/* how many more tokens fit before the context is full (0: no round is possible; -1: unbounded) */
long sl_speculative_room(const sl_speculative *s);

/* Constrained speculative decoding (lab/constrain.h): before each round, the constraint (in the
 * state after every committed token) and the number of tokens still to generate (remaining; < 0:
 * no budget). The draft's and the target's distributions are both masked at each position by
 * sl_constraint_mask_budget with the budget left there, so the tokens stay in the language and
 * are distributed as constrained sampling of the target alone (greedy: its constrained greedy
 * text). A round then writes 0 tokens when nothing may follow; the constraint is left in the
 * state after the round's tokens. c NULL: unconstrained. */
void sl_speculative_constrain(sl_speculative *s, sl_constraint *c, long remaining);

typedef struct {
    long rounds;           /* verification passes */
    long drafted;          /* tokens proposed by the draft */
    long accepted;         /* proposals accepted */
    long emitted;          /* tokens produced (accepted + one per round) */
    long target_positions; /* positions the target ran (verification + recomputation) */
    long draft_positions;  /* positions the draft ran */
    double target_seconds, draft_seconds;
} sl_speculative_stats;

void sl_speculative_get_stats(const sl_speculative *s, sl_speculative_stats *st);

#ifdef __cplusplus
}
#endif
#endif
