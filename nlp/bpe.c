/* nlp/bpe.c — byte-level BPE models: building and checking, encoding with the merge ranks,
 * decoding, and the two file formats (seqlab-bpe, GPT-2 vocab.json + merges.txt). See bpe.h. */
#include "nlp/bpe.h"
#include "nlp/bpe_hash.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hash tables (bpe_hash.h) ---------------------------------------------------------- */

static uint64_t hash_bytes(const unsigned char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

int sl_strtab_init(sl_strtab *t, size_t expect)
{
    memset(t, 0, sizeof *t);
    t->nslots = pow2_at_least(expect * 2);
    t->slots = malloc(t->nslots * sizeof *t->slots);
    if (!t->slots) return sl_error(SL_ENOMEM, "out of memory");
    memset(t->slots, 0xff, t->nslots * sizeof *t->slots);
    return SL_OK;
}

void sl_strtab_free(sl_strtab *t)
{
    free(t->slots);
    free(t->hash);
    free(t->off);
    free(t->len);
    free(t->val);
    free(t->pool);
    memset(t, 0, sizeof *t);
}

int64_t sl_strtab_find(const sl_strtab *t, const unsigned char *s, size_t n)
{
    uint64_t h = hash_bytes(s, n);
    size_t mask = t->nslots - 1;
    for (size_t k = h & mask;; k = (k + 1) & mask) {
        int32_t i = t->slots[k];
        if (i < 0) return -1;
        if (t->hash[i] == h && t->len[i] == n && !memcmp(t->pool + t->off[i], s, n)) return i;
    }
}

static int strtab_grow_slots(sl_strtab *t)
{
    size_t ns = t->nslots * 2;
    int32_t *sl = malloc(ns * sizeof *sl);
    if (!sl) return -1;
    memset(sl, 0xff, ns * sizeof *sl);
    for (size_t i = 0; i < t->n; i++) {
        size_t k = t->hash[i] & (ns - 1);
        while (sl[k] >= 0) k = (k + 1) & (ns - 1);
        sl[k] = (int32_t)i;
    }
    free(t->slots);
    t->slots = sl;
    t->nslots = ns;
    return 0;
}

int64_t sl_strtab_add(sl_strtab *t, const unsigned char *s, size_t n, int *added)
{
    uint64_t h = hash_bytes(s, n);
    size_t mask = t->nslots - 1, k;
    if (added) *added = 0;
    for (k = h & mask;; k = (k + 1) & mask) {
        int32_t i = t->slots[k];
        if (i < 0) break;
        if (t->hash[i] == h && t->len[i] == n && !memcmp(t->pool + t->off[i], s, n)) return i;
    }
    if (t->n >= INT32_MAX - 1 || n > UINT32_MAX) return -1;
    if (t->n == t->cap) {
        size_t c = t->cap ? t->cap * 2 : 64;
        uint64_t *hh = realloc(t->hash, c * sizeof *hh);
        if (hh) t->hash = hh;
        size_t *oo = realloc(t->off, c * sizeof *oo);
        if (oo) t->off = oo;
        uint32_t *ll = realloc(t->len, c * sizeof *ll);
        if (ll) t->len = ll;
        int64_t *vv = realloc(t->val, c * sizeof *vv);
        if (vv) t->val = vv;
        if (!hh || !oo || !ll || !vv) return -1;
        t->cap = c;
    }
    if (t->pool_n + n + 1 > t->pool_cap) {
        size_t c = t->pool_cap ? t->pool_cap : 1024;
        while (c < t->pool_n + n + 1) c *= 2;
        unsigned char *p = realloc(t->pool, c);
        if (!p) return -1;
        t->pool = p;
        t->pool_cap = c;
    }
    size_t i = t->n++;
    memcpy(t->pool + t->pool_n, s, n);
    t->pool[t->pool_n + n] = 0;
    t->off[i] = t->pool_n;
    t->pool_n += n + 1;
    t->len[i] = (uint32_t)n;
    t->hash[i] = h;
    t->val[i] = 0;
    t->slots[k] = (int32_t)i;
    if (added) *added = 1;
    if (t->n * 2 > t->nslots && strtab_grow_slots(t)) return -1;
    return (int64_t)i;
}

int sl_pairmap_init(sl_pairmap *m, size_t expect)
{
    m->n = 0;
    m->nslots = pow2_at_least(expect * 2);
    m->keys = malloc(m->nslots * sizeof *m->keys);
    m->vals = malloc(m->nslots * sizeof *m->vals);
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        m->keys = NULL;
        m->vals = NULL;
        return sl_error(SL_ENOMEM, "out of memory");
    }
    memset(m->keys, 0xff, m->nslots * sizeof *m->keys);
    return SL_OK;
}

void sl_pairmap_free(sl_pairmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static inline size_t pair_slot(uint64_t key, size_t mask)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & mask;
}

