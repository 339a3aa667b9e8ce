/* nlp/shards.c — reading and writing llm.c token shards (see shards.h). */
#include "nlp/shards.h"
#include "core/error.h"
#include "core/fileio.h"
#include "nlp/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int32_t le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void put32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

static int read_full(int fd, void *buf, size_t n, off_t off)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = pread(fd, p, n, off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

int sl_shard_open(const char *path, sl_shard *s)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sl_error(SL_EIO, "cannot open shard %s: %s", path, strerror(errno));
    struct stat st;
    unsigned char h[SL_SHARD_HEADER_BYTES];
    int rc = SL_OK;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) rc = sl_error(SL_EIO, "shard %s is not a regular file", path);
    else if (st.st_size < SL_SHARD_HEADER_BYTES)
        rc = sl_error(SL_EFORMAT, "shard %s: %lld bytes, shorter than the 1024-byte header", path, (long long)st.st_size);
    else if (read_full(fd, h, sizeof h, 0)) rc = sl_error(SL_EIO, "shard %s: cannot read the header", path);
    if (!rc) {
        int32_t magic = le32(h), version = le32(h + 4), ntok = le32(h + 8), vocab = le32(h + 12), doc = le32(h + 16);
        int width = magic == SL_SHARD_MAGIC16 ? 2 : magic == SL_SHARD_MAGIC32 ? 4 : 0;
        if (!width)
            rc = sl_error(SL_EFORMAT, "shard %s: bad magic %d (expected %d or %d)", path, magic, SL_SHARD_MAGIC16,
                          SL_SHARD_MAGIC32);
        else if (version != (width == 2 ? 1 : 7))
            rc = sl_error(SL_EFORMAT, "shard %s: version %d, expected %d for %s tokens", path, version, width == 2 ? 1 : 7,
                          width == 2 ? "uint16" : "uint32");
        else if (ntok < 0) rc = sl_error(SL_EFORMAT, "shard %s: negative token count %d", path, ntok);
        else if ((int64_t)st.st_size != SL_SHARD_HEADER_BYTES + (int64_t)ntok * width)
            rc = sl_error(SL_EFORMAT, "shard %s: the header says %d tokens (%lld bytes) but the file has %lld bytes", path, ntok,
                          (long long)(SL_SHARD_HEADER_BYTES + (int64_t)ntok * width), (long long)st.st_size);
        else if (vocab < 0 || (width == 2 && vocab > 65536))
            rc = sl_error(SL_EFORMAT, "shard %s: bad vocabulary size %d", path, vocab);
        else if (doc < 0 || (vocab > 0 && doc > vocab)) /* header[4] is 1 + the token: INT32_MIN - 1 would overflow */
            rc = sl_error(SL_EFORMAT, "shard %s: bad document token %lld", path, (long long)doc - 1);
        else {
            s->width = width;
            s->n_tokens = ntok;
            s->vocab = vocab;
            s->doc_token = doc - 1;
        }
    }
    if (!rc && !(s->path = strdup(path))) rc = sl_error(SL_ENOMEM, "out of memory");
    if (rc) {
        close(fd);
        return rc;
    }
    s->fd = fd;
    return SL_OK;
}

void sl_shard_close(sl_shard *s)
{
    if (s->fd >= 0) close(s->fd);
    free(s->path);
    s->fd = -1;
    s->path = NULL;
}

int sl_shard_read(const sl_shard *s, int64_t off, size_t n, int32_t *out, int vocab)
{
    if (off < 0 || off + (int64_t)n > s->n_tokens)
        return sl_error(SL_EINVAL, "shard %s: tokens [%lld, %lld) are outside its %lld", s->path, (long long)off,
                        (long long)(off + (int64_t)n), (long long)s->n_tokens);
    unsigned char buf[8192];
    size_t per = sizeof buf / (size_t)s->width;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per ? n - done : per;
        if (read_full(s->fd, buf, k * (size_t)s->width, (off_t)(SL_SHARD_HEADER_BYTES + (off + (int64_t)done) * s->width)))
            return sl_error(SL_EIO, "shard %s: read failed (was it truncated?)", s->path);
        for (size_t i = 0; i < k; i++) {
            int64_t v = s->width == 2 ? (int64_t)(buf[2 * i] | buf[2 * i + 1] << 8) : (int64_t)(uint32_t)le32(buf + 4 * i);
            if ((vocab > 0 && v >= vocab) || v > INT32_MAX)
                return sl_error(SL_EFORMAT, "shard %s: token %lld at position %lld is outside the vocabulary of %d", s->path,
                                (long long)v, (long long)(off + (int64_t)(done + i)), vocab);
            out[done + i] = (int32_t)v;
        }
        done += k;
    }
    return SL_OK;
}

