/* lab/constrain_json.c — a JSON-schema subset compiled to a regular expression in
 * lab/constrain.c's syntax, then to the same DFA over bytes and token masks (issue #17 item 6).
 *
 * The subset has no references and no "any value" schema, so every schema is a finite tree and
 * its instances (as written below) form a regular language: no nesting bound is needed beyond the
 * schema's own depth (core/json.c reads at most 64 levels) and the automaton limits of
 * constrain.c (200000 NFA, 20000 DFA states).
 *
 * What is generated (a subset of the schema's instances, every one of them valid):
 *   - whitespace: none, except one optional space after each ',' and ':';
 *   - object: the declared properties in declaration order, each required one present, each
 *     optional one present or not; no other properties;
 *   - array: zero or more items of the `items` schema;
 *   - string: printable ASCII except '"' and '\', valid UTF-8 sequences of 2-4 bytes (no
 *     surrogates, no overlongs), and the escapes \" \\ \/ \b \f \n \r \t (no \uXXXX);
 *   - number: -?(0|[1-9][0-9]{0,19})(.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?; integer:
 *     -?(0|[1-9][0-9]{0,19}): at most 20 integer digits, 20 fraction digits and a 2-digit exponent,
 *     so every number written is finite as a double (below 1e120; unbounded digits let a walk
 *     write 63e+1277...7, which core/json.c and most readers take for infinity: fuzz finding);
 *   - boolean: true|false; null: null;
 *   - enum / const: each allowed value written compactly (numbers as in the schema, strings with
 *     core/json.c's escapes), keeping only the values the rest of the schema accepts. */
#include "lab/constrain.h"
#include "core/error.h"
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_put(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

/* bytes as regex literals: letters and digits as themselves, everything else \xHH */
static void sb_lit(sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            e[0] = (char)c;
            e[1] = 0;
        } else {
            snprintf(e, sizeof e, "\\x%02x", c);
        }
        sb_put(b, e);
    }
}

#define RX_WS " ?"
#define RX_INT "-?(0|[1-9][0-9]{0,19})"
#define RX_NUM RX_INT "(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?"
#define RX_STR \
    "\"([\\x20-\\x21\\x23-\\x5b\\x5d-\\x7f]|\\\\[\"\\\\/bfnrt]|[\\xc2-\\xdf][\\x80-\\xbf]|\\xe0[\\xa0-\\xbf][\\x80-\\xbf]|" \
    "[\\xe1-\\xec\\xee\\xef][\\x80-\\xbf]{2}|\\xed[\\x80-\\x9f][\\x80-\\xbf]|\\xf0[\\x90-\\xbf][\\x80-\\xbf]{2}|" \
    "[\\xf1-\\xf3][\\x80-\\xbf]{3}|\\xf4[\\x80-\\x8f][\\x80-\\xbf]{2})*\""

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64 };

typedef struct {
    char why[512]; /* the first reason a sub-schema has no instance */
} ctx;

static const char *const KEYWORDS[] = {"type", "properties", "required", "items", "enum", "const", "additionalProperties",
                                       /* annotations, ignored */
                                       "title", "description", "$schema", "$id", "$comment", "examples", "default", NULL};

static int type_bit(const char *s)
{
    static const struct {
        const char *n;
        int b;
    } t[] = {{"null", T_NULL},  {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_NUM},
             {"string", T_STR}, {"array", T_ARR},    {"object", T_OBJ}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(s, t[i].n)) return t[i].b;
    return 0;
}

/* the type bits a schema allows (all when it has no "type"); -1 on error */
static int schema_types(const sl_json *s, const char *path)
{
    const sl_json *t = sl_json_get(s, "type");
    if (!t) return 0x7f;
    if (t->type == SL_JSON_STRING) {
        int b = type_bit(t->str);
        if (!b) sl_error(SL_EUNSUPPORTED, "json-schema: %s: unknown type \"%s\"", path, t->str);
        return b ? b : -1;
    }
    if (t->type != SL_JSON_ARRAY) return sl_error(SL_EINVAL, "json-schema: %s: \"type\" must be a string or an array", path), -1;
    int bits = 0;
    for (size_t i = 0; i < t->n; i++) {
        int b = t->items[i]->type == SL_JSON_STRING ? type_bit(t->items[i]->str) : 0;
        if (!b) return sl_error(SL_EUNSUPPORTED, "json-schema: %s: \"type\" item %zu is not a known type name", path, i), -1;
        bits |= b;
    }
    return bits;
}

