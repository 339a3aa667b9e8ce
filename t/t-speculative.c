/* t/t-speculative.c — speculative decoding (lab/speculative.h, issue #17 item 4):
 *  - greedy speculative output is the target's plain greedy output (sl_decoder, step mode),
 *    for attention, Mamba, LSTM and GPT targets with a small-network draft, an n-gram draft and
 *    the target itself as draft, k = 1, 3, 5, up to a full context (k shrinks at the end);
 *  - sampled output has the target's distribution: the first three tokens after a prompt over
 *    many seeds, chi-square against the exact joint distribution of the target on a 4-token
 *    vocabulary (and, to show the test has power, the same counts are rejected against the
 *    draft's distribution); also with top-k and top-p filters;
 *  - constrained (a --regex or --json-schema constraint masks the draft's and the target's
 *    distributions alike): greedy equals plain constrained greedy and is a complete match, for
 *    GPT and Mamba targets with small-GPT and n-gram drafts, over characters and over
 *    multi-character pieces; sampled outputs over 100-200 seeds are all complete matches; the
 *    joint distribution of 3 constrained tokens equals the target's constrained distribution
 *    (chi-square, with the budget masking the last token), and the draft's is rejected;
 *  - bad input: a draft with another vocabulary, k outside 1..64, no prompt. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "lab/constrain.h"
#include "lab/generate.h"
#include "lab/registry.h"
#include "lab/sample.h"
#include "lab/speculative.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static sl_model *make(const char *spec, uint64_t seed)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, seed, &m)) {
        diag("create %s: %s", spec, sl_errmsg());
        return NULL;
    }
    return m;
}

static sl_model *make_ngram(int V, int order)
{
    char spec[64];
    snprintf(spec, sizeof spec, "ngram:order=%d,vocab_size=%d", order, V);
    sl_model *m = make(spec, 1);
    int32_t corpus[600];
    for (int i = 0; i < 600; i++) corpus[i] = (int32_t)((i * i + 3 * i + i / 7) % V);
    if (m && sl_model_fit(m, corpus, 600)) diag("fit: %s", sl_errmsg());
    return m;
}

/* plain greedy with the decoder: n tokens after the prompt, or fewer when the context is full */
static int plain_greedy(sl_model *m, const int32_t *prompt, int np, int32_t *out, int n)
{
    sl_decoder *d = NULL;
    if (sl_decoder_new(m, 0, &d) || sl_decoder_feed(d, prompt, np)) return -1;
    int got = 0;
    sl_sampler g = {.temperature = 0};
    float *work = malloc(2 * (size_t)m->d_out * sizeof(float));
    int *iw = malloc((size_t)m->d_out * sizeof(int));
    while (got < n) {
        int32_t t = sl_sample_logits(sl_decoder_logits(d), m->d_out, &g, NULL, work, iw);
        out[got++] = t;
        if (sl_decoder_room(d) == 0 || sl_decoder_feed(d, &t, 1)) break;
    }
    free(work);
    free(iw);
    sl_decoder_free(d);
    return got;
}

static int spec_generate(sl_model *t, sl_model *d, int k, const int32_t *prompt, int np, const sl_sampler *smp, uint64_t seed,
                         int32_t *out, int n, sl_speculative_stats *st)
{
    sl_speculative *s = NULL;
    if (sl_speculative_new(t, d, k, &s) || sl_speculative_feed(s, prompt, np)) {
        diag("spec: %s", sl_errmsg());
        sl_speculative_free(s);
        return -1;
    }
    sl_rng *rng = sl_rng_alloc(seed);
    int32_t buf[80];
    int got = 0;
    while (got < n) {
        int m = 0;
        if (sl_speculative_round(s, smp, rng, buf, &m)) break; /* context full */
        for (int i = 0; i < m && got < n; i++) out[got++] = buf[i];
    }
    if (st) sl_speculative_get_stats(s, st);
    sl_rng_free(rng);
    sl_speculative_free(s);
    return got;
}

static void greedy_case(const char *label, sl_model *t, sl_model *d, int k, int n)
{
    const int32_t prompt[] = {1, 4, 2, 7, 3};
    int32_t a[200], b[200];
    sl_sampler g = {.temperature = 0};
    sl_speculative_stats st;
    memset(&st, 0, sizeof st);
    int na = plain_greedy(t, prompt, 5, a, n), nb = spec_generate(t, d, k, prompt, 5, &g, 1, b, n, &st);
    ok(na > 0 && na == nb && !memcmp(a, b, (size_t)na * sizeof(int32_t)),
       "%s, k=%d: greedy speculative == plain greedy (%d tokens; acceptance %ld/%ld)", label, k, nb, st.accepted, st.drafted);
}

