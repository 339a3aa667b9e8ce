/* t/t-ngram.c — tokenizers, corpus reader, n-gram estimation vs KenLM's lmplz, ARPA I/O and
 * errors, KenLM-query perplexities, normalisation of every method, hand-computed MLE, add-k
 * and plain Kneser-Ney probabilities on a two-sentence corpus (KenLM has none of these three),
 * the ngram token model. */
#include "t/tap.h"

#include "core/error.h"
#include "lab/registry.h"
#include "nlp/ngram.h"
#include "nlp/ngram_model.h"
#include "nlp/vocab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_src[4096], g_tmp[4096];

static const char *src(const char *rel)
{
    static char buf[8][8400];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_src, rel);
    return buf[i];
}

static const char *tmpf(const char *name)
{
    static char buf[8][8400];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_tmp, name);
    return buf[i];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

/* every n-gram of a in b and vice versa, prob and backoff within tol */
static void compare_models(const sl_ngram_lm *a, const sl_ngram_lm *b, double tol, const char *what)
{
    int same_order = a->order == b->order;
    ok(same_order, "%s: same order (%d, %d)", what, a->order, b->order);
    if (!same_order) return;
    size_t missing = 0;
    double dp = 0, db = 0;
    for (int k = 0; k < a->order; k++) {
        ok(a->tab[k].n == b->tab[k].n, "%s: %d-gram counts equal (%zu, %zu)", what, k + 1, a->tab[k].n, b->tab[k].n);
        for (size_t e = 0; e < a->tab[k].n; e++) {
            int32_t key[SL_NGRAM_MAX_ORDER];
            for (int j = 0; j <= k; j++) {
                const char *w = a->vocab->words[a->tab[k].keys[e * (k + 1) + j]];
                key[j] = sl_vocab_find(b->vocab, w, strlen(w));
            }
            long f = sl_ngtab_find(&b->tab[k], key);
            if (f < 0) {
                missing++;
                continue;
            }
            double d = fabs((double)a->prob[k][e] - (double)b->prob[k][f]);
            if (d > dp) dp = d;
            if (a->bow[k]) {
                d = fabs((double)a->bow[k][e] - (double)b->bow[k][f]);
                if (d > db) db = d;
            }
        }
    }
    ok(missing == 0, "%s: every n-gram present in both (%zu missing)", what, missing);
    ok(dp <= tol, "%s: max |log10 p difference| %.3g <= %.0e", what, dp, tol);
    ok(db <= tol, "%s: max |log10 backoff difference| %.3g <= %.0e", what, db, tol);
}

static sl_ngram_lm *build(const char *path, int order, sl_ngram_method m, int fallback)
{
    sl_ngram_lm *lm;
    if (sl_ngram_alloc(order, &lm)) return NULL;
    if (sl_ngram_count_file(lm, path)) {
        diag("count: %s", sl_errmsg());
        sl_ngram_free(lm);
        return NULL;
    }
    sl_ngram_opts o;
    sl_ngram_opts_default(&o, order);
    o.method = m;
    o.discount_fallback = fallback;
    o.k = 0.5;
    if (sl_ngram_estimate(lm, &o)) {
        diag("estimate: %s", sl_errmsg());
        sl_ngram_free(lm);
        return NULL;
    }
    return lm;
}

