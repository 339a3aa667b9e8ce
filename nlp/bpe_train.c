/* nlp/bpe_train.c — learning byte-level BPE merges from a corpus (see bpe.h).
 *
 * The corpus becomes a table of distinct pre-tokens ("words") with their counts; each word is
 * a sequence of token ids, initially its bytes. A merge step takes the pair with the highest
 * count (count = sum over words of occurrences x word count; ties: the smallest (left,
 * right) ids), gives it the next id, and rewrites every word that holds it, merging its
 * occurrences left to right.
 *
 * The fast path keeps the pair counts up to date instead of recounting: for every word the
 * merge touches, the counts of all its pairs are taken away before the rewrite and added back
 * after it; only pairs with the new token can gain, so only they are (re)pushed on a max-heap
 * whose stale entries are corrected when popped. An index pair -> words lists where each pair
 * may occur (a superset; a word is checked before it is rewritten). The naive path
 * (opts->naive) recounts every pair at every step; the tests compare the two.
 */
#include "nlp/bpe.h"
#include "nlp/bpe_hash.h"
#include "core/error.h"
#include "core/heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_bpe_train_opts_default(sl_bpe_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->vocab_size = 1024;
    o->min_frequency = 2;
}

typedef struct {
    sl_strtab words; /* pre-token bytes -> count (val) */
} counter;

static int count_cb(void *ctx, const unsigned char *p, size_t len)
{
    counter *c = ctx;
    if (len < 2) return 0; /* a one-byte pre-token holds no pair */
    int64_t k = sl_strtab_add(&c->words, p, len, NULL);
    if (k < 0) return sl_error(SL_ENOMEM, "out of memory counting pre-tokens");
    c->words.val[k]++;
    return 0;
}

typedef struct {
    int64_t count;
    int32_t a, b;
} hent;

