/* nlp/vocab.c — vocabulary hash table, UTF-8, streaming corpus reader, tokenizers. */
#define _GNU_SOURCE /* qsort_r */
#include "nlp/vocab.h"

#include "core/error.h"
#include "core/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------------------------ */
/* vocabulary                                                                                 */

uint64_t sl_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a, 64-bit, then a final avalanche so the low bits used for slots mix well. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

sl_vocab *sl_vocab_alloc(void)
{
    sl_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        sl_error(SL_ENOMEM, "vocabulary: out of memory");
        return NULL;
    }
    v->nslots = 1024;
    v->slots = malloc(v->nslots * sizeof *v->slots);
    if (!v->slots) {
        free(v);
        sl_error(SL_ENOMEM, "vocabulary: out of memory");
        return NULL;
    }
    memset(v->slots, 0xff, v->nslots * sizeof *v->slots);
    v->unk = v->bos = v->eos = -1;
    return v;
}

void sl_vocab_free(sl_vocab *v)
{
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->counts);
    free(v->slots);
    free(v);
}

static size_t vocab_slot(const sl_vocab *v, const char *w, size_t len, int *found)
{
    size_t mask = v->nslots - 1;
    size_t i = sl_hash_bytes(w, len) & mask;
    for (;;) {
        int32_t e = v->slots[i];
        if (e < 0) {
            *found = 0;
            return i;
        }
        const char *s = v->words[e];
        if (strncmp(s, w, len) == 0 && s[len] == '\0') {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

int sl_vocab_find(const sl_vocab *v, const char *w, size_t len)
{
    int found;
    size_t i = vocab_slot(v, w, len, &found);
    return found ? v->slots[i] : -1;
}

int sl_vocab_lookup(const sl_vocab *v, const char *w, size_t len)
{
    int id = sl_vocab_find(v, w, len);
    return id >= 0 ? id : v->unk;
}

static int vocab_grow_slots(sl_vocab *v)
{
    size_t ns = v->nslots * 2;
    int32_t *s = malloc(ns * sizeof *s);
    if (!s) return sl_error(SL_ENOMEM, "vocabulary: out of memory (%zu slots)", ns);
    memset(s, 0xff, ns * sizeof *s);
    for (int e = 0; e < v->n; e++) {
        size_t i = sl_hash_bytes(v->words[e], strlen(v->words[e])) & (ns - 1);
        while (s[i] >= 0) i = (i + 1) & (ns - 1);
        s[i] = e;
    }
    free(v->slots);
    v->slots = s;
    v->nslots = ns;
    return SL_OK;
}

int sl_vocab_add(sl_vocab *v, const char *w, size_t len, int64_t count, int *id)
{
    int found;
    size_t i = vocab_slot(v, w, len, &found);
    if (found) {
        v->counts[v->slots[i]] += count;
        if (id) *id = v->slots[i];
        return SL_OK;
    }
    if (v->n >= INT32_MAX - 1) return sl_error(SL_EINVAL, "vocabulary: too many entries");
    if ((size_t)(v->n + 1) * 10 > v->nslots * 7) {
        int rc = vocab_grow_slots(v);
        if (rc) return rc;
        i = vocab_slot(v, w, len, &found);
    }
    if (v->n == v->cap) {
        int nc = v->cap ? v->cap * 2 : 256;
        char **nw = realloc(v->words, (size_t)nc * sizeof *nw);
        if (!nw) return sl_error(SL_ENOMEM, "vocabulary: out of memory");
        v->words = nw;
        int64_t *ncnt = realloc(v->counts, (size_t)nc * sizeof *ncnt);
        if (!ncnt) return sl_error(SL_ENOMEM, "vocabulary: out of memory");
        v->counts = ncnt;
        v->cap = nc;
    }
    char *s = malloc(len + 1);
    if (!s) return sl_error(SL_ENOMEM, "vocabulary: out of memory");
    memcpy(s, w, len);
    s[len] = '\0';
    v->words[v->n] = s;
    v->counts[v->n] = count;
    v->slots[i] = v->n;
    if (id) *id = v->n;
    v->n++;
    return SL_OK;
}

int sl_vocab_add_specials(sl_vocab *v)
{
    int rc;
    if ((rc = sl_vocab_add(v, SL_UNK, 5, 0, &v->unk))) return rc;
    if ((rc = sl_vocab_add(v, SL_BOS, 3, 0, &v->bos))) return rc;
    if ((rc = sl_vocab_add(v, SL_EOS, 4, 0, &v->eos))) return rc;
    return SL_OK;
}

static int cmp_count_desc(const void *a, const void *b, void *ctx)
{
    int x = *(const int *)a, y = *(const int *)b;
    const sl_vocab *v = ctx;
    if (v->counts[x] != v->counts[y]) return v->counts[x] > v->counts[y] ? -1 : 1;
    return strcmp(v->words[x], v->words[y]);
}

static int is_special(const char *w) { return !strcmp(w, SL_UNK) || !strcmp(w, SL_BOS) || !strcmp(w, SL_EOS); }

int sl_vocab_prune(const sl_vocab *in, int64_t min_count, int specials, sl_vocab **out)
{
    *out = NULL;
    int *idx = malloc((size_t)(in->n ? in->n : 1) * sizeof *idx);
    if (!idx) return sl_error(SL_ENOMEM, "vocabulary: out of memory");
    int m = 0;
    for (int i = 0; i < in->n; i++)
        if (!(specials && is_special(in->words[i])) && in->counts[i] >= min_count) idx[m++] = i;
    qsort_r(idx, (size_t)m, sizeof *idx, cmp_count_desc, (void *)in);
    sl_vocab *v = sl_vocab_alloc();
    int rc = v ? SL_OK : SL_ENOMEM;
    if (!rc && specials) {
        rc = sl_vocab_add_specials(v);
        for (int k = 0; !rc && k < 3; k++) {
            int j = sl_vocab_find(in, v->words[k], strlen(v->words[k]));
            if (j >= 0) v->counts[k] = in->counts[j];
        }
    }
    for (int k = 0; !rc && k < m; k++)
        rc = sl_vocab_add(v, in->words[idx[k]], strlen(in->words[idx[k]]), in->counts[idx[k]], NULL);
    free(idx);
    if (rc) {
        sl_vocab_free(v);
        return rc;
    }
    *out = v;
    return SL_OK;
}

int sl_vocab_save(const sl_vocab *v, const char *path)
{
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    for (int i = 0; i < v->n; i++) fprintf(a.f, "%s\t%lld\n", v->words[i], (long long)v->counts[i]);
    if (ferror(a.f)) {
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "%s: write failed", path);
    }
    return sl_afile_commit(&a);
}

int sl_vocab_load(const char *path, sl_vocab **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "%s: %s", path, strerror(errno));
    sl_vocab *v = sl_vocab_alloc();
    if (!v) {
        fclose(f);
        return SL_ENOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0;
    int rc = SL_OK;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        char *tab = strrchr(line, '\t');
        if (!tab || tab == line) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: expected \"word<TAB>count\"", path, lineno);
            break;
        }
        char *end;
        errno = 0;
        long long c = strtoll(tab + 1, &end, 10);
        if (errno || *end || c < 0) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: bad count \"%s\"", path, lineno, tab + 1);
            break;
        }
        int before = v->n;
        rc = sl_vocab_add(v, line, (size_t)(tab - line), c, NULL);
        if (!rc && v->n == before)
            rc = sl_error(SL_EFORMAT, "%s:%zu: duplicate word \"%.*s\"", path, lineno, (int)(tab - line), line);
    }
    free(line);
    fclose(f);
    if (rc) {
        sl_vocab_free(v);
        return rc;
    }
    v->unk = sl_vocab_find(v, SL_UNK, 5);
    v->bos = sl_vocab_find(v, SL_BOS, 3);
    v->eos = sl_vocab_find(v, SL_EOS, 4);
    *out = v;
    return SL_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8                                                                                      */

