/* nlp/spm.c — SentencePiece .model reading (an own protobuf wire-format reader), the
 * normaliser, unigram (Viterbi) and BPE encoding, byte fallback, decoding. See spm.h. */
#include "nlp/spm.h"
#include "nlp/bpe.h"
#include "nlp/bpe_hash.h"
#include "nlp/spm_trie.h"
#include "core/error.h"
#include "core/heap.h"
#include "core/fileio.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_NORMAL = 1, P_UNKNOWN = 2, P_CONTROL = 3, P_USER = 4, P_UNUSED = 5, P_BYTE = 6 };
enum { M_UNIGRAM = 1, M_BPE = 2, M_WORD = 3, M_CHAR = 4 };

struct sl_spm {
    int n;
    unsigned char **piece;
    int *plen;
    float *score;
    unsigned char *type;
    int model_type, byte_fallback, unk_id, bos_id, eos_id, pad_id, ws_suffix;
    char *unk_surface;
    int has_unk_surface;
    /* normaliser */
    char *norm_name;
    unsigned char *charsmap;
    size_t charsmap_n;
    const unsigned char *units; /* darts-clone units, 4 bytes each, little-endian */
    size_t n_units;
    const char *norm_blob;
    size_t norm_n;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    int denorm_charsmap;
    /* lookups */
    sl_strtab pieces;   /* normal, user-defined, unused -> id */
    sl_strtab reserved; /* control, unknown, byte -> id */
    sl_datrie trie;     /* the same pieces as `pieces`, for the Viterbi; an unused piece's value is -1 */
    sl_datrie user;     /* user-defined symbols */
    double *vscore;     /* (n) a piece's Viterbi score, in SentencePiece's arithmetic */
    int n_user;
    int byte_piece[256];
    unsigned char plain[256]; /* 1: the byte is ASCII, starts no charsmap key and no user symbol */
    float min_score, max_score;
};

void sl_spm_free(sl_spm *m)
{
    if (!m) return;
    if (m->piece)
        for (int i = 0; i < m->n; i++) free(m->piece[i]);
    free(m->piece);
    free(m->plen);
    free(m->score);
    free(m->type);
    free(m->unk_surface);
    free(m->norm_name);
    free(m->charsmap);
    if (m->pieces.slots) sl_strtab_free(&m->pieces);
    if (m->reserved.slots) sl_strtab_free(&m->reserved);
    sl_datrie_free(&m->trie);
    sl_datrie_free(&m->user);
    free(m->vscore);
    free(m);
}

int sl_spm_size(const sl_spm *m) { return m->n; }
int sl_spm_bos(const sl_spm *m) { return m->bos_id >= 0 && m->bos_id < m->n && m->type[m->bos_id] == P_CONTROL ? m->bos_id : -1; }
int sl_spm_eos(const sl_spm *m) { return m->eos_id >= 0 && m->eos_id < m->n && m->type[m->eos_id] == P_CONTROL ? m->eos_id : -1; }
int sl_spm_unk(const sl_spm *m) { return m->unk_id; }
const char *sl_spm_kind_name(const sl_spm *m) { return m->model_type == M_BPE ? "SentencePiece BPE" : "SentencePiece unigram"; }

const unsigned char *sl_spm_piece(const sl_spm *m, int id, size_t *len)
{
    if (id < 0 || id >= m->n) return NULL;
    *len = (size_t)m->plen[id];
    return m->piece[id];
}

/* ---- protobuf wire format ---------------------------------------------------------------
 * A message is a sequence of (key, value): key = varint (field << 3 | wire type); wire type
 * 0 varint, 1 fixed 64-bit, 2 varint length + bytes, 5 fixed 32-bit (3 and 4, groups, are
 * not used by sentencepiece_model.proto and are refused). */

typedef struct {
    const unsigned char *p, *end, *base;
    const char *what;
} pb;

static int pb_fail(const pb *r, const char *msg)
{
    return sl_error(SL_EFORMAT, "SentencePiece model: %s at byte %zu (%s)", msg, (size_t)(r->p - r->base), r->what);
}

static int pb_varint(pb *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return pb_fail(r, "truncated varint");
        unsigned char b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return SL_OK;
        }
    }
    return pb_fail(r, "varint longer than 10 bytes");
}

