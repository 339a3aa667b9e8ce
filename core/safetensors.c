/* core/safetensors.c — safetensors reader and writer (see safetensors.h).
 *
 * Format (huggingface/safetensors, docs "Format"): 8 bytes little-endian u64 N, N bytes of
 * JSON, then the data block. The reader validates every field before computing a single
 * address from it, so truncated or hostile files end in SL_EFORMAT, never an over-read.
 *
 * Writer conventions: tensors are written in insertion order (the order of sl_st_writer_add
 * calls, i.e. a parameter table's order), data contiguous in that order; "__metadata__"
 * comes first in the header, as in the reference implementation; the header is padded with
 * spaces so that 8 + N is a multiple of 8 and the data block is 8-byte aligned in the file.
 */
#include "core/safetensors.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* 100 MB, the reference reader's limit */

static uint64_t load_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

void sl_safetensors_free(sl_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free(st->t[i].name);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta_key[i]);
        free(st->meta_val[i]);
    }
    free(st->t);
    free(st->meta_key);
    free(st->meta_val);
    free(st->buf);
    free(st);
}

/* "F32 [2, 3]"-style shape text for messages. */
static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Validate one tensor entry (name -> {dtype, shape, data_offsets}) into t. */
static int parse_entry(const char *name, const sl_json *v, size_t data_size, sl_st_tensor *t)
{
    if (v->type != SL_JSON_OBJECT) return sl_error(SL_EFORMAT, "tensor '%s': entry is not a JSON object", name);
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return sl_error(SL_EFORMAT, "tensor '%s': unknown field \"%.60s\"", name, k);
    }
    const sl_json *dt = sl_json_get(v, "dtype");
    const sl_json *sh = sl_json_get(v, "shape");
    const sl_json *off = sl_json_get(v, "data_offsets");
    if (!dt) return sl_error(SL_EFORMAT, "tensor '%s': missing field \"dtype\"", name);
    if (!sh) return sl_error(SL_EFORMAT, "tensor '%s': missing field \"shape\"", name);
    if (!off) return sl_error(SL_EFORMAT, "tensor '%s': missing field \"data_offsets\"", name);
    if (dt->type != SL_JSON_STRING) return sl_error(SL_EFORMAT, "tensor '%s': \"dtype\" is not a string", name);
    if (sl_dtype_from_name(dt->str, &t->dtype)) return sl_error_wrap(SL_EFORMAT, "tensor '%s'", name);
    if (sh->type != SL_JSON_ARRAY) return sl_error(SL_EFORMAT, "tensor '%s': \"shape\" is not an array", name);
    if (sh->n > SL_ST_MAX_DIMS)
        return sl_error(SL_EFORMAT, "tensor '%s': shape has %zu dimensions, more than %d", name, sh->n, SL_ST_MAX_DIMS);
    t->ndim = (int)sh->n;
    /* numel = product of dims. A zero dimension makes it 0 whatever the others are; otherwise
     * each partial product is checked, so a hostile shape cannot wrap around to a small
     * number that would then pass the size check. */
    int overflow = 0, has_zero = 0;
    for (size_t k = 0; k < sh->n; k++) {
        int64_t d;
        if (sl_json_int(sh->items[k], 0, INT64_MAX, &d))
            return sl_error_wrap(SL_EFORMAT, "tensor '%s': shape[%zu] must be a non-negative integer", name, k);
        t->shape[k] = d;
        if (d == 0) has_zero = 1;
    }
    size_t numel = 1;
    for (int k = 0; k < t->ndim && !has_zero && !overflow; k++) {
        if ((uint64_t)t->shape[k] > SIZE_MAX / numel) overflow = 1;
        else numel *= (size_t)t->shape[k];
    }
    if (has_zero) numel = 0;
    size_t es = sl_dtype_size(t->dtype);
    if (overflow || (numel && numel > SIZE_MAX / es)) {
        char s[256];
        shape_str(s, sizeof s, t->ndim, t->shape);
        return sl_error(SL_EFORMAT, "tensor '%s': shape %s overflows the element count", name, s);
    }
    t->numel = numel;
    if (off->type != SL_JSON_ARRAY || off->n != 2)
        return sl_error(SL_EFORMAT, "tensor '%s': \"data_offsets\" must be an array [begin, end]", name);
    int64_t b, e;
    if (sl_json_int(off->items[0], 0, INT64_MAX, &b) || sl_json_int(off->items[1], 0, INT64_MAX, &e))
        return sl_error_wrap(SL_EFORMAT, "tensor '%s': data_offsets must be non-negative integers", name);
    if (b > e) return sl_error(SL_EFORMAT, "tensor '%s': data_offsets begin %lld > end %lld", name, (long long)b, (long long)e);
    if ((uint64_t)e > data_size)
        return sl_error(SL_EFORMAT, "tensor '%s': data_offsets end %lld is beyond the data block (%zu bytes)", name, (long long)e,
                        data_size);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    if (t->end - t->begin != numel * es) {
        char s[256];
        shape_str(s, sizeof s, t->ndim, t->shape);
        return sl_error(SL_EFORMAT, "tensor '%s': data_offsets span %zu bytes but %s %s needs %zu", name, t->end - t->begin,
                        sl_dtype_name(t->dtype), s, numel * es);
    }
    return SL_OK;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const sl_st_tensor *x = *(const sl_st_tensor *const *)a, *y = *(const sl_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The tensors must tile [0, data_size) exactly: sorted by offset, each begins where the
 * previous ended. Anything else is a gap (unexplained bytes), an overlap (two tensors share
 * bytes: writing one corrupts the other) or trailing bytes. */
static int check_tiling(sl_safetensors *st)
{
    const sl_st_tensor **order = malloc((st->n ? st->n : 1) * sizeof *order);
    if (!order) return sl_error(SL_ENOMEM, "out of memory");
    for (size_t i = 0; i < st->n; i++) order[i] = &st->t[i];
    qsort(order, st->n, sizeof *order, cmp_by_offset);
    size_t pos = 0;
    const sl_st_tensor *prev = NULL;
    int rc = SL_OK;
    for (size_t i = 0; i < st->n && !rc; i++) {
        const sl_st_tensor *t = order[i];
        if (t->begin < pos)
            rc = sl_error(SL_EFORMAT, "tensor '%s' (bytes %zu..%zu) overlaps tensor '%s' (bytes %zu..%zu)", t->name, t->begin,
                          t->end, prev->name, prev->begin, prev->end);
        else if (t->begin > pos)
            rc = sl_error(SL_EFORMAT, "gap of %zu unused bytes in the data block before tensor '%s' (offset %zu)", t->begin - pos,
                          t->name, t->begin);
        pos = t->end;
        prev = t;
    }
    if (!rc && pos != st->data_size)
        rc = sl_error(SL_EFORMAT, "%zu trailing bytes after the last tensor (data block is %zu bytes, tensors cover %zu)",
                      st->data_size - pos, st->data_size, pos);
    free(order);
    return rc;
}

/* Parse a malloc'ed file image and take ownership of it (freed on failure too). */
static int parse_owned(void *buf, size_t len, sl_safetensors **out)
{
    *out = NULL;
    int rc = SL_OK;
    if (len == 0) rc = sl_error(SL_EFORMAT, "empty file (a safetensors file starts with an 8-byte header length)");
    else if (len < 8) rc = sl_error(SL_EFORMAT, "file is %zu bytes, shorter than the 8-byte header length", len);
    if (rc) {
        free(buf);
        return rc;
    }
    uint64_t hlen = load_u64le(buf);
    if (hlen > ST_MAX_HEADER)
        rc = sl_error(SL_EFORMAT, "header length %llu is larger than the 100 MB limit", (unsigned long long)hlen);
    else if (hlen > len - 8)
        rc = sl_error(SL_EFORMAT, "header length %llu exceeds the file size (%zu bytes after the length field)",
                      (unsigned long long)hlen, len - 8);
    else if (hlen == 0) rc = sl_error(SL_EFORMAT, "header length is 0 (the header must be a JSON object)");
    if (rc) {
        free(buf);
        return rc;
    }

    sl_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        free(buf);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    st->buf = buf;
    st->data = (unsigned char *)st->buf + 8 + hlen;
    st->data_size = len - 8 - (size_t)hlen;

    sl_json *root = NULL;
    rc = sl_json_parse((const char *)st->buf + 8, (size_t)hlen, &root);
    if (rc) {
        rc = sl_error_wrap(rc, "header");
        goto bad;
    } /* "header: JSON: <what> at byte <k>" */
    if (root->type != SL_JSON_OBJECT) {
        rc = sl_error(SL_EFORMAT, "header is not a JSON object");
        goto bad;
    }

    size_t ntensor = root->n;
    const sl_json *meta = sl_json_get(root, "__metadata__");
    if (meta) ntensor--;
    st->t = calloc(ntensor ? ntensor : 1, sizeof *st->t);
    if (!st->t) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto bad;
    }

    if (meta) {
        if (meta->type != SL_JSON_OBJECT) {
            rc = sl_error(SL_EFORMAT, "\"__metadata__\" is not a JSON object");
            goto bad;
        }
        st->meta_key = calloc(meta->n ? meta->n : 1, sizeof(char *));
        st->meta_val = calloc(meta->n ? meta->n : 1, sizeof(char *));
        if (!st->meta_key || !st->meta_val) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto bad;
        }
        for (size_t i = 0; i < meta->n; i++) {
            if (meta->items[i]->type != SL_JSON_STRING) {
                rc = sl_error(SL_EFORMAT, "\"__metadata__\" value for key '%s' is not a string", meta->keys[i]);
                goto bad;
            }
            st->meta_key[i] = strdup(meta->keys[i]);
            st->meta_val[i] = strdup(meta->items[i]->str);
            st->n_meta = i + 1;
            if (!st->meta_key[i] || !st->meta_val[i]) {
                rc = sl_error(SL_ENOMEM, "out of memory");
                goto bad;
            }
        }
    }
    /* Duplicate tensor names were already refused by the JSON reader ("duplicate key"). */
    for (size_t i = 0; i < root->n; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0) continue;
        sl_st_tensor *t = &st->t[st->n];
        if ((rc = parse_entry(root->keys[i], root->items[i], st->data_size, t))) goto bad;
        if (!(t->name = strdup(root->keys[i]))) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto bad;
        }
        st->n++;
    }
    if ((rc = check_tiling(st))) goto bad;
    sl_json_free(root);
    *out = st;
    return SL_OK;
