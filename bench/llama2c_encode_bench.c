/* bench/llama2c_encode_bench.c — llama2.c prompt encoding: seqlab's heap-based merge loop
 * (sl_llama2c_encode) against its peer, the rescan-every-pair loop of llama2.c's run.c
 * (re-implemented here, O(n^2) in the text length), on prompts of several sizes cut from a
 * text file. Both must give the same tokens; CSV on stdout:
 *   bytes,tokens,merges,naive_s,heap_s,speedup
 * The tokenizer is either a given tokenizer.bin or, with --synthetic N, one written here: the
 * three specials, 256 byte pieces "<0xHH>", every byte that occurs as itself, and the N most
 * frequent 2..6-byte substrings of the text (score = log count), so there are many merges.
 *
 * usage: llama2c_encode_bench TEXT (--tokenizer FILE | --synthetic N) SIZE_KB...
 */
#include "core/error.h"
#include "core/util.h"
#include "seq/llama2c.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the peer: run.c's encode over a plain sorted vocabulary ---- */
typedef struct {
    int V, max_len;
    char **piece;
    float *score;
    int *sorted;
} vocab_t;
static vocab_t *sort_v;
static int cmp_sorted(const void *a, const void *b)
{
    return strcmp(sort_v->piece[*(const int *)a], sort_v->piece[*(const int *)b]);
}

static int find(const vocab_t *v, const char *s)
{
    int lo = 0, hi = v->V - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(s, v->piece[v->sorted[mid]]);
        if (!c) return v->sorted[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

static int naive_encode(const vocab_t *v, const char *text, int32_t *tok, long *merges)
{
    int n = 0;
    tok[n++] = 1;
    if (*text) {
        int sp = find(v, " ");
        if (sp >= 0) tok[n++] = sp;
    }
    char cp[5], *buf = malloc((size_t)v->max_len * 2 + 3);
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if ((*c & 0xC0) != 0x80) k = 0;
        cp[k++] = (char)*c;
        cp[k] = '\0';
        if ((c[1] & 0xC0) == 0x80 && k < 4) continue;
        int id = find(v, cp);
        if (id >= 0) tok[n++] = id;
        else
            for (size_t i = 0; i < k; i++) tok[n++] = (unsigned char)cp[i] + 3;
        k = 0;
    }
    *merges = 0;
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_i = -1;
        for (int i = 0; i + 1 < n; i++) {
            snprintf(buf, (size_t)v->max_len * 2 + 3, "%s%s", v->piece[tok[i]], v->piece[tok[i + 1]]);
            int id = find(v, buf);
            if (id >= 0 && v->score[id] > best) {
                best = v->score[id];
                best_id = id;
                best_i = i;
            }
        }
        if (best_i < 0) break;
        tok[best_i] = best_id;
        memmove(tok + best_i + 1, tok + best_i + 2, (size_t)(n - best_i - 2) * sizeof(int32_t));
        n--;
        ++*merges;
    }
    free(buf);
    return n;
}

static int read_vocab(const char *path, vocab_t *v)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 4, SEEK_SET);
    int32_t ml;
    fseek(f, 0, SEEK_SET);
    if (fread(&ml, 4, 1, f) != 1) {
        fclose(f);
        return -1;
    }
    v->max_len = ml;
    int cap = 1024;
    v->piece = malloc(cap * sizeof(char *));
    v->score = malloc(cap * sizeof(float));
    v->V = 0;
    while (ftell(f) < size) {
        float sc;
        int32_t len;
        if (fread(&sc, 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) break;
        if (v->V == cap) {
            cap *= 2;
            v->piece = realloc(v->piece, cap * sizeof(char *));
            v->score = realloc(v->score, cap * sizeof(float));
        }
        v->piece[v->V] = calloc((size_t)len + 1, 1);
        if (len && fread(v->piece[v->V], 1, (size_t)len, f) != (size_t)len) break;
        v->score[v->V++] = sc;
    }
    fclose(f);
    v->sorted = malloc((size_t)v->V * sizeof(int));
    for (int i = 0; i < v->V; i++) v->sorted[i] = i;
    sort_v = v;
    qsort(v->sorted, (size_t)v->V, sizeof(int), cmp_sorted);
    return 0;
}

/* ---- a synthetic tokenizer with many merges ---- */
typedef struct {
    char s[8];
    long count;
} gram_t;
static int cmp_gram_s(const void *a, const void *b) { return strcmp(((const gram_t *)a)->s, ((const gram_t *)b)->s); }
static int cmp_gram_c(const void *a, const void *b)
{
    long x = ((const gram_t *)a)->count, y = ((const gram_t *)b)->count;
    return x < y ? 1 : x > y ? -1 : strcmp(((const gram_t *)a)->s, ((const gram_t *)b)->s);
}

