/* t/t-constrain.c — constrained generation (lab/constrain.h, issue #17 item 6, regular
 * expressions): the DFA's whole-text matches against POSIX extended regular expressions (libc
 * regcomp/regexec, anchored) over every string up to length 6 on a small alphabet, for a set
 * of patterns; the token masks over a multi-character vocabulary; generation with a
 * random-weight model (a GPT over characters, a Mamba LM over a vocabulary of multi-character
 * pieces) under the constraint over many seeds: every output matches; refused patterns (syntax
 * outside the subset, a pattern that matches nothing, one the vocabulary cannot write).
 * JSON schemas (lab/constrain_json.c): a JSON reader and schema validator written here (not
 * core/json.c, not the compiler's) checked on hand-written texts; every output over 200 seeds
 * parses and satisfies the schema, for three schemas, with a random GPT over the 95 printable
 * characters and a random LLaMA over a llama2.c tokenizer.bin (byte tokens and multi-character
 * pieces); texts in and out of one schema's language; unsatisfiable, malformed and unsupported
 * schemas refused with the keyword and its JSON-pointer path in the message. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "lab/constrain.h"
#include "lab/generate.h"
#include "lab/registry.h"
#include "lab/sample.h"
#include "seq/llama2c.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* all strings over alpha up to length maxlen: DFA vs regexec */
static void against_posix(const char *pat, const char *posix, const char *alpha, int maxlen)
{
    sl_constraint *c = NULL;
    if (sl_constraint_regex(pat, 0, NULL, NULL, &c)) {
        ok(0, "compile %s: %s", pat, sl_errmsg());
        return;
    }
    regex_t re;
    char anch[256];
    snprintf(anch, sizeof anch, "^(%s)$", posix ? posix : pat);
    if (regcomp(&re, anch, REG_EXTENDED | REG_NOSUB)) {
        ok(0, "regcomp %s", anch);
        sl_constraint_free(c);
        return;
    }
    const int A = (int)strlen(alpha);
    char s[16];
    long tested = 0, bad = 0, matched = 0;
    for (int L = 0; L <= maxlen; L++) {
        long total = 1;
        for (int i = 0; i < L; i++) total *= A;
        for (long k = 0; k < total; k++) {
            long x = k;
            for (int i = 0; i < L; i++) {
                s[i] = alpha[x % A];
                x /= A;
            }
            s[L] = 0;
            int a = sl_constraint_matches(c, s, L), b = regexec(&re, s, 0, NULL, 0) == 0;
            if (a != b && bad++ < 3) diag("'%s': dfa %d posix %d", s, a, b);
            matched += a;
            tested++;
        }
    }
    ok(bad == 0, "/%s/ (%d DFA states) == POSIX ERE on all %ld strings over \"%s\" up to length %d (%ld match)", pat,
       sl_constraint_states(c), tested, alpha, maxlen, matched);
    regfree(&re);
    sl_constraint_free(c);
}

static void refused(const char *pat, const char *needle)
{
    sl_constraint *c = NULL;
    int rc = sl_constraint_regex(pat, 0, NULL, NULL, &c);
    ok(rc != 0 && !c && strstr(sl_errmsg(), needle), "/%s/ refused: %s", pat, sl_errmsg());
}

/* generate up to n tokens with the constraint; returns the text length */
static int gen(sl_model *m, sl_constraint *c, const char *const *piece, const int *len, int32_t start, uint64_t seed, int n,
               char *text)
{
    const int V = m->d_out;
    sl_decoder *d = NULL;
    sl_rng *rng = sl_rng_alloc(seed);
    float *lg = malloc(V * sizeof(float)), *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc(V * sizeof(int));
    int32_t tl = 0;
    sl_decoder_new(m, 0, &d);
    sl_decoder_feed(d, &start, 1);
    sl_constraint_reset(c);
    sl_sampler smp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    for (int k = 0; k < n; k++) {
        memcpy(lg, sl_decoder_logits(d), V * sizeof(float));
        if (sl_constraint_mask_budget(c, lg, n - k) == 0) break;
        int32_t t = sl_sample_logits(lg, V, &smp, rng, work, iw);
        if (sl_constraint_advance(c, t)) break;
        memcpy(text + tl, piece[t], len[t]);
        tl += len[t];
        if (sl_decoder_feed(d, &t, 1)) break;
    }
    text[tl] = 0;
    sl_decoder_free(d);
    sl_rng_free(rng);
    free(lg);
    free(work);
    free(iw);
    return tl;
}