int64_t *sl_pairmap_get(const sl_pairmap *m, uint64_t key)
{
    size_t mask = m->nslots - 1;
    for (size_t k = pair_slot(key, mask);; k = (k + 1) & mask) {
        if (m->keys[k] == key) return &m->vals[k];
        if (m->keys[k] == UINT64_MAX) return NULL;
    }
}

int64_t *sl_pairmap_put(sl_pairmap *m, uint64_t key)
{
    if ((m->n + 1) * 2 > m->nslots) {
        size_t ns = m->nslots * 2;
        uint64_t *kk = malloc(ns * sizeof *kk);
        int64_t *vv = malloc(ns * sizeof *vv);
        if (!kk || !vv) {
            free(kk);
            free(vv);
            return NULL;
        }
        memset(kk, 0xff, ns * sizeof *kk);
        for (size_t i = 0; i < m->nslots; i++) {
            if (m->keys[i] == UINT64_MAX) continue;
            size_t k = pair_slot(m->keys[i], ns - 1);
            while (kk[k] != UINT64_MAX) k = (k + 1) & (ns - 1);
            kk[k] = m->keys[i];
            vv[k] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = kk;
        m->vals = vv;
        m->nslots = ns;
    }
    size_t mask = m->nslots - 1;
    size_t k = pair_slot(key, mask);
    for (;; k = (k + 1) & mask) {
        if (m->keys[k] == key) return &m->vals[k];
        if (m->keys[k] == UINT64_MAX) break;
    }
    m->keys[k] = key;
    m->vals[k] = 0;
    m->n++;
    return &m->vals[k];
}

/* ---- the model ------------------------------------------------------------------------- */

/* the encode cache: pre-token bytes -> (offset << 16 | count) into a pool of ids */
typedef struct {
    sl_strtab words;
    int32_t *ids;
    size_t n, cap;
} enc_cache;

#define CACHE_MAX_WORDS (1 << 20)
#define CACHE_MAX_WORD_BYTES 64

static void cache_free(enc_cache *c)
{
    if (!c) return;
    sl_strtab_free(&c->words);
    free(c->ids);
    free(c);
}

void sl_bpe_cache_free(sl_bpe *b)
{
    cache_free(b->cache);
    b->cache = NULL;
}

void sl_bpe_free(sl_bpe *b)
{
    if (!b) return;
    if (b->tok)
        for (int i = 0; i < b->n_vocab; i++) free(b->tok[i]);
    free(b->tok);
    free(b->len);
    free(b->special);
    free(b->merge);
    if (b->pairs) {
        sl_pairmap_free(b->pairs);
        free(b->pairs);
    }
    cache_free(b->cache);
    free(b);
}

int sl_bpe_build(int n_vocab, const unsigned char *const *tok, const int *len, const unsigned char *special, int n_merges,
                 const int32_t *merge, sl_bpe **out)
{
    *out = NULL;
    if (n_vocab < 256 || n_merges < 0) return sl_error(SL_EFORMAT, "BPE: %d tokens (at least the 256 bytes are needed)", n_vocab);
    sl_bpe *b = calloc(1, sizeof *b);
    if (!b) return sl_error(SL_ENOMEM, "out of memory");
    int rc = SL_OK;
    sl_strtab names;
    if (sl_strtab_init(&names, (size_t)n_vocab)) {
        free(b);
        return SL_ENOMEM;
    }
    b->n_vocab = n_vocab;
    b->tok = calloc((size_t)n_vocab, sizeof *b->tok);
    b->len = calloc((size_t)n_vocab, sizeof *b->len);
    b->special = calloc((size_t)n_vocab, 1);
    b->merge = malloc(((size_t)n_merges * 3 + 1) * sizeof *b->merge);
    b->pairs = calloc(1, sizeof(sl_pairmap));
    if (!b->tok || !b->len || !b->special || !b->merge || !b->pairs || sl_pairmap_init(b->pairs, (size_t)n_merges + 16)) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < 256; k++) b->byte_id[k] = -1;
    for (int i = 0; i < n_vocab; i++) {
        int sp = special && special[i];
        if (len[i] <= 0 || (len[i] > 1 << 20)) {
            rc = sl_error(SL_EFORMAT, "BPE: token %d has length %d", i, len[i]);
            goto done;
        }
        b->tok[i] = malloc((size_t)len[i] + 1);
        if (!b->tok[i]) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        memcpy(b->tok[i], tok[i], (size_t)len[i]);
        b->tok[i][len[i]] = 0;
        b->len[i] = len[i];
        b->special[i] = (unsigned char)(sp ? 1 : 0);
        /* specials live in their own name space: tag them so "<|endoftext|>" as text differs */
        unsigned char key[1 << 10];
        size_t kn = 0;
        if ((size_t)len[i] + 1 <= sizeof key) {
            key[0] = (unsigned char)(sp ? 1 : 0);
            memcpy(key + 1, tok[i], (size_t)len[i]);
            kn = (size_t)len[i] + 1;
            int added;
            if (sl_strtab_add(&names, key, kn, &added) < 0) {
                rc = sl_error(SL_ENOMEM, "out of memory");
                goto done;
            }
            if (!added) {
                rc = sl_error(SL_EFORMAT, "BPE: token %d repeats an earlier token", i);
                goto done;
            }
            names.val[names.n - 1] = i;
        }
        if (!sp && len[i] == 1) b->byte_id[tok[i][0]] = i;
    }
    for (int k = 0; k < 256; k++)
        if (b->byte_id[k] < 0) {
            rc = sl_error(SL_EFORMAT, "BPE: byte 0x%02X has no token (a byte-level BPE needs all 256)", k);
            goto done;
        }
    for (int r = 0; r < n_merges; r++) {
        int32_t x = merge[3 * r], y = merge[3 * r + 1], z = merge[3 * r + 2];
        if (x < 0 || x >= n_vocab || y < 0 || y >= n_vocab || z < 0 || z >= n_vocab) {
            rc = sl_error(SL_EFORMAT, "BPE: merge %d refers to a token id outside [0, %d)", r, n_vocab);
            goto done;
        }
        if (b->special[x] || b->special[y] || b->special[z]) {
            rc = sl_error(SL_EFORMAT, "BPE: merge %d involves a special token", r);
            goto done;
        }
        if (b->len[z] != b->len[x] + b->len[y] || memcmp(b->tok[z], b->tok[x], (size_t)b->len[x]) ||
            memcmp(b->tok[z] + b->len[x], b->tok[y], (size_t)b->len[y])) {
            rc = sl_error(SL_EFORMAT, "BPE: merge %d: token %d is not the concatenation of tokens %d and %d", r, z, x, y);
            goto done;
        }
        int64_t *v = sl_pairmap_put(b->pairs, sl_pair_key(x, y));
        if (!v) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        /* the first (lowest-ranked) occurrence of a pair wins; store rank + 1 (0 = new) */
        if (*v == 0) *v = r + 1;
        b->merge[3 * r] = x;
        b->merge[3 * r + 1] = y;
        b->merge[3 * r + 2] = z;
    }
    b->n_merges = n_merges;
done:
    sl_strtab_free(&names);
    if (rc) {
        sl_bpe_free(b);
        return rc;
    }
    *out = b;
    return SL_OK;
}