/* structural checks of one schema object (keywords, their value types); recursive */
static int check_schema(const sl_json *s, const char *path, int depth)
{
    char sub[1024];
    if (depth > 60) return sl_error(SL_EUNSUPPORTED, "json-schema: %s: nested deeper than 60 schemas", path);
    if (s->type == SL_JSON_BOOL) {
        if (s->boolean)
            return sl_error(SL_EUNSUPPORTED,
                            "json-schema: %s: the schema true (any value) is not supported: arbitrary JSON is not a regular "
                            "language; give a type",
                            path);
        return SL_OK;
    }
    if (s->type != SL_JSON_OBJECT) return sl_error(SL_EINVAL, "json-schema: %s: a schema must be an object or a boolean", path);
    for (size_t i = 0; i < s->n; i++) {
        int known = 0;
        for (int k = 0; KEYWORDS[k] && !known; k++) known = !strcmp(s->keys[i], KEYWORDS[k]);
        if (!known)
            return sl_error(SL_EUNSUPPORTED,
                            "json-schema: %s: unsupported keyword \"%s\" (supported: type, properties, required, items, enum, "
                            "const, additionalProperties; annotations title, description, $schema, $id, $comment, examples, "
                            "default are ignored)",
                            path, s->keys[i]);
    }
    if (schema_types(s, path) < 0) return SL_EINVAL;
    const sl_json *e = sl_json_get(s, "enum");
    if (e && e->type != SL_JSON_ARRAY) return sl_error(SL_EINVAL, "json-schema: %s: \"enum\" must be an array", path);
    if (!sl_json_get(s, "type") && !e && !sl_json_get(s, "const"))
        return sl_error(SL_EUNSUPPORTED,
                        "json-schema: %s: a schema without \"type\", \"enum\" or \"const\" allows any value, which is not a "
                        "regular language; give a type",
                        path);
    const sl_json *ap = sl_json_get(s, "additionalProperties");
    if (ap && ap->type != SL_JSON_BOOL)
        return sl_error(SL_EUNSUPPORTED,
                        "json-schema: %s: \"additionalProperties\" must be true or false (a schema is not supported; no "
                        "property outside \"properties\" is generated either way)",
                        path);
    const sl_json *pr = sl_json_get(s, "properties");
    if (pr) {
        if (pr->type != SL_JSON_OBJECT) return sl_error(SL_EINVAL, "json-schema: %s: \"properties\" must be an object", path);
        for (size_t i = 0; i < pr->n; i++) {
            for (size_t j = 0; j < i; j++)
                if (!strcmp(pr->keys[i], pr->keys[j]))
                    return sl_error(SL_EINVAL, "json-schema: %s: property \"%s\" declared twice", path, pr->keys[i]);
            snprintf(sub, sizeof sub, "%s/properties/%s", path, pr->keys[i]);
            int rc = check_schema(pr->items[i], sub, depth + 1);
            if (rc) return rc;
        }
    }
    const sl_json *rq = sl_json_get(s, "required");
    if (rq) {
        if (rq->type != SL_JSON_ARRAY)
            return sl_error(SL_EINVAL, "json-schema: %s: \"required\" must be an array of strings", path);
        for (size_t i = 0; i < rq->n; i++) {
            if (rq->items[i]->type != SL_JSON_STRING)
                return sl_error(SL_EINVAL, "json-schema: %s: \"required\" must be an array of strings", path);
            if (!pr || !sl_json_get(pr, rq->items[i]->str))
                return sl_error(SL_EUNSUPPORTED,
                                "json-schema: %s: required property \"%s\" is not declared in \"properties\" (only declared "
                                "properties are generated)",
                                path, rq->items[i]->str);
        }
    }
    const sl_json *it = sl_json_get(s, "items");
    if (it) {
        if (it->type == SL_JSON_ARRAY)
            return sl_error(SL_EUNSUPPORTED, "json-schema: %s: \"items\" as an array (tuple validation) is not supported", path);
        snprintf(sub, sizeof sub, "%s/items", path);
        int rc = check_schema(it, sub, depth + 1);
        if (rc) return rc;
    } else if (sl_json_get(s, "type") && (schema_types(s, path) & T_ARR) && !e && !sl_json_get(s, "const")) {
        return sl_error(SL_EUNSUPPORTED,
                        "json-schema: %s: an array without \"items\" allows any elements, which is not a regular language; "
                        "give \"items\"",
                        path);
    }
    return SL_OK;
}

