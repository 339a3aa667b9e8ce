/* lab/constrain.c — see constrain.h. Parser (recursive descent) -> syntax tree -> Thompson NFA
 * over bytes (a repeat {m,n} compiles its operand m..n times) -> DFA by the subset construction
 * on byte classes (bytes that every set treats alike) -> live states (those that can reach an
 * accepting one) -> per-state token masks over the vocabulary, made on first use. */
#include "lab/constrain.h"
#include "core/error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DFA = 20000, MAX_NFA = 200000, MAX_REP = 100 };
/* the subset construction's work: the NFA states it scans (each DFA state's set once per byte
 * class) plus those of every set it builds (one per DFA edge explored, each sorted); bounds the
 * time a pattern may take to compile where nested repeats make sets of thousands of NFA states
 * (fuzz findings: }T***.{100}***{100}... took 56 s; at the cap it takes ~0.3 s here, ~10 s in the
 * ASan + coverage build) */
#define MAX_WORK 10000000

typedef struct {
    uint64_t b[4];
} byteset;

static void bs_add(byteset *s, int c) { s->b[c >> 6] |= (uint64_t)1 << (c & 63); }
static int bs_has(const byteset *s, int c) { return (int)((s->b[c >> 6] >> (c & 63)) & 1); }
static void bs_range(byteset *s, int a, int z)
{
    for (int c = a; c <= z; c++) bs_add(s, c);
}
static void bs_not(byteset *s)
{
    for (int i = 0; i < 4; i++) s->b[i] = ~s->b[i];
}
static void bs_or(byteset *s, const byteset *t)
{
    for (int i = 0; i < 4; i++) s->b[i] |= t->b[i];
}

/* ---- syntax tree ---- */
enum { N_SET, N_CAT, N_ALT, N_REP, N_EMPTY };
typedef struct {
    int kind;
    int a, b;   /* children (CAT, ALT), a (REP) */
    int lo, hi; /* REP: hi = -1 unbounded */
    int set;    /* SET: index into sets */
} node;

typedef struct {
    const char *p0, *p;
    node *nodes;
    int nn, capn;
    byteset *sets;
    int ns, caps;
    int err;
} parser;

static int perr(parser *ps, const char *what)
{
    if (!ps->err)
        ps->err =
            sl_error(SL_EINVAL, "regex: %s at offset %d (supported: literals, escapes, ., [...] classes, ( ), |, * + ? {m,n})",
                     what, (int)(ps->p - ps->p0));
    return -1;
}

static int new_node(parser *ps, int kind, int a, int b)
{
    if (ps->err) return -1;
    if (ps->nn == ps->capn) {
        int cap = ps->capn ? 2 * ps->capn : 64;
        node *n = realloc(ps->nodes, (size_t)cap * sizeof *n);
        if (!n) return ps->err = sl_error(SL_ENOMEM, "out of memory"), -1;
        ps->nodes = n;
        ps->capn = cap;
    }
    ps->nodes[ps->nn] = (node){.kind = kind, .a = a, .b = b, .set = -1};
    return ps->nn++;
}

static int new_set(parser *ps, const byteset *s)
{
    if (ps->err) return -1;
    if (ps->ns == ps->caps) {
        int cap = ps->caps ? 2 * ps->caps : 64;
        byteset *n = realloc(ps->sets, (size_t)cap * sizeof *n);
        if (!n) return ps->err = sl_error(SL_ENOMEM, "out of memory"), -1;
        ps->sets = n;
        ps->caps = cap;
    }
    ps->sets[ps->ns] = *s;
    int id = new_node(ps, N_SET, -1, -1);
    if (id >= 0) ps->nodes[id].set = ps->ns++;
    return id;
}