static void test_vs_kenlm(int order)
{
    char what[64];
    snprintf(what, sizeof what, "mkn order %d vs lmplz", order);
    sl_ngram_lm *mine = build(src("t/data/ngram-train.txt"), order, SL_NGRAM_MKN, 1);
    char kp[64];
    snprintf(kp, sizeof kp, "t/data/ngram-kenlm-o%d.arpa", order);
    sl_ngram_lm *ken = NULL;
    int rc = sl_arpa_read(src(kp), &ken);
    ok(mine && rc == 0, "%s: built and loaded lmplz's ARPA%s%s", what, rc ? ": " : "", rc ? sl_errmsg() : "");
    if (mine && ken) {
        compare_models(mine, ken, 1e-5, what);
        compare_models(ken, mine, 1e-5, what);
    }

    /* query: seqlab on KenLM's ARPA reproduces query's output */
    if (ken) {
        char qp[64];
        snprintf(qp, sizeof qp, "t/data/ngram-kenlm-o%d.query", order);
        FILE *f = fopen(src(qp), "r");
        char line[65536];
        double ppl_in = 0, ppl_ex = 0;
        unsigned long long oovs = 0, toks = 0;
        double line_tot[256];
        int nl = 0;
        while (f && fgets(line, sizeof line, f)) {
            char *t = strstr(line, "Total: ");
            if (t && nl < 256) line_tot[nl++] = atof(t + 7);
            sscanf(line, "Perplexity including OOVs:\t%lf", &ppl_in);
            sscanf(line, "Perplexity excluding OOVs:\t%lf", &ppl_ex);
            sscanf(line, "OOVs:\t%llu", &oovs);
            sscanf(line, "Tokens:\t%llu", &toks);
        }
        if (f) fclose(f);
        sl_ngram_query_stats st;
        char *buf = NULL;
        size_t bn = 0;
        FILE *m = open_memstream(&buf, &bn);
        rc = sl_ngram_query_file(ken, src("t/data/ngram-test.txt"), m, &st);
        fclose(m);
        ok(rc == 0, "order %d: query runs", order);
        is_close(st.ppl_incl, ppl_in, 1e-6 * ppl_in, "order %d: perplexity including OOVs = KenLM query's", order);
        is_close(st.ppl_excl, ppl_ex, 1e-6 * ppl_ex, "order %d: perplexity excluding OOVs = KenLM query's", order);
        ok(st.oov == oovs && st.tokens == toks, "order %d: OOVs %llu tokens %llu = KenLM's %llu %llu", order,
           (unsigned long long)st.oov, (unsigned long long)st.tokens, oovs, toks);
        int k = 0, bad = 0;
        for (char *s = buf; s && (s = strstr(s, "Total: ")); s += 7, k++)
            if (k >= nl || fabs(atof(s + 7) - line_tot[k]) > 1e-5) bad++;
        ok(k == nl && bad == 0, "order %d: %d per-line totals equal KenLM query's (%d lines, %d differ)", order, k, nl, bad);
        free(buf);

        /* seqlab's own model gives the same perplexity */
        if (mine) {
            sl_ngram_query_stats s2;
            sl_ngram_query_file(mine, src("t/data/ngram-test.txt"), NULL, &s2);
            is_close(s2.ppl_incl, ppl_in, 1e-5 * ppl_in, "order %d: seqlab-built model, same perplexity", order);
        }
    }
    sl_ngram_free(mine);
    sl_ngram_free(ken);
}

/* sum over the vocabulary (all words but <s>) of p(w | ctx) */
static double mass(const sl_ngram_lm *lm, const int32_t *ctx, int n)
{
    double s = 0;
    for (int w = 0; w < lm->vocab->n; w++) {
        if (w == SL_NGRAM_BOS) continue;
        s += pow(10.0, sl_ngram_score(lm, ctx, n, w, NULL));
    }
    return s;
}

static void test_normalised(void)
{
    const char *names[] = {"mle", "addk", "kn", "mkn"};
    for (int m = 0; m < 4; m++) {
        sl_ngram_lm *lm = build(src("t/data/ngram-train.txt"), 4, (sl_ngram_method)m, 1);
        ok(lm != NULL, "%s: built order 4", names[m]);
        if (!lm) continue;
        int32_t the = sl_ngram_word(lm, "the", 3), cat = sl_ngram_word(lm, "cat", 3), sat = sl_ngram_word(lm, "sat", 3),
                river = sl_ngram_word(lm, "river", 5);
        int32_t ctxs[][3] = {{SL_NGRAM_BOS, 0, 0}, {SL_NGRAM_BOS, the, 0}, {the, cat, sat},
                             {river, the, cat},    {cat, cat, cat},        {SL_NGRAM_UNK, the, 0}};
        int lens[] = {1, 2, 3, 3, 3, 2};
        double worst = 0, worst_ref = 0;
        for (int c = 0; c < 6; c++) {
            double s = mass(lm, ctxs[c], lens[c]);
            if (fabs(s - 1) > worst) worst = fabs(s - 1);
            /* the iterative scorer equals the recursive reference */
            for (int w = 0; w < lm->vocab->n; w++) {
                double a = sl_ngram_score(lm, ctxs[c], lens[c], w, NULL);
                double b = sl_ngram_score_ref(lm, ctxs[c], lens[c], w);
                if (fabs(a - b) > worst_ref) worst_ref = fabs(a - b);
            }
        }
        double s0 = mass(lm, NULL, 0);
        if (fabs(s0 - 1) > worst) worst = fabs(s0 - 1);
        ok(worst < 2e-5, "%s: probabilities sum to 1 over the vocabulary in 7 contexts (max error %.2g)", names[m], worst);
        ok(worst_ref < 1e-5, "%s: backoff scoring = recursive reference (max diff %.2g)", names[m], worst_ref);
        /* round trip through ARPA */
        int rc = sl_arpa_write(lm, tmpf("rt.arpa"));
        sl_ngram_lm *back = NULL;
        if (!rc) rc = sl_arpa_read(tmpf("rt.arpa"), &back);
        ok(rc == 0, "%s: ARPA write + read", names[m]);
        if (back) {
            compare_models(lm, back, 1e-7, names[m]);
            sl_ngram_free(back);
        }
        sl_ngram_free(lm);
    }
}

