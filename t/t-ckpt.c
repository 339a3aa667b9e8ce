/* t/t-ckpt.c — gradient checkpointing (issue #21 item 2, seq/model.h sl_model_set_checkpoint):
 * with K = 1, 2 (and n_layer 3, 4) the outputs and gradients of one forward and backward are
 * bitwise (memcmp) those without, for gpt, llama and the lm: wrapper around lstm, mamba, s4d and
 * attention, on the trainer's path (sl_train_forward, one thread); with dropout (replayed) and
 * packed rows; the activation arenas' peak falls; a run trained with checkpointing (and with
 * --accum) ends with bitwise the same weights, and its K is recorded and read back; bad K is
 * refused with a message. */
#include "core/error.h"
#include "core/safetensors.h"
#include "lab/registry.h"
#include "core/util.h"
#include "lab/trainer.h"
#include "ssm/scan.h"
#include "t/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { V = 13, T = 16, B = 3 };

/* random tokens, the next one (times 5, mod V) as target */
static int toy_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    (void)t;
    (void)split;
    for (size_t n = 0; n < (size_t)b->B * T; n++) {
        b->tok[n] = (int32_t)sl_rng_int(rng, V);
        b->target[n] = (int32_t)((b->tok[n] * 5 + 1) % V);
    }
    return SL_OK;
}

static void toy_init(sl_task *t)
{
    memset(t, 0, sizeof *t);
    t->name = "toy";
    t->token_in = t->token_out = 1;
    t->vocab = V;
    t->T = T;
    t->metric = "val_loss";
    t->sample = toy_sample;
}

/* one forward and backward of a fresh model (checkpointing every K blocks, 0 off) on fixed
 * tokens, dL/dy fixed: y and the gradient block, copied out; training with an rng seeded 5
 * when drop; pos: packed rows or NULL. Also the arenas' peak over the pass (bytes) and the
 * rng's state after it. */
typedef struct {
    float *y, *g;
    size_t ny, ng;
    size_t peak;
    unsigned char rng_after[4096];
} pass_out;

static int g_threads = 1; /* the trainer's pass slices over threads when the model has slices */

static int one_pass(const char *spec, int K, int drop, const int32_t *pos, pass_out *o)
{
    sl_threads_set(g_threads);
    sl_model *m = NULL;
    int rc = sl_model_create(spec, 11, &m);
    if (rc) return rc;
    int32_t tok[B * T];
    for (int n = 0; n < B * T; n++) tok[n] = (int32_t)((n * 7 + 3) % V);
    o->ny = (size_t)B * T * m->d_out;
    o->ng = m->P->total;
    o->y = malloc(o->ny * sizeof(float));
    o->g = malloc(o->ng * sizeof(float));
    float *dy = malloc(o->ny * sizeof(float));
    sl_rng *r = sl_rng_alloc(99), *rng = sl_rng_alloc(5);
    sl_rng_fill_normal(r, dy, o->ny, 1.0f);
    sl_train_pass pass = {0};
    if (!(rc = sl_model_set_checkpoint(m, K))) rc = sl_model_set_docs(m, pos);
    if (drop) sl_model_set_training(m, 1, rng);
    sl_params_zero_grad(m->P);
    size_t now, peak;
    sl_arena_stats(&now, &peak);
    sl_arena_stats_reset();
    if (!rc) rc = sl_train_forward(&pass, m, NULL, tok, o->y, B, T);
    if (!rc) rc = sl_train_backward(&pass, m, dy, NULL);
    size_t now1;
    sl_arena_stats(&now1, &peak);
    o->peak = peak - now;
    memcpy(o->g, m->P->grad, o->ng * sizeof(float));
    memset(o->rng_after, 0, sizeof o->rng_after);
    if (sl_rng_state_size(rng) <= sizeof o->rng_after) sl_rng_state_save(rng, o->rng_after);
    sl_train_pass_free(&pass);
    sl_rng_free(r);
    sl_rng_free(rng);
    free(dy);
    sl_model_free(m);
    return rc;
}

