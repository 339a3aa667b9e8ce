/* t/t-tok.c — byte-level BPE (nlp/bpe*.c): UTF-8, the pre-tokeniser on hand-worked cases,
 * training (fast == naive; == the Python reference's merges), encoding (== GPT-2's encoder.py
 * on the fixture text; the heap merge == a naive rank scan), decoding, both file formats and
 * their malformed inputs. Fixtures: t/ref/make_bpe_fixtures.py. */
#include "t/tap.h"

#include "core/error.h"
#include "core/fileio.h"
#include "nlp/bpe.h"
#include "nlp/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static char *srcpath(const char *rel)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) & 3;
    const char *d = getenv("SL_SRCDIR");
    snprintf(buf[k], sizeof buf[k], "%s/%s", d ? d : ".", rel);
    return buf[k];
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    fputs(s, f);
    fclose(f);
}

/* ---- pre-tokeniser ---- */
typedef struct {
    char out[1024];
    size_t n;
} joined;

static int join_cb(void *ctx, const unsigned char *p, size_t len)
{
    joined *j = ctx;
    if (j->n + len + 2 >= sizeof j->out) return -99;
    j->out[j->n++] = '[';
    memcpy(j->out + j->n, p, len);
    j->n += len;
    j->out[j->n++] = ']';
    j->out[j->n] = 0;
    return 0;
}

static void pretok_case(const char *in, const char *want)
{
    joined j = {{0}, 0};
    int rc = sl_bpe_pretokenize((const unsigned char *)in, strlen(in), join_cb, &j);
    ok(rc == 0 && !strcmp(j.out, want), "pre-tokens of \"%s\" are %s (got %s)", in, want, j.out);
}

/* ---- naive encoder: GPT-2's bpe(): find the lowest-ranked adjacent pair, merge all its
 * occurrences left to right, repeat ---- */
static size_t naive_encode_word(const sl_bpe *b, const unsigned char *p, size_t n, int32_t *out)
{
    size_t k = n;
    for (size_t i = 0; i < n; i++) out[i] = b->byte_id[p[i]];
    for (;;) {
        int best = -1;
        for (size_t i = 0; i + 1 < k; i++)
            for (int r = 0; r < b->n_merges && (best < 0 || r < best); r++)
                if (b->merge[3 * r] == out[i] && b->merge[3 * r + 1] == out[i + 1]) {
                    best = r;
                    break;
                }
        if (best < 0) return k;
        size_t w = 0;
        for (size_t i = 0; i < k; i++) {
            if (i + 1 < k && out[i] == b->merge[3 * best] && out[i + 1] == b->merge[3 * best + 1]) {
                out[w++] = b->merge[3 * best + 2];
                i++;
            } else {
                out[w++] = out[i];
            }
        }
        k = w;
    }
}

static int same_model(const sl_bpe *a, const sl_bpe *b)
{
    if (a->n_vocab != b->n_vocab || a->n_merges != b->n_merges) return 0;
    for (int i = 0; i < a->n_vocab; i++)
        if (a->len[i] != b->len[i] || a->special[i] != b->special[i] || memcmp(a->tok[i], b->tok[i], (size_t)a->len[i])) return 0;
    return !memcmp(a->merge, b->merge, (size_t)a->n_merges * 3 * sizeof *a->merge);
}

/* the same merges, as token byte strings (ids may be numbered differently) */
static int same_merges_bytes(const sl_bpe *a, const sl_bpe *b)
{
    if (a->n_merges != b->n_merges) return 0;
    for (int r = 0; r < a->n_merges; r++)
        for (int h = 0; h < 3; h++) {
            int x = a->merge[3 * r + h], y = b->merge[3 * r + h];
            if (a->len[x] != b->len[y] || memcmp(a->tok[x], b->tok[y], (size_t)a->len[x])) return 0;
        }
    return 1;
}