int sl_bpe_find_special(const sl_bpe *b, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < b->n_vocab; i++)
        if (b->special[i] && (size_t)b->len[i] == n && !memcmp(b->tok[i], name, n)) return i;
    return -1;
}

/* ---- encoding -------------------------------------------------------------------------- */

static int push_ids(int32_t **ids, size_t *n_ids, size_t *cap, const int32_t *src, size_t n)
{
    if (*n_ids + n > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *n_ids + n) c *= 2;
        int32_t *p = realloc(*ids, c * sizeof *p);
        if (!p) return sl_error(SL_ENOMEM, "out of memory");
        *ids = p;
        *cap = c;
    }
    memcpy(*ids + *n_ids, src, n * sizeof *src);
    *n_ids += n;
    return SL_OK;
}

/* min-heap of (rank, position) candidate merges */
typedef struct {
    int32_t rank, pos;
} cand;

static inline int cand_less(cand a, cand b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    h[i] = c;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(h[i], h[p])) break;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static cand heap_pop(cand *h, size_t *n)
{
    cand top = h[0];
    h[0] = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && cand_less(h[l], h[m])) m = l;
        if (r < *n && cand_less(h[r], h[m])) m = r;
        if (m == i) break;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

/* Merge the symbols of one pre-token: the pair of lowest rank first, the leftmost of equal
 * ones (GPT-2 merges every occurrence of the lowest-ranked pair left to right, which for a
 * merge list learned by BPE — every merge's operands made by earlier merges — is the same).
 * sym/nxt/prv: work arrays of n; returns the number of symbols, written to out. */
static size_t merge_word(const sl_bpe *b, const unsigned char *p, size_t n, int32_t *sym, int32_t *nxt, int32_t *prv, cand *heap,
                         int32_t *out)
{
    const sl_pairmap *pm = b->pairs;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = b->byte_id[p[i]];
        nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prv[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int64_t *r = sl_pairmap_get(pm, sl_pair_key(sym[i], sym[i + 1]));
        if (r) heap_push(heap, &hn, (cand){(int32_t)(*r - 1), (int32_t)i});
    }
    while (hn) {
        cand c = heap_pop(heap, &hn);
        int32_t i = c.pos, j = nxt[i];
        if (sym[i] < 0 || j < 0) continue; /* i was merged away, or nothing follows now */
        const int32_t *m = b->merge + 3 * (size_t)c.rank;
        if (sym[i] != m[0] || sym[j] != m[1]) continue; /* stale candidate */
        sym[i] = m[2];
        sym[j] = -1;
        nxt[i] = nxt[j];
        if (nxt[j] >= 0) prv[nxt[j]] = i;
        if (prv[i] >= 0) {
            int64_t *r = sl_pairmap_get(pm, sl_pair_key(sym[prv[i]], sym[i]));
            if (r) heap_push(heap, &hn, (cand){(int32_t)(*r - 1), prv[i]});
        }
        if (nxt[i] >= 0) {
            int64_t *r = sl_pairmap_get(pm, sl_pair_key(sym[i], sym[nxt[i]]));
            if (r) heap_push(heap, &hn, (cand){(int32_t)(*r - 1), i});
        }
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = nxt[i]) out[k++] = sym[i];
    return k;
}

