/* nlp/vocab.h — vocabularies, tokenizers (byte, char, whitespace word) and a streaming
 * corpus reader.
 *
 * A vocabulary maps strings to dense ids through an open-addressing hash table; every entry
 * keeps a count. Building one from a corpus is two steps: count every token (sl_vocab_add),
 * then keep the tokens seen at least min_count times (sl_vocab_prune), which also puts the
 * special tokens <unk>, <s>, </s> first when asked.
 *
 * The corpus reader streams a file (or stdin) through a fixed buffer, so files larger than
 * memory are fine: it hands out one token or one end-of-line at a time. Words are maximal runs
 * of bytes other than ASCII space, \t, \r, \v, \f, \0 and \n (the delimiters KenLM's lmplz
 * and the word2vec tool split on, plus \v \f). A word longer than SL_WORD_MAX bytes is cut at
 * a UTF-8 character boundary. Characters are UTF-8 code points; a byte that does not start a
 * valid UTF-8 sequence is handed out on its own (as that single byte), so no input is lost.
 */
#ifndef SL_NLP_VOCAB_H
#define SL_NLP_VOCAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_WORD_MAX 1024 /* bytes; longer words are truncated (at a character boundary) */

#define SL_UNK "<unk>"
#define SL_BOS "<s>"
#define SL_EOS "</s>"

typedef struct {
    int n, cap;        /* entries */
    char **words;      /* (n,) NUL-terminated */
    int64_t *counts;   /* (n,) */
    int32_t *slots;    /* (nslots,) entry index or -1 */
    size_t nslots;     /* power of two */
    int unk, bos, eos; /* ids of the special tokens, or -1 */
} sl_vocab;

sl_vocab *sl_vocab_alloc(void);
void sl_vocab_free(sl_vocab *v);

/* 64-bit FNV-1a of a byte string (the vocabulary's hash). */
uint64_t sl_hash_bytes(const void *p, size_t n);

/* Id of w[0..len) or -1. */
int sl_vocab_find(const sl_vocab *v, const char *w, size_t len);
/* Id of w, or v->unk (which may be -1) when absent. */
int sl_vocab_lookup(const sl_vocab *v, const char *w, size_t len);
/* Find or insert w and add `count` to its count; *id (may be NULL) receives its id. */
int sl_vocab_add(sl_vocab *v, const char *w, size_t len, int64_t count, int *id);
/* Make ids of <unk>, <s>, </s> known (inserting them with count 0 if absent). */
int sl_vocab_add_specials(sl_vocab *v);

/* New vocabulary: the specials <unk> <s> </s> first when `specials`, then every other entry of
 * `in` with count >= min_count, by decreasing count, ties by byte order (deterministic).
 * Entries of `in` that are specials keep their counts. */
int sl_vocab_prune(const sl_vocab *in, int64_t min_count, int specials, sl_vocab **out);

/* Text file: one "word<TAB>count" per line, ids in line order. Atomic write. */
int sl_vocab_save(const sl_vocab *v, const char *path);
int sl_vocab_load(const char *path, sl_vocab **out);

/* ---- UTF-8 ---- */
/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if s[0] does not start a valid,
 * complete, shortest-form sequence. *cp (may be NULL) receives the code point. */
int sl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Bytes needed to write code point cp (1..4), written to out[0..4). 0 if cp is invalid. */
int sl_utf8_encode(uint32_t cp, char *out);

/* ---- streaming corpus reader ---- */
typedef struct sl_corpus sl_corpus;

enum { SL_CORPUS_EOF = 0, SL_CORPUS_TOKEN = 1, SL_CORPUS_EOL = 2 };

/* path "-" or NULL reads stdin (which then cannot be rewound). */
int sl_corpus_open(const char *path, sl_corpus **out);
void sl_corpus_close(sl_corpus *c);
/* Restart at the beginning (SL_EUNSUPPORTED for stdin). */
int sl_corpus_rewind(sl_corpus *c);
/* Start reading at byte offset `off` (seekable files), skipping to the next word start. */
int sl_corpus_seek(sl_corpus *c, uint64_t off);
/* Size in bytes (0 for pipes). */
uint64_t sl_corpus_size(const sl_corpus *c);
/* Byte offset of the next unread byte. */
uint64_t sl_corpus_tell(const sl_corpus *c);
/* 1-based line number of the last token handed out. */
uint64_t sl_corpus_line(const sl_corpus *c);

/* Next whitespace word: returns SL_CORPUS_TOKEN with (*w, *len) valid until the next call, or
 * SL_CORPUS_EOL for every '\n' (a last line without '\n' just ends with SL_CORPUS_EOF, which
 * is how KenLM's lmplz and query see it: no </s> for that line), or SL_CORPUS_EOF, or a
 * negative status on a read error. */
int sl_corpus_next_word(sl_corpus *c, const char **w, size_t *len);
/* Next UTF-8 character (newlines are characters too: '\n' is returned as a token) or EOF. */
int sl_corpus_next_char(sl_corpus *c, const char **w, size_t *len);
/* Next byte (as a one-byte token) or EOF. */
int sl_corpus_next_byte(sl_corpus *c, const char **w, size_t *len);

/* ---- tokenizers ---- */
typedef enum { SL_TOK_BYTE = 0, SL_TOK_CHAR = 1, SL_TOK_WORD = 2 } sl_tok_kind;

int sl_tok_kind_parse(const char *s, sl_tok_kind *k); /* "byte" | "char" | "word" */
const char *sl_tok_kind_name(sl_tok_kind k);

/* Next token of the given kind from the corpus (word: SL_CORPUS_EOL also comes back). */
int sl_corpus_next(sl_corpus *c, sl_tok_kind k, const char **w, size_t *len);

typedef struct {
    sl_tok_kind kind;
    sl_vocab *vocab; /* owned */
} sl_tokenizer;

/* Build a tokenizer from a corpus: count tokens of `kind`, keep those with count >= min_count,
 * specials <unk> <s> </s> first. The byte tokenizer always has the 256 byte values (ids
 * 3..258), whatever min_count says, so it never produces <unk>. Words get an </s> per line. */
int sl_tokenizer_build(const char *path, sl_tok_kind kind, int64_t min_count, sl_tokenizer **out);
void sl_tokenizer_free(sl_tokenizer *t);

/* Tokenize a whole file into ids (word kind: </s> after every line). *ids is malloc'ed. */
int sl_tokenizer_encode_file(const sl_tokenizer *t, const char *path, int32_t **ids, size_t *n);
/* Tokenize a NUL-terminated string (word kind: no </s> is added). */
int sl_tokenizer_encode(const sl_tokenizer *t, const char *text, int32_t **ids, size_t *n);
/* Join tokens back to text: words with single spaces (and "\n" for </s>), chars and bytes as
 * they are; specials <s> are dropped, <unk> written as "<unk>". Caller frees. */
char *sl_tokenizer_decode(const sl_tokenizer *t, const int32_t *ids, size_t n);

#ifdef __cplusplus
}
#endif
#endif
