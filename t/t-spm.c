/* t/t-spm.c — SentencePiece models (nlp/spm.c) against Debian's sentencepiece 0.1.97: four
 * fixture models (unigram and BPE; byte fallback or <unk> runs; nmt_nfkc, nmt_nfkc_cf and
 * identity normalisation; user-defined symbols) encode t/data/spm-text.txt line by line to
 * exactly spm_encode's ids and decode them to exactly spm_decode's text. Malformed .model
 * files (truncated at every length, flipped bytes, wrong wire types, a text file) are refused
 * without a crash. Fixtures: t/ref/make_spm_fixtures.sh. */
#include "t/tap.h"

#include "core/error.h"
#include "core/fileio.h"
#include "nlp/spm.h"
#include "nlp/spm_trie.h"
#include "nlp/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *srcpath(const char *rel)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) & 3;
    const char *d = getenv("SL_SRCDIR");
    snprintf(buf[k], sizeof buf[k], "%s/%s", d ? d : ".", rel);
    return buf[k];
}

/* split a buffer into lines (without '\n'); returns the count */
static size_t lines_of(char *buf, size_t n, char ***out, size_t **lens)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) cnt += buf[i] == '\n';
    if (n && buf[n - 1] != '\n') cnt++;
    *out = malloc((cnt + 1) * sizeof **out);
    *lens = malloc((cnt + 1) * sizeof **lens);
    size_t k = 0, s = 0;
    for (size_t i = 0; i <= n && k < cnt; i++) {
        if (i == n || buf[i] == '\n') {
            (*out)[k] = buf + s;
            (*lens)[k] = i - s;
            k++;
            s = i + 1;
        }
    }
    return cnt;
}

static void check_model(const char *name, int expect_bpe)
{
    char rel[256];
    snprintf(rel, sizeof rel, "t/data/spm-%s.model", name);
    sl_spm *m = NULL;
    int rc = sl_spm_load(srcpath(rel), &m);
    ok(rc == 0, "%s: load (%s)", name, rc ? sl_errmsg() : "ok");
    if (rc) {
        for (int k = 0; k < 3; k++) ok(0, "%s: not loaded", name);
        return;
    }
    ok(!strcmp(sl_spm_kind_name(m), expect_bpe ? "SentencePiece BPE" : "SentencePiece unigram"), "%s: is a %s model", name,
       sl_spm_kind_name(m));
    void *text, *idsb, *decb;
    size_t nt, ni, nd;
    sl_read_file(srcpath("t/data/spm-text.txt"), 1 << 24, &text, &nt);
    snprintf(rel, sizeof rel, "t/data/spm-%s.ids", name);
    sl_read_file(srcpath(rel), 1 << 24, &idsb, &ni);
    snprintf(rel, sizeof rel, "t/data/spm-%s.dec", name);
    sl_read_file(srcpath(rel), 1 << 24, &decb, &nd);
    char **tl, **il, **dl;
    size_t *tn, *in, *dn;
    size_t L = lines_of(text, nt, &tl, &tn), Li = lines_of(idsb, ni, &il, &in), Ld = lines_of(decb, nd, &dl, &dn);
    size_t bad_enc = 0, bad_dec = 0, total = 0, first_bad = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    unsigned char *out = NULL;
    size_t n_out = 0, ocap = 0;
    for (size_t l = 0; l < L && l < Li; l++) {
        n_ids = 0;
        if (sl_spm_encode(m, (const unsigned char *)tl[l], tn[l], &ids, &n_ids, &cap)) {
            bad_enc++;
            continue;
        }
        /* expected ids */
        char *p = il[l], *e = il[l] + in[l];
        size_t k = 0;
        int same = 1;
        while (p < e) {
            char *q;
            long v = strtol(p, &q, 10);
            if (q == p) break;
            if (k >= n_ids || ids[k] != v) same = 0;
            k++;
            p = q;
        }
        if (k != n_ids) same = 0;
        total += k;
        if (!same) {
            if (!bad_enc) first_bad = l + 1;
            bad_enc++;
        }
        n_out = 0;
        if (l < Ld && (sl_spm_decode(m, ids, n_ids, &out, &n_out, &ocap) || n_out != dn[l] || memcmp(out, dl[l], n_out)))
            bad_dec++;
    }
    ok(L == Li && bad_enc == 0, "%s: %zu lines encode to spm_encode's %zu ids exactly (%zu lines differ, first %zu)", name, L,
       total, bad_enc, first_bad);
    ok(L == Ld && bad_dec == 0, "%s: decoding gives spm_decode's text on every line (%zu differ)", name, bad_dec);
    free(ids);
    free(out);
    free(tl);
    free(tn);
    free(il);
    free(in);
    free(dl);
    free(dn);
    free(text);
    free(idsb);
    free(decb);
    sl_spm_free(m);
}