int sl_bpe_encode_word(sl_bpe *b, const unsigned char *p, size_t n, int32_t **ids, size_t *n_ids, size_t *cap)
{
    if (n == 0) return SL_OK;
    if (n == 1) return push_ids(ids, n_ids, cap, &b->byte_id[p[0]], 1);
    enc_cache *c = b->cache;
    if (n <= CACHE_MAX_WORD_BYTES) {
        if (!c) {
            c = calloc(1, sizeof *c);
            if (!c || sl_strtab_init(&c->words, 4096)) {
                free(c);
                return sl_error(SL_ENOMEM, "out of memory");
            }
            b->cache = c;
        }
        int64_t w = sl_strtab_find(&c->words, p, n);
        if (w >= 0) {
            int64_t v = c->words.val[w];
            return push_ids(ids, n_ids, cap, c->ids + (v >> 16), (size_t)(v & 0xffff));
        }
    }
    int32_t stack[4 * 64 + 64];
    cand hstack[3 * 64];
    int32_t *work = stack;
    cand *heap = hstack;
    int32_t *big = NULL;
    cand *bigh = NULL;
    if (n > 64) {
        big = malloc(4 * n * sizeof *big);
        bigh = malloc(3 * n * sizeof *bigh); /* n - 1 pairs, then at most 2 per merge */
        if (!big || !bigh) {
            free(big);
            free(bigh);
            return sl_error(SL_ENOMEM, "out of memory");
        }
        work = big;
        heap = bigh;
    }
    size_t k = merge_word(b, p, n, work, work + n, work + 2 * n, heap, work + 3 * n);
    int rc = push_ids(ids, n_ids, cap, work + 3 * n, k);
    if (!rc && c && n <= CACHE_MAX_WORD_BYTES && c->words.n < CACHE_MAX_WORDS) {
        size_t off = c->n;
        if (push_ids(&c->ids, &c->n, &c->cap, work + 3 * n, k) == SL_OK) {
            int64_t w = sl_strtab_add(&c->words, p, n, NULL);
            if (w >= 0) c->words.val[w] = (int64_t)(off << 16) | (int64_t)k;
            else c->n = off;
        }
    }
    free(big);
    free(bigh);
    return rc;
}

typedef struct {
    sl_bpe *b;
    int32_t **ids;
    size_t *n_ids, *cap;
} enc_ctx;

static int enc_cb(void *ctx, const unsigned char *p, size_t len)
{
    enc_ctx *e = ctx;
    return sl_bpe_encode_word(e->b, p, len, e->ids, e->n_ids, e->cap);
}

int sl_bpe_encode(sl_bpe *b, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap)
{
    enc_ctx e = {b, ids, n_ids, cap};
    return sl_bpe_pretokenize(s, n, enc_cb, &e);
}

int sl_bpe_decode(const sl_bpe *b, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out, size_t *cap)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= b->n_vocab)
            return sl_error(SL_EINVAL, "token id %d at position %zu is outside the vocabulary [0, %d)", id, i, b->n_vocab);
        size_t l = (size_t)b->len[id];
        if (*n_out + l > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < *n_out + l) c *= 2;
            unsigned char *p = realloc(*out, c);
            if (!p) return sl_error(SL_ENOMEM, "out of memory");
            *out = p;
            *cap = c;
        }
        memcpy(*out + *n_out, b->tok[id], l);
        *n_out += l;
    }
    return SL_OK;
}

/* ---- the seqlab-bpe format -------------------------------------------------------------
 *   seqlab-bpe 1
 *   pattern gpt2
 *   tokens N
 *   b HEX          N lines, token id = line order: "b" + its bytes in hex, or "s" + a
 *   s HEX          special token's name in hex
 *   merges M
 *   LEFT RIGHT     M lines of token ids, rank = line order; the result is the token whose
 *                  bytes are LEFT's followed by RIGHT's
 */

int sl_bpe_save(const sl_bpe *b, const char *path)
{
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    FILE *f = a.f;
    fprintf(f, "seqlab-bpe 1\npattern gpt2\ntokens %d\n", b->n_vocab);
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < b->n_vocab; i++) {
        fputc(b->special[i] ? 's' : 'b', f);
        fputc(' ', f);
        for (int k = 0; k < b->len[i]; k++) {
            fputc(hx[b->tok[i][k] >> 4], f);
            fputc(hx[b->tok[i][k] & 15], f);
        }
        fputc('\n', f);
    }
    fprintf(f, "merges %d\n", b->n_merges);
    for (int r = 0; r < b->n_merges; r++) fprintf(f, "%d %d\n", b->merge[3 * r], b->merge[3 * r + 1]);
    if (ferror(f)) {
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "writing %s failed", path);
    }
    return sl_afile_commit(&a);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* the next line of buf (without '\n'); NULL at the end */