/* an escape after the backslash (ps->p at the letter) into s; 0 or -1 */
static int escape(parser *ps, byteset *s)
{
    int c = (unsigned char)*ps->p;
    if (!c) return perr(ps, "a trailing backslash");
    memset(s, 0, sizeof *s);
    switch (c) {
    case 'd':
    case 'D': bs_range(s, '0', '9'); break;
    case 'w':
    case 'W':
        bs_range(s, 'a', 'z');
        bs_range(s, 'A', 'Z');
        bs_range(s, '0', '9');
        bs_add(s, '_');
        break;
    case 's':
    case 'S':
        bs_add(s, ' ');
        bs_add(s, '\t');
        bs_add(s, '\n');
        bs_add(s, '\r');
        bs_add(s, '\f');
        bs_add(s, '\v');
        break;
    case 'n': bs_add(s, '\n'); break;
    case 't': bs_add(s, '\t'); break;
    case 'r': bs_add(s, '\r'); break;
    case 'x': { /* \xHH: one byte by its two hex digits */
        int v = 0;
        for (int i = 1; i <= 2; i++) {
            int h = (unsigned char)ps->p[i];
            if (h >= '0' && h <= '9') v = 16 * v + h - '0';
            else if (h >= 'a' && h <= 'f') v = 16 * v + h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') v = 16 * v + h - 'A' + 10;
            else return perr(ps, "a \\x escape without two hex digits");
        }
        bs_add(s, v);
        ps->p += 2;
        break;
    }
    default:
        if (strchr("\\.*+?()[]{}|^$-/\"' ", c)) bs_add(s, c);
        else if (c >= '1' && c <= '9') return perr(ps, "a backreference");
        else if (c == 'b' || c == 'B') return perr(ps, "a word boundary");
        else return perr(ps, "an unknown escape");
    }
    if (c == 'D' || c == 'W' || c == 'S') bs_not(s);
    ps->p++;
    return 0;
}

static int parse_alt(parser *ps);

static int parse_class(parser *ps) /* after '[' */
{
    byteset s;
    memset(&s, 0, sizeof s);
    int neg = 0, first = 1;
    if (*ps->p == '^') {
        neg = 1;
        ps->p++;
    }
    for (;;) {
        int c = (unsigned char)*ps->p;
        if (!c) return perr(ps, "an unterminated [ class");
        if (c == ']' && !first) {
            ps->p++;
            break;
        }
        first = 0;
        int lo;
        if (c == '\\') {
            ps->p++;
            byteset e;
            if (escape(ps, &e)) return -1;
            int n = 0, only = -1;
            for (int i = 0; i < 256; i++)
                if (bs_has(&e, i)) {
                    n++;
                    only = i;
                }
            if (n != 1) {
                bs_or(&s, &e);
                continue;
            } /* \d etc. inside a class */
            lo = only;
        } else if (c == '[' && ps->p[1] == ':') {
            return perr(ps, "a POSIX [:class:]");
        } else {
            lo = c;
            ps->p++;
        }
        if (*ps->p == '-' && ps->p[1] && ps->p[1] != ']') {
            ps->p++;
            int hi = (unsigned char)*ps->p;
            if (hi == '\\') {
                ps->p++;
                byteset e;
                if (escape(ps, &e)) return -1;
                hi = -1;
                for (int i = 0; i < 256; i++)
                    if (bs_has(&e, i)) {
                        if (hi >= 0) return perr(ps, "a class escape as a range end");
                        hi = i;
                    }
            } else {
                ps->p++;
            }
            if (hi < lo) return perr(ps, "a reversed range");
            bs_range(&s, lo, hi);
        } else {
            bs_add(&s, lo);
        }
    }
    if (neg) bs_not(&s);
    return new_set(ps, &s);
}

static int parse_atom(parser *ps)
{
    int c = (unsigned char)*ps->p;
    byteset s;
    memset(&s, 0, sizeof s);
    switch (c) {
    case '(': {
        ps->p++;
        if (*ps->p == '?') return perr(ps, "a (?...) group");
        int r = parse_alt(ps);
        if (r < 0) return -1;
        if (*ps->p != ')') return perr(ps, "a missing )");
        ps->p++;
        return r;
    }
    case '[': ps->p++; return parse_class(ps);
    case '.':
        ps->p++;
        bs_range(&s, 0, 255);
        s.b['\n' >> 6] &= ~((uint64_t)1 << ('\n' & 63));
        return new_set(ps, &s);
    case '\\':
        ps->p++;
        if (escape(ps, &s)) return -1;
        return new_set(ps, &s);
    case '^':
    case '$': return perr(ps, "an anchor (the pattern always matches the whole text)");
    case '*':
    case '+':
    case '?':
    case '{': return perr(ps, "a repeat with nothing to repeat");
    case ')': return perr(ps, "an unmatched )");
    default:
        ps->p++;
        bs_add(&s, c);
        return new_set(ps, &s);
    }
}

static int read_int(parser *ps, int *v)
{
    if (*ps->p < '0' || *ps->p > '9') return 0;
    long x = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (*ps->p++ - '0');
        if (x > 100000) x = 100000;
    }
    *v = (int)x;
    return 1;
}

