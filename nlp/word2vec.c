/* nlp/word2vec.c — word2vec training (skip-gram / CBOW, hierarchical softmax / negative
 * sampling), written from the papers and the original tool's documented behaviour.
 *
 *   Mikolov, Chen, Corrado, Dean (2013a) "Efficient Estimation of Word Representations in
 *   Vector Space"; Mikolov, Sutskever, Chen, Corrado, Dean (2013b) "Distributed
 *   Representations of Words and Phrases and their Compositionality".
 *
 * Skip-gram, for centre word w and each context word c within a window of random size
 * b in [1, window]: the input vector v_c is trained to predict w. Negative sampling maximises
 *     log s(v_c . u_w) + sum_{k=1..K} log s(-v_c . u_{n_k}),  n_k ~ U(w)^0.75 / Z,
 * hierarchical softmax maximises sum_j log s((1 - 2 code_j) v_c . u_{node_j}) along w's Huffman
 * path. CBOW uses the mean of the context vectors as v and spreads its gradient to each.
 * Subsampling keeps a word of frequency f = count / total with probability
 *     (sqrt(f / t) + 1) t / f     (t = sample; the tool's formula, not the paper's 1 - sqrt(t/f)).
 * The learning rate decays linearly to alpha * 1e-4 over all epochs. Threads update the shared
 * vectors without locks (Hogwild, Recht et al. 2011): with one thread the run is deterministic.
 */
#define _GNU_SOURCE /* qsort_r */
#include "nlp/word2vec.h"

#include "core/error.h"
#include "core/fastmath.h"
#include "core/util.h"
#include "nlp/vocab.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define W2V_MAX_SENT 1000
#define W2V_EXP_N 1000
#define W2V_MAX_EXP 6
#define W2V_MAX_CODE 64