/* max-heap: higher count first, then smaller a, then smaller b */
static inline int hent_before(const hent *x, const hent *y)
{
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

SL_HEAP_DEFINE(heap, hent, hent_before, 1024)

typedef struct {
    int32_t *w;
    size_t n, cap;
} wlist;

typedef struct {
    size_t W;
    int32_t *sym;      /* all words' symbols, word w at off[w] */
    size_t *off;       /* (W) */
    int32_t *len;      /* (W) current lengths */
    int64_t *cnt;      /* (W) word counts */
    sl_pairmap counts; /* pair -> count */
    sl_pairmap where;  /* pair -> index into lists */
    wlist *lists;
    size_t n_lists, cap_lists;
    int32_t *stamp; /* (W) last merge that rewrote the word */
} state;

static int list_add(state *s, int32_t a, int32_t b, int32_t w)
{
    int64_t *ix = sl_pairmap_put(&s->where, sl_pair_key(a, b));
    if (!ix) return sl_error(SL_ENOMEM, "out of memory");
    if (*ix == 0) {
        if (s->n_lists == s->cap_lists) {
            size_t c = s->cap_lists ? 2 * s->cap_lists : 1024;
            wlist *p = realloc(s->lists, c * sizeof *p);
            if (!p) return sl_error(SL_ENOMEM, "out of memory");
            s->lists = p;
            s->cap_lists = c;
        }
        memset(&s->lists[s->n_lists], 0, sizeof(wlist));
        *ix = (int64_t)++s->n_lists;
    }
    wlist *L = &s->lists[*ix - 1];
    if (L->n && L->w[L->n - 1] == w) return SL_OK;
    if (L->n == L->cap) {
        size_t c = L->cap ? 2 * L->cap : 4;
        int32_t *p = realloc(L->w, c * sizeof *p);
        if (!p) return sl_error(SL_ENOMEM, "out of memory");
        L->w = p;
        L->cap = c;
    }
    L->w[L->n++] = w;
    return SL_OK;
}

static int add_count(sl_pairmap *m, int32_t a, int32_t b, int64_t d)
{
    int64_t *v = sl_pairmap_put(m, sl_pair_key(a, b));
    if (!v) return sl_error(SL_ENOMEM, "out of memory");
    *v += d;
    return SL_OK;
}

/* rewrite word w: every (a, b) left to right becomes z; returns 1 if any was merged */
static int merge_in_word(int32_t *x, int32_t *len, int32_t a, int32_t b, int32_t z)
{
    int32_t n = *len, k = 0;
    int hit = 0;
    for (int32_t i = 0; i < n; i++) {
        if (i + 1 < n && x[i] == a && x[i + 1] == b) {
            x[k++] = z;
            i++;
            hit = 1;
        } else {
            x[k++] = x[i];
        }
    }
    *len = k;
    return hit;
}

static void state_free(state *s)
{
    free(s->sym);
    free(s->off);
    free(s->len);
    free(s->cnt);
    free(s->stamp);
    if (s->counts.keys) sl_pairmap_free(&s->counts);
    if (s->where.keys) sl_pairmap_free(&s->where);
    for (size_t i = 0; i < s->n_lists; i++) free(s->lists[i].w);
    free(s->lists);
}

/* the best pair by a full recount (the naive reference); count 0 when there is none */
static int naive_best(const state *s, hent *best)
{
    sl_pairmap m;
    if (sl_pairmap_init(&m, 1024)) return SL_ENOMEM;
    best->count = 0;
    for (size_t w = 0; w < s->W; w++) {
        const int32_t *x = s->sym + s->off[w];
        for (int32_t i = 0; i + 1 < s->len[w]; i++)
            if (add_count(&m, x[i], x[i + 1], s->cnt[w])) {
                sl_pairmap_free(&m);
                return SL_ENOMEM;
            }
    }
    for (size_t k = 0; k < m.nslots; k++) {
        if (m.keys[k] == UINT64_MAX) continue;
        hent e = {m.vals[k], (int32_t)(m.keys[k] >> 32), (int32_t)(m.keys[k] & 0xffffffffu)};
        if (best->count == 0 || hent_before(&e, best)) *best = e;
    }
    sl_pairmap_free(&m);
    return SL_OK;
}

static int train_from_counts(sl_strtab *words, const sl_bpe_train_opts *o, sl_bpe **out)
{
    int n_special = 0;
    if (o->special)
        while (o->special[n_special]) n_special++;
    if (o->vocab_size < 256 + n_special || o->vocab_size > (1 << 24))
        return sl_error(SL_EINVAL, "vocabulary size %d: must be at least 256 + %d special tokens and at most 16777216",
                        o->vocab_size, n_special);
    if (o->min_frequency < 1) return sl_error(SL_EINVAL, "min_frequency must be >= 1");
    int max_merges = o->vocab_size - 256 - n_special;
    state s;
    memset(&s, 0, sizeof s);
    heap q = {0};
    int rc = SL_OK;
    int n_merges = 0;
    int32_t *merge = malloc(((size_t)max_merges * 3 + 1) * sizeof *merge);
    int32_t *touched = NULL;
    size_t nt = 0, ct = 0;
    s.W = words->n;
    s.off = malloc((s.W + 1) * sizeof *s.off);
    s.len = malloc((s.W + 1) * sizeof *s.len);
    s.cnt = malloc((s.W + 1) * sizeof *s.cnt);
    s.stamp = malloc((s.W + 1) * sizeof *s.stamp);
    size_t total = 0;
    for (size_t w = 0; w < s.W; w++) total += words->len[w];
    s.sym = malloc((total + 1) * sizeof *s.sym);
    if (!merge || !s.off || !s.len || !s.cnt || !s.stamp || !s.sym) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    total = 0;
    for (size_t w = 0; w < s.W; w++) {
        const unsigned char *p = sl_strtab_str(words, w);
        s.off[w] = total;
        s.len[w] = (int32_t)words->len[w];
        s.cnt[w] = words->val[w];
        s.stamp[w] = -1;
        for (uint32_t i = 0; i < words->len[w]; i++) s.sym[total + i] = p[i];
        total += words->len[w];
    }
    if (!o->naive) {
        if ((rc = sl_pairmap_init(&s.counts, 1 << 16)) || (rc = sl_pairmap_init(&s.where, 1 << 16))) goto done;
        for (size_t w = 0; w < s.W && !rc; w++) {
            const int32_t *x = s.sym + s.off[w];
            for (int32_t i = 0; i + 1 < s.len[w] && !rc; i++)
                if (!(rc = add_count(&s.counts, x[i], x[i + 1], s.cnt[w]))) rc = list_add(&s, x[i], x[i + 1], (int32_t)w);
        }
        for (size_t k = 0; k < s.counts.nslots && !rc; k++)
            if (s.counts.keys[k] != UINT64_MAX)
                rc = heap_push(
                    &q, (hent){s.counts.vals[k], (int32_t)(s.counts.keys[k] >> 32), (int32_t)(s.counts.keys[k] & 0xffffffffu)});
        if (rc) goto done;
    }
    while (n_merges < max_merges) {
        hent best;
        if (o->naive) {
            if ((rc = naive_best(&s, &best))) goto done;
            if (best.count == 0) break;
        } else {
            if (!q.n) break;
            best = heap_pop(&q);
            int64_t *cur = sl_pairmap_get(&s.counts, sl_pair_key(best.a, best.b));
            int64_t now = cur ? *cur : 0;
            if (now != best.count) { /* stale: put it back with its current count */
                if (now > 0 && (rc = heap_push(&q, (hent){now, best.a, best.b}))) goto done;
                continue;
            }
        }
        if (best.count < o->min_frequency) break;
        int32_t z = 256 + n_merges;
        merge[3 * n_merges] = best.a;
        merge[3 * n_merges + 1] = best.b;
        merge[3 * n_merges + 2] = z;
        if (o->naive) {
            for (size_t w = 0; w < s.W; w++) merge_in_word(s.sym + s.off[w], &s.len[w], best.a, best.b, z);
        } else {
            int64_t *ix = sl_pairmap_get(&s.where, sl_pair_key(best.a, best.b));
            wlist L = ix && *ix ? s.lists[*ix - 1] : (wlist){0};
            if (ix && *ix) s.lists[*ix - 1] = (wlist){0}; /* this pair's list is spent */
            nt = 0;
            for (size_t li = 0; li < L.n && !rc; li++) {
                int32_t w = L.w[li];
                if (s.stamp[w] == n_merges) continue;
                s.stamp[w] = n_merges;
                int32_t *x = s.sym + s.off[w];
                int has = 0;
                for (int32_t i = 0; i + 1 < s.len[w]; i++)
                    if (x[i] == best.a && x[i + 1] == best.b) {
                        has = 1;
                        break;
                    }
                if (!has) continue;
                for (int32_t i = 0; i + 1 < s.len[w] && !rc; i++) rc = add_count(&s.counts, x[i], x[i + 1], -s.cnt[w]);
                merge_in_word(x, &s.len[w], best.a, best.b, z);
                for (int32_t i = 0; i + 1 < s.len[w] && !rc; i++) {
                    rc = add_count(&s.counts, x[i], x[i + 1], s.cnt[w]);
                    if (!rc && (x[i] == z || x[i + 1] == z)) {
                        rc = list_add(&s, x[i], x[i + 1], w);
                        if (nt == ct) {
                            ct = ct ? 2 * ct : 256;
                            int32_t *p = realloc(touched, 2 * ct * sizeof *p);
                            if (!p) rc = sl_error(SL_ENOMEM, "out of memory");
                            else touched = p;
                        }
                        if (!rc) {
                            touched[2 * nt] = x[i];
                            touched[2 * nt + 1] = x[i + 1];
                            nt++;
                        }
                    }
                }
            }
            free(L.w);
            if (rc) goto done;
            for (size_t t = 0; t < nt && !rc; t++) {
                int64_t *v = sl_pairmap_get(&s.counts, sl_pair_key(touched[2 * t], touched[2 * t + 1]));
                if (v && *v > 0 && !(t > 0 && touched[2 * t] == touched[2 * t - 2] && touched[2 * t + 1] == touched[2 * t - 1]))
                    rc = heap_push(&q, (hent){*v, touched[2 * t], touched[2 * t + 1]});
            }
            if (rc) goto done;
        }
        n_merges++;
    }
    {
        int V = 256 + n_merges + n_special;
        unsigned char **tok = calloc((size_t)V, sizeof *tok);
        int *len = calloc((size_t)V, sizeof *len);
        unsigned char *special = calloc((size_t)V, 1);
        unsigned char bytes[256];
        for (int k = 0; k < 256; k++) bytes[k] = (unsigned char)k;
        if (!tok || !len || !special) rc = sl_error(SL_ENOMEM, "out of memory");
        for (int k = 0; k < 256 && !rc; k++) {
            tok[k] = bytes + k;
            len[k] = 1;
        }
        unsigned char *pool = NULL;
        size_t pool_n = 0;
        if (!rc) {
            for (int r = 0; r < n_merges; r++)
                pool_n += (size_t)len[merge[3 * r]] + (size_t)len[merge[3 * r + 1]],
                    len[256 + r] = len[merge[3 * r]] + len[merge[3 * r + 1]];
            pool = malloc(pool_n + 1);
            if (!pool) rc = sl_error(SL_ENOMEM, "out of memory");
        }
        size_t at = 0;
        for (int r = 0; r < n_merges && !rc; r++) {
            int x = merge[3 * r], y = merge[3 * r + 1];
            tok[256 + r] = pool + at;
            memcpy(pool + at, tok[x], (size_t)len[x]);
            memcpy(pool + at + len[x], tok[y], (size_t)len[y]);
            at += (size_t)len[256 + r];
        }
        for (int k = 0; k < n_special && !rc; k++) {
            int id = 256 + n_merges + k;
            tok[id] = (unsigned char *)o->special[k];
            len[id] = (int)strlen(o->special[k]);
            special[id] = 1;
            if (len[id] == 0) rc = sl_error(SL_EINVAL, "a special token cannot be empty");
        }
        if (!rc) rc = sl_bpe_build(V, (const unsigned char *const *)tok, len, special, n_merges, merge, out);
        free(pool);
        free(tok);
        free(len);
        free(special);
    }
done:
    free(merge);
    free(touched);
    free(q.h);
    state_free(&s);
    return rc;
}

int sl_bpe_train(const unsigned char *text, size_t n, const sl_bpe_train_opts *o, sl_bpe **out)
{
    *out = NULL;
    counter c;
    if (sl_strtab_init(&c.words, 1 << 12)) return SL_ENOMEM;
    int rc = sl_bpe_pretokenize(text, n, count_cb, &c);
    if (!rc) rc = train_from_counts(&c.words, o, out);
    sl_strtab_free(&c.words);
    return rc;
}

#define CHUNK ((size_t)1 << 24)

int sl_bpe_train_files(const char *const *files, const sl_bpe_train_opts *o, sl_bpe **out)
{
    *out = NULL;
    counter c;
    if (sl_strtab_init(&c.words, 1 << 12)) return SL_ENOMEM;
    size_t cap = CHUNK;
    unsigned char *buf = malloc(cap);
    int rc = buf ? SL_OK : sl_error(SL_ENOMEM, "out of memory");
    for (int fi = 0; !rc && files[fi]; fi++) {
        const char *path = files[fi];
        FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!f) {
            rc = sl_error(SL_EIO, "cannot open %s", path);
            break;
        }
        size_t have = 0, base = 0; /* base: bytes of the file before buf[0] */
        for (;;) {
            if (have == cap) { /* no safe cut in a full buffer: grow it */
                if (cap >= ((size_t)1 << 31)) {
                    rc = sl_error(SL_EFORMAT, "%s: no line break in 2 GiB of text", path);
                    break;
                }
                unsigned char *p = realloc(buf, 2 * cap);
                if (!p) {
                    rc = sl_error(SL_ENOMEM, "out of memory");
                    break;
                }
                buf = p;
                cap *= 2;
            }
            size_t got = fread(buf + have, 1, cap - have, f);
            have += got;
            int eof = got == 0;
            if (eof && ferror(f)) {
                rc = sl_error(SL_EIO, "reading %s failed", path);
                break;
            }
            size_t cut = eof ? have : sl_bpe_safe_cut(buf, have);
            if (cut) {
                rc = sl_bpe_pretokenize(buf, cut, count_cb, &c);
                if (rc) {
                    sl_error_wrap(rc, "%s (the offset counts from byte %zu)", path, base);
                    break;
                }
                memmove(buf, buf + cut, have - cut);
                have -= cut;
                base += cut;
            }
            if (eof) break;
        }
        if (f != stdin) fclose(f);
    }
    free(buf);
    if (!rc) rc = train_from_counts(&c.words, o, out);
    sl_strtab_free(&c.words);
    return rc;
}