static void gen_case(const char *label, sl_model *m, const char *pat, const char *const *piece, const int *len, int n, int seeds)
{
    sl_constraint *c = NULL;
    if (sl_constraint_regex(pat, m->d_out, piece, len, &c)) {
        ok(0, "%s: compile /%s/: %s", label, pat, sl_errmsg());
        return;
    }
    regex_t re;
    char anch[512];
    snprintf(anch, sizeof anch, "^(%s)$", pat);
    int posix = regcomp(&re, anch, REG_EXTENDED | REG_NOSUB) == 0;
    int good = 0, distinct = 0;
    char text[4096], first[4096] = "";
    for (int s = 0; s < seeds; s++) {
        int L = gen(m, c, piece, len, 0, 100 + s, n, text);
        int okm = sl_constraint_matches(c, text, L) && (!posix || regexec(&re, text, 0, NULL, 0) == 0);
        if (!okm && good == s) diag("seed %d: '%s' does not match", s, text);
        good += okm;
        if (s == 0) strcpy(first, text);
        else distinct += strcmp(first, text) != 0;
    }
    ok(good == seeds && distinct > 0, "%s: /%s/: %d of %d sampled outputs match (e.g. '%s')", label, pat, good, seeds, first);
    if (posix) regfree(&re);
    sl_constraint_free(c);
}

/* ---- JSON schema (issue #17 item 6): a JSON reader and a schema validator of the test's own,
 * independent of lab/constrain_json.c and core/json.c ---- */
typedef struct tj {
    char t; /* 'n' null, 'b' boolean, 'd' number, 's' string, 'a' array, 'o' object */
    int b;
    double d;
    char *s;
    int n;
    char **k;
    struct tj **v;
} tj;

static void tj_free(tj *j)
{
    if (!j) return;
    for (int i = 0; i < j->n; i++) {
        if (j->k) free(j->k[i]);
        tj_free(j->v[i]);
    }
    free(j->k);
    free(j->v);
    free(j->s);
    free(j);
}

typedef struct {
    const unsigned char *p, *e;
    int depth;
} tjp;

static void tj_ws(tjp *r)
{
    while (r->p < r->e && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

/* a string after its opening quote: strict (no control bytes, known escapes, valid UTF-8) */
static char *tj_string(tjp *r)
{
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    for (;;) {
        if (r->p >= r->e) goto bad;
        unsigned c = *r->p++;
        int extra = 0;
        unsigned cp = c;
        if (c == '"') break;
        if (c < 0x20) goto bad;
        if (c == '\\') {
            if (r->p >= r->e) goto bad;
            unsigned x = *r->p++;
            const char *esc = strchr("\"\\/bfnrt", (int)x);
            if (x && esc) {
                cp = (unsigned)"\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"];
            } else if (x == 'u') {
                if (r->e - r->p < 4) goto bad;
                cp = 0;
                for (int i = 0; i < 4; i++) {
                    int h = r->p[i];
                    cp = cp * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                              : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                     : 99);
                    if (cp > 0xffff) goto bad;
                }
                r->p += 4;
            } else {
                goto bad;
            }
        } else if (c >= 0x80) { /* UTF-8: lead byte, continuation bytes, no overlong, no surrogate */
            if (c >= 0xc2 && c <= 0xdf) extra = 1, cp = c & 0x1f;
            else if (c >= 0xe0 && c <= 0xef) extra = 2, cp = c & 0x0f;
            else if (c >= 0xf0 && c <= 0xf4) extra = 3, cp = c & 0x07;
            else goto bad;
            if (r->e - r->p < extra) goto bad;
            for (int i = 0; i < extra; i++) {
                if ((r->p[i] & 0xc0) != 0x80) goto bad;
                cp = cp << 6 | (r->p[i] & 0x3f);
            }
            r->p += extra;
            if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                goto bad;
        }
        if (n + 5 > cap) s = realloc(s, cap *= 2);
        if (cp < 0x80) s[n++] = (char)cp;
        else if (cp < 0x800) s[n++] = (char)(0xc0 | cp >> 6), s[n++] = (char)(0x80 | (cp & 63));
        else if (cp < 0x10000)
            s[n++] = (char)(0xe0 | cp >> 12), s[n++] = (char)(0x80 | (cp >> 6 & 63)), s[n++] = (char)(0x80 | (cp & 63));
        else
            s[n++] = (char)(0xf0 | cp >> 18), s[n++] = (char)(0x80 | (cp >> 12 & 63)), s[n++] = (char)(0x80 | (cp >> 6 & 63)),
            s[n++] = (char)(0x80 | (cp & 63));
    }
    s[n] = 0;
    return s;
bad:
    free(s);
    return NULL;
}

