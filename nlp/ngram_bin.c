/* nlp/ngram_bin.c — seqlab's binary n-gram model: a memory-mapped image of the probing hash
 * tables the model is queried with, versioned and validated on load.
 *
 * Layout (little-endian; every section starts at a multiple of 64 bytes):
 *
 *   header (1024 bytes; the fields below, then zeros)
 *     char     magic[8]      "SLNGBIN\x1a"
 *     u32      version       1
 *     u32      endian        0x01020304 as written by the machine (a byte-swapped file is refused)
 *     u32      order         1..SL_NGRAM_MAX_ORDER
 *     u32      flags         bit 0: the model has <unk> as a unigram; bit 1: suffix-closed
 *     u32      vocab_n       words (ids 0..vocab_n-1; 0, 1, 2 are <unk>, <s>, </s>)
 *     u32      hash          1: FNV-1a words, the id-tuple mixer of nlp/ngram.c
 *     f32      unk_prob      log10 p of an OOV when the model has no <unk>
 *     u32      pad
 *     u64      file_size     the whole file, bytes
 *     u64      words_off, words_len     the words, NUL-terminated, in id order
 *     u64      vslots_off, vslots_n     vocabulary slots (i32: id or -1), power of two
 *     u64      per order k (12 of them): n, nslots, keys_off, slots_off, prob_off, bow_off,
 *              probe_off, probe_n
 *              keys (n, k) i32 ids; slots (nslots,) u32 entry + 1 or 0; prob (n,) f32 log10 p;
 *              bow (n,) f32 log10 backoff (0 offset for the highest order); probe (probe_n,)
 *              sl_ngram_pent {u64 hash, f32 prob, f32 bow}: the query table (nlp/ngram.h)
 *     u64      check         FNV-1a of the header bytes before it
 *
 * Loading maps the file read-only and points the model's tables into it; only the word pointer
 * array is built. Before the model is used every number that indexes memory is checked: the
 * header (magic, version, byte order, order, sizes, the checksum), each section inside the file
 * and aligned, power-of-two slot counts with at least one empty slot (probing ends), every slot
 * value and key id in range, the words' terminators. A file that fails gets "FILE: what is
 * wrong" and SL_EFORMAT; nothing in it can make a lookup read outside the mapping.
 */
#include "nlp/ngram.h"

#include "core/error.h"
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIN_MAGIC "SLNGBIN\x1a"
#define BIN_VERSION 1u
#define BIN_ENDIAN 0x01020304u
#define BIN_HASH 1u
#define BIN_HDR 1024u
#define BIN_ALIGN 64u

typedef struct {
    uint64_t n, nslots, keys_off, slots_off, prob_off, bow_off, probe_off, probe_n;
} bin_order;

typedef struct {
    char magic[8];
    uint32_t version, endian, order, flags, vocab_n, hash;
    float unk_prob;
    uint32_t pad;
    uint64_t file_size;
    uint64_t words_off, words_len;
    uint64_t vslots_off, vslots_n;
    bin_order ord[SL_NGRAM_MAX_ORDER];
    uint64_t check;
} bin_header;

_Static_assert(sizeof(bin_header) <= BIN_HDR, "binary n-gram header fits its 1024 bytes");

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t align_up(uint64_t x) { return (x + BIN_ALIGN - 1) & ~(uint64_t)(BIN_ALIGN - 1); }

int sl_ngram_is_binary(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[8];
    int yes = fread(m, 1, 8, f) == 8 && !memcmp(m, BIN_MAGIC, 8);
    fclose(f);
    return yes;
}

/* ------------------------------------------------------------------------------------------ */
/* write                                                                                      */

static int put(FILE *f, uint64_t *at, uint64_t off, const void *p, size_t n)
{
    static const char zero[BIN_ALIGN];
    while (*at < off) {
        size_t z = off - *at < BIN_ALIGN ? (size_t)(off - *at) : BIN_ALIGN;
        if (fwrite(zero, 1, z, f) != z) return -1;
        *at += z;
    }
    if (n && fwrite(p, 1, n, f) != n) return -1;
    *at += n;
    return 0;
}