static void test_greedy(void)
{
    const int V = 11;
    sl_model *gpt = make("gpt:n_layer=2,n_head=2,n_embd=32,block_size=64,vocab_size=11", 1);
    sl_model *gpt_small = make("gpt:n_layer=1,n_head=1,n_embd=16,block_size=64,vocab_size=11", 2);
    sl_model *mamba = make("lm:mixer=mamba,d_model=32,n_layer=2,vocab_size=11", 3);
    sl_model *lstm = make("lm:mixer=lstm,d_model=32,n_layer=2,vocab_size=11", 4);
    sl_model *gpt_copy = make("gpt:n_layer=2,n_head=2,n_embd=32,block_size=64,vocab_size=11", 1);
    sl_model *ng = make_ngram(V, 3);
    if (!gpt || !gpt_small || !mamba || !lstm || !gpt_copy || !ng) {
        ok(0, "models");
        return;
    }
    for (int k = 1; k <= 5; k += 2) {
        greedy_case("gpt target, small gpt draft", gpt, gpt_small, k, 40);
        greedy_case("gpt target, n-gram draft", gpt, ng, k, 40);
    }
    greedy_case("gpt target, itself as draft", gpt, gpt_copy, 4, 40);
    greedy_case("mamba target, small gpt draft", mamba, gpt_small, 3, 40);
    greedy_case("mamba target, n-gram draft", mamba, ng, 4, 40);
    greedy_case("lstm target, mamba draft", lstm, mamba, 3, 40);
    /* through the end of a 64-position context: k shrinks, then a target-only round */
    greedy_case("gpt target to a full context", gpt, gpt_small, 5, 200);
    sl_model_free(gpt);
    sl_model_free(gpt_small);
    sl_model_free(mamba);
    sl_model_free(lstm);
    sl_model_free(gpt_copy);
    sl_model_free(ng);
}

/* exact joint distribution of the first 3 tokens after prompt under model m and sampler smp:
 * out (V^3) */
static void joint3(sl_model *m, const int32_t *prompt, int np, const sl_sampler *smp, double *out)
{
    const int V = m->d_out;
    float *p1 = malloc(V * sizeof(float)), *p2 = malloc(V * sizeof(float)), *p3 = malloc(V * sizeof(float));
    float *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc(V * sizeof(int));
    int32_t ctx[16];
    memcpy(ctx, prompt, (size_t)np * sizeof(int32_t));
    float *y = malloc((size_t)(np + 2) * V * sizeof(float));
    for (int a = 0; a < V; a++)
        for (int b = 0; b < V; b++) {
            ctx[np] = a;
            ctx[np + 1] = b;
            sl_model_run_steps(m, NULL, ctx, y, 1, np + 2);
            sl_sample_probs(y + (size_t)(np - 1) * V, V, smp, p1, work, iw);
            sl_sample_probs(y + (size_t)np * V, V, smp, p2, work, iw);
            sl_sample_probs(y + (size_t)(np + 1) * V, V, smp, p3, work, iw);
            for (int c = 0; c < V; c++) out[(a * V + b) * V + c] = (double)p1[a] * p2[b] * p3[c];
        }
    free(p1);
    free(p2);
    free(p3);
    free(work);
    free(iw);
    free(y);
}

/* chi-square p-value of counts against probabilities (cells of expectation < 5 pooled) */
static double chi2_p(const long *cnt, const double *pr, int n, long N, int *bad_zero)
{
    double chi = 0.0, pool_e = 0.0, pool_o = 0.0;
    int df = -1;
    *bad_zero = 0;
    for (int i = 0; i < n; i++) {
        double e = pr[i] * N;
        if (pr[i] == 0.0 && cnt[i] > 0) *bad_zero = 1;
        if (e < 5.0) {
            pool_e += e;
            pool_o += cnt[i];
            continue;
        }
        chi += (cnt[i] - e) * (cnt[i] - e) / e;
        df++;
    }
    if (pool_e > 0.0) {
        chi += (pool_o - pool_e) * (pool_o - pool_e) / (pool_e > 1e-9 ? pool_e : 1e-9);
        df++;
    }
    return df > 0 ? gsl_cdf_chisq_Q(chi, df) : 1.0;
}

