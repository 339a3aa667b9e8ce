/* seq/spec.c — spec strings "name:key=value,..." (see spec.h). */
#include "seq/spec.h"
#include "core/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int valid_ident(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-')) return 0;
    return 1;
}

void sl_spec_free(sl_spec *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++) {
        free(s->keys[i]);
        free(s->vals[i]);
    }
    free(s->keys);
    free(s->vals);
    free(s->name);
    free(s);
}

int sl_spec_set(sl_spec *s, const char *key, const char *val)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0) {
            char *v = strdup(val);
            if (!v) return sl_error(SL_ENOMEM, "out of memory");
            free(s->vals[i]);
            s->vals[i] = v;
            return SL_OK;
        }
    char **k = realloc(s->keys, (size_t)(s->n + 1) * sizeof *k);
    if (!k) return sl_error(SL_ENOMEM, "out of memory");
    s->keys = k;
    char **v = realloc(s->vals, (size_t)(s->n + 1) * sizeof *v);
    if (!v) return sl_error(SL_ENOMEM, "out of memory");
    s->vals = v;
    s->keys[s->n] = strdup(key);
    s->vals[s->n] = strdup(val);
    if (!s->keys[s->n] || !s->vals[s->n]) return sl_error(SL_ENOMEM, "out of memory");
    s->n++;
    return SL_OK;
}

int sl_spec_remove(sl_spec *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0) {
            free(s->keys[i]);
            free(s->vals[i]);
            memmove(s->keys + i, s->keys + i + 1, (size_t)(s->n - i - 1) * sizeof(char *));
            memmove(s->vals + i, s->vals + i + 1, (size_t)(s->n - i - 1) * sizeof(char *));
            s->n--;
            return SL_OK;
        }
    return SL_ENOTFOUND;
}

int sl_spec_parse(const char *text, sl_spec **out)
{
    *out = NULL;
    if (!text || !*text) return sl_error(SL_EINVAL, "empty spec");
    sl_spec *s = calloc(1, sizeof *s);
    if (!s) return sl_error(SL_ENOMEM, "out of memory");
    const char *colon = strchr(text, ':');
    size_t nlen = colon ? (size_t)(colon - text) : strlen(text);
    if (!valid_ident(text, nlen)) {
        sl_spec_free(s);
        return sl_error(SL_EINVAL, "bad name in spec '%s' (expected NAME or NAME:key=value,...)", text);
    }
    s->name = dupn(text, nlen);
    if (colon) {
        const char *p = colon + 1;
        if (!*p) {
            sl_spec_free(s);
            return sl_error(SL_EINVAL, "spec '%s': nothing after ':'", text);
        }
        while (*p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            const char *eq = memchr(p, '=', len);
            if (!eq) {
                int rc = sl_error(SL_EINVAL, "spec '%s': item '%.*s' is not key=value", text, (int)len, p);
                sl_spec_free(s);
                return rc;
            }
            size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
            if (!valid_ident(p, klen) || vlen == 0) {
                int rc = sl_error(SL_EINVAL, "spec '%s': bad item '%.*s'", text, (int)len, p);
                sl_spec_free(s);
                return rc;
            }
            char *k = dupn(p, klen), *v = dupn(eq + 1, vlen);
            int dup = sl_spec_raw(s, k) != NULL;
            int rc = dup ? sl_error(SL_EINVAL, "spec '%s': key '%s' given twice", text, k) : sl_spec_set(s, k, v);
            free(k);
            free(v);
            if (rc) {
                sl_spec_free(s);
                return rc;
            }
            if (!end) break;
            p = end + 1;
            if (!*p) {
                sl_spec_free(s);
                return sl_error(SL_EINVAL, "spec '%s': trailing ','", text);
            }
        }
    }
    *out = s;
    return SL_OK;
}

sl_spec *sl_spec_dup(const sl_spec *s)
{
    sl_spec *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->name = strdup(s->name);
    for (int i = 0; i < s->n; i++)
        if (sl_spec_set(d, s->keys[i], s->vals[i])) {
            sl_spec_free(d);
            return NULL;
        }
    return d;
}

