/* t/t-accum.c — gradient accumulation: `accum` micro-batches of B give the update of one batch
 * of accum*B (the plain path is the reference), for several families, on token and real-valued
 * tasks whose rows score different numbers of positions (so a mean of micro-batch means would
 * be wrong); a run with accumulation resumes bit-identically; the configuration round-trips
 * through checkpoint metadata. */
#include "core/error.h"
#include "core/safetensors.h"
#include "lab/registry.h"
#include "lab/trainer.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A task whose rows score a random number of their last positions: token targets (the next
 * token, -1 elsewhere) or real targets with mask weights 0.5 or 1 (0 elsewhere). */
enum { V = 11, T = 12, DIN = 3, DOUT = 2 };
static int toy_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    (void)split;
    for (int r = 0; r < b->B; r++) {
        int k = 1 + (int)sl_rng_int(rng, T); /* scored positions of this row */
        for (int i = 0; i < T; i++) {
            size_t n = (size_t)r * T + i;
            int scored = i >= T - k;
            if (t->token_in) {
                b->tok[n] = (int32_t)sl_rng_int(rng, V);
                b->target[n] = scored ? (int32_t)((b->tok[n] * 3 + 1) % V) : -1;
            } else {
                for (int d = 0; d < DIN; d++) b->x[n * DIN + d] = (float)sl_rng_normal(rng, 1.0);
                for (int d = 0; d < DOUT; d++) b->y[n * DOUT + d] = b->x[n * DIN + d] * 0.5f;
                b->mask[n] = scored ? (sl_rng_uniform(rng) < 0.5 ? 0.5f : 1.0f) : 0.0f;
            }
        }
    }
    return SL_OK;
}

static void toy_init(sl_task *t, int tokens)
{
    memset(t, 0, sizeof *t);
    t->name = "toy";
    t->token_in = t->token_out = tokens;
    t->vocab = tokens ? V : 0;
    t->d_in = tokens ? 0 : DIN;
    t->d_out = tokens ? 0 : DOUT;
    t->T = T;
    t->metric = tokens ? "val_loss" : "mse";
    t->sample = toy_sample;
}

typedef struct {
    float *data, *grad; /* after the run: weights, and the last step's (unclipped) gradient */
    size_t n;
    double loss;
} outcome;

static int run(const char *spec, sl_task *t, int batch, int accum, long steps, int threads, const char *dir, outcome *out)
{
    sl_model *m;
    if (sl_model_create(spec, 3, &m)) return -1;
    sl_train_config c;
    sl_train_defaults(&c);
    c.steps = steps;
    c.batch = batch;
    c.accum = accum;
    c.sched.decay_steps = steps;
    c.sched.warmup = 0;
    c.clip = 0; /* the gradient left in P->grad is the step's own */
    c.eval_every = 0;
    c.eval_batches = 1;
    c.ckpt_every = 0;
    c.log_every = 1;
    c.threads = threads;
    c.progress = 0;
    c.out_dir = dir;
    sl_train_result r;
    int rc = sl_train(m, t, &c, NULL, &r);
    out->n = m->P->total;
    out->data = malloc(out->n * sizeof(float));
    out->grad = malloc(out->n * sizeof(float));
    memcpy(out->data, m->P->data, out->n * sizeof(float));
    memcpy(out->grad, m->P->grad, out->n * sizeof(float));
    out->loss = r.train_loss;
    sl_model_free(m);
    return rc;
}

static void outcome_free(outcome *o)
{
    free(o->data);
    free(o->grad);
}

/* accum x B against one batch of accum*B: the first step's gradient and loss (<= 1e-6), and the
 * weights after three AdamW steps */
static void check_family(const char *spec, sl_task *t, int B, int accum, int threads, const char *dir)
{
    outcome big, acc, big3, acc3;
    int rc = run(spec, t, B * accum, 1, 1, threads, dir, &big) || run(spec, t, B, accum, 1, threads, dir, &acc) ||
             run(spec, t, B * accum, 1, 3, threads, dir, &big3) || run(spec, t, B, accum, 3, threads, dir, &acc3);
    if (rc) diag("%s", sl_errmsg());
    double eg = rc ? 1 : tu_rel_diff_max(acc.grad, big.grad, big.n), el = rc ? 1 : fabs(acc.loss - big.loss) / fabs(big.loss);
    double gmax = 0.0;
    for (size_t i = 0; !rc && i < big.n; i++) gmax = fmax(gmax, fabs(big.grad[i]));
    ok(!rc && eg <= 1e-6 && el <= 1e-6 && gmax > 0.0,
       "%s, %d threads: accum %d x batch %d == batch %d: step-1 gradient rel diff %.2e, loss rel diff %.2e", spec, threads, accum,
       B, B * accum, eg, el);
    double ew = rc ? 1 : tu_rel_diff_max(acc3.data, big3.data, big3.n);
    ok(!rc && ew <= 1e-5, "%s: weights after 3 AdamW steps rel diff %.2e (<= 1e-5)", spec, ew);
    if (!rc) {
        outcome_free(&big);
        outcome_free(&acc);
        outcome_free(&big3);
        outcome_free(&acc3);
    }
}

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

