/* t/t-ngram-bin.c — seqlab's binary n-gram models: the mapped model is the ARPA model (every
 * n-gram, probability and backoff bit for bit; query output identical, KenLM's query fixture
 * reproduced from a binarized lmplz ARPA), and every damaged file — bad magic, other version,
 * truncated at many lengths, trailing bytes, header fields that lie (with a valid checksum),
 * slots and ids out of range, random byte flips — is refused with a message or, when a flip
 * leaves it valid, scores without reading outside the mapping. */
#include "t/tap.h"

#include "core/error.h"
#include "nlp/ngram.h"
#include "nlp/vocab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_src[4096], g_tmp[4096];

static const char *src(const char *rel)
{
    static char buf[4][8400];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_src, rel);
    return buf[i];
}

static const char *tmpf(const char *name)
{
    static char buf[4][8400];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_tmp, name);
    return buf[i];
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* header field offsets (nlp/ngram_bin.c's layout) */
enum {
    H_VERSION = 8,
    H_ORDER = 16,
    H_VOCAB = 24,
    H_FSIZE = 40,
    H_WORDS_OFF = 48,
    H_VSLOTS_N = 72,
    H_ORD = 80,
    H_OSTRIDE = 64,
    H_CHECK = 80 + 64 * SL_NGRAM_MAX_ORDER
};
enum { O_N = 0, O_NSLOTS = 8, O_KEYS = 16, O_SLOTS = 24, O_PROB = 32, O_BOW = 40, O_PROBE = 48, O_PROBE_N = 56 };

static uint64_t get64(const unsigned char *b, size_t off)
{
    uint64_t v;
    memcpy(&v, b + off, 8);
    return v;
}

static void set64(unsigned char *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }

static void reseal(unsigned char *b) /* recompute the header checksum (FNV-1a) */
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < H_CHECK; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    set64(b, H_CHECK, h);
}

/* every n-gram of a is in b with bit-identical values */
static int same_model(const sl_ngram_lm *a, const sl_ngram_lm *b)
{
    if (a->order != b->order || a->vocab->n != b->vocab->n || a->has_unk != b->has_unk) return 0;
    for (int i = 0; i < a->vocab->n; i++)
        if (strcmp(a->vocab->words[i], b->vocab->words[i])) return 0;
    for (int k = 0; k < a->order; k++) {
        if (a->tab[k].n != b->tab[k].n) return 0;
        for (size_t e = 0; e < a->tab[k].n; e++) {
            long f = sl_ngtab_find(&b->tab[k], a->tab[k].keys + e * (k + 1));
            if (f < 0 || a->prob[k][e] != b->prob[k][f]) return 0;
            if (a->bow[k] && a->bow[k][e] != b->bow[k][f]) return 0;
        }
    }
    return 1;
}

static char *query_text(const sl_ngram_lm *lm, sl_ngram_query_stats *st)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    int rc = sl_ngram_query_file(lm, src("t/data/ngram-test.txt"), m, st);
    fclose(m);
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void expect_refused(const char *what, const void *b, size_t n, const char *want)
{
    spit(tmpf("bad.bin"), b, n);
    sl_ngram_lm *lm = NULL;
    int rc = sl_ngram_load_binary(tmpf("bad.bin"), &lm);
    const char *msg = sl_errmsg();
    ok(rc == SL_EFORMAT && lm == NULL && strstr(msg, "bad.bin") && strstr(msg, want), "%s: refused (%s)", what, msg);
    sl_ngram_free(lm);
}

/* the carried-state scorer == the windowed scorer == the naive reference, over a text's words */
static void test_state(const sl_ngram_lm *lm, const char *what)
{
    sl_corpus *c;
    if (sl_corpus_open(src("t/data/ngram-train.txt"), &c)) {
        ok(0, "%s: open the text", what);
        return;
    }
    int32_t hist[4096];
    int nh = 0, n = 0, bad = 0, badref = 0;
    sl_ngram_state st;
    sl_ngram_state_begin(lm, &st);
    hist[nh++] = SL_NGRAM_BOS;
    const char *w;
    size_t len;
    for (;;) {
        int r = sl_corpus_next_word(c, &w, &len);
        if (r <= 0) break;
        int32_t id = r == SL_CORPUS_EOL ? SL_NGRAM_EOS : sl_ngram_word(lm, w, len);
        int l1, l2;
        float a = sl_ngram_score_next(lm, &st, id, &st, &l1);
        float b = sl_ngram_score(lm, hist, nh, id, &l2);
        float ref = sl_ngram_score_ref(lm, hist, nh, id);
        n++;
        if (a != b || l1 != l2) bad++;
        if (fabsf(a - ref) > 1e-5f) badref++;
        if (r == SL_CORPUS_EOL || nh == 4096) {
            sl_ngram_state_begin(lm, &st);
            nh = 0;
            hist[nh++] = SL_NGRAM_BOS;
        } else {
            hist[nh++] = id;
        }
    }
    sl_corpus_close(c);
    ok(n > 1000 && bad == 0 && badref == 0,
       "%s: carried-state scores == windowed scores (bitwise, with lengths) and the naive reference on %d words (%d, %d differ)",
       what, n, bad, badref);
}