static int write_synthetic(const char *path, const char *text, size_t n, int want)
{
    size_t ng = 0, cap = n * 5 + 1;
    gram_t *g = malloc(cap * sizeof(gram_t));
    for (size_t i = 0; i < n; i++)
        for (int L = 2; L <= 6 && i + (size_t)L <= n; L++) {
            memcpy(g[ng].s, text + i, (size_t)L);
            g[ng].s[L] = '\0';
            if (strlen(g[ng].s) != (size_t)L) continue;
            g[ng++].count = 1;
        }
    qsort(g, ng, sizeof(gram_t), cmp_gram_s);
    size_t u = 0;
    for (size_t i = 0; i < ng; i++) {
        if (u && !strcmp(g[u - 1].s, g[i].s)) g[u - 1].count++;
        else g[u++] = g[i];
    }
    qsort(g, u, sizeof(gram_t), cmp_gram_c);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int32_t ml = 8;
    fwrite(&ml, 4, 1, f);
    const char *special[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3 + 256; i++) {
        char p[16];
        if (i < 3) strcpy(p, special[i]);
        else snprintf(p, sizeof p, "<0x%02X>", i - 3);
        float sc = 0.0f;
        int32_t len = (int32_t)strlen(p);
        fwrite(&sc, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(p, 1, (size_t)len, f);
    }
    int seen[256] = {0};
    for (size_t i = 0; i < n; i++) seen[(unsigned char)text[i]] = 1;
    for (int c = 1; c < 128; c++) {
        if (!seen[c]) continue;
        char p[2] = {(char)c, 0};
        float sc = -100.0f;
        int32_t len = 1;
        fwrite(&sc, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(p, 1, 1, f);
    }
    for (int i = 0; i < want && (size_t)i < u; i++) {
        float sc = (float)log((double)g[i].count) + 0.001f * (float)strlen(g[i].s);
        int32_t len = (int32_t)strlen(g[i].s);
        fwrite(&sc, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(g[i].s, 1, (size_t)len, f);
    }
    fclose(f);
    free(g);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s TEXT (--tokenizer FILE | --synthetic N) SIZE_KB...\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    static char text[1 << 22];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *tokpath = argv[3];
    char synth[] = "/tmp/llama2c_encode_bench_tok.XXXXXX";
    if (!strcmp(argv[2], "--synthetic")) {
        int fd = mkstemp(synth);
        if (fd < 0) return 1;
        fclose(fdopen(fd, "w"));
        if (write_synthetic(synth, text, n, atoi(argv[3]))) return 1;
        tokpath = synth;
    }
    vocab_t v;
    if (read_vocab(tokpath, &v)) {
        fprintf(stderr, "cannot read %s\n", tokpath);
        return 1;
    }
    sl_llama2c_tokenizer *tk;
    if (sl_llama2c_tokenizer_read(tokpath, v.V, &tk)) {
        fprintf(stderr, "%s\n", sl_errmsg());
        return 1;
    }
    printf("bytes,tokens,merges,naive_s,heap_s,speedup\n");
    int bad = 0;
    for (int a = 4; a < argc; a++) {
        size_t len = (size_t)atol(argv[a]) * 1024;
        if (len > n) len = n;
        char *p = malloc(len + 1);
        memcpy(p, text, len);
        p[len] = '\0';
        int32_t *ref = malloc((len + 3) * sizeof(int32_t)), *got = NULL;
        long merges;
        int nref, ngot;
        double t0 = sl_now();
        nref = naive_encode(&v, p, ref, &merges);
        double t1 = sl_now();
        if (sl_llama2c_encode(tk, p, 1, 0, &got, &ngot)) {
            fprintf(stderr, "%s\n", sl_errmsg());
            return 1;
        }
        double t2 = sl_now();
        if (ngot != nref || memcmp(got, ref, (size_t)nref * sizeof(int32_t))) {
            fprintf(stderr, "MISMATCH at %zu bytes: %d vs %d tokens\n", len, ngot, nref);
            bad = 1;
        }
        printf("%zu,%d,%ld,%.4f,%.4f,%.1f\n", len, ngot, merges, t1 - t0, t2 - t1, (t1 - t0) / (t2 - t1));
        free(p);
        free(ref);
        free(got);
    }
    sl_llama2c_tokenizer_free(tk);
    if (tokpath == synth) remove(synth);
    return bad;
}