bad:
    sl_json_free(root);
    sl_safetensors_free(st);
    return rc;
}

int sl_safetensors_parse(const void *buf, size_t len, sl_safetensors **out)
{
    *out = NULL;
    void *copy = malloc(len ? len : 1);
    if (!copy) return sl_error(SL_ENOMEM, "out of memory (%zu bytes)", len);
    if (len) memcpy(copy, buf, len);
    return parse_owned(copy, len, out);
}

int sl_safetensors_read(const char *path, sl_safetensors **out)
{
    *out = NULL;
    void *buf;
    size_t n;
    /* The whole file is read at once; the limit only guards against absurd sizes. */
    int rc = sl_read_file(path, (size_t)1 << 40, &buf, &n);
    if (rc) return rc;
    rc = parse_owned(buf, n, out); /* adopts buf: no second copy of a big file */
    if (rc) return sl_error_wrap(rc, "%s", path);
    return SL_OK;
}

const sl_st_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->t[i].name, name) == 0) return &st->t[i];
    return NULL;
}

const char *sl_safetensors_meta(const sl_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_key[i], key) == 0) return st->meta_val[i];
    return NULL;
}

int sl_safetensors_get_f32(const sl_safetensors *st, const sl_st_tensor *t, float *dst, size_t dst_n)
{
    if (!sl_dtype_is_float(t->dtype))
        return sl_error(SL_EFORMAT, "tensor '%s' has dtype %s, not a float type (F32/F64/F16/BF16)", t->name,
                        sl_dtype_name(t->dtype));
    if (dst_n != t->numel) return sl_error(SL_ESHAPE, "tensor '%s' has %zu elements, expected %zu", t->name, t->numel, dst_n);
    int rc = sl_dtype_to_f32(t->dtype, st->data + t->begin, dst, t->numel, 1);
    if (rc) return sl_error_wrap(rc, "tensor '%s'", t->name);
    return SL_OK;
}

