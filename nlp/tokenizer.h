/* nlp/tokenizer.h — one handle over the subword tokenizers: byte-level BPE (nlp/bpe.h, the
 * seqlab-bpe file or a GPT-2 vocab.json + merges.txt) and SentencePiece models (nlp/spm.h).
 *
 * sl_subword_load finds the kind from the path:
 *   a directory            its vocab.json and merges.txt (GPT-2 / Hugging Face layout), or
 *                          without a vocab.json, its tokenizer.json
 *   a file *tokenizer.json a Hugging Face tokenizer.json (byte-level BPE, nlp/bpe_hf.c)
 *   a file named *.json    that vocab.json and the merges.txt beside it
 *   a file starting "seqlab-bpe"   the seqlab-bpe format
 *   anything else          a SentencePiece .model (protobuf)
 */
#ifndef SL_NLP_TOKENIZER_H
#define SL_NLP_TOKENIZER_H

#include "nlp/bpe.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_spm sl_spm;

typedef enum { SL_SUBWORD_BPE = 1, SL_SUBWORD_SPM = 2 } sl_subword_kind;

typedef struct sl_spm_ws sl_spm_ws;

typedef struct {
    sl_subword_kind kind;
    sl_bpe *bpe;
    sl_spm *spm;
    sl_spm_ws *spm_ws; /* sl_subword_encode's scratch for SentencePiece */
    int n_vocab;
    /* the token that starts a document in token shards: BPE's <|endoftext|> (llm.c's
     * convention), SentencePiece's bos id; -1 if the model has none */
    int doc_token;
} sl_subword;

int sl_subword_load(const char *path, sl_subword **out);
void sl_subword_free(sl_subword *t);
const char *sl_subword_kind_name(const sl_subword *t);

/* Encode text, appending ids (see sl_bpe_encode / sl_spm_encode). BPE takes any amount of
 * UTF-8 text; SentencePiece encodes it line by line, as spm_encode does (the line breaks
 * themselves are not encoded). */
int sl_subword_encode(sl_subword *t, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap);
/* The ids of a batch of text: all of them in order, and with per_line where each line's end. */
typedef struct {
    int32_t *ids; /* (n_ids) */
    size_t n_ids, cap;
    size_t *ends; /* (n_lines) line i's ids are ids[ends[i-1] .. ends[i]) (ends[-1] = 0) */
    size_t n_lines, lcap;
} sl_subword_batch;

/* Encode s[0..n) on `threads` threads (<= 1: the calling thread only), replacing b's content.
 * per_line: every line ('\n' ends one and is not encoded; a last line without it counts) is
 * encoded on its own; otherwise BPE encodes the text whole (SentencePiece always goes by line,
 * as sl_subword_encode). Pass whole lines (BPE whole text: a prefix ending at an
 * sl_bpe_safe_cut). The text is cut into one part per thread at line starts (BPE whole: at
 * sl_bpe_safe_cut points), each thread encodes its part with its own scratch (BPE: its own
 * cache), and the parts are joined in order, so the ids are those of a serial run. On failure
 * *bad_part is the byte offset where the failing part starts (the first such part); byte
 * offsets in the message count from there. */
int sl_subword_encode_batch(sl_subword *t, const unsigned char *s, size_t n, int per_line, int threads, sl_subword_batch *b,
                            size_t *bad_part);
void sl_subword_batch_free(sl_subword_batch *b);

int sl_subword_decode(const sl_subword *t, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out, size_t *cap);
/* the bytes of token id (a piece, a special token's name); NULL outside the vocabulary */
const unsigned char *sl_subword_piece(const sl_subword *t, int id, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
