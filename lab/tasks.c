/* lab/tasks.c — the core tasks (copy, adding, charlm), the task table, batches, loss and
 * evaluation (see tasks.h). Further synthetic tasks live in lab/tasks_synth.c. */
#include "lab/tasks.h"
#include "core/error.h"
#include "core/fileio.h"
#include "lab/pack.h"
#include "lab/registry.h"
#include "seq/layers.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern const sl_task_entry sl_tasks_synthetic[];
extern const sl_task_entry sl_tasks_finetune[]; /* lab/dpo.c */
extern const sl_task_entry sl_tasks_tokens[];   /* lab/tasks_tokens.c */

/* ---- copy: Arjovsky et al.'s copying memory, scored only where the answer is due -------- */

typedef struct {
    int length, delay, n_symbols;
} copy_ctx;

static const sl_spec_key copy_keys[] = {
    {"length", 'i', "10", 1, 4096, "number of symbols to memorise"},
    {"delay", 'i', "20", 1, 1 << 20, "blank positions between the symbols and the recall marker (the gap)"},
    {"n_symbols", 'i', "8", 1, 1 << 16, "alphabet size of the symbols"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* layout (T = 2*length + delay): symbols s_1..s_L | delay-1 blanks | marker | L blanks;
 * targets: -1 everywhere except the last L positions, which hold s_1..s_L.
 * token 0 = blank, 1..n = symbols, n+1 = marker. */
static int copy_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    const copy_ctx *c = t->ctx;
    const int L = c->length, T = t->T;
    for (int i = 0; i < b->B; i++) {
        int32_t *tok = b->tok + (size_t)i * T, *tg = b->target + (size_t)i * T;
        for (int k = 0; k < T; k++) {
            tok[k] = 0;
            tg[k] = -1;
        }
        for (int k = 0; k < L; k++) {
            int s = 1 + (int)sl_rng_int(rng, (unsigned long)c->n_symbols);
            tok[k] = s;
            tg[T - L + k] = s;
        }
        tok[L + c->delay - 1] = c->n_symbols + 1;
    }
    return SL_OK;
}

static void plain_destroy(sl_task *t)
{
    free(t->ctx);
    free(t->spec);
    free(t);
}

static int copy_create(const sl_spec *s, sl_task **out)
{
    copy_ctx *c = calloc(1, sizeof *c);
    sl_task *t = calloc(1, sizeof *t);
    if (!c || !t) {
        free(c);
        free(t);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    int rc;
    if ((rc = sl_spec_int(s, copy_keys, "length", &c->length)) || (rc = sl_spec_int(s, copy_keys, "delay", &c->delay)) ||
        (rc = sl_spec_int(s, copy_keys, "n_symbols", &c->n_symbols))) {
        free(c);
        free(t);
        return rc;
    }
    t->name = "copy";
    t->token_in = t->token_out = 1;
    t->vocab = c->n_symbols + 2;
    t->T = 2 * c->length + c->delay;
    t->metric = "accuracy";
    t->higher_better = 1;
    t->ctx = c;
    t->sample = copy_sample;
    t->destroy = plain_destroy;
    *out = t;
    return SL_OK;
}

/* ---- adding: Hochreiter & Schmidhuber (1997), as in Le et al. (2015) --------------------- */

static const sl_spec_key adding_keys[] = {
    {"length", 'i', "100", 2, 1 << 20, "sequence length T"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* x[t] = (u_t ~ U[0,1], marker_t); one marker in each half; target at the last position is
 * the sum of the two marked values. */
static int adding_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    const int T = t->T, half = T / 2;
    for (int i = 0; i < b->B; i++) {
        float *x = b->x + (size_t)i * T * 2;
        for (int k = 0; k < T; k++) {
            x[2 * k] = (float)sl_rng_uniform(rng);
            x[2 * k + 1] = 0.0f;
            b->mask[(size_t)i * T + k] = 0.0f;
            b->y[(size_t)i * T + k] = 0.0f;
        }
        int p1 = (int)sl_rng_int(rng, (unsigned long)half);
        int p2 = half + (int)sl_rng_int(rng, (unsigned long)(T - half));
        x[2 * p1 + 1] = 1.0f;
        x[2 * p2 + 1] = 1.0f;
        b->y[(size_t)i * T + T - 1] = x[2 * p1] + x[2 * p2];
        b->mask[(size_t)i * T + T - 1] = 1.0f;
    }
    return SL_OK;
}

static int adding_create(const sl_spec *s, sl_task **out)
{
    sl_task *t = calloc(1, sizeof *t);
    if (!t) return sl_error(SL_ENOMEM, "out of memory");
    int rc = sl_spec_int(s, adding_keys, "length", &t->T);
    if (rc) {
        free(t);
        return rc;
    }
    t->name = "adding";
    t->d_in = 2;
    t->d_out = 1;
    t->metric = "mse";
    t->higher_better = 0;
    t->sample = adding_sample;
    t->destroy = plain_destroy;
    *out = t;
    return SL_OK;
}

/* ---- charlm: byte-level language modelling of a text file ------------------------------- */

typedef struct {
    int32_t *ids; /* (n) the corpus as token ids */
    size_t n, n_train;
    unsigned char alphabet[256];
    /* pack=1: the documents (separators dropped), dids[doff[i] .. doff[i+1]); the first
     * n_train_docs train, the rest validate */
    int32_t *dids;
    size_t *doff, n_docs, n_train_docs;
} charlm_ctx;

static const sl_spec_key charlm_keys[] = {
    {"corpus", 's', "", 0, 0, "text file (default: /usr/share/common-licenses/* concatenated)"},
    {"seq_len", 'i', "64", 1, 1 << 20, "context length T"},
    {"val_frac", 'f', "0.1", 0.001, 0.9, "last fraction of the corpus held out for validation"},
    {"alphabet", 's', "", 0, 0,
     "the token ids' characters as hex bytes, ascending (default: the corpus's own); "
     "fine-tuning sets the base run's, so that ids keep their meaning"},
    {"pack", 'i', "0", 0, 1,
     "1: batches are packed rows of whole documents (a file per document of a directory corpus "
     "or of the default one, or doc_sep); the validation split is the last documents"},
    {"doc_sep", 's', "", 0, 0, "hex bytes that separate documents inside a file, e.g. 0a0a (paragraphs)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* pack=1: the documents of text (n bytes; file starts off[0..nf], off[nf] = n) cut at the
 * separator sep (ns bytes, may be 0), as ids without the separators; the split at byte n_train */
static int charlm_docs(charlm_ctx *c, const unsigned char *text, const size_t *off, size_t nf, const unsigned char *sep,
                       size_t ns)
{
    c->dids = malloc((c->n ? c->n : 1) * sizeof(int32_t));
    c->doff = malloc((c->n + 2) * sizeof(size_t));
    if (!c->dids || !c->doff) return sl_error(SL_ENOMEM, "out of memory");
    size_t m = 0, nd = 0;
    c->n_train_docs = 0;
    for (size_t f = 0; f < nf; f++) {
        size_t i = off[f], begin = m;
        while (i <= off[f + 1]) {
            int cut = i == off[f + 1] || (ns && i + ns <= off[f + 1] && !memcmp(text + i, sep, ns));
            if (!cut) {
                c->dids[m++] = c->ids[i++];
                continue;
            }
            if (m > begin) { /* a document ends: keep it */
                if (i <= c->n_train) c->n_train_docs = nd + 1;
                c->doff[nd++] = begin;
            }
            begin = m;
            i += ns ? ns : 1;
        }
    }
    c->doff[nd] = m;
    c->n_docs = nd;
    size_t long_tr = 0, long_va = 0;
    for (size_t d = 0; d < nd; d++) *(d < c->n_train_docs ? &long_tr : &long_va) += c->doff[d + 1] - c->doff[d] >= 2;
    if (!long_tr || !long_va)
        return sl_error(SL_EINVAL,
                        "charlm: pack=1 needs documents of at least 2 characters on both sides of the validation "
                        "split (%zu documents, %zu for training)",
                        nd, c->n_train_docs);
    return SL_OK;
}

/* doc_sep's hex string to bytes */
static int charlm_sep(const char *hex, unsigned char *sep, size_t *ns)
{
    size_t len = strlen(hex);
    if (len % 2 || len / 2 > 16) return sl_error(SL_EINVAL, "charlm: doc_sep '%.40s' is not 1-16 hex byte pairs", hex);
    for (size_t i = 0; i < len; i += 2) {
        unsigned v;
        char pair[3] = {hex[i], hex[i + 1], 0};
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]) || sscanf(pair, "%2x", &v) != 1)
            return sl_error(SL_EINVAL, "charlm: doc_sep: '%s' at offset %zu is not a hex byte", pair, i);
        sep[i / 2] = (unsigned char)v;
    }
    *ns = len / 2;
    return SL_OK;
}

/* alphabet=HEX: the byte values of ids 0, 1, ... (strictly ascending, as a corpus's own
 * alphabet is); the corpus must use no byte outside it */
static int charlm_alphabet(const char *hex, const unsigned char *text, size_t n, int map[256], unsigned char *alphabet, int *V)
{
    size_t len = strlen(hex);
    if (len % 2 || len / 2 > 256) return sl_error(SL_EINVAL, "charlm: alphabet '%.40s' is not 1-256 hex byte pairs", hex);
    int prev = -1;
    *V = 0;
    for (int k = 0; k < 256; k++) map[k] = -1;
    for (size_t i = 0; i < len; i += 2) {
        unsigned v;
        char pair[3] = {hex[i], hex[i + 1], 0};
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]) || sscanf(pair, "%2x", &v) != 1)
            return sl_error(SL_EINVAL, "charlm: alphabet: '%s' at offset %zu is not a hex byte", pair, i);
        if ((int)v <= prev) return sl_error(SL_EINVAL, "charlm: alphabet: bytes must ascend (0x%02x after 0x%02x)", v, prev);
        prev = (int)v;
        map[v] = *V;
        alphabet[(*V)++] = (unsigned char)v;
    }
    int outside[256] = {0}, n_out = 0;
    for (size_t i = 0; i < n; i++)
        if (map[text[i]] < 0 && !outside[text[i]]) outside[text[i]] = 1, n_out++;
    if (!n_out) return SL_OK;
    char list[512] = "";
    size_t m = 0;
    int shown = 0;
    for (int k = 0; k < 256 && shown < 12; k++)
        if (outside[k]) {
            if (isprint(k)) m += (size_t)snprintf(list + m, sizeof list - m, "%s'%c' (0x%02x)", shown ? ", " : "", k, k);
            else m += (size_t)snprintf(list + m, sizeof list - m, "%s0x%02x", shown ? ", " : "", k);
            shown++;
        }
    return sl_error(SL_EINVAL, "charlm: the corpus has %d character%s outside the given alphabet of %d: %s%s", n_out,
                    n_out == 1 ? "" : "s", *V, list, n_out > shown ? ", ..." : "");
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sl_default_corpus(unsigned char **buf, size_t *n)
{
    return sl_read_dir_docs("/usr/share/common-licenses", buf, n, NULL, NULL);
}