static void test_hand_values(void)
{
    /* "a b\na c\n": MLE p(b|a) = 1/2, p(a|<s>) = 1, unigram p(a) = 2/6 */
    write_text(tmpf("hand.txt"), "a b\na c\n");
    sl_ngram_lm *lm = build(tmpf("hand.txt"), 2, SL_NGRAM_MLE, 0);
    ok(lm != NULL, "mle: built");
    if (!lm) return;
    int32_t a = sl_ngram_word(lm, "a", 1), b = sl_ngram_word(lm, "b", 1);
    int32_t ctx[1] = {a};
    is_close(sl_ngram_score(lm, ctx, 1, b, NULL), log10(0.5), 1e-6, "mle: p(b|a) = 1/2");
    ctx[0] = SL_NGRAM_BOS;
    is_close(sl_ngram_score(lm, ctx, 1, a, NULL), 0.0, 1e-6, "mle: p(a|<s>) = 1");
    is_close(sl_ngram_score(lm, NULL, 0, a, NULL), log10(2.0 / 6.0), 1e-6, "mle: p(a) = 2/6");
    sl_ngram_free(lm);
    /* add-k, unigrams: (c + k) / (N + k V) with V = 5 (<unk> </s> a b c), N = 6 */
    lm = build(tmpf("hand.txt"), 1, SL_NGRAM_ADDK, 0);
    if (lm) {
        a = sl_ngram_word(lm, "a", 1);
        is_close(sl_ngram_score(lm, NULL, 0, a, NULL), log10((2 + 0.5) / (6 + 0.5 * 5)), 1e-6,
                 "addk: p(a) = (2 + k) / (N + k V)");
        is_close(sl_ngram_score(lm, NULL, 0, SL_NGRAM_UNK, NULL), log10(0.5 / (6 + 0.5 * 5)), 1e-6,
                 "addk: p(<unk>) = k / (N + k V)");
        sl_ngram_free(lm);
    }
    /* add-k, bigrams: p(w|h) = (c(hw) + k|V| p(w)) / (c(h) + k|V|), k = 0.5, |V| = 5 */
    lm = build(tmpf("hand.txt"), 2, SL_NGRAM_ADDK, 0);
    ok(lm != NULL, "addk: built order 2");
    if (lm) {
        a = sl_ngram_word(lm, "a", 1), b = sl_ngram_word(lm, "b", 1);
        int32_t c = sl_ngram_word(lm, "c", 1), h[1] = {a};
        double pb = 1.5 / 8.5, pa = 2.5 / 8.5, pe = 2.5 / 8.5;
        is_close(sl_ngram_score(lm, h, 1, b, NULL), log10((1 + 2.5 * pb) / (2 + 2.5)), 1e-6,
                 "addk: p(b|a) = (1 + k|V| p(b)) / (2 + k|V|)");
        is_close(sl_ngram_score(lm, h, 1, SL_NGRAM_EOS, NULL), log10((0 + 2.5 * pe) / (2 + 2.5)), 1e-6,
                 "addk: unseen p(</s>|a) = k|V| p(</s>) / (2 + k|V|)");
        h[0] = SL_NGRAM_BOS;
        is_close(sl_ngram_score(lm, h, 1, a, NULL), log10((2 + 2.5 * pa) / (2 + 2.5)), 1e-6,
                 "addk: p(a|<s>) = (2 + k|V| p(a)) / (2 + k|V|)");
        h[0] = c;
        is_close(sl_ngram_score(lm, h, 1, SL_NGRAM_EOS, NULL), log10((1 + 2.5 * pe) / (1 + 2.5)), 1e-6,
                 "addk: p(</s>|c) = (1 + k|V| p(</s>)) / (1 + k|V|)");
        sl_ngram_free(lm);
    }
    /* mle: p(</s>|b) = 1, an unseen word after a seen context has log10 p = -99 */
    lm = build(tmpf("hand.txt"), 2, SL_NGRAM_MLE, 0);
    if (lm) {
        b = sl_ngram_word(lm, "b", 1);
        int32_t h[1] = {b};
        is_close(sl_ngram_score(lm, h, 1, SL_NGRAM_EOS, NULL), 0.0, 1e-6, "mle: p(</s>|b) = 1");
        ok(sl_ngram_score(lm, h, 1, b, NULL) < -90, "mle: unseen p(b|b) has log10 p = -99 (%g)",
           sl_ngram_score(lm, h, 1, b, NULL));
        sl_ngram_free(lm);
    }
    /* plain interpolated Kneser-Ney, order 2, by hand (KenLM has no such method).
     * Sentences <s> a b </s>, <s> a c </s>. Bigrams (raw counts): <s>a 2, ab 1, ac 1, b</s> 1,
     * c</s> 1: n1 = 4, n2 = 1, D2 = 4/6. Unigrams (continuation counts N1+(. w)): a 1 (only
     * <s> a), b 1, c 1, </s> 2; sum 5: n1 = 3, n2 = 1, D1 = 3/5; gamma() = D1 * 4 / 5 = 0.48,
     * spread uniformly over |V| = 5 (<unk> </s> a b c):
     *   p(a) = p(b) = p(c) = (1 - 0.6)/5 + 0.48/5 = 0.176, p(</s>) = 1.4/5 + 0.096 = 0.376,
     *   p(<unk>) = 0.096;
     *   gamma(a) = D2 * 2 / 2 = 2/3: p(b|a) = (1 - 2/3)/2 + (2/3) 0.176, p(</s>|a) = (2/3) 0.376;
     *   gamma(<s>) = D2 * 1 / 2 = 1/3: p(a|<s>) = (2 - 2/3)/2 + (1/3) 0.176. */
    lm = build(tmpf("hand.txt"), 2, SL_NGRAM_KN, 0);
    ok(lm != NULL, "kn: built order 2");
    if (lm) {
        a = sl_ngram_word(lm, "a", 1), b = sl_ngram_word(lm, "b", 1);
        int32_t c = sl_ngram_word(lm, "c", 1), h[1] = {a};
        is_close(sl_ngram_score(lm, NULL, 0, a, NULL), log10(0.176), 1e-6, "kn: p(a) from continuation counts = 0.176");
        is_close(sl_ngram_score(lm, NULL, 0, c, NULL), log10(0.176), 1e-6, "kn: p(c) = 0.176");
        is_close(sl_ngram_score(lm, NULL, 0, SL_NGRAM_EOS, NULL), log10(0.376), 1e-6, "kn: p(</s>) = 0.376");
        is_close(sl_ngram_score(lm, NULL, 0, SL_NGRAM_UNK, NULL), log10(0.096), 1e-6,
                 "kn: p(<unk>) = 0.096 (interpolated mass only)");
        is_close(sl_ngram_score(lm, h, 1, b, NULL), log10(1.0 / 6 + 2.0 / 3 * 0.176), 1e-6, "kn: p(b|a) = 1/6 + (2/3) 0.176");
        is_close(sl_ngram_score(lm, h, 1, SL_NGRAM_EOS, NULL), log10(2.0 / 3 * 0.376), 1e-6,
                 "kn: unseen p(</s>|a) = (2/3) 0.376");
        h[0] = SL_NGRAM_BOS;
        is_close(sl_ngram_score(lm, h, 1, a, NULL), log10(2.0 / 3 + 0.176 / 3), 1e-6, "kn: p(a|<s>) = 2/3 + (1/3) 0.176");
        sl_ngram_free(lm);
    }
    /* kn with a given discount D = 0.5 and a count of 3 (the 3+ class): "a b" three times and
     * "a c". Unigram continuation counts a 1, b 1, c 1, </s> 2 (sum 5), gamma() = 0.5 * 4 / 5:
     * p(a) = p(b) = p(c) = 0.5/5 + 0.08 = 0.18, p(</s>) = 1.5/5 + 0.08 = 0.38. Context a:
     * ab 3, ac 1, gamma(a) = 0.5 * 2 / 4: p(b|a) = 2.5/4 + 0.25 * 0.18 = 0.67,
     * p(c|a) = 0.5/4 + 0.045 = 0.17; context <s>: p(a|<s>) = 3.5/4 + 0.125 * 0.18 = 0.8975. */
    write_text(tmpf("hand3.txt"), "a b\na b\na b\na c\n");
    if (sl_ngram_alloc(2, &lm) == 0) {
        sl_ngram_opts ko;
        sl_ngram_opts_default(&ko, 2);
        ko.method = SL_NGRAM_KN;
        ko.discount = 0.5;
        int krc = sl_ngram_count_file(lm, tmpf("hand3.txt"));
        if (!krc) krc = sl_ngram_estimate(lm, &ko);
        ok(krc == 0, "kn --discount 0.5: built");
        a = sl_ngram_word(lm, "a", 1), b = sl_ngram_word(lm, "b", 1);
        int32_t c = sl_ngram_word(lm, "c", 1), h[1] = {a};
        is_close(sl_ngram_score(lm, NULL, 0, b, NULL), log10(0.18), 1e-6, "kn D=0.5: p(b) = 0.18");
        is_close(sl_ngram_score(lm, NULL, 0, SL_NGRAM_EOS, NULL), log10(0.38), 1e-6, "kn D=0.5: p(</s>) = 0.38");
        is_close(sl_ngram_score(lm, h, 1, b, NULL), log10(0.67), 1e-6, "kn D=0.5: p(b|a) = 0.67 (a count of 3)");
        is_close(sl_ngram_score(lm, h, 1, c, NULL), log10(0.17), 1e-6, "kn D=0.5: p(c|a) = 0.17");
        h[0] = SL_NGRAM_BOS;
        is_close(sl_ngram_score(lm, h, 1, a, NULL), log10(0.8975), 1e-6, "kn D=0.5: p(a|<s>) = 0.8975 (a count of 4)");
        sl_ngram_free(lm);
    }
    /* mkn on tiny data without the fallback: a clear error */
    sl_ngram_alloc(3, &lm);
    sl_ngram_count_file(lm, tmpf("hand.txt"));
    sl_ngram_opts o;
    sl_ngram_opts_default(&o, 3);
    int rc = sl_ngram_estimate(lm, &o);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "discount"), "mkn: tiny data without fallback -> error (%s)", sl_errmsg());
    sl_ngram_free(lm);
}