static int parse_repeat(parser *ps)
{
    int a = parse_atom(ps);
    while (a >= 0) {
        int c = *ps->p, lo, hi;
        if (c == '*') {
            lo = 0;
            hi = -1;
            ps->p++;
        } else if (c == '+') {
            lo = 1;
            hi = -1;
            ps->p++;
        } else if (c == '?') {
            lo = 0;
            hi = 1;
            ps->p++;
        } else if (c == '{') {
            ps->p++;
            if (!read_int(ps, &lo)) return perr(ps, "a {m,n} repeat without m");
            hi = lo;
            if (*ps->p == ',') {
                ps->p++;
                if (!read_int(ps, &hi)) hi = -1;
            }
            if (*ps->p != '}') return perr(ps, "an unterminated {m,n}");
            ps->p++;
            if ((hi >= 0 && hi < lo)) return perr(ps, "a {m,n} repeat with n < m");
            if (lo > MAX_REP || hi > MAX_REP) return perr(ps, "a repeat count above 100");
        } else break;
        if (*ps->p == '?' || *ps->p == '+') return perr(ps, "a lazy or possessive repeat");
        int r = new_node(ps, N_REP, a, -1);
        if (r < 0) return -1;
        ps->nodes[r].lo = lo;
        ps->nodes[r].hi = hi;
        a = r;
    }
    return a;
}

static int parse_cat(parser *ps)
{
    int a = -1;
    while (*ps->p && *ps->p != '|' && *ps->p != ')') {
        int b = parse_repeat(ps);
        if (b < 0) return -1;
        a = a < 0 ? b : new_node(ps, N_CAT, a, b);
    }
    return a < 0 ? new_node(ps, N_EMPTY, -1, -1) : a;
}

static int parse_alt(parser *ps)
{
    int a = parse_cat(ps);
    while (a >= 0 && *ps->p == '|') {
        ps->p++;
        int b = parse_cat(ps);
        if (b < 0) return -1;
        a = new_node(ps, N_ALT, a, b);
    }
    return a;
}

/* ---- Thompson NFA ---- */
typedef struct {
    int set, next; /* a byte-set edge (set >= 0) */
    int eps[2];    /* epsilon edges (-1 none) */
} nstate;

typedef struct {
    nstate *s;
    int n, cap, err;
} nfa;

static int nfa_new(nfa *f)
{
    if (f->err) return -1;
    if (f->n >= MAX_NFA)
        return f->err = sl_error(SL_EUNSUPPORTED, "regex: the pattern needs more than %d automaton states", MAX_NFA), -1;
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 256;
        nstate *s = realloc(f->s, (size_t)cap * sizeof *s);
        if (!s) return f->err = sl_error(SL_ENOMEM, "out of memory"), -1;
        f->s = s;
        f->cap = cap;
    }
    f->s[f->n] = (nstate){.set = -1, .next = -1, .eps = {-1, -1}};
    return f->n++;
}

static void eps_add(nfa *f, int from, int to)
{
    if (from < 0 || to < 0) return;
    if (f->s[from].eps[0] < 0) f->s[from].eps[0] = to;
    else f->s[from].eps[1] = to;
}

/* compile node i: *s entry, *e exit (no edges out of e yet) */
static void compile(nfa *f, const parser *ps, int i, int *s, int *e)
{
    const node *nd = &ps->nodes[i];
    int as, ae, bs, be;
    *s = *e = -1;
    if (f->err) return;
    switch (nd->kind) {
    case N_EMPTY: *s = *e = nfa_new(f); return;
    case N_SET:
        *s = nfa_new(f);
        *e = nfa_new(f);
        if (f->err) return;
        f->s[*s].set = nd->set;
        f->s[*s].next = *e;
        return;
    case N_CAT:
        compile(f, ps, nd->a, &as, &ae);
        compile(f, ps, nd->b, &bs, &be);
        if (f->err) return;
        eps_add(f, ae, bs);
        *s = as;
        *e = be;
        return;
    case N_ALT:
        compile(f, ps, nd->a, &as, &ae);
        compile(f, ps, nd->b, &bs, &be);
        *s = nfa_new(f);
        *e = nfa_new(f);
        if (f->err) return;
        eps_add(f, *s, as);
        eps_add(f, *s, bs);
        eps_add(f, ae, *e);
        eps_add(f, be, *e);
        return;
    case N_REP: {
        /* lo copies, then (hi - lo) optional copies, or a star */
        int cur = nfa_new(f);
        *s = cur;
        for (int k = 0; k < nd->lo && !f->err; k++) {
            compile(f, ps, nd->a, &as, &ae);
            eps_add(f, cur, as);
            cur = ae;
        }
        if (nd->hi < 0) {
            compile(f, ps, nd->a, &as, &ae);
            int x = nfa_new(f);
            if (f->err) return;
            eps_add(f, cur, as);
            eps_add(f, cur, x);
            eps_add(f, ae, as);
            eps_add(f, ae, x);
            cur = x;
        } else {
            int x = nfa_new(f);
            for (int k = nd->lo; k < nd->hi && !f->err; k++) {
                compile(f, ps, nd->a, &as, &ae);
                if (f->err) return;
                eps_add(f, cur, as);
                eps_add(f, cur, x);
                cur = ae;
            }
            if (f->err) return;
            eps_add(f, cur, x);
            cur = x;
        }
        *e = cur;
        return;
    }
    }
}

