/* lab/trainer.c — the training loop (see trainer.h). */
#include "lab/trainer.h"
#include "lab/replicas.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/util.h"
#include "lab/registry.h"
#include "seq/layers.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char LOG_HEADER[] = "step,seconds,lr,train_loss,val_loss,val_metric,tokens_per_s\n";

/* the run configuration as checkpoint metadata, so --resume and eval can rebuild it */
#define N_META SL_TRAIN_META_N

void sl_train_meta_fill(sl_train_meta *mt, const char *model, const char *task, const sl_train_config *c, const sl_task *t)
{
    static const char *keys[N_META] = {"model",
                                       "task",
                                       "batch",
                                       "lr",
                                       "min_lr",
                                       "warmup",
                                       "decay_steps",
                                       "cosine",
                                       "optimizer",
                                       "weight_decay",
                                       "beta1",
                                       "beta2",
                                       "clip",
                                       "eval_every",
                                       "eval_batches",
                                       "ckpt_every",
                                       "seed",
                                       "log_every",
                                       "alphabet",
                                       "time_budget",
                                       "model_canonical",
                                       "accum",
                                       "checkpoint_blocks"};
    snprintf(mt->val[2], 96, "%d", c->batch);
    snprintf(mt->val[3], 96, "%.9g", c->sched.lr);
    snprintf(mt->val[4], 96, "%.9g", c->sched.min_lr);
    snprintf(mt->val[5], 96, "%ld", c->sched.warmup);
    snprintf(mt->val[6], 96, "%ld", c->sched.decay_steps);
    snprintf(mt->val[7], 96, "%d", c->sched.cosine);
    snprintf(mt->val[8], 96, "%s", c->opt.kind == SL_OPT_SGD ? "sgd" : "adamw");
    snprintf(mt->val[9], 96, "%.9g", c->opt.weight_decay);
    snprintf(mt->val[10], 96, "%.9g", c->opt.beta1);
    snprintf(mt->val[11], 96, "%.9g", c->opt.beta2);
    snprintf(mt->val[12], 96, "%.9g", c->clip);
    snprintf(mt->val[13], 96, "%ld", c->eval_every);
    snprintf(mt->val[14], 96, "%d", c->eval_batches);
    snprintf(mt->val[15], 96, "%ld", c->ckpt_every);
    snprintf(mt->val[16], 96, "%llu", (unsigned long long)c->seed);
    snprintf(mt->val[17], 96, "%ld", c->log_every);
    snprintf(mt->val[19], 96, "%.9g", c->time_budget);
    snprintf(mt->val[21], 96, "%d", c->accum);
    snprintf(mt->val[22], 96, "%d", c->ckpt_blocks);
    char *canon = NULL;
    mt->canon[0] = '\0';
    if (!sl_model_spec_canonical(model, &canon) && strlen(canon) < sizeof mt->canon)
        snprintf(mt->canon, sizeof mt->canon, "%s", canon);
    free(canon);
    int n = 0;
    for (int i = 0; i < N_META; i++) {
        if ((i == 18 && !t->alphabet) || (i == 20 && !mt->canon[0]) || (i == 21 && c->accum <= 1) ||
            (i == 22 && c->ckpt_blocks <= 0))
            continue;
        mt->kv[2 * n] = keys[i];
        mt->kv[2 * n + 1] = i == 0 ? model : i == 1 ? task : i == 18 ? mt->alpha : i == 20 ? mt->canon : mt->val[i];
        n++;
    }
    mt->n = n;
    mt->alpha[0] = '\0';
    if (t->alphabet) /* hex, as src/run.c's run_unhex reads it back */
        for (int i = 0; i < t->vocab && i < 256; i++) snprintf(mt->alpha + 2 * i, 3, "%02x", t->alphabet[i]);
}

