/* lab/trainer.h — gradient training of any SL_CAP_GRAD model on any task.
 *
 * Per step: lr from the schedule; a batch from the task's train split; forward; task loss;
 * backward; finiteness check (a non-finite loss or gradient stops the run with a message and
 * keeps the last good checkpoint); global-norm clipping; AdamW (or SGD) step. Every
 * eval_every steps and at the end: validation metric. Every ckpt_every steps and at the end:
 * OUT/checkpoint.safetensors; at the end also OUT/model.safetensors (weights + spec).
 * OUT/log.csv gets one row per logged step:
 *   step,seconds,lr,train_loss,val_loss,val_metric,tokens_per_s
 * Resuming from OUT/checkpoint.safetensors continues bit-identically (same seed, threads).
 * Gradient accumulation (accum > 1): a step samples one batch of accum * batch sequences and
 * runs it as accum forward/backward passes of `batch` sequences, the loss normalised over the
 * whole step's batch, so the update is that of the big batch up to the order of the sums.
 * Data parallel (dist with K > 1 ranks): every rank samples the same step batch from the same
 * stream and runs its share of each micro-batch's rows; the gradients are summed across ranks
 * in rank order and every rank takes the same optimizer step (docs/distributed.md).
 * A time budget (time_budget) ends the run early as if its last step had come; resuming a run
 * whose seconds already reach its budget is an error (give a larger budget).
 */
#ifndef SL_LAB_TRAINER_H
#define SL_LAB_TRAINER_H

#include "core/optim.h"
#include "core/safetensors.h"
#include "lab/dist.h"
#include "lab/tasks.h"
#include "seq/model.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    long steps;         /* total steps of the run (the schedule decays over sched.decay_steps) */
    long stop_after;    /* > 0: stop after this step as if interrupted (checkpoint, no final eval) */
    double time_budget; /* > 0: end the run at the first step boundary where its seconds (log.csv's
                            * column, counted over resumes) reach this: final eval, log row,
                            * checkpoint and model as at the last step */
    int batch;          /* sequences per forward pass (per micro-batch) */
    int accum;          /* micro-batches per optimizer step (0 or 1: none): a step's update is that of
                         * one batch of accum * batch sequences (gradient accumulation) */
    sl_schedule sched;
    sl_optim_config opt;
    double clip;     /* global-norm clip, <= 0 off */
    long eval_every; /* 0: only at the end */
    int eval_batches;
    long ckpt_every; /* 0: only at the end */
    long log_every;
    uint64_t seed;
    int threads;
    const char *out_dir;
    int progress;               /* 1 auto (TTY), 2 force, 0 off */
    const char *const *meta_kv; /* extra checkpoint metadata pairs (model, task, ...) */
    int n_meta;
    const sl_dist *dist; /* data-parallel ranks (lab/dist.h), NULL: this process alone */
    int ckpt_blocks;     /* gradient checkpointing every K blocks (sl_model_set_checkpoint), 0 off */
    int no_replicas;     /* 1: only models with their own batch slices split the batch over threads
                                  * (seqlab train --batch-slices native); 0 (default): any model, on replicas
                                  * (lab/replicas.h) */
} sl_train_config;

typedef struct {
    long step;
    double seconds;
    double train_loss;   /* mean over the last logged interval */
    sl_eval_result eval; /* last evaluation */
    int budget_hit;      /* the run ended on its time budget before cfg->steps */
    double comm_seconds; /* data-parallel: seconds in the gradient allreduce */
    double wait_seconds; /* data-parallel: seconds in the per-step vote (waiting for the slowest rank) */
} sl_train_result;

void sl_train_defaults(sl_train_config *c);

/* The run configuration as checkpoint metadata, so --resume and eval can rebuild it: model and
 * task specs, schedule, optimizer, intervals, seed, time budget and (character tasks) the
 * alphabet in hex, and the model's canonical spec (model_canonical, lab/registry.h; left out
 * when the spec has none or it is longer than 4 KiB). sl_train_meta_fill fills mt (kv: mt->n key/value pairs, pointing into mt and
 * the given strings; accum only when > 1 and checkpoint_blocks only when > 0, so runs without
 * them write what they always did);
 * sl_train_config_from_meta reads the training fields back, each
 * range-checked (a hostile file is refused, never converted out of range). */
