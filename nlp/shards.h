/* nlp/shards.h — token shards as llm.c's data loaders read them.
 *
 * A shard is a header of 256 little-endian int32 followed by the tokens:
 *   header[0]  magic: 20240520 for uint16 tokens (llm.c's GPT-2 files), 20240801 for uint32
 *              tokens (its Llama 3 files)
 *   header[1]  version: 1 with uint16 tokens, 7 with uint32
 *   header[2]  the number of tokens that follow (the file is exactly 1024 + that x 2 or 4
 *              bytes; a header that says otherwise is refused)
 *   header[3]  seqlab: the vocabulary size, 0 if unknown (llm.c writes 0 here)
 *   header[4]  seqlab: 1 + the id of the token that starts every document, 0 if none
 *   the rest   0
 * llm.c's readers look at header[0..2] only, so seqlab's shards are its shards. Documents
 * keep their boundaries as llm.c's do: each document starts with its document token
 * (GPT-2's <|endoftext|>, a SentencePiece model's <s>).
 *
 * Readers never load a shard whole: sl_shard_read fetches a range with pread.
 */
#ifndef SL_NLP_SHARDS_H
#define SL_NLP_SHARDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_SHARD_MAGIC16 20240520
#define SL_SHARD_MAGIC32 20240801
#define SL_SHARD_HEADER_BYTES 1024

typedef struct {
    int fd;
    char *path;
    int width; /* bytes per token: 2 or 4 */
    int64_t n_tokens;
    int vocab;     /* header[3], 0 if unknown */
    int doc_token; /* header[4] - 1, -1 if none */
} sl_shard;

/* Open and validate a shard (magic, version, size). */
int sl_shard_open(const char *path, sl_shard *s);
void sl_shard_close(sl_shard *s);
/* Read tokens [off, off + n) into out; ids >= vocab (when vocab > 0) are SL_EFORMAT. */
int sl_shard_read(const sl_shard *s, int64_t off, size_t n, int32_t *out, int vocab);

typedef struct {
    FILE *f;
    void *af; /* the atomic writer (core/fileio.h) */
    char *path;
    int width;
    int64_t n;
    int vocab, doc_token;
} sl_shard_writer;

/* Start a shard at path (written atomically); width 2 or 4 follows from vocab (<= 65536: 2). */
int sl_shard_writer_open(sl_shard_writer *w, const char *path, int vocab, int doc_token);
int sl_shard_writer_put(sl_shard_writer *w, const int32_t *ids, size_t n);
/* Write the header with the final count and commit the file. */
int sl_shard_writer_close(sl_shard_writer *w);
void sl_shard_writer_abort(sl_shard_writer *w);

/* ---- text -> shards ---- */
typedef struct {
    const char *prefix;   /* writes PREFIX_val_000000.bin, PREFIX_train_000000.bin, ... */
    int64_t shard_tokens; /* tokens per training shard (the last may hold fewer); llm.c: 1e8 */
    int64_t val_tokens;   /* the first documents, until at least this many tokens, go to the
                              * validation shard (whole documents); 0: no validation shard */
    int docs_by_line;     /* 1: every non-empty line is a document; 0: every file is one */
} sl_shards_opts;

typedef struct {
    int64_t docs, val_docs, tokens, val_tokens, bytes;
    int train_shards;
} sl_shards_stats;

/* Encode the files (NULL-terminated, "-" = stdin) with tokenizer t (nlp/tokenizer.h) into
 * shards; each document is its document token followed by its text's tokens (a tokenizer
 * without a document token is refused). Text is streamed: nothing holds more than a chunk of
 * text (BPE) or a line (SentencePiece, or docs_by_line) at a time. */
int sl_shards_encode_files(void *tokenizer, const char *const *files, const sl_shards_opts *o, sl_shards_stats *st);

#ifdef __cplusplus
}
#endif
#endif
