/* nlp/ngram.c — n-gram counting, estimation and backoff scoring.
 *
 * Estimation follows Chen & Goodman (1998) for (modified) Kneser-Ney, with the <s>/</s>/<unk>
 * conventions of KenLM's lmplz (see nlp/ngram.h); the arithmetic is done in double.
 */
#include "nlp/ngram.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                    */

void sl_ngram_opts_default(sl_ngram_opts *o, int order)
{
    memset(o, 0, sizeof *o);
    o->order = order;
    o->method = SL_NGRAM_MKN;
    o->k = 1.0;
    o->discount = 0.0;
    o->discount_fallback = 0;
    o->fallback[0] = 0.5;
    o->fallback[1] = 1.0;
    o->fallback[2] = 1.5;
}

int sl_ngram_method_parse(const char *s, sl_ngram_method *m)
{
    if (!strcmp(s, "mle")) *m = SL_NGRAM_MLE;
    else if (!strcmp(s, "addk")) *m = SL_NGRAM_ADDK;
    else if (!strcmp(s, "kn")) *m = SL_NGRAM_KN;
    else if (!strcmp(s, "mkn")) *m = SL_NGRAM_MKN;
    else return sl_error(SL_EINVAL, "unknown n-gram method \"%s\" (mle, addk, kn, mkn)", s);
    return SL_OK;
}

const char *sl_ngram_method_name(sl_ngram_method m)
{
    static const char *names[] = {"mle", "addk", "kn", "mkn"};
    return (unsigned)m < 4 ? names[m] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* sl_ngtab: open addressing over packed tuples                                              */

static inline uint64_t tuple_hash(const int32_t *key, int k)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1);
    for (int i = 0; i < k; i++) {
        h ^= (uint32_t)key[i];
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    h ^= h >> 29;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 32;
    return h;
}

int sl_ngtab_init(sl_ngtab *t, int k, size_t cap_hint)
{
    memset(t, 0, sizeof *t);
    t->k = k;
    t->cap = cap_hint < 16 ? 16 : cap_hint;
    t->nslots = 32;
    while (t->nslots < 2 * t->cap) t->nslots *= 2;
    t->keys = malloc(t->cap * (size_t)k * sizeof *t->keys);
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->keys || !t->slots) {
        sl_ngtab_destroy(t);
        return sl_error(SL_ENOMEM, "n-gram table: out of memory");
    }
    return SL_OK;
}

void sl_ngtab_destroy(sl_ngtab *t)
{
    if (!t->borrowed) {
        free(t->keys);
        free(t->slots);
    }
    memset(t, 0, sizeof *t);
}

