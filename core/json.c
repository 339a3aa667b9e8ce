/* core/json.c — strict RFC 8259 JSON reader (see json.h).
 *
 * Recursive descent over (text, len); every access goes through peek()/the bounds in the
 * loops, so the reader never looks past len and needs no NUL terminator. Strict means:
 * exactly one value, surrounded only by JSON whitespace (space, tab, LF, CR); no comments, no
 * trailing commas, no leading zeros, no NaN/Infinity, no control characters in strings, raw
 * bytes must be well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), and
 * \u escapes must pair surrogates correctly. Two deliberate limits beyond the RFC (which
 * allows implementations to set them): nesting depth <= 64, and \u0000 is refused because
 * strings are handed out as C strings, where an embedded NUL would silently cut a key short.
 * Duplicate keys in one object are refused too: RFC 8259 leaves their meaning undefined,
 * and for file headers (safetensors tensor names) a duplicate is always a broken file.
 */
#include "core/json.h"
#include "core/error.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    int depth;
} parser;

static int fail(const parser *p, const char *what) { return sl_error(SL_EFORMAT, "JSON: %s at byte %zu", what, p->pos); }

static int peek(const parser *p) { return p->pos < p->len ? p->s[p->pos] : -1; }

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

void sl_json_free(sl_json *j)
{
    if (!j) return;
    free(j->str);
    for (size_t i = 0; i < j->n; i++) {
        if (j->keys) free(j->keys[i]);
        if (j->items) sl_json_free(j->items[i]);
    }
    free(j->keys);
    free(j->items);
    free(j);
}

static sl_json *node(sl_json_type t)
{
    sl_json *j = calloc(1, sizeof *j);
    if (j) j->type = t;
    return j;
}

/* ---- strings ---------------------------------------------------------------------------- */

/* A growable byte buffer for decoded strings. */
typedef struct {
    char *b;
    size_t n, cap;
} sbuf;

static int sbuf_put(sbuf *s, const void *src, size_t k)
{
    if (s->n + k + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16;
        while (cap < s->n + k + 1) cap *= 2;
        char *b = realloc(s->b, cap);
        if (!b) return -1;
        s->b = b;
        s->cap = cap;
    }
    memcpy(s->b + s->n, src, k);
    s->n += k;
    s->b[s->n] = '\0';
    return 0;
}

static int put_utf8(sbuf *s, unsigned cp)
{
    unsigned char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = 0xC0 | (cp >> 6);
        u[1] = 0x80 | (cp & 0x3F);
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = 0xE0 | (cp >> 12);
        u[1] = 0x80 | ((cp >> 6) & 0x3F);
        u[2] = 0x80 | (cp & 0x3F);
        k = 3;
    } else {
        u[0] = 0xF0 | (cp >> 18);
        u[1] = 0x80 | ((cp >> 12) & 0x3F);
        u[2] = 0x80 | ((cp >> 6) & 0x3F);
        u[3] = 0x80 | (cp & 0x3F);
        k = 4;
    }
    return sbuf_put(s, u, k);
}

/* Four hex digits after "\u" (p->pos at the first digit). */
static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p->s[p->pos + k];
        unsigned d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else {
            p->pos += k;
            return fail(p, "bad hex digit in \\u escape");
        }
        v = v * 16 + d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at p->pos (lead byte >= 0x80), or 0. The table is
 * RFC 3629 section 4: second-byte ranges exclude overlongs (E0, F0), surrogates (ED) and
 * code points above U+10FFFF (F4). */