/* next field: *field, *wt; for wire type 2 *sub is the payload; for 0 *v; for 5 *f32 */
static int pb_next(pb *r, uint32_t *field, int *wt, uint64_t *v, pb *sub, uint32_t *f32)
{
    uint64_t key;
    int rc = pb_varint(r, &key);
    if (rc) return rc;
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    if (*field == 0 || key >> 32) return pb_fail(r, "bad field number");
    switch (*wt) {
    case 0: return pb_varint(r, v);
    case 1:
        if (r->end - r->p < 8) return pb_fail(r, "truncated 64-bit field");
        r->p += 8;
        return SL_OK;
    case 2: {
        uint64_t n;
        if ((rc = pb_varint(r, &n))) return rc;
        if (n > (uint64_t)(r->end - r->p)) return pb_fail(r, "length-delimited field runs past its message");
        sub->p = r->p;
        sub->end = r->p + n;
        sub->base = r->base;
        sub->what = r->what;
        r->p += n;
        return SL_OK;
    }
    case 5:
        if (r->end - r->p < 4) return pb_fail(r, "truncated 32-bit field");
        *f32 = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
        r->p += 4;
        return SL_OK;
    default: return pb_fail(r, "unsupported wire type");
    }
}

static int pb_want(const pb *r, int wt, int want, uint32_t field)
{
    if (wt == want) return SL_OK;
    char msg[96];
    snprintf(msg, sizeof msg, "field %u has wire type %d, expected %d", field, wt, want);
    return pb_fail(r, msg);
}