static void bad_arpa(const char *name, const char *text, const char *want_line, const char *want)
{
    write_text(tmpf("bad.arpa"), text);
    sl_ngram_lm *lm = NULL;
    int rc = sl_arpa_read(tmpf("bad.arpa"), &lm);
    const char *msg = sl_errmsg();
    ok(rc == SL_EFORMAT && strstr(msg, want_line) && strstr(msg, want), "malformed ARPA (%s): %s", name, msg);
    sl_ngram_free(lm);
}

static void test_bad_arpa(void)
{
    const char *head = "\\data\\\nngram 1=3\nngram 2=1\n\n";
    bad_arpa("no data", "hello\n", ":1:", "\\data\\");
    bad_arpa("bad header", "\\data\\\nngram one=3\n", ":2:", "ngram K=COUNT");
    bad_arpa("header order", "\\data\\\nngram 2=3\n", ":2:", "out of order");
    /* long digit strings: refused, never wrapped or saturated by a conversion (issue 19) */
    bad_arpa("count of 23 digits", "\\data\\\nngram 1=99999999999999999999999\n", ":2:", "too large");
    bad_arpa("order of 20 digits", "\\data\\\nngram 99999999999999999999=1\n", ":2:", "ngram K=COUNT");
    bad_arpa("count 2^63", "\\data\\\nngram 1=9223372036854775808\n", ":2:", "too large");
    char b[1024];
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\n\\2-grams:\n-1\ta a\n\\end\\\n", head);
    bad_arpa("count mismatch", b, ":8:", "header says 3");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\n-1\tb\n\n\\end\\\n", head);
    bad_arpa("missing section", b, ":10:", "\\2-grams:");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\t7\n-1\tb\n\n\\2-grams:\n-1\ta b\n\n\\end\\\n", head);
    bad_arpa("field count", b, ":7:", "fields");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-x1\ta\t0\n-1\tb\n\n\\2-grams:\n-1\ta b\n\n\\end\\\n", head);
    bad_arpa("bad number", b, ":7:", "bad log10 probability");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\tnan\n-1\tb\n\n\\2-grams:\n-1\ta b\n\n\\end\\\n", head);
    bad_arpa("nan backoff", b, ":7:", "bad log10 backoff");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\n-1\tb\n\n\\2-grams:\n-1\ta z\n\n\\end\\\n", head);
    bad_arpa("unknown word", b, ":11:", "not a unigram");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\n-1\tb\n\n\\2-grams:\n-1\ta b\n\n", head);
    bad_arpa("no end", b, ":12:", "\\end\\");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\n-1\tb\n\n\\2-grams:\n-1\ta b\t-1\n\n\\end\\\n", head);
    bad_arpa("backoff on top order", b, ":11:", "fields");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n0.5\ta\t0\n-1\tb\n\n\\2-grams:\n-1\ta b\n\n\\end\\\n", head);
    bad_arpa("positive log prob", b, ":7:", "positive");
    snprintf(b, sizeof b, "%s\\1-grams:\n-1\t<unk>\t0\n-1\ta\t0\n-1\ta\n\n\\2-grams:\n-1\ta b\n\n\\end\\\n", head);
    bad_arpa("duplicate", b, ":8:", "duplicate");
    /* spaces instead of tabs, -99 for <s>, no <unk>: accepted */
    write_text(tmpf("ok.arpa"), "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-99 <s> -0.3\n-0.5 a -0.2\n-0.3 </s>\n\n"
                                "\\2-grams:\n-0.1 <s> a\n\n\\end\\\n");
    sl_ngram_lm *lm = NULL;
    int rc = sl_arpa_read(tmpf("ok.arpa"), &lm);
    ok(rc == 0, "ARPA with spaces, no <unk>, -99 for <s> loads%s%s", rc ? ": " : "", rc ? sl_errmsg() : "");
    if (lm) {
        is_close(sl_ngram_score(lm, NULL, 0, SL_NGRAM_UNK, NULL), -100.0, 1e-6,
                 "no <unk> in the model: OOV log10 p = -100 (KenLM)");
        sl_ngram_free(lm);
    }
}