static tj *tj_value(tjp *r)
{
    tj_ws(r);
    if (r->p >= r->e || ++r->depth > 100) return NULL;
    tj *j = calloc(1, sizeof *j);
    const unsigned char *p = r->p;
    size_t left = (size_t)(r->e - p);
    if (*p == '{' || *p == '[') {
        const int obj = *p == '{';
        j->t = obj ? 'o' : 'a';
        r->p++;
        tj_ws(r);
        if (r->p < r->e && *r->p == (obj ? '}' : ']')) {
            r->p++;
            goto out;
        }
        for (;;) {
            char *key = NULL;
            if (obj) {
                tj_ws(r);
                if (r->p >= r->e || *r->p++ != '"' || !(key = tj_string(r))) goto bad;
                tj_ws(r);
                if (r->p >= r->e || *r->p++ != ':') {
                    free(key);
                    goto bad;
                }
            }
            tj *v = tj_value(r);
            if (!v) {
                free(key);
                goto bad;
            }
            j->v = realloc(j->v, (size_t)(j->n + 1) * sizeof *j->v);
            j->k = realloc(j->k, (size_t)(j->n + 1) * sizeof *j->k);
            j->v[j->n] = v;
            j->k[j->n++] = key;
            tj_ws(r);
            if (r->p >= r->e) goto bad;
            if (*r->p == ',') {
                r->p++;
                continue;
            }
            if (*r->p++ != (obj ? '}' : ']')) goto bad;
            break;
        }
    } else if (*p == '"') {
        r->p++;
        j->t = 's';
        if (!(j->s = tj_string(r))) goto bad;
    } else if (left >= 4 && !memcmp(p, "null", 4)) {
        j->t = 'n';
        r->p += 4;
    } else if (left >= 4 && !memcmp(p, "true", 4)) {
        j->t = 'b', j->b = 1;
        r->p += 4;
    } else if (left >= 5 && !memcmp(p, "false", 5)) {
        j->t = 'b';
        r->p += 5;
    } else { /* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
        const unsigned char *q = p;
        if (q < r->e && *q == '-') q++;
        if (q < r->e && *q == '0') q++;
        else if (q < r->e && *q >= '1' && *q <= '9')
            while (q < r->e && *q >= '0' && *q <= '9') q++;
        else goto bad;
        if (q < r->e && *q == '.') {
            if (++q >= r->e || *q < '0' || *q > '9') goto bad;
            while (q < r->e && *q >= '0' && *q <= '9') q++;
        }
        if (q < r->e && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < r->e && (*q == '+' || *q == '-')) q++;
            if (q >= r->e || *q < '0' || *q > '9') goto bad;
            while (q < r->e && *q >= '0' && *q <= '9') q++;
        }
        char buf[512];
        size_t m = (size_t)(q - p) < sizeof buf - 1 ? (size_t)(q - p) : sizeof buf - 1;
        memcpy(buf, p, m);
        buf[m] = 0;
        j->t = 'd';
        j->d = strtod(buf, NULL);
        r->p = q;
    }
out:
    r->depth--;
    return j;
bad:
    tj_free(j);
    return NULL;
}

/* a whole text as one JSON value (whitespace around it allowed); NULL if it is not JSON */
static tj *tj_parse(const char *s, size_t n)
{
    tjp r = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    tj *j = tj_value(&r);
    tj_ws(&r);
    if (j && r.p != r.e) {
        tj_free(j);
        return NULL;
    }
    return j;
}

static const tj *tj_get(const tj *o, const char *key)
{
    for (int i = 0; o && o->t == 'o' && i < o->n; i++)
        if (!strcmp(o->k[i], key)) return o->v[i];
    return NULL;
}

static int tj_eq(const tj *a, const tj *b)
{
    if (a->t != b->t) return 0;
    switch (a->t) {
    case 'n': return 1;
    case 'b': return a->b == b->b;
    case 'd': return a->d == b->d;
    case 's': return !strcmp(a->s, b->s);
    case 'a':
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++)
            if (!tj_eq(a->v[i], b->v[i])) return 0;
        return 1;
    default:
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++) {
            const tj *o = tj_get(b, a->k[i]);
            if (!o || !tj_eq(a->v[i], o)) return 0;
        }
        return 1;
    }
}

static int tj_is_type(const tj *v, const char *t)
{
    if (!strcmp(t, "integer")) return v->t == 'd' && isfinite(v->d) && floor(v->d) == v->d;
    return (!strcmp(t, "null") && v->t == 'n') || (!strcmp(t, "boolean") && v->t == 'b') ||
           (!strcmp(t, "number") && v->t == 'd') || (!strcmp(t, "string") && v->t == 's') ||
           (!strcmp(t, "array") && v->t == 'a') || (!strcmp(t, "object") && v->t == 'o');
}

/* JSON Schema semantics for the keywords the tests use (undeclared properties are allowed
 * unless additionalProperties is false; duplicate keys are refused) */