/* ---- writer ----------------------------------------------------------------------------- */

typedef struct {
    char *name;
    sl_dtype dtype;
    int ndim;
    int64_t shape[SL_ST_MAX_DIMS];
    size_t bytes;
    void *copy; /* owned copy, or NULL when data is borrowed */
    const void *data;
} st_entry;

struct sl_st_writer {
    st_entry *e;
    size_t n, cap;
    char **mk, **mv;
    size_t n_meta, cap_meta;
};

sl_st_writer *sl_st_writer_new(void) { return calloc(1, sizeof(sl_st_writer)); }

void sl_st_writer_free(sl_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->e[i].name);
        free(w->e[i].copy);
    }
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->e);
    free(w->mk);
    free(w->mv);
    free(w);
}

static int writer_add(sl_st_writer *w, const char *name, sl_dtype dt, int ndim, const int64_t *shape, const void *data, int copy)
{
    if (!w || !name) return sl_error(SL_EINVAL, "safetensors writer: NULL argument");
    if (strcmp(name, "__metadata__") == 0)
        return sl_error(SL_EINVAL, "safetensors writer: \"__metadata__\" is reserved, not a tensor name");
    if ((unsigned)dt >= SL_DT_COUNT) return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': bad dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > SL_ST_MAX_DIMS)
        return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': rank %d not in [0, %d]", name, ndim, SL_ST_MAX_DIMS);
    if (ndim > 0 && !shape) return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': NULL shape", name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0) return sl_error(SL_EINVAL, "safetensors writer: duplicate tensor name '%s'", name);
    size_t numel = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0) return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': negative dimension", name);
        if (shape[k] && numel > SIZE_MAX / (uint64_t)shape[k])
            return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': shape overflows", name);
        numel *= (size_t)shape[k];
    }
    size_t es = sl_dtype_size(dt);
    if (numel > SIZE_MAX / es) return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': shape overflows", name);
    size_t bytes = numel * es;
    if (bytes && !data) return sl_error(SL_EINVAL, "safetensors writer: tensor '%s': NULL data", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        st_entry *e = realloc(w->e, cap * sizeof *e);
        if (!e) return sl_error(SL_ENOMEM, "out of memory");
        w->e = e;
        w->cap = cap;
    }
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return sl_error(SL_ENOMEM, "out of memory");
    if (copy && bytes) {
        e->copy = malloc(bytes);
        if (!e->copy) {
            free(e->name);
            return sl_error(SL_ENOMEM, "out of memory copying tensor '%s'", name);
        }
        memcpy(e->copy, data, bytes);
        e->data = e->copy;
    } else {
        e->data = data;
    }
    e->dtype = dt;
    e->ndim = ndim;
    for (int k = 0; k < ndim; k++) e->shape[k] = shape[k];
    e->bytes = bytes;
    w->n++;
    return SL_OK;
}