/* read the run configuration back from a checkpoint */
int sl_train_config_from_meta(const sl_safetensors *st, sl_train_config *c)
{
    const char *v;
    /* every value is range-checked before it is converted (a hostile file must not reach a
     * double-to-integer conversion out of range); the ranges are the command line's */
#define GETD(key, lo, hi, dst) \
    do { \
        double d_; \
        int rc_ = sl_checkpoint_meta_double(st, key, lo, hi, &d_); \
        if (rc_) return rc_; \
        dst = d_; \
    } while (0)
#define GETL(key, lo, hi, dst) \
    do { \
        long l_; \
        int rc_ = sl_checkpoint_meta_long(st, key, lo, hi, &l_); \
        if (rc_) return rc_; \
        dst = l_; \
    } while (0)
    GETL("batch", 1, 1 << 20, c->batch);
    GETD("lr", 0, 100, c->sched.lr);
    GETD("min_lr", 0, 100, c->sched.min_lr);
    GETL("warmup", 0, 1L << 40, c->sched.warmup);
    GETL("decay_steps", 0, 1L << 40, c->sched.decay_steps);
    GETL("cosine", 0, 1, c->sched.cosine);
    if (!(v = sl_safetensors_meta(st, "optimizer"))) return sl_error(SL_EFORMAT, "checkpoint lacks 'optimizer'");
    c->opt = sl_optim_defaults(strcmp(v, "sgd") ? SL_OPT_ADAMW : SL_OPT_SGD);
    GETD("weight_decay", 0, 10, c->opt.weight_decay);
    GETD("beta1", 0, 1, c->opt.beta1);
    GETD("beta2", 0, 1, c->opt.beta2);
    GETD("clip", 0, 1e9, c->clip);
    GETL("eval_every", 0, 1L << 40, c->eval_every);
    GETL("eval_batches", 1, 1 << 20, c->eval_batches);
    GETL("ckpt_every", 0, 1L << 40, c->ckpt_every);
    GETL("log_every", 0, 1L << 40, c->log_every);
    if (!(v = sl_safetensors_meta(st, "seed"))) return sl_error(SL_EFORMAT, "checkpoint lacks 'seed'");
    char *end;
    errno = 0;
    c->seed = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-')
        return sl_error(SL_EFORMAT, "checkpoint metadata 'seed' = '%.64s' is not a seed", v);
    c->time_budget = 0.0; /* absent before it existed */
    if (sl_safetensors_meta(st, "time_budget")) GETD("time_budget", 0, 1e12, c->time_budget);
    c->accum = 1; /* absent: no accumulation */
    if (sl_safetensors_meta(st, "accum")) GETL("accum", 1, 1 << 20, c->accum);
    c->ckpt_blocks = 0; /* absent: no checkpointing */
    if (sl_safetensors_meta(st, "checkpoint_blocks")) GETL("checkpoint_blocks", 1, 1 << 20, c->ckpt_blocks);
#undef GETD
#undef GETL
    return SL_OK;
}

#undef N_META

/* The evaluation data's seed: one fixed offset from the run's seed, so every evaluation of a run
 * (during training, at the end, `seqlab eval`) sees the same batches and the training stream is
 * not disturbed. */
uint64_t sl_train_eval_seed(uint64_t seed) { return seed + 7919; }

void sl_train_defaults(sl_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->steps = 1000;
    c->batch = 16;
    c->sched.cosine = 1;
    c->sched.lr = 3e-3f;
    c->sched.min_lr = 3e-4f;
    c->sched.warmup = 50;
    c->sched.decay_steps = c->steps;
    c->opt = sl_optim_defaults(SL_OPT_ADAMW);
    c->clip = 1.0;
    c->eval_every = 100;
    c->eval_batches = 8;
    c->ckpt_every = 500;
    c->log_every = 10;
    c->seed = 1;
    c->accum = 1;
    c->progress = 1;
}

int sl_train_forward(sl_train_pass *tp, sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    const int th = sl_threads_get();
    tp->k = th > 1 && B >= th && sl_model_slice_ok(m) ? th : 0;
    tp->B = B;
    tp->on_rep = 0;
    if (tp->k) return sl_model_forward_slices(m, x, tok, y, B, T, tp->k);
    if (tp->replicas && th > 1 && B >= th && sl_replicas_ok(m)) {
        if (tp->rep && (tp->rep_model != m || sl_replicas_k(tp->rep) != th)) {
            sl_replicas_free(tp->rep);
            tp->rep = NULL;
        }
        int rc;
        if (!tp->rep && (rc = sl_replicas_alloc(m, th, &tp->rep))) return rc;
        tp->rep_model = m;
        tp->on_rep = 1;
        return sl_replicas_forward(tp->rep, x, tok, y, B, T);
    }
    return sl_model_forward(m, x, tok, y, B, T);
}

int sl_train_backward(sl_train_pass *tp, sl_model *m, const float *dy, float *dx)
{
    if (tp->on_rep) return sl_replicas_backward(tp->rep, dy, dx);
    return tp->k ? sl_model_backward_slices(m, dy, dx, tp->B, tp->k, &tp->gpriv) : sl_model_backward(m, dy, dx);
}

void sl_train_pass_free(sl_train_pass *tp)
{
    sl_buf_free(&tp->gpriv);
    sl_replicas_free(tp->rep);
    tp->rep = NULL;
    tp->k = tp->on_rep = 0;
}

/* Keep the log's header and the rows of steps <= upto (a resumed run rewrites what came
 * after its checkpoint), then open it for appending. */
static int open_log(const char *path, long upto, FILE **out)
{
    void *buf = NULL;
    size_t n = 0;
    sl_afile a;
    int rc;
    if (upto > 0 && sl_read_file(path, (size_t)1 << 30, &buf, &n) == SL_OK) {
        if ((rc = sl_afile_open(&a, path))) {
            free(buf);
            return rc;
        }
        /* only whole lines (a run killed mid-row leaves a part of one), and steps rising */
        char *line = buf, *end = (char *)buf + n;
        int first = 1;
        long prev = 0;
        while (line < end) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            if (!nl) break;
            size_t len = (size_t)(nl - line) + 1;
            char *e;
            long step = strtol(line, &e, 10);
            if (first || (e != line && *e == ',' && step > prev && step <= upto)) {
                fwrite(line, 1, len, a.f);
                if (!first) prev = step;
            }
            first = 0;
            line += len;
        }
        free(buf);
        if ((rc = sl_afile_commit(&a))) return rc;
        *out = fopen(path, "a");
    } else {
        free(buf);
        if ((rc = sl_afile_open(&a, path))) return rc;
        fputs(LOG_HEADER, a.f);
        if ((rc = sl_afile_commit(&a))) return rc;
        *out = fopen(path, "a");
    }
    if (!*out) return sl_error(SL_EIO, "cannot append to %s", path);
    return SL_OK;
}

