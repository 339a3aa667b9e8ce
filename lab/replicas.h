/* lab/replicas.h — batch slices for any model (issue #16 item 4): the trainer splits a batch
 * into k slices of whole sequences, one per thread, for a model that has no slice entries of
 * its own (seq/model.h: attention, the transformers and the LM wrapper over such mixers do).
 *
 * Slice 0 runs on the model itself; slices 1..k-1 run on replicas: models built from the same
 * canonical spec whose parameter tables borrow the model's data block (sl_params_alloc_shared),
 * so they always hold its current weights, and keep their own caches, workspaces and gradient
 * blocks. Slice s takes sequences [B*s/k, B*(s+1)/k). After backward, the replicas' gradients are
 * added to the model's in slice order and zeroed, so the sums do not depend on the thread count
 * (they differ from the unsliced pass only in the order of the batch sums). Inside a slice every
 * kernel runs single-threaded (the slices are OpenMP's outer level).
 *
 *   sl_replicas_ok(m)      1 if m can be replicated now: it was built from a spec (m->spec),
 *                          trains by gradient on an allocated table, no dropout is on while
 *                          training (each slice would draw its own masks), no batch of packed
 *                          rows is set and no checkpointing;
 *   sl_replicas_alloc      the k-1 replicas of m (k >= 2); m must outlive them;
 *   sl_replicas_forward    as sl_model_forward(m, ...) over the batch, B >= k;
 *   sl_replicas_backward   as sl_model_backward(m, dy, dx) after it: accumulates into m->P->grad.
 */
#ifndef SL_LAB_REPLICAS_H
#define SL_LAB_REPLICAS_H

#include "seq/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_replicas sl_replicas;

int sl_replicas_ok(const sl_model *m);
int sl_replicas_alloc(sl_model *m, int k, sl_replicas **out);
void sl_replicas_free(sl_replicas *r);
int sl_replicas_k(const sl_replicas *r);
int sl_replicas_forward(sl_replicas *r, const float *x, const int32_t *tok, float *y, int B, int T);
int sl_replicas_backward(sl_replicas *r, const float *dy, float *dx);

#ifdef __cplusplus
}
#endif
#endif