/* ---- DFA ---- */
struct sl_constraint {
    int nd;          /* DFA states */
    int32_t *trans;  /* (nd, 256): next state or -1 (dead) */
    uint8_t *accept; /* (nd) */
    int start, cur;
    int V;
    const char *const *piece;
    const int *len;
    uint64_t **mask; /* (nd) token bitmaps, made on first use */
    int *dist;       /* (nd) fewest bytes from the state to an accepting one */
};

/* epsilon closure of the states in list (n of them) into the marked set; returns new n */
static int closure(const nfa *f, int *list, int n, uint8_t *mark, int *stack)
{
    int sp = 0;
    for (int i = 0; i < n; i++) stack[sp++] = list[i];
    while (sp) {
        int q = stack[--sp];
        for (int k = 0; k < 2; k++) {
            int r = f->s[q].eps[k];
            if (r >= 0 && !mark[r]) {
                mark[r] = 1;
                list[n++] = r;
                stack[sp++] = r;
            }
        }
    }
    return n;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

typedef struct {
    int *data; /* concatenated sorted state lists */
    size_t used, cap;
    size_t *off; /* (nd + 1) */
    int *hash;   /* open addressing over nd, size hcap */
    int hcap;
} dstore;

static uint64_t hash_list(const int *l, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint64_t)l[i]) * 1099511628211ull;
    return h ^ (uint64_t)n;
}

static int walk(const sl_constraint *c, int d, const char *s, int n);

enum { DIST_NONE = 1 << 29 }; /* dist of a state from which no accepting state is reachable */

/* dist[d] (nd): the fewest bytes from state d to an accepting state, DIST_NONE where there is
 * none: a breadth-first search backwards from the accepting states over the reversed
 * transitions (trans: nd x 256, -1 where none), O(nd * 256). Nonzero: out of memory. */
static int dfa_dist(const int32_t *trans, const uint8_t *accept, int nd, int *dist)
{
    size_t ne = 0;
    int *off = calloc((size_t)nd + 1, sizeof *off), *queue = malloc((size_t)nd * sizeof *queue);
    for (size_t i = 0; off && i < (size_t)nd * 256; i++)
        if (trans[i] >= 0) off[trans[i] + 1]++, ne++;
    int *src = malloc((ne ? ne : 1) * sizeof *src), *fill = malloc(((size_t)nd + 1) * sizeof *fill);
    if (!off || !queue || !src || !fill) {
        free(off), free(queue), free(src), free(fill);
        return 1;
    }
    for (int d = 0; d < nd; d++) off[d + 1] += off[d];
    memcpy(fill, off, ((size_t)nd + 1) * sizeof *fill);
    for (int d = 0; d < nd; d++)
        for (int b = 0; b < 256; b++) {
            const int t = trans[(size_t)d * 256 + b];
            if (t >= 0) src[fill[t]++] = d; /* d -> t, listed under t */
        }
    int head = 0, tail = 0;
    for (int d = 0; d < nd; d++) {
        dist[d] = accept[d] ? 0 : DIST_NONE;
        if (accept[d]) queue[tail++] = d;
    }
    while (head < tail) {
        const int t = queue[head++];
        for (int i = off[t]; i < off[t + 1]; i++)
            if (dist[src[i]] == DIST_NONE) {
                dist[src[i]] = dist[t] + 1;
                queue[tail++] = src[i];
            }
    }
    free(off), free(queue), free(src), free(fill);
    return 0;
}