static char *dup_bytes(const unsigned char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static int add_piece(sl_spm *m, const pb *msg)
{
    pb r = *msg;
    r.what = "ModelProto.pieces";
    const unsigned char *str = NULL;
    size_t sl = 0;
    float score = 0;
    uint64_t type = P_NORMAL;
    int rc;
    while (r.p < r.end) {
        uint32_t f, f32 = 0;
        int wt;
        uint64_t v = 0;
        pb sub;
        if ((rc = pb_next(&r, &f, &wt, &v, &sub, &f32))) return rc;
        if (f == 1) {
            if ((rc = pb_want(&r, wt, 2, f))) return rc;
            str = sub.p;
            sl = (size_t)(sub.end - sub.p);
        } else if (f == 2) {
            if ((rc = pb_want(&r, wt, 5, f))) return rc;
            memcpy(&score, &f32, 4);
        } else if (f == 3) {
            if ((rc = pb_want(&r, wt, 0, f))) return rc;
            type = v;
        }
    }
    if (!str || sl == 0) return sl_error(SL_EFORMAT, "SentencePiece model: piece %d is empty", m->n);
    if (type < 1 || type > 6)
        return sl_error(SL_EFORMAT, "SentencePiece model: piece %d has unknown type %llu", m->n, (unsigned long long)type);
    if (sl > (1 << 16)) return sl_error(SL_EFORMAT, "SentencePiece model: piece %d is %zu bytes long", m->n, sl);
    if (m->n % 1024 == 0) {
        size_t c = (size_t)m->n + 1024;
        unsigned char **pp = realloc(m->piece, c * sizeof *pp);
        if (pp) m->piece = pp;
        int *pl = realloc(m->plen, c * sizeof *pl);
        if (pl) m->plen = pl;
        float *ps = realloc(m->score, c * sizeof *ps);
        if (ps) m->score = ps;
        unsigned char *pt = realloc(m->type, c);
        if (pt) m->type = pt;
        if (!pp || !pl || !ps || !pt) return sl_error(SL_ENOMEM, "out of memory");
    }
    m->piece[m->n] = (unsigned char *)dup_bytes(str, sl);
    if (!m->piece[m->n]) return sl_error(SL_ENOMEM, "out of memory");
    m->plen[m->n] = (int)sl;
    m->score[m->n] = score;
    m->type[m->n] = (unsigned char)type;
    m->n++;
    return SL_OK;
}

static int read_trainer(sl_spm *m, const pb *msg)
{
    pb r = *msg;
    r.what = "TrainerSpec";
    int rc;
    while (r.p < r.end) {
        uint32_t f, f32 = 0;
        int wt;
        uint64_t v = 0;
        pb sub;
        if ((rc = pb_next(&r, &f, &wt, &v, &sub, &f32))) return rc;
        if (f == 3 || f == 35 || f == 24 || (f >= 40 && f <= 43)) {
            if ((rc = pb_want(&r, wt, 0, f))) return rc;
            if (f == 3) m->model_type = (int)v;
            else if (f == 35) m->byte_fallback = v != 0;
            else if (f == 24) m->ws_suffix = v != 0;
            else {
                int64_t id = (int64_t)v; /* int32 fields: negatives are sign-extended varints */
                if (id < -1 || id > INT32_MAX) return pb_fail(&r, "bad special piece id");
                if (f == 40) m->unk_id = (int)id;
                else if (f == 41) m->bos_id = (int)id;
                else if (f == 42) m->eos_id = (int)id;
                else m->pad_id = (int)id;
            }
        } else if (f == 44) {
            if ((rc = pb_want(&r, wt, 2, f))) return rc;
            free(m->unk_surface);
            m->unk_surface = dup_bytes(sub.p, (size_t)(sub.end - sub.p));
            if (!m->unk_surface) return sl_error(SL_ENOMEM, "out of memory");
            m->has_unk_surface = 1;
        }
    }
    return SL_OK;
}

static int read_normalizer(sl_spm *m, const pb *msg, int denorm)
{
    pb r = *msg;
    r.what = denorm ? "denormalizer_spec" : "NormalizerSpec";
    int rc;
    while (r.p < r.end) {
        uint32_t f, f32 = 0;
        int wt;
        uint64_t v = 0;
        pb sub;
        if ((rc = pb_next(&r, &f, &wt, &v, &sub, &f32))) return rc;
        if (denorm) {
            if (f == 2 && wt == 2 && sub.end > sub.p) m->denorm_charsmap = 1;
            continue;
        }
        if (f == 1 || f == 2) {
            if ((rc = pb_want(&r, wt, 2, f))) return rc;
            size_t n = (size_t)(sub.end - sub.p);
            if (f == 1) {
                free(m->norm_name);
                if (!(m->norm_name = dup_bytes(sub.p, n))) return sl_error(SL_ENOMEM, "out of memory");
            } else {
                free(m->charsmap);
                m->charsmap = malloc(n ? n : 1);
                if (!m->charsmap) return sl_error(SL_ENOMEM, "out of memory");
                memcpy(m->charsmap, sub.p, n);
                m->charsmap_n = n;
            }
        } else if (f >= 3 && f <= 5) {
            if ((rc = pb_want(&r, wt, 0, f))) return rc;
            if (f == 3) m->add_dummy_prefix = v != 0;
            else if (f == 4) m->remove_extra_ws = v != 0;
            else m->escape_ws = v != 0;
        }
    }
    return SL_OK;
}

static int piece_to_byte(const unsigned char *p, int n)
{
    static const char hx[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(p, "<0x", 3) || p[5] != '>') return -1;
    const char *h = strchr(hx, p[3]), *l = strchr(hx, p[4]);
    if (!h || !l || !p[3] || !p[4]) return -1;
    return (int)((h - hx) * 16 + (l - hx));
}

static int charsmap_starts(const sl_spm *m, unsigned char c);

/* the Viterbi's trie (normal, user-defined and unused pieces; an unused piece has no value, as
 * SentencePiece skips it), the user-defined symbols' trie, and each piece's Viterbi score:
 * a user-defined symbol's is length x max_score - 0.1, computed as SentencePiece does (float
 * product, then double); a normal piece's is its score widened to double (the C++ ternary
 * of the two branches is double) */
static int build_tries(sl_spm *m)
{
    const unsigned char **keys = malloc((size_t)m->n * sizeof *keys);
    int *lens = malloc((size_t)m->n * sizeof *lens);
    int32_t *vals = malloc((size_t)m->n * sizeof *vals);
    m->vscore = malloc((size_t)m->n * sizeof *m->vscore);
    int rc = SL_OK;
    if (!keys || !lens || !vals || !m->vscore) rc = sl_error(SL_ENOMEM, "out of memory");
    size_t nk = 0, nu = 0;
    for (int i = 0; i < m->n && !rc; i++) {
        int t = m->type[i];
        m->vscore[i] = t == P_USER ? (double)((float)m->plen[i] * m->max_score) - 0.1 : (double)m->score[i];
        if (t == P_NORMAL || t == P_USER || t == P_UNUSED) {
            keys[nk] = m->piece[i];
            lens[nk] = m->plen[i];
            vals[nk++] = t == P_UNUSED ? -1 : i;
        }
    }
    if (!rc) rc = sl_datrie_build(&m->trie, keys, lens, vals, nk);
    for (int i = 0; i < m->n && !rc; i++)
        if (m->type[i] == P_USER) {
            keys[nu] = m->piece[i];
            lens[nu] = m->plen[i];
            vals[nu++] = i;
        }
    if (!rc) rc = sl_datrie_build(&m->user, keys, lens, vals, nu);
    free(keys);
    free(lens);
    free(vals);
    return rc;
}

int sl_spm_parse(const unsigned char *buf, size_t n, sl_spm **out)
{
    *out = NULL;
    sl_spm *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    m->model_type = M_UNIGRAM;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = 1;
    pb r = {buf, buf + n, buf, "ModelProto"};
    int rc = SL_OK;
    while (r.p < r.end && !rc) {
        uint32_t f, f32 = 0;
        int wt;
        uint64_t v = 0;
        pb sub;
        if ((rc = pb_next(&r, &f, &wt, &v, &sub, &f32))) break;
        if (f == 1 || f == 2 || f == 3 || f == 5) {
            if ((rc = pb_want(&r, wt, 2, f))) break;
            if (f == 1) rc = add_piece(m, &sub);
            else if (f == 2) rc = read_trainer(m, &sub);
            else rc = read_normalizer(m, &sub, f == 5);
        }
    }
#define BAD(...) \
    do { \
        if (!rc) rc = sl_error(SL_EFORMAT, __VA_ARGS__); \
        goto done; \
    } while (0)
    if (rc) goto done;
    if (m->n == 0) BAD("SentencePiece model: no pieces (not a .model file?)");
    if (m->model_type != M_UNIGRAM && m->model_type != M_BPE)
        BAD("SentencePiece model: model_type %d is not supported (unigram and BPE are)", m->model_type);
    if (m->ws_suffix) BAD("SentencePiece model: treat_whitespace_as_suffix is not supported");
    if (m->denorm_charsmap) BAD("SentencePiece model: a denormalizer with a charsmap is not supported");
    if (!m->unk_surface) {
        m->unk_surface = dup_bytes((const unsigned char *)" \xE2\x81\x87 ", 5);
        if (!m->unk_surface) BAD("out of memory");
    }
    if (sl_strtab_init(&m->pieces, (size_t)m->n) || sl_strtab_init(&m->reserved, 300)) BAD("out of memory");
    for (int k = 0; k < 256; k++) m->byte_piece[k] = -1;
    int unk = -1;
    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN; /* as SentencePiece: FLT_MIN, the smallest positive float */
    for (int i = 0; i < m->n; i++) {
        int t = m->type[i];
        int normal = t == P_NORMAL || t == P_USER || t == P_UNUSED;
        int added;
        int64_t k = sl_strtab_add(normal ? &m->pieces : &m->reserved, m->piece[i], (size_t)m->plen[i], &added);
        if (k < 0) BAD("out of memory");
        if (!added)
            BAD("SentencePiece model: piece %d (\"%.*s\") is already defined", i, m->plen[i] > 60 ? 60 : m->plen[i], m->piece[i]);
        (normal ? &m->pieces : &m->reserved)->val[k] = i;
        if (t == P_USER) m->n_user++;
        if (t == P_UNKNOWN) {
            if (unk >= 0) BAD("SentencePiece model: two unknown pieces (%d and %d)", unk, i);
            unk = i;
        }
        if (t == P_BYTE) {
            if (!m->byte_fallback) BAD("SentencePiece model: byte piece %d found although byte_fallback is false", i);
            int b = piece_to_byte(m->piece[i], m->plen[i]);
            if (b < 0) BAD("SentencePiece model: byte piece %d is not <0xXX>", i);
            m->byte_piece[b] = i;
        }
        if (t == P_NORMAL) {
            if (m->score[i] < m->min_score) m->min_score = m->score[i];
            if (m->score[i] > m->max_score) m->max_score = m->score[i];
        }
        if (m->score[i] != m->score[i]) BAD("SentencePiece model: piece %d has a NaN score", i);
    }
    if (unk < 0) BAD("SentencePiece model: no unknown piece");
    m->unk_id = unk;
    if (m->byte_fallback)
        for (int b = 0; b < 256; b++)
            if (m->byte_piece[b] < 0) BAD("SentencePiece model: byte_fallback is set but byte piece <0x%02X> is missing", b);
    if (m->charsmap_n) {
        /* uint32 trie size, the darts-clone units, then the NUL-terminated replacements */
        if (m->charsmap_n <= 4) BAD("SentencePiece model: the precompiled charsmap is %zu bytes", m->charsmap_n);
        uint32_t ts = (uint32_t)m->charsmap[0] | (uint32_t)m->charsmap[1] << 8 | (uint32_t)m->charsmap[2] << 16 |
                      (uint32_t)m->charsmap[3] << 24;
        if (ts >= m->charsmap_n - 4 || ts % 4 || ts == 0)
            BAD("SentencePiece model: the charsmap's trie size %u does not fit its %zu bytes", ts, m->charsmap_n);
        m->units = m->charsmap + 4;
        m->n_units = ts / 4;
        m->norm_blob = (const char *)m->charsmap + 4 + ts;
        m->norm_n = m->charsmap_n - 4 - ts;
    }
    if (build_tries(m)) BAD("%s", sl_errmsg());
    for (int c = 0; c < 128; c++) {
        unsigned char b = (unsigned char)c;
        m->plain[c] = !charsmap_starts(m, b) && sl_datrie_step(&m->user, 0, b) < 0;
    }
#undef BAD
done:
    if (rc) {
        sl_spm_free(m);
        return rc;
    }
    *out = m;
    return SL_OK;
}

int sl_spm_load(const char *path, sl_spm **out)
{
    void *buf;
    size_t n;
    int rc = sl_read_file(path, (size_t)1 << 30, &buf, &n);
    if (rc) return rc;
    rc = sl_spm_parse(buf, n, out);
    free(buf);
    if (rc) sl_error_wrap(rc, "%s", path);
    return rc;
}

/* ---- normalisation ---------------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        unsigned char *p = realloc(b->p, c);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static inline uint32_t unit_at(const sl_spm *m, size_t i)
{
    const unsigned char *u = m->units + 4 * i;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static inline uint32_t du_offset(uint32_t u) { return (u >> 10) << ((u & (1U << 9)) >> 6); }
static inline uint32_t du_label(uint32_t u) { return u & ((1U << 31) | 0xFF); }
static inline int du_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t du_value(uint32_t u) { return u & ((1U << 31) - 1); }

/* darts-clone's commonPrefixSearch, keeping the longest of the first 32 matches (as
 * SentencePiece's kMaxTrieResultsSize); every unit index is checked against the array */
static size_t charsmap_longest(const sl_spm *m, const unsigned char *s, size_t n, uint32_t *value)
{
    size_t best = 0, found = 0;
    size_t pos = 0;
    uint32_t u = unit_at(m, 0);
    pos ^= du_offset(u);
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= m->n_units) return best;
        u = unit_at(m, pos);
        if (du_label(u) != s[i]) return best;
        pos ^= du_offset(u);
        if (pos >= m->n_units) return best;
        if (du_has_leaf(u)) {
            if (found < 32 && (best == 0 || i + 1 > best)) {
                best = i + 1;
                *value = du_value(unit_at(m, pos));
            }
            found++;
        }
    }
    return best;
}

