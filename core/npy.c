/* core/npy.c — NumPy .npy read (format 1.0/2.0/3.0) and write (1.0) (see npy.h).
 *
 * Layout (numpy/lib/format.py, "NEP 1"): 6-byte magic "\x93NUMPY", major, minor version
 * bytes, header length (u16 LE in 1.0, u32 LE in 2.0/3.0), the header: an ASCII (3.0: UTF-8)
 * Python dict literal with exactly the keys 'descr', 'fortran_order', 'shape', padded with
 * spaces and ended by '\n' so the data starts aligned (numpy >= 1.19 aligns to 64), then the
 * raw C-order data. The reader parses only that tiny subset of Python literal syntax, by
 * hand and within the header's bounds; it does not need or allow anything else.
 */
#include "core/npy.h"
#include "core/error.h"
#include "core/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* descr strings as numpy writes them ('|' = byte order not applicable, for 1-byte types). */
static const struct {
    const char *descr;
    sl_dtype dt;
} DESCRS[] = {
    {"<f4", SL_DT_F32},
    {"<f8", SL_DT_F64},
    {"<f2", SL_DT_F16},
    {"|i1", SL_DT_I8},
    {"<i2", SL_DT_I16},
    {"<i4", SL_DT_I32},
    {"<i8", SL_DT_I64},
    {"|u1", SL_DT_U8},
    {"|b1", SL_DT_BOOL},
    /* also accepted on read: '<' on 1-byte types means the same thing */
    {"<i1", SL_DT_I8},
    {"<u1", SL_DT_U8},
    {"<b1", SL_DT_BOOL},
};

static const char *descr_of(sl_dtype dt)
{
    for (size_t i = 0; i < sizeof DESCRS / sizeof DESCRS[0]; i++)
        if (DESCRS[i].dt == dt) return DESCRS[i].descr;
    return NULL; /* BF16 has no numpy dtype */
}

void sl_npy_free(sl_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- the header dict ---------------------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t n, pos;
} hparser;

static int hfail(const hparser *p, const char *what)
{
    return sl_error(SL_EFORMAT, "bad .npy header dict: %s at header byte %zu", what, p->pos);
}

static int hpeek(const hparser *p) { return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1; }

