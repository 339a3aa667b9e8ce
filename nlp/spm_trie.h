/* nlp/spm_trie.h — a static byte trie stored as a double array (J. Aoe, "An efficient digital
 * search algorithm by using a double-array structure", IEEE TSE 15(9), 1989), the structure
 * SentencePiece's darts-clone uses for its pieces.
 *
 * Node s's child by byte c is t = base[s] + c when check[t] == s: one array read per byte, no
 * hashing, no per-lookup allocation. The root is node 0. Built once from a set of distinct
 * keys; a node's value is the key that ends there (-1: none). The array is padded by 256
 * units past the largest base, so base[s] + c never leaves it.
 */
#ifndef SL_NLP_SPM_TRIE_H
#define SL_NLP_SPM_TRIE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t base, check, val; /* check: parent node (-1 free, -2 the root) */
} sl_datrie_unit;

typedef struct {
    sl_datrie_unit *u; /* (n) */
    size_t n;
} sl_datrie;

/* Build from n distinct keys (keys[i] of lens[i] >= 1 bytes, value vals[i] >= -1). */
int sl_datrie_build(sl_datrie *t, const unsigned char *const *keys, const int *lens, const int32_t *vals, size_t n);
void sl_datrie_free(sl_datrie *t);

/* the child of node s by byte c, or -1 */
static inline int32_t sl_datrie_step(const sl_datrie *t, int32_t s, unsigned char c)
{
    int32_t x = t->u[s].base + c;
    return t->u[x].check == s ? x : -1;
}

/* The naive reference the tests compare with: the node reached by walking key, or -1. */
int32_t sl_datrie_find(const sl_datrie *t, const unsigned char *key, size_t n);

#ifdef __cplusplus
}
#endif
#endif