/* The checkpoint carries the run's metadata plus the partial train-loss sum of the current
 * log interval, so a resumed run logs the same numbers as an uninterrupted one. */
static int save_ckpt(const char *dir, const sl_model *m, const sl_optim *o, const sl_rng *rng, long step, double secs,
                     const sl_train_config *cfg, double loss_acc, long n_acc)
{
    char path[4096], acc[64], nacc[32];
    const char **kv = malloc(sizeof(char *) * (size_t)(2 * cfg->n_meta + 4));
    if (!kv) return sl_error(SL_ENOMEM, "out of memory");
    for (int i = 0; i < 2 * cfg->n_meta; i++) kv[i] = cfg->meta_kv[i];
    snprintf(acc, sizeof acc, "%a", loss_acc); /* hex float: exact */
    snprintf(nacc, sizeof nacc, "%ld", n_acc);
    kv[2 * cfg->n_meta] = "log_loss_acc";
    kv[2 * cfg->n_meta + 1] = acc;
    kv[2 * cfg->n_meta + 2] = "log_n_acc";
    kv[2 * cfg->n_meta + 3] = nacc;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    int rc = sl_checkpoint_write(path, m->P, o, rng, step, secs, kv, cfg->n_meta + 2);
    free(kv);
    return rc ? sl_error_wrap(rc, "writing %s", path) : SL_OK;
}

/* A run killed while writing one of its files leaves that write's temporary
 * (".NAME.tmp.XXXXXX", see core/fileio.h) beside the intact file: a run starting or resuming
 * in the directory removes those of its own three files (one trainer per directory). */
static void remove_stale_temps(const char *dir)
{
    static const char *const own[] = {".log.csv.tmp.", ".checkpoint.safetensors.tmp.", ".model.safetensors.tmp."};
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)))
        for (size_t i = 0; i < sizeof own / sizeof *own; i++)
            if (!strncmp(e->d_name, own[i], strlen(own[i])) && strlen(e->d_name) == strlen(own[i]) + 6) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
    closedir(d);
}

/* Name the first non-finite tensor after a non-finite loss: a parameter (in table order),
 * else the model's output y (n floats), else none (the loss itself overflowed). */
static void first_nonfinite(const sl_model *m, const float *y, size_t n, char *out, size_t cap)
{
    if (sl_params_check_finite(m->P, 0)) {
        snprintf(out, cap, "%s", sl_errmsg());
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(y[i])) {
            snprintf(out, cap, "the model's output (element %zu is %g; every parameter is finite)", i, y[i]);
            return;
        }
    snprintf(out, cap, "none (parameters and outputs are finite; the loss itself overflowed)");
}

