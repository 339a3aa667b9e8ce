/* t/t-w2v.c — word2vec: determinism, learning on a corpus with planted relations (analogies,
 * similarity), vector files (own round trips, gensim's files, malformed files), embedding
 * initialisation, PCA. */
#include "t/tap.h"

#include "core/error.h"
#include "nlp/word2vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_src[4096], g_tmp[4096];

static const char *path_in(const char *dir, const char *rel)
{
    static char buf[8][8400];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, rel);
    return buf[i];
}
#define SRC(x) path_in(g_src, x)
#define TMP(x) path_in(g_tmp, x)

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* Planted corpus: 6 "pairs" (m_i, f_i). Each sentence mentions one entity among words of its
 * topic t_i (shared by m_i and f_i) and words of its gender (shared by all m or all f), so
 * f_i - m_i + m_j should land on f_j. */
static void make_corpus(const char *path, int sentences)
{
    FILE *f = fopen(path, "w");
    uint64_t r = 7;
    for (int s = 0; s < sentences; s++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        int i = (int)((r >> 33) % 6), g = (int)((r >> 40) & 1);
        char ent[16];
        snprintf(ent, sizeof ent, "%c%d", g ? 'f' : 'm', i);
        int pos = (int)((r >> 45) % 6);
        for (int k = 0; k < 6; k++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            if (k == pos) fprintf(f, "%s ", ent);
            if (k % 2 == 0) fprintf(f, "t%d_%d ", i, (int)((r >> 35) % 5));
            else fprintf(f, "%s%d ", g ? "fem" : "mas", (int)((r >> 35) % 4));
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

static void test_learning_and_determinism(void)
{
    make_corpus(TMP("planted.txt"), 12000);
    sl_w2v_opts o;
    sl_w2v_opts_default(&o);
    o.train = TMP("planted.txt");
    o.size = 24;
    o.window = 4;
    o.iter = 8;
    o.min_count = 1;
    o.threads = 1;
    o.cbow = 0;
    o.sample = 0;
    o.seed = 3;
    sl_w2v *a = NULL, *b = NULL;
    sl_w2v_stats st;
    int rc = sl_w2v_train(&o, &a, &st);
    ok(rc == 0 && a, "skip-gram + negative sampling trains (%.0f words/s)%s%s", st.words_per_sec, rc ? ": " : "",
       rc ? sl_errmsg() : "");
    rc = sl_w2v_train(&o, &b, NULL);
    ok(rc == 0 && b && a && a->V == b->V && !memcmp(a->vec, b->vec, (size_t)a->V * a->D * sizeof(float)),
       "one thread, same seed: bitwise identical vectors");
    sl_w2v_free(b);
    b = NULL;
    o.seed = 4;
    sl_w2v_train(&o, &b, NULL);
    ok(b && a && memcmp(a->vec, b->vec, (size_t)a->V * a->D * sizeof(float)), "another seed: different vectors");
    sl_w2v_free(b);
    if (!a) return;

    /* analogies: m_i : f_i :: m_j : f_j, and the reverse */
    FILE *f = fopen(TMP("q.txt"), "w");
    fprintf(f, ": planted\n");
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if (i != j) fprintf(f, "m%d f%d m%d f%d\n", i, i, j, j);
    fprintf(f, ": gram-planted\n");
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if (i != j) fprintf(f, "F%d M%d f%d m%d\n", i, i, j, j); /* upper case: folded */
    fprintf(f, "m0 f0 unknownword f1\n");
    fclose(f);
    sl_w2v_analogy_result r;
    rc = sl_w2v_analogy_eval(a, TMP("q.txt"), 0, 1, &r);
    ok(rc == 0 && r.n_sections == 2 && r.total.n == 60 && r.total.skipped == 1,
       "analogy file: 2 sections, 60 questions, 1 skipped (unknown word)");
    double add = r.total.n ? (double)r.total.correct_add / r.total.n : 0,
           mul = r.total.n ? (double)r.total.correct_mul / r.total.n : 0;
    ok(add >= 0.8, "planted analogies, 3CosAdd accuracy %.2f >= 0.8", add);
    ok(mul >= 0.8, "planted analogies, 3CosMul accuracy %.2f >= 0.8", mul);
    ok(r.syntactic.n == 30 && r.semantic.n == 30, "sections named gram* count as syntactic");
    rc = sl_w2v_analogy_eval(a, TMP("q.txt"), 0, 0, &r);
    ok(rc == 0 && r.total.n == 30 && r.total.skipped == 31, "case-sensitive: upper-case questions skipped");

    /* similarity: same-topic pairs score 1, cross-topic 0 */
    f = fopen(TMP("pairs.txt"), "w");
    fprintf(f, "# word1 word2 score\n");
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 4; k++) {
            fprintf(f, "t%d_%d\tt%d_%d\t%d\n", i, k, i, k + 1, 9);
            fprintf(f, "t%d_%d\tt%d_%d\t%d\n", i, k, (i + 1 + k) % 6, k, 1);
        }
    fprintf(f, "t0_0 nosuchword 5\n");
    fclose(f);
    double rho, pr;
    long used, skipped;
    rc = sl_w2v_similarity_eval(a, TMP("pairs.txt"), 1, &rho, &pr, &used, &skipped);
    ok(rc == 0 && used == 48 && skipped == 1, "similarity file: 48 pairs used, 1 skipped");
    ok(rho > 0.7, "planted topics: Spearman rho %.3f > 0.7", rho);

    /* nearest neighbours of a topic word are its topic */
    float *unit = sl_w2v_normalized(a);
    int id = sl_w2v_find(a, "t2_0"), ids[4], ex[1] = {id}, in_topic = 0;
    float sims[4];
    int n = sl_w2v_nearest(a, unit, unit + (size_t)id * a->D, 0, ex, 1, 4, ids, sims);
    for (int i = 0; i < n; i++) in_topic += !strncmp(a->words[ids[i]], "t2_", 3);
    ok(n == 4 && in_topic >= 3 && sims[0] >= sims[3], "nearest neighbours of t2_0 are t2_* (%d of 4)", in_topic);
    free(unit);

    /* PCA: the pair structure shows in 2-D */
    const char *words[] = {"m0", "f0", "m1", "f1", "m2", "f2"};
    double xy[12];
    rc = sl_w2v_pca2(a, words, 6, xy);
    double v1 = 0, v2 = 0;
    for (int i = 0; i < 6; i++) {
        v1 += xy[2 * i] * xy[2 * i];
        v2 += xy[2 * i + 1] * xy[2 * i + 1];
    }
    ok(rc == 0 && isfinite(v1) && v1 >= v2 && v2 > 0, "PCA: 2 components, variance of PC1 %.3g >= PC2 %.3g", v1, v2);
    const char *bad[] = {"m0", "f0", "zzz"};
    ok(sl_w2v_pca2(a, bad, 3, xy) == SL_ENOTFOUND, "PCA: unknown word -> error (%s)", sl_errmsg());

    /* 2 threads, hierarchical softmax, CBOW: they run and learn topics too */
    sl_w2v *c = NULL;
    o.threads = 2;
    o.hs = 1;
    o.negative = 0;
    o.cbow = 1;
    o.iter = 5;
    rc = sl_w2v_train(&o, &c, NULL);
    if (c) {
        sl_w2v_similarity_eval(c, TMP("pairs.txt"), 1, &rho, &pr, &used, &skipped);
        ok(rc == 0 && rho > 0.5, "CBOW + hierarchical softmax, 2 threads: topics learnt (rho %.3f)", rho);
    } else {
        ok(0, "CBOW + hierarchical softmax, 2 threads: %s", sl_errmsg());
    }
    sl_w2v_free(c);

    /* formats: our own round trips */
    rc = sl_w2v_save(a, TMP("v.bin"), 1);
    sl_w2v *l = NULL;
    if (!rc) rc = sl_w2v_load(TMP("v.bin"), -1, &l);
    ok(rc == 0 && l && l->V == a->V && !memcmp(l->vec, a->vec, (size_t)a->V * a->D * sizeof(float)) &&
           !strcmp(l->words[5], a->words[5]),
       "binary save + load (detected) is exact");
    sl_w2v_free(l);
    l = NULL;
    rc = sl_w2v_save(a, TMP("v.txt"), 0);
    if (!rc) rc = sl_w2v_load(TMP("v.txt"), -1, &l);
    double md = 0;
    if (l)
        for (size_t i = 0; i < (size_t)a->V * a->D; i++) md = fmax(md, fabs(l->vec[i] - a->vec[i]));
    ok(rc == 0 && l && md <= 1e-6, "text save + load (detected), 6 decimals: max diff %.2g", md);
    sl_w2v_free(l);

    /* embedding initialisation */
    const char *vocab[] = {"m0", "nope", "f3", NULL};
    float wte[4 * 24];
    for (int i = 0; i < 4 * 24; i++) wte[i] = 42.0f;
    int found = -1;
    rc = sl_w2v_init_embedding(TMP("v.bin"), vocab, 4, 24, wte, &found);
    int f3 = sl_w2v_find(a, "f3");
    ok(rc == 0 && found == 2 && wte[24] == 42.0f && wte[3 * 24] == 42.0f &&
           !memcmp(wte + 2 * 24, a->vec + (size_t)f3 * 24, 24 * sizeof(float)),
       "init embedding: rows of known words filled, others untouched (%d found)", found);
    rc = sl_w2v_init_embedding(TMP("v.bin"), vocab, 4, 16, wte, &found);
    ok(rc == SL_ESHAPE, "init embedding: dimension mismatch -> error (%s)", sl_errmsg());
    sl_w2v_free(a);
}

static void test_gensim_files(void)
{
    sl_w2v *t = NULL, *b = NULL;
    int rc1 = sl_w2v_load(SRC("t/data/w2v-gensim.txt"), -1, &t);
    int rc2 = sl_w2v_load(SRC("t/data/w2v-gensim.bin"), -1, &b);
    ok(rc1 == 0 && rc2 == 0 && t && b && t->V == 6 && t->D == 4 && b->V == 6 && b->D == 4,
       "gensim's text and binary files load (6 x 4)%s%s", rc1 || rc2 ? ": " : "", rc1 || rc2 ? sl_errmsg() : "");
    if (!t || !b) {
        sl_w2v_free(t);
        sl_w2v_free(b);
        return;
    }
    int exact = 1;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) {
            float want = (float)((i + 1) / 8.0 - j / 16.0);
            if (t->vec[i * 4 + j] != want || b->vec[i * 4 + j] != want) exact = 0;
        }
    ok(exact, "gensim's values read exactly from both formats");
    ok(sl_w2v_find(b, "café") == 3 && sl_w2v_find(t, "café") == 3, "UTF-8 word read from both");
    sl_w2v_free(t);
    sl_w2v_free(b);
}

static void bad_vec(const char *name, const void *bytes, size_t n, int binary, const char *want)
{
    write_bytes(TMP("bad.vec"), bytes, n);
    sl_w2v *w = NULL;
    int rc = sl_w2v_load(TMP("bad.vec"), binary, &w);
    const char *msg = sl_errmsg();
    ok(rc == SL_EFORMAT && strstr(msg, want), "malformed vectors (%s): %s", name, msg);
    sl_w2v_free(w);
}

static void test_bad_files(void)
{
    bad_vec("empty", "", 0, -1, ":1:");
    bad_vec("bad header", "six 4\n", 6, -1, ":1: expected the header");
    const char *few = "3 2\na 1 2\nb 3 4\n";
    bad_vec("text: fewer words than the header", few, strlen(few), 0, "claims 3 vectors of 2 values");
    const char *many = "1 2\na 1 2\nb 3 4\n";
    bad_vec("text: more words than the header", many, strlen(many), 0, ":3: more vectors");
    const char *nn = "2 2\na 1 2\nb 3 x4\n";
    bad_vec("text: non-numeric", nn, strlen(nn), 0, ":3: value 2");
    const char *nf = "2 2\na 1 2\nb 3 inf\n";
    bad_vec("text: non-finite", nf, strlen(nf), 0, ":3: value 2");
    const char *wc = "2 3\na 1 2 3\nb 3 4\n";
    bad_vec("text: wrong field count", wc, strlen(wc), 0, ":3: \"b\" has 2 values");
    /* binary: take gensim's file and cut it */
    void *buf = NULL;
    FILE *f = fopen(SRC("t/data/w2v-gensim.bin"), "rb");
    char data[256];
    size_t n = f ? fread(data, 1, sizeof data, f) : 0;
    if (f) fclose(f);
    (void)buf;
    bad_vec("binary: truncated in a vector", data, n - 5, 1, "truncated in the vector of \"woman\"");
    bad_vec("binary: truncated in a word", data, n - 18, 1, "truncated in word 6");
    char more[300];
    memcpy(more, data, n);
    more[0] = '5';
    bad_vec("binary: more data than the header", more, n, 1, "more data after the 5 vectors");
    more[0] = '7';
    bad_vec("binary: header count too large", more, n, 1, "word 7");
    float inf = INFINITY;
    memcpy(more, data, n);
    memcpy(more + 4 + 4, &inf, 4); /* "6 4\nthe " = 8 bytes, then the first float */
    bad_vec("binary: non-finite value", more, n, 1, "value 1 of \"the\" is not finite");
}

/* the negative-sampling distribution: the probability each word gets from the alias tables,
 * (alias_p[a] + sum over columns i aliased to a of (1 - alias_p[i])) / V, against
 * count^0.75 / sum count^0.75 computed here in double */
static void test_alias_table(void)
{
    const int64_t counts[8] = {1000, 300, 120, 50, 7, 2, 1, 1};
    float p[8];
    int32_t al[8];
    ok(sl_w2v_alias_table(counts, 8, p, al) == SL_OK, "alias tables built");
    double z = 0, got[8] = {0}, err = 0, sum = 0;
    for (int a = 0; a < 8; a++) z += pow((double)counts[a], 0.75);
    for (int i = 0; i < 8; i++) {
        got[i] += p[i] / 8.0;
        if (al[i] >= 0 && al[i] < 8) got[al[i]] += (1.0 - p[i]) / 8.0;
        else err = INFINITY;
    }
    for (int a = 0; a < 8; a++) {
        err = fmax(err, fabs(got[a] - pow((double)counts[a], 0.75) / z));
        sum += got[a];
    }
    /* 1000^0.75 / Z = 0.5682: the most frequent word's share, much less than its 0.6752 of
     * the counts (the 0.75 power flattens the distribution) */
    ok(err < 1e-6 && fabs(sum - 1.0) < 1e-6 && fabs(got[0] - 0.5682) < 1e-4,
       "negative samples follow count^0.75 / Z (max abs err %.1e; P(most frequent) %.4f)", err, got[0]);
}

int main(void)
{
    const char *s = getenv("SL_SRCDIR");
    snprintf(g_src, sizeof g_src, "%s", s ? s : ".");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t-w2v.XXXXXX");
    if (!mkdtemp(g_tmp)) skip_all("cannot make a temporary directory");
    test_alias_table();
    test_gensim_files();
    test_bad_files();
    test_learning_and_determinism();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) diag("could not remove %s", g_tmp);
    return done_testing();
}
