/* nlp/bpe.h — byte-level BPE as GPT-2 defines it: training, encoding, decoding, files.
 *
 * Text is UTF-8. It is first cut into pre-tokens by GPT-2's pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (hand-written in nlp/bpe_pretok.c; the Unicode classes come from nlp/bpe_unicode.c), and
 * each pre-token's bytes are merged by the learned merges, lowest rank first, every
 * occurrence of the chosen pair left to right (GPT-2's encoder.py). Every one of the 256
 * bytes is a token, so any valid UTF-8 text encodes (no unknown token). Text that is not
 * valid UTF-8 is refused with the byte offset of the first bad byte.
 *
 * Training (nlp/bpe_train.c): the corpus's pre-tokens are counted; starting from the 256
 * byte tokens, each step merges the adjacent pair with the highest count over all pre-tokens
 * (each weighted by its frequency); ties go to the smallest (left id, right id). It stops at
 * the vocabulary size or when the best pair occurs fewer than min_frequency times. A trained
 * model numbers byte b as id b, merge k as 256 + k, then the special tokens.
 *
 * A model read from a GPT-2 vocab.json + merges.txt keeps that file's ids. Special tokens
 * (e.g. <|endoftext|>) are never produced by encoding text: text that spells one is encoded
 * as ordinary text (tiktoken's encode_ordinary); callers insert them by id.
 *
 * Files: the seqlab-bpe text format (docs/tokenizers.md), and GPT-2's vocab.json (token
 * string -> id, bytes written through GPT-2's bytes_to_unicode map) with merges.txt (one
 * merge "left right" per line, rank = line order, an optional "#version" first line).
 */
#ifndef SL_NLP_BPE_H
#define SL_NLP_BPE_H

#include "nlp/vocab.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_bpe sl_bpe;

struct sl_bpe {
    int n_vocab;
    unsigned char **tok;    /* (n_vocab) token bytes (a special token: its name) */
    int *len;               /* (n_vocab) byte lengths */
    unsigned char *special; /* (n_vocab) 1 for special tokens */
    int byte_id[256];       /* id of the one-byte token of each byte */
    int n_merges;
    int32_t *merge; /* (n_merges, 3) left, right, result; rank = row */
    void *pairs;    /* pair (left, right) -> rank */
    void *cache;    /* encode cache: pre-token bytes -> ids */
};

/* ---- the pre-tokeniser (nlp/bpe_pretok.c) ---- */

/* (sl_utf8_decode, the strict one-code-point decoder, is nlp/vocab.h's) */
/* Byte offset of the first invalid UTF-8 sequence in s[0..n), or n when all is valid. */
size_t sl_utf8_check(const unsigned char *s, size_t n);

/* Unicode classes of the pattern: 'L' letter, 'N' number, 'S' white space, 'O' other. */
int sl_bpe_uclass(uint32_t cp);

/* Split valid UTF-8 text s[0..n) into GPT-2 pre-tokens: calls fn(ctx, start, len) for each, in
 * order; a non-zero return from fn stops and is returned. Invalid UTF-8: SL_EFORMAT naming the
 * byte offset (nothing is emitted past it). */
int sl_bpe_pretokenize(const unsigned char *s, size_t n, int (*fn)(void *ctx, const unsigned char *p, size_t len), void *ctx);

/* The largest k < n such that s[0..k) can be pre-tokenised apart from what follows it: just
 * after a '\n' that has a non-white-space ASCII character on each side (0 if none). */
size_t sl_bpe_safe_cut(const unsigned char *s, size_t n);

/* ---- model ---- */

typedef struct {
    int vocab_size;             /* total, special tokens included; >= 256 + number of specials */
    int64_t min_frequency;      /* stop when the best pair occurs fewer times (>= 1) */
    const char *const *special; /* NULL-terminated names added after the merges, or NULL */
    int naive;                  /* 1: recount every pair at every step (the reference; slow) */
} sl_bpe_train_opts;

void sl_bpe_train_opts_default(sl_bpe_train_opts *o);

