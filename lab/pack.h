/* lab/pack.h — batches of documents: packed rows (issue #21 item 1) and, for comparison,
 * one document per row padded to the longest (docs/training.md).
 *
 * A document set is a token stream cut into documents: document i is ids[off[i] .. off[i+1]).
 * A document of L tokens gives L - 1 positions (input token, next-token target); nothing
 * predicts across a boundary.
 *
 * sl_pack_rows fills each of B rows of T positions with whole documents drawn at random. A
 * document longer than a row (L - 1 > T) is split: a random window of T + 1 of its tokens fills
 * a row of its own. A drawn document that does not fit the rest of the row is put back; after 8
 * such draws the row ends, and its tail (token 0, target -1: not scored) is a document of its
 * own, the only masked part. pos (B, T) is each position's place in its document
 * (seq/model.h's doc_pos).
 *
 * sl_pad_rows puts one random document (a random window of at most Tmax + 1 tokens) in each row
 * and pads every row to the longest of the batch, *T_out positions: padding-to-longest, the
 * baseline packing is measured against (bench/pack_bench.c). */
#ifndef SL_LAB_PACK_H
#define SL_LAB_PACK_H

#include "core/rng.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const int32_t *ids;
    const size_t *off; /* (n + 1) */
    size_t n;
} sl_doc_set;

/* tok, target, pos (B, T); *scored (may be NULL): the positions with a target */
int sl_pack_rows(const sl_doc_set *d, sl_rng *rng, int B, int T, int32_t *tok, int32_t *target, int32_t *pos, long *scored);
/* tok, target (B, Tmax) written as (B, *T_out) rows; *scored (may be NULL) as above */
int sl_pad_rows(const sl_doc_set *d, sl_rng *rng, int B, int Tmax, int32_t *tok, int32_t *target, int *T_out, long *scored);

#ifdef __cplusplus
}
#endif
#endif