static int tj_valid(const tj *s, const tj *v)
{
    if (s->t == 'b') return s->b;
    const tj *t = tj_get(s, "type"), *e = tj_get(s, "enum"), *c = tj_get(s, "const");
    if (t && t->t == 's' && !tj_is_type(v, t->s)) return 0;
    if (t && t->t == 'a') {
        int any = 0;
        for (int i = 0; i < t->n; i++) any |= tj_is_type(v, t->v[i]->s);
        if (!any) return 0;
    }
    if (c && !tj_eq(c, v)) return 0;
    if (e) {
        int in = 0;
        for (int i = 0; i < e->n; i++) in |= tj_eq(e->v[i], v);
        if (!in) return 0;
    }
    if (v->t == 'a' && tj_get(s, "items"))
        for (int i = 0; i < v->n; i++)
            if (!tj_valid(tj_get(s, "items"), v->v[i])) return 0;
    if (v->t == 'o') {
        const tj *pr = tj_get(s, "properties"), *rq = tj_get(s, "required"), *ap = tj_get(s, "additionalProperties");
        for (int i = 0; i < v->n; i++) {
            for (int k = 0; k < i; k++)
                if (!strcmp(v->k[i], v->k[k])) return 0;
            const tj *ps = tj_get(pr, v->k[i]);
            if (ps && !tj_valid(ps, v->v[i])) return 0;
            if (!ps && ap && ap->t == 'b' && !ap->b) return 0;
        }
        for (int i = 0; rq && i < rq->n; i++)
            if (!tj_get(v, rq->v[i]->s)) return 0;
    }
    return 1;
}

/* the validator itself, on hand-written texts */
static void validator_self_test(void)
{
    const char *sch = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"enum\":[\"x\",[1,2]]}},"
                      "\"required\":[\"a\"],\"additionalProperties\":false}";
    struct {
        const char *text;
        int want;
    } cs[] = {{"{\"a\":1}", 1},
              {"{\"a\":1.0,\"b\":[1,2.0]}", 1},
              {" {\"b\":\"x\" , \"a\" : -0} ", 1},
              {"{\"a\":1.5}", 0},
              {"{\"b\":\"x\"}", 0},
              {"{\"a\":1,\"c\":2}", 0},
              {"{\"a\":01}", 0},
              {"{\"a\":1,}", 0},
              {"{\"a\":1,\"a\":2}", 0},
              {"{\"a\":1,\"b\":\"y\"}", 0},
              {"{\"a\":1} x", 0},
              {"{\"a\":1,\"b\":\"\\x\"}", 0},
              {"[1]", 0},
              {"{\"a\":1e2}", 1},
              {"{\"a\":1,\"b\":\"\xc3\"}", 0}};
    tj *s = tj_parse(sch, strlen(sch));
    int good = s != NULL;
    for (size_t i = 0; s && i < sizeof cs / sizeof *cs; i++) {
        tj *v = tj_parse(cs[i].text, strlen(cs[i].text));
        int got = v && tj_valid(s, v);
        if (got != cs[i].want) {
            good = 0;
            diag("validator: '%s' gave %d, expected %d", cs[i].text, got, cs[i].want);
        }
        tj_free(v);
    }
    tj_free(s);
    ok(good, "the test's own JSON reader and schema validator on 15 hand-written texts");
}

/* generate with a JSON schema over many seeds: every output parses as JSON and satisfies the
 * schema (the test's own reader and validator); `cover` lists substrings that some output must
 * contain (so the language is not trivially small) */
static void json_case(const char *label, sl_model *m, const char *schema, const char *const *piece, const int *len, int32_t start,
                      int n, int seeds, const char *const *cover)
{
    sl_constraint *c = NULL;
    if (sl_constraint_json_schema(schema, strlen(schema), m->d_out, piece, len, &c)) {
        ok(0, "%s: compile %s: %s", label, schema, sl_errmsg());
        return;
    }
    tj *sch = tj_parse(schema, strlen(schema));
    int good = 0, distinct = 0, covered[8] = {0}, ncover = 0;
    while (cover && cover[ncover]) ncover++;
    static char text[1 << 16], first[1 << 16];
    for (int s = 0; s < seeds; s++) {
        int L = gen(m, c, piece, len, start, 1000 + s, n, text);
        tj *v = tj_parse(text, (size_t)L);
        int okv = v && sch && tj_valid(sch, v);
        if (!okv && good == s) diag("seed %d: '%s' %s", s, text, v ? "does not satisfy the schema" : "is not JSON");
        good += okv;
        tj_free(v);
        for (int k = 0; k < ncover; k++) covered[k] |= strstr(text, cover[k]) != NULL;
        if (s == 0) strcpy(first, text);
        else distinct += strcmp(first, text) != 0;
    }
    int allc = 1;
    for (int k = 0; k < ncover; k++)
        if (!covered[k]) {
            allc = 0;
            diag("%s: no output contains '%s'", label, cover[k]);
        }
    ok(good == seeds && distinct > 0 && allc,
       "%s: %d of %d sampled outputs (%d tokens at most) are JSON satisfying the schema (%d DFA states; e.g. %s)", label, good,
       seeds, n, sl_constraint_states(c), first);
    tj_free(sch);
    sl_constraint_free(c);
}