int main(void)
{
    const char *s = getenv("SL_SRCDIR");
    snprintf(g_src, sizeof g_src, "%s", s ? s : ".");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t-ngram-bin.XXXXXX");
    if (!mkdtemp(g_tmp)) skip_all("cannot make a temporary directory");

    /* seqlab's own order-5 model, written and mapped */
    sl_ngram_lm *lm = NULL, *bin = NULL;
    sl_ngram_opts o;
    sl_ngram_opts_default(&o, 5);
    o.discount_fallback = 1;
    int rc = sl_ngram_alloc(5, &lm);
    if (!rc) rc = sl_ngram_count_file(lm, src("t/data/ngram-train.txt"));
    if (!rc) rc = sl_ngram_estimate(lm, &o);
    ok(rc == 0, "order-5 model built");
    if (rc) return done_testing();
    rc = sl_ngram_write_binary(lm, tmpf("m5.bin"));
    ok(rc == 0, "binary written%s%s", rc ? ": " : "", rc ? sl_errmsg() : "");
    ok(sl_ngram_is_binary(tmpf("m5.bin")), "the file is recognised as binary");
    rc = sl_ngram_load(tmpf("m5.bin"), &bin);
    ok(rc == 0 && bin && bin->map, "binary mapped%s%s", rc ? ": " : "", rc ? sl_errmsg() : "");
    if (bin) {
        ok(same_model(lm, bin) && same_model(bin, lm), "mapped model == built model (every n-gram, bit for bit)");
        sl_ngram_query_stats s1, s2;
        char *q1 = query_text(lm, &s1), *q2 = query_text(bin, &s2);
        ok(q1 && q2 && !strcmp(q1, q2), "query output identical");
        ok(s1.ppl_incl == s2.ppl_incl && s1.oov == s2.oov && s1.tokens == s2.tokens, "perplexity identical (%.10g)", s2.ppl_incl);
        free(q1);
        free(q2);
        /* the naive backoff reference on the mapped tables */
        int bad = 0, n = 0;
        for (int32_t w = 0; w < bin->vocab->n; w += 3)
            for (int32_t c = 1; c < bin->vocab->n; c += 7) {
                int32_t ctx[4] = {SL_NGRAM_BOS, c, (c * 5) % bin->vocab->n, (w + c) % bin->vocab->n};
                for (int m = 0; m <= 4; m++, n++)
                    if (fabsf(sl_ngram_score(bin, ctx + 4 - m, m, w, NULL) - sl_ngram_score_ref(bin, ctx + 4 - m, m, w)) > 1e-5f)
                        bad++;
            }
        ok(bad == 0, "mapped model: backoff scoring == naive reference on %d queries (%d differ)", n, bad);
        ok(bin->suffix_closed, "the mapped model is marked suffix-closed");
        test_state(bin, "mapped order-5 model");
        rc = sl_ngram_count_sentence(bin, (int32_t[]){3}, 1, 1);
        ok(rc != 0, "a mapped model refuses new counts (%s)", sl_errmsg());
        sl_ngram_free(bin);
        bin = NULL;
    }

    /* lmplz's ARPA, binarized: KenLM query's output reproduced byte for byte */
    sl_ngram_lm *ken = NULL;
    rc = sl_arpa_read(src("t/data/ngram-kenlm-o5.arpa"), &ken);
    if (!rc) rc = sl_ngram_write_binary(ken, tmpf("k5.bin"));
    if (!rc) rc = sl_ngram_load(tmpf("k5.bin"), &bin);
    ok(rc == 0, "lmplz's order-5 ARPA binarized and mapped");
    if (!rc) {
        sl_ngram_query_stats st;
        char *q = query_text(bin, &st);
        size_t fn = 0;
        unsigned char *want = slurp(src("t/data/ngram-kenlm-o5.query"), &fn);
        /* the fixture ends with the summary, which the CLI prints; compare the word/line part */
        char *cut = want ? strstr((char *)want, "Perplexity including") : NULL;
        ok(q && cut && (size_t)(cut - (char *)want) == strlen(q) && !memcmp(q, want, strlen(q)),
           "query on the binarized lmplz model prints KenLM query's words and lines byte for byte");
        ok(same_model(ken, bin), "binarized lmplz model == its ARPA");
        ok(ken->suffix_closed, "lmplz's ARPA is suffix-closed");
        test_state(ken, "lmplz order-5 ARPA");
        free(q);
        free(want);
        sl_ngram_free(bin);
        bin = NULL;
    }
    sl_ngram_free(ken);
    /* a model that is not suffix-closed (the 2-gram "b a" without a 1-gram... of its suffix is
     * impossible in ARPA; a 3-gram whose 2-gram suffix is missing is not) */
    {
        FILE *f = fopen(tmpf("ns.arpa"), "wb");
        fputs("\\data\\\nngram 1=5\nngram 2=2\nngram 3=1\n\n\\1-grams:\n-1\t<unk>\t0\n-99\t<s>\t-0.3\n-0.5\ta\t-0.2\n"
              "-0.6\tb\t-0.1\n-0.7\t</s>\n\n\\2-grams:\n-0.2\t<s> a\t-0.4\n-0.3\ta a\t-0.05\n\n\\3-grams:\n-0.1\t<s> a "
              "b\n\n\\end\\\n",
              f);
        fclose(f);
        sl_ngram_lm *ns = NULL;
        rc = sl_arpa_read(tmpf("ns.arpa"), &ns);
        ok(rc == 0 && !ns->suffix_closed, "an ARPA whose 3-gram lacks its 2-gram suffix is not suffix-closed%s%s", rc ? ": " : "",
           rc ? sl_errmsg() : "");
        if (ns) {
            sl_ngram_state st;
            sl_ngram_state_begin(ns, &st);
            int32_t a = sl_ngram_word(ns, "a", 1), bb = sl_ngram_word(ns, "b", 1);
            sl_ngram_score_next(ns, &st, a, &st, NULL);
            int l;
            float p = sl_ngram_score_next(ns, &st, bb, &st, &l);
            ok(p == -0.1f && l == 3, "it is scored by the windowed search (<s> a b: %g, length %d)", p, l);
            sl_ngram_free(ns);
        }
    }

    /* damaged files */
    size_t n = 0;
    unsigned char *good = slurp(tmpf("m5.bin"), &n), *b = malloc(n + 64);
    ok(good && b && n > 4096, "binary read back (%zu bytes)", n);
    if (!good || !b) return done_testing();
    memcpy(b, good, n);
    b[0] = 'X';
    expect_refused("bad magic", b, n, "bad magic");
    expect_refused("empty file", b, 0, "shorter than");
    memcpy(b, good, n);
    expect_refused("header cut at 100 bytes", b, 100, "shorter than");
    size_t cuts[] = {1024, 1025, n / 3, n / 2, n - 64, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", cuts[i], n);
        expect_refused(what, b, cuts[i], "truncated");
    }
    memcpy(b, good, n);
    memset(b + n, 0, 64);
    expect_refused("64 trailing bytes", b, n + 64, "trailing bytes");
    b[H_VERSION] = 2;
    expect_refused("version 2", b, n, "version 2");
    memcpy(b, good, n);
    b[H_ORDER] = 4;
    expect_refused("a header byte changed (order), checksum not updated", b, n, "checksum");
    /* lies with a valid checksum */
    struct {
        const char *what;
        size_t off;
        uint64_t val;
        const char *want;
    } lies[] = {
        {"order 13", H_ORDER, 13, "order 13"},
        {"order 0", H_ORDER, 0, "order 0"},
        {"file size larger", H_FSIZE, 1ull << 40, "truncated"},
        {"vocabulary of 2^31 words", H_VOCAB, 1ull << 31, "vocabulary size"},
        {"word section past the end", H_WORDS_OFF, 1ull << 50, "word section"},
        {"vocab slots not a power of two", H_VSLOTS_N, 1000, "vocabulary slot"},
        {"2-grams: 2^40 entries", H_ORD + H_OSTRIDE + O_N, 1ull << 40, "2-grams"},
        {"3-grams: more entries than slots", H_ORD + 2 * H_OSTRIDE + O_N, get64(good, H_ORD + 2 * H_OSTRIDE + O_NSLOTS),
         "3-grams"},
        {"4-grams: keys past the end", H_ORD + 3 * H_OSTRIDE + O_KEYS, get64(good, H_FSIZE) - 64, "4-grams"},
        {"5-grams: probs at an odd offset", H_ORD + 4 * H_OSTRIDE + O_PROB, get64(good, H_ORD + 4 * H_OSTRIDE + O_PROB) + 4,
         "5-grams"},
        {"5-grams: a backoff on the top order", H_ORD + 4 * H_OSTRIDE + O_BOW, 1024, "5-grams"},
        {"1-grams: slots offset overflows", H_ORD + O_SLOTS, ~0ull - 63, "1-grams"},
        {"2-grams: probing table not a power of two", H_ORD + H_OSTRIDE + O_PROBE_N, 1000, "probing table"},
        {"3-grams: probing table past the end", H_ORD + 2 * H_OSTRIDE + O_PROBE, get64(good, H_FSIZE) - 64, "probing table"},
        {"a 6th table", H_ORD + 5 * H_OSTRIDE + O_N, 5, "beyond the order"},
    };
    for (size_t i = 0; i < sizeof lies / sizeof *lies; i++) {
        memcpy(b, good, n);
        if (lies[i].off == H_ORDER || lies[i].off == H_VOCAB) {
            uint32_t v = (uint32_t)lies[i].val;
            memcpy(b + lies[i].off, &v, 4);
        } else {
            set64(b, lies[i].off, lies[i].val);
        }
        reseal(b);
        expect_refused(lies[i].what, b, n, lies[i].want);
    }
    /* contents that index memory */
    memcpy(b, good, n);
    uint64_t so = get64(good, H_ORD + H_OSTRIDE + O_SLOTS), ns = get64(good, H_ORD + H_OSTRIDE + O_NSLOTS);
    for (uint64_t i = 0; i < ns; i++) {
        uint32_t v;
        memcpy(&v, b + so + 4 * i, 4);
        if (v) {
            v = 0x7fffffff;
            memcpy(b + so + 4 * i, &v, 4);
            break;
        }
    }
    expect_refused("a 2-gram slot past the table", b, n, "points past");
    memcpy(b, good, n);
    uint32_t big = 1u << 30;
    memcpy(b + get64(good, H_ORD + 2 * H_OSTRIDE + O_KEYS) + 8, &big, 4);
    expect_refused("a 3-gram word id past the vocabulary", b, n, "word id");
    memcpy(b, good, n);
    uint64_t vs = get64(good, 64), vn = get64(good, H_VSLOTS_N);
    for (uint64_t i = 0; i < vn; i++) {
        int32_t v;
        memcpy(&v, b + vs + 4 * i, 4);
        if (v < 0) {
            v = 3;
            memcpy(b + vs + 4 * i, &v, 4);
        }
    }
    expect_refused("no empty vocabulary slot (a lookup would never end)", b, n, "vocabulary slots used");
    memcpy(b, good, n);
    uint64_t wo = get64(good, H_WORDS_OFF), wl = get64(good, 56);
    b[wo + wl - 1] = 'x';
    expect_refused("words without a final terminator", b, n, "terminator");
    memcpy(b, good, n);
    float pos = 0.5f;
    memcpy(b + get64(good, H_ORD + H_OSTRIDE + O_PROB), &pos, 4);
    expect_refused("a positive log10 probability", b, n, "log10 probability");
    memcpy(b, good, n);
    {
        uint64_t po = get64(good, H_ORD + O_PROBE), pn = get64(good, H_ORD + O_PROBE_N);
        for (uint64_t i = 0; i < pn; i++) set64(b, po + 16 * i, 12345 + i); /* no empty slot */
    }
    expect_refused("a full unigram probing table (a lookup would never end)", b, n, "probing slots used");

    /* random flips past the header: refused cleanly, or valid and scoring in bounds */
    uint64_t x = 88172645463325252ULL;
    int refused = 0, loaded = 0, qbad = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(b, good, n);
        for (int f = 0; f < 4; f++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[1024 + x % (n - 1024)] ^= (unsigned char)(1u << (x >> 60 & 7));
        }
        spit(tmpf("flip.bin"), b, n);
        sl_ngram_lm *m = NULL;
        if (sl_ngram_load_binary(tmpf("flip.bin"), &m)) {
            refused++;
            continue;
        }
        loaded++;
        sl_ngram_query_stats st;
        if (sl_ngram_query_file(m, src("t/data/ngram-test.txt"), NULL, &st) != 0) qbad++;
        sl_ngram_free(m);
    }
    ok(refused + loaded == 300 && qbad == 0, "300 files with 4 random bit flips: %d refused, %d loaded and queried", refused,
       loaded);
    sl_ngram_lm *m = NULL;
    rc = sl_ngram_load_binary(tmpf("none.bin"), &m);
    ok(rc == SL_EIO && strstr(sl_errmsg(), "none.bin"), "missing file: %s", sl_errmsg());

    free(good);
    free(b);
    sl_ngram_free(lm);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) diag("could not remove %s", g_tmp);
    return done_testing();
}