int sl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    int len;
    uint32_t v, min;
    if (c < 0x80) {
        if (cp) *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < (size_t)len) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    if (cp) *cp = v;
    return len;
}

int sl_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = 0xc0 | (cp >> 6);
        o[1] = 0x80 | (cp & 0x3f);
        return 2;
    } else if (cp < 0x10000) {
        if (cp >= 0xd800 && cp <= 0xdfff) return 0;
        o[0] = 0xe0 | (cp >> 12);
        o[1] = 0x80 | ((cp >> 6) & 0x3f);
        o[2] = 0x80 | (cp & 0x3f);
        return 3;
    } else if (cp <= 0x10ffff) {
        o[0] = 0xf0 | (cp >> 18);
        o[1] = 0x80 | ((cp >> 12) & 0x3f);
        o[2] = 0x80 | ((cp >> 6) & 0x3f);
        o[3] = 0x80 | (cp & 0x3f);
        return 4;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* streaming corpus reader                                                                    */

#define CORPUS_BUF (1u << 20)

struct sl_corpus {
    FILE *f;
    int is_stdin;
    char *path;
    unsigned char *buf; /* (CORPUS_BUF,) */
    size_t pos, end;
    int eof;
    uint64_t base; /* file offset of buf[0] */
    uint64_t size;
    uint64_t line; /* 1-based line of the current position */
    uint64_t tok_line;
    char word[SL_WORD_MAX + 1];
};

static int is_delim(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\0'; }

int sl_corpus_open(const char *path, sl_corpus **out)
{
    *out = NULL;
    sl_corpus *c = calloc(1, sizeof *c);
    if (!c) return sl_error(SL_ENOMEM, "corpus: out of memory");
    c->buf = malloc(CORPUS_BUF);
    if (!c->buf) {
        free(c);
        return sl_error(SL_ENOMEM, "corpus: out of memory");
    }
    if (!path || !strcmp(path, "-")) {
        c->f = stdin;
        c->is_stdin = 1;
        c->path = strdup("<stdin>");
    } else {
        c->f = fopen(path, "rb");
        if (!c->f) {
            int e = errno;
            free(c->buf);
            free(c);
            return sl_error(SL_EIO, "%s: %s", path, strerror(e));
        }
        c->path = strdup(path);
        struct stat st;
        if (fstat(fileno(c->f), &st) == 0 && S_ISREG(st.st_mode)) c->size = (uint64_t)st.st_size;
    }
    c->line = 1;
    *out = c;
    return SL_OK;
}

void sl_corpus_close(sl_corpus *c)
{
    if (!c) return;
    if (c->f && !c->is_stdin) fclose(c->f);
    free(c->path);
    free(c->buf);
    free(c);
}

uint64_t sl_corpus_size(const sl_corpus *c) { return c->size; }
uint64_t sl_corpus_tell(const sl_corpus *c) { return c->base + c->pos; }
uint64_t sl_corpus_line(const sl_corpus *c) { return c->tok_line; }

int sl_corpus_seek(sl_corpus *c, uint64_t off)
{
    if (c->is_stdin) return sl_error(SL_EUNSUPPORTED, "%s: cannot seek in standard input", c->path);
    if (fseeko(c->f, (off_t)off, SEEK_SET) != 0) return sl_error(SL_EIO, "%s: seek failed: %s", c->path, strerror(errno));
    c->pos = c->end = 0;
    c->eof = 0;
    c->base = off;
    c->line = 1; /* unknown after a seek into the middle; counts from here */
    return SL_OK;
}

int sl_corpus_rewind(sl_corpus *c) { return sl_corpus_seek(c, 0); }

/* Keep buf[pos..end) and read more after it. Returns bytes added (0 at EOF) or < 0. */
static long corpus_fill(sl_corpus *c)
{
    if (c->eof) return 0;
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->end - c->pos);
        c->base += c->pos;
        c->end -= c->pos;
        c->pos = 0;
    }
    if (c->end == CORPUS_BUF) return 0;
    size_t r = fread(c->buf + c->end, 1, CORPUS_BUF - c->end, c->f);
    if (r == 0) {
        if (ferror(c->f)) return sl_error(SL_EIO, "%s: read failed", c->path);
        c->eof = 1;
    }
    c->end += r;
    return (long)r;
}

