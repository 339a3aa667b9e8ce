/* nlp/w2v_eval.c — nearest neighbours, analogies (3CosAdd, 3CosMul), word-pair similarity
 * (Spearman), 2-D PCA of word vectors.
 *
 * 3CosAdd (Mikolov et al. 2013): d* = argmax_x cos(x, b - a + c), with unit vectors.
 * 3CosMul (Levy & Goldberg 2014): d* = argmax_x s(x,b) s(x,c) / (s(x,a) + eps), where
 * s = (cos + 1) / 2 and eps = 0.001. In both a, b, c themselves are excluded.
 */
#include "nlp/word2vec.h"

#include "core/error.h"
#include "nlp/vocab.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_statistics_double.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

float *sl_w2v_normalized(const sl_w2v *w)
{
    float *u = malloc((size_t)(w->V ? w->V : 1) * w->D * sizeof *u);
    if (!u) {
        sl_error(SL_ENOMEM, "word vectors: out of memory");
        return NULL;
    }
    for (int i = 0; i < w->V; i++) {
        const float *v = w->vec + (size_t)i * w->D;
        float *o = u + (size_t)i * w->D;
        double s = 0;
        for (int j = 0; j < w->D; j++) s += (double)v[j] * v[j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int j = 0; j < w->D; j++) o[j] = v[j] * inv;
    }
    return u;
}

int sl_w2v_nearest(const sl_w2v *w, const float *unit, const float *q, int restrict_n, const int *exclude, int n_ex, int k,
                   int *ids, float *sims)
{
    int R = restrict_n > 0 && restrict_n < w->V ? restrict_n : w->V;
    float *s = malloc((size_t)(R ? R : 1) * sizeof *s);
    if (!s) return sl_error(SL_ENOMEM, "word vectors: out of memory");
    double qn = 0;
    for (int j = 0; j < w->D; j++) qn += (double)q[j] * q[j];
    qn = qn > 0 ? sqrt(qn) : 1;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, R, w->D, (float)(1.0 / qn), unit, w->D, q, 1, 0.0f, s, 1);
    for (int e = 0; e < n_ex; e++)
        if (exclude[e] >= 0 && exclude[e] < R) s[exclude[e]] = -INFINITY;
    int n = 0;
    for (int i = 0; i < R; i++) {
        if (s[i] == -INFINITY) continue;
        /* insertion into the sorted top-k */
        int p = n < k ? n : k;
        if (p == k && s[i] <= sims[k - 1]) continue;
        while (p > 0 && sims[p - 1] < s[i]) {
            if (p < k) {
                sims[p] = sims[p - 1];
                ids[p] = ids[p - 1];
            }
            p--;
        }
        sims[p] = s[i];
        ids[p] = i;
        if (n < k) n++;
    }
    free(s);
    return n;
}

static void upcase(char *s)
{
    for (; *s; s++) *s = (char)toupper((unsigned char)*s);
}

/* word -> index among the first R words, optionally case-folded (the most frequent wins) */
typedef struct {
    sl_vocab *keys; /* id -> key */
    int *idx;       /* key id -> word index */
    char **key_of;  /* word index -> key (owned by keys) */
    int fold;
} wordmap;

static void wordmap_free(wordmap *m)
{
    sl_vocab_free(m->keys);
    free(m->idx);
    free(m->key_of);
}

static int wordmap_build(const sl_w2v *w, int R, int fold, wordmap *m)
{
    memset(m, 0, sizeof *m);
    m->fold = fold;
    m->keys = sl_vocab_alloc();
    m->idx = malloc((size_t)(R ? R : 1) * sizeof *m->idx);
    m->key_of = malloc((size_t)(R ? R : 1) * sizeof *m->key_of);
    if (!m->keys || !m->idx || !m->key_of) {
        wordmap_free(m);
        return sl_error(SL_ENOMEM, "word vectors: out of memory");
    }
    char buf[SL_WORD_MAX + 1];
    for (int i = 0; i < R; i++) {
        snprintf(buf, sizeof buf, "%s", w->words[i]);
        if (fold) upcase(buf);
        int id, before = m->keys->n;
        int rc = sl_vocab_add(m->keys, buf, strlen(buf), 0, &id);
        if (rc) {
            wordmap_free(m);
            return rc;
        }
        if (m->keys->n > before) m->idx[id] = i;
        m->key_of[i] = m->keys->words[id];
    }
    return SL_OK;
}

/* index of word (folded as the map) or -1 */
static int wordmap_get(const wordmap *m, char *word)
{
    if (m->fold) upcase(word);
    int id = sl_vocab_find(m->keys, word, strlen(word));
    return id < 0 ? -1 : m->idx[id];
}

#define QBATCH 256