static int expect_fail(int rc, const char *needle, const char *what)
{
    const char *m = sl_errmsg();
    int good = rc != 0 && strstr(m, needle) != NULL;
    ok(good, "%s is refused (%s)", what, m);
    return good;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/t-tok.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;

    /* UTF-8 */
    uint32_t cp;
    ok(sl_utf8_decode((const unsigned char *)"\xC3\xA9", 2, &cp) == 2 && cp == 0xE9, "UTF-8: e-acute decodes");
    ok(sl_utf8_decode((const unsigned char *)"\xF0\x9F\x99\x82", 4, &cp) == 4 && cp == 0x1F642, "UTF-8: a 4-byte emoji decodes");
    ok(sl_utf8_decode((const unsigned char *)"\xC0\x80", 2, &cp) == 0, "UTF-8: an overlong NUL is invalid");
    ok(sl_utf8_decode((const unsigned char *)"\xED\xA0\x80", 3, &cp) == 0, "UTF-8: a surrogate is invalid");
    ok(sl_utf8_decode((const unsigned char *)"\xF4\x90\x80\x80", 4, &cp) == 0, "UTF-8: above U+10FFFF is invalid");
    ok(sl_utf8_decode((const unsigned char *)"\xE2\x82", 2, &cp) == 0, "UTF-8: a truncated sequence is invalid");
    ok(sl_utf8_check((const unsigned char *)"ab\x80"
                                            "cd",
                     5) == 2,
       "UTF-8: a stray continuation byte is found at its offset");

    /* the pattern, worked by hand */
    pretok_case("Hello world", "[Hello][ world]");
    pretok_case("it's we'll I'M", "[it]['s][ we]['ll][ I]['][M]");
    pretok_case("a  b", "[a][ ][ b]");
    pretok_case("x   \n\ny", "[x][   \n][\n][y]");
    pretok_case("abc123!!? 45", "[abc][123][!!?][ 45]");
    pretok_case("end  ", "[end][  ]");
    pretok_case("\tx", "[\t][x]");
    pretok_case("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC", "[caf\xC3\xA9][ \xE6\x97\xA5\xE6\x9C\xAC]");
    pretok_case("x\xC2\xA0y", "[x][\xC2\xA0][y]"); /* NBSP is \s: not the optional ' ' */
    {
        joined j = {{0}, 0};
        int rc = sl_bpe_pretokenize((const unsigned char *)"ab\xFF"
                                                           "cd",
                                    5, join_cb, &j);
        expect_fail(rc, "byte offset 2", "invalid UTF-8 in the pre-tokeniser");
    }
    ok(sl_bpe_safe_cut((const unsigned char *)"ab\n  x\ny", 8) == 7, "safe cut: after the last newline between non-spaces");
    ok(sl_bpe_safe_cut((const unsigned char *)"ab\n  x", 6) == 0, "safe cut: none when every newline is followed by white space");
    ok(sl_bpe_safe_cut((const unsigned char *)"ab\nc \nd", 7) == 3,
       "safe cut: not after a white-space run longer than the newline");

    /* training: fast == naive on the fixture corpus, and == the Python reference */
    void *corpus;
    size_t nc;
    int rc = sl_read_file(srcpath("t/data/tok-corpus.txt"), 1 << 24, &corpus, &nc);
    ok(rc == 0, "read the fixture corpus");
    if (rc) return done_testing();
    const char *specials[] = {"<|endoftext|>", NULL};
    sl_bpe_train_opts o;
    sl_bpe_train_opts_default(&o);
    o.vocab_size = 600;
    o.min_frequency = 2;
    o.special = specials;
    sl_bpe *fast = NULL, *naive = NULL, *ref = NULL;
    ok(sl_bpe_train(corpus, nc, &o, &fast) == 0, "train (fast) on the corpus");
    o.naive = 1;
    ok(sl_bpe_train(corpus, nc, &o, &naive) == 0, "train (naive) on the corpus");
    ok(fast && naive && same_model(fast, naive), "fast and naive training learn the same merges");
    rc = sl_bpe_load_gpt2(srcpath("t/data/tok-gpt2/vocab.json"), srcpath("t/data/tok-gpt2/merges.txt"), &ref);
    ok(rc == 0, "read the reference vocab.json + merges.txt (%s)", rc ? sl_errmsg() : "ok");
    ok(fast && ref && fast->n_merges == 343 && same_merges_bytes(fast, ref),
       "the trained merges are the Python reference's (343, in order)");
    ok(ref && ref->special[599] && sl_bpe_find_special(ref, "<|endoftext|>") == 599,
       "<|endoftext|> is read as the special token 599");

    /* training with heavy ties and runs of one byte: fast == naive over several seeds */
    {
        int agree = 1;
        unsigned long s = 12345;
        for (int trial = 0; trial < 6; trial++) {
            char txt[4000];
            int n = 0;
            while (n < 3900) {
                s = s * 6364136223846793005UL + 1442695040888963407UL;
                int r = (int)((s >> 33) % 10);
                txt[n++] = r < 4 ? 'a' : r < 6 ? 'b' : r < 7 ? 'c' : r < 9 ? ' ' : '\n';
            }
            txt[n] = 0;
            sl_bpe_train_opts p;
            sl_bpe_train_opts_default(&p);
            p.vocab_size = 256 + 40 + trial * 10;
            p.min_frequency = 1;
            sl_bpe *x = NULL, *y = NULL;
            sl_bpe_train((const unsigned char *)txt, (size_t)n, &p, &x);
            p.naive = 1;
            sl_bpe_train((const unsigned char *)txt, (size_t)n, &p, &y);
            if (!x || !y || !same_model(x, y)) agree = 0;
            sl_bpe_free(x);
            sl_bpe_free(y);
        }
        ok(agree, "fast == naive training on six small-alphabet texts (ties, runs of one byte)");
    }

    /* encoding the fixture text == GPT-2's encoder.py with the reference files */
    void *text, *idsf;
    size_t nt, ni;
    sl_read_file(srcpath("t/data/tok-text.txt"), 1 << 24, &text, &nt);
    sl_read_file(srcpath("t/data/tok-gpt2-text.ids"), 1 << 24, &idsf, &ni);
    int32_t *want = malloc((ni + 1) * sizeof *want);
    size_t nw = 0;
    for (char *p = idsf, *e; *p; p = e) {
        long v = strtol(p, &e, 10);
        if (e == p) break;
        want[nw++] = (int32_t)v;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    rc = ref ? sl_bpe_encode(ref, text, nt, &ids, &n_ids, &cap) : -1;
    ok(rc == 0 && n_ids == nw && !memcmp(ids, want, nw * sizeof *ids),
       "encoding tok-text.txt with the reference files gives encoder.py's %zu ids (got %zu)", nw, n_ids);
    n_ids = 0;
    rc = fast ? sl_bpe_encode(fast, text, nt, &ids, &n_ids, &cap) : -1;
    ok(rc == 0 && n_ids == nw, "the trained model encodes it to as many tokens (%zu)", n_ids);
    {
        unsigned char *back = NULL;
        size_t nb = 0, bc = 0;
        rc = sl_bpe_decode(fast, ids, n_ids, &back, &nb, &bc);
        ok(rc == 0 && nb == nt && !memcmp(back, text, nt), "decode(encode(text)) == text");
        int32_t bad = 600;
        expect_fail(sl_bpe_decode(fast, &bad, 1, &back, &nb, &bc), "outside the vocabulary", "decoding id 600 of 600");
        free(back);
    }
    /* second pass hits the encode cache: same ids */
    {
        int32_t *again = NULL;
        size_t na = 0, ca = 0;
        sl_bpe_encode(fast, text, nt, &again, &na, &ca);
        ok(na == n_ids && !memcmp(again, ids, na * sizeof *ids), "a second encoding (from the cache) gives the same ids");
        free(again);
    }
    /* the heap merge == the naive rank scan, on long words (past the cache and stack sizes) */
    {
        int agree = 1;
        unsigned long s = 99;
        int32_t *a = malloc(4096 * sizeof *a), *b2 = malloc(4096 * sizeof *b2);
        for (int trial = 0; trial < 40; trial++) {
            unsigned char w[3000];
            size_t n = 1 + (size_t)(trial * 71 % 2900);
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005UL + 1442695040888963407UL;
                static const char al[] = "thereandll'0 \xC3\xA9";
                w[i] = (unsigned char)al[(s >> 33) % (sizeof al - 1)];
            }
            size_t na = 0, ca = 0;
            int32_t *got = NULL;
            sl_bpe_encode_word(fast, w, n, &got, &na, &ca);
            size_t nn = naive_encode_word(fast, w, n, b2);
            if (na != nn || memcmp(got, b2, nn * sizeof *b2)) agree = 0;
            free(got);
        }
        free(a);
        free(b2);
        ok(agree, "merging by heap == GPT-2's repeated lowest-rank scan on 40 words of 1..2900 bytes");
    }
    {
        int32_t *x = NULL;
        size_t nx = 0, cx = 0;
        rc = sl_bpe_encode(fast, (const unsigned char *)"ok \xE2\x82", 5, &x, &nx, &cx);
        expect_fail(rc, "not valid UTF-8 at byte offset 3", "encoding text cut inside a UTF-8 sequence");
        free(x);
    }

    /* files: seqlab-bpe and GPT-2 round trips */
    {
        sl_bpe *x = NULL, *y = NULL;
        ok(sl_bpe_save(fast, path_in("m.bpe")) == 0 && sl_bpe_load(path_in("m.bpe"), &x) == 0 && same_model(fast, x),
           "seqlab-bpe save + load gives the same model");
        ok(sl_bpe_save_gpt2(fast, path_in("vocab.json"), path_in("merges.txt")) == 0 &&
               sl_bpe_load_gpt2(path_in("vocab.json"), path_in("merges.txt"), &y) == 0 && same_model(fast, y),
           "vocab.json + merges.txt save + load gives the same model");
        sl_subword *t = NULL;
        ok(sl_subword_load(tmpdir, &t) == 0 && t->kind == SL_SUBWORD_BPE && t->doc_token == 599,
           "a directory with vocab.json + merges.txt loads as a tokenizer, <|endoftext|> its document token");
        sl_subword_free(t);
        t = NULL;
        ok(sl_subword_load(path_in("m.bpe"), &t) == 0 && t->n_vocab == 600, "a seqlab-bpe file loads as a tokenizer");
        sl_subword_free(t);
        sl_bpe_free(x);
        sl_bpe_free(y);
    }

    /* malformed seqlab-bpe files */
    sl_bpe *z = NULL;
    write_text(path_in("bad1"), "seqlab-bpe 2\n");
    expect_fail(sl_bpe_load(path_in("bad1"), &z), "not a seqlab-bpe file", "a wrong version line");
    write_text(path_in("bad2"), "seqlab-bpe 1\npattern gpt2\ntokens 300\nb 00\n");
    expect_fail(sl_bpe_load(path_in("bad2"), &z), "300 tokens announced", "a token count larger than the file");
    {
        /* a valid 258-token file, then variations */
        char *buf = malloc(1 << 16);
        size_t k = (size_t)sprintf(buf, "seqlab-bpe 1\npattern gpt2\ntokens 258\n");
        for (int i = 0; i < 256; i++) k += (size_t)sprintf(buf + k, "b %02x\n", i);
        size_t base = k;
        sprintf(buf + base, "b 6162\ns 3c3e\nmerges 1\n97 98\n");
        write_text(path_in("good"), buf);
        ok(sl_bpe_load(path_in("good"), &z) == 0 && z->n_merges == 1 && z->merge[2] == 256 && z->special[257],
           "a hand-written 258-token file loads (merge 97 98 -> 256, one special)");
        sl_bpe_free(z);
        z = NULL;
        sprintf(buf + base, "b 6162\ns 3c3e\nmerges 1\n97 999\n");
        write_text(path_in("bad3"), buf);
        expect_fail(sl_bpe_load(path_in("bad3"), &z), "refers to token 999", "a merge that references an unknown token id");
        sprintf(buf + base, "b 6163\ns 3c3e\nmerges 1\n97 98\n");
        write_text(path_in("bad4"), buf);
        expect_fail(sl_bpe_load(path_in("bad4"), &z), "not in the vocabulary", "a merge whose result is not a token");
        sprintf(buf + base, "b 6x62\ns 3c3e\nmerges 1\n97 98\n");
        write_text(path_in("bad5"), buf);
        expect_fail(sl_bpe_load(path_in("bad5"), &z), "bad hex digit", "a bad hex digit");
        sprintf(buf + base, "b 61\ns 3c3e\nmerges 0\n");
        write_text(path_in("bad6"), buf);
        expect_fail(sl_bpe_load(path_in("bad6"), &z), "repeats an earlier token", "a token listed twice");
        sprintf(buf + base, "b 6162\ns 3c3e\nmerges 1\n97 98\n");
        memcpy(buf + strlen("seqlab-bpe 1\npattern gpt2\ntokens 258\n"), "b 01\n", 5); /* byte 00 replaced by 01 */
        write_text(path_in("bad7"), buf);
        z = NULL;
        rc = sl_bpe_load(path_in("bad7"), &z);
        ok(rc != 0, "a vocabulary missing byte 0x00 (and repeating 0x01) is refused (%s)", sl_errmsg());
        sprintf(buf + base, "b 6162\ns 3c3e\nmerges 2\n97 98\n");
        write_text(path_in("bad8"), buf);
        expect_fail(sl_bpe_load(path_in("bad8"), &z), "expected merge 2 of 2", "a file cut short in its merges");
        free(buf);
    }
    /* malformed GPT-2 files */
    {
        FILE *f = fopen(path_in("merges-bad.txt"), "w");
        fputs("#version: 0.2\nh e\nt h\u0120e\n", f);
        fclose(f);
        expect_fail(sl_bpe_load_gpt2(srcpath("t/data/tok-gpt2/vocab.json"), path_in("merges-bad.txt"), &z),
                    "line 3: unknown token", "merges.txt naming a token not in vocab.json");
        f = fopen(path_in("merges-bad2.txt"), "w");
        fputs("#version: 0.2\nh e x\n", f);
        fclose(f);
        expect_fail(sl_bpe_load_gpt2(srcpath("t/data/tok-gpt2/vocab.json"), path_in("merges-bad2.txt"), &z), "two token strings",
                    "a merges.txt line with three fields");
        write_text(path_in("v-bad.json"), "[1, 2]");
        expect_fail(sl_bpe_load_gpt2(path_in("v-bad.json"), srcpath("t/data/tok-gpt2/merges.txt"), &z), "expected a JSON object",
                    "a vocab.json that is not an object");
        write_text(path_in("v-bad2.json"), "{\"a\": 0, ");
        expect_fail(sl_bpe_load_gpt2(path_in("v-bad2.json"), srcpath("t/data/tok-gpt2/merges.txt"), &z), "JSON",
                    "a truncated vocab.json");
        /* ids not dense: rewrite the reference with one id out of range */
        void *vj;
        size_t vn;
        sl_read_file(srcpath("t/data/tok-gpt2/vocab.json"), 1 << 24, &vj, &vn);
        char *hit = strstr(vj, ": 599}");
        if (hit) memcpy(hit, ": 999}", 6);
        f = fopen(path_in("v-bad3.json"), "wb");
        fwrite(vj, 1, vn, f);
        fclose(f);
        free(vj);
        expect_fail(sl_bpe_load_gpt2(path_in("v-bad3.json"), srcpath("t/data/tok-gpt2/merges.txt"), &z), "ids must be dense",
                    "a vocab.json whose ids are not 0..N-1");
    }
    /* sl_subword_encode_batch on 1-3 threads == the serial encoder: the text 40 times over
     * (parts cut at sl_bpe_safe_cut points), whole and line by line */
    {
        sl_subword *t = NULL;
        void *one;
        size_t n1;
        if (sl_subword_load(srcpath("t/data/tok-gpt2"), &t) || sl_read_file(srcpath("t/data/tok-text.txt"), 1 << 24, &one, &n1)) {
            ok(0, "batch: cannot load the GPT-2 fixture");
        } else {
            size_t n = 40 * (n1 + 2);
            unsigned char *big = malloc(n), *q = big;
            for (int k = 0; k < 40; k++, q += n1 + 2) {
                memcpy(q, one, n1);
                memcpy(q + n1, "\n\n", 2);
            }
            int32_t *ref = NULL, *lref = NULL;
            size_t nref = 0, rcap = 0, nl = 0, lcap = 0, lines = 0, *ends = malloc((n + 1) * sizeof *ends);
            sl_bpe_encode(t->bpe, big, n, &ref, &nref, &rcap);
            for (size_t i = 0; i < n;) {
                const unsigned char *e = memchr(big + i, '\n', n - i);
                size_t j = e ? (size_t)(e - big) : n;
                sl_bpe_encode(t->bpe, big + i, j - i, &lref, &nl, &lcap);
                ends[lines++] = nl;
                i = j + 1;
            }
            for (int th = 1; th <= 3; th++) {
                sl_subword_batch b = {0};
                size_t bad;
                int rc1 = sl_subword_encode_batch(t, big, n, 0, th, &b, &bad);
                ok(rc1 == 0 && b.n_ids == nref && !memcmp(b.ids, ref, nref * sizeof *ref),
                   "batch: %zu bytes whole on %d thread(s) give the serial encoder's %zu ids", n, th, nref);
                int rc2 = sl_subword_encode_batch(t, big, n, 1, th, &b, &bad);
                ok(rc2 == 0 && b.n_ids == nl && b.n_lines == lines && !memcmp(b.ids, lref, nl * sizeof *lref) &&
                       !memcmp(b.ends, ends, lines * sizeof *ends),
                   "batch: its %zu lines on %d thread(s) give the serial encoder's ids and line ends", lines, th);
                sl_subword_batch_free(&b);
            }
            memcpy(big + n / 2, "\xff", 1);
            sl_subword_batch b = {0};
            size_t bad = 0;
            int rcb = sl_subword_encode_batch(t, big, n, 0, 3, &b, &bad);
            ok(rcb != 0 && strstr(sl_errmsg(), "UTF-8") && bad > 0 && bad <= n / 2,
               "batch: invalid UTF-8 in the middle part is refused, the failing part starts at %zu, in (0, %zu] (%s)", bad, n / 2,
               sl_errmsg());
            sl_subword_batch_free(&b);
            free(ref);
            free(lref);
            free(ends);
            free(big);
            free(one);
        }
        sl_subword_free(t);
    }
    /* training options */
    {
        sl_bpe_train_opts p;
        sl_bpe_train_opts_default(&p);
        p.vocab_size = 100;
        expect_fail(sl_bpe_train((const unsigned char *)"abc", 3, &p, &z), "vocabulary size 100",
                    "a vocabulary smaller than 256");
        p.vocab_size = 300;
        expect_fail(sl_bpe_train((const unsigned char *)"ab\xC3(", 4, &p, &z), "not valid UTF-8",
                    "training text that is not UTF-8");
        p.min_frequency = 1000000;
        ok(sl_bpe_train(corpus, nc, &p, &z) == 0 && z->n_merges == 0, "min_frequency above every count learns no merge");
        sl_bpe_free(z);
        z = NULL;
    }

    free(ids);
    free(want);
    free(text);
    free(idsf);
    free(corpus);
    sl_bpe_free(fast);
    sl_bpe_free(naive);
    sl_bpe_free(ref);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) diag("could not remove %s", tmpdir);
    return done_testing();
}