/* the double-array trie against a naive scan of its keys: random keys over a 3-letter
 * alphabet (many shared prefixes) and a few bytes >= 0x80; every string of up to 5 letters
 * reaches a node exactly when it is a prefix of a key, and the node's value is the key's */
static void check_datrie(void)
{
    unsigned int seed = 7;
    enum { NK = 400 };
    unsigned char kb[NK][8];
    const unsigned char *keys[NK];
    int lens[NK];
    int32_t vals[NK];
    size_t nk = 0;
    while (nk < NK) {
        seed = seed * 1103515245u + 12345u;
        int l = 1 + (int)((seed >> 16) % 6);
        for (int i = 0; i < l; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 16) % 4;
            kb[nk][i] = r == 3 ? 0xFF : (unsigned char)('a' + r);
        }
        int dup = 0;
        for (size_t j = 0; j < nk && !dup; j++) dup = lens[j] == l && !memcmp(kb[j], kb[nk], (size_t)l);
        if (dup) continue;
        keys[nk] = kb[nk];
        lens[nk] = l;
        vals[nk] = (nk % 5 == 4) ? -1 : (int32_t)nk;
        nk++;
    }
    sl_datrie t;
    int rc = sl_datrie_build(&t, keys, lens, vals, nk);
    ok(rc == 0, "datrie: built from %d keys (%zu units)", NK, t.n);
    if (rc) return;
    size_t bad = 0, tried = 0;
    unsigned char q[5];
    for (int l = 1; l <= 5; l++) {
        size_t combos = 1;
        for (int i = 0; i < l; i++) combos *= 4;
        for (size_t c = 0; c < combos; c++) {
            size_t x = c;
            for (int i = 0; i < l; i++, x /= 4) q[i] = x % 4 == 3 ? 0xFF : (unsigned char)('a' + x % 4);
            int prefix = 0;
            int32_t want = -1;
            for (size_t j = 0; j < nk; j++) {
                if (lens[j] >= l && !memcmp(keys[j], q, (size_t)l)) prefix = 1;
                if (lens[j] == l && !memcmp(keys[j], q, (size_t)l)) want = vals[j];
            }
            int32_t node = sl_datrie_find(&t, q, (size_t)l);
            if ((node >= 0) != prefix || (node >= 0 && t.u[node].val != want)) bad++;
            tried++;
        }
    }
    ok(bad == 0, "datrie: %zu strings of 1..5 bytes agree with a scan of the keys (%zu differ)", tried, bad);
    const unsigned char *dk[2] = {(const unsigned char *)"ab", (const unsigned char *)"ab"};
    int dl[2] = {2, 2};
    int32_t dv[2] = {0, 1};
    sl_datrie d;
    ok(sl_datrie_build(&d, dk, dl, dv, 2) != 0, "datrie: a repeated key is refused (%s)", sl_errmsg());
    sl_datrie_free(&t);
}

/* encoding a text through sl_subword_encode_batch on 1, 2 and 3 threads gives the ids of
 * encoding its lines one by one with sl_spm_encode (the text is the fixture text 6 times) */