static void dist_case(const char *label, sl_model *t, sl_model *d, int k, const sl_sampler *smp, long N)
{
    const int V = t->d_out, n3 = V * V * V;
    const int32_t prompt[] = {1, 3, 0};
    double *pt = malloc(n3 * sizeof(double)), *pd = malloc(n3 * sizeof(double));
    long *cnt = calloc(n3, sizeof(long));
    joint3(t, prompt, 3, smp, pt);
    joint3(d, prompt, 3, smp, pd);
    long acc = 0, dr = 0;
    for (long i = 0; i < N; i++) {
        int32_t o[3];
        sl_speculative_stats st;
        if (spec_generate(t, d, k, prompt, 3, smp, 1000 + (uint64_t)i, o, 3, &st) != 3) {
            ok(0, "%s: generation failed", label);
            goto done;
        }
        acc += st.accepted;
        dr += st.drafted;
        cnt[(o[0] * V + o[1]) * V + o[2]]++;
    }
    int z1, z2;
    double pv = chi2_p(cnt, pt, n3, N, &z1), pv_d = chi2_p(cnt, pd, n3, N, &z2);
    ok(!z1 && pv > 1e-3,
       "%s, k=%d: %ld samples of 3 tokens match the target's distribution (chi-square p = %.3g; acceptance %.2f)", label, k, N,
       pv, dr ? (double)acc / dr : 0.0);
    ok(pv_d < 1e-6, "%s: the same counts are rejected against the draft's distribution (p = %.2g): the test has power", label,
       pv_d);
done:
    free(pt);
    free(pd);
    free(cnt);
}

static void test_distribution(void)
{
    sl_model *t = make("lm:mixer=gru,d_model=16,n_layer=1,vocab_size=4", 11);
    sl_model *d = make("gpt:n_layer=1,n_head=1,n_embd=16,block_size=32,vocab_size=4", 12);
    sl_model *ng = make_ngram(4, 2);
    if (!t || !d || !ng) {
        ok(0, "models");
        return;
    }
    /* random-init logits are close together: a low temperature makes the distributions far
     * from uniform and far from each other */
    sl_sampler s1 = {.temperature = 0.05f, .top_k = 0, .top_p = 1.0f};
    dist_case("gru target, gpt draft, T=0.05", t, d, 3, &s1, 20000);
    sl_sampler s2 = {.temperature = 0.04f, .top_k = 3, .top_p = 0.9f};
    dist_case("gru target, gpt draft, T=0.04 top-k 3 top-p 0.9", t, d, 2, &s2, 20000);
    dist_case("gru target, n-gram draft, T=0.05", t, ng, 4, &s1, 20000);
    sl_model_free(t);
    sl_model_free(d);
    sl_model_free(ng);
}

/* ---- constrained speculative decoding (lab/constrain.h): both distributions masked ---- */

/* plain constrained decoding with the decoder: up to n tokens, fewer when nothing may follow */
static int plain_constrained(sl_model *m, sl_constraint *c, const int32_t *prompt, int np, const sl_sampler *smp, uint64_t seed,
                             int32_t *out, int n)
{
    sl_decoder *d = NULL;
    if (sl_decoder_new(m, 0, &d) || sl_decoder_feed(d, prompt, np)) return -1;
    const int V = m->d_out;
    float *lg = malloc((size_t)V * sizeof(float)), *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc((size_t)V * sizeof(int));
    sl_rng *rng = sl_rng_alloc(seed);
    sl_constraint_reset(c);
    int got = 0;
    while (got < n) {
        memcpy(lg, sl_decoder_logits(d), (size_t)V * sizeof(float));
        if (sl_constraint_mask_budget(c, lg, n - got) == 0) break;
        int32_t t = sl_sample_logits(lg, V, smp, rng, work, iw);
        if (sl_constraint_advance(c, t)) break;
        out[got++] = t;
        if (sl_decoder_room(d) == 0 || sl_decoder_feed(d, &t, 1)) break;
    }
    free(lg);
    free(work);
    free(iw);
    sl_rng_free(rng);
    sl_decoder_free(d);
    return got;
}