int sl_corpus_next_word(sl_corpus *c, const char **w, size_t *len)
{
    for (;;) {
        while (c->pos < c->end && is_delim(c->buf[c->pos])) c->pos++;
        if (c->pos == c->end) {
            long r = corpus_fill(c);
            if (r < 0) return (int)r;
            if (r == 0) return SL_CORPUS_EOF;
            continue;
        }
        if (c->buf[c->pos] == '\n') {
            c->pos++;
            c->tok_line = c->line++;
            return SL_CORPUS_EOL;
        }
        break;
    }
    /* a word starts at pos; make sure it is whole in the buffer (or as long as we keep) */
    size_t n = 0;
    c->tok_line = c->line;
    for (;;) {
        size_t i = c->pos;
        while (i < c->end && !is_delim(c->buf[i]) && c->buf[i] != '\n') {
            if (n < SL_WORD_MAX) c->word[n] = (char)c->buf[i];
            n++;
            i++;
        }
        c->pos = i;
        if (i < c->end) break;
        long r = corpus_fill(c);
        if (r < 0) return (int)r;
        if (r == 0) break;
    }
    if (n > SL_WORD_MAX) {
        /* cut at a character boundary: drop trailing continuation bytes of a split char */
        n = SL_WORD_MAX;
        size_t k = n;
        while (k > 0 && ((unsigned char)c->word[k - 1] & 0xc0) == 0x80) k--;
        if (k > 0 && ((unsigned char)c->word[k - 1] & 0xc0) == 0xc0) {
            if (!sl_utf8_decode((unsigned char *)c->word + k - 1, n - (k - 1), NULL)) n = k - 1;
        }
    }
    c->word[n] = '\0';
    *w = c->word;
    *len = n;
    return SL_CORPUS_TOKEN;
}