static char *next_line(char **cur, char *end, size_t *len)
{
    if (*cur >= end) return NULL;
    char *s = *cur, *nl = memchr(s, '\n', (size_t)(end - s));
    char *e = nl ? nl : end;
    *len = (size_t)(e - s);
    *cur = nl ? nl + 1 : end;
    return s;
}

/* resolve each merge's result by looking its bytes up among the non-special tokens */
static int resolve_merges(int n_vocab, unsigned char **tok, const int *len, const unsigned char *special, int n_merges,
                          int32_t *merge, const char *what)
{
    sl_strtab t;
    if (sl_strtab_init(&t, (size_t)n_vocab)) return SL_ENOMEM;
    int rc = SL_OK;
    for (int i = 0; i < n_vocab && !rc; i++) {
        if (special[i]) continue;
        int64_t k = sl_strtab_add(&t, tok[i], (size_t)len[i], NULL);
        if (k < 0) rc = sl_error(SL_ENOMEM, "out of memory");
        else if (t.val[k] == 0) t.val[k] = i + 1;
    }
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (int r = 0; r < n_merges && !rc; r++) {
        int32_t x = merge[3 * r], y = merge[3 * r + 1];
        if (x < 0 || x >= n_vocab || y < 0 || y >= n_vocab) {
            rc = sl_error(SL_EFORMAT, "%s: merge %d refers to token %d, outside the vocabulary [0, %d)", what, r + 1,
                          x < 0 || x >= n_vocab ? x : y, n_vocab);
            break;
        }
        size_t l = (size_t)len[x] + (size_t)len[y];
        if (l > cap) {
            unsigned char *p = realloc(buf, l);
            if (!p) {
                rc = sl_error(SL_ENOMEM, "out of memory");
                break;
            }
            buf = p;
            cap = l;
        }
        memcpy(buf, tok[x], (size_t)len[x]);
        memcpy(buf + len[x], tok[y], (size_t)len[y]);
        int64_t k = sl_strtab_find(&t, buf, l);
        if (k < 0)
            rc = sl_error(SL_EFORMAT, "%s: merge %d (%d, %d): their concatenation is not in the vocabulary", what, r + 1, x, y);
        else merge[3 * r + 2] = (int32_t)(t.val[k] - 1);
    }
    free(buf);
    sl_strtab_free(&t);
    return rc;
}