/* The divergence message: the step, what went non-finite, and what is kept. */
static int diverged(const sl_train_config *cfg, long step, long last_ckpt, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int diverged(const sl_train_config *cfg, long step, long last_ckpt, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (last_ckpt >= 0)
        return sl_error(SL_ENAN, "diverged at step %ld: %s; stopped, the last good checkpoint (step %ld) is kept in %s", step,
                        what, last_ckpt, cfg->out_dir);
    return sl_error(SL_ENAN, "diverged at step %ld: %s; stopped before any checkpoint was written (nothing to resume)", step,
                    what);
}

/* ---- a step's batch: sampled whole, run in parts (micro-batches, and ranks' shares) ---- */

/* rows [r0, r1) of b as a batch of its own (pointers into b) */
static sl_batch batch_rows(const sl_batch *b, const sl_task *t, int r0, int r1)
{
    sl_batch v = *b;
    const size_t o = (size_t)r0 * b->T;
    v.B = r1 - r0;
    if (b->tok) v.tok = b->tok + o;
    if (b->x) v.x = b->x + o * t->d_in;
    if (b->target) v.target = b->target + o;
    if (b->y) v.y = b->y + o * t->d_out;
    if (b->mask) v.mask = b->mask + o;
    if (b->pos) v.pos = b->pos + o;
    return v;
}

/* The weight sl_task_loss normalises a batch's loss by: the scored positions (token tasks), or
 * the mask's sum times d_out (real tasks), summed in the same order. */
static double batch_weight(const sl_task *t, const sl_batch *b)
{
    const size_t N = (size_t)b->B * b->T;
    if (t->token_out) {
        long c = 0;
        for (size_t n = 0; n < N; n++) c += b->target[n] >= 0;
        return (double)c;
    }
    double w = 0.0;
    for (size_t n = 0; n < N; n++)
        if (b->mask[n] != 0.0f) w += b->mask[n];
    return w * t->d_out;
}

/* One part of a step's batch: returns its loss (the mean over its own weight, *w_part) and
 * writes dy of the whole step's loss, normalised by the step's weight w_step, so dy holds the
 * numbers sl_task_loss writes for these rows when it is given the whole batch. */
static double part_loss(const sl_task *t, const sl_batch *v, const float *y, float *dy, float *scratch, double w_step,
                        double *w_part)
{
    const int N = v->B * v->T;
    double loss = sl_task_loss(t, v, y, NULL, scratch, NULL, NULL); /* token tasks: probabilities in scratch */
    *w_part = batch_weight(t, v);
    memset(dy, 0, (size_t)N * (t->token_out ? t->vocab : t->d_out) * sizeof(float));
    if (w_step > 0) {
        if (t->token_out) sl_xent_backward(dy, scratch, v->target, N, t->vocab, 1.0f / (float)w_step);
        else sl_mse_backward(dy, y, v->y, v->mask, N, t->d_out, (float)(1.0 / w_step));
    }
    return loss;
}

/* a fingerprint of a batch's inputs and targets */
static uint64_t batch_hash(const sl_task *t, const sl_batch *b)
{
    const size_t N = (size_t)b->B * b->T;
    uint64_t h = SL_DIST_HASH0;
    if (b->tok) h = sl_dist_hash(h, b->tok, N * sizeof(int32_t));
    if (b->x) h = sl_dist_hash(h, b->x, N * t->d_in * sizeof(float));
    if (b->target) h = sl_dist_hash(h, b->target, N * sizeof(int32_t));
    if (b->y) h = sl_dist_hash(h, b->y, N * t->d_out * sizeof(float));
    return h;
}

/* A rank's own dropout stream for a step: derived from the seed, the rank and the step, so a
 * run resumed with any number of ranks draws defined masks. */
static void rank_stream(sl_rng *r, uint64_t seed, int rank, long step)
{
    const uint64_t v[3] = {seed, (uint64_t)rank, (uint64_t)step};
    sl_rng_seed(r, sl_dist_hash(SL_DIST_HASH0, v, sizeof v));
}

/* ---- data-parallel checks: every rank learns the same verdict ---- */

/* The run directory must be the same directory for every rank: rank 0 writes a marker file
 * named by a token it broadcasts, every rank looks for it. */
static int dist_check_dir(const sl_dist *d, const char *dir)
{
    char path[4096];
    uint64_t tok[2] = {(uint64_t)getpid(), (uint64_t)(sl_now() * 1e9)};
    int rc = SL_OK;
    if (sl_dist_rank(d) == 0) {
        snprintf(path, sizeof path, "%s/.dist-check-%016llx", dir,
                 (unsigned long long)sl_dist_hash(SL_DIST_HASH0, tok, sizeof tok));
        FILE *f = fopen(path, "w");
        if (!f || fclose(f)) rc = sl_error(SL_EIO, "cannot write %s", path);
    }
    if ((rc = sl_dist_agree(d, rc))) return rc;
    if ((rc = sl_dist_bcast(d, tok, sizeof tok, 0))) return rc;
    snprintf(path, sizeof path, "%s/.dist-check-%016llx", dir, (unsigned long long)sl_dist_hash(SL_DIST_HASH0, tok, sizeof tok));
    struct stat st;
    if (sl_dist_rank(d) > 0 && stat(path, &st))
        rc = sl_error(SL_EIO,
                      "the run directory %s is not the one rank 0 writes (its marker %s is missing here): rank 0 writes "
                      "the log and checkpoints and every rank reads them on --resume, so --out must be on a file system "
                      "that every rank shares, at the same path",
                      dir, path);
    rc = sl_dist_agree(d, rc);
    if (sl_dist_rank(d) == 0) unlink(path);
    return rc;
}

/* Every rank must run the same run: the same configuration (the checkpoint metadata: model,
 * task, batch, schedule, seed ...), steps and accumulation, and the same parameters (after
 * initialisation or resume). A rank that differs from rank 0 stops every rank, naming what. */
#define FP_N 40
static int dist_check_same(const sl_dist *d, const sl_model *m, const sl_train_config *cfg)
{
    const int K = sl_dist_size(d);
    uint64_t mine[FP_N] = {0};
    const char *what[FP_N] = {0};
    char val[FP_N][128];
    int n = 0;
    for (int i = 0; i < cfg->n_meta && n < FP_N - 5; i++, n++) {
        mine[n] = sl_dist_hash(sl_dist_hash(SL_DIST_HASH0, cfg->meta_kv[2 * i], strlen(cfg->meta_kv[2 * i]) + 1),
                               cfg->meta_kv[2 * i + 1], strlen(cfg->meta_kv[2 * i + 1]));
        what[n] = cfg->meta_kv[2 * i];
        snprintf(val[n], sizeof val[n], "%s", cfg->meta_kv[2 * i + 1]);
    }
    const long nums[3] = {cfg->steps, cfg->stop_after, cfg->accum > 1 ? cfg->accum : 1};
    static const char *const num_names[3] = {"--steps", "--stop-after", "--accum"};
    for (int i = 0; i < 3; i++, n++) {
        mine[n] = sl_dist_hash(SL_DIST_HASH0, &nums[i], sizeof nums[i]);
        what[n] = num_names[i];
        snprintf(val[n], sizeof val[n], "%ld", nums[i]);
    }
    mine[n] = sl_dist_hash(SL_DIST_HASH0, &m->P->total, sizeof m->P->total);
    what[n] = "the parameter count";
    snprintf(val[n++], sizeof val[0], "%zu", m->P->total);
    mine[n] = sl_dist_hash(SL_DIST_HASH0, m->P->data, m->P->total * sizeof(float));
    what[n] = "the parameter values (initialisation or checkpoint)";
    snprintf(val[n], sizeof val[0], "hash %016llx", (unsigned long long)mine[n]);
    n++;
    uint64_t *all = malloc(sizeof mine * (size_t)K);
    if (!all) return sl_dist_agree(d, sl_error(SL_ENOMEM, "out of memory"));
    int rc = sl_dist_allgather(d, mine, all, sizeof mine);
    for (int r = 1; r < K && !rc; r++)
        for (int i = 0; i < FP_N; i++)
            if (all[(size_t)r * FP_N + i] != all[i]) {
                if (sl_dist_rank(d) == r || sl_dist_rank(d) == 0)
                    rc = sl_error(SL_EINVAL,
                                  "rank %d of %d and rank 0 disagree on %s (rank %d has '%.100s'): every rank must be started "
                                  "with the same arguments and see the same files",
                                  r, K, what[i] ? what[i] : "the configuration", sl_dist_rank(d), what[i] ? val[i] : "");
                else
                    rc = sl_error(SL_EINVAL,
                                  "rank %d of %d and rank 0 disagree on %s: every rank must be started with the same arguments "
                                  "and see the same files",
                                  r, K, what[i] ? what[i] : "the configuration");
                break;
            }
    free(all);
    return rc;
}
#undef FP_N

/* The replicas must still be bitwise equal (checked at every checkpoint). */
static int dist_check_replicas(const sl_dist *d, const sl_model *m, long step)
{
    const int K = sl_dist_size(d);
    uint64_t h = sl_dist_hash(SL_DIST_HASH0, m->P->data, m->P->total * sizeof(float)), *all = malloc(sizeof h * (size_t)K);
    if (!all) sl_dist_abort((sl_dist *)d, 1);
    int rc = sl_dist_allgather(d, &h, all, sizeof h);
    for (int r = 1; r < K && !rc; r++)
        if (all[r] != all[0])
            rc = sl_error(SL_EINVAL,
                          "after step %ld the parameters of rank %d differ from rank 0's: the replicas have diverged (a rank "
                          "computed differently)",
                          step, r);
    free(all);
    return rc;
}

int sl_train(sl_model *m, sl_task *t, const sl_train_config *cfg, const char *resume, sl_train_result *res)
{
    memset(res, 0, sizeof *res);
    const sl_dist *d = cfg->dist;
    const int K = sl_dist_size(d), rank = sl_dist_rank(d), R0 = rank == 0;
    const int A = cfg->accum > 1 ? cfg->accum : 1;
    const int whole = A == 1 && K == 1; /* the step's batch in one pass, as before accumulation */
    /* every rank votes on these (a rank built from other arguments may differ) */
    int rc = !(m->caps & SL_CAP_GRAD) ? sl_error(SL_EUNSUPPORTED, "%s is not trained by gradient", m->vt->kind)
                                      : sl_task_check_model(t, m);
    if (!rc && (cfg->batch <= 0 || cfg->steps < 0 || (long)cfg->batch * A > (1 << 24)))
        rc = sl_error(SL_EINVAL, "bad batch %d / steps %ld / accum %d", cfg->batch, cfg->steps, A);
    if (!rc && cfg->batch < K)
        rc =
            sl_error(SL_EINVAL, "--batch %d is smaller than the %d ranks: each rank takes a share of every batch", cfg->batch, K);
    if (!rc && (rc = sl_model_set_checkpoint(m, cfg->ckpt_blocks))) /* 0: off */
        sl_error_wrap(rc, "--checkpoint-blocks %d", cfg->ckpt_blocks);
    if (!rc && !whole && t->loss)
        rc = sl_error(SL_EUNSUPPORTED,
                      "task %s has a loss of its own over its whole batch: --accum and data-parallel ranks do not apply to it",
                      t->name);
    struct stat dir_st;
    int made_dir = 0;
    if (!rc && R0) {                                 /* only rank 0 writes into the run directory */
        made_dir = stat(cfg->out_dir, &dir_st) != 0; /* removed again if the run fails before a checkpoint */
        rc = sl_mkdirs(cfg->out_dir);
        if (!rc) remove_stale_temps(cfg->out_dir);
    }
    if ((rc = sl_dist_agree(d, rc))) return rc;
    if (K > 1 && (rc = dist_check_dir(d, cfg->out_dir))) return rc;
    sl_threads_set(cfg->threads);

    /* this rank's rows of every micro-batch of cfg->batch sequences */
    const int r0 = (int)((long)cfg->batch * rank / K), r1 = (int)((long)cfg->batch * (rank + 1) / K), mb = r1 - r0;
    sl_optim *o = sl_optim_alloc(&cfg->opt, m->P->total);
    sl_rng *rng = sl_rng_alloc(cfg->seed);                /* batches (and, alone, dropout): the same on every rank */
    sl_rng *drop = K > 1 ? sl_rng_alloc(cfg->seed) : rng; /* ranks: their own dropout stream */
    sl_batch b;
    memset(&b, 0, sizeof b);
    sl_train_pass pass = {.replicas = !cfg->no_replicas};
    float *y = NULL, *dy = NULL, *scratch = NULL;
    FILE *log = NULL;
    sl_progress prog;
    long step = 0, n_acc = 0, last_ckpt = -1; /* last_ckpt -1: no checkpoint in out_dir */
    double secs0 = 0.0, loss_acc = 0.0;
    if (!o || !rng || !drop) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto setup_done;
    }
    if (resume) {
        sl_safetensors *st;
        if ((rc = sl_checkpoint_open(resume, &st))) goto setup_done;
        rc = sl_checkpoint_restore(st, m->P, o, rng, &step, &secs0);
        /* the partial log interval: n_acc steps since the last log row, so at most `step` */
        if (!rc && sl_safetensors_meta(st, "log_loss_acc") && sl_safetensors_meta(st, "log_n_acc") &&
            !(rc = sl_checkpoint_meta_double(st, "log_loss_acc", -1e300, 1e300, &loss_acc)))
            rc = sl_checkpoint_meta_long(st, "log_n_acc", 0, step, &n_acc);
        sl_safetensors_free(st);
        if (rc) {
            sl_error_wrap(rc, "resuming from %s", resume);
            goto setup_done;
        }
        if (step > cfg->steps) {
            rc = sl_error(SL_EINVAL, "the run is already at step %ld, past --steps %ld", step, cfg->steps);
            goto setup_done;
        }
        if (cfg->time_budget > 0 && secs0 >= cfg->time_budget) {
            rc = sl_error(SL_EINVAL, "the run has used %.1f s of its %g s time budget; give a larger --time-budget to continue",
                          secs0, cfg->time_budget);
            goto setup_done;
        }
    }
    if ((rc = sl_batch_alloc(&b, t, cfg->batch * A))) goto setup_done;
    size_t ny = (size_t)mb * t->T * m->d_out;
    y = malloc(ny * sizeof(float));
    dy = malloc(ny * sizeof(float));
    scratch = malloc(ny * sizeof(float));
    if (!y || !dy || !scratch) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto setup_done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/log.csv", cfg->out_dir);
    if (R0) rc = open_log(path, step, &log);
setup_done:
    if (!(rc = sl_dist_agree(d, rc)) && K > 1) rc = dist_check_same(d, m, cfg);
    if (rc) goto done;

    sl_model_set_training(m, 1, drop);
    sl_progress_begin(&prog, stderr, cfg->steps, "train", cfg->progress == 2);
    if (!cfg->progress || !R0) prog.enabled = 0;
    double t0 = sl_now(), t_last = t0;
    long tokens_acc = 0;
    last_ckpt = resume ? step : -1;
    long stop = cfg->stop_after > 0 && cfg->stop_after < cfg->steps ? cfg->stop_after : cfg->steps;
    while (step < stop) {
        float lr = sl_schedule_lr(&cfg->sched, step);
        double loss = 0.0, w_step = 0.0;
        char what[600] = "";
        /* the step's whole batch (accum * batch sequences), the same on every rank */
        if ((rc = t->sample(t, 0, rng, &b))) goto vote;
        if (K > 1) rank_stream(drop, cfg->seed, rank, step);
        sl_params_zero_grad(m->P);
        if (!whole) w_step = batch_weight(t, &b);
        for (int a = 0; a < A && !rc && !what[0]; a++) {
            sl_batch v = batch_rows(&b, t, a * cfg->batch + r0, a * cfg->batch + r1);
            if ((rc = sl_model_set_docs(m, v.pos))) break; /* packed rows (lab/pack.h), or NULL */
            if ((rc = sl_train_forward(&pass, m, v.x, v.tok, y, mb, t->T))) break;
            double w_part = 0.0, l = whole ? sl_task_loss(t, &v, y, dy, scratch, NULL, NULL)
                                           : part_loss(t, &v, y, dy, scratch, w_step, &w_part);
            if (!isfinite(l)) { /* named here, where this part's outputs are at hand */
                first_nonfinite(m, y, (size_t)mb * t->T * m->d_out, what, sizeof what);
                loss = l;
                break;
            }
            loss += whole ? l : l * w_part;
            rc = sl_train_backward(&pass, m, dy, NULL);
        }
    vote:
        if (K > 1) { /* every rank's status, and the step's loss summed in rank order */
            double t_v = sl_now();
            if ((rc = sl_dist_agree(d, rc))) break;
            struct {
                double loss;
                uint64_t batch; /* the step's batch, which every rank must have drawn alike */
            } mine = {loss, batch_hash(t, &b)}, *all = malloc(sizeof mine * (size_t)K);
            if (!all || sl_dist_allgather(d, &mine, all, sizeof mine)) sl_dist_abort((sl_dist *)d, 1);
            loss = 0.0;
            for (int r = 0; r < K; r++) {
                loss += all[r].loss;
                if (all[r].batch != all[0].batch && !rc)
                    rc = sl_error(SL_EINVAL,
                                  "step %ld: rank %d of %d drew another batch than rank 0 (the task's data differ between the "
                                  "ranks: every rank must read the same files)",
                                  step + 1, r, K);
            }
            free(all);
            if (rc) break;
            res->wait_seconds += sl_now() - t_v;
        }
        if (rc) break;
        if (!whole) loss = w_step > 0 ? loss / w_step : 0.0;
        if (!isfinite(loss)) {
            if (!what[0]) snprintf(what, sizeof what, "on another rank");
            rc = diverged(cfg, step + 1, last_ckpt, "loss is %g; first non-finite tensor: %s", loss, what);
            break;
        }
        if (K > 1) {
            double t_c = sl_now();
            if ((rc = sl_dist_allreduce_sum(d, m->P->grad, m->P->total))) sl_dist_abort((sl_dist *)d, 1);
            res->comm_seconds += sl_now() - t_c;
        }
        /* from here on every rank holds the same gradients and takes the same decisions */
        if (sl_params_check_finite(m->P, 1)) {
            snprintf(what, sizeof what, "%s", sl_errmsg()); /* a copy: sl_error rewrites the buffer */
            rc = diverged(cfg, step + 1, last_ckpt, "loss %g but %s", loss, what);
            break;
        }
        sl_clip_grad_norm(m->P, cfg->clip);
        if ((rc = sl_optim_step(o, m->P, lr))) break;
        /* finite gradients can still step a parameter to inf (a huge learning rate): such a
         * model must not reach a checkpoint */
        if (sl_params_check_finite(m->P, 0)) {
            snprintf(what, sizeof what, "%s", sl_errmsg());
            rc = diverged(cfg, step + 1, last_ckpt, "the optimizer step (lr %g) left a %s", lr, what);
            break;
        }
        step++;
        loss_acc += loss;
        n_acc++;
        tokens_acc += (long)cfg->batch * A * t->T;
        int last = step == cfg->steps;
        if (!last && cfg->time_budget > 0 && secs0 + (sl_now() - t0) >= cfg->time_budget) last = res->budget_hit = 1;
        if (K > 1 && cfg->time_budget > 0) { /* rank 0's clock decides */
            int lb[2] = {last, res->budget_hit};
            if ((rc = sl_dist_bcast(d, lb, sizeof lb, 0))) sl_dist_abort((sl_dist *)d, 1);
            last = lb[0];
            res->budget_hit = lb[1];
        }
        int do_eval = last || (cfg->eval_every > 0 && step % cfg->eval_every == 0);
        int do_log = do_eval || (cfg->log_every > 0 && step % cfg->log_every == 0);
        /* rank 0 evaluates, logs and writes; a failure there stops every rank (the votes) */
        if (do_eval) {
            if (R0) rc = sl_task_eval(t, m, cfg->eval_batches, cfg->batch, sl_train_eval_seed(cfg->seed), &res->eval);
            if ((rc = sl_dist_agree(d, rc))) break;
        }
        sl_model_set_training(m, 1, drop);
        if (do_log) {
            double now = sl_now();
            double secs = secs0 + (now - t0);
            double tps = now > t_last ? (double)tokens_acc / (now - t_last) : 0.0;
            res->train_loss = loss_acc / (double)n_acc;
            if (R0) {
                fprintf(log, "%ld,%.3f,%.6g,%.6f,", step, secs, lr, res->train_loss);
                if (do_eval) fprintf(log, "%.6f,%.6f,", res->eval.loss, res->eval.metric);
                else fputs(",,", log);
                fprintf(log, "%.1f\n", tps);
                fflush(log);
            }
            t_last = now;
            loss_acc = 0.0;
            n_acc = tokens_acc = 0;
        }
        if (last || step == stop || (cfg->ckpt_every > 0 && step % cfg->ckpt_every == 0)) {
            if (K > 1 && (rc = dist_check_replicas(d, m, step))) break;
            if (R0) rc = save_ckpt(cfg->out_dir, m, o, rng, step, secs0 + (sl_now() - t0), cfg, loss_acc, n_acc);
            if ((rc = sl_dist_agree(d, rc))) break;
            last_ckpt = step;
        }
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f", loss);
        sl_progress_update(&prog, step, extra);
        if (last) break;
    }
    sl_progress_end(&prog);
    sl_model_set_training(m, 0, NULL);
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.safetensors", cfg->out_dir);
        if (R0 && (rc = sl_params_save(m->P, path, cfg->meta_kv, cfg->n_meta))) sl_error_wrap(rc, "writing %s", path);
        rc = sl_dist_agree(d, rc);
    }
    res->step = step;
    res->seconds = secs0 + (sl_now() - t0);