static void test_tokenizers(void)
{
    /* UTF-8 */
    uint32_t cp;
    ok(sl_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp) == 2 && cp == 0xe9, "utf8: é decodes");
    ok(sl_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20ac, "utf8: € decodes");
    ok(sl_utf8_decode((const unsigned char *)"\xc0\xaf", 2, &cp) == 0, "utf8: overlong form rejected");
    ok(sl_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp) == 0, "utf8: surrogate rejected");
    char enc[4];
    ok(sl_utf8_encode(0x1f600, enc) == 4 && sl_utf8_decode((unsigned char *)enc, 4, &cp) == 4 && cp == 0x1f600,
       "utf8: encode/decode round trip");

    write_text(tmpf("tok.txt"), "héllo wörld héllo\nthe € sign \xff x\nhéllo\n");
    sl_tokenizer *t = NULL;
    int rc = sl_tokenizer_build(tmpf("tok.txt"), SL_TOK_CHAR, 1, &t);
    ok(rc == 0, "char tokenizer builds");
    if (t) {
        ok(sl_vocab_find(t->vocab, "é", strlen("é")) >= 3 && sl_vocab_find(t->vocab, "€", strlen("€")) >= 3,
           "char tokenizer: multibyte characters are single tokens");
        ok(sl_vocab_find(t->vocab, "\xff", 1) >= 3, "char tokenizer: an invalid byte is its own token");
        int32_t *ids;
        size_t n;
        sl_tokenizer_encode(t, "héllo", &ids, &n);
        ok(n == 5, "char tokenizer: 'héllo' is 5 tokens (got %zu)", n);
        char *back = sl_tokenizer_decode(t, ids, n);
        ok(back && !strcmp(back, "héllo"), "char tokenizer: decode(encode(x)) = x");
        free(back);
        free(ids);
        sl_tokenizer_free(t);
    }
    rc = sl_tokenizer_build(tmpf("tok.txt"), SL_TOK_WORD, 2, &t);
    if (t) {
        ok(t->vocab->n == 4 && !strcmp(t->vocab->words[3], "héllo") && t->vocab->unk == 0 && t->vocab->bos == 1 &&
               t->vocab->eos == 2,
           "word tokenizer, min count 2: <unk> <s> </s> héllo (n = %d)", t->vocab->n);
        int32_t *ids;
        size_t n;
        sl_tokenizer_encode_file(t, tmpf("tok.txt"), &ids, &n);
        ok(n == 12 && ids[1] == 0 && ids[3] == 2, "word tokenizer: rare words -> <unk>, lines end in </s> (n = %zu)", n);
        free(ids);
        sl_tokenizer_free(t);
    }
    rc = sl_tokenizer_build(tmpf("tok.txt"), SL_TOK_BYTE, 100, &t);
    ok(rc == 0 && t && t->vocab->n == 259, "byte tokenizer: 256 bytes + 3 specials whatever min count");
    sl_tokenizer_free(t);

    /* streaming reader across buffer boundaries: 3 MB of words, one very long line */
    FILE *f = fopen(tmpf("big.txt"), "wb");
    long words = 0;
    for (int i = 0; i < 400000; i++) {
        fprintf(f, "w%d%s", i % 1000, i % 50000 == 49999 ? "\n" : " ");
        words++;
    }
    for (int i = 0; i < 2000; i++) fputc('x', f); /* a word longer than SL_WORD_MAX, no newline */
    fclose(f);
    sl_corpus *c;
    sl_corpus_open(tmpf("big.txt"), &c);
    long nw = 0, neol = 0, bad = 0;
    const char *w;
    size_t len;
    int r;
    size_t last_len = 0;
    while ((r = sl_corpus_next_word(c, &w, &len)) > 0) {
        if (r == SL_CORPUS_EOL) {
            neol++;
            continue;
        }
        if (nw < words) {
            char want[16];
            snprintf(want, sizeof want, "w%ld", nw % 1000);
            if (strlen(want) != len || memcmp(want, w, len)) bad++;
        }
        last_len = len;
        nw++;
    }
    sl_corpus_close(c);
    ok(r == 0 && nw == words + 1 && neol == 8 && bad == 0, "corpus reader: %ld words, %ld lines across 1 MB buffers", nw, neol);
    ok(last_len == SL_WORD_MAX, "corpus reader: over-long word cut at %d bytes", SL_WORD_MAX);
}