int sl_read_dir_docs(const char *dir, unsigned char **buf, size_t *n, size_t **off_out, size_t *n_docs)
{
    DIR *d = opendir(dir);
    if (!d) return sl_error(SL_EIO, "cannot open %s (give a corpus with --corpus FILE)", dir);
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char **tmp = realloc(names, (nn + 1) * sizeof *names);
        if (!tmp) break;
        names = tmp;
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_name);
    unsigned char *out = NULL;
    size_t total = 0, nd = 0, *off = malloc((nn + 1) * sizeof *off);
    int rc = off ? SL_OK : sl_error(SL_ENOMEM, "out of memory");
    for (size_t i = 0; i < nn && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        void *fb;
        size_t fn;
        if (sl_read_file(path, (size_t)1 << 30, &fb, &fn) != 0) continue;
        unsigned char *tmp = realloc(out, total + fn + 1);
        if (!tmp) {
            free(fb);
            rc = sl_error(SL_ENOMEM, "out of memory");
            break;
        }
        out = tmp;
        memcpy(out + total, fb, fn);
        off[nd++] = total;
        total += fn;
        free(fb);
    }
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (!rc && total == 0) rc = sl_error(SL_EIO, "no text found under %s (give a corpus with --corpus FILE)", dir);
    if (rc) {
        free(out);
        free(off);
        return rc;
    }
    off[nd] = total;
    *buf = out;
    *n = total;
    if (off_out) *off_out = off, *n_docs = nd;
    else free(off);
    return SL_OK;
}