const char *sl_spec_raw(const sl_spec *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0) return s->vals[i];
    return NULL;
}

char *sl_spec_format(const sl_spec *s)
{
    size_t len = strlen(s->name) + 2;
    for (int i = 0; i < s->n; i++) len += strlen(s->keys[i]) + strlen(s->vals[i]) + 2;
    char *buf = malloc(len);
    if (!buf) return NULL;
    char *p = buf;
    p += sprintf(p, "%s", s->name);
    for (int i = 0; i < s->n; i++) p += sprintf(p, "%c%s=%s", i ? ',' : ':', s->keys[i], s->vals[i]);
    return buf;
}

static const sl_spec_key *find_key(const sl_spec_key *t, const char *key)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, key) == 0) return t;
    return NULL;
}

int sl_edit_distance(const char *a, const char *b)
{
    enum { MAXW = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= MAXW || m >= MAXW) return MAXW;
    int d[MAXW][MAXW];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ai != bj);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == bj &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

void sl_nearest_init(sl_nearest *n, const char *word)
{
    n->word = word;
    n->best = NULL;
    n->dist = 1 << 30;
}

void sl_nearest_add(sl_nearest *n, const char *cand)
{
    if (!cand || !n->word) return;
    int d = sl_edit_distance(n->word, cand);
    if (d < n->dist) {
        n->dist = d;
        n->best = cand;
    }
}

const char *sl_nearest_get(const sl_nearest *n)
{
    if (!n->best || !n->word) return NULL;
    size_t len = strlen(n->word);
    int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    return n->dist > 0 && n->dist <= limit && (size_t)n->dist < len ? n->best : NULL;
}

/* index of v among the '|'-separated names of choices (case-sensitive), or -1 */
static int choice_index(const char *choices, const char *v)
{
    size_t n = strlen(v);
    int i = 0;
    for (const char *c = choices; *c; i++) {
        size_t len = strcspn(c, "|");
        if (len == n && !strncmp(c, v, n)) return i;
        c += len + (c[len] == '|');
    }
    return -1;
}

/* "KEY must be a, b or c, not 'v'" */
static int choice_error(const sl_spec_key *k, const char *v)
{
    char list[256];
    size_t off = 0;
    int n = 0, i = 0;
    for (const char *c = k->choices; *c; c += strcspn(c, "|") + (c[strcspn(c, "|")] == '|')) n++;
    for (const char *c = k->choices; *c && off < sizeof list; i++) {
        size_t len = strcspn(c, "|");
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%.*s", i == 0 ? "" : i == n - 1 ? " or " : ", ", (int)len, c);
        c += len + (c[len] == '|');
    }
    return sl_error(SL_EINVAL, "%s must be %s, not '%s'", k->name, list, v);
}

/* the value of key k given as v: type and range as the getters check them */
static int check_value(const sl_spec *s, const sl_spec_key *k, const char *v, const char *kind)
{
    int rc = SL_OK;
    long l;
    double d;
    if (k->type == 'i') rc = sl_parse_int(v, (long)k->lo, (long)k->hi, &l);
    else if (k->type == 'f') rc = sl_parse_double(v, k->lo, k->hi, &d);
    else if (k->type == 'b' && strcmp(v, "0") && strcmp(v, "1") && strcasecmp(v, "true") && strcasecmp(v, "false"))
        rc = sl_error(SL_EINVAL, "'%s' is not a boolean (0, 1, true, false)", v);
    else if (k->choices && choice_index(k->choices, v) < 0) rc = choice_error(k, v);
    if (rc) return sl_error_wrap(rc, "key '%s' of %s '%s'", k->name, kind, s->name);
    return SL_OK;
}