int sl_w2v_analogy_eval(const sl_w2v *w, const char *path, int restrict_n, int case_insensitive, sl_w2v_analogy_result *res)
{
    memset(res, 0, sizeof *res);
    snprintf(res->total.name, sizeof res->total.name, "total");
    snprintf(res->semantic.name, sizeof res->semantic.name, "semantic");
    snprintf(res->syntactic.name, sizeof res->syntactic.name, "syntactic");
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "%s: %s", path, strerror(errno));
    const int R = restrict_n > 0 && restrict_n < w->V ? restrict_n : w->V, D = w->D;
    wordmap m;
    int rc = wordmap_build(w, R, case_insensitive, &m);
    float *unit = rc ? NULL : sl_w2v_normalized(w);
    /* batched: Q (QBATCH*3, D) query vectors, S (QBATCH*3, R) cosines */
    float *Q = malloc((size_t)QBATCH * 3 * D * sizeof *Q);
    float *S = malloc((size_t)QBATCH * 3 * R * sizeof *S);
    int(*qa)[5] = malloc(QBATCH * sizeof *qa); /* a b c d section */
    if (!rc && (!unit || !Q || !S || !qa)) rc = sl_error(SL_ENOMEM, "analogy: out of memory");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int nq = 0, sec = -1, done = 0;
    while (!rc && !done) {
        len = getline(&line, &cap, f);
        if (len < 0) done = 1;
        else lineno++;
        if (!done) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            if (len == 0) continue;
            if (line[0] == ':') {
                if (res->n_sections == SL_W2V_MAX_SECTIONS) {
                    rc = sl_error(SL_EFORMAT, "%s:%zu: more than %d sections", path, lineno, SL_W2V_MAX_SECTIONS);
                    break;
                }
                sec = res->n_sections++;
                const char *name = line + 1;
                while (*name == ' ') name++;
                snprintf(res->sec[sec].name, sizeof res->sec[sec].name, "%s", name);
                continue;
            }
            char wd[4][SL_WORD_MAX + 1], extra[8];
            int nf = sscanf(line, "%1024s %1024s %1024s %1024s %7s", wd[0], wd[1], wd[2], wd[3], extra);
            if (nf != 4) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: expected 4 words (a b c d), got \"%.60s\"", path, lineno, line);
                break;
            }
            if (sec < 0) {
                sec = res->n_sections++;
                snprintf(res->sec[sec].name, sizeof res->sec[sec].name, "(no section)");
            }
            int id[4], known = 1;
            for (int k = 0; k < 4; k++) {
                id[k] = wordmap_get(&m, wd[k]);
                if (id[k] < 0) known = 0;
            }
            if (!known) {
                res->sec[sec].skipped++;
                continue;
            }
            for (int k = 0; k < 3; k++) memcpy(Q + ((size_t)nq * 3 + k) * D, unit + (size_t)id[k] * D, D * sizeof *Q);
            for (int k = 0; k < 4; k++) qa[nq][k] = id[k];
            qa[nq][4] = sec;
            nq++;
        }
        if (nq == QBATCH || (done && nq > 0)) {
            /* S = Q U^T: cosines of every candidate with a, b, c */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq * 3, R, D, 1.0f, Q, D, unit, D, 0.0f, S, R);
            for (int q = 0; q < nq; q++) {
                const float *ca = S + (size_t)q * 3 * R, *cb = ca + R, *cc = cb + R;
                const char *ka = m.key_of[qa[q][0]], *kb = m.key_of[qa[q][1]], *kc = m.key_of[qa[q][2]];
                int best_add = -1, best_mul = -1;
                float sa = -INFINITY, sm = -INFINITY;
                for (int x = 0; x < R; x++) {
                    if (x == qa[q][0] || x == qa[q][1] || x == qa[q][2]) continue;
                    float add = cb[x] - ca[x] + cc[x];
                    float mul = ((1 + cb[x]) * 0.5f) * ((1 + cc[x]) * 0.5f) / ((1 + ca[x]) * 0.5f + 0.001f);
                    if (add > sa || mul > sm) {
                        const char *kx = m.key_of[x];
                        if (kx == ka || kx == kb || kx == kc) continue; /* folded duplicates */
                        if (add > sa) {
                            sa = add;
                            best_add = x;
                        }
                        if (mul > sm) {
                            sm = mul;
                            best_mul = x;
                        }
                    }
                }
                const char *kd = m.key_of[qa[q][3]];
                sl_w2v_section *s = &res->sec[qa[q][4]];
                s->n++;
                if (best_add >= 0 && m.key_of[best_add] == kd) s->correct_add++;
                if (best_mul >= 0 && m.key_of[best_mul] == kd) s->correct_mul++;
            }
            nq = 0;
        }
    }
    free(line);
    fclose(f);
    free(unit);
    free(Q);
    free(S);
    free(qa);
    wordmap_free(&m);
    if (rc) return rc;
    for (int i = 0; i < res->n_sections; i++) {
        sl_w2v_section *s = &res->sec[i];
        sl_w2v_section *g = !strncmp(s->name, "gram", 4) ? &res->syntactic : &res->semantic;
        sl_w2v_section *t[2] = {&res->total, g};
        for (int k = 0; k < 2; k++) {
            t[k]->n += s->n;
            t[k]->correct_add += s->correct_add;
            t[k]->correct_mul += s->correct_mul;
            t[k]->skipped += s->skipped;
        }
    }
    return SL_OK;
}