static void check_batch(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "t/data/spm-%s.model", name);
    sl_subword *t = NULL;
    void *one;
    size_t n1;
    if (sl_subword_load(srcpath(rel), &t) || sl_read_file(srcpath("t/data/spm-text.txt"), 1 << 24, &one, &n1)) {
        ok(0, "%s: batch: cannot load", name);
        return;
    }
    size_t n = 6 * n1;
    unsigned char *text = malloc(n);
    for (int k = 0; k < 6; k++) memcpy(text + k * n1, one, n1);
    int32_t *ref = NULL;
    size_t nref = 0, rcap = 0, lines = 0, *ends = malloc((n + 1) * sizeof *ends);
    for (size_t i = 0; i < n;) {
        const unsigned char *nl = memchr(text + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - text) : n;
        sl_spm_encode(t->spm, text + i, e - i, &ref, &nref, &rcap);
        ends[lines++] = nref;
        i = e + 1;
    }
    for (int th = 1; th <= 3; th++) {
        sl_subword_batch b = {0};
        size_t bad;
        int rc = sl_subword_encode_batch(t, text, n, 1, th, &b, &bad);
        int same = rc == 0 && b.n_ids == nref && b.n_lines == lines && !memcmp(b.ids, ref, nref * sizeof *ref) &&
                   !memcmp(b.ends, ends, lines * sizeof *ends);
        ok(same, "%s: %zu lines on %d thread%s: the %zu ids and line ends of the serial encoder", name, lines, th,
           th > 1 ? "s" : "", nref);
        sl_subword_batch_free(&b);
    }
    free(ref);
    free(ends);
    free(text);
    free(one);
    sl_subword_free(t);
}