/* JSON equality (numbers by value, objects by key set) */
static int json_equal(const sl_json *a, const sl_json *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case SL_JSON_NULL: return 1;
    case SL_JSON_BOOL: return a->boolean == b->boolean;
    case SL_JSON_NUMBER: return a->number == b->number;
    case SL_JSON_STRING: return !strcmp(a->str, b->str);
    case SL_JSON_ARRAY:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!json_equal(a->items[i], b->items[i])) return 0;
        return 1;
    case SL_JSON_OBJECT:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++) {
            const sl_json *o = sl_json_get(b, a->keys[i]);
            if (!o || !json_equal(a->items[i], o)) return 0;
        }
        return 1;
    }
    return 0;
}

/* does value v satisfy schema s (already checked), as this module generates it: objects only
 * with declared properties */
static int valid(const sl_json *s, const sl_json *v)
{
    if (s->type == SL_JSON_BOOL) return s->boolean;
    int bits = schema_types(s, "#");
    int vb = 0;
    switch (v->type) {
    case SL_JSON_NULL: vb = T_NULL; break;
    case SL_JSON_BOOL: vb = T_BOOL; break;
    case SL_JSON_NUMBER: vb = T_NUM | (isfinite(v->number) && floor(v->number) == v->number ? T_INT : 0); break;
    case SL_JSON_STRING: vb = T_STR; break;
    case SL_JSON_ARRAY: vb = T_ARR; break;
    case SL_JSON_OBJECT: vb = T_OBJ; break;
    }
    if (!(bits & vb)) return 0;
    const sl_json *e = sl_json_get(s, "enum"), *c = sl_json_get(s, "const");
    if (c && !json_equal(c, v)) return 0;
    if (e) {
        int in = 0;
        for (size_t i = 0; i < e->n && !in; i++) in = json_equal(e->items[i], v);
        if (!in) return 0;
    }
    if (v->type == SL_JSON_ARRAY) {
        const sl_json *it = sl_json_get(s, "items");
        for (size_t i = 0; it && i < v->n; i++)
            if (!valid(it, v->items[i])) return 0;
    }
    if (v->type == SL_JSON_OBJECT) {
        const sl_json *pr = sl_json_get(s, "properties"), *rq = sl_json_get(s, "required");
        const sl_json *ap = sl_json_get(s, "additionalProperties");
        const int others = !(ap && ap->type == SL_JSON_BOOL && !ap->boolean); /* JSON Schema's default: allowed */
        for (size_t i = 0; i < v->n; i++) {
            const sl_json *ps = pr ? sl_json_get(pr, v->keys[i]) : NULL;
            if (ps ? !valid(ps, v->items[i]) : !others) return 0;
        }
        for (size_t i = 0; rq && i < rq->n; i++)
            if (!sl_json_get(v, rq->items[i]->str)) return 0;
    }
    return 1;
}

/* compact text of a JSON value (numbers as written in the schema) */
static void serialize(sbuf *b, const sl_json *v)
{
    char *q;
    size_t n;
    switch (v->type) {
    case SL_JSON_NULL: sb_put(b, "null"); return;
    case SL_JSON_BOOL: sb_put(b, v->boolean ? "true" : "false"); return;
    case SL_JSON_NUMBER: sb_put(b, v->str); return;
    case SL_JSON_STRING:
        n = sl_json_quote(NULL, 0, v->str);
        if (!(q = malloc(n + 1))) {
            b->oom = 1;
            return;
        }
        sl_json_quote(q, n + 1, v->str);
        sb_putn(b, q, n);
        free(q);
        return;
    case SL_JSON_ARRAY:
        sb_put(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) sb_put(b, ",");
            serialize(b, v->items[i]);
        }
        sb_put(b, "]");
        return;
    case SL_JSON_OBJECT:
        sb_put(b, "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) sb_put(b, ",");
            n = sl_json_quote(NULL, 0, v->keys[i]);
            if (!(q = malloc(n + 1))) {
                b->oom = 1;
                return;
            }
            sl_json_quote(q, n + 1, v->keys[i]);
            sb_putn(b, q, n);
            free(q);
            sb_put(b, ":");
            serialize(b, v->items[i]);
        }
        sb_put(b, "}");
        return;
    }
}