static void pass_free(pass_out *o)
{
    free(o->y);
    free(o->g);
}

/* checkpointing every K blocks == none, bit for bit */
static void check_equal(const char *spec, int K, int drop, const int32_t *pos, const char *what)
{
    pass_out a, b;
    int rc = one_pass(spec, 0, drop, pos, &a);
    if (!rc) rc = one_pass(spec, K, drop, pos, &b);
    int eq = !rc && a.ny == b.ny && a.ng == b.ng && !memcmp(a.y, b.y, a.ny * sizeof(float)) &&
             !memcmp(a.g, b.g, a.ng * sizeof(float)) && !memcmp(a.rng_after, b.rng_after, sizeof a.rng_after);
    double gmax = 0.0;
    for (size_t i = 0; !rc && i < a.ng; i++)
        gmax = gmax > (a.g[i] < 0 ? -a.g[i] : a.g[i]) ? gmax : (a.g[i] < 0 ? -a.g[i] : a.g[i]);
    ok(eq && gmax > 0.0,
       "%s%s, K=%d, %d thread%s: outputs and gradients bitwise equal (memcmp)%s; activation arena peak %zu vs %zu bytes%s%s",
       spec, what, K, g_threads, g_threads > 1 ? "s" : "", drop ? ", rng after backward equal" : "", rc ? 0 : b.peak,
       rc ? 0 : a.peak, rc ? ": " : "", rc ? sl_errmsg() : "");
    if (!rc) {
        pass_free(&a);
        pass_free(&b);
    }
}

/* the activation arenas' peak with K=1 against none */
static void check_peak(const char *spec, double max_ratio)
{
    pass_out a, b;
    int rc = one_pass(spec, 0, 0, NULL, &a);
    if (!rc) rc = one_pass(spec, 1, 0, NULL, &b);
    double ratio = rc ? 1.0 : (double)b.peak / (double)a.peak;
    ok(!rc && ratio <= max_ratio, "%s: K=1 holds %.2f of the activation arenas' peak without (<= %.2f)", spec, ratio, max_ratio);
    if (!rc) {
        pass_free(&a);
        pass_free(&b);
    }
}

static int run_train(const char *spec, sl_task *t, int K, int accum, const char *dir, float **w, size_t *n)
{
    sl_model *m = NULL;
    int rc = sl_model_create(spec, 3, &m);
    sl_train_config c;
    sl_train_defaults(&c);
    c.steps = 3;
    c.sched.decay_steps = 3;
    c.sched.warmup = 0;
    c.batch = 2;
    c.accum = accum;
    c.ckpt_blocks = K;
    c.eval_every = 0;
    c.eval_batches = 1;
    c.ckpt_every = 0;
    c.threads = 1;
    c.progress = 0;
    c.out_dir = dir;
    sl_train_result r;
    if (!rc) rc = sl_train(m, t, &c, NULL, &r);
    if (!rc) {
        *n = m->P->total;
        *w = malloc(*n * sizeof(float));
        memcpy(*w, m->P->data, *n * sizeof(float));
    }
    sl_model_free(m);
    return rc;
}

static void check_train(const char *spec, sl_task *t, int K, int accum, const char *dir)
{
    float *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int rc = run_train(spec, t, 0, accum, dir, &a, &na);
    if (!rc) rc = run_train(spec, t, K, accum, dir, &b, &nb);
    ok(!rc && na == nb && !memcmp(a, b, na * sizeof(float)),
       "%s: 3 AdamW steps%s with K=%d end with the same weights, bit for bit%s%s", spec, accum > 1 ? " of accum 2" : "", K,
       rc ? ": " : "", rc ? sl_errmsg() : "");
    free(a);
    free(b);
}

