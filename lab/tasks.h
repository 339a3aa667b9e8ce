/* lab/tasks.h — task generators, deterministic from a seed, and their metrics.
 *
 * A task is created from a spec string like models are ("copy:delay=50,length=10",
 * "adding:length=200", "charlm:corpus=FILE"). It draws batches from a train or validation
 * split with a caller-provided rng, and states its metric:
 *   copy     tokens -> tokens; accuracy on the recalled positions (targets elsewhere are -1)
 *   adding   real (value, marker) -> real; MSE on the last position (always answering 1 scores ~0.167)
 *   charlm   tokens -> tokens; validation loss (nats/char) and perplexity; byte vocabulary of the corpus.
 *            Documents: a directory corpus has a file per document (the default corpus, the
 *            licence texts, likewise), `doc_sep=HEX` cuts a file at a byte string; `pack=1` makes
 *            batches packed rows of whole documents (lab/pack.h), the validation split being the
 *            last documents.
 */
#ifndef SL_LAB_TASKS_H
#define SL_LAB_TASKS_H

#include "core/rng.h"
#include "seq/model.h"
#include "seq/spec.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int B, T;
    int32_t *tok;    /* (B,T) token input, or NULL */
    float *x;        /* (B,T,d_in) real input, or NULL */
    int32_t *target; /* (B,T) token targets, -1 = not scored (token output tasks) */
    float *y;        /* (B,T,d_out) real targets (real output tasks) */
    float *mask;     /* (B,T) 1 where scored (real output tasks) */
    int32_t *pos;    /* (B,T) packed rows (tasks with `packed`): each token's position in its
                        * document, for sl_model_set_docs; NULL otherwise */
} sl_batch;

typedef struct sl_task sl_task;
struct sl_task {
    const char *name;
    char *spec; /* the spec string it was made from */
    int token_in, token_out;
    int vocab;          /* token tasks: vocabulary size */
    int d_in, d_out;    /* real tasks */
    int T;              /* sequence length of a batch */
    int packed;         /* batches are packed rows of documents (b->pos is set; lab/pack.h) */
    const char *metric; /* "accuracy", "mse" or "val_loss" */
    int higher_better;
    void *ctx;
    int (*sample)(sl_task *t, int split, sl_rng *rng, sl_batch *b); /* split 0 train, 1 validation */
    void (*destroy)(sl_task *t);
    /* token tasks over text: id -> byte (NULL otherwise) */
    const unsigned char *alphabet;
    /* token tasks over a corpus: the training split as one id stream, for models that are
     * fitted (n-gram) rather than trained by gradient; NULL otherwise */
    const int32_t *train_stream;
    size_t n_train_stream;
    /* a task with a loss of its own (lab/dpo.h), used by sl_task_loss; NULL for the usual */
    double (*loss)(const sl_task *t, const sl_batch *b, const float *y, float *dy, float *scratch, long *correct, long *counted);
};

typedef struct {
    const char *name;
    const char *help;
    const sl_spec_key *keys;
    const char *seq_len_key; /* key that `--seq-len` sets, or NULL when T follows from other keys */
    const char *corpus_key;  /* key that `--corpus` sets, or NULL */
    int (*create)(const sl_spec *s, sl_task **out);
} sl_task_entry;

const sl_task_entry *sl_task_entry_at(int i); /* NULL past the end */
const sl_task_entry *sl_task_find(const char *name);
int sl_task_create(const char *spec, sl_task **out);
void sl_task_free(sl_task *t);

int sl_batch_alloc(sl_batch *b, const sl_task *t, int B);
void sl_batch_free(sl_batch *b);

/* Loss of model outputs y (B,T,d_out) on a batch; writes dy = dLoss/dy (zeroed first) when
 * dy != NULL. Token tasks: mean cross-entropy over scored positions; real: masked MSE.
 * `correct`/`counted` (may be NULL) receive the argmax accuracy counts (token tasks). */
double sl_task_loss(const sl_task *t, const sl_batch *b, const float *y, float *dy, float *scratch, long *correct, long *counted);

typedef struct {
    double loss;   /* mean loss over the validation batches */
    double metric; /* accuracy, mse or val_loss (as t->metric says) */
    double ppl;    /* exp(loss) for token tasks */
    long counted;  /* scored positions */
} sl_eval_result;

/* SL_OK if model m fits task t: the same token/real input and output, input width = the
 * task's vocabulary (token input) or d_in, output width = its vocabulary or d_out. Otherwise
 * SL_EINVAL / SL_ESHAPE with a message naming both widths. Training and evaluation check it. */
int sl_task_check_model(const sl_task *t, const sl_model *m);

/* Evaluate on n_batches validation batches of size B drawn from a fixed seed, so every
 * evaluation of a run sees the same data. Fails with sl_task_check_model's error when the
 * model does not fit the task. */
int sl_task_eval(sl_task *t, sl_model *m, int n_batches, int B, uint64_t seed, sl_eval_result *res);

/* The corpus used by charlm when none is given: every file under /usr/share/common-licenses
 * concatenated in name order. Returns a malloc'ed buffer. */
int sl_default_corpus(unsigned char **buf, size_t *n);
/* The regular files of a directory concatenated in name order; *off (malloc'ed, *n_docs + 1
 * entries, may be NULL) gets where each file starts. */
int sl_read_dir_docs(const char *dir, unsigned char **buf, size_t *n, size_t **off, size_t *n_docs);

#ifdef __cplusplus
}
#endif
#endif
