/* nlp/arpa.c — ARPA back-off language model files, and KenLM-style query.
 *
 * The ARPA layout (Doug Paul's format, as SRILM and KenLM write it):
 *     \data\
 *     ngram 1=N1
 *     ...
 *     (blank)
 *     \1-grams:
 *     log10p<TAB>w<TAB>log10backoff
 *     ...
 *     \N-grams:
 *     log10p<TAB>w1 w2 .. wN
 *     \end\
 * The reader accepts tabs or spaces between fields and checks every count, field and number.
 */
#define _GNU_SOURCE /* getline */
#include "nlp/ngram.h"

#include "core/error.h"
#include "core/fileio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------------------------ */
/* shortest round-trip decimal                                                                */

/* The shortest decimal that reads back as x, in printf's %.*g form at that precision (what the
 * loop "for p = 1..9: %.*g, strtof, compare" gives, but without printf): x = m 2^e is written
 * exactly as the integer N = m 5^k over 10^k (k = -e <= 40, so N < 2^117 fits 128 bits); for
 * each precision p the correctly rounded p-digit decimal R (round half to even) is accepted when
 * it lies inside x's rounding interval (x - half the gap below, x + half the gap above;
 * inclusive when m is even, as strtof rounds ties to even), which is exactly "strtof(R) == x".
 * Values outside 2^-17 <= |x| < 2^24 in magnitude, subnormals and non-finite values take the
 * printf loop. t/t-ngram compares both on millions of floats. */
typedef unsigned __int128 u128;
static u128 fmt_p5[41], fmt_p10[39];
static uint64_t fmt_p10s[20];

static void fmt_tables(void)
{
    u128 a = 1, b = 1;
    for (int i = 0; i <= 40; i++, a *= 5) fmt_p5[i] = a;
    for (int i = 0; i <= 38; i++, b *= 10) fmt_p10[i] = b;
    for (int i = 0; i < 20; i++) fmt_p10s[i] = (uint64_t)fmt_p10[i];
}

static int fmt_float_exact(char *buf, float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int neg = (int)(bits >> 31), be = (int)((bits >> 23) & 0xff);
    uint32_t m = bits & 0x7fffff;
    if (be == 0 || be == 0xff) return 0; /* zero, subnormal, inf, nan */
    m |= 0x800000;
    int e = be - 150; /* x = m 2^e */
    if (e >= 0 || e < -40) return 0;
    const int k = -e;
    const u128 p5 = fmt_p5[k], N = (u128)m * p5; /* x = N / 10^k */
    /* in quarter units of 10^-k: gap above 4 p5 (half: 2 p5), below the same unless m is the
     * smallest mantissa of its binade (then half the size) */
    const u128 N4 = N * 4, up = 2 * p5, dn = (m == 0x800000 && be > 1) ? p5 : 2 * p5;
    const int incl = !(m & 1);
    int L = 1; /* decimal digits of N */
    while (L < 38 && fmt_p10[L] <= N) L++;
    uint64_t T;         /* the first nt <= 9 digits of N */
    int nt, sticky = 0; /* sticky: a nonzero digit follows them */
    if (L <= 9) {
        T = (uint64_t)N;
        nt = L;
    } else {
        T = (uint64_t)(N / fmt_p10[L - 9]);
        sticky = N - (u128)T * fmt_p10[L - 9] != 0;
        nt = 9;
    }
    for (int p = 1; p <= 9; p++) {
        uint64_t q;
        u128 R;
        int X = L - 1 - k;        /* decimal exponent of the rounded value */
        if (p >= nt && !sticky) { /* exact */
            q = T * fmt_p10s[p - nt];
            R = N;
        } else if (p >= nt) { /* p == 9 == nt, rounding on the tail */
            u128 d = fmt_p10[L - 9], r = N - (u128)T * d;
            q = T;
            if (2 * r > d || (2 * r == d && (q & 1))) q++;
            R = (u128)q * d;
            if (q == fmt_p10s[9]) {
                q /= 10;
                X++;
            }
        } else {
            uint64_t d = fmt_p10s[nt - p], r, h = d / 2;
            q = T / d;
            r = T % d;
            if (r > h || (r == h && (sticky || (q & 1)))) q++;
            R = (u128)q * fmt_p10[L - p];
            if (q == fmt_p10s[p]) {
                q /= 10;
                X++;
            }
        }
        const u128 R4 = R * 4;
        int ok = R4 >= N4 ? (incl ? R4 - N4 <= up : R4 - N4 < up) : (incl ? N4 - R4 <= dn : N4 - R4 < dn);
        if (!ok) continue;
        char dg[16];
        int nd = p;
        for (int i = p - 1; i >= 0; i--) {
            dg[i] = (char)('0' + q % 10);
            q /= 10;
        }
        while (nd > 1 && dg[nd - 1] == '0') nd--;
        char *o = buf;
        if (neg) *o++ = '-';
        if (X < -4 || X >= p) { /* %g's exponent form */
            *o++ = dg[0];
            if (nd > 1) {
                *o++ = '.';
                memcpy(o, dg + 1, (size_t)nd - 1);
                o += nd - 1;
            }
            *o++ = 'e';
            int ax = X < 0 ? -X : X;
            *o++ = X < 0 ? '-' : '+';
            if (ax >= 100) {
                *o++ = (char)('0' + ax / 100);
                ax %= 100;
            }
            *o++ = (char)('0' + ax / 10);
            *o++ = (char)('0' + ax % 10);
        } else if (X >= 0) {
            for (int i = 0; i <= X; i++) *o++ = i < nd ? dg[i] : '0';
            if (nd > X + 1) {
                *o++ = '.';
                memcpy(o, dg + X + 1, (size_t)(nd - X - 1));
                o += nd - X - 1;
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -X - 1; i++) *o++ = '0';
            memcpy(o, dg, (size_t)nd);
            o += nd;
        }
        *o = '\0';
        return 1;
    }
    return 0;
}

