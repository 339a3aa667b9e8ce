/* nlp/word2vec.h — word2vec (Mikolov et al. 2013a, 2013b): skip-gram and CBOW, hierarchical
 * softmax over a Huffman tree and negative sampling from the unigram^0.75 distribution,
 * frequent-word subsampling, dynamic window, linear learning-rate decay, lock-free
 * ("Hogwild") multithreaded SGD; vector files in the original tool's text and binary formats;
 * evaluation (analogies 3CosAdd / 3CosMul, word-pair similarity with Spearman's rho), PCA.
 *
 * Training follows the original tool's procedure: the corpus is read as whitespace words with
 * every newline a "</s>" word (kept at id 0 whatever its count), sentences end at </s> or after
 * 1000 words, each thread reads its own byte range of the file, and every iteration re-reads
 * the file (so the corpus may be larger than memory).
 */
#ifndef SL_NLP_WORD2VEC_H
#define SL_NLP_WORD2VEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *train; /* corpus file */
    int size;          /* vector width, default 100 */
    int window;        /* max skip length, default 5 */
    double sample;     /* subsampling threshold, default 1e-3 (0 = off) */
    int hs;            /* hierarchical softmax, default 0 */
    int negative;      /* negative samples, default 5 (0 = off) */
    int threads;       /* default 12, as the original tool */
    int iter;          /* epochs, default 5 */
    int min_count;     /* default 5 */
    double alpha;      /* starting learning rate; < 0: 0.025 (skip-gram) / 0.05 (CBOW) */
    int cbow;          /* 1 CBOW (the tool's default), 0 skip-gram */
    uint64_t seed;     /* default 1; random streams are seed + thread id */
    FILE *progress;    /* progress line ("Alpha: ..  Progress: ..%  Words/thread/sec: ..k") or NULL */
} sl_w2v_opts;

void sl_w2v_opts_default(sl_w2v_opts *o);

typedef struct {
    int V, D;
    char **words;    /* (V,) */
    int64_t *counts; /* (V,) corpus counts (0 when loaded from a vector file) */
    float *vec;      /* (V, D) */
    int32_t *slots;  /* hash index over words */
    size_t nslots;
} sl_w2v;

typedef struct {
    uint64_t train_words; /* words per epoch (after min-count, with </s>) */
    uint64_t words_done;  /* words processed in all epochs */
    double seconds;       /* training time (vocabulary excluded) */
    double vocab_seconds;
    double words_per_sec; /* words_done / seconds */
    double cpu_seconds;   /* process CPU time (all threads) spent training */
} sl_w2v_stats;

/* Train on o->train. *out receives the input vectors (syn0). st may be NULL. */
int sl_w2v_train(const sl_w2v_opts *o, sl_w2v **out, sl_w2v_stats *st);

/* The negative-sampling distribution U(w)^0.75 / Z as Walker alias tables (V entries each):
 * a draw picks column i uniformly and keeps it with probability alias_p[i], else takes
 * alias_i[i]. Used by sl_w2v_train; public so tests can check the distribution. */
int sl_w2v_alias_table(const int64_t *counts, int V, float *alias_p, int32_t *alias_i);

/* Vectors in memory: alloc V x D zeroed, add words in order. */
int sl_w2v_alloc(int V, int D, sl_w2v **out);
int sl_w2v_set_word(sl_w2v *w, int i, const char *word);
void sl_w2v_free(sl_w2v *w);
int sl_w2v_find(const sl_w2v *w, const char *word); /* index or -1 */

/* Files: "V D\n" then per word "word v1 .. vD \n" (text, %f like the tool) or
 * "word " + D little-endian float32 + "\n" (binary). The reader takes both tools' variants
 * (gensim's binary has no newline after a vector; text may lack the trailing space), checks
 * the header, every count and number, and names the line (text) or byte offset (binary). */
int sl_w2v_save(const sl_w2v *w, const char *path, int binary);
/* binary: 1, 0, or -1 to detect (binary if the first vector's bytes are not text) */
int sl_w2v_load(const char *path, int binary, sl_w2v **out);

/* Fill the rows of wte (V, D) whose word is in the vector file; other rows untouched. The
 * file's dimension must equal D. *n_found (may be NULL) receives the number of rows filled. */
int sl_w2v_init_embedding(const char *path, const char *const *words, int V, int D, float *wte, int *n_found);

/* ---- evaluation (nlp/w2v_eval.c) ---- */
/* Unit-length copy of the vectors: (V, D). */
float *sl_w2v_normalized(const sl_w2v *w);

/* The k nearest words to query vector q (D,) by cosine over the first `restrict_n` words (0 =
 * all), skipping `exclude` (n_ex ids); ids/sims receive up to k results, returns the count. */
int sl_w2v_nearest(const sl_w2v *w, const float *unit, const float *q, int restrict_n, const int *exclude, int n_ex, int k,
                   int *ids, float *sims);

#define SL_W2V_MAX_SECTIONS 64
typedef struct {
    char name[96];
    long n, correct_add, correct_mul; /* questions answered (all 4 words known) */
    long skipped;                     /* questions with a word outside the vocabulary */
} sl_w2v_section;

typedef struct {
    int n_sections;
    sl_w2v_section sec[SL_W2V_MAX_SECTIONS];
    sl_w2v_section total;
    sl_w2v_section semantic, syntactic; /* sections named "gram*" are syntactic */
} sl_w2v_analogy_result;

/* questions-words.txt format (": section" lines, then "a b c d": a is to b as c is to d;
 * predict d from b - a + c excluding a, b, c). Words are matched after upper-casing both
 * sides when case_insensitive (as gensim and the original compute-accuracy do); only the
 * first restrict_n words of the vocabulary are candidates and known (0 = all). */
int sl_w2v_analogy_eval(const sl_w2v *w, const char *path, int restrict_n, int case_insensitive, sl_w2v_analogy_result *res);

/* Word pairs with a human score per line ("w1 w2 score", tab/space separated, '#' comments):
 * Spearman's rho between the scores and the cosine similarities of the known pairs. */
int sl_w2v_similarity_eval(const sl_w2v *w, const char *path, int case_insensitive, double *rho, double *pearson, long *used,
                           long *skipped);

/* First two principal components of the vectors of `words` (n >= 3): xy (n, 2). */
int sl_w2v_pca2(const sl_w2v *w, const char *const *words, int n, double *xy);

#ifdef __cplusplus
}
#endif
#endif
