/* nlp/ngram.h — n-gram language models: counting, estimation (MLE, add-k, interpolated
 * Kneser-Ney, interpolated modified Kneser-Ney), backoff scoring, ARPA files.
 *
 * Conventions follow KenLM's lmplz so that the same text and order give the same model:
 *   - every line is a sentence <s> w1 .. wm </s> (a last line without '\n' gets no </s>);
 *     n-grams may start with <s> only at the sentence start (no <s> <s> padding survives);
 *   - ids 0, 1, 2 are <unk>, <s>, </s>; other words by first appearance;
 *   - modified Kneser-Ney (Chen & Goodman 1998, sec. 3 and eq. 26): the highest order uses raw
 *     counts, lower orders use continuation counts N1+(. g) — except n-grams that begin with
 *     <s>, which cannot be extended to the left and keep their raw counts. Discounts per order
 *     from counts-of-counts n1..n4 of those adjusted counts:
 *         Y = n1 / (n1 + 2 n2),  D_j = j - (j+1) Y n_{j+1} / n_j   (j = 1, 2, 3+);
 *     p(w|h) = (a(hw) - D(a(hw))) / sum_w' a(hw') + gamma(h) p(w|h'),
 *     gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / sum_w' a(hw'),
 *     unigrams interpolated with the uniform 1/|V| (|V| counts <unk> but not <s>); <unk> is a
 *     zeroton that gets only the interpolated mass; p(<s>) = 1 (log10 0) so <s> can be scored;
 *   - ARPA backoff of n-gram g = gamma(g) when g is a context, else 1 (log10 0); n-grams ending
 *     in <unk> or </s> are never contexts.
 * Kneser-Ney (kn) is the same with one discount per order, D = n1 / (n1 + 2 n2). add-k and MLE
 * use raw counts; see docs/nlp.md for how they are laid out as backoff models.
 *
 * Storage: one compact open-addressing hash table per order over packed int32 id tuples
 * (sl_ngtab); probabilities and backoffs are float arrays beside it.
 */
#ifndef SL_NLP_NGRAM_H
#define SL_NLP_NGRAM_H

#include "nlp/vocab.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_NGRAM_MAX_ORDER 12

enum { SL_NGRAM_UNK = 0, SL_NGRAM_BOS = 1, SL_NGRAM_EOS = 2 };

typedef enum { SL_NGRAM_MLE = 0, SL_NGRAM_ADDK, SL_NGRAM_KN, SL_NGRAM_MKN } sl_ngram_method;

int sl_ngram_method_parse(const char *s, sl_ngram_method *m); /* mle addk kn mkn */
const char *sl_ngram_method_name(sl_ngram_method m);

typedef struct {
    int order; /* 1..SL_NGRAM_MAX_ORDER */
    sl_ngram_method method;
    double k;                           /* add-k pseudo-count (> 0) */
    double discount;                    /* kn: if > 0, this D for every order instead of estimating */
    int discount_fallback;              /* on failed estimates use `fallback` (lmplz --discount_fallback) */
    double fallback[3];                 /* D1, D2, D3+ fallback: 0.5 1 1.5, as lmplz */
    uint64_t prune[SL_NGRAM_MAX_ORDER]; /* kn/mkn: drop k-grams (k >= 2) whose raw count is <= prune[k-1]
                                         * (lmplz --prune: non-decreasing, prune[0] = 0); their adjusted
                                         * counts stay in the discounts and their mass goes to the backoff */
} sl_ngram_opts;

void sl_ngram_opts_default(sl_ngram_opts *o, int order);

/* ---- compact hash table of fixed-length id tuples ---- */
typedef struct {
    int k;           /* tuple length */
    size_t n, cap;   /* entries */
    int32_t *keys;   /* (cap, k) entry tuples, insertion order */
    uint32_t *slots; /* (nslots,) entry index + 1, 0 = empty */
    size_t nslots;   /* power of two, load <= 1/2 */
    int borrowed;    /* keys and slots point into a mapped binary model: read-only, not freed */
    int sorted;      /* entries are in id-tuple order (set by estimation, cleared by an insert) */
} sl_ngtab;