void sl_fmt_float_ref(char *buf, float x)
{
    if (x == 0.0f) { /* also -0 -> "0", as KenLM prints backoffs of 1 */
        strcpy(buf, "0");
        return;
    }
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, 32, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) return;
    }
}

void sl_fmt_float(char *buf, float x)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fmt_tables);
    if (x == 0.0f) {
        strcpy(buf, "0");
        return;
    }
    if (!fmt_float_exact(buf, x)) sl_fmt_float_ref(buf, x);
}

void sl_fmt_double(char *buf, double x)
{
    if (x == 0.0) {
        strcpy(buf, "0");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, 32, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* write                                                                                      */

/* The table's entries in id-tuple order: an LSD radix sort (one stable counting sort per column,
 * last column first) of entry indices; O(k (n + V)). */
static int sort_entries(const sl_ngtab *t, int V, uint32_t *ord)
{
    const size_t n = t->n;
    const int k = t->k;
    uint32_t *tmp = malloc((n ? n : 1) * sizeof *tmp), *cnt = malloc(((size_t)V + 1) * sizeof *cnt);
    if (!tmp || !cnt) {
        free(tmp);
        free(cnt);
        return sl_error(SL_ENOMEM, "ARPA write: out of memory");
    }
    for (size_t e = 0; e < n; e++) ord[e] = (uint32_t)e;
    for (int c = t->sorted ? -1 : k - 1; c >= 0; c--) {
        memset(cnt, 0, ((size_t)V + 1) * sizeof *cnt);
        for (size_t i = 0; i < n; i++) cnt[t->keys[(size_t)ord[i] * k + c] + 1]++;
        for (int v = 0; v < V; v++) cnt[v + 1] += cnt[v];
        for (size_t i = 0; i < n; i++) tmp[cnt[t->keys[(size_t)ord[i] * k + c]]++] = ord[i];
        memcpy(ord, tmp, n * sizeof *ord);
    }
    free(tmp);
    free(cnt);
    return SL_OK;
}

int sl_arpa_write(const sl_ngram_lm *lm, const char *path)
{
    if (!lm->estimated) return sl_error(SL_EINVAL, "n-gram model has no probabilities to write");
    sl_afile a = {0};
    FILE *f;
    int to_stdout = !path || !strcmp(path, "-");
    if (to_stdout) {
        f = stdout;
    } else {
        int rc = sl_afile_open(&a, path);
        if (rc) return rc;
        f = a.f;
    }
    fprintf(f, "\\data\\\n");
    for (int k = 0; k < lm->order; k++) fprintf(f, "ngram %d=%zu\n", k + 1, lm->tab[k].n);
    fprintf(f, "\n");
    int rc = SL_OK;
    static _Thread_local char wbuf[1 << 16];
    const int V = lm->vocab->n;
    uint32_t *wlen = malloc(((size_t)V + 1) * sizeof *wlen);
    if (!wlen) rc = sl_error(SL_ENOMEM, "ARPA write: out of memory");
    for (int i = 0; !rc && i < V; i++) wlen[i] = (uint32_t)strlen(lm->vocab->words[i]);
    for (int k = 0; k < lm->order && !rc; k++) {
        const sl_ngtab *t = &lm->tab[k];
        uint32_t *ord = malloc((t->n ? t->n : 1) * sizeof *ord);
        if (!ord) {
            rc = sl_error(SL_ENOMEM, "ARPA write: out of memory");
            break;
        }
        if ((rc = sort_entries(t, V, ord))) {
            free(ord);
            break;
        }
        fprintf(f, "\\%d-grams:\n", k + 1);
        /* lines are assembled in a buffer (stdio calls per field cost more than the numbers) */
        size_t bl = 0;
        for (size_t i = 0; i < t->n; i++) {
            size_t e = ord[i];
            const int32_t *key = t->keys + e * t->k;
            if (bl + 96 > sizeof wbuf) {
                fwrite(wbuf, 1, bl, f); /* errors: ferror below */
                bl = 0;
            }
            sl_fmt_float(wbuf + bl, lm->prob[k][e]);
            bl += strlen(wbuf + bl);
            for (int j = 0; j <= k; j++) {
                const char *w = lm->vocab->words[key[j]];
                size_t wl = wlen[key[j]];
                if (bl + wl + 64 > sizeof wbuf) {
                    fwrite(wbuf, 1, bl, f); /* errors: ferror below */
                    bl = 0;
                }
                wbuf[bl++] = j ? ' ' : '\t';
                memcpy(wbuf + bl, w, wl);
                bl += wl;
            }
            if (lm->bow[k]) {
                wbuf[bl++] = '\t';
                sl_fmt_float(wbuf + bl, lm->bow[k][e]);
                bl += strlen(wbuf + bl);
            }
            wbuf[bl++] = '\n';
        }
        if (bl) fwrite(wbuf, 1, bl, f);
        fprintf(f, "\n");
        free(ord);
    }
    free(wlen);
    fprintf(f, "\\end\\\n");
    if (to_stdout) {
        if (fflush(f) != 0 || ferror(f)) rc = rc ? rc : sl_error(SL_EIO, "ARPA write to stdout failed");
        return rc;
    }
    if (rc || ferror(f)) {
        sl_afile_abort(&a);
        return rc ? rc : sl_error(SL_EIO, "%s: write failed", path);
    }
    return sl_afile_commit(&a);
}

/* ------------------------------------------------------------------------------------------ */
/* read                                                                                       */

typedef struct {
    FILE *f;
    const char *path;
    char *line;
    size_t cap;
    size_t lineno;
    ssize_t len;
} reader;

/* next line without its newline (and \r); 0 ok, 1 EOF, < 0 error */
static int rd_line(reader *r)
{
    errno = 0;
    r->len = getline(&r->line, &r->cap, r->f);
    if (r->len < 0) {
        if (ferror(r->f)) return sl_error(SL_EIO, "%s:%zu: read failed", r->path, r->lineno + 1);
        return 1;
    }
    r->lineno++;
    while (r->len > 0 && (r->line[r->len - 1] == '\n' || r->line[r->len - 1] == '\r')) r->line[--r->len] = '\0';
    return 0;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0';
}

/* parse a log10 value: finite number, or -inf (stored as -99, SRILM's zero) */
static int parse_log(const char *s, float *out)
{
    if (!strcmp(s, "-inf") || !strcmp(s, "-Infinity") || !strcmp(s, "-INF")) {
        *out = -99.0f;
        return 1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) return 0;
    *out = (float)v;
    return 1;
}

/* "ngram K=COUNT" of the \data\ header, K and COUNT plain decimal numbers: 0 with *k in
 * [1, INT_MAX] and *n >= 0, 2 when COUNT does not fit a long long, 1 for anything else.
 * (sscanf's %d / %lld have undefined behaviour on a number out of range: a long digit string
 * must be refused, not wrapped or saturated.) */
static int parse_count(const char *s, int *k, long long *n)
{
    if (strncmp(s, "ngram", 5) || (s[5] != ' ' && s[5] != '\t')) return 1;
    s += 5;
    while (*s == ' ' || *s == '\t') s++;
    if (*s < '0' || *s > '9') return 1;
    char *e;
    errno = 0;
    long kk = strtol(s, &e, 10);
    if (errno || *e != '=' || kk < 1 || kk > INT_MAX) return 1;
    s = e + 1;
    if (*s < '0' || *s > '9') return 1;
    errno = 0;
    long long nn = strtoll(s, &e, 10);
    if (errno == ERANGE) return 2;
    if (*e) return 1;
    *k = (int)kk;
    *n = nn;
    return 0;
}

int sl_arpa_read(const char *path, sl_ngram_lm **out)
{
    *out = NULL;
    reader r = {0};
    r.path = path;
    r.f = fopen(path, "rb");
    if (!r.f) return sl_error(SL_EIO, "%s: %s", path, strerror(errno));
    sl_ngram_lm *lm = NULL;
    int rc, st;
    size_t counts[SL_NGRAM_MAX_ORDER + 1] = {0};
    int order = 0;

    /* header: skip anything before \data\ (SRILM allows a preamble) */
    for (;;) {
        st = rd_line(&r);
        if (st < 0) {
            rc = st;
            goto fail;
        }
        if (st == 1) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: no \\data\\ section", path, r.lineno);
            goto fail;
        }
        if (!strcmp(r.line, "\\data\\")) break;
    }
    for (;;) {
        st = rd_line(&r);
        if (st < 0) {
            rc = st;
            goto fail;
        }
        if (st == 1) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: end of file in the \\data\\ header", path, r.lineno);
            goto fail;
        }
        if (blank(r.line)) {
            if (order) break;
            continue;
        }
        int k;
        long long n;
        int pc = parse_count(r.line, &k, &n);
        if (pc == 2) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: count in \"%.64s\" too large", path, r.lineno, r.line);
            goto fail;
        }
        if (pc) {
            if (r.line[0] == '\\' && order) break; /* section right after the header */
            rc = sl_error(SL_EFORMAT, "%s:%zu: expected \"ngram K=COUNT\" in the \\data\\ header, got \"%s\"", path, r.lineno,
                          r.line);
            goto fail;
        }
        if (k != order + 1) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: ngram counts out of order (expected order %d, got %d)", path, r.lineno, order + 1,
                          k);
            goto fail;
        }
        if (k > SL_NGRAM_MAX_ORDER) {
            rc = sl_error(SL_EUNSUPPORTED, "%s:%zu: order %d exceeds the maximum %d", path, r.lineno, k, SL_NGRAM_MAX_ORDER);
            goto fail;
        }
        if ((unsigned long long)n >= UINT32_MAX - 1) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: count %lld too large", path, r.lineno, n);
            goto fail;
        }
        counts[k] = (size_t)n;
        order = k;
    }
    if (order == 0) {
        rc = sl_error(SL_EFORMAT, "%s:%zu: \\data\\ header has no ngram counts", path, r.lineno);
        goto fail;
    }
    /* the counts may claim anything: each k-gram line is at least a 1-character log
     * probability and k 1-character words, each after a separator, and a newline (2k + 2
     * bytes), so the file must hold that much before the tables are allocated */
    {
        struct stat sb;
        if (fstat(fileno(r.f), &sb) == 0 && S_ISREG(sb.st_mode)) {
            unsigned long long need = 0;
            for (int k = 1; k <= order; k++) need += (unsigned long long)counts[k] * (2ull * (unsigned)k + 2);
            if (need > (unsigned long long)sb.st_size) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: the \\data\\ counts need at least %llu bytes of n-grams, the file has %llu",
                              path, r.lineno, need, (unsigned long long)sb.st_size);
                goto fail;
            }
        }
    }

    if ((rc = sl_ngram_alloc(order, &lm))) goto fail;
    for (int k = 0; k < order; k++) {
        free(lm->count[k]);
        lm->count[k] = NULL;
        sl_ngtab_destroy(&lm->tab[k]);
        if ((rc = sl_ngtab_init(&lm->tab[k], k + 1, counts[k + 1]))) goto fail;
        lm->prob[k] = malloc((counts[k + 1] ? counts[k + 1] : 1) * sizeof(float));
        lm->bow[k] = k + 1 < order ? calloc(counts[k + 1] ? counts[k + 1] : 1, sizeof(float)) : NULL;
        if (!lm->prob[k] || (k + 1 < order && !lm->bow[k])) {
            rc = sl_error(SL_ENOMEM, "ARPA read: out of memory");
            goto fail;
        }
    }
    lm->has_unk = 0;

    /* sections; the line that ended the header may already be a section line */
    int have_line = !blank(r.line);
    int32_t key[SL_NGRAM_MAX_ORDER];
    for (int k = 1; k <= order; k++) {
        /* find "\k-grams:" */
        for (;;) {
            if (!have_line) {
                st = rd_line(&r);
                if (st < 0) {
                    rc = st;
                    goto fail;
                }
                if (st == 1) {
                    rc = sl_error(SL_EFORMAT, "%s:%zu: missing \\%d-grams: section", path, r.lineno, k);
                    goto fail;
                }
            }
            have_line = 0;
            if (blank(r.line)) continue;
            char want[32];
            snprintf(want, sizeof want, "\\%d-grams:", k);
            if (!strcmp(r.line, want)) break;
            rc = sl_error(SL_EFORMAT, "%s:%zu: expected \"%s\", got \"%.60s\"", path, r.lineno, want, r.line);
            goto fail;
        }
        size_t got = 0;
        for (;;) {
            st = rd_line(&r);
            if (st < 0) {
                rc = st;
                goto fail;
            }
            if (st == 1) break;
            if (blank(r.line)) {
                if (got == counts[k]) break;
                continue;
            }
            if (r.line[0] == '\\') {
                have_line = 1;
                break;
            }
            if (got == counts[k]) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: more %d-grams than the %zu in the header", path, r.lineno, k, counts[k]);
                goto fail;
            }
            /* fields: prob, k words, optional backoff */
            char *fields[SL_NGRAM_MAX_ORDER + 3];
            int nf = 0;
            char *save = NULL;
            for (char *tok = strtok_r(r.line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                if (nf == k + 2) {
                    nf++;
                    break;
                }
                fields[nf++] = tok;
            }
            if (nf < k + 1 || nf > k + 2 || (nf == k + 2 && k == order)) {
                if (k < order)
                    rc = sl_error(SL_EFORMAT,
                                  "%s:%zu: a %d-gram line has %d or %d fields (log10 prob, %d words, "
                                  "optional backoff), got %s%d",
                                  path, r.lineno, k, k + 1, k + 2, k, nf > k + 2 ? "more than " : "", nf > k + 2 ? k + 2 : nf);
                else
                    rc = sl_error(SL_EFORMAT,
                                  "%s:%zu: a %d-gram line of the highest order has %d fields (log10 prob, "
                                  "%d words), got %d",
                                  path, r.lineno, k, k + 1, k, nf);
                goto fail;
            }
            float lp, bo = 0.0f;
            if (!parse_log(fields[0], &lp)) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: bad log10 probability \"%s\"", path, r.lineno, fields[0]);
                goto fail;
            }
            if (lp > 0.0f) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: log10 probability %s is positive", path, r.lineno, fields[0]);
                goto fail;
            }
            if (nf == k + 2 && !parse_log(fields[k + 1], &bo)) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: bad log10 backoff \"%s\"", path, r.lineno, fields[k + 1]);
                goto fail;
            }
            for (int j = 0; j < k; j++) {
                const char *w = fields[1 + j];
                int id;
                if (k == 1) {
                    int before = lm->vocab->n;
                    int specials = !strcmp(w, SL_UNK) || !strcmp(w, SL_BOS) || !strcmp(w, SL_EOS);
                    if ((rc = sl_vocab_add(lm->vocab, w, strlen(w), 0, &id))) goto fail;
                    (void)before;
                    if (specials && sl_ngtab_find(&lm->tab[0], &id) >= 0) specials = 0;
                } else {
                    id = sl_vocab_find(lm->vocab, w, strlen(w));
                    if (id < 0) {
                        rc = sl_error(SL_EFORMAT, "%s:%zu: word \"%s\" of this %d-gram is not a unigram", path, r.lineno, w, k);
                        goto fail;
                    }
                }
                key[j] = id;
            }
            int is_new;
            long e = sl_ngtab_insert(&lm->tab[k - 1], key, &is_new);
            if (e < 0) {
                rc = (int)e;
                goto fail;
            }
            if (!is_new) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: duplicate %d-gram", path, r.lineno, k);
                goto fail;
            }
            lm->prob[k - 1][e] = lp;
            if (lm->bow[k - 1]) lm->bow[k - 1][e] = bo;
            if (k == 1 && key[0] == SL_NGRAM_UNK) lm->has_unk = 1;
            got++;
        }
        if (got != counts[k]) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: the header says %zu %d-grams, the section has %zu", path, r.lineno, counts[k], k,
                          got);
            goto fail;
        }
    }
    /* \end\ */
    for (;;) {
        if (!have_line) {
            st = rd_line(&r);
            if (st < 0) {
                rc = st;
                goto fail;
            }
            if (st == 1) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: missing \\end\\", path, r.lineno);
                goto fail;
            }
        }
        have_line = 0;
        if (blank(r.line)) continue;
        if (!strcmp(r.line, "\\end\\")) break;
        rc = sl_error(SL_EFORMAT, "%s:%zu: expected \\end\\, got \"%.60s\"", path, r.lineno, r.line);
        goto fail;
    }
    free(r.line);
    fclose(r.f);
    lm->estimated = 1;
    sl_ngram_check_suffixes(lm);
    *out = lm;
    return SL_OK;