static void schema_refused(const char *schema, int code, const char *needle)
{
    sl_constraint *c = NULL;
    const char *pc[] = {"{", "}", "\"", "a", ":", "1", ",", "[", "]", "t", "r", "u", "e", "f", "l", "s", "n", "x", "y", " "};
    int ln[20];
    for (int v = 0; v < 20; v++) ln[v] = 1;
    int rc = sl_constraint_json_schema(schema, strlen(schema), 20, pc, ln, &c);
    ok(rc == code && !c && strstr(sl_errmsg(), needle), "schema %s refused (%d): %s", schema, rc, sl_errmsg());
    sl_constraint_free(c);
}

/* a llama2.c tokenizer.bin: <unk>, BOS, EOS, the 256 byte tokens, then merged pieces */
static const char *write_l2c_tokenizer(const char *const *merges, int nm, int *V)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/sl-tconstrain-%d.bin", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    int maxlen = 16;
    fwrite(&maxlen, 4, 1, f);
    int v = 0;
    for (; v < 3 + 256 + nm; v++) {
        char b[32];
        const char *p = b;
        if (v == 0) p = "<unk>";
        else if (v == 1) p = "\n<s>\n";
        else if (v == 2) p = "\n</s>\n";
        else if (v < 259) snprintf(b, sizeof b, "<0x%02X>", v - 3);
        else p = merges[v - 259];
        float score = v < 259 ? 0.0f : (float)(v - 259);
        int l = (int)strlen(p);
        fwrite(&score, 4, 1, f);
        fwrite(&l, 4, 1, f);
        fwrite(p, 1, (size_t)l, f);
    }
    fclose(f);
    *V = v;
    return path;
}

static const char *S_PERSON =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
    "\"score\":{\"type\":\"number\"},\"ok\":{\"type\":\"boolean\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",\"blue\"]}},"
    "\"kind\":{\"enum\":[\"a\",1,null,true,{\"q\":[2]}]}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}";
static const char *S_POINTS = "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"},"
                              "\"y\":{\"type\":[\"integer\",\"null\"]}},\"required\":[\"x\",\"y\"]}}";
static const char *S_NESTED =
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"array\","
    "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}},\"s\":{\"type\":\"string\"}}},"
    "\"c\":{\"const\":\"x\\\"y\"},\"d\":{\"type\":\"integer\",\"enum\":[1,2.5,\"3\",4]}},\"required\":[\"c\",\"d\"]}";