done:
    if (log) fclose(log);
    if (rc && last_ckpt < 0) {
        /* failed before any checkpoint: nothing in out_dir can be resumed, so take back the
         * log this run began (and the directory, if the run made it and it is now empty) */
        char lp[4096];
        snprintf(lp, sizeof lp, "%s/log.csv", cfg->out_dir);
        if (log) unlink(lp);
        if (made_dir) rmdir(cfg->out_dir);
    }
    free(y);
    free(dy);
    free(scratch);
    sl_batch_free(&b);
    sl_train_pass_free(&pass);
    sl_optim_free(o);
    if (drop != rng) sl_rng_free(drop);
    sl_rng_free(rng);
    return rc;
}

/* ---- memory accounting (trainer.h, sl_train_memory) ---- */

/* activation bytes of one forward and backward of a fresh model on B sampled sequences */
static int probe_act(const char *spec, sl_task *t, const sl_train_config *cfg, int K, int B, size_t *act)
{
    sl_model *m = NULL;
    sl_rng *rng = sl_rng_alloc(cfg->seed);
    sl_batch b;
    sl_train_pass pass = {.replicas = !cfg->no_replicas};
    memset(&b, 0, sizeof b);
    float *y = NULL, *dy = NULL, *scratch = NULL;
    int rc = rng ? sl_model_create(spec, cfg->seed, &m) : sl_error(SL_ENOMEM, "out of memory");
    if (!rc) rc = sl_model_set_checkpoint(m, K);
    if (!rc) rc = sl_batch_alloc(&b, t, B);
    const size_t ny = (size_t)B * t->T * (m ? m->d_out : 0);
    if (!rc &&
        (!(y = malloc(ny * sizeof(float))) || !(dy = malloc(ny * sizeof(float))) || !(scratch = malloc(ny * sizeof(float)))))
        rc = sl_error(SL_ENOMEM, "out of memory");
    if (!rc) rc = t->sample(t, 0, rng, &b);
    size_t now0, now1, peak;
    sl_arena_stats(&now0, &peak);
    sl_arena_stats_reset();
    if (!rc) {
        sl_model_set_training(m, 1, rng);
        rc = sl_model_set_docs(m, b.pos);
    }
    if (!rc) rc = sl_train_forward(&pass, m, b.x, b.tok, y, B, t->T);
    if (!rc) {
        sl_task_loss(t, &b, y, dy, scratch, NULL, NULL);
        rc = sl_train_backward(&pass, m, dy, NULL);
    }
    sl_arena_stats(&now1, &peak);
    *act = peak > now0 ? peak - now0 : 0;
    sl_train_pass_free(&pass);
    free(y);
    free(dy);
    free(scratch);
    sl_batch_free(&b);
    sl_model_free(m);
    sl_rng_free(rng);
    return rc;
}