int sl_constraint_regex(const char *pattern, int V, const char *const *piece, const int *len, sl_constraint **out)
{
    *out = NULL;
    if (!pattern) return sl_error(SL_EINVAL, "regex: no pattern");
    parser ps = {.p0 = pattern, .p = pattern};
    int root = parse_alt(&ps);
    if (!ps.err && *ps.p) perr(&ps, "an unmatched )");
    if (ps.err || root < 0) {
        int rc = ps.err ? ps.err : SL_EINVAL;
        free(ps.nodes);
        free(ps.sets);
        return rc;
    }
    nfa f = {0};
    int s0, acc;
    compile(&f, &ps, root, &s0, &acc);
    int rc = f.err;
    sl_constraint *c = NULL;
    dstore ds = {0};
    int *list = NULL, *stack = NULL, *rep = NULL;
    uint8_t *mark = NULL;
    int32_t *trans = NULL;
    uint8_t *accept = NULL;
    int *dist = NULL;
    int nd = 0, capd = 0;
    if (rc) goto fail;
    /* byte classes: bytes alike in every set share a class */
    int cls[256], ncls = 0;
    rep = malloc(256 * sizeof(int));
    {
        for (int b = 0; b < 256; b++) {
            int found = -1;
            for (int k = 0; k < ncls && found < 0; k++) {
                int r = rep[k], same = 1;
                for (int si = 0; si < ps.ns && same; si++) same = bs_has(&ps.sets[si], b) == bs_has(&ps.sets[si], r);
                if (same) found = k;
            }
            if (found < 0) {
                rep[ncls] = b;
                found = ncls++;
            }
            cls[b] = found;
        }
    }
    list = malloc((size_t)f.n * sizeof(int));
    stack = malloc((size_t)f.n * 2 * sizeof(int) + 16);
    mark = calloc((size_t)f.n, 1);
    ds.hcap = 1 << 16;
    ds.hash = malloc((size_t)ds.hcap * sizeof(int));
    if (!list || !stack || !mark || !ds.hash || !rep) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < ds.hcap; i++) ds.hash[i] = -1;
    /* add the closure of {s0} as state 0, then explore */
    int n = 0;
    list[n++] = s0;
    mark[s0] = 1;
    n = closure(&f, list, n, mark, stack);
    int from_d = 0, from_k = 0; /* the edge whose target is being interned */
    size_t work = 0;
    for (int pass = 0;; pass++) {
        if ((work += (size_t)n) > MAX_WORK) {
            rc = sl_error(SL_EUNSUPPORTED,
                          "regex: the pattern's automaton is too large to build (its subset construction "
                          "visits more than %d NFA states)",
                          MAX_WORK);
            goto fail;
        }
        /* intern the list (sorted) as a DFA state: find or add; the state index in `got` */
        qsort(list, (size_t)n, sizeof(int), cmp_int);
        for (int i = 0; i < n; i++) mark[list[i]] = 0;
        int got = -1;
        uint64_t h = hash_list(list, n);
        int slot = (int)(h & (uint64_t)(ds.hcap - 1));
        while (ds.hash[slot] >= 0) {
            int d = ds.hash[slot];
            size_t m = ds.off[d + 1] - ds.off[d];
            if ((int)m == n && !memcmp(ds.data + ds.off[d], list, (size_t)n * sizeof(int))) {
                got = d;
                break;
            }
            slot = (slot + 1) & (ds.hcap - 1);
        }
        if (got < 0) {
            if (nd >= MAX_DFA) {
                rc = sl_error(SL_EUNSUPPORTED, "regex: the pattern needs more than %d DFA states", MAX_DFA);
                goto fail;
            }
            if (nd + 2 > capd) {
                capd = capd ? 2 * capd : 256;
                size_t *o = realloc(ds.off, (size_t)(capd + 1) * sizeof(size_t));
                int32_t *t = realloc(trans, (size_t)capd * 256 * sizeof(int32_t));
                uint8_t *a = realloc(accept, (size_t)capd);
                if (o) ds.off = o;
                if (t) trans = t;
                if (a) accept = a;
                if (!o || !t || !a) {
                    rc = sl_error(SL_ENOMEM, "out of memory");
                    goto fail;
                }
            }
            if (ds.used + (size_t)n > ds.cap) {
                size_t cap = ds.cap ? ds.cap : 4096;
                while (cap < ds.used + (size_t)n) cap *= 2;
                int *d = realloc(ds.data, cap * sizeof(int));
                if (!d) {
                    rc = sl_error(SL_ENOMEM, "out of memory");
                    goto fail;
                }
                ds.data = d;
                ds.cap = cap;
            }
            if (nd == 0) ds.off[0] = 0;
            memcpy(ds.data + ds.used, list, (size_t)n * sizeof(int));
            ds.used += (size_t)n;
            ds.off[nd + 1] = ds.used;
            accept[nd] = 0;
            for (int i = 0; i < n; i++)
                if (list[i] == acc) accept[nd] = 1;
            for (int b = 0; b < 256; b++) trans[(size_t)nd * 256 + b] = -2; /* unexplored */
            ds.hash[slot] = nd;
            got = nd++;
            if (nd * 2 > ds.hcap) {
                rc = sl_error(SL_EUNSUPPORTED, "regex: the pattern needs more than %d DFA states", ds.hcap / 2);
                goto fail;
            }
        }
        /* pass 0 made the start state; afterwards `got` is the target of the pending edge */
        if (pass > 0) {
            for (int b = 0; b < 256; b++)
                if (cls[b] == from_k) trans[(size_t)from_d * 256 + b] = got;
        }
        /* the next unexplored (state, class) */
        int found = 0;
        /* every (state, class) before from_d is explored: states are explored in order */
        for (int d = from_d; d < nd && !found; d++)
            for (int k = 0; k < ncls && !found; k++) {
                if (trans[(size_t)d * 256 + rep[k]] != -2) continue;
                int b = rep[k];
                n = 0;
                if ((work += ds.off[d + 1] - ds.off[d]) > MAX_WORK) { /* the move scans the state's whole set */
                    rc = sl_error(SL_EUNSUPPORTED,
                                  "regex: the pattern's automaton is too large to build (its subset construction "
                                  "visits more than %d NFA states)",
                                  MAX_WORK);
                    goto fail;
                }
                for (size_t i = ds.off[d]; i < ds.off[d + 1]; i++) {
                    const nstate *q = &f.s[ds.data[i]];
                    if (q->set >= 0 && bs_has(&ps.sets[q->set], b) && !mark[q->next]) {
                        mark[q->next] = 1;
                        list[n++] = q->next;
                    }
                }
                if (n == 0) {
                    for (int x = 0; x < 256; x++)
                        if (cls[x] == k) trans[(size_t)d * 256 + x] = -1;
                    continue;
                }
                n = closure(&f, list, n, mark, stack);
                from_d = d;
                from_k = k;
                found = 1;
            }
        if (!found) break;
    }
    /* fewest bytes from each state to an accepting one (dead states: none), then the
     * transitions into dead states removed */
    if (!(dist = malloc((size_t)nd * sizeof *dist)) || dfa_dist(trans, accept, nd, dist)) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < (size_t)nd * 256; i++)
        if (trans[i] >= 0 && dist[trans[i]] >= DIST_NONE) trans[i] = -1;
    if (dist[0] >= DIST_NONE) {
        rc = sl_error(SL_EINVAL, "regex: the pattern matches no text");
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c || !(c->mask = calloc((size_t)nd, sizeof *c->mask))) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto fail;
    }
    c->nd = nd;
    c->trans = trans;
    c->accept = accept;
    c->start = c->cur = 0;
    c->V = V;
    c->piece = piece;
    c->len = len;
    trans = NULL;
    accept = NULL;
    c->dist = dist;
    dist = NULL;
    /* the vocabulary must be able to start a match (or the empty text matches) */
    if (V > 0 && piece) {
        int any = 0;
        for (int v = 0; v < V && !any; v++) any = sl_constraint_allows(c, v);
        if (!any && !c->accept[0]) {
            rc = sl_error(
                SL_EINVAL,
                "regex: no token of the vocabulary can start a match: the pattern matches no text that can be generated");
            goto fail;
        }
        /* and some sequence of tokens must reach an accepting state: a search over the states
         * the tokens reach (skipped above 50M token walks, where only the start is checked) */
        if (!c->accept[0] && (double)nd * V <= 5e7) {
            int *queue = malloc((size_t)nd * sizeof(int));
            uint8_t *seen = calloc((size_t)nd, 1);
            if (!queue || !seen) {
                free(queue);
                free(seen);
                rc = sl_error(SL_ENOMEM, "out of memory");
                goto fail;
            }
            int head = 0, tail = 0, reach = 0;
            queue[tail++] = 0;
            seen[0] = 1;
            while (head < tail && !reach) {
                int d = queue[head++];
                for (int v = 0; v < V && !reach; v++) {
                    if (len[v] <= 0) continue;
                    int e = walk(c, d, piece[v], len[v]);
                    if (e < 0 || seen[e]) continue;
                    seen[e] = 1;
                    reach = c->accept[e];
                    queue[tail++] = e;
                }
            }
            free(queue);
            free(seen);
            if (!reach) {
                rc = sl_error(SL_EINVAL,
                              "regex: no token of the vocabulary can complete a match: the pattern matches no text that can be "
                              "generated with these tokens");
                goto fail;
            }
        }
    }
    *out = c;
    c = NULL;