/* whether some charsmap key starts with byte c (the first transition of the walk exists) */
static int charsmap_starts(const sl_spm *m, unsigned char c)
{
    if (!m->n_units) return 0;
    size_t pos = du_offset(unit_at(m, 0)) ^ c;
    return pos < m->n_units && du_label(unit_at(m, pos)) == c;
}

static size_t one_char_len(unsigned char c) { return (size_t) "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]; }

/* the longest user-defined symbol at s, or 0 */
static size_t user_match(const sl_spm *m, const unsigned char *s, size_t n)
{
    if (!m->n_user) return 0;
    int32_t node = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        node = sl_datrie_step(&m->user, node, s[i]);
        if (node < 0) break;
        if (m->user.u[node].val >= 0) best = i + 1;
    }
    return best;
}

/* NormalizePrefix: the replacement of the longest prefix and how many bytes it consumes */
static int norm_prefix(const sl_spm *m, const unsigned char *s, size_t n, const unsigned char **rep, size_t *rl, size_t *used)
{
    size_t u = user_match(m, s, n);
    if (u) {
        *rep = s;
        *rl = *used = u;
        return SL_OK;
    }
    if (m->n_units) {
        uint32_t v = 0;
        size_t l = charsmap_longest(m, s, n, &v);
        if (l) {
            if (v >= m->norm_n)
                return sl_error(SL_EFORMAT, "SentencePiece model: charsmap value %u outside its %zu bytes", v, m->norm_n);
            const char *z = memchr(m->norm_blob + v, 0, m->norm_n - v);
            if (!z) return sl_error(SL_EFORMAT, "SentencePiece model: charsmap replacement at %u is not terminated", v);
            *rep = (const unsigned char *)m->norm_blob + v;
            *rl = (size_t)(z - (m->norm_blob + v));
            *used = l;
            return SL_OK;
        }
    }
    uint32_t cp;
    int l = sl_utf8_decode(s, n, &cp);
    if (!l) { /* one malformed byte becomes U+FFFD */
        *rep = (const unsigned char *)"\xEF\xBF\xBD";
        *rl = 3;
        *used = 1;
    } else {
        *rep = s;
        *rl = *used = (size_t)l;
    }
    return SL_OK;
}

