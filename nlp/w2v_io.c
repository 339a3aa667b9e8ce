/* nlp/w2v_io.c — word2vec vector files (the original tool's text and binary formats, which
 * gensim's save/load_word2vec_format read and write too) and embedding initialisation.
 *
 * text:   "V D\n" then V lines "word v1 v2 .. vD \n" (the tool prints each value with "%f ")
 * binary: "V D\n" then V records "word " + D float32 (little-endian) + "\n"; gensim omits the
 *         newline after the vector, so the reader drops newlines before a word instead.
 */
#include "nlp/word2vec.h"

#include "core/error.h"
#include "core/fileio.h"
#include "nlp/vocab.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int sl_w2v_save(const sl_w2v *w, const char *path, int binary)
{
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    FILE *f = a.f;
    fprintf(f, "%d %d\n", w->V, w->D);
    for (int i = 0; i < w->V; i++) {
        const float *v = w->vec + (size_t)i * w->D;
        fprintf(f, "%s ", w->words[i]);
        if (binary) {
            fwrite(v, sizeof(float), (size_t)w->D, f); /* little-endian hosts (x86, arm64) */
        } else {
            for (int j = 0; j < w->D; j++) fprintf(f, "%f ", (double)v[j]);
        }
        fputc('\n', f);
    }
    if (ferror(f)) {
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "%s: write failed", path);
    }
    return sl_afile_commit(&a);
}

static int parse_header(const char *path, const char *line, int *V, int *D)
{
    long v, d;
    char *end;
    errno = 0;
    v = strtol(line, &end, 10);
    if (end == line || errno || v < 0 || v > INT32_MAX / 2) goto bad;
    const char *p = end;
    d = strtol(p, &end, 10);
    if (end == p || errno || d < 1 || d > 1000000) goto bad;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    if (*end) goto bad;
    *V = (int)v;
    *D = (int)d;
    return SL_OK;
bad:
    return sl_error(SL_EFORMAT, "%s:1: expected the header \"VOCAB_SIZE DIMENSION\", got \"%.*s\"", path,
                    (int)(strcspn(line, "\r\n") < 60 ? strcspn(line, "\r\n") : 60), line);
}

/* text: the line after the header has D numbers after the word */
static int looks_text(const char *line, int D)
{
    int n = 0;
    const char *p = line;
    while (*p && *p != ' ') p++; /* the word */
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p || *p == '\n') break;
        char *end;
        strtod(p, &end);
        if (end == p || (*end && *end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')) return 0;
        n++;
        p = end;
    }
    return n == D;
}

static int load_text(FILE *f, const char *path, sl_w2v *w)
{
    char *line = NULL;
    size_t cap = 0;
    size_t lineno = 1;
    int rc = SL_OK, i = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        if (len == 0) continue;
        if (i == w->V) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: more vectors than the %d in the header", path, lineno, w->V);
            break;
        }
        char *save = NULL, *word = strtok_r(line, " \t", &save);
        if (!word) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: empty line", path, lineno);
            break;
        }
        float *v = w->vec + (size_t)i * w->D;
        int j = 0;
        for (char *t = strtok_r(NULL, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
            if (j == w->D) {
                j++;
                break;
            }
            char *end;
            errno = 0;
            float x = strtof(t, &end);
            if (end == t || *end || !isfinite(x)) {
                rc = sl_error(SL_EFORMAT, "%s:%zu: value %d of \"%s\" is not a finite number: \"%.40s\"", path, lineno, j + 1,
                              word, t);
                break;
            }
            v[j++] = x;
        }
        if (rc) break;
        if (j != w->D) {
            rc = sl_error(SL_EFORMAT, "%s:%zu: \"%s\" has %s%d values, the header says %d", path, lineno, word,
                          j > w->D ? "more than " : "", j > w->D ? w->D : j, w->D);
            break;
        }
        if ((rc = sl_w2v_set_word(w, i, word))) {
            rc = sl_error_wrap(rc, "%s:%zu", path, lineno);
            break;
        }
        i++;
    }
    free(line);
    if (!rc && i < w->V)
        rc = sl_error(SL_EFORMAT, "%s:%zu: file ends after %d of the %d vectors in the header", path, lineno, i, w->V);
    return rc;
}