fail:
    sl_constraint_free(c);
    free(ps.nodes);
    free(ps.sets);
    free(f.s);
    free(ds.data);
    free(ds.off);
    free(ds.hash);
    free(list);
    free(stack);
    free(mark);
    free(rep);
    free(trans);
    free(accept);
    free(dist);
    return rc;
}

void sl_constraint_free(sl_constraint *c)
{
    if (!c) return;
    if (c->mask)
        for (int d = 0; d < c->nd; d++) free(c->mask[d]);
    free(c->mask);
    free(c->dist);
    free(c->trans);
    free(c->accept);
    free(c);
}

void sl_constraint_reset(sl_constraint *c) { c->cur = c->start; }
int sl_constraint_states(const sl_constraint *c) { return c->nd; }
int sl_constraint_get_state(const sl_constraint *c) { return c->cur; }
void sl_constraint_set_state(sl_constraint *c, int state) { c->cur = state >= 0 && state < c->nd ? state : c->start; }
int sl_constraint_accepting(const sl_constraint *c) { return c->accept[c->cur]; }

static int walk(const sl_constraint *c, int d, const char *s, int n)
{
    for (int i = 0; i < n && d >= 0; i++) d = c->trans[(size_t)d * 256 + (unsigned char)s[i]];
    return d;
}