int sl_ngram_write_binary(const sl_ngram_lm *lm, const char *path)
{
    if (!lm->estimated) return sl_error(SL_EINVAL, "n-gram model has no probabilities to write");
    const sl_vocab *v = lm->vocab;
    bin_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, BIN_MAGIC, 8);
    h.version = BIN_VERSION;
    h.endian = BIN_ENDIAN;
    h.order = (uint32_t)lm->order;
    h.flags = (lm->has_unk ? 1u : 0u) | (lm->suffix_closed ? 2u : 0u);
    h.vocab_n = (uint32_t)v->n;
    h.hash = BIN_HASH;
    h.unk_prob = lm->unk_prob;
    uint64_t at = BIN_HDR;
    h.words_off = at;
    for (int i = 0; i < v->n; i++) h.words_len += strlen(v->words[i]) + 1;
    at = align_up(at + h.words_len);
    h.vslots_off = at;
    h.vslots_n = v->nslots;
    at = align_up(at + v->nslots * sizeof(int32_t));
    for (int k = 0; k < lm->order; k++) {
        const sl_ngtab *t = &lm->tab[k];
        bin_order *o = &h.ord[k];
        o->n = t->n;
        o->nslots = t->nslots;
        o->keys_off = at;
        at = align_up(at + t->n * (uint64_t)t->k * sizeof(int32_t));
        o->slots_off = at;
        at = align_up(at + t->nslots * sizeof(uint32_t));
        o->prob_off = at;
        at = align_up(at + t->n * sizeof(float));
        if (k + 1 < lm->order) {
            o->bow_off = at;
            at = align_up(at + t->n * sizeof(float));
        }
        o->probe_off = at;
        o->probe_n = 4;
        while (o->probe_n < t->n + t->n / 2 + 1) o->probe_n *= 2; /* load <= 2/3 */
        at = align_up(at + o->probe_n * sizeof(sl_ngram_pent));
    }
    h.file_size = at;
    h.check = fnv1a(&h, offsetof(bin_header, check));

    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    FILE *f = a.f;
    uint64_t pos = 0;
    char hdr[BIN_HDR];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, &h, sizeof h);
    int bad = put(f, &pos, 0, hdr, sizeof hdr);
    for (int i = 0; !bad && i < v->n; i++) bad = put(f, &pos, pos, v->words[i], strlen(v->words[i]) + 1);
    if (!bad) bad = put(f, &pos, h.vslots_off, v->slots, v->nslots * sizeof(int32_t));
    for (int k = 0; !bad && k < lm->order; k++) {
        const sl_ngtab *t = &lm->tab[k];
        const bin_order *o = &h.ord[k];
        bad = put(f, &pos, o->keys_off, t->keys, t->n * (size_t)t->k * sizeof(int32_t));
        if (!bad) bad = put(f, &pos, o->slots_off, t->slots, t->nslots * sizeof(uint32_t));
        if (!bad) bad = put(f, &pos, o->prob_off, lm->prob[k], t->n * sizeof(float));
        if (!bad && o->bow_off) bad = put(f, &pos, o->bow_off, lm->bow[k], t->n * sizeof(float));
        if (bad) break;
        sl_ngram_pent *pt = calloc(o->probe_n, sizeof *pt);
        if (!pt) {
            sl_afile_abort(&a);
            return sl_error(SL_ENOMEM, "%s: out of memory", path);
        }
        const uint64_t mask = o->probe_n - 1;
        for (size_t e = 0; e < t->n; e++) {
            const int32_t *key = t->keys + e * (size_t)t->k;
            uint64_t hh = SL_NGRAM_PHASH_SEED;
            for (int j = t->k - 1; j >= 0; j--) hh = sl_ngram_phash_step(hh, key[j]);
            hh = sl_ngram_phash_final(hh);
            uint64_t i = hh & mask;
            while (pt[i].key && pt[i].key != hh) i = (i + 1) & mask;
            if (pt[i].key) {
                free(pt);
                sl_afile_abort(&a);
                return sl_error(SL_EUNSUPPORTED, "%s: two %d-grams share a 64-bit hash; cannot binarize this model", path, k + 1);
            }
            pt[i].key = hh;
            pt[i].prob = lm->prob[k][e];
            pt[i].bow = lm->bow[k] ? lm->bow[k][e] : 0.0f;
        }
        bad = put(f, &pos, o->probe_off, pt, o->probe_n * sizeof *pt);
        free(pt);
    }
    if (!bad) bad = put(f, &pos, h.file_size, NULL, 0);
    if (bad || ferror(f)) {
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return sl_afile_commit(&a);
}