static void test_model(void)
{
    sl_model *m = NULL;
    int rc = sl_model_create("ngram:order=3,vocab_size=6,method=mkn", 1, &m);
    ok(rc == 0 && m, "registry: ngram:order=3,vocab_size=6 created%s%s", rc ? ": " : "", rc ? sl_errmsg() : "");
    if (!m) return;
    ok((m->caps & (SL_CAP_FIT | SL_CAP_STEP | SL_CAP_TOKEN_IN | SL_CAP_TOKEN_OUT)) ==
               (SL_CAP_FIT | SL_CAP_STEP | SL_CAP_TOKEN_IN | SL_CAP_TOKEN_OUT) &&
           m->P->n == 0,
       "ngram model: fit/step/token caps, no tensors");
    int32_t stream[400];
    for (int i = 0; i < 400; i++) stream[i] = (i * 7 + (i / 13)) % 6; /* a patterned stream */
    rc = sl_model_fit(m, stream, 400);
    ok(rc == 0, "ngram model: fit%s%s", rc ? ": " : "", rc ? sl_errmsg() : "");
    enum { B = 3, T = 17, V = 6 };
    int32_t tok[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = stream[(i / T) * 50 + i % T];
    float y1[B * T * V], y2[B * T * V];
    rc = sl_model_forward(m, NULL, tok, y1, B, T);
    int rc2 = sl_model_run_steps(m, NULL, tok, y2, B, T);
    double d = 0, worst = 0;
    for (int i = 0; i < B * T * V; i++) d = fmax(d, fabs(y1[i] - y2[i]));
    for (int i = 0; i < B * T; i++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += exp(y1[i * V + v]);
        worst = fmax(worst, fabs(s - 1));
    }
    ok(rc == 0 && rc2 == 0 && d == 0.0, "ngram model: step mode == sequence mode (max diff %g)", d);
    ok(worst < 1e-5, "ngram model: exp(logits) sums to 1 per position (max error %.2g)", worst);
    /* the pattern is learnt: mean log-prob of the true next token well above uniform */
    double lp = 0;
    for (int t = 0; t + 1 < T; t++) lp += y1[t * V + tok[t + 1]];
    ok(lp / (T - 1) > -log(6.0) + 0.5, "ngram model: predicts a patterned stream (mean ln p %.3f vs uniform %.3f)", lp / (T - 1),
       -log(6.0));
    sl_model_free(m);
    rc = sl_model_create("ngram:order=3,method=bogus", 1, &m);
    ok(rc != 0, "registry: bad method rejected (%s)", sl_errmsg());
}

/* count pruning (lmplz --prune) against lmplz's pruned models and KenLM query's perplexities */
static double summary_ppl(const char *path, const char *section)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int in = 0;
    double v = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3)) in = strstr(line, section) != NULL;
        else if (in && sscanf(line, "Perplexity including OOVs:\t%lf", &v) == 1) break;
    }
    if (f) fclose(f);
    return v;
}