static size_t utf8_len(const parser *p)
{
    const unsigned char *s = p->s + p->pos;
    size_t avail = p->len - p->pos;
    unsigned char c = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (avail < k) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

/* Parse a string literal (p->pos at the opening quote) into a malloc'ed C string. */
static int parse_string(parser *p, char **out)
{
    sbuf s = {0};
    p->pos++; /* opening quote */
    int rc;
    for (;;) {
        if (p->pos >= p->len) {
            rc = fail(p, "unterminated string");
            goto bad;
        }
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            rc = fail(p, "control character in string");
            goto bad;
        }
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) {
                rc = fail(p, "unterminated escape");
                goto bad;
            }
            unsigned char e = p->s[p->pos++];
            char ch;
            switch (e) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': {
                unsigned cp;
                if ((rc = hex4(p, &cp))) goto bad;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    p->pos -= 6;
                    rc = fail(p, "lone low surrogate in \\u escape");
                    goto bad;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    /* UTF-16 surrogate pair: must be followed by \uDC00..\uDFFF */
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        rc = fail(p, "high surrogate not followed by a low surrogate");
                        goto bad;
                    }
                    p->pos += 2;
                    unsigned lo;
                    if ((rc = hex4(p, &lo))) goto bad;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        p->pos -= 6;
                        rc = fail(p, "high surrogate not followed by a low surrogate");
                        goto bad;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) {
                    p->pos -= 6;
                    rc = fail(p, "\\u0000 is not supported in strings");
                    goto bad;
                }
                if (put_utf8(&s, cp)) goto nomem;
                continue;
            }
            default:
                p->pos--;
                rc = fail(p, "invalid escape");
                goto bad;
            }
            if (sbuf_put(&s, &ch, 1)) goto nomem;
            continue;
        }
        if (c < 0x80) {
            /* copy a run of plain ASCII at once */
            size_t start = p->pos;
            while (p->pos < p->len && p->s[p->pos] >= 0x20 && p->s[p->pos] < 0x80 && p->s[p->pos] != '"' && p->s[p->pos] != '\\')
                p->pos++;
            if (sbuf_put(&s, p->s + start, p->pos - start)) goto nomem;
            continue;
        }
        size_t k = utf8_len(p);
        if (!k) {
            rc = fail(p, "invalid UTF-8 in string");
            goto bad;
        }
        if (sbuf_put(&s, p->s + p->pos, k)) goto nomem;
        p->pos += k;
    }
    if (!s.b && sbuf_put(&s, "", 0)) goto nomem; /* "" -> allocated empty string */
    *out = s.b;
    return 0;
nomem:
    rc = sl_error(SL_ENOMEM, "JSON: out of memory at byte %zu", p->pos);
bad:
    free(s.b);
    return rc;
}

/* ---- numbers ---------------------------------------------------------------------------- */

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* number = [ minus ] int [ frac ] [ exp ]   (RFC 8259 section 6) */
static int parse_number(parser *p, sl_json **out)
{
    size_t start = p->pos;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
        if (is_digit(peek(p))) return fail(p, "leading zero in number");
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p))) p->pos++;
    } else return fail(p, "invalid number");
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p))) return fail(p, "digit expected after decimal point");
        while (is_digit(peek(p))) p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!is_digit(peek(p))) return fail(p, "digit expected in exponent");
        while (is_digit(peek(p))) p->pos++;
    }
    size_t n = p->pos - start;
    sl_json *j = node(SL_JSON_NUMBER);
    char *txt = malloc(n + 1);
    if (!j || !txt) {
        free(j);
        free(txt);
        return sl_error(SL_ENOMEM, "JSON: out of memory at byte %zu", p->pos);
    }
    memcpy(txt, p->s + start, n);
    txt[n] = '\0';
    /* strtod follows LC_NUMERIC; JSON always uses '.', so translate it for locales that
     * spell the decimal point differently (the source text in j->str keeps the '.'). */
    const char *dp = localeconv()->decimal_point;
    double v;
    errno = 0;
    if (dp && strcmp(dp, ".") != 0 && strchr(txt, '.')) {
        char *conv = malloc(n + strlen(dp) + 1);
        if (!conv) {
            free(j);
            free(txt);
            return sl_error(SL_ENOMEM, "JSON: out of memory");
        }
        const char *dot = strchr(txt, '.');
        size_t pre = (size_t)(dot - txt);
        memcpy(conv, txt, pre);
        strcpy(conv + pre, dp);
        strcat(conv, dot + 1);
        v = strtod(conv, NULL);
        free(conv);
    } else {
        v = strtod(txt, NULL);
    }
    if (isinf(v)) {
        free(j);
        free(txt);
        p->pos = start;
        return fail(p, "number out of range");
    }
    j->number = v;
    j->str = txt;
    *out = j;
    return 0;
}

/* ---- values ----------------------------------------------------------------------------- */

static int parse_value(parser *p, sl_json **out);

static int literal(parser *p, const char *word)
{
    size_t k = strlen(word);
    if (p->len - p->pos < k || memcmp(p->s + p->pos, word, k) != 0) return fail(p, "invalid literal");
    p->pos += k;
    return 0;
}

/* Append v to container j (keys[] used for objects). */
static int append(parser *p, sl_json *j, char *key, sl_json *v, size_t *cap)
{
    if (j->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        sl_json **items = realloc(j->items, nc * sizeof *items);
        if (!items) return sl_error(SL_ENOMEM, "JSON: out of memory at byte %zu", p->pos);
        j->items = items;
        if (j->type == SL_JSON_OBJECT) {
            char **keys = realloc(j->keys, nc * sizeof *keys);
            if (!keys) return sl_error(SL_ENOMEM, "JSON: out of memory at byte %zu", p->pos);
            j->keys = keys;
        }
        *cap = nc;
    }
    if (j->type == SL_JSON_OBJECT) j->keys[j->n] = key;
    j->items[j->n++] = v;
    return 0;
}