static void set_why(ctx *c, const char *path, const char *what)
{
    if (!c->why[0]) snprintf(c->why, sizeof c->why, "%s: %s", path, what);
}

static int lang(ctx *c, const sl_json *s, const char *path, sbuf *out, int *empty);

/* members i.. of an object: `emitted` says whether a member is already written (a comma
 * first); mem[i] the member's regex or NULL when the property cannot appear */
static void members(sbuf *out, char **mem, const int *req, int n, int i, int emitted)
{
    if (i == n) return;
    if (!mem[i]) {
        members(out, mem, req, n, i + 1, emitted);
        return;
    }
    const char *sep = emitted ? "," RX_WS : "";
    if (req[i] || emitted) {
        /* required: always written; optional after a member: (, m)? then the same state */
        sb_put(out, "(");
        sb_put(out, sep);
        sb_put(out, mem[i]);
        sb_put(out, req[i] ? ")" : ")?");
        members(out, mem, req, n, i + 1, 1);
        return;
    }
    /* optional, nothing written yet: either it starts the members or it is skipped */
    sb_put(out, "((");
    sb_put(out, mem[i]);
    sb_put(out, ")");
    members(out, mem, req, n, i + 1, 1);
    sb_put(out, "|");
    sbuf rest = {0};
    members(&rest, mem, req, n, i + 1, 0);
    if (rest.oom) out->oom = 1;
    if (rest.p) sb_put(out, rest.p);
    free(rest.p);
    sb_put(out, ")");
}

static int lang_object(ctx *c, const sl_json *s, const char *path, sbuf *out, int *empty)
{
    const sl_json *pr = sl_json_get(s, "properties"), *rq = sl_json_get(s, "required");
    const int n = pr ? (int)pr->n : 0;
    char **mem = calloc((size_t)n + 1, sizeof *mem);
    int *req = calloc((size_t)n + 1, sizeof *req);
    int rc = SL_OK;
    *empty = 0;
    if (!mem || !req) rc = sl_error(SL_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc && !*empty; i++) {
        for (size_t j = 0; rq && j < rq->n; j++) req[i] |= !strcmp(rq->items[j]->str, pr->keys[i]);
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/properties/%s", path, pr->keys[i]);
        sbuf v = {0}, m = {0};
        int e = 0;
        rc = lang(c, pr->items[i], sub, &v, &e);
        if (!rc && !e) {
            size_t qn = sl_json_quote(NULL, 0, pr->keys[i]);
            char *q = malloc(qn + 1);
            if (!q) {
                rc = sl_error(SL_ENOMEM, "out of memory");
            } else {
                sl_json_quote(q, qn + 1, pr->keys[i]);
                sb_lit(&m, q, qn);
                free(q);
                sb_put(&m, ":" RX_WS "(");
                sb_put(&m, v.p ? v.p : "");
                sb_put(&m, ")");
                if (m.oom || v.oom) rc = sl_error(SL_ENOMEM, "out of memory");
                mem[i] = m.p;
                m.p = NULL;
            }
        } else if (!rc && e && req[i]) {
            *empty = 1; /* a required property without any value */
        }
        free(v.p);
        free(m.p);
    }
    if (!rc && !*empty) {
        sb_put(out, "\\{");
        members(out, mem, req, n, 0, 0);
        sb_put(out, "\\}");
    }
    for (int i = 0; mem && i < n; i++) free(mem[i]);
    free(mem);
    free(req);
    return rc;
}