int sl_shard_writer_open(sl_shard_writer *w, const char *path, int vocab, int doc_token)
{
    memset(w, 0, sizeof *w);
    if (vocab <= 0) return sl_error(SL_EINVAL, "shard %s: vocabulary size %d", path, vocab);
    if (!strcmp(path, "-")) return sl_error(SL_EINVAL, "a shard needs a file, not standard output");
    sl_afile *a = calloc(1, sizeof *a);
    if (!a) return sl_error(SL_ENOMEM, "out of memory");
    int rc = sl_afile_open(a, path);
    if (rc) {
        free(a);
        return rc;
    }
    if (!a->tmp) { /* a FIFO or device: the header cannot be rewritten at the end */
        sl_afile_abort(a);
        free(a);
        return sl_error(SL_EINVAL, "shard %s: must be a regular file", path);
    }
    w->af = a;
    w->f = a->f;
    w->path = strdup(path);
    w->width = vocab <= 65536 ? 2 : 4;
    w->vocab = vocab;
    w->doc_token = doc_token;
    unsigned char h[SL_SHARD_HEADER_BYTES] = {0};
    if (!w->path || fwrite(h, 1, sizeof h, w->f) != sizeof h) {
        sl_shard_writer_abort(w);
        return sl_error(SL_EIO, "writing shard %s failed", path);
    }
    return SL_OK;
}

int sl_shard_writer_put(sl_shard_writer *w, const int32_t *ids, size_t n)
{
    unsigned char buf[8192];
    size_t per = sizeof buf / (size_t)w->width;
    if (w->n + (int64_t)n > INT32_MAX)
        return sl_error(SL_EINVAL, "shard %s: more than 2^31-1 tokens (llm.c's int32 count)", w->path);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per ? n - done : per;
        for (size_t i = 0; i < k; i++) {
            int32_t v = ids[done + i];
            if (v < 0 || v >= w->vocab)
                return sl_error(SL_EINVAL, "shard %s: token %d is outside the vocabulary of %d", w->path, v, w->vocab);
            if (w->width == 2) {
                buf[2 * i] = (unsigned char)v;
                buf[2 * i + 1] = (unsigned char)(v >> 8);
            } else {
                put32(buf + 4 * i, v);
            }
        }
        if (fwrite(buf, (size_t)w->width, k, w->f) != k) return sl_error(SL_EIO, "writing shard %s failed", w->path);
        done += k;
    }
    w->n += (int64_t)n;
    return SL_OK;
}

int sl_shard_writer_close(sl_shard_writer *w)
{
    unsigned char h[20];
    put32(h, w->width == 2 ? SL_SHARD_MAGIC16 : SL_SHARD_MAGIC32);
    put32(h + 4, w->width == 2 ? 1 : 7);
    put32(h + 8, (int32_t)w->n);
    put32(h + 12, w->vocab);
    put32(h + 16, w->doc_token + 1);
    if (fseek(w->f, 0, SEEK_SET) || fwrite(h, 1, sizeof h, w->f) != sizeof h) {
        int rc = sl_error(SL_EIO, "writing the header of shard %s failed", w->path);
        sl_shard_writer_abort(w);
        return rc;
    }
    int rc = sl_afile_commit(w->af);
    free(w->af);
    free(w->path);
    memset(w, 0, sizeof *w);
    return rc;
}

void sl_shard_writer_abort(sl_shard_writer *w)
{
    if (w->af) sl_afile_abort(w->af);
    free(w->af);
    free(w->path);
    memset(w, 0, sizeof *w);
}

/* ---- text -> shards --------------------------------------------------------------------- */

typedef struct {
    const sl_shards_opts *o;
    sl_shards_stats *st;
    sl_shard_writer w;
    int open, phase; /* phase 0: validation, 1: training */
    int vocab, doc;
} emitter;

static int em_open(emitter *e)
{
    size_t n = strlen(e->o->prefix) + 32;
    char *path = malloc(n);
    if (!path) return sl_error(SL_ENOMEM, "out of memory");
    if (e->phase == 0) snprintf(path, n, "%s_val_000000.bin", e->o->prefix);
    else snprintf(path, n, "%s_train_%06d.bin", e->o->prefix, e->st->train_shards);
    int rc = sl_shard_writer_open(&e->w, path, e->vocab, e->doc);
    free(path);
    if (!rc) {
        e->open = 1;
        if (e->phase == 1) e->st->train_shards++;
    }
    return rc;
}

static int em_close(emitter *e)
{
    if (!e->open) return SL_OK;
    e->open = 0;
    return sl_shard_writer_close(&e->w);
}

static int em_put(emitter *e, const int32_t *ids, size_t n)
{
    while (n) {
        if (!e->open) {
            int rc = em_open(e);
            if (rc) return rc;
        }
        size_t k = n;
        if (e->phase == 1 && e->w.n + (int64_t)k > e->o->shard_tokens) k = (size_t)(e->o->shard_tokens - e->w.n);
        int rc = sl_shard_writer_put(&e->w, ids, k);
        if (rc) return rc;
        e->st->tokens += (int64_t)k;
        if (e->phase == 0) e->st->val_tokens += (int64_t)k;
        ids += k;
        n -= k;
        if (e->phase == 1 && e->w.n >= e->o->shard_tokens && (rc = em_close(e))) return rc;
    }
    return SL_OK;
}