int sl_st_writer_add(sl_st_writer *w, const char *name, sl_dtype dt, int ndim, const int64_t *shape, const void *data)
{
    return writer_add(w, name, dt, ndim, shape, data, 1);
}

int sl_st_writer_add_ref(sl_st_writer *w, const char *name, sl_dtype dt, int ndim, const int64_t *shape, const void *data)
{
    return writer_add(w, name, dt, ndim, shape, data, 0);
}

int sl_st_writer_meta(sl_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return sl_error(SL_EINVAL, "safetensors writer: NULL metadata key or value");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->mk[i], key) == 0) return sl_error(SL_EINVAL, "safetensors writer: duplicate metadata key '%s'", key);
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? 2 * w->cap_meta : 8;
        char **mk = realloc(w->mk, cap * sizeof *mk);
        if (!mk) return sl_error(SL_ENOMEM, "out of memory");
        w->mk = mk;
        char **mv = realloc(w->mv, cap * sizeof *mv);
        if (!mv) return sl_error(SL_ENOMEM, "out of memory");
        w->mv = mv;
        w->cap_meta = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    w->mk[w->n_meta] = k;
    w->mv[w->n_meta] = v;
    w->n_meta++;
    return SL_OK;
}

/* Growable text buffer for the JSON header. */
typedef struct {
    char *b;
    size_t n, cap;
    int oom;
} tbuf;