static void test_prune(void)
{
    struct {
        int order;
        uint64_t prune[5];
        const char *arpa, *section;
    } cases[] = {
        {3, {0, 1, 1}, "t/data/ngram-kenlm-o3-prune01.arpa", "order 3 --prune 0 1: lmplz"},
        {5, {0, 1, 1, 2, 2}, "t/data/ngram-kenlm-o5-prune0112.arpa", "order 5 --prune 0 1 1 2: lmplz"},
    };
    for (int i = 0; i < 2; i++) {
        char what[96];
        snprintf(what, sizeof what, "pruned order %d vs lmplz --prune", cases[i].order);
        sl_ngram_lm *lm, *ken = NULL;
        sl_ngram_opts o;
        sl_ngram_opts_default(&o, cases[i].order);
        o.discount_fallback = 1;
        memcpy(o.prune, cases[i].prune, sizeof cases[i].prune);
        int rc = sl_ngram_alloc(cases[i].order, &lm);
        if (!rc) rc = sl_ngram_count_file(lm, src("t/data/ngram-train.txt"));
        if (!rc) rc = sl_ngram_estimate(lm, &o);
        int rk = sl_arpa_read(src(cases[i].arpa), &ken);
        ok(rc == 0 && rk == 0, "%s: built, and lmplz's pruned ARPA loaded%s%s", what, rc || rk ? ": " : "",
           rc || rk ? sl_errmsg() : "");
        if (rc || rk) {
            sl_ngram_free(lm);
            sl_ngram_free(ken);
            continue;
        }
        compare_models(lm, ken, 1e-5, what);
        compare_models(ken, lm, 1e-5, what);
        sl_ngram_query_stats st;
        sl_ngram_query_file(lm, src("t/data/ngram-test.txt"), NULL, &st);
        double want = summary_ppl(src("t/data/ngram-kenlm-prune.txt"), cases[i].section);
        is_close(st.ppl_incl, want, 1e-6 * want, "%s: perplexity %.10g = KenLM query's on lmplz's pruned model", what,
                 st.ppl_incl);
        char sec[96];
        snprintf(sec, sizeof sec, "%.*s seqlab", (int)(strstr(cases[i].section, ": lmplz") - cases[i].section + 1),
                 cases[i].section);
        double kq = summary_ppl(src("t/data/ngram-kenlm-prune.txt"), sec);
        is_close(kq, want, 1e-6 * want, "%s: KenLM's query reads seqlab's pruned ARPA, same perplexity (%.10g)", what, kq);
        /* still a distribution in every context */
        int32_t the = sl_ngram_word(lm, "the", 3), cat = sl_ngram_word(lm, "cat", 3);
        int32_t ctxs[][2] = {{SL_NGRAM_BOS, the}, {the, cat}, {cat, cat}};
        double worst = fabs(mass(lm, NULL, 0) - 1);
        for (int c = 0; c < 3; c++) {
            double m = fabs(mass(lm, ctxs[c], 2) - 1);
            if (m > worst) worst = m;
        }
        ok(worst < 2e-5, "%s: probabilities sum to 1 (max error %.2g)", what, worst);
        sl_ngram_free(lm);
        sl_ngram_free(ken);
    }
    /* refusals */
    sl_ngram_lm *lm;
    sl_ngram_opts o;
    sl_ngram_opts_default(&o, 3);
    o.discount_fallback = 1;
    int rc = sl_ngram_alloc(3, &lm);
    if (!rc) rc = sl_ngram_count_file(lm, src("t/data/ngram-train.txt"));
    o.prune[1] = 2;
    o.prune[2] = 1;
    ok(sl_ngram_estimate(lm, &o) == SL_EINVAL && strstr(sl_errmsg(), "non-decreasing"), "decreasing thresholds refused: %s",
       sl_errmsg());
    o.prune[0] = 1;
    o.prune[1] = o.prune[2] = 1;
    ok(sl_ngram_estimate(lm, &o) == SL_EINVAL && strstr(sl_errmsg(), "unigram"), "a unigram threshold refused: %s", sl_errmsg());
    o.prune[0] = 0;
    o.method = SL_NGRAM_ADDK;
    ok(sl_ngram_estimate(lm, &o) == SL_EINVAL && strstr(sl_errmsg(), "Kneser-Ney"), "pruning add-k refused: %s", sl_errmsg());
    sl_ngram_free(lm);
}