static int em_doc(emitter *e)
{
    if (e->phase == 0 && e->st->val_tokens >= e->o->val_tokens) {
        int rc = em_close(e);
        if (rc) return rc;
        e->phase = 1;
    }
    e->st->docs++;
    if (e->phase == 0) e->st->val_docs++;
    int32_t d = e->doc;
    return em_put(e, &d, 1);
}

int sl_shards_encode_files(void *tokenizer, const char *const *files, const sl_shards_opts *o, sl_shards_stats *st)
{
    sl_subword *t = tokenizer;
    memset(st, 0, sizeof *st);
    if (t->doc_token < 0)
        return sl_error(SL_EINVAL, "the tokenizer has no document token (train a BPE with --special '<|endoftext|>'; a "
                                   "SentencePiece model needs bos_id)");
    if (o->shard_tokens < 1 || o->shard_tokens > INT32_MAX) return sl_error(SL_EINVAL, "tokens per shard must be in [1, 2^31-1]");
    emitter e = {o, st, {0}, 0, o->val_tokens > 0 ? 0 : 1, t->n_vocab, t->doc_token};
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    size_t bcap = (size_t)1 << 22;
    unsigned char *buf = malloc(bcap);
    int rc = buf ? SL_OK : sl_error(SL_ENOMEM, "out of memory");
    for (int fi = 0; files[fi] && !rc; fi++) {
        const char *path = files[fi];
        FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!f) {
            rc = sl_error(SL_EIO, "cannot open %s: %s", path, strerror(errno));
            break;
        }
        if (o->docs_by_line || t->kind != SL_SUBWORD_BPE) {
            /* line by line: SentencePiece encodes lines; with docs_by_line each is a document */
            char *line = NULL;
            size_t lcap = 0;
            ssize_t got;
            long lineno = 0;
            int started = 0;
            while (!rc && (got = getline(&line, &lcap, f)) >= 0) {
                lineno++;
                st->bytes += got;
                size_t l = (size_t)got;
                if (o->docs_by_line) {
                    if (l && line[l - 1] == '\n') l--;
                    if (l == 0) continue;
                }
                if ((o->docs_by_line || !started) && (rc = em_doc(&e))) break;
                started = 1;
                n_ids = 0;
                if ((rc = sl_subword_encode(t, (const unsigned char *)line, l, &ids, &n_ids, &cap))) {
                    sl_error_wrap(rc, "%s line %ld", path, lineno);
                    break;
                }
                rc = em_put(&e, ids, n_ids);
            }
            free(line);
            if (!rc && !started && !o->docs_by_line) rc = em_doc(&e); /* an empty file is an empty document */
        } else {
            size_t have = 0, base = 0;
            if ((rc = em_doc(&e))) break;
            for (;;) {
                if (have == bcap) {
                    unsigned char *p = bcap < ((size_t)1 << 31) ? realloc(buf, 2 * bcap) : NULL;
                    if (!p) {
                        rc = sl_error(SL_EFORMAT, "%s: no line break in %zu bytes of text", path, bcap);
                        break;
                    }
                    buf = p;
                    bcap *= 2;
                }
                size_t got = fread(buf + have, 1, bcap - have, f);
                have += got;
                int eof = got == 0;
                if (eof && ferror(f)) {
                    rc = sl_error(SL_EIO, "reading %s failed", path);
                    break;
                }
                size_t cut = eof ? have : sl_bpe_safe_cut(buf, have);
                if (cut) {
                    n_ids = 0;
                    if ((rc = sl_subword_encode(t, buf, cut, &ids, &n_ids, &cap))) {
                        size_t bad = sl_utf8_check(buf, cut);
                        if (bad < cut)
                            rc = sl_error(SL_EFORMAT, "%s: text is not valid UTF-8 at byte offset %zu", path, base + bad);
                        else sl_error_wrap(rc, "%s", path);
                        break;
                    }
                    if ((rc = em_put(&e, ids, n_ids))) break;
                    memmove(buf, buf + cut, have - cut);
                    have -= cut;
                    base += cut;
                    st->bytes += (int64_t)cut;
                }
                if (eof) break;
            }
        }
        if (f != stdin) fclose(f);
    }
    if (!rc) rc = em_close(&e);
    else if (e.open) sl_shard_writer_abort(&e.w);
    if (!rc && st->train_shards == 0)
        rc = sl_error(SL_EINVAL, "all %lld documents went to the validation shard (%lld tokens); lower the validation size",
                      (long long)st->docs, (long long)st->val_tokens);
    free(buf);
    free(ids);
    return rc;
}