int sl_ngtab_init(sl_ngtab *t, int k, size_t cap_hint);
void sl_ngtab_destroy(sl_ngtab *t);
/* entry index or -1 */
long sl_ngtab_find(const sl_ngtab *t, const int32_t *key);
/* entry index (>= 0, *is_new set) or a negative status */
long sl_ngtab_insert(sl_ngtab *t, const int32_t *key, int *is_new);
size_t sl_ngtab_bytes(const sl_ngtab *t);

/* ---- probing tables of binary models (KenLM's layout): the n-gram's 64-bit hash, values inline,
 * one cache line per probe. Hashes are built right to left (the word, then each older word), so
 * left-to-right scoring extends them one word at a time. A lookup compares hashes, not ids: a
 * false match needs two n-grams with equal 64-bit hashes (binarize refuses a model where two of
 * its own collide; an unseen n-gram matches with probability about n / 2^64). ---- */
typedef struct {
    uint64_t key;    /* sl_ngram_phash_final(...), never 0; 0 = empty slot */
    float prob, bow; /* log10 p, log10 backoff (0 for the top order) */
} sl_ngram_pent;

static inline uint64_t sl_ngram_phash_step(uint64_t h, int32_t id)
{
    h ^= (uint32_t)id + 0x9e3779b97f4a7c15ULL;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}
static inline uint64_t sl_ngram_phash_final(uint64_t h)
{
    h ^= h >> 32;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}
#define SL_NGRAM_PHASH_SEED 0x2545f4914f6cdd1dULL

/* ---- the model ---- */
typedef struct {
    int order;
    sl_vocab *vocab;                     /* id -> word; ids 0,1,2 = <unk>, <s>, </s> */
    sl_ngtab tab[SL_NGRAM_MAX_ORDER];    /* tab[k-1]: the k-grams */
    float *prob[SL_NGRAM_MAX_ORDER];     /* (tab[k-1].n,) log10 p */
    float *bow[SL_NGRAM_MAX_ORDER];      /* (tab[k-1].n,) log10 backoff; NULL for the top order */
    uint64_t *count[SL_NGRAM_MAX_ORDER]; /* (cap,) raw counts while counting; NULL after load */
    int estimated;                       /* probabilities are valid */
    float unk_prob;                      /* log10 p(<unk>) when the model has no <unk> (-100) */
    int has_unk;
    /* estimation record */
    sl_ngram_opts opts;
    double discount[SL_NGRAM_MAX_ORDER][4];         /* D0..D3+ per order (kn/mkn) */
    uint64_t coc[SL_NGRAM_MAX_ORDER][5];            /* counts-of-counts n0..n4 of adjusted counts */
    uint64_t tokens;                                /* words counted (not <s>, </s>) */
    int suffix_closed;                              /* every k-gram's (k-1)-word suffix is in the model */
    const sl_ngram_pent *probe[SL_NGRAM_MAX_ORDER]; /* binary models: probing tables, else NULL */
    uint64_t probe_mask[SL_NGRAM_MAX_ORDER];        /* their slot count - 1 */
    void *map;                                      /* a loaded binary model: its mapping (read-only) */
    size_t map_size;
} sl_ngram_lm;

/* An empty model for counting, vocabulary with <unk> <s> </s> at 0 1 2. */
int sl_ngram_alloc(int order, sl_ngram_lm **out);
void sl_ngram_free(sl_ngram_lm *lm);

/* Count one sentence of word ids (>= 3, or SL_NGRAM_UNK): <s> w.. [</s>]. Ids must be valid
 * vocabulary ids. with_eos = 0 for a last line without a newline (as lmplz). */
int sl_ngram_count_sentence(sl_ngram_lm *lm, const int32_t *w, size_t n, int with_eos);
/* Stream a text file (or "-") line by line into the counts. Words <s> </s> <unk> in the text
 * are treated as whitespace, as lmplz --skip_symbols does. */
int sl_ngram_count_file(sl_ngram_lm *lm, const char *path);

/* Estimate probabilities and backoffs from the counts (counts are kept). */
int sl_ngram_estimate(sl_ngram_lm *lm, const sl_ngram_opts *o);

/* Total n-grams over all orders; bytes used by tables and values. */
size_t sl_ngram_total(const sl_ngram_lm *lm);
size_t sl_ngram_bytes(const sl_ngram_lm *lm);

/* Vocabulary id of a word; SL_NGRAM_UNK when unknown. */
int32_t sl_ngram_word(const sl_ngram_lm *lm, const char *w, size_t len);