void sl_w2v_opts_default(sl_w2v_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = 100;
    o->window = 5;
    o->sample = 1e-3;
    o->hs = 0;
    o->negative = 5;
    o->threads = 12;
    o->iter = 5;
    o->min_count = 5;
    o->alpha = -1;
    o->cbow = 1;
    o->seed = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* vectors container                                                                          */

int sl_w2v_alloc(int V, int D, sl_w2v **out)
{
    *out = NULL;
    if (V < 0 || D < 1) return sl_error(SL_EINVAL, "word vectors: bad size %d x %d", V, D);
    sl_w2v *w = calloc(1, sizeof *w);
    if (!w) return sl_error(SL_ENOMEM, "word vectors: out of memory");
    w->V = V;
    w->D = D;
    w->words = calloc((size_t)(V ? V : 1), sizeof *w->words);
    w->counts = calloc((size_t)(V ? V : 1), sizeof *w->counts);
    w->vec = calloc((size_t)(V ? V : 1) * (size_t)D, sizeof *w->vec);
    w->nslots = 16;
    while (w->nslots < 2 * (size_t)V) w->nslots *= 2;
    w->slots = malloc(w->nslots * sizeof *w->slots);
    if (!w->words || !w->counts || !w->vec || !w->slots) {
        sl_w2v_free(w);
        return sl_error(SL_ENOMEM, "word vectors: out of memory (%d x %d)", V, D);
    }
    memset(w->slots, 0xff, w->nslots * sizeof *w->slots);
    *out = w;
    return SL_OK;
}

void sl_w2v_free(sl_w2v *w)
{
    if (!w) return;
    if (w->words)
        for (int i = 0; i < w->V; i++) free(w->words[i]);
    free(w->words);
    free(w->counts);
    free(w->vec);
    free(w->slots);
    free(w);
}

int sl_w2v_find(const sl_w2v *w, const char *word)
{
    size_t len = strlen(word), mask = w->nslots - 1;
    size_t i = sl_hash_bytes(word, len) & mask;
    for (;;) {
        int32_t e = w->slots[i];
        if (e < 0) return -1;
        if (!strcmp(w->words[e], word)) return e;
        i = (i + 1) & mask;
    }
}

int sl_w2v_set_word(sl_w2v *w, int idx, const char *word)
{
    if (idx < 0 || idx >= w->V || w->words[idx]) return sl_error(SL_EINVAL, "word vectors: bad index %d", idx);
    if (sl_w2v_find(w, word) >= 0) return sl_error(SL_EFORMAT, "word vectors: duplicate word \"%s\"", word);
    w->words[idx] = strdup(word);
    if (!w->words[idx]) return sl_error(SL_ENOMEM, "word vectors: out of memory");
    size_t mask = w->nslots - 1, i = sl_hash_bytes(word, strlen(word)) & mask;
    while (w->slots[i] >= 0) i = (i + 1) & mask;
    w->slots[i] = idx;
    return SL_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* training                                                                                   */

typedef struct {
    const sl_w2v_opts *o;
    int V, D;
    sl_vocab *vocab;  /* word -> id, ids by decreasing count, </s> = 0 */
    float *syn0;      /* (V, D) input vectors */
    float *syn1;      /* (V, D) hierarchical-softmax node vectors (hs) */
    float *syn1neg;   /* (V, D) output vectors (negative sampling) */
    float *alias_p;   /* (V,) alias method: keep probability of column i */
    int32_t *alias_i; /* (V,) alias of column i */
    float *keep;      /* (V,) subsampling: probability of keeping each word */
    uint8_t *code;    /* (V, W2V_MAX_CODE) Huffman codes */
    int32_t *point;   /* (V, W2V_MAX_CODE) inner nodes on the path */
    uint8_t *codelen; /* (V,) */
    float exptab[W2V_EXP_N + 1];
    uint64_t train_words, file_size;
    uint64_t words_actual; /* shared, atomic adds */
    float alpha, alpha0;   /* shared; races are benign, as in the tool */
    double t0, last_print;
    int threads, err;
    char errmsg[256];
} w2v_trainer;

static int cmp_w2v(const void *a, const void *b, void *ctx)
{
    int x = *(const int *)a, y = *(const int *)b;
    const sl_vocab *v = ctx;
    if (v->counts[x] != v->counts[y]) return v->counts[x] > v->counts[y] ? -1 : 1;
    return strcmp(v->words[x], v->words[y]);
}

/* count words (newline = </s>), keep count >= min_count, </s> first, then by count */
static int build_vocab(w2v_trainer *tr)
{
    const sl_w2v_opts *o = tr->o;
    sl_corpus *c;
    int rc = sl_corpus_open(o->train, &c);
    if (rc) return rc;
    tr->file_size = sl_corpus_size(c);
    sl_vocab *all = sl_vocab_alloc();
    if (!all) {
        sl_corpus_close(c);
        return SL_ENOMEM;
    }
    int eos;
    rc = sl_vocab_add(all, SL_EOS, 4, 0, &eos);
    const char *w;
    size_t len;
    while (!rc) {
        int r = sl_corpus_next_word(c, &w, &len);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == SL_CORPUS_EOF) break;
        if (r == SL_CORPUS_EOL) all->counts[eos]++;
        else rc = sl_vocab_add(all, w, len, 1, NULL);
    }
    sl_corpus_close(c);
    int *idx = rc ? NULL : malloc((size_t)all->n * sizeof *idx);
    if (!rc && !idx) rc = sl_error(SL_ENOMEM, "word2vec: out of memory");
    int m = 0;
    if (!rc) {
        for (int i = 0; i < all->n; i++)
            if (i != eos && all->counts[i] >= o->min_count) idx[m++] = i;
        qsort_r(idx, (size_t)m, sizeof *idx, cmp_w2v, all);
        tr->vocab = sl_vocab_alloc();
        if (!tr->vocab) rc = SL_ENOMEM;
    }
    if (!rc) rc = sl_vocab_add(tr->vocab, SL_EOS, 4, all->counts[eos], NULL);
    for (int k = 0; !rc && k < m; k++)
        rc = sl_vocab_add(tr->vocab, all->words[idx[k]], strlen(all->words[idx[k]]), all->counts[idx[k]], NULL);
    free(idx);
    sl_vocab_free(all);
    if (rc) return rc;
    tr->V = tr->vocab->n;
    tr->train_words = 0;
    for (int i = 0; i < tr->V; i++) tr->train_words += (uint64_t)tr->vocab->counts[i];
    if (tr->V < 2 || tr->train_words == 0) return sl_error(SL_EINVAL, "%s: no words with count >= %d", o->train, o->min_count);
    return SL_OK;
}

/* Huffman tree over the counts (two queues: leaves by decreasing count, new nodes in
 * increasing order), as in the tool; code bits 0/1 and the inner-node path per word. */
static int build_huffman(w2v_trainer *tr)
{
    const int V = tr->V;
    int64_t *cnt = malloc((size_t)2 * V * sizeof *cnt);
    int32_t *parent = malloc((size_t)2 * V * sizeof *parent);
    uint8_t *bin = calloc((size_t)2 * V, 1);
    tr->code = calloc((size_t)V * W2V_MAX_CODE, 1);
    tr->point = calloc((size_t)V * W2V_MAX_CODE, sizeof *tr->point);
    tr->codelen = calloc((size_t)V, 1);
    if (!cnt || !parent || !bin || !tr->code || !tr->point || !tr->codelen) {
        free(cnt);
        free(parent);
        free(bin);
        return sl_error(SL_ENOMEM, "word2vec: out of memory (Huffman tree)");
    }
    for (int a = 0; a < V; a++) cnt[a] = tr->vocab->counts[a];
    for (int a = V; a < 2 * V; a++) cnt[a] = INT64_MAX / 4;
    long p1 = V - 1, p2 = V;
    for (int a = 0; a < V - 1; a++) {
        long mins[2];
        for (int k = 0; k < 2; k++) {
            if (p1 >= 0 && cnt[p1] < cnt[p2]) mins[k] = p1--;
            else mins[k] = p2++;
        }
        cnt[V + a] = cnt[mins[0]] + cnt[mins[1]];
        parent[mins[0]] = V + a;
        parent[mins[1]] = V + a;
        bin[mins[1]] = 1;
    }
    int rc = SL_OK;
    for (int a = 0; a < V && !rc; a++) {
        uint8_t code[W2V_MAX_CODE];
        int32_t pt[W2V_MAX_CODE];
        int n = 0;
        for (long b = a; b != 2 * V - 2; b = parent[b]) {
            if (n == W2V_MAX_CODE) {
                rc = sl_error(SL_EINVAL, "word2vec: Huffman code longer than %d", W2V_MAX_CODE);
                break;
            }
            code[n] = bin[b];
            pt[n] = (int32_t)b;
            n++;
        }
        if (rc) break;
        tr->codelen[a] = (uint8_t)n;
        uint8_t *c = tr->code + (size_t)a * W2V_MAX_CODE;
        int32_t *p = tr->point + (size_t)a * W2V_MAX_CODE;
        /* root first: p[0] is the root (node 2V-2 -> index V-2 among inner nodes) */
        p[0] = V - 2;
        for (int b = 0; b < n; b++) {
            c[n - b - 1] = code[b];
            if (n - b < W2V_MAX_CODE && b > 0) p[n - b] = pt[b] - V;
        }
    }
    free(cnt);
    free(parent);
    free(bin);
    return rc;
}

/* Negative samples from U(w)^0.75 / Z by Walker's alias method: one uniform index and one
 * uniform fraction per draw, O(1), and only 8 bytes per word, so the tables stay in cache
 * (the tool's 1e8-entry lookup table costs a cache miss per draw). */
int sl_w2v_alias_table(const int64_t *counts, int V, float *alias_p, int32_t *alias_i)
{
    double *q = malloc((size_t)V * sizeof *q);
    int *small = malloc((size_t)V * sizeof *small), *large = malloc((size_t)V * sizeof *large);
    if (!q || !small || !large) {
        free(q);
        free(small);
        free(large);
        return sl_error(SL_ENOMEM, "word2vec: out of memory (sampling table)");
    }
    double z = 0;
    for (int a = 0; a < V; a++) z += pow((double)counts[a], 0.75);
    int ns = 0, nl = 0;
    for (int a = 0; a < V; a++) {
        q[a] = pow((double)counts[a], 0.75) / z * V;
        if (q[a] < 1.0) small[ns++] = a;
        else large[nl++] = a;
    }
    while (ns && nl) {
        int s = small[--ns], l = large[--nl];
        alias_p[s] = (float)q[s];
        alias_i[s] = l;
        q[l] -= 1.0 - q[s];
        if (q[l] < 1.0) small[ns++] = l;
        else large[nl++] = l;
    }
    while (nl) {
        int l = large[--nl];
        alias_p[l] = 1.0f;
        alias_i[l] = l;
    }
    while (ns) {
        int s = small[--ns];
        alias_p[s] = 1.0f;
        alias_i[s] = s;
    }
    free(q);
    free(small);
    free(large);
    return SL_OK;
}

static int build_table(w2v_trainer *tr)
{
    const int V = tr->V;
    tr->alias_p = malloc((size_t)V * sizeof *tr->alias_p);
    tr->alias_i = malloc((size_t)V * sizeof *tr->alias_i);
    if (!tr->alias_p || !tr->alias_i) return sl_error(SL_ENOMEM, "word2vec: out of memory (sampling table)");
    return sl_w2v_alias_table(tr->vocab->counts, V, tr->alias_p, tr->alias_i);
}

/* one draw from the alias tables with the 48 high bits of an LCG value */
static inline int alias_draw(const w2v_trainer *tr, uint64_t r)
{
    uint64_t x = r >> 16;
    uint32_t i = (uint32_t)(((x >> 24) * (uint64_t)tr->V) >> 24);
    float frac = (float)(x & 0xFFFFFF) * (1.0f / 16777216.0f);
    return frac < tr->alias_p[i] ? (int)i : tr->alias_i[i];
}

static inline float dotf(const float *a, const float *b, int n)
{
    float s = 0;
    #pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpyf(float *y, float g, const float *x, int n)
{
    #pragma omp simd
    for (int i = 0; i < n; i++) y[i] += g * x[i];
}

static inline uint64_t lcg(uint64_t *r)
{
    *r = *r * 25214903917ULL + 11;
    return *r;
}

/* one (input vector l1, target word) update of negative sampling / hierarchical softmax;
 * gradient for l1 accumulated into e */
static inline void train_pair(w2v_trainer *tr, const float *l1, int word, float *e, float alpha, uint64_t *rnd)
{
    const int D = tr->D;
    if (tr->o->hs) {
        const uint8_t *code = tr->code + (size_t)word * W2V_MAX_CODE;
        const int32_t *point = tr->point + (size_t)word * W2V_MAX_CODE;
        for (int d = 0; d < tr->codelen[word]; d++) {
            float *l2 = tr->syn1 + (size_t)point[d] * D;
            float f = dotf(l1, l2, D);
            if (f <= -W2V_MAX_EXP || f >= W2V_MAX_EXP) continue;
            f = tr->exptab[(int)((f + W2V_MAX_EXP) * (W2V_EXP_N / W2V_MAX_EXP / 2))];
            float g = (1.0f - code[d] - f) * alpha;
            axpyf(e, g, l2, D);
            axpyf(l2, g, l1, D);
        }
    }
    for (int d = 0; d <= tr->o->negative && tr->o->negative > 0; d++) {
        int target;
        float label;
        if (d == 0) {
            target = word;
            label = 1.0f;
        } else {
            uint64_t r = lcg(rnd);
            target = alias_draw(tr, r);
            if (target == 0) target = (int)(r % (uint64_t)(tr->V - 1)) + 1;
            if (target == word) continue;
            label = 0.0f;
        }
        float *l2 = tr->syn1neg + (size_t)target * D;
        float f = dotf(l1, l2, D), g;
        if (f > W2V_MAX_EXP) g = (label - 1.0f) * alpha;
        else if (f < -W2V_MAX_EXP) g = label * alpha;
        else g = (label - tr->exptab[(int)((f + W2V_MAX_EXP) * (W2V_EXP_N / W2V_MAX_EXP / 2))]) * alpha;
        axpyf(e, g, l2, D);
        axpyf(l2, g, l1, D);
    }
}

static void progress(w2v_trainer *tr, int final)
{
    FILE *f = tr->o->progress;
    if (!f) return;
    double now = sl_now();
    if (!final && now - tr->last_print < 0.2) return;
    tr->last_print = now;
    uint64_t done = __atomic_load_n(&tr->words_actual, __ATOMIC_RELAXED);
    double total = (double)tr->o->iter * (double)tr->train_words + 1;
    double el = now - tr->t0;
    fprintf(f, "%cAlpha: %f  Progress: %.2f%%  Words/thread/sec: %.2fk  ", 13, tr->alpha, final ? 100.0 : done / total * 100.0,
            el > 0 ? done / (el * tr->threads) / 1000.0 : 0.0);
    if (final) fputc('\n', f);
    fflush(f);
}

/* The hot loop is SL_CLONES3 (core/fastmath.h): AVX-512, AVX2+FMA and the baseline, chosen at
 * load time, since the build cannot assume the CPU. */
SL_CLONES3
static void train_thread(w2v_trainer *tr, int tid)
{
    const sl_w2v_opts *o = tr->o;
    const int D = tr->D, win = o->window;
    uint64_t rnd = o->seed + (uint64_t)tid;
    float *neu1 = calloc((size_t)D, sizeof *neu1), *neu1e = calloc((size_t)D, sizeof *neu1e);
    int32_t sen[W2V_MAX_SENT + 1];
    sl_corpus *c = NULL;
    int rc = (!neu1 || !neu1e) ? sl_error(SL_ENOMEM, "word2vec: out of memory") : sl_corpus_open(o->train, &c);
    uint64_t start = tr->file_size / (uint64_t)tr->threads * (uint64_t)tid;
    if (!rc && start) rc = sl_corpus_seek(c, start);
    if (rc) {
        #pragma omp critical(w2v_err)
        if (!tr->err) {
            tr->err = rc;
            snprintf(tr->errmsg, sizeof tr->errmsg, "%s", sl_errmsg());
        }
        free(neu1);
        free(neu1e);
        sl_corpus_close(c);
        return;
    }
    const uint64_t quota = tr->train_words / (uint64_t)tr->threads;
    uint64_t word_count = 0, last_count = 0;
    int local_iter = o->iter, slen = 0, spos = 0, eof = 0;
    float alpha = tr->alpha;
    for (;;) {
        if (word_count - last_count > 10000) {
            uint64_t done = __atomic_add_fetch(&tr->words_actual, word_count - last_count, __ATOMIC_RELAXED);
            last_count = word_count;
            alpha = tr->alpha0 * (float)(1.0 - done / ((double)o->iter * (double)tr->train_words + 1));
            if (alpha < tr->alpha0 * 0.0001f) alpha = tr->alpha0 * 0.0001f;
            tr->alpha = alpha;
            if (tid == 0) progress(tr, 0);
        }
        if (slen == 0) {
            for (;;) {
                const char *w;
                size_t len;
                int r = sl_corpus_next_word(c, &w, &len);
                if (r <= 0) {
                    eof = 1;
                    break;
                }
                int id = r == SL_CORPUS_EOL ? 0 : sl_vocab_find(tr->vocab, w, len);
                if (id < 0) continue;
                word_count++;
                if (id == 0) break;
                if (o->sample > 0 && tr->keep[id] < (lcg(&rnd) & 0xFFFF) / 65536.0f) continue;
                sen[slen++] = id;
                if (slen >= W2V_MAX_SENT) break;
            }
            spos = 0;
        }
        if (eof || word_count > quota) {
            __atomic_add_fetch(&tr->words_actual, word_count - last_count, __ATOMIC_RELAXED);
            if (--local_iter == 0) break;
            word_count = last_count = 0;
            slen = 0;
            eof = 0;
            if (sl_corpus_seek(c, start)) break;
            continue;
        }
        if (slen == 0) continue;
        const int word = sen[spos];
        const int b = (int)(lcg(&rnd) % (uint64_t)win);
        if (o->cbow) {
            memset(neu1, 0, (size_t)D * sizeof *neu1);
            memset(neu1e, 0, (size_t)D * sizeof *neu1e);
            int cw = 0;
            for (int a = b; a < 2 * win + 1 - b; a++) {
                if (a == win) continue;
                int cpos = spos - win + a;
                if (cpos < 0 || cpos >= slen) continue;
                axpyf(neu1, 1.0f, tr->syn0 + (size_t)sen[cpos] * D, D);
                cw++;
            }
            if (cw) {
                float inv = 1.0f / cw;
                for (int i = 0; i < D; i++) neu1[i] *= inv;
                train_pair(tr, neu1, word, neu1e, alpha, &rnd);
                for (int a = b; a < 2 * win + 1 - b; a++) {
                    if (a == win) continue;
                    int cpos = spos - win + a;
                    if (cpos < 0 || cpos >= slen) continue;
                    axpyf(tr->syn0 + (size_t)sen[cpos] * D, 1.0f, neu1e, D);
                }
            }
        } else {
            for (int a = b; a < 2 * win + 1 - b; a++) {
                if (a == win) continue;
                int cpos = spos - win + a;
                if (cpos < 0 || cpos >= slen) continue;
                float *l1 = tr->syn0 + (size_t)sen[cpos] * D;
                memset(neu1e, 0, (size_t)D * sizeof *neu1e);
                train_pair(tr, l1, word, neu1e, alpha, &rnd);
                axpyf(l1, 1.0f, neu1e, D);
            }
        }
        if (++spos >= slen) slen = 0;
    }
    sl_corpus_close(c);
    free(neu1);
    free(neu1e);
}

int sl_w2v_train(const sl_w2v_opts *o, sl_w2v **out, sl_w2v_stats *st)
{
    *out = NULL;
    if (!o->train) return sl_error(SL_EINVAL, "word2vec: no training file");
    if (o->size < 1 || o->window < 1 || o->iter < 1 || o->threads < 1 || o->negative < 0 || o->sample < 0 || o->min_count < 1)
        return sl_error(SL_EINVAL, "word2vec: bad options (size, window, iter, threads, min-count must be >= 1)");
    if (!o->hs && o->negative == 0) return sl_error(SL_EINVAL, "word2vec: need -hs 1 or -negative > 0");
    w2v_trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = o;
    tr.D = o->size;
    tr.threads = o->threads;
    tr.alpha0 = tr.alpha = (float)(o->alpha > 0 ? o->alpha : (o->cbow ? 0.05 : 0.025));
    for (int i = 0; i <= W2V_EXP_N; i++) {
        double e = exp(((double)i / W2V_EXP_N * 2 - 1) * W2V_MAX_EXP);
        tr.exptab[i] = (float)(e / (e + 1));
    }
    double tv = sl_now();
    int rc = build_vocab(&tr);
    if (rc) goto done;
    if (tr.file_size == 0 && o->threads > 1) {
        rc = sl_error(SL_EINVAL, "%s: more than one thread needs a regular file", o->train);
        goto done;
    }
    const int V = tr.V, D = tr.D;
    if (o->progress) {
        fprintf(o->progress, "Starting training using file %s\nVocab size: %d\nWords in train file: %llu\n", o->train, V,
                (unsigned long long)tr.train_words);
    }
    tr.syn0 = malloc((size_t)V * D * sizeof(float));
    if (!tr.syn0) {
        rc = sl_error(SL_ENOMEM, "word2vec: out of memory (%d x %d)", V, D);
        goto done;
    }
    uint64_t r = o->seed;
    for (size_t i = 0; i < (size_t)V * D; i++) tr.syn0[i] = (((lcg(&r) & 0xFFFF) / 65536.0f) - 0.5f) / (float)D;
    if (o->hs) {
        tr.syn1 = calloc((size_t)V * D, sizeof(float));
        if (!tr.syn1) {
            rc = sl_error(SL_ENOMEM, "word2vec: out of memory");
            goto done;
        }
        if ((rc = build_huffman(&tr))) goto done;
    }
    if (o->negative > 0) {
        tr.syn1neg = calloc((size_t)V * D, sizeof(float));
        if (!tr.syn1neg) {
            rc = sl_error(SL_ENOMEM, "word2vec: out of memory");
            goto done;
        }
        if ((rc = build_table(&tr))) goto done;
    }
    if (o->sample > 0) {
        tr.keep = malloc((size_t)V * sizeof *tr.keep);
        if (!tr.keep) {
            rc = sl_error(SL_ENOMEM, "word2vec: out of memory");
            goto done;
        }
        const double thr = o->sample * (double)tr.train_words;
        for (int i = 0; i < V; i++) {
            double cn = (double)tr.vocab->counts[i];
            tr.keep[i] = cn > 0 ? (float)((sqrt(cn / thr) + 1) * thr / cn) : 1.0f;
        }
    }
    double vocab_s = sl_now() - tv;
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    tr.t0 = sl_now();
    #pragma omp parallel num_threads(o->threads)
    train_thread(&tr, omp_get_thread_num());
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    if (tr.err) {
        rc = sl_error(tr.err, "%s", tr.errmsg);
        goto done;
    }
    double secs = sl_now() - tr.t0;
    progress(&tr, 1);
    sl_w2v *w;
    if ((rc = sl_w2v_alloc(V, D, &w))) goto done;
    for (int i = 0; i < V && !rc; i++) {
        rc = sl_w2v_set_word(w, i, tr.vocab->words[i]);
        w->counts[i] = tr.vocab->counts[i];
    }
    if (rc) {
        sl_w2v_free(w);
        goto done;
    }
    memcpy(w->vec, tr.syn0, (size_t)V * D * sizeof(float));
    if (st) {
        st->train_words = tr.train_words;
        st->words_done = tr.words_actual;
        st->seconds = secs;
        st->vocab_seconds = vocab_s;
        st->words_per_sec = secs > 0 ? tr.words_actual / secs : 0;
        st->cpu_seconds = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    }
    *out = w;
done:
    sl_vocab_free(tr.vocab);
    free(tr.syn0);
    free(tr.syn1);
    free(tr.syn1neg);
    free(tr.alias_p);
    free(tr.alias_i);
    free(tr.keep);
    free(tr.code);
    free(tr.point);
    free(tr.codelen);
    return rc;
}