/* the fast shortest-decimal formatter against the printf loop it replaces */
static void test_fmt(void)
{
    char a[64], b[64];
    long n = 0, bad = 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 400000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        float v;
        switch (i % 4) {
        case 0: v = log10f((float)(x % 1000003 + 1) / 1000004.0f); break; /* log10 p */
        case 1: v = -(float)(x >> 40) / (float)((x & 0xffff) + 1); break;
        case 2: {
            uint32_t bits = (uint32_t)(x >> 17);
            memcpy(&v, &bits, sizeof v);
            break;
        } /* any float */
        default:
            v = ldexpf(1.0f, (int)(x % 60) - 45) * ((x >> 32) & 1 ? -1.0f : 1.0f); /* binade edges */
            if ((x >> 33) & 1) v = nextafterf(v, 0.0f);
            break;
        }
        if (!isfinite(v)) continue;
        sl_fmt_float(a, v);
        sl_fmt_float_ref(b, v);
        n++;
        if (strcmp(a, b)) {
            if (bad++ < 5) diag("%a: fast \"%s\" printf loop \"%s\"", (double)v, a, b);
        }
    }
    const float edge[] = {-99.0f,          -100.0f, -1e-8f,  7.62939453125e-06f, 7.62939453e-06f, -0.5f,     -1.0f, -1e-30f,
                          1.17549435e-38f, 1e-45f,  3.4e38f, 16777216.0f,        16777215.0f,     -0.30103f, -0.0f};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++, n++) {
        sl_fmt_float(a, edge[i]);
        sl_fmt_float_ref(b, edge[i]);
        if (strcmp(a, b) && bad++ < 10) diag("%a: fast \"%s\" printf loop \"%s\"", (double)edge[i], a, b);
    }
    ok(bad == 0, "shortest float text equals the printf loop's on %ld floats (%ld differ)", n, bad);
}

int main(void)
{
    const char *s = getenv("SL_SRCDIR");
    snprintf(g_src, sizeof g_src, "%s", s ? s : ".");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t-ngram.XXXXXX");
    if (!mkdtemp(g_tmp)) skip_all("cannot make a temporary directory");
    test_fmt();
    test_tokenizers();
    test_vs_kenlm(3);
    test_vs_kenlm(5);
    test_normalised();
    test_hand_values();
    test_bad_arpa();
    test_prune();
    test_model();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) diag("could not remove %s", g_tmp);
    return done_testing();
}
