/* t/t-trainer.c — the trainer end to end: a learning test (the Elman RNN solves a short
 * copying task), resume is bit-identical to an uninterrupted run, a non-finite loss stops the
 * run with a clear message and keeps the last good checkpoint; the trainer's batch-sliced pass
 * (sl_train_forward/backward on k threads) against the unsliced one for several models. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/safetensors.h"
#include "core/util.h"
#include "lab/registry.h"
#include "lab/trainer.h"
#include "seq/transformer.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *MODEL = "lm:mixer=rnn,d_model=48,n_layer=1";

static sl_model *make(sl_task *t, uint64_t seed)
{
    char spec[256];
    snprintf(spec, sizeof spec, "%s,vocab_size=%d", MODEL, t->vocab);
    sl_model *m;
    if (sl_model_create(spec, seed, &m)) {
        diag("%s", sl_errmsg());
        return NULL;
    }
    return m;
}

static int files_equal(const char *a, const char *b)
{
    void *x, *y;
    size_t nx, ny;
    if (sl_read_file(a, 1 << 30, &x, &nx) || sl_read_file(b, 1 << 30, &y, &ny)) return 0;
    int eq = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return eq;
}

/* every tensor of two safetensors files equal byte for byte (metadata such as elapsed
 * seconds legitimately differs) */
static int tensors_equal(const char *a, const char *b)
{
    sl_safetensors *x, *y;
    if (sl_safetensors_read(a, &x)) return 0;
    if (sl_safetensors_read(b, &y)) {
        sl_safetensors_free(x);
        return 0;
    }
    int eq = x->n == y->n;
    for (size_t i = 0; eq && i < x->n; i++) {
        const sl_st_tensor *u = &x->t[i], *v = sl_safetensors_find(y, u->name);
        eq = v && u->end - u->begin == v->end - v->begin && !memcmp(x->data + u->begin, y->data + v->begin, u->end - u->begin);
    }
    sl_safetensors_free(x);
    sl_safetensors_free(y);
    return eq;
}

/* One training pass (forward, backward) of spec as the trainer runs it on `threads` threads
 * against the unsliced pass on one thread (a transformer's per-operation path): outputs,
 * parameter gradients and, for real input, the input gradient; `sliced` says whether the
 * model must take the sliced path (it has batch slices) or the unsliced one. Twice, so a
 * second pass reuses the private gradients (zeroed by the reduction). */
static void sliced_pass(const char *spec, int B, int T, int threads, int sliced)
{
    sl_model *m;
    if (!ok(sl_model_create(spec, 5, &m) == 0, "create %s", spec)) {
        diag("%s", sl_errmsg());
        return;
    }
    const int tokin = (m->caps & SL_CAP_TOKEN_IN) != 0;
    const size_t nx = (size_t)B * T * m->d_in, ny = (size_t)B * T * m->d_out, np = m->P->total;
    int32_t *tok = NULL;
    if (tokin) {
        tok = malloc((size_t)B * T * sizeof *tok);
        for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((i * 7 + 3) % m->d_in);
    }
    float *x = tokin ? NULL : tu_random(nx, 1.0f, 61), *dy = tu_random(ny, 1.0f, 62);
    float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float));
    float *g0 = malloc(np * sizeof(float));
    float *dx0 = tokin ? NULL : calloc(nx, sizeof(float)), *dx1 = tokin ? NULL : calloc(nx, sizeof(float));
    sl_train_pass p0 = {0}, p1 = {0};
    sl_threads_set(1);
    sl_transformer_set_slices(m, -1);
    sl_params_zero_grad(m->P);
    int rc = sl_train_forward(&p0, m, x, tok, y0, B, T) || sl_train_backward(&p0, m, dy, dx0);
    memcpy(g0, m->P->grad, np * sizeof(float));
    sl_transformer_set_slices(m, 0);
    ok(!rc && p0.k == 0, "%s: one thread runs the unsliced pass", spec);
    sl_threads_set(threads);
    for (int rep = 0; rep < 2; rep++) {
        sl_params_zero_grad(m->P);
        if (dx1) memset(dx1, 0, nx * sizeof(float));
        rc = sl_train_forward(&p1, m, x, tok, y1, B, T) || sl_train_backward(&p1, m, dy, dx1);
        double ey = tu_rel_diff_max(y1, y0, ny), eg = tu_rel_diff_max(m->P->grad, g0, np),
               ex = tokin ? 0.0 : tu_rel_diff_max(dx1, dx0, nx);
        double dxmax = 0.0; /* real input: the input gradient is there to compare */
        for (size_t i = 0; !tokin && i < nx; i++) dxmax = fmax(dxmax, fabs(dx0[i]));
        ok(!rc && p1.k == (sliced ? threads : 0) && ey < 1e-5 && eg < 1e-5 && ex < 1e-5 && (tokin || dxmax > 0.0),
           "%s B=%d T=%d, %d threads, pass %d: %s == unsliced (y rel %.2e, grads %.2e, dx %.2e)", spec, B, T, threads, rep + 1,
           p1.k ? "sliced" : "unsliced", ey, eg, ex);
    }
    sl_threads_set(1);
    sl_train_pass_free(&p0);
    sl_train_pass_free(&p1);
    free(tok);
    free(x);
    free(dy);
    free(y0);
    free(y1);
    free(g0);
    free(dx0);
    free(dx1);
    sl_model_free(m);
}