static int cmp_key_idx(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

/* Sort-based duplicate check, O(n log n), so a hostile header with a million keys stays fast. */
static int check_duplicates(const sl_json *j, size_t obj_start)
{
    if (j->n < 2) return 0;
    char **sorted = malloc(j->n * sizeof *sorted);
    if (!sorted) return sl_error(SL_ENOMEM, "JSON: out of memory");
    memcpy(sorted, j->keys, j->n * sizeof *sorted);
    qsort(sorted, j->n, sizeof *sorted, cmp_key_idx);
    for (size_t i = 1; i < j->n; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            int rc = sl_error(SL_EFORMAT, "JSON: duplicate key \"%.200s\" in the object at byte %zu", sorted[i], obj_start);
            free(sorted);
            return rc;
        }
    }
    free(sorted);
    return 0;
}

static int parse_container(parser *p, sl_json **out, int is_obj)
{
    size_t start = p->pos;
    if (++p->depth > JSON_MAX_DEPTH) return fail(p, "nesting deeper than 64 levels");
    p->pos++; /* '[' or '{' */
    sl_json *j = node(is_obj ? SL_JSON_OBJECT : SL_JSON_ARRAY);
    if (!j) return sl_error(SL_ENOMEM, "JSON: out of memory");
    size_t cap = 0;
    int rc;
    char close = is_obj ? '}' : ']';
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        goto done;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (is_obj) {
            if (peek(p) != '"') {
                rc = fail(p, "object key (a string) expected");
                goto bad;
            }
            if ((rc = parse_string(p, &key))) goto bad;
            skip_ws(p);
            if (peek(p) != ':') {
                free(key);
                rc = fail(p, "':' expected after object key");
                goto bad;
            }
            p->pos++;
        }
        sl_json *v = NULL;
        if ((rc = parse_value(p, &v))) {
            free(key);
            goto bad;
        }
        if ((rc = append(p, j, key, v, &cap))) {
            free(key);
            sl_json_free(v);
            goto bad;
        }
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == close) {
            p->pos++;
            break;
        }
        rc = fail(p, is_obj ? "',' or '}' expected in object" : "',' or ']' expected in array");
        goto bad;
    }
    if (is_obj && (rc = check_duplicates(j, start))) goto bad;
done:
    p->depth--;
    *out = j;
    return 0;
bad:
    sl_json_free(j);
    return rc;
}

static int parse_value(parser *p, sl_json **out)
{
    skip_ws(p);
    int c = peek(p);
    int rc;
    switch (c) {
    case -1: return fail(p, "unexpected end of input");
    case '{': return parse_container(p, out, 1);
    case '[': return parse_container(p, out, 0);
    case '"': {
        sl_json *j = node(SL_JSON_STRING);
        if (!j) return sl_error(SL_ENOMEM, "JSON: out of memory");
        if ((rc = parse_string(p, &j->str))) {
            free(j);
            return rc;
        }
        *out = j;
        return 0;
    }
    case 't':
    case 'f':
    case 'n': {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if ((rc = literal(p, word))) return rc;
        sl_json *j = node(c == 'n' ? SL_JSON_NULL : SL_JSON_BOOL);
        if (!j) return sl_error(SL_ENOMEM, "JSON: out of memory");
        j->boolean = c == 't';
        *out = j;
        return 0;
    }
    default:
        if (c == '-' || is_digit(c)) return parse_number(p, out);
        return fail(p, "unexpected character");
    }
}

int sl_json_parse(const char *text, size_t len, sl_json **out)
{
    *out = NULL;
    if (!text && len) return sl_error(SL_EINVAL, "JSON: NULL input");
    parser p = {(const unsigned char *)text, len, 0, 0};
    sl_json *j = NULL;
    int rc = parse_value(&p, &j);
    if (rc) return rc;
    skip_ws(&p);
    if (p.pos != p.len) {
        sl_json_free(j);
        return fail(&p, "trailing characters after the JSON value");
    }
    *out = j;
    return SL_OK;
}