int sl_bpe_load(const char *path, sl_bpe **out)
{
    *out = NULL;
    void *data;
    size_t n;
    int rc = sl_read_file(path, (size_t)1 << 30, &data, &n);
    if (rc) return rc;
    char *cur = data, *end = (char *)data + n;
    size_t ll;
    char *line;
    int n_vocab = 0, n_merges = 0;
    unsigned char **tok = NULL;
    int *len = NULL;
    unsigned char *special = NULL;
    int32_t *merge = NULL;
    long lineno = 0;
#define BAD(...) \
    do { \
        rc = sl_error(SL_EFORMAT, __VA_ARGS__); \
        goto done; \
    } while (0)
    char hdr[64];
    line = next_line(&cur, end, &ll);
    lineno++;
    if (!line || ll != 12 || memcmp(line, "seqlab-bpe 1", 12))
        BAD("%s: not a seqlab-bpe file (the first line is not \"seqlab-bpe 1\")", path);
    line = next_line(&cur, end, &ll);
    lineno++;
    if (!line || ll != 12 || memcmp(line, "pattern gpt2", 12)) BAD("%s line 2: expected \"pattern gpt2\"", path);
    line = next_line(&cur, end, &ll);
    lineno++;
    if (!line || ll >= sizeof hdr) BAD("%s line 3: expected \"tokens N\"", path);
    memcpy(hdr, line, ll);
    hdr[ll] = 0;
    {
        char extra;
        if (sscanf(hdr, "tokens %d%c", &n_vocab, &extra) != 1 || n_vocab < 256 || n_vocab > (1 << 24))
            BAD("%s line 3: expected \"tokens N\" with 256 <= N <= 16777216", path);
    }
    if ((size_t)n_vocab > n / 2) BAD("%s: %d tokens announced but the file has only %zu bytes", path, n_vocab, n);
    tok = calloc((size_t)n_vocab, sizeof *tok);
    len = calloc((size_t)n_vocab, sizeof *len);
    special = calloc((size_t)n_vocab, 1);
    if (!tok || !len || !special) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_vocab; i++) {
        line = next_line(&cur, end, &ll);
        lineno++;
        if (!line) BAD("%s: the file ends at token %d of %d", path, i, n_vocab);
        if (ll < 4 || (line[0] != 'b' && line[0] != 's') || line[1] != ' ' || (ll - 2) % 2)
            BAD("%s line %ld: expected \"b HEX\" or \"s HEX\" (token %d)", path, lineno, i);
        special[i] = line[0] == 's';
        len[i] = (int)((ll - 2) / 2);
        tok[i] = malloc((size_t)len[i]);
        if (!tok[i]) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        for (int k = 0; k < len[i]; k++) {
            int h = hexval(line[2 + 2 * k]), l = hexval(line[3 + 2 * k]);
            if (h < 0 || l < 0) BAD("%s line %ld: bad hex digit (token %d)", path, lineno, i);
            tok[i][k] = (unsigned char)(h * 16 + l);
        }
    }
    line = next_line(&cur, end, &ll);
    lineno++;
    if (!line || ll >= sizeof hdr) BAD("%s line %ld: expected \"merges M\"", path, lineno);
    memcpy(hdr, line, ll);
    hdr[ll] = 0;
    {
        char extra;
        if (sscanf(hdr, "merges %d%c", &n_merges, &extra) != 1 || n_merges < 0 || n_merges > n_vocab)
            BAD("%s line %ld: expected \"merges M\" with 0 <= M <= %d", path, lineno, n_vocab);
    }
    merge = malloc(((size_t)n_merges * 3 + 1) * sizeof *merge);
    if (!merge) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int r = 0; r < n_merges; r++) {
        line = next_line(&cur, end, &ll);
        lineno++;
        if (!line || ll >= sizeof hdr)
            BAD("%s line %ld: expected merge %d of %d as \"LEFT RIGHT\"", path, lineno, r + 1, n_merges);
        memcpy(hdr, line, ll);
        hdr[ll] = 0;
        char extra;
        if (sscanf(hdr, "%d %d%c", &merge[3 * r], &merge[3 * r + 1], &extra) != 2)
            BAD("%s line %ld: expected merge %d of %d as \"LEFT RIGHT\"", path, lineno, r + 1, n_merges);
        int32_t x = merge[3 * r], y = merge[3 * r + 1];
        if (x < 0 || x >= n_vocab || y < 0 || y >= n_vocab)
            BAD("%s line %ld: merge refers to token %d, outside the vocabulary [0, %d)", path, lineno,
                (x < 0 || x >= n_vocab) ? x : y, n_vocab);
    }
    while ((line = next_line(&cur, end, &ll)))
        if (ll) BAD("%s line %ld: unexpected text after the merges", path, lineno + 1);
    {
        char what[512];
        snprintf(what, sizeof what, "%s", path);
        if ((rc = resolve_merges(n_vocab, tok, len, special, n_merges, merge, what))) goto done;
    }
    rc = sl_bpe_build(n_vocab, (const unsigned char *const *)tok, len, special, n_merges, merge, out);
    if (rc) sl_error_wrap(rc, "%s", path);
#undef BAD
done:
    if (tok)
        for (int i = 0; i < n_vocab; i++) free(tok[i]);
    free(tok);
    free(len);
    free(special);
    free(merge);
    free(data);
    return rc;
}

/* ---- GPT-2's vocab.json + merges.txt --------------------------------------------------- */

/* bytes_to_unicode(): the printable bytes '!'..'~', 0xA1..0xAC, 0xAE..0xFF stand for
 * themselves; the other 68 bytes, in order, for U+0100, U+0101, ... */
uint32_t sl_bpe_byte_to_cp(unsigned char b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
    int k = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) k++;
    return 256 + (uint32_t)k;
}

static int cp_to_byte(uint32_t cp)
{
    static int table[324];
    static int ready;
    if (!ready) { /* idempotent, so a race only writes the same values */
        for (int i = 0; i < 324; i++) table[i] = -1;
        for (int b = 0; b < 256; b++) table[sl_bpe_byte_to_cp((unsigned char)b)] = b;
        ready = 1;
    }
    return cp < 324 ? table[cp] : -1;
}

static size_t put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2; /* every code point of the map is below U+0800 */
}

void sl_bpe_gpt2_string(const unsigned char *t, size_t n, char *o)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += put_cp(o + k, sl_bpe_byte_to_cp(t[i]));
    o[k] = 0;
}

/* GPT-2 string -> bytes; returns the byte count, or -1 when a code point is not in the map */
static long gpt2_to_bytes(const unsigned char *s, size_t n, unsigned char *o)
{
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        int l = sl_utf8_decode(s + i, n - i, &cp);
        if (!l) return -1;
        int b = cp_to_byte(cp);
        if (b < 0) return -1;
        o[k++] = (unsigned char)b;
        i += (size_t)l;
    }
    return (long)k;
}