static const unsigned char WS[3] = {0xE2, 0x96, 0x81}; /* U+2581 */

/* the normalised line into b (emptied first) */
static int normalize_to(const sl_spm *m, const unsigned char *s, size_t n, sbuf *b)
{
    const unsigned char *rep;
    size_t rl, used;
    int rc;
    b->n = 0;
    b->oom = 0;
    if (m->remove_extra_ws) {
        while (n) {
            if ((rc = norm_prefix(m, s, n, &rep, &rl, &used))) return rc;
            if (!(rl == 1 && rep[0] == ' ')) break;
            s += used;
            n -= used;
        }
    }
    if (n == 0) return SL_OK;
    if (m->add_dummy_prefix) {
        if (m->escape_ws) sb_put(b, WS, 3);
        else sb_put(b, " ", 1);
    }
    int prev_space = m->remove_extra_ws;
    while (n) {
        if (m->plain[s[0]]) { /* a byte the charsmap and the user symbols leave alone */
            rep = s;
            rl = used = 1;
        } else if ((rc = norm_prefix(m, s, n, &rep, &rl, &used))) return rc;
        while (prev_space && rl && rep[0] == ' ') {
            rep++;
            rl--;
        }
        if (rl) {
            if (!m->escape_ws || (rl == 1 ? rep[0] != ' ' : !memchr(rep, ' ', rl))) {
                sb_put(b, rep, rl);
            } else {
                for (size_t k = 0; k < rl; k++) {
                    if (rep[k] == ' ') sb_put(b, WS, 3);
                    else sb_put(b, rep + k, 1);
                }
            }
            prev_space = rep[rl - 1] == ' ';
        }
        s += used;
        n -= used;
        if (!m->remove_extra_ws) prev_space = 0;
    }
    if (m->remove_extra_ws) {
        const unsigned char *sp = m->escape_ws ? WS : (const unsigned char *)" ";
        size_t sl = m->escape_ws ? 3 : 1;
        while (b->n >= sl && !memcmp(b->p + b->n - sl, sp, sl)) b->n -= sl;
    }
    return b->oom ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
}