static void tb_reserve(tbuf *t, size_t extra)
{
    if (t->oom || t->n + extra + 1 <= t->cap) return;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->n + extra + 1) cap *= 2;
    char *b = realloc(t->b, cap);
    if (!b) {
        t->oom = 1;
        return;
    }
    t->b = b;
    t->cap = cap;
}

static void tb_puts(tbuf *t, const char *s)
{
    size_t k = strlen(s);
    tb_reserve(t, k);
    if (t->oom) return;
    memcpy(t->b + t->n, s, k + 1);
    t->n += k;
}

static void tb_quote(tbuf *t, const char *s)
{
    size_t k = sl_json_quote(NULL, 0, s);
    tb_reserve(t, k);
    if (t->oom) return;
    sl_json_quote(t->b + t->n, k + 1, s);
    t->n += k;
}

int sl_st_writer_write(sl_st_writer *w, const char *path)
{
    if (!w || !path) return sl_error(SL_EINVAL, "safetensors writer: NULL argument");
    tbuf h = {0};
    char num[64];
    tb_puts(&h, "{");
    int first = 1;
    if (w->n_meta) {
        tb_puts(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) tb_puts(&h, ",");
            tb_quote(&h, w->mk[i]);
            tb_puts(&h, ":");
            tb_quote(&h, w->mv[i]);
        }
        tb_puts(&h, "}");
        first = 0;
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const st_entry *e = &w->e[i];
        if (!first) tb_puts(&h, ",");
        first = 0;
        tb_quote(&h, e->name);
        tb_puts(&h, ":{\"dtype\":\"");
        tb_puts(&h, sl_dtype_name(e->dtype));
        tb_puts(&h, "\",\"shape\":[");
        for (int k = 0; k < e->ndim; k++) {
            snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)e->shape[k]);
            tb_puts(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + e->bytes);
        tb_puts(&h, num);
        off += e->bytes;
    }
    tb_puts(&h, "}");
    /* pad with spaces (JSON whitespace) so the data block starts 8-byte aligned */
    while (!h.oom && h.n % 8) tb_puts(&h, " ");
    if (h.oom) {
        free(h.b);
        return sl_error(SL_ENOMEM, "out of memory building the header for '%s'", path);
    }

    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)h.n >> (8 * k));
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) {
        free(h.b);
        return rc;
    }
    int ok = fwrite(len8, 1, 8, a.f) == 8 && fwrite(h.b, 1, h.n, a.f) == h.n;
    for (size_t i = 0; ok && i < w->n; i++)
        if (w->e[i].bytes) ok = fwrite(w->e[i].data, 1, w->e[i].bytes, a.f) == w->e[i].bytes;
    free(h.b);
    if (!ok) {
        int err = errno;
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "cannot write '%s': %s", path, strerror(err));
    }
    return sl_afile_commit(&a);
}