int main(void)
{
    check_datrie();
    check_batch("uni");
    check_batch("bpe-id");
    check_model("uni", 0);
    check_model("bpe", 1);
    check_model("uni-cf", 0);
    check_model("bpe-id", 1);
    check_model("llama", 1); /* Llama's tokenizer settings: t/ref/make_llama_spm_fixture.sh */

    /* the tokenizer handle: a .model loads as SentencePiece, <s> is the document token */
    sl_subword *t = NULL;
    int rc = sl_subword_load(srcpath("t/data/spm-uni.model"), &t);
    ok(rc == 0 && t->kind == SL_SUBWORD_SPM && t->n_vocab == 700 && t->doc_token == 1,
       "spm-uni.model loads through sl_subword_load (700 pieces, <s> = 1 starts documents)");
    sl_subword_free(t);

    /* malformed models: every truncation of a small model, byte flips of a large one */
    void *buf;
    size_t n;
    sl_read_file(srcpath("t/data/spm-bpe-id.model"), 1 << 24, &buf, &n);
    unsigned char *b = buf;
    size_t refused = 0;
    for (size_t k = 0; k < n; k++) {
        sl_spm *m = NULL;
        if (sl_spm_parse(b, k, &m)) refused++;
        else sl_spm_free(m);
    }
    /* a cut between whole pieces is a valid (smaller) message; most cuts land inside a field */
    ok(refused > n / 2, "truncations of spm-bpe-id.model: %zu of %zu refused, none crashed", refused, n);
    {
        sl_spm *m = NULL;
        rc = sl_spm_parse(b, n - 1, &m);
        ok(rc != 0 && strstr(sl_errmsg(), "byte"), "a model one byte short is refused (%s)", sl_errmsg());
        sl_spm_free(m);
    }
    {
        unsigned long s = 7;
        size_t loaded = 0, encoded = 0;
        for (int trial = 0; trial < 300; trial++) {
            unsigned char *c = malloc(n);
            memcpy(c, b, n);
            for (int f = 0; f < 3; f++) {
                s = s * 6364136223846793005UL + 1442695040888963407UL;
                c[(s >> 33) % n] ^= (unsigned char)(1 + ((s >> 20) & 0xFE));
            }
            sl_spm *m = NULL;
            if (!sl_spm_parse(c, n, &m)) {
                loaded++;
                int32_t *ids = NULL;
                size_t ni = 0, cap = 0;
                if (!sl_spm_encode(m, (const unsigned char *)"Hello  wor\xFFld <sep> 123", 23, &ids, &ni, &cap)) encoded++;
                free(ids);
                sl_spm_free(m);
            }
            free(c);
        }
        ok(1, "300 models with 3 flipped bytes each: %zu loaded (and %zu encoded), the rest refused, no crash", loaded, encoded);
    }
    free(buf);
    /* a charsmap whose units point outside it: truncate the charsmap of the nfkc model */
    sl_read_file(srcpath("t/data/spm-uni.model"), 1 << 24, &buf, &n);
    {
        /* flipped bytes inside the normaliser's double-array trie (the last ~240 kB): lookups
         * must stay inside the array whatever its units say */
        unsigned long s = 11;
        size_t loaded = 0;
        unsigned char *c = malloc(n);
        for (int trial = 0; trial < 60 && n > 200000; trial++) {
            memcpy(c, buf, n);
            for (int f = 0; f < 40; f++) {
                s = s * 6364136223846793005UL + 1442695040888963407UL;
                c[n - 200000 + (s >> 33) % 199000] ^= (unsigned char)(1 + ((s >> 20) & 0xFE));
            }
            sl_spm *m = NULL;
            if (!sl_spm_parse(c, n, &m)) {
                loaded++;
                int32_t *ids = NULL;
                size_t ni = 0, cap = 0;
                const char *txt = "ＡＢＣ①½ ﬁne ㎏ café \xE2\x80 ok";
                sl_spm_encode(m, (const unsigned char *)txt, strlen(txt), &ids, &ni, &cap);
                free(ids);
                sl_spm_free(m);
            }
        }
        free(c);
        ok(loaded > 0, "60 nmt_nfkc models with 40 bytes of their charsmap flipped: %zu loaded and normalised text, no crash",
           loaded);
    }
    {
        sl_spm *m = NULL;
        rc = sl_spm_parse(buf, n - 1000, &m);
        ok(rc != 0, "spm-uni.model cut inside its normaliser's charsmap is refused (%s)", sl_errmsg());
        sl_spm_free(m);
    }
    free(buf);
    {
        const unsigned char wrong[] = {0x0A, 0x05, 0x0D, 0x00, 0x00, 0x00, 0x00}; /* pieces { field 1 as fixed32 } */
        sl_spm *m = NULL;
        rc = sl_spm_parse(wrong, sizeof wrong, &m);
        ok(rc != 0 && strstr(sl_errmsg(), "wire type"), "a piece string with the wrong wire type is refused (%s)", sl_errmsg());
        const unsigned char grp[] = {0x0B, 0x0C};
        rc = sl_spm_parse(grp, sizeof grp, &m);
        ok(rc != 0 && strstr(sl_errmsg(), "wire type"), "a group (wire type 3) is refused (%s)", sl_errmsg());
        const char *txt = "this is a text file, not a model\n";
        rc = sl_spm_parse((const unsigned char *)txt, strlen(txt), &m);
        ok(rc != 0, "a text file is refused as a model (%s)", sl_errmsg());
        rc = sl_spm_parse((const unsigned char *)"", 0, &m);
        ok(rc != 0 && strstr(sl_errmsg(), "no pieces"), "an empty file is refused (%s)", sl_errmsg());
        /* one normal piece and no <unk> */
        const unsigned char nounk[] = {0x0A, 0x03, 0x0A, 0x01, 'a'};
        rc = sl_spm_parse(nounk, sizeof nounk, &m);
        ok(rc != 0 && strstr(sl_errmsg(), "no unknown piece"), "a model without <unk> is refused (%s)", sl_errmsg());
    }
    {
        sl_spm *m = NULL;
        sl_spm_load(srcpath("t/data/spm-uni.model"), &m);
        int32_t bad = 700;
        unsigned char *o = NULL;
        size_t no = 0, oc = 0;
        rc = m ? sl_spm_decode(m, &bad, 1, &o, &no, &oc) : -1;
        ok(rc != 0 && strstr(sl_errmsg(), "outside the vocabulary"), "decoding id 700 of 700 is refused (%s)", sl_errmsg());
        free(o);
        sl_spm_free(m);
    }
    return done_testing();
}