int sl_bpe_save_gpt2(const sl_bpe *b, const char *vocab_json, const char *merges_txt)
{
    sl_afile a;
    int rc = sl_afile_open(&a, vocab_json);
    if (rc) return rc;
    size_t maxl = 0;
    for (int i = 0; i < b->n_vocab; i++)
        if ((size_t)b->len[i] > maxl) maxl = (size_t)b->len[i];
    char *s = malloc(2 * maxl + 1), *q = malloc(12 * maxl + 8);
    if (!s || !q) {
        free(s);
        free(q);
        sl_afile_abort(&a);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    fputc('{', a.f);
    for (int i = 0; i < b->n_vocab; i++) {
        if (b->special[i]) {
            memcpy(s, b->tok[i], (size_t)b->len[i]);
            s[b->len[i]] = 0;
        } else {
            sl_bpe_gpt2_string(b->tok[i], (size_t)b->len[i], s);
        }
        sl_json_quote(q, 12 * maxl + 8, s);
        fprintf(a.f, "%s%s: %d", i ? ", " : "", q, i);
    }
    fputs("}\n", a.f);
    if (ferror(a.f)) {
        sl_afile_abort(&a);
        free(s);
        free(q);
        return sl_error(SL_EIO, "writing %s failed", vocab_json);
    }
    if ((rc = sl_afile_commit(&a))) {
        free(s);
        free(q);
        return rc;
    }
    if ((rc = sl_afile_open(&a, merges_txt))) {
        free(s);
        free(q);
        return rc;
    }
    fputs("#version: 0.2\n", a.f);
    for (int r = 0; r < b->n_merges; r++) {
        int x = b->merge[3 * r], y = b->merge[3 * r + 1];
        sl_bpe_gpt2_string(b->tok[x], (size_t)b->len[x], s);
        fputs(s, a.f);
        fputc(' ', a.f);
        sl_bpe_gpt2_string(b->tok[y], (size_t)b->len[y], s);
        fputs(s, a.f);
        fputc('\n', a.f);
    }
    free(s);
    free(q);
    if (ferror(a.f)) {
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "writing %s failed", merges_txt);
    }
    return sl_afile_commit(&a);
}

/* A model from a vocab.json object (token string -> dense id; `extra` more tokens given by
 * name, special, e.g. tokenizer.json's added_tokens outside the vocabulary) and merges given as
 * pairs of token strings. vname / mname name the sources in messages (mname's "%ld" is the
 * pair's where), mfile the merges' source. */
int sl_bpe_from_json(const sl_json *j, const char *vname, const sl_bpe_mpair *mp, size_t nm, const char *mfile, const char *mname,
                     const sl_bpe_extra *extra, size_t n_extra, sl_bpe **out)
{
    *out = NULL;
    int rc = SL_OK;
    int n_vocab = 0, n_merges = 0;
    unsigned char **tok = NULL;
    int *len = NULL;
    unsigned char *special = NULL;
    int32_t *merge = NULL;
    sl_strtab names = {0};
#define BAD(...) \
    do { \
        rc = sl_error(SL_EFORMAT, __VA_ARGS__); \
        goto done; \
    } while (0)
    if (j->type != SL_JSON_OBJECT) BAD("%s: expected a JSON object of token -> id", vname);
    if (j->n < 256 || j->n > (1 << 24) || n_extra > (1 << 20))
        BAD("%s: %zu tokens (a byte-level BPE has at least 256)", vname, j->n);
    size_t n_out = 0;
    for (size_t e = 0; e < n_extra; e++) n_out += !extra[e].in_vocab;
    n_vocab = (int)(j->n + n_out);
    tok = calloc((size_t)n_vocab, sizeof *tok);
    len = calloc((size_t)n_vocab, sizeof *len);
    special = calloc((size_t)n_vocab, 1);
    if (!tok || !len || !special || nm > (size_t)INT32_MAX / 3) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < j->n + n_extra; i++) {
        int64_t id;
        const char *k;
        if (i < j->n) {
            if (sl_json_int(j->items[i], 0, n_vocab - 1, &id))
                BAD("%s: the id of \"%.100s\" is not an integer in [0, %d) (ids must be dense)", vname, j->keys[i], n_vocab);
            k = j->keys[i];
            int named = 0; /* an extra token names this entry: it defines it */
            for (size_t e = 0; e < n_extra && !named; e++) named = extra[e].in_vocab && extra[e].id == id;
            if (named) continue;
        } else {
            id = extra[i - j->n].id;
            k = extra[i - j->n].name;
            if (id < 0 || id >= n_vocab)
                BAD("%s: added token \"%.100s\" has id %lld outside [0, %d) (ids must be dense)", vname, k, (long long)id,
                    n_vocab);
        }
        if (tok[id]) BAD("%s: id %lld is given to two tokens", vname, (long long)id);
        size_t kl = strlen(k);
        if (kl == 0) BAD("%s: empty token string", vname);
        tok[id] = malloc(kl + 1);
        if (!tok[id]) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        long bl = i < j->n ? gpt2_to_bytes((const unsigned char *)k, kl, tok[id]) : -1;
        if (bl < 0) { /* outside the byte map (or added): a special token, kept by its name */
            memcpy(tok[id], k, kl);
            bl = (long)kl;
            special[id] = 1;
        }
        len[id] = (int)bl;
    }
    for (int i = 0; i < n_vocab; i++) /* two entries of one id (one replaced by an added token) leave a hole */
        if (!tok[i]) BAD("%s: no token has id %d (ids must be dense)", vname, i);
    /* every token string of a merge must map to a vocabulary entry */
    if (sl_strtab_init(&names, (size_t)n_vocab)) {
        rc = SL_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n_vocab; i++) {
        if (special[i]) continue;
        int64_t k = sl_strtab_add(&names, tok[i], (size_t)len[i], NULL);
        if (k < 0) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        if (names.val[k]) BAD("%s: token %d repeats the bytes of token %lld", vname, i, (long long)names.val[k] - 1);
        names.val[k] = i + 1;
    }
    merge = malloc((nm * 3 + 1) * sizeof *merge);
    if (!merge) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < nm; r++) {
        for (int h = 0; h < 2; h++) {
            unsigned char tmp[4096];
            size_t pl = mp[r].n[h];
            long bl = pl <= sizeof tmp ? gpt2_to_bytes((const unsigned char *)mp[r].p[h], pl, tmp) : -1;
            int64_t k = bl > 0 ? sl_strtab_find(&names, tmp, (size_t)bl) : -1;
            if (k < 0) {
                char where[600];
                snprintf(where, sizeof where, mname, mp[r].where);
                BAD("%s: unknown token \"%.*s\" (not in %s)", where, (int)(pl > 100 ? 100 : pl), mp[r].p[h], vname);
            }
            merge[3 * n_merges + h] = (int32_t)(names.val[k] - 1);
        }
        n_merges++;
    }
    if ((rc = resolve_merges(n_vocab, tok, len, special, n_merges, merge, mfile))) goto done;
    /* a multi-byte entry that no merge makes (GPT-2's <|endoftext|>) is a special token */
    {
        unsigned char *made = calloc((size_t)n_vocab, 1);
        if (!made) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        for (int r = 0; r < n_merges; r++) made[merge[3 * r + 2]] = 1;
        for (int i = 0; i < n_vocab; i++)
            if (len[i] > 1 && !made[i]) special[i] = 1;
        free(made);
    }
    rc = sl_bpe_build(n_vocab, (const unsigned char *const *)tok, len, special, n_merges, merge, out);