/* the selective scan's workspace (not an arena) reports its bytes to memory accounting, and its
 * release gives them back: forward holds at least the step sizes (B, L, D), backward adds the
 * partial dB, dC (about 2 B L D floats more) */
static void scan_ws_counted(void)
{
    enum { SB = 2, SL = 100, SD = 32, SN = 16 };
    const size_t nu = (size_t)SB * SL * SD, nb = (size_t)SB * SL * SN;
    float *u = malloc(nu * sizeof(float)), *dl = malloc(nu * sizeof(float)), *A = malloc((size_t)SD * SN * sizeof(float)),
          *Bm = malloc(nb * sizeof(float)), *Cm = malloc(nb * sizeof(float)), *y = malloc(nu * sizeof(float)),
          *du = calloc(nu, sizeof(float));
    sl_rng *r = sl_rng_alloc(3);
    sl_rng_fill_normal(r, u, nu, 1.0f);
    sl_rng_fill_normal(r, dl, nu, 1.0f);
    sl_rng_fill_normal(r, Bm, nb, 1.0f);
    sl_rng_fill_normal(r, Cm, nb, 1.0f);
    for (int i = 0; i < SD * SN; i++) A[i] = -1.0f - (float)(i % SN);
    sl_scan_args a = {
        .B = SB, .L = SL, .D = SD, .N = SN, .G = 1, .u = u, .delta = dl, .A = A, .Bm = Bm, .Cm = Cm, .delta_softplus = 1};
    sl_scan_grads g = {.du = du};
    sl_scan_ws *ws = sl_scan_ws_new();
    size_t n0, n1, n2, n3, pk;
    sl_arena_stats(&n0, &pk);
    int rc = sl_scan_forward(y, NULL, &a, 1, ws);
    sl_arena_stats(&n1, &pk);
    if (!rc) rc = sl_scan_backward(&g, y, &a, ws);
    sl_arena_stats(&n2, &pk);
    sl_scan_ws_release(ws);
    sl_arena_stats(&n3, &pk);
    /* and the released workspace still works: a forward and backward after the release */
    if (!rc) rc = sl_scan_forward(y, NULL, &a, 1, ws);
    if (!rc) rc = sl_scan_backward(&g, y, &a, ws);
    sl_scan_ws_free(ws);
    size_t n4;
    sl_arena_stats(&n4, &pk);
    ok(!rc && n1 - n0 >= nu * sizeof(float) && n2 - n1 >= 2 * nu * sizeof(float) && n3 == n0 && n4 == n0,
       "selective-scan workspace counted: forward +%zu bytes (>= %zu), backward +%zu (>= %zu), released and freed back to +%ld, "
       "+%ld%s%s",
       n1 - n0, nu * sizeof(float), n2 - n1, 2 * nu * sizeof(float), (long)(n3 - n0), (long)(n4 - n0), rc ? ": " : "",
       rc ? sl_errmsg() : "");
    sl_rng_free(r);
    free(u);
    free(dl);
    free(A);
    free(Bm);
    free(Cm);
    free(y);
    free(du);
}