int sl_train_memory_act(const char *spec, sl_task *t, const sl_train_config *cfg, int K, size_t *act)
{
    size_t a1 = 0, a2 = 0;
    sl_threads_set(cfg->threads);
    int rc = probe_act(spec, t, cfg, K, 1, &a1);
    if (!rc && cfg->batch > 1) rc = probe_act(spec, t, cfg, K, 2, &a2);
    if (rc) return rc;
    /* a2 < a1 would be a model whose caches shrink with the batch: count no growth then */
    *act = cfg->batch > 1 && a2 > a1 ? a1 + (size_t)(cfg->batch - 1) * (a2 - a1) : a1;
    return SL_OK;
}

int sl_train_memory(const char *spec, sl_task *t, const sl_train_config *cfg, sl_train_mem *out)
{
    memset(out, 0, sizeof *out);
    sl_model *m = NULL;
    int rc = sl_model_create(spec, cfg->seed, &m);
    if (!rc) rc = sl_model_set_checkpoint(m, cfg->ckpt_blocks);
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    const int A = cfg->accum > 1 ? cfg->accum : 1, B = cfg->batch, T = t->T;
    const int K = sl_dist_size(cfg->dist),
              mb = (int)((long)B * (sl_dist_rank(cfg->dist) + 1) / K - (long)B * sl_dist_rank(cfg->dist) / K);
    out->params_n = m->P->total;
    out->params = out->grads = m->P->total * sizeof(float);
    out->optim = 2 * m->P->total * sizeof(float);
    /* sl_batch_alloc's arrays for n rows: input, target or real target and mask, positions */
    const size_t row = (size_t)T * ((t->token_in ? 4 : 4 * (size_t)t->d_in) + (t->token_out ? 4 : 0) + 4 * (size_t)t->d_out + 4 +
                                    (t->packed ? 4 : 0));
    const size_t out_row = (size_t)T * m->d_out * sizeof(float);
    out->buffers = row * (size_t)B * A + 3 * out_row * mb /* the step's batch; y, dy, scratch */
                   + row * (size_t)B + 2 * out_row * B;   /* the evaluation's batch; y, scratch */
    const int th = cfg->threads > 0 ? cfg->threads : sl_threads_get();
    sl_threads_set(cfg->threads);
    /* batch slices: the private gradients, or the replicas' gradient blocks (their caches are
     * the activations of their rows, counted by the probes) */
    if (th > 1 && mb >= th && (sl_model_slice_ok(m) || (!cfg->no_replicas && sl_replicas_ok(m))))
        out->buffers += (size_t)(th - 1) * m->P->total * sizeof(float);
    sl_model_free(m);
    return sl_train_memory_act(spec, t, cfg, cfg->ckpt_blocks, &out->act);
}
