/* fuzz/tok_common.h — what the tokenizer harnesses do with a byte-level BPE that loaded: a
 * fixed text (ASCII, contractions, digits, several scripts, emoji, white-space runs, a special
 * token's spelling) is encoded, every id must lie in the vocabulary, and decoding must give
 * the text back (byte-level BPE is lossless); invalid UTF-8 must be refused; ids outside the
 * vocabulary must be refused by the decoder. */
#ifndef SL_FUZZ_TOK_COMMON_H
#define SL_FUZZ_TOK_COMMON_H

#include "fuzz/fuzz.h"
#include "nlp/bpe.h"

static inline void fuzz_bpe_use(sl_bpe *b)
{
    static const char text[] = "Hello world, it's 2026! \xce\xb1\xce\xb2\xce\xb3 \xe4\xb8\xad\xe6\x96\x87 "
                               "\xf0\x9f\x98\x80\xf0\x9f\x8f\xbd   \t\n\n x<|endoftext|>y 12345 don't";
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (!sl_bpe_encode(b, (const unsigned char *)text, sizeof text - 1, &ids, &n, &cap)) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= b->n_vocab || b->special[ids[i]]) abort(); /* ordinary tokens only */
        unsigned char *out = NULL;
        size_t no = 0, ocap = 0;
        if (sl_bpe_decode(b, ids, n, &out, &no, &ocap)) abort();
        if (no != sizeof text - 1 || memcmp(out, text, no)) abort(); /* lossless */
        free(out);
    }
    n = 0;
    if (!sl_bpe_encode(b, (const unsigned char *)"ab\xff", 3, &ids, &n, &cap)) abort(); /* not UTF-8 */
    int32_t bad[2] = {b->n_vocab, -1};
    unsigned char *out = NULL;
    size_t no = 0, ocap = 0;
    if (!sl_bpe_decode(b, bad, 1, &out, &no, &ocap) || !sl_bpe_decode(b, bad + 1, 1, &out, &no, &ocap)) abort();
    free(out);
    free(ids);
}

#endif
