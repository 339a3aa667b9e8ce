/* bench/train_step_bench.c — one training step of a small model, as `seqlab train` runs it:
 * a batch from the task, zeroed gradients, forward, task loss, backward (the trainer's
 * sl_train_forward / sl_train_backward: batch slices on k > 1 threads where the model has
 * them), finiteness check, global-norm clipping and an AdamW step (lab/trainer.c's loop body, without evaluation and
 * logging).
 *
 *   bench/train_step_bench --model SPEC --task TASK [--batch 32] [--threads 1] [--reps 30]
 *                          [--warmup 5] [--label NAME]
 *
 * SPEC is a full wrapper spec (seq:mixer=..,d_input=..,d_output=.. or lm:..,vocab_size=..): the
 * bench does not adapt specs to the task as `seqlab train` does. CSV on stdout:
 *   impl,mixer,task,B,T,params,threads,step_ms,step_cpu_ms,fwd_ms,bwd_ms,opt_ms
 * step_ms: median wall time of REPS steps after WARMUP; step_cpu_ms: median process CPU time
 * (with one thread a loaded machine disturbs it much less: descheduled time does not count);
 * fwd/bwd/opt: median wall time of the forward (+ loss), the backward, and clipping + AdamW.
 * bench/train_step_bench.sh runs it beside bench/train_step_torch.py. */
#include "core/error.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "lab/tasks.h"
#include "lab/trainer.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int die(const char *what)
{
    fprintf(stderr, "train_step_bench: %s: %s\n", what, sl_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'},   {"task", 1, 0, 't'}, {"batch", 1, 0, 'b'},
                                         {"threads", 1, 0, 'k'}, {"reps", 1, 0, 'r'}, {"warmup", 1, 0, 'w'},
                                         {"label", 1, 0, 'l'},   {0, 0, 0, 0}};
    const char *spec = NULL, *task = "adding:length=100", *label = NULL;
    int B = 32, threads = 1, reps = 30, warmup = 5, o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm': spec = optarg; break;
        case 't': task = optarg; break;
        case 'b': B = atoi(optarg); break;
        case 'k': threads = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'l': label = optarg; break;
        default:
            fprintf(stderr, "usage: train_step_bench --model SPEC [--task T] [--batch B] [--threads K] [--reps N] [--warmup W] "
                            "[--label L]\n");
            return 2;
        }
    }
    if (!spec || B < 1 || threads < 1 || reps < 1 || warmup < 0) {
        fprintf(stderr, "train_step_bench: --model SPEC is required; batch, threads, reps >= 1\n");
        return 2;
    }
    sl_threads_set(threads);
    sl_task *t;
    sl_model *m;
    if (sl_task_create(task, &t)) return die(task);
    if (sl_model_create(spec, 1, &m)) return die(spec);
    sl_batch b;
    memset(&b, 0, sizeof b);
    if (sl_batch_alloc(&b, t, B)) return die("batch");
    size_t ny = (size_t)B * t->T * m->d_out;
    float *y = malloc(ny * sizeof(float)), *dy = malloc(ny * sizeof(float)), *scratch = malloc(ny * sizeof(float));
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    sl_optim *opt = sl_optim_alloc(&oc, m->P->total);
    sl_rng *rng = sl_rng_alloc(1);
    double *ts = malloc(sizeof(double) * (size_t)reps * 5);
    if (!y || !dy || !scratch || !opt || !rng || !ts) {
        fprintf(stderr, "train_step_bench: out of memory\n");
        return 1;
    }
    double *tc = ts + reps, *tf = tc + reps, *tb = tf + reps, *to = tb + reps;
    sl_train_pass pass = {0};
    sl_model_set_training(m, 1, rng);
    for (int i = -warmup; i < reps; i++) {
        double w0 = sl_now(), c0 = cpu_now();
        if (t->sample(t, 0, rng, &b)) return die("sample");
        sl_params_zero_grad(m->P);
        if (sl_train_forward(&pass, m, b.x, b.tok, y, B, t->T)) return die("forward");
        double loss = sl_task_loss(t, &b, y, dy, scratch, NULL, NULL);
        double w1 = sl_now();
        if (!isfinite(loss)) {
            fprintf(stderr, "train_step_bench: loss %g\n", loss);
            return 1;
        }
        if (sl_train_backward(&pass, m, dy, NULL)) return die("backward");
        double w2 = sl_now();
        if (sl_params_check_finite(m->P, 1)) return die("gradient");
        sl_clip_grad_norm(m->P, 1.0);
        if (sl_optim_step(opt, m->P, 1e-3f)) return die("optimizer");
        double w3 = sl_now(), c3 = cpu_now();
        if (i >= 0) {
            ts[i] = w3 - w0;
            tc[i] = c3 - c0;
            tf[i] = w1 - w0;
            tb[i] = w2 - w1;
            to[i] = w3 - w2;
        }
    }
    const char *mx = strstr(spec, "mixer=");
    char mixer[64] = "";
    if (label) snprintf(mixer, sizeof mixer, "%s", label);
    else if (mx) snprintf(mixer, sizeof mixer, "%.*s", (int)strcspn(mx + 6, ","), mx + 6);
    else snprintf(mixer, sizeof mixer, "%.*s", (int)strcspn(spec, ":"), spec);
    char tk[256];
    snprintf(tk, sizeof tk, "%s", task);
    for (char *c = tk; *c; c++)
        if (*c == ',') *c = ';'; /* one CSV field */
    printf("seqlab,%s,%s,%d,%d,%zu,%d,%.4f,%.4f,%.4f,%.4f,%.4f\n", mixer, tk, B, t->T, sl_params_count_trainable(m->P), threads,
           1e3 * median(ts, reps), 1e3 * median(tc, reps), 1e3 * median(tf, reps), 1e3 * median(tb, reps),
           1e3 * median(to, reps));
    sl_train_pass_free(&pass);
    free(ts);
    free(y);
    free(dy);
    free(scratch);
    sl_rng_free(rng);
    sl_optim_free(opt);
    sl_batch_free(&b);
    sl_model_free(m);
    sl_task_free(t);
    return 0;
}