/* the regex of schema s into out; *empty = 1 when no value satisfies it (out unspecified) */
static int lang(ctx *c, const sl_json *s, const char *path, sbuf *out, int *empty)
{
    *empty = 0;
    if (s->type == SL_JSON_BOOL) { /* false (true was refused by check_schema) */
        *empty = 1;
        set_why(c, path, "the schema false allows no value");
        return SL_OK;
    }
    const int bits = schema_types(s, path);
    const sl_json *e = sl_json_get(s, "enum"), *k = sl_json_get(s, "const");
    if (e || k) { /* the listed values the whole schema accepts, each written compactly */
        const size_t nv = e ? e->n : 1;
        int any = 0;
        sb_put(out, "(");
        for (size_t i = 0; i < nv; i++) {
            const sl_json *v = e ? e->items[i] : k;
            if (!valid(s, v)) continue;
            sbuf t = {0};
            serialize(&t, v);
            if (t.oom) {
                free(t.p);
                return sl_error(SL_ENOMEM, "out of memory");
            }
            if (any++) sb_put(out, "|");
            sb_lit(out, t.p, t.n);
            free(t.p);
        }
        sb_put(out, ")");
        if (!any) {
            *empty = 1;
            set_why(c, path,
                    e && k ? "no value of \"enum\" equals \"const\" and satisfies the rest of the schema"
                    : e    ? (e->n ? "no value of \"enum\" satisfies the rest of the schema (type, properties, items)"
                                   : "\"enum\" is empty")
                           : "the \"const\" value does not satisfy the rest of the schema");
        }
        return out->oom ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
    }
    if (!bits) {
        *empty = 1;
        set_why(c, path, "\"type\" is an empty list");
        return SL_OK;
    }
    int alts = 0;
    sb_put(out, "(");
#define ALT(rx) \
    do { \
        if (alts++) sb_put(out, "|"); \
        sb_put(out, rx); \
    } while (0)
    if (bits & T_NULL) ALT("null");
    if (bits & T_BOOL) ALT("true|false");
    if (bits & T_NUM) ALT(RX_NUM);
    else if (bits & T_INT) ALT(RX_INT);
    if (bits & T_STR) ALT(RX_STR);
    if (bits & T_ARR) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/items", path);
        sbuf it = {0};
        int ie = 0;
        int rc = lang(c, sl_json_get(s, "items"), sub, &it, &ie);
        if (rc) {
            free(it.p);
            return rc;
        }
        if (alts++) sb_put(out, "|");
        if (ie) { /* no item can be written: only the empty array */
            sb_put(out, "\\[\\]");
        } else {
            sb_put(out, "\\[((");
            sb_put(out, it.p ? it.p : "");
            sb_put(out, ")(," RX_WS "(");
            sb_put(out, it.p ? it.p : "");
            sb_put(out, "))*)?\\]");
        }
        if (it.oom) out->oom = 1;
        free(it.p);
    }
    if (bits & T_OBJ) {
        sbuf o = {0};
        int oe = 0;
        int rc = lang_object(c, s, path, &o, &oe);
        if (rc) {
            free(o.p);
            return rc;
        }
        if (!oe) ALT(o.p ? o.p : "");
        if (o.oom) out->oom = 1;
        free(o.p);
    }
#undef ALT
    sb_put(out, ")");
    if (!alts) *empty = 1; /* the reason is already recorded by the object */
    return out->oom ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
}

int sl_json_schema_regex(const char *schema, size_t len, char **regex)
{
    *regex = NULL;
    sl_json *j = NULL;
    int rc = sl_json_parse(schema, len, &j);
    if (rc) return sl_error_wrap(rc, "json-schema: not valid JSON");
    rc = check_schema(j, "#", 0);
    ctx c = {{0}};
    sbuf out = {0};
    int empty = 0;
    if (!rc) rc = lang(&c, j, "#", &out, &empty);
    if (!rc && empty)
        rc = sl_error(SL_EINVAL, "json-schema: the schema is unsatisfiable: no JSON value satisfies it (%s)",
                      c.why[0] ? c.why : "#: no instance");
    sl_json_free(j);
    if (rc) {
        free(out.p);
        return rc;
    }
    *regex = out.p;
    return SL_OK;
}

int sl_constraint_json_schema(const char *schema, size_t len, int V, const char *const *piece, const int *plen,
                              sl_constraint **out)
{
    *out = NULL;
    char *rx = NULL;
    int rc = sl_json_schema_regex(schema, len, &rx);
    if (rc) return rc;
    rc = sl_constraint_regex(rx, V, piece, plen, out);
    free(rx);
    if (rc == SL_EUNSUPPORTED) return sl_error_wrap(rc, "json-schema: the schema's automaton is too large");
    if (rc) return sl_error_wrap(rc, "json-schema");
    return SL_OK;
}