static void hws(hparser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* 'text' or "text", no escapes (none of the valid keys or descrs needs one). */
static int hstring(hparser *p, char *out, size_t cap)
{
    int q = hpeek(p);
    if (q != '\'' && q != '"') return hfail(p, "string expected");
    p->pos++;
    size_t k = 0;
    for (;;) {
        int c = hpeek(p);
        if (c < 0) return hfail(p, "unterminated string");
        p->pos++;
        if (c == q) break;
        if (c == '\\' || c < 0x20) return hfail(p, "unsupported character in string");
        if (k + 1 >= cap) return hfail(p, "string too long");
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

static int is_word_char(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

static int hbool(hparser *p, int *v)
{
    if (p->n - p->pos >= 4 && memcmp(p->s + p->pos, "True", 4) == 0) {
        *v = 1;
        p->pos += 4;
    } else if (p->n - p->pos >= 5 && memcmp(p->s + p->pos, "False", 5) == 0) {
        *v = 0;
        p->pos += 5;
    } else return hfail(p, "True or False expected for 'fortran_order'");
    if (is_word_char(hpeek(p))) return hfail(p, "True or False expected for 'fortran_order'");
    return 0;
}

/* A tuple of non-negative ints: (), (n,), (a, b), (a, b,). As in Python, "(n)" is not a
 * tuple. Python 2 long suffixes ("3L") from old files are tolerated. */
static int hshape(hparser *p, sl_npy *a)
{
    if (hpeek(p) != '(') return hfail(p, "tuple expected for 'shape'");
    p->pos++;
    int nd = 0, trailing_comma = 0;
    for (;;) {
        hws(p);
        int c = hpeek(p);
        if (c == ')') {
            p->pos++;
            break;
        }
        if (c == '-') return hfail(p, "negative dimension in 'shape'");
        if (c < '0' || c > '9') return hfail(p, "integer expected in 'shape'");
        if (nd == SL_NPY_MAX_DIMS) return hfail(p, "more than 8 dimensions in 'shape'");
        int64_t v = 0;
        while ((c = hpeek(p)) >= '0' && c <= '9') {
            if (v > (INT64_MAX - (c - '0')) / 10) return hfail(p, "dimension too large in 'shape'");
            v = v * 10 + (c - '0');
            p->pos++;
        }
        if (hpeek(p) == 'L') p->pos++;
        a->shape[nd++] = v;
        hws(p);
        c = hpeek(p);
        trailing_comma = 0;
        if (c == ',') {
            p->pos++;
            trailing_comma = 1;
            continue;
        }
        if (c == ')') {
            p->pos++;
            break;
        }
        return hfail(p, "',' or ')' expected in 'shape'");
    }
    if (nd == 1 && !trailing_comma) return hfail(p, "'shape' (n) is not a tuple, write (n,)");
    a->ndim = nd;
    return 0;
}

static int parse_dict(const char *h, size_t n, sl_npy *a)
{
    hparser p = {h, n, 0};
    char key[32], descr[32] = "";
    int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0, rc;
    hws(&p);
    if (hpeek(&p) != '{') return hfail(&p, "'{' expected");
    p.pos++;
    for (;;) {
        hws(&p);
        if (hpeek(&p) == '}') {
            p.pos++;
            break;
        }
        if ((rc = hstring(&p, key, sizeof key))) return rc;
        hws(&p);
        if (hpeek(&p) != ':') return hfail(&p, "':' expected");
        p.pos++;
        hws(&p);
        int *seen; /* a repeated key is refused before its value is parsed */
        if (strcmp(key, "descr") == 0) {
            seen = &have_descr;
            if (!*seen && (rc = hstring(&p, descr, sizeof descr))) return rc;
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &have_fortran;
            if (!*seen && (rc = hbool(&p, &fortran))) return rc;
        } else if (strcmp(key, "shape") == 0) {
            seen = &have_shape;
            if (!*seen && (rc = hshape(&p, a))) return rc;
        } else {
            return sl_error(SL_EFORMAT, "bad .npy header dict: unexpected key '%s'", key);
        }
        if (*seen) return sl_error(SL_EFORMAT, "bad .npy header dict: duplicate key '%s'", key);
        *seen = 1;
        hws(&p);
        int c = hpeek(&p);
        if (c == ',') {
            p.pos++;
            continue;
        }
        if (c == '}') {
            p.pos++;
            break;
        }
        return hfail(&p, "',' or '}' expected");
    }
    hws(&p);
    if (p.pos != p.n) return hfail(&p, "trailing characters after the dict");
    if (!have_descr) return sl_error(SL_EFORMAT, "bad .npy header dict: missing key 'descr'");
    if (!have_fortran) return sl_error(SL_EFORMAT, "bad .npy header dict: missing key 'fortran_order'");
    if (!have_shape) return sl_error(SL_EFORMAT, "bad .npy header dict: missing key 'shape'");
    if (fortran) return sl_error(SL_EUNSUPPORTED, ".npy: fortran_order True (column-major data) is not supported");
    if (descr[0] == '>') return sl_error(SL_EUNSUPPORTED, ".npy: big-endian dtype '%s' is not supported", descr);
    for (size_t i = 0; i < sizeof DESCRS / sizeof DESCRS[0]; i++)
        if (strcmp(descr, DESCRS[i].descr) == 0) {
            a->dtype = DESCRS[i].dt;
            return SL_OK;
        }
    return sl_error(SL_EUNSUPPORTED, ".npy: unsupported dtype '%s' (supported: <f4 <f8 <f2 |i1 <i2 <i4 <i8 |u1 |b1)", descr);
}

/* ---- read ------------------------------------------------------------------------------- */

int sl_npy_parse(const void *buf, size_t len, sl_npy *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    if (len < 10) return sl_error(SL_EFORMAT, ".npy: file is %zu bytes, too short for the 10-byte preamble", len);
    if (memcmp(b, MAGIC, 6) != 0) return sl_error(SL_EFORMAT, ".npy: bad magic (not a .npy file)");
    unsigned major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return sl_error(SL_EUNSUPPORTED, ".npy: format version %u.%u is not supported (1.0, 2.0, 3.0 are)", major, minor);
    size_t pre, hlen;
    if (major == 1) {
        pre = 10;
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
    } else {
        if (len < 12) return sl_error(SL_EFORMAT, ".npy: file is %zu bytes, too short for the 12-byte preamble", len);
        pre = 12;
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    }
    if (hlen > len - pre)
        return sl_error(SL_EFORMAT, ".npy: truncated header (header length %zu, only %zu bytes follow)", hlen, len - pre);
    sl_npy a;
    memset(&a, 0, sizeof a);
    int rc = parse_dict((const char *)b + pre, hlen, &a);
    if (rc) return rc;
    size_t es = sl_dtype_size(a.dtype), numel = 1;
    int has_zero = 0;
    for (int k = 0; k < a.ndim; k++)
        if (a.shape[k] == 0) has_zero = 1;
    for (int k = 0; k < a.ndim && !has_zero; k++) {
        if ((uint64_t)a.shape[k] > SIZE_MAX / numel || numel * (size_t)a.shape[k] > SIZE_MAX / es)
            return sl_error(SL_EFORMAT, ".npy: shape overflows the element count");
        numel *= (size_t)a.shape[k];
    }
    if (has_zero) numel = 0;
    size_t have = len - pre - hlen, need = numel * es;
    if (have != need)
        return sl_error(SL_ESHAPE, ".npy: data is %zu bytes but the shape and dtype need %zu (%s)", have, need,
                        have < need ? "truncated" : "trailing bytes");
    a.numel = numel;
    a.data = malloc(need ? need : 1);
    if (!a.data) return sl_error(SL_ENOMEM, ".npy: out of memory (%zu bytes)", need);
    if (need) memcpy(a.data, b + pre + hlen, need);
    *out = a;
    return SL_OK;
}

int sl_npy_read(const char *path, sl_npy *out)
{
    memset(out, 0, sizeof *out);
    void *buf;
    size_t n;
    int rc = sl_read_file(path, (size_t)1 << 40, &buf, &n);
    if (rc) return rc;
    rc = sl_npy_parse(buf, n, out);
    free(buf);
    if (rc) return sl_error_wrap(rc, "%s", path);
    return SL_OK;
}

/* ---- write ------------------------------------------------------------------------------ */

int sl_npy_write(const char *path, sl_dtype dt, int ndim, const int64_t *shape, const void *data)
{
    const char *descr = descr_of(dt);
    if (!descr) return sl_error(SL_EUNSUPPORTED, "cannot write '%s': dtype %s has no .npy equivalent", path, sl_dtype_name(dt));
    if (ndim < 0 || ndim > SL_NPY_MAX_DIMS) return sl_error(SL_EINVAL, "cannot write '%s': rank %d not in [0, 8]", path, ndim);
    if (ndim > 0 && !shape) return sl_error(SL_EINVAL, "cannot write '%s': NULL shape", path);
    /* numpy's own spelling: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" */
    char h[512];
    size_t n = (size_t)snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    size_t numel = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0) return sl_error(SL_EINVAL, "cannot write '%s': negative dimension %lld", path, (long long)shape[k]);
        if (shape[k] && numel > SIZE_MAX / (uint64_t)shape[k] / sl_dtype_size(dt))
            return sl_error(SL_EINVAL, "cannot write '%s': shape overflows", path);
        numel *= (size_t)shape[k];
        n += (size_t)snprintf(h + n, sizeof h - n, k ? ", %lld" : "%lld", (long long)shape[k]);
    }
    n += (size_t)snprintf(h + n, sizeof h - n, "%s), }", ndim == 1 ? "," : "");
    /* pad with spaces so that preamble (10) + header, ending in '\n', is a multiple of 64 */
    size_t total = (10 + n + 1 + 63) / 64 * 64;
    while (10 + n + 1 < total) h[n++] = ' ';
    h[n++] = '\n';
    size_t bytes = numel * sl_dtype_size(dt);
    if (bytes && !data) return sl_error(SL_EINVAL, "cannot write '%s': NULL data", path);

    unsigned char pre[10];
    memcpy(pre, MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(n & 0xFF);
    pre[9] = (unsigned char)(n >> 8);
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    if (fwrite(pre, 1, 10, a.f) != 10 || fwrite(h, 1, n, a.f) != n || (bytes && fwrite(data, 1, bytes, a.f) != bytes)) {
        int err = errno;
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "cannot write '%s': %s", path, strerror(err));
    }
    return sl_afile_commit(&a);
}
