/* lab/dpo.h — Direct Preference Optimization (Rafailov et al. 2023) as a task.
 *
 * `dpo:data=FILE.jsonl,beta=B[,alphabet=HEX,seq_len=T,val_frac=F]`: every line of FILE is a
 * JSON object {"prompt": "...", "chosen": "...", "rejected": "..."}. Text maps to character
 * ids through the alphabet (given, or by `--init-from` the base's, as for charlm). A batch of
 * B rows holds B/2 pairs: row 2i is prompt+chosen, row 2i+1 prompt+rejected, right-padded to
 * T; the targets are the next characters on the response positions, -1 elsewhere.
 *
 * With s = log pi(response | prompt) (the sum of the policy's log-softmax at the targets) and
 * r the same under a frozen reference model,
 *     z = beta * ((s_c - r_c) - (s_r - r_r)),   loss = mean over pairs of -log sigmoid(z)
 *     dloss/ds_c = -beta sigmoid(-z) / P = -dloss/ds_r,
 * and ds reaches the logits as ds * (onehot(target) - softmax). The metric is the reward
 * accuracy: the fraction of pairs with z > 0 (0.5 at the start, where policy = reference).
 * The reference (a copy of the initial policy: `seqlab train --init-from SRC` loads SRC a
 * second time) is run by the task's sample(), which keeps the pairs' r values for the loss of
 * that batch. The loss works on logits only, so any token model can be the policy.
 */
#ifndef SL_LAB_DPO_H
#define SL_LAB_DPO_H

#include "lab/tasks.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sl_task_entry sl_tasks_finetune[];

int sl_dpo_is(const sl_task *t);
/* Give the task its reference model (the task owns it from here on). */
int sl_dpo_set_reference(sl_task *t, sl_model *ref);

/* The loss on its own: logits y (B, T, V) of B/2 (chosen, rejected) row pairs, targets (B, T)
 * with -1 where unscored, reference log-probabilities ref (B) per row; writes dy (B, T, V) when
 * non-NULL (zeroed first), the number of pairs with positive margin to *correct. Returns the
 * mean loss. scratch: (B, T, V) floats. */
double sl_dpo_loss(const float *y, const int32_t *target, const double *ref, int B, int T, int V, double beta, float *dy,
                   float *scratch, long *correct);

/* The sequence log-probabilities sum_t log softmax(y_t)[target_t] of each row: lp (B). */
void sl_dpo_seq_logprob(double *lp, const float *y, const int32_t *target, int B, int T, int V);

#ifdef __cplusplus
}
#endif
#endif