int main(void)
{
    static const char *const specs[] = {
        "gpt:n_layer=3,n_head=2,n_embd=16,block_size=16,vocab_size=13",
        "gpt:n_layer=4,n_head=2,n_embd=16,block_size=16,vocab_size=13,bias=0",
        "llama:n_layers=3,dim=16,n_heads=2,n_kv_heads=1,vocab_size=13,max_seq_len=16,multiple_of=8",
        "llama:n_layers=4,dim=16,n_heads=2,vocab_size=13,max_seq_len=16,multiple_of=8",
        "lm:mixer=lstm,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=lstm,d_model=16,n_layer=4,vocab_size=13",
        "lm:mixer=mamba,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=mamba,d_model=16,n_layer=4,vocab_size=13",
        "lm:mixer=s4d,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=s4d,d_model=16,n_layer=4,vocab_size=13",
        "lm:mixer=attention,d_model=16,n_layer=3,vocab_size=13,n_head=2,max_seq_len=16",
        "lm:mixer=attention,d_model=16,n_layer=4,vocab_size=13,n_head=2,max_seq_len=16",
        /* mixers whose release entries came later: each frees what its next forward refills */
        "lm:mixer=mamba2,d_model=16,n_layer=3,vocab_size=13,headdim=8",
        "lm:mixer=hippo,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=lru,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=retnet,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=gla,d_model=16,n_layer=3,vocab_size=13",
        "lm:mixer=rwkv,d_model=16,n_layer=3,vocab_size=13",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        for (int K = 1; K <= 2; K++) check_equal(specs[i], K, 0, NULL, "");

    /* dropout draws the same masks when a segment is recomputed (the per-operation path of the
     * transformer; the wrapper's mixers draw from the same stream) */
    check_equal("gpt:n_layer=4,n_head=2,n_embd=16,block_size=16,vocab_size=13,dropout=0.2", 1, 1, NULL, " (dropout)");
    check_equal("gpt:n_layer=4,n_head=2,n_embd=16,block_size=16,vocab_size=13,dropout=0.2", 3, 1, NULL, " (dropout)");
    check_equal("lm:mixer=attention,d_model=16,n_layer=4,vocab_size=13,n_head=2,max_seq_len=16,dropout=0.2", 2, 1, NULL,
                " (dropout)");
    check_equal("lm:mixer=lstm,d_model=16,n_layer=3,vocab_size=13,num_layers=2,dropout=0.3", 1, 1, NULL, " (dropout)");

    /* packed rows: documents of 5, 7, 4 / 16 / 9, 7 tokens */
    {
        int32_t pos[B * T];
        const int lens[B][3] = {{5, 7, 4}, {16, 0, 0}, {9, 7, 0}};
        for (int b = 0; b < B; b++)
            for (int d = 0, t = 0; d < 3 && lens[b][d]; d++)
                for (int i = 0; i < lens[b][d]; i++, t++) pos[b * T + t] = i;
        check_equal("lm:mixer=lstm,d_model=16,n_layer=4,vocab_size=13,max_position_embeddings=16", 2, 0, pos, " (packed)");
        check_equal("lm:mixer=lstm,d_model=16,n_layer=3,vocab_size=13,num_layers=2,dropout=0.3", 1, 1, pos, " (packed, dropout)");
        check_equal("lm:mixer=mamba,d_model=16,n_layer=3,vocab_size=13", 1, 0, pos, " (packed)");
        check_equal("lm:mixer=attention,d_model=16,n_layer=4,vocab_size=13,n_head=2,max_seq_len=16,dropout=0.2", 2, 1, pos,
                    " (packed, dropout)");
        check_equal("gpt:n_layer=4,n_head=2,n_embd=16,block_size=16,vocab_size=13", 2, 0, pos, " (packed)");
    }

    /* two threads: the wrapper around mixers without batch slices takes its whole-batch path
     * either way (with attention mixers and in the transformer, the unsliced or one-slice
     * path differs from the sliced one in the order of the batch sums: docs/training.md) */
    g_threads = 2;
    check_equal("lm:mixer=lstm,d_model=16,n_layer=4,vocab_size=13", 1, 0, NULL, "");
    check_equal("lm:mixer=mamba,d_model=16,n_layer=3,vocab_size=13", 2, 0, NULL, "");
    g_threads = 1;

    /* the memory actually falls: caches of released blocks are freed */
    check_peak("lm:mixer=lstm,d_model=16,n_layer=4,vocab_size=13", 0.75); /* small d_model: the wrapper's own rows weigh more */
    check_peak("lm:mixer=mamba,d_model=16,n_layer=4,vocab_size=13", 0.6);
    check_peak("lm:mixer=mamba2,d_model=16,n_layer=4,vocab_size=13,headdim=8", 0.6);
    check_peak("lm:mixer=hippo,d_model=16,n_layer=4,vocab_size=13", 0.6);
    check_peak("gpt:n_layer=4,n_head=2,n_embd=16,block_size=16,vocab_size=13", 0.6);
    check_peak("llama:n_layers=4,dim=16,n_heads=2,vocab_size=13,max_seq_len=16,multiple_of=8", 0.6);

    scan_ws_counted();

    char dir[] = "/tmp/sl-ckpt-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char d1[600];
    snprintf(d1, sizeof d1, "%s/run", dir);
    sl_task tok;
    toy_init(&tok);
    check_train("gpt:n_layer=3,n_head=2,n_embd=16,block_size=16,vocab_size=13", &tok, 1, 1, d1);
    check_train("lm:mixer=mamba,d_model=16,n_layer=4,vocab_size=13", &tok, 2, 2, d1);
    check_train("lm:mixer=lstm,d_model=16,n_layer=3,vocab_size=13,num_layers=2,dropout=0.3", &tok, 1, 1, d1);

    /* K travels in the metadata, and is left out when off */
    {
        sl_train_config c, back;
        sl_train_defaults(&c);
        c.ckpt_blocks = 2;
        sl_train_meta mt, mt0;
        sl_train_meta_fill(&mt, "lm:mixer=rnn", "copy", &c, &tok);
        c.ckpt_blocks = 0;
        sl_train_meta_fill(&mt0, "lm:mixer=rnn", "copy", &c, &tok);
        int absent = 1;
        for (int i = 0; i < mt0.n; i++) absent &= strcmp(mt0.kv[2 * i], "checkpoint_blocks") != 0;
        char p[700];
        snprintf(p, sizeof p, "%s/meta.safetensors", dir);
        sl_model *m = NULL;
        sl_safetensors *st = NULL;
        sl_train_defaults(&back);
        int rc = sl_model_create("lm:mixer=rnn,d_model=8,n_layer=2,vocab_size=13", 1, &m) ||
                 sl_params_save(m->P, p, mt.kv, mt.n) || sl_safetensors_read(p, &st) || sl_train_config_from_meta(st, &back);
        ok(!rc && back.ckpt_blocks == 2 && absent, "checkpoint_blocks is recorded (2 read back) and left out when off%s%s",
           rc ? ": " : "", rc ? sl_errmsg() : "");
        sl_safetensors_free(st);
        sl_model_free(m);
        unlink(p);
    }

    /* bad K */
    {
        sl_model *m = NULL, *r = NULL;
        int rc = sl_model_create("lm:mixer=lstm,d_model=8,n_layer=4,vocab_size=13", 1, &m);
        ok(!rc && sl_model_set_checkpoint(m, -1) == SL_EINVAL && strstr(sl_errmsg(), "[1, 4]"), "K=-1 refused: %s", sl_errmsg());
        ok(!rc && sl_model_set_checkpoint(m, 5) == SL_EINVAL && strstr(sl_errmsg(), "[1, 4]"), "K=5 > n_layer=4 refused: %s",
           sl_errmsg());
        ok(!rc && sl_model_set_checkpoint(m, 4) == SL_OK && sl_model_set_checkpoint(m, 0) == SL_OK,
           "K=4 (= n_layer) and 0 (off) accepted");
        rc = sl_model_create("lstm:input_size=4,hidden_size=8", 1, &r);
        ok(!rc && sl_model_set_checkpoint(r, 1) == SL_EUNSUPPORTED && strstr(sl_errmsg(), "no gradient checkpointing"),
           "a model without blocks refuses: %s", sl_errmsg());
        ok(!rc && sl_model_set_checkpoint(r, 0) == SL_OK, "... and accepts 0 (off)");
        sl_model_free(m);
        sl_model_free(r);
    }
    rmdir(d1);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) diag("could not remove %s", dir);
    return done_testing();
}