int sl_constraint_matches(const sl_constraint *c, const char *text, int n)
{
    int d = walk(c, c->start, text, n);
    return d >= 0 && c->accept[d];
}

static const uint64_t *state_mask(sl_constraint *c, int d)
{
    if (!c->mask[d]) {
        uint64_t *m = calloc(((size_t)c->V + 63) / 64, sizeof(uint64_t));
        if (!m) return NULL;
        for (int v = 0; v < c->V; v++)
            if (c->len[v] > 0 && walk(c, d, c->piece[v], c->len[v]) >= 0) m[v >> 6] |= (uint64_t)1 << (v & 63);
        c->mask[d] = m;
    }
    return c->mask[d];
}

int sl_constraint_allows(sl_constraint *c, int v)
{
    if (v < 0 || v >= c->V) return 0;
    const uint64_t *m = state_mask(c, c->cur);
    if (!m) return c->len[v] > 0 && walk(c, c->cur, c->piece[v], c->len[v]) >= 0;
    return (int)((m[v >> 6] >> (v & 63)) & 1);
}

int sl_constraint_mask(sl_constraint *c, float *logits)
{
    int n = 0;
    for (int v = 0; v < c->V; v++) {
        if (sl_constraint_allows(c, v)) n++;
        else logits[v] = -INFINITY;
    }
    return n;
}

int sl_constraint_advance(sl_constraint *c, int v)
{
    if (!sl_constraint_allows(c, v)) return sl_error(SL_EINVAL, "constraint: token %d leaves the language", v);
    c->cur = walk(c, c->cur, c->piece[v], c->len[v]);
    return SL_OK;
}

int sl_constraint_mask_budget(sl_constraint *c, float *logits, long remaining)
{
    int n = 0;
    for (int v = 0; v < c->V; v++) {
        int ok = sl_constraint_allows(c, v);
        if (ok && remaining >= 0) {
            int e = walk(c, c->cur, c->piece[v], c->len[v]);
            ok = e >= 0 && (long)c->dist[e] <= remaining - 1;
        }
        if (ok) n++;
        else logits[v] = -INFINITY;
    }
    return n;
}

int sl_constraint_min_bytes(const sl_constraint *c) { return c->dist[c->cur]; }