static void json_schema_tests(void)
{
    validator_self_test();
    /* refusals: unsatisfiable, malformed, unsupported */
    schema_refused("{\"type\":\"string\",\"enum\":[1,2]}", SL_EINVAL, "unsatisfiable");
    schema_refused("{\"enum\":[]}", SL_EINVAL, "unsatisfiable");
    schema_refused("{\"type\":[]}", SL_EINVAL, "unsatisfiable");
    schema_refused("{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}", SL_EINVAL, "#/properties/a");
    schema_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{\"b\":{\"enum\":[]}},"
                   "\"required\":[\"b\"]}},\"required\":[\"a\"]}",
                   SL_EINVAL, "unsatisfiable");
    schema_refused("{\"type\":\"integer\",\"const\":1.5}", SL_EINVAL, "unsatisfiable");
    schema_refused("{\"type\":\"string\"", SL_EFORMAT, "not valid JSON");
    schema_refused("{\"type\":5}", SL_EINVAL, "\"type\" must be");
    schema_refused("[1]", SL_EINVAL, "must be an object");
    schema_refused("{\"type\":\"object\",\"required\":\"a\"}", SL_EINVAL, "array of strings");
    schema_refused("{\"type\":\"string\",\"minLength\":3}", SL_EUNSUPPORTED, "unsupported keyword \"minLength\"");
    schema_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}", SL_EUNSUPPORTED,
                   "#/properties/a: unsupported keyword \"$ref\"");
    schema_refused("{\"type\":\"obj\"}", SL_EINVAL, "unknown type");
    schema_refused("{}", SL_EUNSUPPORTED, "any value");
    schema_refused("true", SL_EUNSUPPORTED, "any value");
    schema_refused("{\"type\":\"array\"}", SL_EUNSUPPORTED, "without \"items\"");
    schema_refused("{\"type\":\"array\",\"items\":[{\"type\":\"null\"}]}", SL_EUNSUPPORTED, "tuple");
    schema_refused("{\"type\":\"object\",\"required\":[\"q\"]}", SL_EUNSUPPORTED, "not declared");
    schema_refused(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"}},\"additionalProperties\":{\"type\":\"null\"}}",
        SL_EUNSUPPORTED, "additionalProperties");
    schema_refused("{\"type\":\"string\",\"enum\":[\"zz\"]}", SL_EINVAL, "can complete"); /* the vocabulary has no z */
    schema_refused("{\"type\":\"integer\",\"enum\":[12]}", SL_EINVAL, "can complete");    /* no 2 */
    /* the regex of a small schema: which texts it takes */
    {
        const char *sch = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},"
                          "\"c\":{\"type\":\"number\"}},\"required\":[\"b\"]}";
        char *rx = NULL;
        sl_constraint *c = NULL;
        if (!sl_json_schema_regex(sch, strlen(sch), &rx) && !sl_constraint_regex(rx, 0, NULL, NULL, &c)) {
            const char *yes[] = {"{\"b\":\"\"}",
                                 "{\"a\":-12,\"b\":\"x\\\"\xc3\xa9\"}",
                                 "{\"a\": 0, \"b\": \"\", \"c\": 1.5e+3}",
                                 "{\"b\":\"\\n\",\"c\":-0.0}",
                                 "{\"a\":99999999999999999999,\"b\":\"\",\"c\":-1.5e-99}",
                                 NULL};
            const char *no[] = {"{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}", "{\"a\":1.5,\"b\":\"\"}", "{\"b\":\"\"} ",
                                "{ \"b\":\"\"}", "{\"b\":\"\x01\"}", "{\"b\":\"\xc3\"}", "{\"b\":\"\xed\xa0\x80\"}",
                                "{\"b\":\"\\u0041\"}", "{\"b\":\"\",\"c\":01}", "{\"b\":\"\",\"c\":1.}", "{\"b\":\"\",}",
                                /* numbers that would not be finite doubles: exponent or digits bounded */
                                "{\"b\":\"\",\"c\":63e+1277}", "{\"a\":100000000000000000000,\"b\":\"\"}", NULL};
            int good = 1;
            for (int i = 0; yes[i]; i++)
                if (!sl_constraint_matches(c, yes[i], (int)strlen(yes[i]))) good = 0, diag("should match: %s", yes[i]);
            for (int i = 0; no[i]; i++)
                if (sl_constraint_matches(c, no[i], (int)strlen(no[i]))) good = 0, diag("should not match: %s", no[i]);
            ok(good, "schema {a: integer, b: string (required), c: number}: 5 texts in the language, 15 out (order, "
                     "required, whitespace, control bytes, bad UTF-8, surrogates, \\u, number forms, trailing comma, "
                     "numbers past 20 digits or a 2-digit exponent)");
        } else {
            ok(0, "compile: %s", sl_errmsg());
        }
        free(rx);
        sl_constraint_free(c);
    }
    /* const and enum object values: properties not declared are allowed unless
     * additionalProperties is false (JSON Schema's default), so {"const": {"a": [1, 2]}} is
     * satisfiable and writes exactly that object */
    {
        const char *sch = "{\"const\":{\"a\":[1,2]}}", *no = "{\"const\":{\"a\":[1,2]},\"additionalProperties\":false}";
        const char *en = "{\"enum\":[{\"a\":1},{\"b\":2}],\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                         "\"additionalProperties\":false}";
        char *rx = NULL, *rx2 = NULL, *rx3 = NULL;
        sl_constraint *c = NULL, *c3 = NULL;
        int rc = sl_json_schema_regex(sch, strlen(sch), &rx);
        if (!rc) rc = sl_constraint_regex(rx, 0, NULL, NULL, &c);
        ok(!rc && sl_constraint_matches(c, "{\"a\":[1,2]}", 11) && !sl_constraint_matches(c, "{}", 2),
           "const {\"a\": [1, 2]} without properties: satisfiable, writes that object (%s)", rc ? sl_errmsg() : "ok");
        rc = sl_json_schema_regex(no, strlen(no), &rx2);
        ok(rc == SL_EINVAL && strstr(sl_errmsg(), "unsatisfiable"),
           "the same const with additionalProperties false: unsatisfiable (%s)", sl_errmsg());
        rc = sl_json_schema_regex(en, strlen(en), &rx3);
        if (!rc) rc = sl_constraint_regex(rx3, 0, NULL, NULL, &c3);
        ok(!rc && sl_constraint_matches(c3, "{\"a\":1}", 7) && !sl_constraint_matches(c3, "{\"b\":2}", 7),
           "enum of objects with additionalProperties false keeps only the declared one (%s)", rc ? sl_errmsg() : "ok");
        free(rx);
        free(rx2);
        free(rx3);
        sl_constraint_free(c);
        sl_constraint_free(c3);
    }
    /* a random GPT over the 95 printable ASCII characters */
    {
        char store[95][2];
        const char *pc[95];
        int ln[95];
        for (int v = 0; v < 95; v++) {
            store[v][0] = (char)(32 + v);
            store[v][1] = 0;
            pc[v] = store[v];
            ln[v] = 1;
        }
        sl_model *m = NULL;
        if (!sl_model_create("gpt:n_layer=1,n_head=2,n_embd=16,block_size=128,vocab_size=95", 3, &m)) {
            const char *cov1[] = {"\"score\":", "\"tags\":[\"", "\"kind\":", "\"ok\":", NULL};
            json_case("gpt, characters, person", m, S_PERSON, pc, ln, 0, 96, 200, cov1);
            const char *cov2[] = {"},{", "null", NULL};
            json_case("gpt, characters, array of points", m, S_POINTS, pc, ln, 0, 64, 200, cov2);
            const char *cov3[] = {"\"a\":{\"b\":[[", "\"d\":4", NULL};
            json_case("gpt, characters, nested", m, S_NESTED, pc, ln, 0, 64, 200, cov3);
            sl_model_free(m);
        } else {
            ok(0, "gpt: %s", sl_errmsg());
        }
    }
    /* a random LLaMA over a llama2.c tokenizer: byte tokens and multi-character pieces, some of
     * which straddle the schema's parts */
    {
        const char *merges[] = {"{\"",
                                "\"}",
                                "\":",
                                "\": ",
                                "\",",
                                "\", \"",
                                ",\"",
                                "name",
                                "age",
                                "score",
                                "tags",
                                "kind",
                                "true",
                                "false",
                                "null",
                                "red",
                                "green",
                                "blue",
                                "12",
                                "0.",
                                "e+",
                                "-1",
                                "\":[",
                                "\"],",
                                "]}",
                                "},{",
                                "{\"x\":",
                                "\"y\":",
                                " the",
                                "hello",
                                "\"red\"",
                                "[]",
                                "{}",
                                "\\\"",
                                "\xc3\xa9",
                                "\"name\":\"",
                                "\"age\":",
                                "},",
                                "1}",
                                "\"a\":{\"b\":[[",
                                "true]",
                                ",f",
                                "\"c\":\"x\\\"y\""};
        const int nm = (int)(sizeof merges / sizeof *merges);
        int V = 0;
        const char *path = write_l2c_tokenizer(merges, nm, &V);
        sl_llama2c_tokenizer *tk = NULL;
        if (!path || sl_llama2c_tokenizer_read(path, V, &tk)) {
            ok(0, "write and read a llama2.c tokenizer: %s", sl_errmsg());
            return;
        }
        const char **pc = calloc((size_t)V, sizeof *pc);
        int *ln = calloc((size_t)V, sizeof *ln);
        for (int v = 0; v < V; v++) { /* as seqlab generate --llama2c: a piece's text after a non-BOS token */
            pc[v] = v > 2 ? sl_llama2c_decode(tk, 3, v) : "";
            ln[v] = (int)strlen(pc[v]);
        }
        ok(V == 259 + nm && ln[3 + '{'] == 1 && pc[3 + '{'][0] == '{' && !strcmp(pc[259], "{\""),
           "llama2.c tokenizer: %d tokens (byte tokens decode to their byte, merged pieces to their text)", V);
        char spec[160];
        snprintf(spec, sizeof spec, "llama:n_layers=1,dim=16,n_heads=2,n_kv_heads=1,vocab_size=%d,max_seq_len=128,multiple_of=8",
                 V);
        sl_model *m = NULL;
        if (!sl_model_create(spec, 5, &m)) {
            const char *cov1[] = {"\"score\":", "\"tags\":[", "\"kind\":", NULL};
            json_case("llama, llama2.c tokenizer, person", m, S_PERSON, pc, ln, 1, 64, 200, cov1);
            const char *cov2[] = {"},{", NULL};
            json_case("llama, llama2.c tokenizer, array of points", m, S_POINTS, pc, ln, 1, 48, 200, cov2);
            json_case("llama, llama2.c tokenizer, nested", m, S_NESTED, pc, ln, 1, 48, 200, NULL);
            sl_model_free(m);
        } else {
            ok(0, "llama: %s", sl_errmsg());
        }
        free(pc);
        free(ln);
        sl_llama2c_tokenizer_free(tk);
        unlink(path);
    }
}