fail:
    free(r.line);
    fclose(r.f);
    sl_ngram_free(lm);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* query                                                                                      */

int sl_ngram_query_file(const sl_ngram_lm *lm, const char *path, FILE *out, sl_ngram_query_stats *st)
{
    memset(st, 0, sizeof *st);
    sl_corpus *c;
    int rc = sl_corpus_open(path, &c);
    if (rc) return rc;
    sl_ngram_state state;
    float total = 0.0f; /* per line in float, as query */
    uint64_t oov = 0;
    char pb[32];
    sl_ngram_state_begin(lm, &state);
    const char *w;
    size_t len;
    for (;;) {
        int r = sl_corpus_next_word(c, &w, &len);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == SL_CORPUS_EOF) break; /* unterminated last line: not added (query) */
        int32_t id;
        int is_oov;
        if (r == SL_CORPUS_EOL) {
            id = SL_NGRAM_EOS;
            is_oov = 0;
            w = SL_EOS;
            len = 4;
        } else {
            int f = sl_vocab_find(lm->vocab, w, len);
            is_oov = f < 0 || f == SL_NGRAM_UNK;
            id = is_oov ? SL_NGRAM_UNK : f;
        }
        int glen;
        float lp = sl_ngram_score_next(lm, &state, id, &state, &glen);
        if (is_oov) {
            oov++;
            st->total_oov_only += lp;
        }
        total += lp;
        st->tokens++;
        if (out) {
            sl_fmt_float(pb, lp);
            fprintf(out, "%.*s=%d %d %s\t", (int)len, w, is_oov ? 0 : (int)id, glen, pb);
        }
        if (r == SL_CORPUS_EOL) {
            if (out) {
                sl_fmt_float(pb, total);
                fprintf(out, "Total: %s OOV: %llu\n", pb, (unsigned long long)oov);
            }
            st->total += total;
            st->oov += oov;
            total = 0.0f;
            oov = 0;
            sl_ngram_state_begin(lm, &state);
        }
    }
    sl_corpus_close(c);
    if (rc) return rc;
    st->ppl_incl = pow(10.0, -(st->total / (double)st->tokens));
    st->ppl_excl = pow(10.0, -((st->total - st->total_oov_only) / (double)(st->tokens - st->oov)));
    return SL_OK;
}