int sl_spm_normalize(const sl_spm *m, const unsigned char *s, size_t n, unsigned char **out, size_t *n_out)
{
    sbuf b = {0};
    *out = NULL;
    *n_out = 0;
    int rc = normalize_to(m, s, n, &b);
    if (rc) {
        free(b.p);
        return rc;
    }
    if (!b.p && !(b.p = malloc(1))) return sl_error(SL_ENOMEM, "out of memory");
    *out = b.p;
    *n_out = b.n;
    return SL_OK;
}

/* ---- encoding --------------------------------------------------------------------------- */

typedef struct {
    int32_t start, len, id;
} seg; /* a piece of the normalised text */

/* per-call scratch, so that encoding allocates nothing per line and threads can share a model */
typedef struct {
    int32_t id, start;
    float score;
} vnode; /* the best path ending here */

struct sl_spm_ws {
    sbuf norm; /* the normalised line */
    vnode *bp; /* (bytes + 1) */
    size_t bp_cap;
    seg *sg; /* the segmentation */
    size_t sg_cap;
};

sl_spm_ws *sl_spm_ws_alloc(void) { return calloc(1, sizeof(sl_spm_ws)); }

void sl_spm_ws_free(sl_spm_ws *w)
{
    if (!w) return;
    free(w->norm.p);
    free(w->bp);
    free(w->sg);
    free(w);
}

static int ws_reserve(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return SL_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return sl_error(SL_ENOMEM, "out of memory");
    *p = q;
    *cap = c;
    return SL_OK;
}

/* SentencePiece's optimised unigram Viterbi (unigram_model.cc, EncodeOptimized): at each
 * character start, walk the trie over the bytes that follow and relax every piece that ends
 * there; a character no single piece covers is <unk> at min_score - 10. The arithmetic is
 * SentencePiece's: piece scores in double (m->vscore), the path score stored as float, the
 * unknown branch in float; the first best candidate is kept on ties. */
static int unigram_segment(const sl_spm *m, sl_spm_ws *w, const unsigned char *s, size_t n, seg **out, size_t *n_out)
{
    if (ws_reserve((void **)&w->bp, &w->bp_cap, n + 1, sizeof *w->bp)) return SL_ENOMEM;
    vnode *bp = w->bp;
    for (size_t i = 0; i <= n; i++) bp[i] = (vnode){-1, -1, 0.0f};
    const float unk_score = m->min_score - 10.0f;
    const sl_datrie_unit *u = m->trie.u;
    size_t st = 0;
    while (st < n) {
        const float till = bp[st].score;
        int single = 0;
        size_t mblen = one_char_len(s[st]);
        if (mblen > n - st) mblen = n - st;
        int32_t node = 0;
        for (size_t k = st; k < n; k++) {
            int32_t x = u[node].base + s[k];
            if (u[x].check != node) break;
            node = x;
            int32_t id = u[x].val;
            if (id < 0) continue;
            double cand = m->vscore[id] + (double)till;
            vnode *t = &bp[k + 1];
            if (t->start == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->start = (int32_t)st;
                t->id = id;
            }
            if (k + 1 - st == mblen) single = 1;
        }
        if (!single) {
            vnode *t = &bp[st + mblen];
            float cand = unk_score + till;
            if (t->start == -1 || cand > t->score) {
                t->score = cand;
                t->start = (int32_t)st;
                t->id = m->unk_id;
            }
        }
        st += mblen;
    }
    size_t cnt = 0;
    for (size_t e = n; e > 0; e = (size_t)bp[e].start) cnt++;
    if (ws_reserve((void **)&w->sg, &w->sg_cap, cnt + 1, sizeof *w->sg)) return SL_ENOMEM;
    seg *sg = w->sg;
    size_t k = cnt;
    for (size_t e = n; e > 0; e = (size_t)bp[e].start) {
        k--;
        sg[k] = (seg){bp[e].start, (int32_t)(e - (size_t)bp[e].start), bp[e].id};
    }
    *out = sg;
    *n_out = cnt;
    return SL_OK;
}