/* log10 p(w | ctx) by backoff: ctx (nctx ids, oldest first; only the last order-1 are used).
 * *len (may be NULL) receives the length of the n-gram matched (KenLM's ngram_length). */
float sl_ngram_score(const sl_ngram_lm *lm, const int32_t *ctx, int nctx, int32_t w, int *len);

/* Left-to-right scoring with a carried state (KenLM's way): the state keeps the last order-1 ids
 * and the backoffs of the contexts they form, so a word costs only the lookups of the n-grams
 * ending in it, shortest first, stopping at the first one missing (valid when the model is
 * suffix-closed, as every Kneser-Ney model is; otherwise this falls back to sl_ngram_score).
 * Gives exactly sl_ngram_score's value and length. out may equal in. */
typedef struct {
    int n;                           /* ids held (<= order - 1) */
    int32_t ids[SL_NGRAM_MAX_ORDER]; /* oldest first */
    float bow[SL_NGRAM_MAX_ORDER];   /* bow[i-1]: log10 backoff of the last i ids, 0 if absent */
} sl_ngram_state;

void sl_ngram_state_begin(const sl_ngram_lm *lm, sl_ngram_state *s); /* the context <s> */
float sl_ngram_score_next(const sl_ngram_lm *lm, const sl_ngram_state *in, int32_t w, sl_ngram_state *out, int *len);
/* Set lm->suffix_closed by checking every n-gram's suffix. */
void sl_ngram_check_suffixes(sl_ngram_lm *lm);

/* The naive reference of sl_ngram_score (tests compare them): the ARPA backoff definition
 * applied recursively, p(w|h) = p(hw) if hw is in the model, else bow(h) p(w|h'). */
float sl_ngram_score_ref(const sl_ngram_lm *lm, const int32_t *ctx, int nctx, int32_t w);

/* ---- ARPA (nlp/arpa.c) ---- */
/* Write in KenLM's layout: \data\, "ngram k=n", sections "\k-grams:" with
 * "logprob<TAB>w1 w2..[<TAB>backoff]" (backoff on every order but the highest), \end\.
 * path "-" writes stdout (not atomic); otherwise atomic. */
int sl_arpa_write(const sl_ngram_lm *lm, const char *path);
/* Read any ARPA file (tabs or spaces); errors name file:line. */
int sl_arpa_read(const char *path, sl_ngram_lm **out);

/* Shortest decimal text that reads back as the same float (how KenLM prints). buf >= 32. */
void sl_fmt_float(char *buf, float x);
/* The reference sl_fmt_float is checked against: %.*g for p = 1..9 until strtof reads x back. */
void sl_fmt_float_ref(char *buf, float x);
void sl_fmt_double(char *buf, double x);

/* ---- binary models (nlp/ngram_bin.c; the layout is described there and in docs/nlp.md) ---- */
/* Write the model's tables as a binary file (atomic). */
int sl_ngram_write_binary(const sl_ngram_lm *lm, const char *path);
/* Map a binary model read-only and validate it; errors name the file and what is wrong. The
 * model can be scored and queried, not counted or re-estimated. */
int sl_ngram_load_binary(const char *path, sl_ngram_lm **out);
/* 1 when the file starts with the binary model's magic. */
int sl_ngram_is_binary(const char *path);
/* Binary or ARPA, by the file's first bytes. */
int sl_ngram_load(const char *path, sl_ngram_lm **out);

/* ---- query, KenLM conventions ---- */
typedef struct {
    double total;          /* sum of log10 probs of counted lines, including </s> */
    double total_oov_only; /* sum over OOV words */
    uint64_t oov, tokens;  /* tokens include </s> */
    double ppl_incl, ppl_excl;
} sl_ngram_query_stats;

/* Score a text file line by line as KenLM's query does (sentence context: <s> ... </s>, OOVs
 * scored as <unk>, a last line without '\n' gets no </s> and, like query, its log-probs are not
 * added to the totals). With out != NULL, prints each word "w=id len logprob\t" and each line
 * "Total: t OOV: n" like query's default output. */
int sl_ngram_query_file(const sl_ngram_lm *lm, const char *path, FILE *out, sl_ngram_query_stats *st);

#ifdef __cplusplus
}
#endif
#endif