/* ------------------------------------------------------------------------------------------ */
/* load                                                                                       */

/* section [off, off + n * size) inside a file of fsz bytes, aligned, without overflow */
static int section_ok(uint64_t off, uint64_t n, uint64_t size, uint64_t fsz)
{
    if (off < BIN_HDR || off % BIN_ALIGN || off > fsz) return 0;
    if (n > (fsz - off) / size) return 0;
    return 1;
}

static int pow2(uint64_t x) { return x && !(x & (x - 1)); }

int sl_ngram_load_binary(const char *path, sl_ngram_lm **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sl_error(SL_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sl_error(SL_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sl_error(SL_EFORMAT, "%s: not a regular file (a binary n-gram model is memory-mapped)", path);
    }
    uint64_t fsz = (uint64_t)sb.st_size;
    if (fsz < BIN_HDR) {
        close(fd);
        return sl_error(SL_EFORMAT, "%s: %llu bytes, shorter than the %u-byte header of a binary n-gram model", path,
                        (unsigned long long)fsz, BIN_HDR);
    }
    void *map = mmap(NULL, (size_t)fsz, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return sl_error(SL_EIO, "%s: mmap: %s", path, strerror(e));
    const unsigned char *base = map;
    bin_header h;
    memcpy(&h, base, sizeof h);
    sl_ngram_lm *lm = NULL;
    int rc = SL_OK;
#define BAD(...) \
    do { \
        rc = sl_error(SL_EFORMAT, __VA_ARGS__); \
        goto fail; \
    } while (0)
    if (memcmp(h.magic, BIN_MAGIC, 8)) BAD("%s: not a seqlab binary n-gram model (bad magic)", path);
    if (h.endian != BIN_ENDIAN) BAD("%s: written on a machine of the other byte order", path);
    if (h.version != BIN_VERSION)
        BAD("%s: binary n-gram format version %u, this seqlab reads version %u", path, h.version, BIN_VERSION);
    if (h.check != fnv1a(&h, offsetof(bin_header, check))) BAD("%s: header checksum mismatch (corrupted header)", path);
    if (h.hash != BIN_HASH) BAD("%s: unknown hash function %u", path, h.hash);
    if (h.file_size != fsz)
        BAD("%s: the header says %llu bytes, the file has %llu (%s)", path, (unsigned long long)h.file_size,
            (unsigned long long)fsz, fsz < h.file_size ? "truncated" : "trailing bytes");
    if (h.order < 1 || h.order > SL_NGRAM_MAX_ORDER) BAD("%s: order %u out of range [1, %d]", path, h.order, SL_NGRAM_MAX_ORDER);
    if (h.vocab_n < 3 || h.vocab_n > INT32_MAX / 2) BAD("%s: vocabulary size %u out of range", path, h.vocab_n);
    if (!isfinite(h.unk_prob) || h.unk_prob > 0) BAD("%s: bad OOV log10 probability", path);
    if (!section_ok(h.words_off, h.words_len, 1, fsz) || h.words_len < h.vocab_n)
        BAD("%s: the word section (offset %llu, %llu bytes) lies outside the file", path, (unsigned long long)h.words_off,
            (unsigned long long)h.words_len);
    if (!section_ok(h.vslots_off, h.vslots_n, 4, fsz) || !pow2(h.vslots_n) || h.vslots_n <= h.vocab_n)
        BAD("%s: bad vocabulary slot section (%llu slots for %u words)", path, (unsigned long long)h.vslots_n, h.vocab_n);
    for (uint32_t k = 0; k < h.order; k++) {
        const bin_order *o = &h.ord[k];
        int bow = k + 1 < h.order;
        if (o->n >= UINT32_MAX - 1 || !pow2(o->nslots) || o->nslots <= o->n || o->nslots > UINT32_MAX)
            BAD("%s: %u-grams: %llu entries in %llu slots is not a valid table", path, k + 1, (unsigned long long)o->n,
                (unsigned long long)o->nslots);
        if (!pow2(o->probe_n) || o->probe_n <= o->n || !section_ok(o->probe_off, o->probe_n, sizeof(sl_ngram_pent), fsz))
            BAD("%s: %u-grams: bad probing table (%llu slots for %llu entries, or outside the file)", path, k + 1,
                (unsigned long long)o->probe_n, (unsigned long long)o->n);
        if (!section_ok(o->keys_off, o->n, 4ull * (k + 1), fsz) || !section_ok(o->slots_off, o->nslots, 4, fsz) ||
            !section_ok(o->prob_off, o->n, 4, fsz) || (bow && !section_ok(o->bow_off, o->n, 4, fsz)) || (!bow && o->bow_off))
            BAD("%s: %u-grams: a section lies outside the file (truncated or corrupted)", path, k + 1);
    }
    for (uint32_t k = h.order; k < SL_NGRAM_MAX_ORDER; k++)
        if (h.ord[k].n || h.ord[k].nslots || h.ord[k].probe_n) BAD("%s: a table beyond the order %u", path, h.order);

    /* contents that index memory */
    const char *words = (const char *)base + h.words_off;
    if (words[h.words_len - 1] != '\0') BAD("%s: the word section does not end in a terminator", path);
    const int32_t *vslots = (const int32_t *)(base + h.vslots_off);
    uint64_t used = 0;
    for (uint64_t i = 0; i < h.vslots_n; i++) {
        if (vslots[i] < -1 || vslots[i] >= (int32_t)h.vocab_n)
            BAD("%s: vocabulary slot %llu out of range", path, (unsigned long long)i);
        used += vslots[i] >= 0;
    }
    if (used != h.vocab_n) BAD("%s: %llu vocabulary slots used for %u words", path, (unsigned long long)used, h.vocab_n);
    for (uint32_t k = 0; k < h.order; k++) {
        const bin_order *o = &h.ord[k];
        const uint32_t *slots = (const uint32_t *)(base + o->slots_off);
        used = 0;
        for (uint64_t i = 0; i < o->nslots; i++) {
            if (slots[i] > o->n) BAD("%s: %u-gram slot %llu points past the table", path, k + 1, (unsigned long long)i);
            used += slots[i] != 0;
        }
        if (used != o->n)
            BAD("%s: %u-grams: %llu slots used for %llu entries", path, k + 1, (unsigned long long)used,
                (unsigned long long)o->n);
        const uint32_t *keys = (const uint32_t *)(base + o->keys_off);
        uint32_t any = 0;
        for (uint64_t i = 0; i < o->n * (k + 1); i++) any |= keys[i] >= h.vocab_n;
        if (any) BAD("%s: %u-grams: a word id beyond the vocabulary", path, k + 1);
        const float *pr = (const float *)(base + o->prob_off);
        for (uint64_t i = 0; i < o->n; i++)
            if (!(pr[i] <= 0.0f) || !isfinite(pr[i]))
                BAD("%s: %u-gram %llu: bad log10 probability", path, k + 1, (unsigned long long)i);
        const sl_ngram_pent *pt = (const sl_ngram_pent *)(base + o->probe_off);
        used = 0;
        for (uint64_t i = 0; i < o->probe_n; i++) {
            if (!pt[i].key) continue;
            used++;
            if (!(pt[i].prob <= 0.0f) || !isfinite(pt[i].prob) || !isfinite(pt[i].bow))
                BAD("%s: %u-grams: probing slot %llu: bad log10 value", path, k + 1, (unsigned long long)i);
        }
        if (used != o->n)
            BAD("%s: %u-grams: %llu probing slots used for %llu entries", path, k + 1, (unsigned long long)used,
                (unsigned long long)o->n);
        if (o->bow_off) {
            const float *bo = (const float *)(base + o->bow_off);
            for (uint64_t i = 0; i < o->n; i++)
                if (!isfinite(bo[i])) BAD("%s: %u-gram %llu: bad log10 backoff", path, k + 1, (unsigned long long)i);
        }
    }

    /* the model */
    lm = calloc(1, sizeof *lm);
    sl_vocab *v = calloc(1, sizeof *v);
    char **wp = malloc(h.vocab_n * sizeof *wp);
    if (!lm || !v || !wp) {
        free(lm);
        free(v);
        free(wp);
        lm = NULL;
        rc = sl_error(SL_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    lm->vocab = v;
    lm->map = map;
    lm->map_size = (size_t)fsz;
    v->words = wp;
    v->n = v->cap = (int)h.vocab_n;
    v->slots = (int32_t *)vslots;
    v->nslots = h.vslots_n;
    const char *s = words, *end = words + h.words_len;
    for (uint32_t i = 0; i < h.vocab_n; i++) {
        if (s >= end) BAD("%s: the word section holds fewer than %u words", path, h.vocab_n);
        wp[i] = (char *)s;
        s += strlen(s) + 1;
    }
    v->unk = sl_vocab_find(v, SL_UNK, 5);
    v->bos = sl_vocab_find(v, SL_BOS, 3);
    v->eos = sl_vocab_find(v, SL_EOS, 4);
    lm->order = (int)h.order;
    lm->has_unk = (int)(h.flags & 1);
    lm->suffix_closed = (int)(h.flags >> 1 & 1);
    lm->unk_prob = h.unk_prob;
    lm->estimated = 1;
    sl_ngram_opts_default(&lm->opts, lm->order);
    for (uint32_t k = 0; k < h.order; k++) {
        const bin_order *o = &h.ord[k];
        sl_ngtab *t = &lm->tab[k];
        t->k = (int)k + 1;
        t->n = t->cap = (size_t)o->n;
        t->keys = (int32_t *)(base + o->keys_off);
        t->slots = (uint32_t *)(base + o->slots_off);
        t->nslots = (size_t)o->nslots;
        t->borrowed = 1;
        lm->prob[k] = (float *)(base + o->prob_off);
        lm->bow[k] = o->bow_off ? (float *)(base + o->bow_off) : NULL;
        lm->probe[k] = (const sl_ngram_pent *)(base + o->probe_off);
        lm->probe_mask[k] = o->probe_n - 1;
    }
#undef BAD
    *out = lm;
    return SL_OK;
fail:
    if (lm) {
        sl_ngram_free(lm); /* unmaps */
    } else {
        munmap(map, (size_t)fsz);
    }
    return rc;
}

int sl_ngram_load(const char *path, sl_ngram_lm **out)
{
    if (sl_ngram_is_binary(path)) return sl_ngram_load_binary(path, out);
    FILE *f = fopen(path, "rb");
    if (f) {
        char m[16];
        size_t n = fread(m, 1, sizeof m, f);
        fclose(f);
        if (n == sizeof m && !memcmp(m, "mmap lm ", 8)) {
            *out = NULL;
            return sl_error(SL_EFORMAT,
                            "%s: a KenLM binary model; seqlab reads ARPA files and its own binary models "
                            "(seqlab ngram binarize)",
                            path);
        }
    }
    return sl_arpa_read(path, out);
}