int sl_spec_check_kind(const sl_spec *s, const sl_spec_key *const *tables, const char *kind)
{
    for (int i = 0; i < s->n; i++) {
        const sl_spec_key *found = NULL;
        for (const sl_spec_key *const *t = tables; *t && !found; t++) found = find_key(*t, s->keys[i]);
        if (found) {
            int rc = check_value(s, found, s->vals[i], kind);
            if (rc) return rc;
            continue;
        }
        char list[1024];
        size_t off = 0;
        sl_nearest near;
        sl_nearest_init(&near, s->keys[i]);
        list[0] = '\0';
        for (const sl_spec_key *const *t = tables; *t; t++)
            for (const sl_spec_key *k = *t; k->name; k++) {
                sl_nearest_add(&near, k->name);
                if (off < sizeof list - 1)
                    off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", k->name);
            }
        const char *guess = sl_nearest_get(&near);
        if (guess)
            return sl_error(SL_EINVAL, "unknown key '%s' for %s '%s'; did you mean '%s'? valid keys: %s", s->keys[i], kind,
                            s->name, guess, list);
        return sl_error(SL_EINVAL, "unknown key '%s' for %s '%s'; valid keys: %s", s->keys[i], kind, s->name,
                        off ? list : "(none)");
    }
    return SL_OK;
}

int sl_spec_check(const sl_spec *s, const sl_spec_key *const *tables) { return sl_spec_check_kind(s, tables, "model"); }

int sl_parse_int(const char *text, long lo, long hi, long *out)
{
    if (!text || !*text) return sl_error(SL_EINVAL, "empty value where an integer is expected");
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (*end || errno) return sl_error(SL_EINVAL, "'%s' is not an integer", text);
    if (v < lo || v > hi) return sl_error(SL_EINVAL, "%ld is out of range [%ld, %ld]", v, lo, hi);
    *out = v;
    return SL_OK;
}

int sl_parse_double(const char *text, double lo, double hi, double *out)
{
    if (!text || !*text) return sl_error(SL_EINVAL, "empty value where a number is expected");
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (*end || errno || !isfinite(v)) return sl_error(SL_EINVAL, "'%s' is not a finite number", text);
    if (v < lo || v > hi) return sl_error(SL_EINVAL, "%g is out of range [%g, %g]", v, lo, hi);
    *out = v;
    return SL_OK;
}

static int lookup(const sl_spec *s, const sl_spec_key *table, const char *key, char type, const sl_spec_key **k, const char **val)
{
    *k = find_key(table, key);
    if (!*k) return sl_error(SL_EINVAL, "internal: key '%s' missing from the key table of '%s'", key, s->name);
    if ((*k)->type != type) return sl_error(SL_EINVAL, "internal: key '%s' read with the wrong type", key);
    *val = sl_spec_raw(s, key);
    if (!*val) *val = (*k)->def;
    return SL_OK;
}

int sl_spec_int(const sl_spec *s, const sl_spec_key *table, const char *key, int *out)
{
    const sl_spec_key *k;
    const char *v;
    int rc = lookup(s, table, key, 'i', &k, &v);
    if (rc) return rc;
    long x;
    rc = sl_parse_int(v, (long)k->lo, (long)k->hi, &x);
    if (rc) return sl_error_wrap(rc, "%s: key '%s'", s->name, key);
    *out = (int)x;
    return SL_OK;
}

int sl_spec_float(const sl_spec *s, const sl_spec_key *table, const char *key, double *out)
{
    const sl_spec_key *k;
    const char *v;
    int rc = lookup(s, table, key, 'f', &k, &v);
    if (rc) return rc;
    rc = sl_parse_double(v, k->lo, k->hi, out);
    if (rc) return sl_error_wrap(rc, "%s: key '%s'", s->name, key);
    return SL_OK;
}

int sl_spec_bool(const sl_spec *s, const sl_spec_key *table, const char *key, int *out)
{
    const sl_spec_key *k;
    const char *v;
    int rc = lookup(s, table, key, 'b', &k, &v);
    if (rc) return rc;
    if (!strcmp(v, "1") || !strcasecmp(v, "true")) *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false")) *out = 0;
    else return sl_error(SL_EINVAL, "%s: key '%s': '%s' is not a boolean (0, 1, true, false)", s->name, key, v);
    return SL_OK;
}

int sl_spec_str(const sl_spec *s, const sl_spec_key *table, const char *key, const char **out)
{
    const sl_spec_key *k;
    return lookup(s, table, key, 's', &k, out);
}

/* ---- configuration structs bound to key tables ---- */