const sl_json *sl_json_get(const sl_json *obj, const char *key)
{
    if (!obj || obj->type != SL_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

/* Exact integer test on the source text, not the double: "9007199254740993" is a valid
 * int64 that a double cannot hold. The text is D x 10^E with D the digit string (integer and
 * fraction parts) and E the exponent minus the number of fraction digits; after moving
 * trailing zeros of D into E the value is an integer iff D is zero or E >= 0. So "1.0" is 1,
 * "2.5e1" is 25, "1e2" is 100, while "1.5" and "1e-1" are not integers. */
int sl_json_int(const sl_json *j, int64_t lo, int64_t hi, int64_t *v)
{
    if (!j || j->type != SL_JSON_NUMBER || !j->str) return sl_error(SL_EFORMAT, "expected an integer, got a non-number");
    const char *s = j->str;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    char digits[32]; /* significant digits, at most 19 needed for int64 */
    size_t nd = 0;
    long long exp10 = 0;
    int too_many = 0;
    /* integer part then fraction part, skipping leading zeros */
    for (int frac = 0; *s; s++) {
        if (*s == '.') {
            frac = 1;
            continue;
        }
        if (*s == 'e' || *s == 'E') break;
        if (frac) exp10--;
        if (nd == 0 && *s == '0') continue;
        if (nd < sizeof digits - 1) digits[nd++] = *s;
        else {
            too_many = 1;
            exp10++;
            if (*s != '0') too_many = 2;
        }
    }
    if (too_many == 2) return sl_error(SL_EFORMAT, "number %s is not an exact 64-bit integer", j->str);
    if (*s == 'e' || *s == 'E') {
        s++;
        int eneg = 0;
        if (*s == '+' || *s == '-') eneg = *s++ == '-';
        long long e = 0;
        for (; *s; s++) {
            if (e < 100000) e = e * 10 + (*s - '0'); /* saturate: huge exponents are out of range anyway */
        }
        exp10 += eneg ? -e : e;
    }
    while (nd > 0 && digits[nd - 1] == '0') {
        nd--;
        exp10++;
    }
    if (nd == 0) { /* zero, in any spelling */
        if (lo > 0 || hi < 0) return sl_error(SL_EFORMAT, "integer 0 out of range [%lld, %lld]", (long long)lo, (long long)hi);
        *v = 0;
        return SL_OK;
    }
    if (exp10 < 0) return sl_error(SL_EFORMAT, "number %s is not an integer", j->str);
    if ((long long)nd + exp10 > 19) return sl_error(SL_EFORMAT, "integer %s is out of range", j->str);
    /* accumulate as a negative number so INT64_MIN is representable */
    int64_t acc = 0;
    for (long long k = 0; k < (long long)nd + exp10; k++) {
        int d = k < (long long)nd ? digits[k] - '0' : 0;
        if (acc < (INT64_MIN + d) / 10) return sl_error(SL_EFORMAT, "integer %s is out of range", j->str);
        acc = acc * 10 - d;
    }
    if (!neg && acc == INT64_MIN) return sl_error(SL_EFORMAT, "integer %s is out of range", j->str);
    int64_t val = neg ? acc : -acc;
    if (val < lo || val > hi)
        return sl_error(SL_EFORMAT, "integer %s out of range [%lld, %lld]", j->str, (long long)lo, (long long)hi);
    *v = val;
    return SL_OK;
}

size_t sl_json_quote(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    /* emit one byte if it fits (leaving room for the NUL), always count it */
#define EMIT(ch) \
    do { \
        if (n + 1 < cap) buf[n] = (char)(ch); \
        n++; \
    } while (0)
    static const char hexd[] = "0123456789abcdef";
    EMIT('"');
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        unsigned char c = *q;
        switch (c) {
        case '"':
            EMIT('\\');
            EMIT('"');
            break;
        case '\\':
            EMIT('\\');
            EMIT('\\');
            break;
        case '\n':
            EMIT('\\');
            EMIT('n');
            break;
        case '\r':
            EMIT('\\');
            EMIT('r');
            break;
        case '\t':
            EMIT('\\');
            EMIT('t');
            break;
        case '\b':
            EMIT('\\');
            EMIT('b');
            break;
        case '\f':
            EMIT('\\');
            EMIT('f');
            break;
        default:
            if (c < 0x20) {
                EMIT('\\');
                EMIT('u');
                EMIT('0');
                EMIT('0');
                EMIT(hexd[c >> 4]);
                EMIT(hexd[c & 15]);
            } else {
                EMIT(c); /* bytes >= 0x80 pass through: the input is taken to be UTF-8 */
            }
        }
    }
    EMIT('"');
#undef EMIT
    if (cap) buf[n < cap ? n : cap - 1] = '\0';
    return n;
}