/* a == b over k ids (inline: a libc memcmp call per probe costs more than the compare) */
static inline int tuple_eq(const int32_t *a, const int32_t *b, int k)
{
    for (int i = 0; i < k; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

long sl_ngtab_find(const sl_ngtab *t, const int32_t *key)
{
    if (!t->slots) return -1;
    const int k = t->k;
    size_t mask = t->nslots - 1, i = tuple_hash(key, k) & mask;
    for (;;) {
        uint32_t e = t->slots[i];
        if (!e) return -1;
        if (tuple_eq(t->keys + (size_t)(e - 1) * k, key, k)) return (long)(e - 1);
        i = (i + 1) & mask;
    }
}

static int ngtab_rehash(sl_ngtab *t, size_t nslots)
{
    uint32_t *s = calloc(nslots, sizeof *s);
    if (!s) return sl_error(SL_ENOMEM, "n-gram table: out of memory (%zu slots)", nslots);
    for (size_t e = 0; e < t->n; e++) {
        size_t i = tuple_hash(t->keys + e * t->k, t->k) & (nslots - 1);
        while (s[i]) i = (i + 1) & (nslots - 1);
        s[i] = (uint32_t)(e + 1);
    }
    free(t->slots);
    t->slots = s;
    t->nslots = nslots;
    return SL_OK;
}

long sl_ngtab_insert(sl_ngtab *t, const int32_t *key, int *is_new)
{
    if (t->borrowed) return sl_error(SL_EUNSUPPORTED, "n-gram table of a mapped binary model is read-only");
    size_t mask = t->nslots - 1, i = tuple_hash(key, t->k) & mask;
    const size_t kb = (size_t)t->k * sizeof *key;
    for (;;) {
        uint32_t e = t->slots[i];
        if (!e) break;
        if (tuple_eq(t->keys + (size_t)(e - 1) * t->k, key, t->k)) {
            if (is_new) *is_new = 0;
            return (long)(e - 1);
        }
        i = (i + 1) & mask;
    }
    if (t->n >= UINT32_MAX - 1) return sl_error(SL_ENOMEM, "n-gram table: too many entries");
    if (t->n == t->cap) {
        size_t nc = t->cap * 2;
        int32_t *nk = realloc(t->keys, nc * (size_t)t->k * sizeof *nk);
        if (!nk) return sl_error(SL_ENOMEM, "n-gram table: out of memory");
        t->keys = nk;
        t->cap = nc;
    }
    if (2 * (t->n + 1) > t->nslots) {
        int rc = ngtab_rehash(t, t->nslots * 2);
        if (rc) return rc;
        mask = t->nslots - 1;
        i = tuple_hash(key, t->k) & mask;
        while (t->slots[i]) i = (i + 1) & mask;
    }
    memcpy(t->keys + t->n * t->k, key, kb);
    t->slots[i] = (uint32_t)(t->n + 1);
    t->sorted = 0;
    if (is_new) *is_new = 1;
    return (long)t->n++;
}

size_t sl_ngtab_bytes(const sl_ngtab *t) { return t->cap * (size_t)t->k * sizeof(int32_t) + t->nslots * sizeof(uint32_t); }

/* ------------------------------------------------------------------------------------------ */
/* model                                                                                      */

int sl_ngram_alloc(int order, sl_ngram_lm **out)
{
    *out = NULL;
    if (order < 1 || order > SL_NGRAM_MAX_ORDER)
        return sl_error(SL_EINVAL, "n-gram order %d out of range [1, %d]", order, SL_NGRAM_MAX_ORDER);
    sl_ngram_lm *lm = calloc(1, sizeof *lm);
    if (!lm) return sl_error(SL_ENOMEM, "n-gram model: out of memory");
    lm->order = order;
    lm->unk_prob = -100.0f;
    lm->has_unk = 1;
    sl_ngram_opts_default(&lm->opts, order);
    int rc = SL_OK;
    lm->vocab = sl_vocab_alloc();
    if (!lm->vocab) rc = SL_ENOMEM;
    if (!rc) rc = sl_vocab_add_specials(lm->vocab);
    for (int k = 0; !rc && k < order; k++) {
        rc = sl_ngtab_init(&lm->tab[k], k + 1, 1024);
        if (!rc) {
            lm->count[k] = calloc(lm->tab[k].cap, sizeof(uint64_t));
            if (!lm->count[k]) rc = sl_error(SL_ENOMEM, "n-gram model: out of memory");
        }
    }
    if (rc) {
        sl_ngram_free(lm);
        return rc;
    }
    *out = lm;
    return SL_OK;
}

void sl_ngram_free(sl_ngram_lm *lm)
{
    if (!lm) return;
    for (int k = 0; k < SL_NGRAM_MAX_ORDER; k++) {
        sl_ngtab_destroy(&lm->tab[k]);
        if (!lm->map) {
            free(lm->prob[k]);
            free(lm->bow[k]);
        }
        free(lm->count[k]);
    }
    if (lm->map) { /* a mapped binary model: the words and slots live in the mapping */
        if (lm->vocab) free(lm->vocab->words);
        free(lm->vocab);
        munmap(lm->map, lm->map_size);
    } else {
        sl_vocab_free(lm->vocab);
    }
    free(lm);
}

int32_t sl_ngram_word(const sl_ngram_lm *lm, const char *w, size_t len)
{
    int id = sl_vocab_find(lm->vocab, w, len);
    return id < 0 ? SL_NGRAM_UNK : id;
}

/* insert key into order k (1-based) and add c to its count, growing the count array along */
static int count_add(sl_ngram_lm *lm, int k, const int32_t *key, uint64_t c)
{
    sl_ngtab *t = &lm->tab[k - 1];
    size_t oldcap = t->cap;
    int is_new;
    long e = sl_ngtab_insert(t, key, &is_new);
    if (e < 0) return (int)e;
    if (t->cap != oldcap) {
        uint64_t *nc = realloc(lm->count[k - 1], t->cap * sizeof *nc);
        if (!nc) return sl_error(SL_ENOMEM, "n-gram counts: out of memory");
        memset(nc + oldcap, 0, (t->cap - oldcap) * sizeof *nc);
        lm->count[k - 1] = nc;
    }
    lm->count[k - 1][e] += c;
    return SL_OK;
}

int sl_ngram_count_sentence(sl_ngram_lm *lm, const int32_t *w, size_t n, int with_eos)
{
    if (!lm->count[0]) return sl_error(SL_EUNSUPPORTED, "n-gram model was loaded, not counted: cannot add counts");
    int N = lm->order;
    /* window over s = <s> w0 .. w(n-1) [</s>]; every n-gram ending at position i >= 1 */
    int32_t win[SL_NGRAM_MAX_ORDER];
    int have = 1;
    win[0] = SL_NGRAM_BOS;
    size_t total = n + (with_eos ? 1 : 0);
    for (size_t i = 0; i < total; i++) {
        int32_t x = i < n ? w[i] : SL_NGRAM_EOS;
        if (x < 0 || x >= lm->vocab->n || x == SL_NGRAM_BOS) return sl_error(SL_EINVAL, "n-gram count: bad word id %d", (int)x);
        if (have == N) {
            memmove(win, win + 1, (size_t)(N - 1) * sizeof *win);
            have--;
        }
        win[have++] = x;
        for (int k = 1; k <= have; k++) {
            int rc = count_add(lm, k, win + have - k, 1);
            if (rc) return rc;
        }
        if (i < n) lm->tokens++;
    }
    lm->estimated = 0;
    return SL_OK;
}

int sl_ngram_count_file(sl_ngram_lm *lm, const char *path)
{
    sl_corpus *c;
    int rc = sl_corpus_open(path, &c);
    if (rc) return rc;
    size_t cap = 256, n = 0;
    int32_t *sent = malloc(cap * sizeof *sent);
    if (!sent) {
        sl_corpus_close(c);
        return sl_error(SL_ENOMEM, "n-gram count: out of memory");
    }
    const char *w;
    size_t len;
    for (;;) {
        int r = sl_corpus_next_word(c, &w, &len);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == SL_CORPUS_EOF) {
            if (n) rc = sl_ngram_count_sentence(lm, sent, n, 0);
            break;
        }
        if (r == SL_CORPUS_EOL) {
            rc = sl_ngram_count_sentence(lm, sent, n, 1);
            n = 0;
            if (rc) break;
            continue;
        }
        int id;
        if ((len == 3 && !memcmp(w, SL_BOS, 3)) || (len == 4 && !memcmp(w, SL_EOS, 4)) || (len == 5 && !memcmp(w, SL_UNK, 5)))
            continue; /* lmplz: special words in the text are whitespace */
        if ((rc = sl_vocab_add(lm->vocab, w, len, 1, &id))) break;
        if (n == cap) {
            int32_t *ns = realloc(sent, 2 * cap * sizeof *ns);
            if (!ns) {
                rc = sl_error(SL_ENOMEM, "n-gram count: out of memory");
                break;
            }
            sent = ns;
            cap *= 2;
        }
        sent[n++] = id;
    }
    free(sent);
    if (rc) rc = sl_error_wrap(rc, "%s:%llu", path ? path : "<stdin>", (unsigned long long)sl_corpus_line(c));
    sl_corpus_close(c);
    return rc;
}

size_t sl_ngram_total(const sl_ngram_lm *lm)
{
    size_t s = 0;
    for (int k = 0; k < lm->order; k++) s += lm->tab[k].n;
    return s;
}

size_t sl_ngram_bytes(const sl_ngram_lm *lm)
{
    size_t b = 0;
    for (int k = 0; k < lm->order; k++) {
        b += sl_ngtab_bytes(&lm->tab[k]);
        if (lm->prob[k]) b += lm->tab[k].n * sizeof(float);
        if (lm->bow[k]) b += lm->tab[k].n * sizeof(float);
        if (lm->count[k]) b += lm->tab[k].cap * sizeof(uint64_t);
    }
    return b;
}

/* ------------------------------------------------------------------------------------------ */
/* estimation                                                                                 */

/* Renumber the k-grams (k 1-based) in id-tuple order, counts along: an LSD radix sort of the
 * records (a stable counting sort per column, last column first), then the slots are rebuilt.
 * Estimation and the ARPA writer then walk every table in order, and consecutive k-grams
 * share their context. */
static int ngram_sort_order(sl_ngram_lm *lm, int k)
{
    sl_ngtab *t = &lm->tab[k - 1];
    const size_t n = t->n;
    const int V = lm->vocab->n;
    if (t->sorted) return SL_OK;
    if (n < 2) {
        t->sorted = 1;
        return SL_OK;
    }
    int32_t *k2 = malloc(n * (size_t)k * sizeof *k2);
    uint64_t *c2 = malloc(n * sizeof *c2);
    uint32_t *cnt = malloc(((size_t)V + 1) * sizeof *cnt);
    if (!k2 || !c2 || !cnt) {
        free(k2);
        free(c2);
        free(cnt);
        return sl_error(SL_ENOMEM, "n-gram sort: out of memory");
    }
    int32_t *keys = t->keys;
    uint64_t *cs = lm->count[k - 1];
    for (int c = k - 1; c >= 0; c--) {
        memset(cnt, 0, ((size_t)V + 1) * sizeof *cnt);
        for (size_t i = 0; i < n; i++) cnt[keys[i * k + c] + 1]++;
        for (int v = 0; v < V; v++) cnt[v + 1] += cnt[v];
        for (size_t i = 0; i < n; i++) {
            size_t j = cnt[keys[i * k + c]]++;
            memcpy(k2 + j * k, keys + i * k, (size_t)k * sizeof *keys);
            c2[j] = cs[i];
        }
        int32_t *tk = keys;
        keys = k2;
        k2 = tk;
        uint64_t *tc = cs;
        cs = c2;
        c2 = tc;
    }
    free(k2);
    free(c2);
    free(cnt);
    t->keys = keys;
    lm->count[k - 1] = cs;
    t->cap = n;
    memset(t->slots, 0, t->nslots * sizeof *t->slots);
    const size_t mask = t->nslots - 1;
    for (size_t e = 0; e < n; e++) {
        size_t i = tuple_hash(keys + e * k, k) & mask;
        while (t->slots[i]) i = (i + 1) & mask;
        t->slots[i] = (uint32_t)(e + 1);
    }
    t->sorted = 1;
    return SL_OK;
}

/* the first k ids of a and b agree */
static inline int same_prefix(const int32_t *a, const int32_t *b, int k)
{
    for (int i = 0; i < k; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static double disc_get(const double *D, uint64_t c) { return D[c < 3 ? c : 3]; }

/* Chen & Goodman eq. 26 from counts-of-counts n[1..4]; 0 ok, else the failing j. */
static int mkn_discounts(const uint64_t *n, double *D)
{
    D[0] = 0.0;
    for (int j = 1; j <= 3; j++)
        if (n[j] == 0) return j;
    double Y = (double)n[1] / ((double)n[1] + 2.0 * (double)n[2]);
    for (int j = 1; j <= 3; j++) {
        D[j] = j - (j + 1) * Y * (double)n[j + 1] / (double)n[j];
        if (D[j] < 0.0 || D[j] > j) return j;
    }
    return 0;
}

static int ensure_values(sl_ngram_lm *lm)
{
    for (int k = 0; k < lm->order; k++) {
        free(lm->prob[k]);
        free(lm->bow[k]);
        lm->bow[k] = NULL;
        size_t n = lm->tab[k].n ? lm->tab[k].n : 1;
        lm->prob[k] = malloc(n * sizeof(float));
        if (!lm->prob[k]) return sl_error(SL_ENOMEM, "n-gram model: out of memory");
        if (k + 1 < lm->order) {
            lm->bow[k] = malloc(n * sizeof(float));
            if (!lm->bow[k]) return sl_error(SL_ENOMEM, "n-gram model: out of memory");
        }
    }
    return SL_OK;
}

int sl_ngram_estimate(sl_ngram_lm *lm, const sl_ngram_opts *o)
{
    if (!lm->count[0]) return sl_error(SL_EUNSUPPORTED, "n-gram model has no counts to estimate from");
    if (o->order != lm->order)
        return sl_error(SL_EINVAL, "n-gram estimate: options order %d != model order %d", o->order, lm->order);
    if (o->method == SL_NGRAM_ADDK && !(o->k > 0)) return sl_error(SL_EINVAL, "add-k: k must be > 0 (got %g)", o->k);
    const int N = lm->order;
    int rc;
    /* <unk> and <s> are unigrams with count 0 even if never seen (lmplz does the same) */
    int32_t sp[1] = {SL_NGRAM_UNK};
    if ((rc = count_add(lm, 1, sp, 0))) return rc;
    sp[0] = SL_NGRAM_BOS;
    if ((rc = count_add(lm, 1, sp, 0))) return rc;
    sp[0] = SL_NGRAM_EOS;
    if ((rc = count_add(lm, 1, sp, 0))) return rc;
    for (int k = 1; k <= N; k++)
        if ((rc = ngram_sort_order(lm, k))) return rc;
    if ((rc = ensure_values(lm))) return rc;
    lm->opts = *o;
    lm->has_unk = 1;

    const int kn = o->method == SL_NGRAM_KN || o->method == SL_NGRAM_MKN;
    int pruning = 0;
    for (int k = 0; k < N; k++) {
        if (!o->prune[k]) continue;
        pruning = 1;
        if (k == 0) return sl_error(SL_EINVAL, "pruning: the unigram threshold must be 0 (unigrams are never pruned)");
        if (o->prune[k] < o->prune[k - 1])
            return sl_error(SL_EINVAL, "pruning thresholds must be non-decreasing (order %d: %llu after %llu)", k + 1,
                            (unsigned long long)o->prune[k], (unsigned long long)o->prune[k - 1]);
    }
    if (pruning && !kn) return sl_error(SL_EINVAL, "pruning applies to the Kneser-Ney methods (kn, mkn)");
    double *pmass[SL_NGRAM_MAX_ORDER] = {0}; /* per context: adjusted counts of its pruned extensions */
    uint64_t *adj[SL_NGRAM_MAX_ORDER] = {0};
    double *den[SL_NGRAM_MAX_ORDER] = {0}; /* per (k)-gram as a context of order k+1 */
    double *gam[SL_NGRAM_MAX_ORDER] = {0};
    double *p[SL_NGRAM_MAX_ORDER] = {0};     /* interpolated probabilities */
    uint32_t *suf[SL_NGRAM_MAX_ORDER] = {0}; /* k-gram (k >= 2) -> entry of its (k-1)-word suffix */
    rc = SL_OK;
    for (int k = 0; k < N && !rc; k++) {
        size_t n = lm->tab[k].n ? lm->tab[k].n : 1;
        adj[k] = calloc(n, sizeof(uint64_t));
        den[k] = calloc(n, sizeof(double));
        gam[k] = calloc(n * 4, sizeof(double)); /* 3 class counts + gamma */
        p[k] = calloc(n, sizeof(double));
        if (k > 0) suf[k] = malloc(n * sizeof(uint32_t));
        if (pruning) pmass[k] = calloc(n, sizeof(double));
        if (!adj[k] || !den[k] || !gam[k] || !p[k] || (k > 0 && !suf[k]) || (pruning && !pmass[k]))
            rc = sl_error(SL_ENOMEM, "n-gram estimate: out of memory");
    }
    double uni_den = 0, uni_cls[4] = {0};
    if (rc) goto done;

    /* adjusted counts */
    for (int k = 0; k < N; k++) {
        const sl_ngtab *t = &lm->tab[k];
        for (size_t e = 0; e < t->n; e++) {
            const int32_t *key = t->keys + e * t->k;
            if (!kn || k == N - 1 || key[0] == SL_NGRAM_BOS) adj[k][e] = lm->count[k][e];
        }
        if (k == 0) {
            long b = sl_ngtab_find(t, (int32_t[]){SL_NGRAM_BOS});
            adj[0][b] = 0; /* <s> is never predicted */
        }
    }
    for (int k = 1; k < N; k++) { /* suffixes; (k+1)-grams give theirs a continuation count */
        const sl_ngtab *t = &lm->tab[k];
        for (size_t e = 0; e < t->n; e++) {
            const int32_t *key = t->keys + e * t->k;
            long s = sl_ngtab_find(&lm->tab[k - 1], key + 1);
            if (s < 0) {
                rc = sl_error(SL_EFORMAT, "n-gram counts: missing suffix");
                goto done;
            }
            suf[k][e] = (uint32_t)s;
            if (kn && key[1] != SL_NGRAM_BOS) adj[k - 1][s]++;
        }
    }
    /* counts-of-counts and discounts */
    for (int k = 0; k < N; k++) {
        memset(lm->coc[k], 0, sizeof lm->coc[k]);
        for (size_t e = 0; e < lm->tab[k].n; e++)
            if (adj[k][e] < 5) lm->coc[k][adj[k][e]]++;
        double *D = lm->discount[k];
        memset(D, 0, 4 * sizeof *D);
        if (o->method == SL_NGRAM_MKN) {
            int bad = mkn_discounts(lm->coc[k], D);
            if (bad) {
                if (!o->discount_fallback) {
                    rc = sl_error(SL_EINVAL,
                                  "cannot estimate modified Kneser-Ney discount D%d%s for order %d "
                                  "(counts-of-counts n1..n4 = %llu %llu %llu %llu): data too small or "
                                  "artificial; use the discount fallback",
                                  bad, bad == 3 ? "+" : "", k + 1, (unsigned long long)lm->coc[k][1],
                                  (unsigned long long)lm->coc[k][2], (unsigned long long)lm->coc[k][3],
                                  (unsigned long long)lm->coc[k][4]);
                    goto done;
                }
                D[0] = 0;
                D[1] = o->fallback[0];
                D[2] = o->fallback[1];
                D[3] = o->fallback[2];
            }
        } else if (o->method == SL_NGRAM_KN) {
            double d;
            if (o->discount > 0) {
                d = o->discount;
            } else if (lm->coc[k][1] && lm->coc[k][2]) {
                d = (double)lm->coc[k][1] / ((double)lm->coc[k][1] + 2.0 * (double)lm->coc[k][2]);
            } else if (o->discount_fallback) {
                d = o->fallback[0];
            } else {
                rc = sl_error(SL_EINVAL,
                              "cannot estimate the Kneser-Ney discount for order %d (n1 = %llu, n2 = %llu): "
                              "data too small; give a discount or use the fallback",
                              k + 1, (unsigned long long)lm->coc[k][1], (unsigned long long)lm->coc[k][2]);
                goto done;
            }
            if (d >= 1.0) {
                rc = sl_error(SL_EINVAL, "Kneser-Ney discount %g for order %d must be < 1", d, k + 1);
                goto done;
            }
            D[1] = D[2] = D[3] = d;
        }
    }

    /* V: unigrams without <s> (includes <unk> and </s>) */
    const double V = (double)lm->tab[0].n - 1.0;
    const double K = o->k;

    /* context sums: den[k-1][ctx] = sum of (adjusted) counts of k-grams with that context,
     * gam[...] = number of those in discount classes 1, 2, 3+ */
    for (int k = 0; k < N; k++) {
        const sl_ngtab *t = &lm->tab[k];
        long c = -1; /* the context of the previous k-gram (sorted: runs share it) */
        for (size_t e = 0; e < t->n; e++) {
            const int32_t *key = t->keys + e * t->k;
            if (k == 0 && key[0] == SL_NGRAM_BOS) continue;
            uint64_t a = adj[k][e];
            double *dd, *cls;
            if (k == 0) {
                dd = &uni_den;
                cls = uni_cls;
            } else {
                if (c < 0 || !same_prefix(key, key - t->k, k)) c = sl_ngtab_find(&lm->tab[k - 1], key);
                if (c < 0) {
                    rc = sl_error(SL_EFORMAT, "n-gram counts: missing prefix");
                    goto done;
                }
                dd = &den[k - 1][c];
                cls = &gam[k - 1][4 * c];
            }
            *dd += (double)a;
            if (k > 0 && o->prune[k] && lm->count[k][e] <= o->prune[k]) {
                pmass[k - 1][c] += (double)a; /* pruned: all of its mass to the backoff (lmplz) */
                continue;
            }
            if (a > 0) cls[a < 3 ? a - 1 : 2] += 1.0;
        }
    }
    /* gamma per context: the mass left for the lower order */
    for (int k = 0; k < N; k++) {
        size_t n = k == 0 ? 1 : lm->tab[k - 1].n;
        for (size_t c = 0; c < n; c++) {
            double d = k == 0 ? uni_den : den[k - 1][c];
            double *cls = k == 0 ? uni_cls : &gam[k - 1][4 * c];
            if (d <= 0) continue;
            const double *D = lm->discount[k];
            double g;
            switch (o->method) {
            case SL_NGRAM_MLE: g = 0.0; break;
            case SL_NGRAM_ADDK: g = K * V / (d + K * V); break;
            default:
                g = D[1] * cls[0] + D[2] * cls[1] + D[3] * cls[2];
                if (k > 0 && pmass[k - 1]) g += pmass[k - 1][c];
                g /= d;
                break;
            }
            cls[3] = g;
        }
    }
    /* probabilities, lowest order first */
    for (int k = 0; k < N; k++) {
        const sl_ngtab *t = &lm->tab[k];
        const double *D = lm->discount[k];
        long c = -1;
        for (size_t e = 0; e < t->n; e++) {
            const int32_t *key = t->keys + e * t->k;
            double a = (double)adj[k][e], pr;
            if (k == 0 && key[0] == SL_NGRAM_BOS) {
                p[0][e] = 1.0;
                continue;
            }
            double d, g, lower;
            if (k == 0) {
                d = uni_den;
                g = uni_cls[3];
                lower = 1.0 / V;
            } else {
                if (c < 0 || !same_prefix(key, key - t->k, k)) c = sl_ngtab_find(&lm->tab[k - 1], key);
                long s = suf[k][e];
                d = den[k - 1][c];
                g = gam[k - 1][4 * c + 3];
                lower = p[k - 1][s];
            }
            switch (o->method) {
            case SL_NGRAM_MLE:
                if (k == 0 && d <= 0) pr = 1.0 / V;
                else pr = d > 0 ? a / d : 0.0;
                break;
            case SL_NGRAM_ADDK:
                if (k == 0) pr = (a + K) / (d + K * V);
                else pr = (a + K * V * lower) / (d + K * V);
                break;
            default: pr = d > 0 ? (a - disc_get(D, adj[k][e])) / d + g * lower : lower; break;
            }
            p[k][e] = pr;
        }
    }
    /* log10 values and backoffs */
    for (int k = 0; k < N; k++) {
        const sl_ngtab *t = &lm->tab[k];
        for (size_t e = 0; e < t->n; e++) {
            const int32_t *key = t->keys + e * t->k;
            double pr = p[k][e];
            float lp = pr > 0 ? (float)log10(pr) : -99.0f;
            if (lp > 0) lp = 0; /* rounding above 1, as lmplz clips */
            if (lp < -99.0f) lp = -99.0f;
            lm->prob[k][e] = lp;
            if (k + 1 < N) {
                float bo = 0.0f;
                int32_t last = key[k];
                if (last != SL_NGRAM_UNK && last != SL_NGRAM_EOS && den[k][e] > 0) {
                    double g = gam[k][4 * e + 3];
                    bo = g > 0 ? (float)log10(g) : -99.0f;
                }
                lm->bow[k][e] = bo;
            }
        }
    }
    /* pruned n-grams leave the tables; raw counts only grow towards lower orders and the
     * thresholds do not decrease, so every kept n-gram's prefix and suffix are kept */
    for (int k = 1; pruning && k < N; k++) {
        if (!o->prune[k]) continue;
        sl_ngtab *t = &lm->tab[k];
        size_t m = 0;
        for (size_t e = 0; e < t->n; e++) {
            if (lm->count[k][e] <= o->prune[k]) continue;
            if (m != e) {
                memcpy(t->keys + m * t->k, t->keys + e * t->k, (size_t)t->k * sizeof *t->keys);
                lm->count[k][m] = lm->count[k][e];
                lm->prob[k][m] = lm->prob[k][e];
                if (lm->bow[k]) lm->bow[k][m] = lm->bow[k][e];
            }
            m++;
        }
        memset(lm->count[k] + m, 0, (t->cap - m) * sizeof *lm->count[k]);
        t->n = m;
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
        const size_t mask = t->nslots - 1;
        for (size_t e = 0; e < m; e++) {
            size_t i = tuple_hash(t->keys + e * t->k, t->k) & mask;
            while (t->slots[i]) i = (i + 1) & mask;
            t->slots[i] = (uint32_t)(e + 1);
        }
    }
    lm->estimated = 1;
    lm->suffix_closed = 1; /* counting adds every suffix of every n-gram; pruning keeps them */
done:
    for (int k = 0; k < N; k++) {
        free(adj[k]);
        free(den[k]);
        free(gam[k]);
        free(p[k]);
        free(suf[k]);
        free(pmass[k]);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* scoring                                                                                    */

float sl_ngram_score(const sl_ngram_lm *lm, const int32_t *ctx, int nctx, int32_t w, int *len)
{
    const int N = lm->order;
    int m = nctx < N - 1 ? nctx : N - 1;
    int32_t key[SL_NGRAM_MAX_ORDER];
    if (m > 0) memcpy(key, ctx + nctx - m, (size_t)m * sizeof *key);
    key[m] = w;
    /* longest match: the n-gram (ctx[-j..], w) for j = m down to 0 */
    float lp = 0;
    int j;
    long e = -1;
    for (j = m; j >= 0; j--) {
        e = sl_ngtab_find(&lm->tab[j], key + m - j);
        if (e >= 0) break;
    }
    if (j < 0) {
        /* word without a unigram: <unk> */
        long u = lm->has_unk ? sl_ngtab_find(&lm->tab[0], (int32_t[]){SL_NGRAM_UNK}) : -1;
        lp = u >= 0 ? lm->prob[0][u] : lm->unk_prob;
        j = 0;
        if (len) *len = 1;
    } else {
        lp = lm->prob[j][e];
        if (len) *len = j + 1;
    }
    /* backoffs of the contexts longer than the match: ctx[-i..] for i = j+1..m */
    for (int i = j + 1; i <= m; i++) {
        long c = sl_ngtab_find(&lm->tab[i - 1], key + m - i);
        if (c >= 0 && lm->bow[i - 1]) lp += lm->bow[i - 1][c];
    }
    return lp;
}

void sl_ngram_check_suffixes(sl_ngram_lm *lm)
{
    lm->suffix_closed = 1;
    for (int k = 1; k < lm->order && lm->suffix_closed; k++) {
        const sl_ngtab *t = &lm->tab[k];
        for (size_t e = 0; e < t->n; e++)
            if (sl_ngtab_find(&lm->tab[k - 1], t->keys + e * t->k + 1) < 0) {
                lm->suffix_closed = 0;
                break;
            }
    }
}

void sl_ngram_state_begin(const sl_ngram_lm *lm, sl_ngram_state *s)
{
    memset(s, 0, sizeof *s);
    if (lm->order < 2) return;
    s->n = 1;
    s->ids[0] = SL_NGRAM_BOS;
    long e = sl_ngtab_find(&lm->tab[0], s->ids);
    if (e >= 0 && lm->bow[0]) s->bow[0] = lm->bow[0][e];
}

float sl_ngram_score_next(const sl_ngram_lm *lm, const sl_ngram_state *in, int32_t w, sl_ngram_state *out, int *len)
{
    const int N = lm->order;
    int m = in->n < N - 1 ? in->n : N - 1;
    int32_t key[SL_NGRAM_MAX_ORDER + 1];
    memcpy(key, in->ids + in->n - m, (size_t)m * sizeof *key);
    key[m] = w;
    float lp = 0.0f;
    sl_ngram_state next;
    next.n = m + 1 < N - 1 ? m + 1 : N - 1;
    if (!lm->suffix_closed) {
        lp = sl_ngram_score(lm, in->ids, in->n, w, len);
        memcpy(next.ids, key + m + 1 - next.n, (size_t)next.n * sizeof *key);
        memset(next.bow, 0, sizeof next.bow);
        *out = next;
        return lp;
    }
    /* upward: (w), (w-1 w), ... until one is missing */
    int L = 0;
    long e = -1;
    if (lm->probe[0]) { /* binary model: hashes extended leftwards, values in the slot */
        uint64_t h = SL_NGRAM_PHASH_SEED;
        for (int l = 1; l <= m + 1; l++) {
            h = sl_ngram_phash_step(h, key[m + 1 - l]);
            const uint64_t want = sl_ngram_phash_final(h), mask = lm->probe_mask[l - 1];
            const sl_ngram_pent *tb = lm->probe[l - 1];
            uint64_t i = want & mask;
            while (tb[i].key && tb[i].key != want) i = (i + 1) & mask;
            if (!tb[i].key) break;
            L = l;
            lp = tb[i].prob;
            if (l <= next.n) next.bow[l - 1] = tb[i].bow;
        }
        for (int l = L + 1; l <= next.n; l++) next.bow[l - 1] = 0.0f;
        if (L == 0) {
            long u = lm->has_unk ? sl_ngtab_find(&lm->tab[0], (int32_t[]){SL_NGRAM_UNK}) : -1;
            lp = u >= 0 ? lm->prob[0][u] : lm->unk_prob;
            L = 1;
        }
        if (len) *len = L;
        for (int i = L; i <= m; i++) lp += in->bow[i - 1];
        memcpy(next.ids, key + m + 1 - next.n, (size_t)next.n * sizeof *key);
        *out = next;
        return lp;
    }
    for (int l = 1; l <= m + 1; l++) {
        long f = sl_ngtab_find(&lm->tab[l - 1], key + m + 1 - l);
        if (f < 0) break;
        e = f;
        L = l;
        if (l <= next.n) next.bow[l - 1] = lm->bow[l - 1] ? lm->bow[l - 1][f] : 0.0f;
    }
    for (int l = L + 1; l <= next.n; l++) next.bow[l - 1] = 0.0f;
    if (L == 0) { /* no unigram: <unk> */
        long u = lm->has_unk ? sl_ngtab_find(&lm->tab[0], (int32_t[]){SL_NGRAM_UNK}) : -1;
        lp = u >= 0 ? lm->prob[0][u] : lm->unk_prob;
        L = 1;
    } else {
        lp = lm->prob[L - 1][e];
    }
    if (len) *len = L;
    for (int i = L; i <= m; i++) lp += in->bow[i - 1]; /* contexts longer than the match */
    memcpy(next.ids, key + m + 1 - next.n, (size_t)next.n * sizeof *key);
    *out = next;
    return lp;
}

float sl_ngram_score_ref(const sl_ngram_lm *lm, const int32_t *ctx, int nctx, int32_t w)
{
    /* p(w|h) = p(hw) if hw is in the model, else bow(h) p(w|h'), recursively */
    int m = nctx < lm->order - 1 ? nctx : lm->order - 1;
    const int32_t *h = ctx + nctx - m;
    int32_t key[SL_NGRAM_MAX_ORDER];
    memcpy(key, h, (size_t)m * sizeof *key);
    key[m] = w;
    long e = sl_ngtab_find(&lm->tab[m], key);
    if (e >= 0) return lm->prob[m][e];
    if (m == 0) {
        long u = sl_ngtab_find(&lm->tab[0], (int32_t[]){SL_NGRAM_UNK});
        return u >= 0 ? lm->prob[0][u] : lm->unk_prob;
    }
    long c = sl_ngtab_find(&lm->tab[m - 1], h);
    float bo = (c >= 0 && lm->bow[m - 1]) ? lm->bow[m - 1][c] : 0.0f;
    return bo + sl_ngram_score_ref(lm, h + 1, m - 1, w);
}