int sl_corpus_next_char(sl_corpus *c, const char **w, size_t *len)
{
    if (c->end - c->pos < 4) {
        long r = corpus_fill(c);
        if (r < 0) return (int)r;
    }
    if (c->pos == c->end) return SL_CORPUS_EOF;
    const unsigned char *s = c->buf + c->pos;
    int k = sl_utf8_decode(s, c->end - c->pos, NULL);
    if (k == 0) k = 1; /* invalid byte: on its own */
    memcpy(c->word, s, (size_t)k);
    c->word[k] = '\0';
    c->pos += (size_t)k;
    c->tok_line = c->line;
    if (s[0] == '\n') c->line++;
    *w = c->word;
    *len = (size_t)k;
    return SL_CORPUS_TOKEN;
}

int sl_corpus_next_byte(sl_corpus *c, const char **w, size_t *len)
{
    if (c->pos == c->end) {
        long r = corpus_fill(c);
        if (r < 0) return (int)r;
        if (r == 0) return SL_CORPUS_EOF;
    }
    c->word[0] = (char)c->buf[c->pos++];
    c->word[1] = '\0';
    c->tok_line = c->line;
    if (c->word[0] == '\n') c->line++;
    *w = c->word;
    *len = 1;
    return SL_CORPUS_TOKEN;
}

/* ------------------------------------------------------------------------------------------ */
/* tokenizers                                                                                 */

int sl_tok_kind_parse(const char *s, sl_tok_kind *k)
{
    if (!strcmp(s, "byte")) *k = SL_TOK_BYTE;
    else if (!strcmp(s, "char")) *k = SL_TOK_CHAR;
    else if (!strcmp(s, "word")) *k = SL_TOK_WORD;
    else return sl_error(SL_EINVAL, "unknown tokenizer \"%s\" (byte, char, word)", s);
    return SL_OK;
}

const char *sl_tok_kind_name(sl_tok_kind k) { return k == SL_TOK_BYTE ? "byte" : k == SL_TOK_CHAR ? "char" : "word"; }

int sl_corpus_next(sl_corpus *c, sl_tok_kind k, const char **w, size_t *len)
{
    switch (k) {
    case SL_TOK_BYTE: return sl_corpus_next_byte(c, w, len);
    case SL_TOK_CHAR: return sl_corpus_next_char(c, w, len);
    default: return sl_corpus_next_word(c, w, len);
    }
}

void sl_tokenizer_free(sl_tokenizer *t)
{
    if (!t) return;
    sl_vocab_free(t->vocab);
    free(t);
}