static int32_t piece_to_id(const sl_spm *m, const unsigned char *p, size_t n)
{
    int64_t k = sl_strtab_find(&m->reserved, p, n);
    if (k >= 0) return (int32_t)m->reserved.val[k];
    k = sl_strtab_find(&m->pieces, p, n);
    if (k >= 0) return (int32_t)m->pieces.val[k];
    return m->unk_id;
}

/* SentencePiece's BPE: a heap of adjacent pairs whose concatenation is a piece, highest
 * score first, leftmost on ties; user-defined symbols are frozen */
typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;
} spair;

static inline int spair_before(const spair *a, const spair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct {
    int32_t prev, next, start, len;
    int freeze;
} sym;

SL_HEAP_DEFINE(sheap, spair, spair_before, 64)

static int maybe_pair(const sl_spm *m, const unsigned char *s, sym *y, sheap *q, int32_t l, int32_t r)
{
    if (l < 0 || r < 0 || y[l].freeze || y[r].freeze) return SL_OK;
    size_t len = (size_t)y[l].len + (size_t)y[r].len;
    int64_t k = sl_strtab_find(&m->pieces, s + y[l].start, len);
    if (k < 0) return SL_OK;
    int32_t id = (int32_t)m->pieces.val[k];
    return sheap_push(q, (spair){m->score[id], l, r, (uint32_t)len});
}

/* an unused piece is split back into the two symbols it was last merged from (SentencePiece's
 * rev_merge, keyed by the piece's string), recursively */
typedef struct {
    int32_t start, len, lstart, llen;
} revm;

static int resegment(const sl_spm *m, const unsigned char *s, int32_t start, int32_t len, const revm *rv, size_t nrv, seg **out,
                     size_t *n, size_t *cap, int depth)
{
    int32_t id = piece_to_id(m, s + start, (size_t)len);
    if (id != m->unk_id && m->type[id] == P_UNUSED && depth < 1000) {
        for (size_t k = nrv; k-- > 0;) {                                                /* the latest merge of this span */
            if (rv[k].len == len && !memcmp(s + rv[k].start, s + start, (size_t)len)) { /* by string, as rev_merge */
                int rc = resegment(m, s, start, rv[k].llen, rv, nrv, out, n, cap, depth + 1);
                if (!rc) rc = resegment(m, s, start + rv[k].llen, len - rv[k].llen, rv, nrv, out, n, cap, depth + 1);
                return rc;
            }
        }
    }
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        seg *p = realloc(*out, c * sizeof *p);
        if (!p) return sl_error(SL_ENOMEM, "out of memory");
        *out = p;
        *cap = c;
    }
    (*out)[(*n)++] = (seg){start, len, id};
    return SL_OK;
}

static int bpe_segment(const sl_spm *m, const unsigned char *s, size_t n, seg **out, size_t *n_out)
{
    sym *y = malloc((n + 1) * sizeof *y);
    sheap q = {0};
    revm *rv = NULL;
    size_t nrv = 0, crv = 0;
    seg *sg = NULL;
    size_t ns = 0, cs = 0;
    int rc = SL_OK;
    if (!y) return sl_error(SL_ENOMEM, "out of memory");
    int32_t cnt = 0;
    for (size_t i = 0; i < n;) {
        size_t u = user_match(m, s + i, n - i);
        size_t l = u ? u : one_char_len(s[i]);
        if (l > n - i) l = n - i;
        y[cnt] = (sym){cnt - 1, (i + l < n) ? cnt + 1 : -1, (int32_t)i, (int32_t)l, u > 0};
        cnt++;
        i += l;
    }
    for (int32_t i = 1; i < cnt && !rc; i++) rc = maybe_pair(m, s, y, &q, i - 1, i);
    while (q.n && !rc) {
        spair t = sheap_pop(&q);
        if (y[t.left].len == 0 || y[t.right].len == 0 || (uint32_t)(y[t.left].len + y[t.right].len) != t.size) continue;
        int32_t nl = y[t.left].len + y[t.right].len;
        int64_t k = sl_strtab_find(&m->pieces, s + y[t.left].start, (size_t)nl);
        if (k >= 0 && m->type[m->pieces.val[k]] == P_UNUSED) {
            if (nrv == crv) {
                crv = crv ? 2 * crv : 16;
                revm *p = realloc(rv, crv * sizeof *p);
                if (!p) {
                    rc = sl_error(SL_ENOMEM, "out of memory");
                    break;
                }
                rv = p;
            }
            rv[nrv++] = (revm){y[t.left].start, nl, y[t.left].start, y[t.left].len};
        }
        y[t.left].len = nl;
        y[t.left].next = y[t.right].next;
        if (y[t.right].next >= 0) y[y[t.right].next].prev = t.left;
        y[t.right].len = 0;
        rc = maybe_pair(m, s, y, &q, y[t.left].prev, t.left);
        if (!rc) rc = maybe_pair(m, s, y, &q, t.left, y[t.left].next);
    }
    for (int32_t i = 0; cnt > 0 && i != -1 && !rc; i = y[i].next)
        rc = resegment(m, s, y[i].start, y[i].len, rv, nrv, &sg, &ns, &cs, 0);
    free(y);
    free(q.h);
    free(rv);
    if (rc) {
        free(sg);
        return rc;
    }
    *out = sg;
    *n_out = ns;
    return SL_OK;
}