#define SL_TRAIN_META_N 23
typedef struct {
    char val[SL_TRAIN_META_N][96];
    const char *kv[2 * SL_TRAIN_META_N];
    char alpha[520];
    char canon[4096];
    int n;
} sl_train_meta;
void sl_train_meta_fill(sl_train_meta *mt, const char *model, const char *task, const sl_train_config *c, const sl_task *t);
int sl_train_config_from_meta(const sl_safetensors *st, sl_train_config *c);

/* The seed of the evaluation batches for a run with this seed (the one eval-seed policy). */
uint64_t sl_train_eval_seed(uint64_t seed);

/* One batch's forward and backward as the trainer runs them. A model with batch slices
 * (seq/model.h: the transformer, an lm:/seq: wrapper whose every mixer has them) runs as k
 * slices of the batch on k threads when the run has k > 1 threads and the batch at least k
 * sequences (sl_model_forward_slices / sl_model_backward_slices, private gradients summed in
 * slice order: the same sums whatever the machine). Any other model does the same on replicas
 * (lab/replicas.h) when the pass's `replicas` is set (seqlab train --batch-slices any) and
 * sl_replicas_ok holds; otherwise, or with one thread, it runs sl_model_forward /
 * sl_model_backward, threaded inside its kernels. The gradients equal the unsliced pass's up to
 * the order of the sums over the batch. sl_train_backward follows sl_train_forward on the same
 * pass; dx may be NULL. sl_train_pass_free releases the private gradients and the replicas. */
struct sl_replicas;
typedef struct {
    int k;                   /* slices of the last forward, 0: unsliced */
    int B;                   /* its batch */
    sl_buf gpriv;            /* (k-1, P->total) private gradients, zero between passes */
    int replicas;            /* 1: models without slice entries slice on replicas */
    struct sl_replicas *rep; /* made on the first sliced forward, for rep_model */
    const sl_model *rep_model;
    int on_rep; /* the last forward ran on the replicas */
} sl_train_pass;
int sl_train_forward(sl_train_pass *tp, sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T);
int sl_train_backward(sl_train_pass *tp, sl_model *m, const float *dy, float *dx);
void sl_train_pass_free(sl_train_pass *tp);

/* Memory accounting (issue #21 item 6, seqlab train --dry-run): what a run of the model made
 * from spec on task t with cfg (batch, accum, threads) holds at its peak, in bytes:
 *   params, grads       P->total floats each (the model's count: params_n);
 *   optim               the optimizer's two moment buffers (AdamW; SGD allocates them too);
 *   buffers             the trainer's: the step's batch (accum * batch rows), outputs, output
 *                       gradients and probabilities of a micro-batch, the evaluation's batch
 *                       and outputs, and the batch slices' private gradients (threads > 1);
 *   act                 activations at (batch, T) with checkpointing every K blocks (0: off):
 *                       the peak of the bytes the models' arenas hold (seq/model.h,
 *                       sl_arena_stats) over one forward and backward of a fresh model on 1
 *                       and on 2 sampled sequences, extrapolated linearly in the batch
 *                       (act(B) = a1 + (B - 1) (a2 - a1): every cache is some rows times a
 *                       per-row size, plus parts that do not depend on B, such as an SSM
 *                       kernel). Caches outside arenas and transient mallocs are not counted.
 * sl_train_memory_act probes one K; sl_train_memory fills the rest (act for cfg->ckpt_blocks). */
typedef struct {
    size_t params_n;
    size_t params, grads, optim, buffers, act;
} sl_train_mem;
int sl_train_memory_act(const char *spec, sl_task *t, const sl_train_config *cfg, int K, size_t *act);
int sl_train_memory(const char *spec, sl_task *t, const sl_train_config *cfg, sl_train_mem *out);

/* resume: path of a checkpoint to continue from, or NULL for a fresh run (then the model
 * must already be initialised). */
int sl_train(sl_model *m, sl_task *t, const sl_train_config *cfg, const char *resume, sl_train_result *res);

#ifdef __cplusplus
}
#endif
#endif