int main(void)
{
    char dir[] = "/tmp/sl-accum-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char d1[600], d2[600], p1[700], p2[700];
    snprintf(d1, sizeof d1, "%s/a", dir);
    snprintf(d2, sizeof d2, "%s/b", dir);
    sl_task tok, real;
    toy_init(&tok, 1);
    toy_init(&real, 0);

    /* the rows of a micro-batch score different numbers of positions, so the test tells a
     * correctly weighted sum from a mean of means */
    {
        sl_rng *rng = sl_rng_alloc(1);
        sl_batch b;
        sl_batch_alloc(&b, &tok, 8);
        toy_sample(&tok, 0, rng, &b);
        int c0 = 0, c1 = 0;
        for (int n = 0; n < 4 * T; n++) c0 += b.target[n] >= 0;
        for (int n = 4 * T; n < 8 * T; n++) c1 += b.target[n] >= 0;
        ok(c0 != c1, "the toy task's two halves of a batch score %d and %d positions", c0, c1);
        sl_batch_free(&b);
        sl_rng_free(rng);
    }

    static const char *const token_models[] = {
        "gpt:n_layer=2,n_head=2,n_embd=16,block_size=12,vocab_size=11",
        "lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11",
        "lm:mixer=lstm,d_model=16,n_layer=1,vocab_size=11",
        "llama:n_layers=1,dim=16,n_heads=2,n_kv_heads=1,vocab_size=11,max_seq_len=12",
    };
    for (size_t i = 0; i < sizeof token_models / sizeof *token_models; i++) check_family(token_models[i], &tok, 4, 3, 1, d1);
    check_family(token_models[0], &tok, 4, 2, 2, d1); /* the sliced pass (2 threads) */
    check_family("seq:mixer=s4d,d_model=8,n_layer=1,d_input=3,d_output=2", &real, 3, 3, 1, d1);

    /* resume: accumulation's state is all in the step, so 4 steps straight == 2 + resume to 4 */
    {
        const char *spec = token_models[1];
        sl_model *m = NULL;
        sl_train_config c;
        sl_train_defaults(&c);
        c.steps = 4;
        c.sched.decay_steps = 4;
        c.batch = 2;
        c.accum = 3;
        c.eval_every = 2;
        c.eval_batches = 1;
        c.ckpt_every = 2;
        c.threads = 1;
        c.progress = 0;
        c.out_dir = d1;
        sl_train_result r;
        int rc = sl_model_create(spec, 3, &m) || sl_train(m, &tok, &c, NULL, &r);
        sl_model_free(m);
        c.out_dir = d2;
        c.stop_after = 2;
        m = NULL;
        rc = rc || sl_model_create(spec, 3, &m) || sl_train(m, &tok, &c, NULL, &r);
        sl_model_free(m);
        c.stop_after = 0;
        snprintf(p2, sizeof p2, "%s/checkpoint.safetensors", d2);
        m = NULL;
        rc = rc || sl_model_create(spec, 77, &m) || sl_train(m, &tok, &c, p2, &r);
        sl_model_free(m);
        snprintf(p1, sizeof p1, "%s/model.safetensors", d1);
        snprintf(p2, sizeof p2, "%s/model.safetensors", d2);
        ok(!rc && r.step == 4 && tensors_equal(p1, p2), "accum 3: 2 steps + resume to 4 == 4 steps, bit for bit%s%s",
           rc ? ": " : "", rc ? sl_errmsg() : "");
    }

    /* accum travels in the metadata (and is left out at 1, as files were before it) */
    {
        sl_train_config c, back;
        sl_train_defaults(&c);
        c.accum = 5;
        sl_train_meta mt;
        sl_train_meta_fill(&mt, "lm:mixer=rnn", "copy", &c, &tok);
        int found = 0;
        for (int i = 0; i < mt.n; i++) found |= !strcmp(mt.kv[2 * i], "accum") && !strcmp(mt.kv[2 * i + 1], "5");
        c.accum = 1;
        sl_train_meta mt1;
        sl_train_meta_fill(&mt1, "lm:mixer=rnn", "copy", &c, &tok);
        int absent = 1;
        for (int i = 0; i < mt1.n; i++) absent &= strcmp(mt1.kv[2 * i], "accum") != 0;
        snprintf(p1, sizeof p1, "%s/meta.safetensors", dir);
        sl_model *m = NULL;
        sl_train_defaults(&back);
        sl_safetensors *st = NULL;
        int rc = sl_model_create(token_models[2], 1, &m) || sl_params_save(m->P, p1, mt.kv, mt.n) ||
                 sl_safetensors_read(p1, &st) || sl_train_config_from_meta(st, &back);
        sl_model_free(m);
        ok(found && absent && !rc && back.accum == 5, "accum is recorded (5 read back) and left out at 1%s%s", rc ? ": " : "",
           rc ? sl_errmsg() : "");
        sl_safetensors_free(st);
    }

    /* a task whose loss needs its whole batch refuses accumulation */
    {
        sl_task dpo = tok;
        dpo.loss = (double (*)(const sl_task *, const sl_batch *, const float *, float *, float *, long *, long *))1;
        outcome o;
        int rc = run(token_models[1], &dpo, 2, 2, 1, 1, d1, &o);
        ok(rc == SL_EUNSUPPORTED && strstr(sl_errmsg(), "--accum"), "a task with its own batch loss refuses --accum: %s",
           sl_errmsg());
        outcome_free(&o);
    }

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) diag("could not remove %s", dir);
    return done_testing();
}