#undef BAD
done:
    if (tok)
        for (int i = 0; i < n_vocab; i++) free(tok[i]);
    free(tok);
    free(len);
    free(special);
    free(merge);
    if (names.slots) sl_strtab_free(&names);
    return rc;
}

int sl_bpe_load_gpt2(const char *vocab_json, const char *merges_txt, sl_bpe **out)
{
    *out = NULL;
    void *vdata = NULL, *mdata = NULL;
    size_t vn, mn, nm = 0, cap = 0;
    sl_json *j = NULL;
    sl_bpe_mpair *mp = NULL;
    int rc;
    if ((rc = sl_read_file(vocab_json, (size_t)1 << 30, &vdata, &vn))) return rc;
    if ((rc = sl_read_file(merges_txt, (size_t)1 << 30, &mdata, &mn))) goto done;
    if ((rc = sl_json_parse(vdata, vn, &j))) {
        sl_error_wrap(rc, "%s", vocab_json);
        goto done;
    }
    char *cur = mdata, *end = (char *)mdata + mn, *line;
    size_t ll;
    long lineno = 0;
    while ((line = next_line(&cur, end, &ll))) {
        lineno++;
        if (ll && line[ll - 1] == '\r') ll--;
        if (lineno == 1 && ll >= 8 && !memcmp(line, "#version", 8)) continue;
        if (ll == 0) continue;
        char *sp = memchr(line, ' ', ll);
        if (!sp || sp == line || sp == line + ll - 1 || memchr(sp + 1, ' ', (size_t)(line + ll - sp - 1))) {
            rc = sl_error(SL_EFORMAT, "%s line %ld: expected two token strings separated by one space", merges_txt, lineno);
            goto done;
        }
        if (nm == cap) {
            cap = cap ? 2 * cap : 1024;
            sl_bpe_mpair *p = realloc(mp, cap * sizeof *p);
            if (!p) {
                rc = sl_error(SL_ENOMEM, "out of memory");
                goto done;
            }
            mp = p;
        }
        mp[nm++] = (sl_bpe_mpair){{line, sp + 1}, {(size_t)(sp - line), (size_t)(line + ll - sp - 1)}, lineno};
    }
    {
        size_t fl = strlen(merges_txt);
        char *fmt = malloc(2 * fl + 16), *o = fmt;
        if (!fmt) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < fl; i++) { /* the file name, '%' escaped, then " line %ld" */
            if (merges_txt[i] == '%') *o++ = '%';
            *o++ = merges_txt[i];
        }
        strcpy(o, " line %ld");
        rc = sl_bpe_from_json(j, vocab_json, mp, nm, merges_txt, fmt, NULL, 0, out);
        free(fmt);
    }
done:
    free(mp);
    sl_json_free(j);
    free(vdata);
    free(mdata);
    return rc;
}