int main(void)
{
    against_posix("a(b|c)*d", NULL, "abcd", 6);
    against_posix("(ab|a)(bc|c)?", NULL, "abc", 6);
    against_posix("[a-c]+x?[^a]{2}", NULL, "abcx", 6);
    against_posix("a{2,3}(b{1,}|c{0,2})", NULL, "abc", 7);
    against_posix("(a|b)*abb", NULL, "ab", 8);
    against_posix("\\d+(\\.\\d{1,2})?", "[0-9]+([.][0-9]{1,2})?", "1.a", 6);
    against_posix("((a|)b)*", NULL, "ab", 7);
    against_posix(".a.", "[^\n]a[^\n]", "ab\n", 4);
    against_posix("[\\w-]+", "[a-zA-Z0-9_-]+", "a-_ ", 5);
    against_posix("", NULL, "ab", 3);

    refused("a(b", "missing )");
    refused("a)b", "unmatched )");
    refused("^ab", "anchor");
    refused("a*?", "lazy");
    refused("(a)\\1", "backreference");
    refused("(?:a)", "(?...)");
    refused("*a", "nothing to repeat");
    refused("[a-", "unterminated");
    refused("a{3,1}", "n < m");
    refused("a{1000}", "above 100");
    refused("[z-a]", "reversed");
    refused("\\q", "unknown escape");
    refused("[^\\x00-\\xff]x", "matches no text");
    refused("a\\x4", "\\x escape without two hex digits");
    against_posix("\\x61[\\x62-\\x63]*\\x2e", "a[b-c]*[.]", "abc.", 5);
    refused("a[^\\s\\S]b", "matches no text");
    refused("(a|b)*a(a|b){15}", "DFA states");
    /* a pattern the vocabulary cannot write */
    {
        const char *pc[] = {"a", "b"};
        const int ln[] = {1, 1};
        sl_constraint *c = NULL;
        int rc = sl_constraint_regex("c+", 2, pc, ln, &c);
        ok(rc == SL_EINVAL && !c && strstr(sl_errmsg(), "no token"), "a pattern no token can start is refused: %s", sl_errmsg());
    }

    /* masks over a multi-character vocabulary */
    {
        const char *pc[] = {"ab", "a", "b", "ba", "c", "abc", ""};
        const int ln[] = {2, 1, 1, 2, 1, 3, 0};
        sl_constraint *c = NULL;
        if (!sl_constraint_regex("(ab)+c", 7, pc, ln, &c)) {
            int exp0[] = {1, 1, 0, 0, 0, 1, 0};
            int got = 1;
            for (int v = 0; v < 7; v++) got &= sl_constraint_allows(c, v) == exp0[v];
            ok(got, "(ab)+c: tokens allowed at the start: ab, a, abc (not b, ba, c, the empty piece)");
            sl_constraint_advance(c, 1); /* "a" */
            int exp1[] = {0, 0, 1, 1, 0, 0, 0};
            got = 1;
            for (int v = 0; v < 7; v++) got &= sl_constraint_allows(c, v) == exp1[v];
            ok(got, "(ab)+c: after 'a': b and ba");
            ok(sl_constraint_advance(c, 4) == SL_EINVAL, "(ab)+c: 'c' after 'a' is refused");
            sl_constraint_advance(c, 3); /* "ba" -> "aba" */
            ok(!sl_constraint_accepting(c) && sl_constraint_min_bytes(c) == 2,
               "(ab)+c: after 'aba' not accepting, 2 bytes to go");
            sl_constraint_advance(c, 2);
            sl_constraint_advance(c, 4);
            ok(sl_constraint_accepting(c), "(ab)+c: 'ababc' accepts");
            sl_constraint_free(c);
        } else {
            ok(0, "compile: %s", sl_errmsg());
        }
    }

    /* generation: a random GPT over 40 characters */
    {
        const char *alpha = "abcdefghijklmnopqrstuvwxyz0123456789@.- ";
        const int V = (int)strlen(alpha);
        char store[40][2];
        const char *pc[40];
        int ln[40];
        for (int v = 0; v < V; v++) {
            store[v][0] = alpha[v];
            store[v][1] = 0;
            pc[v] = store[v];
            ln[v] = 1;
        }
        char spec[128];
        snprintf(spec, sizeof spec, "gpt:n_layer=1,n_head=2,n_embd=16,block_size=64,vocab_size=%d", V);
        sl_model *m = NULL;
        if (!sl_model_create(spec, 1, &m)) {
            gen_case("gpt, characters", m, "[a-z]+@[a-z]+\\.(com|org)", pc, ln, 40, 200);
            gen_case("gpt, characters", m, "(0|[1-9][0-9]*)(\\.[0-9]{1,3})?", pc, ln, 12, 200);
            gen_case("gpt, characters", m, "(yes|no|maybe)( (yes|no|maybe)){2}", pc, ln, 30, 200);
            sl_model_free(m);
        }
    }
    /* generation: a Mamba LM over multi-character pieces (some pieces straddle the pattern's
     * parts) */
    {
        const char *pc[] = {"{",   "}",   "\"", ":",  ",",   "a",   "b", "ab", "\"a",
                            "b\"", "\":", "1",  "23", "{\"", "\"}", " ", "ba", "x"};
        const int V = (int)(sizeof pc / sizeof *pc);
        int ln[32];
        for (int v = 0; v < V; v++) ln[v] = (int)strlen(pc[v]);
        char spec[128];
        snprintf(spec, sizeof spec, "lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=%d", V);
        sl_model *m = NULL;
        if (!sl_model_create(spec, 2, &m)) {
            gen_case("mamba, multi-character pieces", m, "\\{\"[ab]+\":[0-9]+(,\"[ab]+\":[0-9]+)*\\}", pc, ln, 40, 200);
            sl_model_free(m);
        }
    }
    json_schema_tests();
    return done_testing();
}
