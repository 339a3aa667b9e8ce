/* t/t-prefill.c — prefill in sequence mode with the state handed to step mode (issue #17
 * item 3), for every registered model with step mode:
 *  - chunked prefill (sl_model_prefill over chunks of several sizes, from a fresh state) gives
 *    the outputs of stepping token by token (sl_model_run_steps), and the state it leaves
 *    continues exactly as stepping's would (the chunks alternate with single steps);
 *  - every mixer bare (real input, B = 2 rows) and inside the LM wrapper (tokens, B = 1);
 *  - gpt, llama, the n-gram model;
 *  - sl_model_state_copy: a copy taken mid-sequence continues bit for bit like the original.
 * Which models run prefill in sequence mode themselves and which fall back to stepping is
 * printed as a diagnostic (docs/decoding.md lists them). */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "lab/generate.h"
#include "lab/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T = 23, V = 11, W = 16 };

/* chunk patterns: 1 = one step() call, > 1 a prefill of that many positions */
static const int patterns[][8] = {
    {T, 0},             /* the whole sequence at once */
    {1, 1, 1, 1, 0},    /* steps, then the rest as one chunk (0 ends: the rest) */
    {5, 1, 7, 2, 3, 0}, /* mixed */
    {2, 2, 2, 2, 2, 0}, /* pairs */
    {11, 1, 1, 0},
};

/* run one chunk of positions [t0, t0+n) of the (B, T, .) input through the state */
static int run_chunk(sl_model *m, void *st, const float *x, const int32_t *tok, float *y, int B, int t0, int n, int use_step)
{
    const int din = m->d_in, dout = m->d_out;
    float *xc = x ? malloc((size_t)B * n * din * sizeof(float)) : NULL;
    int32_t *tc = tok ? malloc((size_t)B * n * sizeof(int32_t)) : NULL;
    float *yc = malloc((size_t)B * n * dout * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++) {
            if (x) memcpy(xc + ((size_t)b * n + t) * din, x + ((size_t)b * T + t0 + t) * din, (size_t)din * sizeof(float));
            if (tok) tc[(size_t)b * n + t] = tok[(size_t)b * T + t0 + t];
        }
    int rc = use_step && n == 1 ? sl_model_step(m, st, xc, tc, yc) : sl_model_prefill(m, st, xc, tc, yc, B, n);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++)
            memcpy(y + ((size_t)b * T + t0 + t) * dout, yc + ((size_t)b * n + t) * dout, (size_t)dout * sizeof(float));
    free(xc);
    free(tc);
    free(yc);
    return rc;
}

static void check_model(const char *label, sl_model *m, int B, double tol)
{
    const int din = m->d_in, dout = m->d_out, tokens = (m->caps & SL_CAP_TOKEN_IN) != 0;
    float *x = tokens ? NULL : tu_random((size_t)B * T * din, 1.0f, 7);
    int32_t *tok = tokens ? malloc((size_t)B * T * sizeof(int32_t)) : NULL;
    if (tok)
        for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((i * 7 + 3) % din);
    float *ref = malloc((size_t)B * T * dout * sizeof(float)), *y = malloc((size_t)B * T * dout * sizeof(float));
    float *y2 = malloc((size_t)B * T * dout * sizeof(float));
    int rc = sl_model_run_steps(m, x, tok, ref, B, T);
    if (!ok(rc == 0, "%s: stepping runs", label)) {
        diag("%s", sl_errmsg());
        goto done;
    }
    double worst = 0.0;
    int fails = 0;
    for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
        void *st = sl_model_state_new(m, B);
        if (!st) {
            fails++;
            diag("%s: state_new: %s", label, sl_errmsg());
            break;
        }
        memset(y, 0, (size_t)B * T * dout * sizeof(float));
        int t0 = 0;
        for (int i = 0; t0 < T; i++) {
            int n = patterns[p][i] ? patterns[p][i] : T - t0;
            if (n > T - t0) n = T - t0;
            if ((rc = run_chunk(m, st, x, tok, y, B, t0, n, 1))) {
                diag("%s: pattern %zu at %d (+%d): %s", label, p, t0, n, sl_errmsg());
                fails++;
                break;
            }
            t0 += n;
        }
        sl_model_state_free(m, st);
        double e = tu_rel_diff_1p(y, ref, (size_t)B * T * dout);
        if (e > worst) worst = e;
    }
    ok(!fails && worst <= tol, "%s: chunked prefill (5 chunk patterns) == token-by-token stepping (rel %.1e, tol %.0e)%s", label,
       worst, tol, sl_model_has_prefill(m) ? "" : " [step fallback]");
    /* snapshot: prefill 9 positions, copy the state, continue both with the rest */
    void *a = sl_model_state_new(m, B), *c = sl_model_state_new(m, B);
    rc = run_chunk(m, a, x, tok, y, B, 0, 9, 0);
    if (!rc) rc = sl_model_state_copy(m, c, a);
    if (rc == SL_EUNSUPPORTED) {
        ok(1, "%s: no state copy (reported: %s)", label, sl_errmsg());
    } else {
        /* spoil c's source afterwards: the copy must not share memory with it */
        if (!rc) rc = run_chunk(m, a, x, tok, y, B, 9, T - 9, 0);
        memcpy(y2, y, (size_t)B * T * dout * sizeof(float));
        if (!rc) rc = run_chunk(m, c, x, tok, y2, B, 9, T - 9, 0);
        ok(!rc && memcmp(y, y2, (size_t)B * T * dout * sizeof(float)) == 0,
           "%s: a state copied mid-sequence continues bit for bit like the original", label);
        if (rc) diag("%s", sl_errmsg());
    }
    sl_model_state_free(m, a);
    sl_model_state_free(m, c);
