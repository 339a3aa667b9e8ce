/* nlp/spm.h — SentencePiece models: reading a .model file and encoding/decoding as
 * SentencePiece 0.1.97 (Debian 12's libsentencepiece) does, for unigram and BPE models.
 *
 * The .model file is a protobuf ModelProto (sentencepiece_model.proto); nlp/spm.c parses its
 * wire format itself (varints, fixed32, length-delimited fields; unknown fields skipped,
 * every length checked against the bytes left) and keeps: the pieces (string, score, type),
 * TrainerSpec's model_type, byte_fallback, unk/bos/eos/pad ids, treat_whitespace_as_suffix
 * and unk_surface, and NormalizerSpec's name, precompiled_charsmap, add_dummy_prefix,
 * remove_extra_whitespaces and escape_whitespaces.
 *
 * Encoding a line:
 *  1. normalise: user-defined symbols pass as they are; elsewhere the longest match in the
 *     precompiled charsmap (a darts-clone double-array trie over UTF-8, values pointing at
 *     NUL-terminated replacements) is replaced, else one UTF-8 character is copied (an
 *     invalid byte becomes U+FFFD); leading, trailing and repeated spaces are dropped when
 *     remove_extra_whitespaces; "▁" (U+2581) is put in front (add_dummy_prefix) and
 *     replaces every space (escape_whitespaces).
 *  2. unigram: Viterbi over all pieces that match at each position (found by walking a
 *     double-array trie of the pieces, nlp/spm_trie.h) (score = the piece's log
 *     probability; a user-defined symbol length x max score - 0.1; a character no piece
 *     covers is <unk> with min score - 10), the first best path kept on ties, as
 *     SentencePiece's optimised encoder. BPE: start from characters (user-defined symbols
 *     whole and never merged), repeatedly merge the adjacent pair whose concatenation is the
 *     piece of highest score (leftmost on ties); unused pieces are split back.
 *  3. unknown pieces: with byte_fallback each becomes its UTF-8 bytes' <0xXX> pieces;
 *     otherwise a run of unknown pieces becomes one <unk>.
 * Decoding follows SentencePieceProcessor::Decode: control pieces vanish, <unk> becomes
 * unk_surface (" \xE2\x81\x87 "), byte pieces are joined into UTF-8 (an invalid byte becomes
 * U+FFFD), "▁" becomes a space, and leading "▁"s are dropped as the normaliser added them.
 * Not supported (refused when loading): WORD and CHAR models, treat_whitespace_as_suffix, a
 * denormalizer with a charsmap.
 */
#ifndef SL_NLP_SPM_H
#define SL_NLP_SPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_spm sl_spm;

/* Parse a .model file (SL_EFORMAT naming the field and byte offset on a malformed one). */
int sl_spm_load(const char *path, sl_spm **out);
int sl_spm_parse(const unsigned char *buf, size_t n, sl_spm **out);
void sl_spm_free(sl_spm *m);

int sl_spm_size(const sl_spm *m);
int sl_spm_bos(const sl_spm *m); /* -1 if none */
int sl_spm_eos(const sl_spm *m);
int sl_spm_unk(const sl_spm *m);
const char *sl_spm_kind_name(const sl_spm *m); /* "SentencePiece unigram" / "SentencePiece BPE" */
const unsigned char *sl_spm_piece(const sl_spm *m, int id, size_t *len);

/* the normalised form of a line (step 1), malloc'ed */
int sl_spm_normalize(const sl_spm *m, const unsigned char *s, size_t n, unsigned char **out, size_t *n_out);
/* Encode one line (no '\n' inside), appending ids. */
int sl_spm_encode(const sl_spm *m, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap);
/* The same with caller-owned scratch (a thread encodes with its own): no allocation per line
 * once the scratch has grown to the longest line. */
typedef struct sl_spm_ws sl_spm_ws;
sl_spm_ws *sl_spm_ws_alloc(void);
void sl_spm_ws_free(sl_spm_ws *w);
int sl_spm_encode_ws(const sl_spm *m, sl_spm_ws *w, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap);
int sl_spm_decode(const sl_spm *m, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out, size_t *cap);

#ifdef __cplusplus
}
#endif
#endif