/* Train on the files (NULL-terminated; "-" is stdin). Files are read in chunks cut at
 * sl_bpe_safe_cut, so a corpus larger than memory is fine (the pre-token counts are kept). */
int sl_bpe_train_files(const char *const *files, const sl_bpe_train_opts *o, sl_bpe **out);
/* Train on one buffer. */
int sl_bpe_train(const unsigned char *text, size_t n, const sl_bpe_train_opts *o, sl_bpe **out);

void sl_bpe_free(sl_bpe *b);

/* Encode UTF-8 text, appending ids to *ids (realloc'ed; *n_ids and *cap updated). */
int sl_bpe_encode(sl_bpe *b, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap);
/* Drop the encode cache. Encoding writes only b->cache, so threads encode with shallow copies
 * of b (cache = NULL), each dropping its copy's cache after. */
void sl_bpe_cache_free(sl_bpe *b);
/* Encode one pre-token's bytes (any bytes) into ids. */
int sl_bpe_encode_word(sl_bpe *b, const unsigned char *p, size_t n, int32_t **ids, size_t *n_ids, size_t *cap);
/* Decode ids into bytes appended to *out (realloc'ed). Special tokens decode to their names.
 * An id outside [0, n_vocab) is SL_EINVAL. */
int sl_bpe_decode(const sl_bpe *b, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out, size_t *cap);

int sl_bpe_find_special(const sl_bpe *b, const char *name); /* id or -1 */

/* the seqlab-bpe text format */
int sl_bpe_save(const sl_bpe *b, const char *path);
int sl_bpe_load(const char *path, sl_bpe **out);
/* GPT-2's vocab.json + merges.txt */
int sl_bpe_save_gpt2(const sl_bpe *b, const char *vocab_json, const char *merges_txt);
int sl_bpe_load_gpt2(const char *vocab_json, const char *merges_txt, sl_bpe **out);

/* The readers' common part: a vocab.json object (struct sl_json, core/json.h), `extra` tokens
 * (special; outside it, or naming one of its entries), merges as pairs of GPT-2 token strings. vname names the
 * vocabulary, mfile the merges' source, mname a printf format with one %ld (the pair's
 * `where`) naming a pair. */
struct sl_json;
typedef struct {
    const char *p[2];
    size_t n[2];
    long where;
} sl_bpe_mpair;
typedef struct {
    const char *name;
    int64_t id;
    int in_vocab; /* 1: also the vocabulary's entry of that id (which it replaces) */
} sl_bpe_extra;
int sl_bpe_from_json(const struct sl_json *j, const char *vname, const sl_bpe_mpair *mp, size_t nm, const char *mfile,
                     const char *mname, const sl_bpe_extra *extra, size_t n_extra, sl_bpe **out);
/* token bytes -> GPT-2's string for them (bytes_to_unicode), NUL-terminated, into o of at
 * least 2 n + 1 bytes */
void sl_bpe_gpt2_string(const unsigned char *t, size_t n, char *o);
/* Hugging Face tokenizer.json (nlp/bpe_hf.c): a BPE model with the ByteLevel pre-tokenizer
 * (GPT-2's layout); added_tokens are special. Saving writes GPT-2's fields, special tokens as added tokens only. */
int sl_bpe_load_hf(const char *tokenizer_json, sl_bpe **out);
int sl_bpe_save_hf(const sl_bpe *b, const char *tokenizer_json);

/* Build a model from its token table and merges (used by the readers and training): checks
 * every byte has a one-byte token, no two tokens are equal, and each merge's result is the
 * concatenation of its two tokens. Takes ownership of nothing; copies. */
int sl_bpe_build(int n_vocab, const unsigned char *const *tok, const int *len, const unsigned char *special, int n_merges,
                 const int32_t *merge, sl_bpe **out);

/* GPT-2's bytes_to_unicode: the code point byte b is written as in vocab.json/merges.txt */
uint32_t sl_bpe_byte_to_cp(unsigned char b);

#ifdef __cplusplus
}
#endif
#endif
