/* lab/trainer.c — the training loop (see trainer.h). */
#include "lab/trainer.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/util.h"
#include "lab/registry.h"

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
    static const char *keys[N_META] = {"model",       "task",        "batch",          "lr",           "min_lr", "warmup",
                                       "decay_steps", "cosine",      "optimizer",      "weight_decay", "beta1",  "beta2",
                                       "clip",        "eval_every",  "eval_batches",   "ckpt_every",   "seed",   "log_every",
                                       "alphabet",    "time_budget", "model_canonical"};
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
    char *canon = NULL;
    mt->canon[0] = '\0';
    if (!sl_model_spec_canonical(model, &canon) && strlen(canon) < sizeof mt->canon)
        snprintf(mt->canon, sizeof mt->canon, "%s", canon);
    free(canon);
    int n = 0;
    for (int i = 0; i < N_META; i++) {
        if ((i == 18 && !t->alphabet) || (i == 20 && !mt->canon[0])) continue;
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
    c->progress = 1;
}

int sl_train_forward(sl_train_pass *tp, sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    const int th = sl_threads_get();
    tp->k = th > 1 && B >= th && sl_model_slice_ok(m) ? th : 0;
    tp->B = B;
    return tp->k ? sl_model_forward_slices(m, x, tok, y, B, T, tp->k) : sl_model_forward(m, x, tok, y, B, T);
}

int sl_train_backward(sl_train_pass *tp, sl_model *m, const float *dy, float *dx)
{
    return tp->k ? sl_model_backward_slices(m, dy, dx, tp->B, tp->k, &tp->gpriv) : sl_model_backward(m, dy, dx);
}