static int spec_constrained(sl_model *t, sl_model *d, int k, sl_constraint *c, const int32_t *prompt, int np,
                            const sl_sampler *smp, uint64_t seed, int32_t *out, int n, sl_speculative_stats *st)
{
    sl_speculative *s = NULL;
    if (sl_speculative_new(t, d, k, &s) || sl_speculative_feed(s, prompt, np)) {
        diag("spec: %s", sl_errmsg());
        sl_speculative_free(s);
        return -1;
    }
    sl_rng *rng = sl_rng_alloc(seed);
    sl_constraint_reset(c);
    int32_t buf[80];
    int got = 0;
    while (got < n) {
        int m = 0;
        sl_speculative_constrain(s, c, n - got);
        if (sl_speculative_round(s, smp, rng, buf, &m)) break;
        if (m == 0) break;
        for (int i = 0; i < m && got < n; i++) out[got++] = buf[i];
    }
    if (st) sl_speculative_get_stats(s, st);
    sl_rng_free(rng);
    sl_speculative_free(s);
    return got;
}

/* text of tokens */
static int detok(const int32_t *tok, int n, const char *const *piece, char *text)
{
    int L = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(piece[tok[i]]);
        memcpy(text + L, piece[tok[i]], l);
        L += (int)l;
    }
    text[L] = 0;
    return L;
}

/* greedy: equal to plain constrained greedy, in the language; sampled over many seeds: every
 * output in the language */
static void cgreedy_case(const char *label, sl_model *t, sl_model *d, int k, sl_constraint *c, const char *const *piece, int n,
                         int seeds)
{
    const int32_t prompt[] = {1, 4, 2, 7, 3};
    int32_t a[200], b[200];
    char ta[4096], tb[4096];
    sl_sampler g = {.temperature = 0};
    sl_speculative_stats st;
    memset(&st, 0, sizeof st);
    int na = plain_constrained(t, c, prompt, 5, &g, 1, a, n);
    int acc_a = sl_constraint_accepting(c);
    int nb = spec_constrained(t, d, k, c, prompt, 5, &g, 1, b, n, &st);
    int acc_b = sl_constraint_accepting(c);
    detok(a, na > 0 ? na : 0, piece, ta);
    int Lb = detok(b, nb > 0 ? nb : 0, piece, tb);
    ok(na > 0 && na == nb && !memcmp(a, b, (size_t)na * sizeof(int32_t)) && acc_a && acc_b && sl_constraint_matches(c, tb, Lb),
       "%s, k=%d: constrained greedy speculative == plain constrained greedy, a complete match (%d tokens '%s'; acceptance "
       "%ld/%ld)",
       label, k, nb, tb, st.accepted, st.drafted);
    sl_sampler smp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    int good = 0, distinct = 0;
    long acc = 0, dr = 0;
    char first[4096] = "";
    for (int s = 0; s < seeds; s++) {
        nb = spec_constrained(t, d, k, c, prompt, 5, &smp, 500 + (uint64_t)s, b, n, &st);
        Lb = detok(b, nb > 0 ? nb : 0, piece, tb);
        int okm = nb > 0 && sl_constraint_matches(c, tb, Lb);
        if (!okm && good == s) diag("seed %d: '%s' is not in the language", s, tb);
        good += okm;
        acc += st.accepted;
        dr += st.drafted;
        if (s == 0) strcpy(first, tb);
        else distinct += strcmp(first, tb) != 0;
    }
    ok(good == seeds && distinct > 0,
       "%s, k=%d: %d of %d sampled speculative outputs are complete matches (acceptance %.2f; e.g. '%s')", label, k, good, seeds,
       dr ? (double)acc / dr : 0.0, first);
}

/* exact joint distribution of the first 3 tokens under constrained sampling of m (budget 3) */
static void joint3c(sl_model *m, sl_constraint *c, const int32_t *prompt, int np, const sl_sampler *smp, double *out)
{
    const int V = m->d_out;
    float *p = malloc(3 * (size_t)V * sizeof(float)), *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc(V * sizeof(int));
    int32_t ctx[16];
    memcpy(ctx, prompt, (size_t)np * sizeof(int32_t));
    float *y = malloc((size_t)(np + 2) * V * sizeof(float));
    for (int a = 0; a < V; a++)
        for (int b = 0; b < V; b++) {
            ctx[np] = a;
            ctx[np + 1] = b;
            sl_model_run_steps(m, NULL, ctx, y, 1, np + 2);
            sl_constraint_reset(c);
            int live = 1;
            for (int i = 0; i < 3; i++) {
                float *row = y + (size_t)(np - 1 + i) * V;
                if (!live || sl_constraint_mask_budget(c, row, 3 - i) == 0) {
                    live = 0;
                    break;
                }
                sl_sample_probs(row, V, smp, p + (size_t)i * V, work, iw);
                if (i < 2 && sl_constraint_advance(c, i == 0 ? a : b)) live = 0;
            }
            for (int x = 0; x < V; x++) out[(a * V + b) * V + x] = live ? (double)p[a] * p[V + b] * p[2 * V + x] : 0.0;
        }
    free(p);
    free(work);
    free(iw);
    free(y);
}

