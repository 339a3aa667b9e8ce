/* nlp/spm_trie.c — building the double-array byte trie of nlp/spm_trie.h.
 *
 * The keys are sorted, so the keys below a node are a contiguous range sharing its prefix;
 * nodes are placed breadth first. A node's children (the distinct next bytes of its range)
 * need a base such that base + c is free for each of their bytes c: the search starts at the
 * lowest free unit and tries the free units among the next 4096; failing that it puts the
 * children past the end of the array, which bounds the build at O(nodes x 4096 x children)
 * whatever the keys are. */
#include "nlp/spm_trie.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p;
    int len;
    int32_t val;
} dkey;

typedef struct {
    int32_t node, lo, hi, depth;
} djob;

static int dkey_cmp(const void *a, const void *b)
{
    const dkey *x = a, *y = b;
    int l = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, (size_t)l);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int grow(sl_datrie *t, size_t *cap, size_t need)
{
    if (need <= *cap) return SL_OK;
    if (need > (size_t)INT32_MAX) return sl_error(SL_EFORMAT, "trie: more than 2^31 units");
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    sl_datrie_unit *u = realloc(t->u, c * sizeof *u);
    if (!u) return sl_error(SL_ENOMEM, "out of memory");
    for (size_t i = *cap; i < c; i++) u[i] = (sl_datrie_unit){0, -1, -1};
    t->u = u;
    *cap = c;
    return SL_OK;
}

int sl_datrie_build(sl_datrie *t, const unsigned char *const *keys, const int *lens, const int32_t *vals, size_t n)
{
    memset(t, 0, sizeof *t);
    if (n > (size_t)INT32_MAX) return sl_error(SL_EINVAL, "trie: too many keys");
    dkey *k = malloc((n ? n : 1) * sizeof *k);
    djob *q = malloc(((n ? n : 1)) * sizeof *q);
    size_t qn = 0, qcap = n ? n : 1, qhead = 0, cap = 0, used = 1, first_free = 1;
    int32_t maxbase = 0;
    int rc = SL_OK;
    if (!k || !q) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (lens[i] < 1) {
            rc = sl_error(SL_EINVAL, "trie: key %zu is empty", i);
            goto done;
        }
        k[i] = (dkey){keys[i], lens[i], vals[i]};
    }
    qsort(k, n, sizeof *k, dkey_cmp);
    for (size_t i = 1; i < n; i++)
        if (!dkey_cmp(&k[i - 1], &k[i])) {
            rc = sl_error(SL_EINVAL, "trie: a key repeats");
            goto done;
        }
    if ((rc = grow(t, &cap, 1024))) goto done;
    t->u[0].check = -2;
    q[qn++] = (djob){0, 0, (int32_t)n, 0};
    while (qhead < qn) {
        djob j = q[qhead++];
        int32_t lo = j.lo;
        if (lo < j.hi && k[lo].len == j.depth) t->u[j.node].val = k[lo++].val;
        unsigned char lab[256];
        int32_t glo[257];
        int nl = 0;
        for (int32_t i = lo; i < j.hi; i++) {
            unsigned char c = k[i].p[j.depth];
            if (nl == 0 || lab[nl - 1] != c) {
                lab[nl] = c;
                glo[nl++] = i;
            }
        }
        glo[nl] = j.hi;
        if (nl == 0) continue;
        while (first_free < cap && t->u[first_free].check != -1) first_free++;
        size_t p = first_free, base, stop = first_free + 4096;
        for (;;) {
            if (p >= stop || p >= used) p = used > lab[0] ? used : lab[0];
            base = p - lab[0];
            if ((rc = grow(t, &cap, base + 257))) goto done;
            int ok = p >= lab[0];
            for (int i = 0; i < nl && ok; i++) ok = t->u[base + lab[i]].check == -1;
            if (ok) break;
            for (p++; p < stop && p < cap && t->u[p].check != -1; p++) {}
        }
        t->u[j.node].base = (int32_t)base;
        if ((int32_t)base > maxbase) maxbase = (int32_t)base;
        for (int i = 0; i < nl; i++) {
            size_t x = base + lab[i];
            t->u[x].check = j.node;
            if (x + 1 > used) used = x + 1;
            if (qn == qcap) { /* every node but the root is queued once: at most the key bytes */
                qcap *= 2;
                djob *nq = realloc(q, qcap * sizeof *nq);
                if (!nq) {
                    rc = sl_error(SL_ENOMEM, "out of memory");
                    goto done;
                }
                q = nq;
            }
            q[qn++] = (djob){(int32_t)x, glo[i], glo[i + 1], j.depth + 1};
        }
    }
    t->n = (size_t)maxbase + 256 > used ? (size_t)maxbase + 256 : used;
    if ((rc = grow(t, &cap, t->n))) goto done;
done:
    free(k);
    free(q);
    if (rc) sl_datrie_free(t);
    return rc;
}

void sl_datrie_free(sl_datrie *t)
{
    free(t->u);
    memset(t, 0, sizeof *t);
}

int32_t sl_datrie_find(const sl_datrie *t, const unsigned char *key, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n && s >= 0; i++) s = sl_datrie_step(t, s, key[i]);
    return s;
}
