/* nlp/bpe_hash.h — internal to nlp/bpe*.c (not installed): a byte-string table and a map
 * from token pairs to integers, both open addressing with linear probing. */
#ifndef SL_NLP_BPE_HASH_H
#define SL_NLP_BPE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* strings -> dense indices 0..n-1, each with a 64-bit value (a count, an offset) */
typedef struct {
    size_t n, cap;  /* items */
    size_t nslots;  /* power of two */
    int32_t *slots; /* (nslots) item index or -1 */
    uint64_t *hash; /* (cap) */
    size_t *off;    /* (cap) offset of the bytes in pool */
    uint32_t *len;  /* (cap) */
    int64_t *val;   /* (cap) */
    unsigned char *pool;
    size_t pool_n, pool_cap;
} sl_strtab;

int sl_strtab_init(sl_strtab *t, size_t expect);
void sl_strtab_free(sl_strtab *t);
/* index of s, or -1 */
int64_t sl_strtab_find(const sl_strtab *t, const unsigned char *s, size_t n);
/* index of s, added (with val 0) when absent; -1 when out of memory */
int64_t sl_strtab_add(sl_strtab *t, const unsigned char *s, size_t n, int *added);
static inline const unsigned char *sl_strtab_str(const sl_strtab *t, size_t i) { return t->pool + t->off[i]; }

/* (a, b) pairs of int32 >= 0 -> int64 */
typedef struct {
    size_t n, nslots;
    uint64_t *keys; /* UINT64_MAX = empty */
    int64_t *vals;
} sl_pairmap;

int sl_pairmap_init(sl_pairmap *m, size_t expect);
void sl_pairmap_free(sl_pairmap *m);
static inline uint64_t sl_pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
/* pointer to the value of key, or NULL */
int64_t *sl_pairmap_get(const sl_pairmap *m, uint64_t key);
/* pointer to the value of key, inserted as 0 when absent; NULL when out of memory */
int64_t *sl_pairmap_put(sl_pairmap *m, uint64_t key);

#endif