static void cdist_case(const char *label, sl_model *t, sl_model *d, int k, sl_constraint *c, const sl_sampler *smp, long N)
{
    const int V = t->d_out, n3 = V * V * V;
    const int32_t prompt[] = {1, 3, 0};
    double *pt = malloc(n3 * sizeof(double)), *pd = malloc(n3 * sizeof(double));
    long *cnt = calloc(n3, sizeof(long));
    joint3c(t, c, prompt, 3, smp, pt);
    joint3c(d, c, prompt, 3, smp, pd);
    long acc = 0, dr = 0;
    for (long i = 0; i < N; i++) {
        int32_t o[3];
        sl_speculative_stats st;
        if (spec_constrained(t, d, k, c, prompt, 3, smp, 7000 + (uint64_t)i, o, 3, &st) != 3) {
            ok(0, "%s: generation failed", label);
            goto done;
        }
        acc += st.accepted;
        dr += st.drafted;
        cnt[(o[0] * V + o[1]) * V + o[2]]++;
    }
    int z1, z2;
    double pv = chi2_p(cnt, pt, n3, N, &z1), pv_d = chi2_p(cnt, pd, n3, N, &z2);
    ok(!z1 && pv > 1e-3,
       "%s, k=%d: %ld constrained samples of 3 tokens match the target's constrained distribution (chi-square p = %.3g; "
       "acceptance %.2f; no sample outside the language)",
       label, k, N, pv, dr ? (double)acc / dr : 0.0);
    ok(pv_d < 1e-6, "%s: the same counts are rejected against the draft's constrained distribution (p = %.2g)", label, pv_d);
done:
    free(pt);
    free(pd);
    free(cnt);
}