int main(void)
{
    char dir[] = "/tmp/sl-trainer-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char a[512], b[512], pa[600], pb[600];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);

    /* learning: copy 3 symbols over a gap of 3 */
    sl_task *t;
    ok(sl_task_create("copy:length=3,delay=3,n_symbols=4", &t) == 0, "copy task");
    sl_model *m = make(t, 1);
    if (!m) return done_testing();
    sl_train_config c;
    sl_train_defaults(&c);
    c.steps = 800;
    c.batch = 32;
    c.sched.lr = 3e-3f;
    c.sched.min_lr = 3e-4f;
    c.sched.warmup = 20;
    c.sched.decay_steps = 800;
    c.eval_every = 100;
    c.ckpt_every = 0;
    c.out_dir = a;
    c.threads = 1;
    c.progress = 0;
    c.eval_batches = 16;
    sl_train_result r;
    int rc = sl_train(m, t, &c, NULL, &r);
    ok(rc == 0, "training ran (%s)", rc ? sl_errmsg() : "ok");
    ok(r.eval.metric > 0.95, "the RNN solves copy (length 3, gap 3): accuracy %.3f > 0.95", r.eval.metric);
    snprintf(pa, sizeof pa, "%s/log.csv", a);
    void *log;
    size_t nlog;
    ok(sl_read_file(pa, 1 << 20, &log, &nlog) == 0 &&
           !strncmp(log, "step,seconds,lr,train_loss,val_loss,val_metric,tokens_per_s\n", 60),
       "log.csv has the header");
    int rows = 0;
    for (size_t i = 0; i < nlog; i++) rows += ((char *)log)[i] == '\n';
    ok(rows == 1 + 80, "one log row every 10 steps (%d lines)", rows);
    free(log);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    struct stat st;
    ok(stat(pa, &st) == 0 && st.st_size > 0, "model.safetensors written");
    sl_model_free(m);

    /* resume: 60 steps straight vs 25 + resume to 60, checkpoint every 25 */
    c.steps = 60;
    c.sched.decay_steps = 60;
    c.ckpt_every = 25;
    c.eval_every = 20;
    m = make(t, 3);
    rc = sl_train(m, t, &c, NULL, &r);
    sl_model_free(m);
    c.out_dir = b;
    c.steps = 25;
    m = make(t, 3);
    rc |= sl_train(m, t, &c, NULL, &r);
    sl_model_free(m);
    m = make(t, 99); /* different init: everything must come from the checkpoint */
    c.steps = 60;
    snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
    rc |= sl_train(m, t, &c, pb, &r);
    sl_model_free(m);
    ok(rc == 0 && r.step == 60, "interrupted run resumed to step 60");
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    ok(files_equal(pa, pb), "resumed weights are bit-identical to the uninterrupted run");
    snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", a);
    snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
    ok(tensors_equal(pa, pb), "checkpoint tensors (weights, optimizer, rng state) are bit-identical too");

    /* NaN: poison a weight; the run stops with a message and writes no checkpoint */
    char nd[512], np[600];
    snprintf(nd, sizeof nd, "%s/nan", dir);
    m = make(t, 5);
    m->P->data[m->P->t[0].offset] = NAN;
    c.out_dir = nd;
    c.steps = 10;
    rc = sl_train(m, t, &c, NULL, &r);
    ok(rc == SL_ENAN && strstr(sl_errmsg(), "diverged at step 1") && strstr(sl_errmsg(), m->P->t[0].name) &&
           strstr(sl_errmsg(), "before any checkpoint"),
       "non-finite loss stops the run: %s", sl_errmsg());
    snprintf(np, sizeof np, "%s/checkpoint.safetensors", nd);
    ok(stat(np, &st) != 0, "no checkpoint written from a poisoned model");
    sl_model_free(m);

    /* the logged training loss is the mean loss over its interval. At learning rate 0 the
     * model never changes: with one-step intervals each row is that batch's loss, an
     * untrained model's loss on fresh batches of a synthetic task agrees with its validation
     * loss (32 batches), and one eight-step interval logs the mean of the eight rows. */
    char l1[512], l8[512], pl[600];
    snprintf(l1, sizeof l1, "%s/lr0-1", dir);
    snprintf(l8, sizeof l8, "%s/lr0-8", dir);
    sl_train_config z = c;
    z.steps = 8;
    z.sched.lr = 0.0f;
    z.sched.min_lr = 0.0f;
    z.sched.warmup = 0;
    z.sched.decay_steps = 8;
    z.eval_every = 0;
    z.eval_batches = 32;
    z.ckpt_every = 0;
    z.log_every = 1;
    z.out_dir = l1;
    m = make(t, 7);
    rc = sl_train(m, t, &z, NULL, &r);
    sl_model_free(m);
    double rows1[8], mean1 = 0, val = r.eval.loss;
    int nrow = 0;
    snprintf(pl, sizeof pl, "%s/log.csv", l1);
    FILE *lf = rc ? NULL : fopen(pl, "r");
    char line[512];
    if (lf) {
        if (!fgets(line, sizeof line, lf)) nrow = -1; /* header */
        while (nrow >= 0 && nrow < 8 && fgets(line, sizeof line, lf)) {
            long st;
            double secs, lr, tl;
            if (sscanf(line, "%ld,%lf,%lf,%lf,", &st, &secs, &lr, &tl) != 4 || st != nrow + 1 || lr != 0.0) break;
            rows1[nrow++] = tl;
            mean1 += tl / 8;
        }
        fclose(lf);
    }
    ok(rc == 0 && nrow == 8, "learning rate 0, one log row per step (%d rows)", nrow);
    double worst = 0;
    for (int i = 0; i < nrow; i++) worst = fmax(worst, fabs(rows1[i] - val) / val);
    ok(nrow == 8 && worst < 0.05,
       "each step's train_loss is that batch's loss: within 5%% of the validation loss %.4f (worst %.3f)", val, worst);
    z.log_every = 8;
    z.out_dir = l8;
    m = make(t, 7);
    rc = sl_train(m, t, &z, NULL, &r);
    sl_model_free(m);
    ok(rc == 0 && nrow == 8 && fabs(r.train_loss - mean1) < 1e-5,
       "an eight-step interval logs the mean of the eight steps' losses (%.6f vs %.6f)", r.train_loss, mean1);

    /* the trainer's batch slices: wrappers over attention (tokens; real input with dx; learned
     * positions, LayerNorm, an untied head; GQA, the naive kernel, bidirectional), the
     * transformers, and a wrapper whose mixer has no slices (it runs unsliced) */
    sliced_pass("lm:mixer=attention,d_model=16,n_layer=2,n_head=2,vocab_size=13", 5, 7, 2, 1);
    sliced_pass("lm:mixer=attention,d_model=16,n_layer=2,n_head=2,vocab_size=13", 5, 7, 3, 1);
    sliced_pass("lm:mixer=attention,d_model=16,n_layer=1,n_head=4,vocab_size=11,norm=layernorm,max_position_embeddings=9,"
                "tie_embeddings=0,rope=1",
                4, 9, 2, 1);
    sliced_pass("seq:mixer=attention,d_model=12,n_layer=2,n_head=4,n_kv_head=2,kernel=naive,d_input=3,d_output=2", 5, 6, 2, 1);
    sliced_pass("seq:mixer=attention,d_model=12,n_layer=1,n_head=2,causal=0,d_input=3,d_output=2", 3, 5, 3, 1);
    sliced_pass("gpt:n_layer=2,n_head=2,n_embd=16,block_size=16,vocab_size=13", 5, 7, 2, 1);
    sliced_pass("llama:dim=16,n_layers=2,n_heads=2,n_kv_heads=1,vocab_size=13,max_seq_len=16,multiple_of=8", 4, 7, 3, 1);
    sliced_pass("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=13", 4, 7, 2, 0);
    sliced_pass("lm:mixer=attention,d_model=16,n_layer=1,n_head=2,vocab_size=13", 1, 7, 2, 0); /* B < threads */

    /* a run on two threads through the slices: the same seed gives the same weights */
    {
        sl_task *tc;
        sl_task_create("copy:length=3,delay=3,n_symbols=4", &tc);
        sl_train_config s2;
        sl_train_defaults(&s2);
        s2.steps = 12;
        s2.batch = 8;
        s2.eval_every = 0;
        s2.ckpt_every = 0;
        s2.threads = 2;
        s2.progress = 0;
        s2.eval_batches = 2;
        char d1[600], d2[600], f1[700], f2[700];
        snprintf(d1, sizeof d1, "%s/s1", dir);
        snprintf(d2, sizeof d2, "%s/s2", dir);
        int src = 0;
        for (int i = 0; i < 2; i++) {
            sl_model *ms;
            char spec[200];
            snprintf(spec, sizeof spec, "lm:mixer=attention,d_model=16,n_layer=2,n_head=2,vocab_size=%d", tc->vocab);
            src |= sl_model_create(spec, 3, &ms);
            if (src) break;
            s2.out_dir = i ? d2 : d1;
            src |= sl_train(ms, tc, &s2, NULL, &r);
            sl_model_free(ms);
        }
        snprintf(f1, sizeof f1, "%s/model.safetensors", d1);
        snprintf(f2, sizeof f2, "%s/model.safetensors", d2);
        ok(src == 0 && tensors_equal(f1, f2), "two sliced runs on 2 threads with one seed give the same weights (%s)",
           src ? sl_errmsg() : "ok");
        sl_task_free(tc);
        sl_threads_set(1);
    }

    /* a model that does not fit the task is refused */
    sl_task *t2;
    sl_task_create("adding:length=10", &t2);
    m = make(t, 1);
    ok(sl_train(m, t2, &c, NULL, &r) == SL_EINVAL && strstr(sl_errmsg(), "disagree"), "token model on a real task refused");
    sl_model_free(m);
    sl_task_free(t2);
    sl_task_free(t);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