void sl_train_pass_free(sl_train_pass *tp)
{
    sl_buf_free(&tp->gpriv);
    tp->k = 0;
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

int sl_train(sl_model *m, sl_task *t, const sl_train_config *cfg, const char *resume, sl_train_result *res)
{
    memset(res, 0, sizeof *res);
    if (!(m->caps & SL_CAP_GRAD)) return sl_error(SL_EUNSUPPORTED, "%s is not trained by gradient", m->vt->kind);
    int rc = sl_task_check_model(t, m);
    if (rc) return rc;
    if (cfg->batch <= 0 || cfg->steps < 0) return sl_error(SL_EINVAL, "bad batch %d / steps %ld", cfg->batch, cfg->steps);
    struct stat dir_st;
    int made_dir = stat(cfg->out_dir, &dir_st) != 0; /* removed again if the run fails before a checkpoint */
    rc = sl_mkdirs(cfg->out_dir);
    if (rc) return rc;
    remove_stale_temps(cfg->out_dir);
    sl_threads_set(cfg->threads);

    sl_optim *o = sl_optim_alloc(&cfg->opt, m->P->total);
    sl_rng *rng = sl_rng_alloc(cfg->seed);
    sl_batch b;
    memset(&b, 0, sizeof b);
    sl_train_pass pass = {0};
    float *y = NULL, *dy = NULL, *scratch = NULL;
    FILE *log = NULL;
    sl_progress prog;
    long step = 0, n_acc = 0, last_ckpt = -1; /* last_ckpt -1: no checkpoint in out_dir */
    double secs0 = 0.0, loss_acc = 0.0;
    if (!o || !rng) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    if (resume) {
        sl_safetensors *st;
        if ((rc = sl_checkpoint_open(resume, &st))) goto done;
        rc = sl_checkpoint_restore(st, m->P, o, rng, &step, &secs0);
        /* the partial log interval: n_acc steps since the last log row, so at most `step` */
        if (!rc && sl_safetensors_meta(st, "log_loss_acc") && sl_safetensors_meta(st, "log_n_acc") &&
            !(rc = sl_checkpoint_meta_double(st, "log_loss_acc", -1e300, 1e300, &loss_acc)))
            rc = sl_checkpoint_meta_long(st, "log_n_acc", 0, step, &n_acc);
        sl_safetensors_free(st);
        if (rc) {
            sl_error_wrap(rc, "resuming from %s", resume);
            goto done;
        }
        if (step > cfg->steps) {
            rc = sl_error(SL_EINVAL, "the run is already at step %ld, past --steps %ld", step, cfg->steps);
            goto done;
        }
        if (cfg->time_budget > 0 && secs0 >= cfg->time_budget) {
            rc = sl_error(SL_EINVAL, "the run has used %.1f s of its %g s time budget; give a larger --time-budget to continue",
                          secs0, cfg->time_budget);
            goto done;
        }
    }
    if ((rc = sl_batch_alloc(&b, t, cfg->batch))) goto done;
    size_t ny = (size_t)cfg->batch * t->T * m->d_out;
    y = malloc(ny * sizeof(float));
    dy = malloc(ny * sizeof(float));
    scratch = malloc(ny * sizeof(float));
    if (!y || !dy || !scratch) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/log.csv", cfg->out_dir);
    if ((rc = open_log(path, step, &log))) goto done;

    sl_model_set_training(m, 1, rng);
    sl_progress_begin(&prog, stderr, cfg->steps, "train", cfg->progress == 2);
    if (!cfg->progress) prog.enabled = 0;
    double t0 = sl_now(), t_last = t0;
    long tokens_acc = 0;
    last_ckpt = resume ? step : -1;
    long stop = cfg->stop_after > 0 && cfg->stop_after < cfg->steps ? cfg->stop_after : cfg->steps;
    while (step < stop) {
        float lr = sl_schedule_lr(&cfg->sched, step);
        if ((rc = t->sample(t, 0, rng, &b))) break;
        sl_params_zero_grad(m->P);
        if ((rc = sl_train_forward(&pass, m, b.x, b.tok, y, cfg->batch, t->T))) break;
        double loss = sl_task_loss(t, &b, y, dy, scratch, NULL, NULL);
        if (!isfinite(loss)) {
            char what[600];
            first_nonfinite(m, y, (size_t)cfg->batch * t->T * m->d_out, what, sizeof what);
            rc = diverged(cfg, step + 1, last_ckpt, "loss is %g; first non-finite tensor: %s", loss, what);
            break;
        }
        if ((rc = sl_train_backward(&pass, m, dy, NULL))) break;
        if (sl_params_check_finite(m->P, 1)) {
            char what[600];
            snprintf(what, sizeof what, "%s", sl_errmsg()); /* a copy: sl_error rewrites the buffer */
            rc = diverged(cfg, step + 1, last_ckpt, "loss %g but %s", loss, what);
            break;
        }
        sl_clip_grad_norm(m->P, cfg->clip);
        if ((rc = sl_optim_step(o, m->P, lr))) break;
        /* finite gradients can still step a parameter to inf (a huge learning rate): such a
         * model must not reach a checkpoint */
        if (sl_params_check_finite(m->P, 0)) {
            char what[600];
            snprintf(what, sizeof what, "%s", sl_errmsg());
            rc = diverged(cfg, step + 1, last_ckpt, "the optimizer step (lr %g) left a %s", lr, what);
            break;
        }
        step++;
        loss_acc += loss;
        n_acc++;
        tokens_acc += (long)cfg->batch * t->T;
        int last = step == cfg->steps;
        if (!last && cfg->time_budget > 0 && secs0 + (sl_now() - t0) >= cfg->time_budget) last = res->budget_hit = 1;
        int do_eval = last || (cfg->eval_every > 0 && step % cfg->eval_every == 0);
        int do_log = do_eval || (cfg->log_every > 0 && step % cfg->log_every == 0);
        if (do_eval && (rc = sl_task_eval(t, m, cfg->eval_batches, cfg->batch, sl_train_eval_seed(cfg->seed), &res->eval))) break;
        sl_model_set_training(m, 1, rng);
        if (do_log) {
            double now = sl_now();
            double secs = secs0 + (now - t0);
            double tps = now > t_last ? (double)tokens_acc / (now - t_last) : 0.0;
            res->train_loss = loss_acc / (double)n_acc;
            fprintf(log, "%ld,%.3f,%.6g,%.6f,", step, secs, lr, res->train_loss);
            if (do_eval) fprintf(log, "%.6f,%.6f,", res->eval.loss, res->eval.metric);
            else fputs(",,", log);
            fprintf(log, "%.1f\n", tps);
            fflush(log);
            t_last = now;
            loss_acc = 0.0;
            n_acc = tokens_acc = 0;
        }
        if (last || step == stop || (cfg->ckpt_every > 0 && step % cfg->ckpt_every == 0)) {
            if ((rc = save_ckpt(cfg->out_dir, m, o, rng, step, secs0 + (sl_now() - t0), cfg, loss_acc, n_acc))) break;
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
        rc = sl_params_save(m->P, path, cfg->meta_kv, cfg->n_meta);
        if (rc) sl_error_wrap(rc, "writing %s", path);
    }
    res->step = step;
    res->seconds = secs0 + (sl_now() - t0);
done:
    if (log) fclose(log);
    if (rc && last_ckpt < 0 && log) {
        /* failed before any checkpoint: nothing in out_dir can be resumed, so take back the
         * log this run began (and the directory, if the run made it and it is now empty) */
        char lp[4096];
        snprintf(lp, sizeof lp, "%s/log.csv", cfg->out_dir);
        unlink(lp);
        if (made_dir) rmdir(cfg->out_dir);
    }
    free(y);
    free(dy);
    free(scratch);
    sl_batch_free(&b);
    sl_train_pass_free(&pass);
    sl_optim_free(o);
    sl_rng_free(rng);
    return rc;
}