done:
    free(x);
    free(tok);
    free(ref);
    free(y);
    free(y2);
}

static void make_and_check(const char *label, const char *spec, int B, double tol)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, 3, &m)) {
        ok(0, "%s: create %s: %s", label, spec, sl_errmsg());
        return;
    }
    if (!(m->caps & SL_CAP_STEP) || (m->caps & SL_CAP_BIDIR)) {
        skip("no step mode");
        sl_model_free(m);
        return;
    }
    /* random weights at a scale where every mixer's output is far from zero */
    check_model(label, m, B, tol);
    sl_model_free(m);
}

static void test_ngram(void)
{
    sl_model *m = NULL;
    if (sl_model_create("ngram:order=3,vocab_size=11", 1, &m)) {
        ok(0, "ngram: %s", sl_errmsg());
        return;
    }
    int32_t corpus[400];
    for (int i = 0; i < 400; i++) corpus[i] = (int32_t)((i * i + 3 * i) % V);
    if (sl_model_fit(m, corpus, 400)) ok(0, "ngram fit: %s", sl_errmsg());
    check_model("ngram:order=3", m, 1, 0.0);
    sl_model_free(m);
}

int main(void)
{
    char spec[256], label[128];
    for (int i = 0; sl_registry_entry(i); i++) {
        const sl_model_entry *e = sl_registry_entry(i);
        if (!e->is_mixer) continue;
        /* the bare mixer on real input, two rows */
        tu_mixer_spec_bare(spec, sizeof spec, e, W);
        snprintf(label, sizeof label, "%s (bare, B=2)", e->name);
        make_and_check(label, spec, 2, 1e-5);
        /* inside the LM wrapper, tokens, one row (the decoder's case) */
        tu_mixer_spec_lm(spec, sizeof spec, e, W, V);
        snprintf(label, sizeof label, "lm:mixer=%s", e->name);
        make_and_check(label, spec, 1, 1e-5);
    }
    make_and_check("gpt", "gpt:n_layer=2,n_head=2,n_embd=16,block_size=32,vocab_size=11", 1, 1e-4);
    make_and_check("gpt (B=2)", "gpt:n_layer=2,n_head=2,n_embd=16,block_size=32,vocab_size=11", 2, 1e-4);
    make_and_check("llama", "llama:n_layers=2,n_heads=4,n_kv_heads=2,dim=16,max_seq_len=32,vocab_size=11", 1, 1e-4);
    make_and_check("lm with learned positions", "lm:mixer=lstm,d_model=16,n_layer=1,vocab_size=11,max_position_embeddings=32", 1,
                   1e-4);
    test_ngram();

    /* the decoder feeds a prompt with one prefill: same logits as feeding it token by token */
    {
        sl_model *m = NULL;
        if (!sl_model_create("lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11", 5, &m)) {
            sl_decoder *a = NULL, *b = NULL;
            int32_t p[17];
            for (int i = 0; i < 17; i++) p[i] = (int32_t)((5 * i + 1) % V);
            sl_decoder_new(m, 0, &a);
            sl_decoder_new(m, 0, &b);
            int rc = sl_decoder_feed(a, p, 17);
            for (int i = 0; i < 17 && !rc; i++) rc = sl_decoder_feed(b, p + i, 1);
            ok(!rc && tu_rel_diff_1p(sl_decoder_logits(a), sl_decoder_logits(b), V) < 1e-5,
               "decoder: a 17-token prompt fed at once == fed token by token");
            sl_decoder_free(a);
            sl_decoder_free(b);
            sl_model_free(m);
        }
    }
    return done_testing();
}