static int charlm_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    const charlm_ctx *c = t->ctx;
    const int T = t->T;
    if (t->packed) {
        const size_t d0 = split ? c->n_train_docs : 0, d1 = split ? c->n_docs : c->n_train_docs;
        const sl_doc_set set = {.ids = c->dids, .off = c->doff + d0, .n = d1 - d0};
        return sl_pack_rows(&set, rng, b->B, T, b->tok, b->target, b->pos, NULL);
    }
    size_t lo = split ? c->n_train : 0, hi = split ? c->n : c->n_train; /* [lo, hi) */
    size_t span = hi - lo - (size_t)T;                                  /* creation guarantees hi - lo > T */
    for (int i = 0; i < b->B; i++) {
        size_t off = lo + (size_t)sl_rng_int(rng, (unsigned long)span);
        memcpy(b->tok + (size_t)i * T, c->ids + off, (size_t)T * sizeof(int32_t));
        memcpy(b->target + (size_t)i * T, c->ids + off + 1, (size_t)T * sizeof(int32_t));
    }
    return SL_OK;
}

static void charlm_destroy(sl_task *t)
{
    charlm_ctx *c = t->ctx;
    if (c) free(c->ids), free(c->dids), free(c->doff);
    plain_destroy(t);
}

static int charlm_create(const sl_spec *s, sl_task **out)
{
    const char *corpus, *alpha, *sephex;
    int T, pack;
    double val_frac;
    int rc;
    if ((rc = sl_spec_str(s, charlm_keys, "corpus", &corpus)) || (rc = sl_spec_int(s, charlm_keys, "seq_len", &T)) ||
        (rc = sl_spec_float(s, charlm_keys, "val_frac", &val_frac)) || (rc = sl_spec_str(s, charlm_keys, "alphabet", &alpha)) ||
        (rc = sl_spec_int(s, charlm_keys, "pack", &pack)) || (rc = sl_spec_str(s, charlm_keys, "doc_sep", &sephex)))
        return rc;
    unsigned char *text, sep[16];
    size_t n, ns = 0, *foff = NULL, nf = 1;
    struct stat st;
    if (*sephex && (rc = charlm_sep(sephex, sep, &ns))) return rc;
    if (!*corpus || (stat(corpus, &st) == 0 && S_ISDIR(st.st_mode))) { /* a file per document */
        if ((rc = sl_read_dir_docs(*corpus ? corpus : "/usr/share/common-licenses", &text, &n, &foff, &nf)))
            return *corpus ? sl_error_wrap(rc, "charlm corpus") : rc;
    } else if (*corpus) {
        void *buf;
        rc = sl_read_file(corpus, (size_t)1 << 31, &buf, &n);
        if (rc) return sl_error_wrap(rc, "charlm corpus");
        text = buf;
    }
    charlm_ctx *c = calloc(1, sizeof *c);
    sl_task *t = calloc(1, sizeof *t);
    if (!foff && (foff = malloc(2 * sizeof *foff))) foff[0] = 0, foff[1] = n;
    if (!c || !t || !foff) {
        free(text);
        free(c);
        free(t);
        free(foff);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    int map[256], used[256] = {0}, V = 0;
    if (*alpha) {
        if ((rc = charlm_alphabet(alpha, text, n, map, c->alphabet, &V))) {
            free(text);
            free(c);
            free(t);
            free(foff);
            return rc;
        }
    } else {
        for (size_t i = 0; i < n; i++) used[text[i]] = 1;
        for (int k = 0; k < 256; k++) {
            map[k] = used[k] ? V : -1;
            if (used[k]) c->alphabet[V++] = (unsigned char)k;
        }
    }
    c->ids = malloc((n ? n : 1) * sizeof(int32_t));
    if (!c->ids) {
        free(text);
        free(c);
        free(t);
        free(foff);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) c->ids[i] = map[text[i]];
    c->n = n;
    c->n_train = (size_t)((1.0 - val_frac) * (double)n);
    t->ctx = c;
    t->destroy = charlm_destroy;
    t->packed = pack;
    rc = pack ? charlm_docs(c, text, foff, nf, sep, ns) : SL_OK;
    free(text);
    free(foff);
    if (rc) {
        sl_task_free(t);
        return rc;
    }
    if (c->n_train <= (size_t)T + 1 || n - c->n_train <= (size_t)T + 1) {
        rc = sl_error(SL_EINVAL, "charlm: corpus of %zu bytes is too small for seq_len=%d with val_frac=%g", n, T, val_frac);
        sl_task_free(t);
        return rc;
    }
    t->name = "charlm";
    t->token_in = t->token_out = 1;
    t->vocab = V;
    t->T = T;
    t->metric = "val_loss";
    t->higher_better = 0;
    t->sample = charlm_sample;
    t->alphabet = c->alphabet;
    t->train_stream = c->ids;
    t->n_train_stream = c->n_train;
    *out = t;
    return SL_OK;
}

/* ---- table ------------------------------------------------------------------------------ */

static const sl_task_entry core_tasks[] = {
    {"copy", "copying memory: reproduce `length` symbols after a gap of `delay` blanks (accuracy)", copy_keys, NULL, NULL,
     copy_create},
    {"adding", "adding problem: sum the two marked values of a length-T sequence (MSE; 0.167 = always 1)", adding_keys, "length",
     NULL, adding_create},
    {"charlm", "character-level language modelling of a text file (validation loss, perplexity)", charlm_keys, "seq_len",
     "corpus", charlm_create},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const sl_task_entry *sl_task_entry_at(int i)
{
    for (const sl_task_entry *e = core_tasks; e->name; e++)
        if (i-- == 0) return e;
    for (const sl_task_entry *e = sl_tasks_synthetic; e->name; e++)
        if (i-- == 0) return e;
    for (const sl_task_entry *e = sl_tasks_finetune; e->name; e++)
        if (i-- == 0) return e;
    for (const sl_task_entry *e = sl_tasks_tokens; e->name; e++)
        if (i-- == 0) return e;
    return NULL;
}

const sl_task_entry *sl_task_find(const char *name)
{
    const sl_task_entry *e;
    for (int i = 0; (e = sl_task_entry_at(i)); i++)
        if (!strcmp(e->name, name)) return e;
    return NULL;
}

int sl_task_create(const char *spec, sl_task **out)
{
    *out = NULL;
    sl_spec *s;
    int rc = sl_spec_parse(spec, &s);
    if (rc) return sl_error_wrap(rc, "task");
    const sl_task_entry *e = sl_task_find(s->name);
    if (!e) {
        char list[512];
        size_t off = 0;
        const sl_task_entry *x;
        sl_nearest near;
        sl_nearest_init(&near, s->name);
        list[0] = '\0';
        for (int i = 0; (x = sl_task_entry_at(i)); i++) {
            sl_nearest_add(&near, x->name);
            if (off < sizeof list - 1) off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", x->name);
        }
        const char *guess = sl_nearest_get(&near);
        if (guess) rc = sl_error(SL_ENOTFOUND, "unknown task '%s'; did you mean '%s'? tasks: %s", s->name, guess, list);
        else if (sl_registry_find(s->name))
            rc = sl_error(SL_ENOTFOUND, "unknown task '%s' ('%s' is a model, not a task); tasks: %s", s->name, s->name, list);
        else rc = sl_error(SL_ENOTFOUND, "unknown task '%s'; tasks: %s", s->name, list);
        sl_spec_free(s);
        return rc;
    }
    const sl_spec_key *tables[2] = {e->keys, NULL};
    rc = sl_spec_check_kind(s, tables, "task");
    if (!rc) rc = e->create(s, out);
    if (!rc) (*out)->spec = sl_spec_format(s);
    sl_spec_free(s);
    return rc;
}

void sl_task_free(sl_task *t)
{
    if (t && t->destroy) t->destroy(t);
}

int sl_batch_alloc(sl_batch *b, const sl_task *t, int B)
{
    memset(b, 0, sizeof *b);
    b->B = B;
    b->T = t->T;
    size_t N = (size_t)B * t->T;
    if (t->token_in) b->tok = calloc(N, sizeof(int32_t));
    else b->x = calloc(N * t->d_in, sizeof(float));
    if (t->token_out) b->target = calloc(N, sizeof(int32_t));
    if (t->packed && !(b->pos = calloc(N, sizeof(int32_t)))) {
        sl_batch_free(b);
        return sl_error(SL_ENOMEM, "cannot allocate a batch of %d x %d", B, t->T);
    } else {
        b->y = calloc(N * t->d_out, sizeof(float));
        b->mask = calloc(N, sizeof(float));
    }
    if ((t->token_in ? !b->tok : !b->x) || (t->token_out ? !b->target : (!b->y || !b->mask))) {
        sl_batch_free(b);
        return sl_error(SL_ENOMEM, "cannot allocate a batch of %d x %d", B, t->T);
    }
    return SL_OK;
}

void sl_batch_free(sl_batch *b)
{
    free(b->tok);
    free(b->x);
    free(b->target);
    free(b->y);
    free(b->mask);
    free(b->pos);
    memset(b, 0, sizeof *b);
}

double sl_task_loss(const sl_task *t, const sl_batch *b, const float *y, float *dy, float *scratch, long *correct, long *counted)
{
    const int N = b->B * b->T;
    if (t->loss) return t->loss(t, b, y, dy, scratch, correct, counted);
    if (t->token_out) {
        const int V = t->vocab;
        int cnt = 0;
        double loss = sl_xent_forward(scratch, y, b->target, N, V, &cnt);
        if (dy) {
            memset(dy, 0, (size_t)N * V * sizeof(float));
            if (cnt) sl_xent_backward(dy, scratch, b->target, N, V, 1.0f / (float)cnt);
        }
        if (correct) {
            long c = 0;
            for (int n = 0; n < N; n++) {
                if (b->target[n] < 0) continue;
                const float *r = y + (size_t)n * V;
                int am = 0;
                for (int v = 1; v < V; v++)
                    if (r[v] > r[am]) am = v;
                c += am == b->target[n];
            }
            *correct = c;
        }
        if (counted) *counted = cnt;
        return loss;
    }
    double w = 0.0;
    double loss = sl_mse_forward(y, b->y, b->mask, N, t->d_out, &w);
    if (dy) {
        memset(dy, 0, (size_t)N * t->d_out * sizeof(float));
        if (w > 0) sl_mse_backward(dy, y, b->y, b->mask, N, t->d_out, (float)(1.0 / w));
    }
    if (correct) *correct = 0;
    if (counted) *counted = (long)(w / t->d_out);
    return loss;
}

int sl_task_check_model(const sl_task *t, const sl_model *m)
{
    if (t->token_in != !!(m->caps & SL_CAP_TOKEN_IN) || t->token_out != !!(m->caps & SL_CAP_TOKEN_OUT))
        return sl_error(SL_EINVAL, "model %s and task %s disagree on token/real input or output", m->vt->kind, t->name);
    if (t->token_in ? m->d_in != t->vocab : m->d_in != t->d_in)
        return sl_error(SL_ESHAPE, "model input width %d, task %s needs %d%s", m->d_in, t->name, t->token_in ? t->vocab : t->d_in,
                        t->token_in ? " (its vocabulary)" : "");
    if (t->token_out ? m->d_out != t->vocab : m->d_out != t->d_out)
        return sl_error(SL_ESHAPE, "model output width %d, task %s needs %d%s", m->d_out, t->name,
                        t->token_out ? t->vocab : t->d_out, t->token_out ? " (its vocabulary)" : "");
    return SL_OK;
}

int sl_task_eval(sl_task *t, sl_model *m, int n_batches, int B, uint64_t seed, sl_eval_result *res)
{
    memset(res, 0, sizeof *res);
    int rc0 = sl_task_check_model(t, m);
    if (rc0) return rc0;
    sl_rng *rng = sl_rng_alloc(seed);
    sl_batch b;
    int rc = rng ? sl_batch_alloc(&b, t, B) : sl_error(SL_ENOMEM, "out of memory");
    if (rc) {
        sl_rng_free(rng);
        return rc;
    }
    size_t ny = (size_t)B * t->T * m->d_out;
    float *y = malloc(ny * sizeof(float)), *scratch = malloc(ny * sizeof(float));
    if (!y || !scratch) rc = sl_error(SL_ENOMEM, "out of memory");
    int was_training = m->training;
    sl_model_set_training(m, 0, m->rng);
    double loss_sum = 0.0;
    long correct_sum = 0, counted_sum = 0;
    for (int i = 0; i < n_batches && !rc; i++) {
        if ((rc = t->sample(t, 1, rng, &b))) break;
        if ((rc = sl_model_set_docs(m, b.pos)) || (rc = sl_model_forward(m, b.x, b.tok, y, B, t->T))) break;
        long c, n;
        double l = sl_task_loss(t, &b, y, NULL, scratch, &c, &n);
        loss_sum += l * (double)n;
        correct_sum += c;
        counted_sum += n;
    }
    sl_model_set_training(m, was_training, m->rng);
    sl_model_set_docs(m, NULL); /* b.pos is freed below */
    if (!rc) {
        res->counted = counted_sum;
        res->loss = counted_sum ? loss_sum / (double)counted_sum : 0.0;
        res->ppl = t->token_out ? exp(res->loss) : 0.0;
        if (!strcmp(t->metric, "accuracy")) res->metric = counted_sum ? (double)correct_sum / (double)counted_sum : 0.0;
        else res->metric = res->loss;
        if (!isfinite(res->loss)) rc = sl_error(SL_ENAN, "evaluation loss is not finite");
    }
    free(y);
    free(scratch);
    sl_batch_free(&b);
    sl_rng_free(rng);
    return rc;
}