static int load_binary(FILE *f, const char *path, sl_w2v *w)
{
    char word[SL_WORD_MAX + 1];
    for (int i = 0; i < w->V; i++) {
        long off = ftell(f);
        int ch, n = 0;
        while ((ch = fgetc(f)) == '\n' || ch == '\r') {}
        while (ch != EOF && ch != ' ') {
            if (n == SL_WORD_MAX)
                return sl_error(SL_EFORMAT, "%s: byte %ld: word %d longer than %d bytes (not a binary vector file?)", path, off,
                                i + 1, SL_WORD_MAX);
            word[n++] = (char)ch;
            ch = fgetc(f);
        }
        if (ch == EOF)
            return sl_error(SL_EFORMAT, "%s: byte %ld: file truncated in word %d of the %d in the header", path, ftell(f), i + 1,
                            w->V);
        word[n] = '\0';
        if (n == 0) return sl_error(SL_EFORMAT, "%s: byte %ld: empty word %d", path, off, i + 1);
        float *v = w->vec + (size_t)i * w->D;
        long voff = ftell(f);
        size_t got = fread(v, sizeof(float), (size_t)w->D, f);
        if (got != (size_t)w->D)
            return sl_error(SL_EFORMAT, "%s: byte %ld: file truncated in the vector of \"%s\" (word %d of %d: %zu of %d floats)",
                            path, voff, word, i + 1, w->V, got, w->D);
        for (int j = 0; j < w->D; j++)
            if (!isfinite(v[j]))
                return sl_error(SL_EFORMAT, "%s: byte %ld: value %d of \"%s\" is not finite", path, voff + 4L * j, j + 1, word);
        int rc = sl_w2v_set_word(w, i, word);
        if (rc) return sl_error_wrap(rc, "%s: byte %ld", path, off);
    }
    int ch;
    while ((ch = fgetc(f)) == '\n' || ch == '\r' || ch == ' ') {}
    if (ch != EOF)
        return sl_error(SL_EFORMAT, "%s: byte %ld: more data after the %d vectors in the header", path, ftell(f) - 1, w->V);
    return SL_OK;
}

int sl_w2v_load(const char *path, int binary, sl_w2v **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int rc, V = 0, D = 0;
    if (getline(&line, &cap, f) < 0) {
        rc = sl_error(SL_EFORMAT, "%s:1: empty file, expected the header \"VOCAB_SIZE DIMENSION\"", path);
        goto out;
    }
    if ((rc = parse_header(path, line, &V, &D))) goto out;
    long body = ftell(f);
    if (binary < 0) {
        /* detect from the first record: text has D numbers on its line */
        ssize_t len = getline(&line, &cap, f);
        binary = len >= 0 && !looks_text(line, D);
        fseek(f, body, SEEK_SET);
    }
    /* a header may claim any size: check it against what the file can hold before allocating
     * V x D floats. A binary record is at least a 1-byte word, a space and 4D bytes; a text
     * record a 1-byte word and D values of at least " x" each. */
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && body >= 0) {
        unsigned long long have = (unsigned long long)sb.st_size - (unsigned long long)body;
        unsigned long long need = (unsigned long long)V * (binary ? 4ull * (unsigned)D + 2 : 2ull * (unsigned)D + 1);
        if ((unsigned long long)sb.st_size < (unsigned long long)body || need > have) {
            rc = sl_error(SL_EFORMAT,
                          "%s:1: the header claims %d vectors of %d values (at least %llu bytes), but only %llu "
                          "bytes follow it",
                          path, V, D, need, have);
            goto out;
        }
    }
    sl_w2v *w;
    if ((rc = sl_w2v_alloc(V, D, &w))) goto out;
    rc = binary ? load_binary(f, path, w) : load_text(f, path, w);
    if (rc) sl_w2v_free(w);
    else *out = w;
out:
    free(line);
    fclose(f);
    return rc;
}

int sl_w2v_init_embedding(const char *path, const char *const *words, int V, int D, float *wte, int *n_found)
{
    if (n_found) *n_found = 0;
    sl_w2v *w;
    int rc = sl_w2v_load(path, -1, &w);
    if (rc) return rc;
    if (w->D != D) {
        rc = sl_error(SL_ESHAPE, "%s: vectors have dimension %d, the embedding has %d", path, w->D, D);
        sl_w2v_free(w);
        return rc;
    }
    int found = 0;
    for (int i = 0; i < V; i++) {
        if (!words[i]) continue;
        int j = sl_w2v_find(w, words[i]);
        if (j < 0) continue;
        memcpy(wte + (size_t)i * D, w->vec + (size_t)j * D, (size_t)D * sizeof *wte);
        found++;
    }
    sl_w2v_free(w);
    if (n_found) *n_found = found;
    return SL_OK;
}