int sl_tokenizer_build(const char *path, sl_tok_kind kind, int64_t min_count, sl_tokenizer **out)
{
    *out = NULL;
    sl_corpus *c;
    int rc = sl_corpus_open(path, &c);
    if (rc) return rc;
    sl_vocab *counts = sl_vocab_alloc();
    if (!counts) {
        sl_corpus_close(c);
        return SL_ENOMEM;
    }
    const char *w;
    size_t len;
    int eos_id = -1;
    for (;;) {
        int r = sl_corpus_next(c, kind, &w, &len);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == SL_CORPUS_EOF) break;
        if (r == SL_CORPUS_EOL) {
            if (eos_id < 0 && (rc = sl_vocab_add(counts, SL_EOS, 4, 0, &eos_id))) break;
            counts->counts[eos_id]++;
            continue;
        }
        if ((rc = sl_vocab_add(counts, w, len, 1, NULL))) break;
    }
    sl_corpus_close(c);
    sl_vocab *v = NULL;
    if (!rc && kind == SL_TOK_BYTE) {
        /* all 256 bytes, in byte order, whatever their counts */
        v = sl_vocab_alloc();
        rc = v ? sl_vocab_add_specials(v) : SL_ENOMEM;
        for (int b = 0; !rc && b < 256; b++) {
            char ch = (char)b;
            int j = sl_vocab_find(counts, &ch, 1);
            rc = sl_vocab_add(v, &ch, 1, j >= 0 ? counts->counts[j] : 0, NULL);
        }
    } else if (!rc) {
        rc = sl_vocab_prune(counts, min_count, 1, &v);
    }
    sl_vocab_free(counts);
    if (rc) {
        sl_vocab_free(v);
        return rc;
    }
    sl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        sl_vocab_free(v);
        return sl_error(SL_ENOMEM, "tokenizer: out of memory");
    }
    t->kind = kind;
    t->vocab = v;
    *out = t;
    return SL_OK;
}

typedef struct {
    int32_t *p;
    size_t n, cap;
} idbuf;

static int idbuf_push(idbuf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        int32_t *p = realloc(b->p, nc * sizeof *p);
        if (!p) return sl_error(SL_ENOMEM, "tokenizer: out of memory");
        b->p = p;
        b->cap = nc;
    }
    b->p[b->n++] = id;
    return SL_OK;
}

int sl_tokenizer_encode_file(const sl_tokenizer *t, const char *path, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    sl_corpus *c;
    int rc = sl_corpus_open(path, &c);
    if (rc) return rc;
    idbuf b = {0};
    const char *w;
    size_t len;
    for (;;) {
        int r = sl_corpus_next(c, t->kind, &w, &len);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == SL_CORPUS_EOF) break;
        int id = r == SL_CORPUS_EOL ? t->vocab->eos : sl_vocab_lookup(t->vocab, w, len);
        if ((rc = idbuf_push(&b, id))) break;
    }
    sl_corpus_close(c);
    if (rc) {
        free(b.p);
        return rc;
    }
    *ids = b.p;
    *n = b.n;
    return SL_OK;
}

int sl_tokenizer_encode(const sl_tokenizer *t, const char *text, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    idbuf b = {0};
    const unsigned char *s = (const unsigned char *)text;
    size_t L = strlen(text), i = 0;
    int rc = SL_OK;
    while (!rc && i < L) {
        size_t k;
        if (t->kind == SL_TOK_BYTE) {
            k = 1;
        } else if (t->kind == SL_TOK_CHAR) {
            k = (size_t)sl_utf8_decode(s + i, L - i, NULL);
            if (!k) k = 1;
        } else {
            if (is_delim(s[i]) || s[i] == '\n') {
                i++;
                continue;
            }
            k = 0;
            while (i + k < L && !is_delim(s[i + k]) && s[i + k] != '\n') k++;
        }
        rc = idbuf_push(&b, sl_vocab_lookup(t->vocab, text + i, k));
        i += k;
    }
    if (rc) {
        free(b.p);
        return rc;
    }
    *ids = b.p;
    *n = b.n;
    return SL_OK;
}

char *sl_tokenizer_decode(const sl_tokenizer *t, const int32_t *ids, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->vocab->n) total += strlen(t->vocab->words[ids[i]]) + 1;
    char *s = malloc(total);
    if (!s) {
        sl_error(SL_ENOMEM, "tokenizer: out of memory");
        return NULL;
    }
    size_t o = 0;
    int need_space = 0;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->vocab->n || id == t->vocab->bos) continue;
        if (t->kind == SL_TOK_WORD && id == t->vocab->eos) {
            s[o++] = '\n';
            need_space = 0;
            continue;
        }
        const char *w = t->vocab->words[id];
        size_t k = strlen(w);
        if (t->kind == SL_TOK_WORD && need_space) s[o++] = ' ';
        memcpy(s + o, w, k);
        o += k;
        need_space = 1;
    }
    s[o] = '\0';
    return s;
}