int sl_w2v_similarity_eval(const sl_w2v *w, const char *path, int case_insensitive, double *rho, double *pearson, long *used,
                           long *skipped)
{
    *rho = *pearson = NAN;
    *used = *skipped = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "%s: %s", path, strerror(errno));
    wordmap m;
    int rc = wordmap_build(w, w->V, case_insensitive, &m);
    float *unit = rc ? NULL : sl_w2v_normalized(w);
    if (!rc && !unit) rc = SL_ENOMEM;
    size_t n = 0, cap = 0;
    double *hs = NULL, *cs = NULL;
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    while (!rc && getline(&line, &lcap, f) >= 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
        for (char *q = p; *q; q++)
            if (*q == ',' || *q == '\t' || *q == ';') *q = ' ';
        char a[SL_WORD_MAX + 1], b[SL_WORD_MAX + 1], sc[64];
        if (sscanf(p, "%1024s %1024s %63s", a, b, sc) != 3) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: expected \"word1 word2 score\"", path, lineno);
            break;
        }
        char *end;
        double s = strtod(sc, &end);
        if (end == sc || *end || !isfinite(s)) {
            if (n == 0 && lineno == 1) continue; /* a header line */
            rc = sl_error(SL_EFORMAT, "%s:%zu: score \"%s\" is not a number", path, lineno, sc);
            break;
        }
        int ia = wordmap_get(&m, a), ib = wordmap_get(&m, b);
        if (ia < 0 || ib < 0) {
            (*skipped)++;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            double *nh = realloc(hs, cap * sizeof *nh), *nc = nh ? realloc(cs, cap * sizeof *nc) : NULL;
            if (!nh || !nc) {
                if (nh) hs = nh;
                rc = sl_error(SL_ENOMEM, "similarity: out of memory");
                break;
            }
            hs = nh;
            cs = nc;
        }
        hs[n] = s;
        cs[n] = cblas_sdot(w->D, unit + (size_t)ia * w->D, 1, unit + (size_t)ib * w->D, 1);
        n++;
    }
    free(line);
    fclose(f);
    free(unit);
    wordmap_free(&m);
    if (!rc && n >= 3) {
        double *work = malloc(2 * n * sizeof *work);
        if (!work) rc = sl_error(SL_ENOMEM, "similarity: out of memory");
        else {
            *rho = gsl_stats_spearman(hs, 1, cs, 1, n, work);
            *pearson = gsl_stats_correlation(hs, 1, cs, 1, n);
            free(work);
        }
    } else if (!rc) {
        rc = sl_error(SL_EINVAL, "%s: fewer than 3 pairs with both words known (%zu)", path, n);
    }
    *used = (long)n;
    free(hs);
    free(cs);
    return rc;
}

int sl_w2v_pca2(const sl_w2v *w, const char *const *words, int n, double *xy)
{
    if (n < 3) return sl_error(SL_EINVAL, "PCA: need at least 3 words (got %d)", n);
    const int D = w->D;
    if (D < 2) return sl_error(SL_EINVAL, "PCA: vectors need at least 2 dimensions");
    double *X = malloc((size_t)n * D * sizeof *X), *C = calloc((size_t)D * D, sizeof *C), *ev = malloc((size_t)D * sizeof *ev);
    int rc = SL_OK;
    if (!X || !C || !ev) rc = sl_error(SL_ENOMEM, "PCA: out of memory");
    for (int i = 0; i < n && !rc; i++) {
        int id = sl_w2v_find(w, words[i]);
        if (id < 0) rc = sl_error(SL_ENOTFOUND, "PCA: word \"%s\" is not in the vectors", words[i]);
        else
            for (int j = 0; j < D; j++) X[(size_t)i * D + j] = w->vec[(size_t)id * D + j];
    }
    if (!rc) {
        for (int j = 0; j < D; j++) { /* centre the columns */
            double mu = 0;
            for (int i = 0; i < n; i++) mu += X[(size_t)i * D + j];
            mu /= n;
            for (int i = 0; i < n; i++) X[(size_t)i * D + j] -= mu;
        }
        /* covariance C = X^T X / (n - 1), then its eigenvectors (ascending eigenvalues) */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, n, 1.0 / (n - 1), X, D, 0.0, C, D);
        int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', D, C, D, ev);
        if (info != 0) rc = sl_error(SL_EINVAL, "PCA: eigen decomposition failed (info %d)", info);
    }
    if (!rc) {
        for (int c = 0; c < 2; c++) {
            int col = D - 1 - c; /* largest eigenvalues last */
            /* sign convention: the largest-magnitude loading positive */
            double big = 0;
            for (int j = 0; j < D; j++)
                if (fabs(C[(size_t)j * D + col]) > fabs(big)) big = C[(size_t)j * D + col];
            double sg = big < 0 ? -1 : 1;
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int j = 0; j < D; j++) s += X[(size_t)i * D + j] * C[(size_t)j * D + col];
                xy[2 * i + c] = sg * s;
            }
        }
    }
    free(X);
    free(C);
    free(ev);
    return rc;
}