static void test_constrained(void)
{
    /* characters: the 95 printable ASCII bytes */
    static char store[95][2];
    const char *pc[95];
    int ln[95];
    for (int v = 0; v < 95; v++) {
        store[v][0] = (char)(32 + v);
        store[v][1] = 0;
        pc[v] = store[v];
        ln[v] = 1;
    }
    sl_model *gpt = make("gpt:n_layer=2,n_head=2,n_embd=32,block_size=128,vocab_size=95", 21);
    sl_model *small = make("gpt:n_layer=1,n_head=1,n_embd=16,block_size=128,vocab_size=95", 22);
    sl_model *mamba = make("lm:mixer=mamba,d_model=32,n_layer=2,vocab_size=95", 23);
    sl_model *ng = make_ngram(95, 3);
    const char *schema = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\","
                         "\"items\":{\"enum\":[\"x\",\"yz\"]}},\"v\":{\"type\":\"number\"},\"on\":{\"type\":\"boolean\"}},"
                         "\"required\":[\"id\",\"on\"]}";
    sl_constraint *cj = NULL, *cr = NULL;
    if (!gpt || !small || !mamba || !ng || sl_constraint_json_schema(schema, strlen(schema), 95, pc, ln, &cj) ||
        sl_constraint_regex("[a-z]+(-[0-9]{1,3})?@(ab|cd)\\.(com|org)", 95, pc, ln, &cr)) {
        ok(0, "constrained: models and constraints: %s", sl_errmsg());
        return;
    }
    for (int k = 1; k <= 5; k += 2) cgreedy_case("--json-schema: gpt target, small gpt draft", gpt, small, k, cj, pc, 60, 200);
    cgreedy_case("--json-schema: gpt target, n-gram draft", gpt, ng, 4, cj, pc, 60, 200);
    cgreedy_case("--json-schema: mamba target, small gpt draft", mamba, small, 3, cj, pc, 60, 100);
    cgreedy_case("--regex: gpt target, n-gram draft", gpt, ng, 3, cr, pc, 40, 200);
    cgreedy_case("--regex: mamba target, gpt draft", mamba, gpt, 4, cr, pc, 40, 100);
    sl_constraint_free(cj);
    sl_constraint_free(cr);
    sl_model_free(gpt);
    sl_model_free(small);
    sl_model_free(mamba);
    sl_model_free(ng);
    /* multi-character pieces that straddle the pattern's parts */
    {
        const char *mp[] = {"{",   "}",   "\"", ":",  ",",   "a",   "b", "ab", "\"a",
                            "b\"", "\":", "1",  "23", "{\"", "\"}", " ", "ba", "x"};
        const int V = (int)(sizeof mp / sizeof *mp);
        int ml[32];
        for (int v = 0; v < V; v++) ml[v] = (int)strlen(mp[v]);
        char spec[128];
        snprintf(spec, sizeof spec, "lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=%d", V);
        sl_model *t = make(spec, 24);
        snprintf(spec, sizeof spec, "gpt:n_layer=1,n_head=1,n_embd=16,block_size=128,vocab_size=%d", V);
        sl_model *dd = make(spec, 25);
        sl_constraint *c = NULL;
        if (t && dd && !sl_constraint_regex("\\{\"[ab]+\":[0-9]+(,\"[ab]+\":[0-9]+)*\\}", V, mp, ml, &c))
            cgreedy_case("--regex, multi-character pieces: mamba target, gpt draft", t, dd, 3, c, mp, 40, 200);
        else ok(0, "pieces: %s", sl_errmsg());
        sl_constraint_free(c);
        sl_model_free(t);
        sl_model_free(dd);
    }
    /* the distribution: a 4-token vocabulary a b c d, the pattern [ab]([cd]|ab)* with a budget
     * of 3 tokens (the third token must end a match: the budget masks 'a' there) */
    {
        sl_model *t = make("lm:mixer=gru,d_model=16,n_layer=1,vocab_size=4", 11);
        sl_model *d = make("gpt:n_layer=1,n_head=1,n_embd=16,block_size=32,vocab_size=4", 12);
        const char *p4[] = {"a", "b", "c", "d"};
        const int l4[] = {1, 1, 1, 1};
        sl_constraint *c = NULL;
        if (t && d && !sl_constraint_regex("[ab]([cd]|ab)*", 4, p4, l4, &c)) {
            sl_sampler s1 = {.temperature = 0.05f, .top_k = 0, .top_p = 1.0f};
            cdist_case("constrained: gru target, gpt draft, T=0.05", t, d, 3, c, &s1, 20000);
            sl_sampler s2 = {.temperature = 0.3f, .top_k = 0, .top_p = 1.0f};
            cdist_case("constrained: gru target, gpt draft, T=0.3", t, d, 2, c, &s2, 20000);
        } else {
            ok(0, "distribution models: %s", sl_errmsg());
        }
        sl_constraint_free(c);
        sl_model_free(t);
        sl_model_free(d);
    }
}

static void test_errors(void)
{
    sl_model *a = make("gpt:n_layer=1,n_head=1,n_embd=16,block_size=32,vocab_size=11", 1);
    sl_model *b = make("gpt:n_layer=1,n_head=1,n_embd=16,block_size=32,vocab_size=12", 1);
    sl_speculative *s = NULL;
    int rc = sl_speculative_new(a, b, 3, &s);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "vocabulary") && !s, "a draft with another vocabulary is refused: %s", sl_errmsg());
    ok(sl_speculative_new(a, a, 0, &s) == SL_EINVAL && !s, "k = 0 is refused: %s", sl_errmsg());
    ok(sl_speculative_new(a, a, 65, &s) == SL_EINVAL && !s, "k = 65 is refused");
    ok(sl_speculative_new(a, a, 2, &s) == 0, "k = 2 with the target as its own draft");
    int32_t o[3];
    int n;
    sl_sampler g = {.temperature = 0};
    ok(sl_speculative_round(s, &g, NULL, o, &n) == SL_EINVAL, "a round before any prompt is refused: %s", sl_errmsg());
    int32_t bad = 11;
    ok(sl_speculative_feed(s, &bad, 1) == SL_EINVAL, "a token outside the vocabulary is refused: %s", sl_errmsg());
    int32_t many[40] = {0};
    ok(sl_speculative_feed(s, many, 33) == SL_ESHAPE, "a prompt longer than the context is refused: %s", sl_errmsg());
    sl_speculative_free(s);
    sl_model_free(a);
    sl_model_free(b);
}

int main(void)
{
    test_errors();
    test_greedy();
    test_distribution();
    test_constrained();
    return done_testing();
}