/* store the text value v of bound key k into cfg */
static int bind_store(const sl_spec_key *k, const char *v, void *cfg, const char *name)
{
    char *f = (char *)cfg + k->off;
    long l;
    double d;
    int rc = SL_OK, i;
    switch (k->bind) {
    case SL_BIND_INT:
        if (!(rc = sl_parse_int(v, (long)k->lo, (long)k->hi, &l))) *(int *)f = (int)l;
        break;
    case SL_BIND_FLOAT:
    case SL_BIND_DOUBLE:
        if (!(rc = sl_parse_double(v, k->lo, k->hi, &d))) {
            if (k->bind == SL_BIND_FLOAT) *(float *)f = (float)d;
            else *(double *)f = d;
        }
        break;
    case SL_BIND_BOOL:
        if (!strcmp(v, "1") || !strcasecmp(v, "true")) *(int *)f = 1;
        else if (!strcmp(v, "0") || !strcasecmp(v, "false")) *(int *)f = 0;
        else rc = sl_error(SL_EINVAL, "'%s' is not a boolean (0, 1, true, false)", v);
        break;
    case SL_BIND_CHOICE:
        if ((i = choice_index(k->choices, v)) < 0) return sl_error_wrap(choice_error(k, v), "%s", name);
        *(int *)f = k->vals ? k->vals[i] : i;
        break;
    case SL_BIND_STR: *(const char **)f = v; break;
    default: break;
    }
    if (rc) return sl_error_wrap(rc, "%s: key '%s'", name, k->name);
    return SL_OK;
}

int sl_spec_defaults(const sl_spec_key *table, void *cfg)
{
    for (const sl_spec_key *k = table; k && k->name; k++)
        if (k->bind) {
            int rc = bind_store(k, k->def, cfg, "defaults");
            if (rc) return sl_error_wrap(rc, "internal: the key table's default");
        }
    return SL_OK;
}

int sl_spec_read(const sl_spec *s, const sl_spec_key *table, void *cfg)
{
    for (const sl_spec_key *k = table; k && k->name; k++)
        if (k->bind) {
            const char *v = sl_spec_raw(s, k->name);
            int rc = bind_store(k, v ? v : k->def, cfg, s->name);
            if (rc) return rc;
        }
    return SL_OK;
}

char *sl_spec_canonical(const char *name, const sl_spec_key *table, const void *cfg)
{
    size_t cap = strlen(name) + 2, len = 0;
    for (const sl_spec_key *k = table; k && k->name; k++)
        if (k->bind) cap += strlen(k->name) + 2 + (k->bind == SL_BIND_STR ? 0 : 40);
    char *buf = malloc(cap), sep = ':';
    if (!buf) return NULL;
    len = (size_t)snprintf(buf, cap, "%s", name);
    for (const sl_spec_key *k = table; k && k->name; k++) {
        if (!k->bind) continue;
        const char *f = (const char *)cfg + k->off;
        char val[64];
        const char *v = val;
        switch (k->bind) {
        case SL_BIND_INT:
        case SL_BIND_BOOL: snprintf(val, sizeof val, "%d", *(const int *)f); break;
        case SL_BIND_FLOAT: snprintf(val, sizeof val, "%.9g", (double)*(const float *)f); break;
        case SL_BIND_DOUBLE: snprintf(val, sizeof val, "%.17g", *(const double *)f); break;
        case SL_BIND_STR: v = *(const char *const *)f ? *(const char *const *)f : ""; break;
        case SL_BIND_CHOICE: {
            const int x = *(const int *)f;
            int i = 0;
            val[0] = '\0';
            for (const char *c = k->choices; *c; i++) {
                size_t n = strcspn(c, "|");
                if ((k->vals ? k->vals[i] : i) == x) {
                    snprintf(val, sizeof val, "%.*s", (int)n, c);
                    break;
                }
                c += n + (c[n] == '|');
            }
            break;
        }
        }
        size_t need = len + strlen(k->name) + strlen(v) + 3;
        if (need > cap) {
            char *nb = realloc(buf, need * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap = need * 2;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%c%s=%s", sep, k->name, v);
        sep = ',';
    }
    return buf;
}