int sl_spm_encode_ws(const sl_spm *m, sl_spm_ws *w, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap)
{
    int rc = normalize_to(m, s, n, &w->norm);
    if (rc || w->norm.n == 0) return rc;
    const unsigned char *norm = w->norm.p;
    size_t nn = w->norm.n;
    seg *sg = NULL;
    size_t ns = 0;
    rc = m->model_type == M_BPE ? bpe_segment(m, norm, nn, &sg, &ns) : unigram_segment(m, w, norm, nn, &sg, &ns);
    if (rc) return rc;
    /* the ids need at most one slot per byte */
    if (*cap - *n_ids < nn) {
        size_t c = *cap ? *cap : 256;
        while (c - *n_ids < nn) c *= 2;
        int32_t *p = realloc(*ids, c * sizeof *p);
        if (!p) rc = sl_error(SL_ENOMEM, "out of memory");
        else {
            *ids = p;
            *cap = c;
        }
    }
    int32_t *o = *ids;
    size_t no = *n_ids;
    int prev_unk = 0;
    for (size_t i = 0; i < ns && !rc; i++) {
        int unk = sg[i].id == m->unk_id;
        if (unk && m->byte_fallback) {
            for (int32_t k = 0; k < sg[i].len; k++) o[no++] = m->byte_piece[norm[sg[i].start + k]];
        } else if (!(unk && prev_unk)) {
            o[no++] = sg[i].id;
        }
        prev_unk = unk;
    }
    if (!rc) *n_ids = no;
    if (m->model_type == M_BPE) free(sg);
    return rc;
}

int sl_spm_encode(const sl_spm *m, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap)
{
    sl_spm_ws *w = sl_spm_ws_alloc();
    if (!w) return sl_error(SL_ENOMEM, "out of memory");
    int rc = sl_spm_encode_ws(m, w, s, n, ids, n_ids, cap);
    sl_spm_ws_free(w);
    return rc;
}

/* ---- decoding --------------------------------------------------------------------------- */

static void flush_bytes(sbuf *b, const unsigned char *x, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l = sl_utf8_decode(x + i, n - i, &cp);
        if (!l) {
            sb_put(b, "\xEF\xBF\xBD", 3);
            i++;
        } else {
            sb_put(b, x + i, (size_t)l);
            i += (size_t)l;
        }
    }
}

int sl_spm_decode(const sl_spm *m, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out, size_t *cap)
{
    sbuf b = {*out, *n_out, *cap, 0};
    unsigned char *bytes = malloc(n + 1);
    if (!bytes) return sl_error(SL_ENOMEM, "out of memory");
    size_t nb = 0;
    int is_bos_ws = 1, seen = 0;
    size_t text_start = b.n;
    int rc = SL_OK;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= m->n) {
            rc = sl_error(SL_EINVAL, "token id %d at position %zu is outside the vocabulary [0, %d)", id, i, m->n);
            break;
        }
        if (m->type[id] == P_BYTE) {
            bytes[nb++] = (unsigned char)piece_to_byte(m->piece[id], m->plen[id]);
            continue;
        }
        flush_bytes(&b, bytes, nb);
        nb = 0;
        if (seen || b.n > text_start) is_bos_ws = 0;
        seen = 0;
        if (m->type[id] == P_CONTROL) continue;
        if (id == m->unk_id) {
            sb_put(&b, m->unk_surface, strlen(m->unk_surface));
            continue;
        }
        const unsigned char *p = m->piece[id];
        size_t l = (size_t)m->plen[id];
        if (is_bos_ws && (m->add_dummy_prefix || m->remove_extra_ws)) {
            if (l >= 3 && !memcmp(p, WS, 3)) {
                p += 3;
                l -= 3;
                seen = 1;
            }
            if (m->remove_extra_ws) seen = 0;
        }
        for (size_t k = 0; k < l;) {
            if (k + 3 <= l && !memcmp(p + k, WS, 3)) {
                sb_put(&b, " ", 1);
                k += 3;
            } else {
                sb_put(&b, p + k, 1);
                k++;
            }
        }
    }
    if (!rc) flush_bytes(&b, bytes, nb);
    free(bytes);
    *out = b.p;
    *cap = b.cap;
    if (b.oom) return sl_error(SL_ENOMEM, "out of memory");
    if (!rc) *n_out = b.n;
    return rc;
}
