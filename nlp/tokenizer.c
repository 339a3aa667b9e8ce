/* nlp/tokenizer.c — the tokenizer handle (see tokenizer.h). */
#include "nlp/tokenizer.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nlp/spm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

int sl_subword_load(const char *path, sl_subword **out)
{
    *out = NULL;
    sl_subword *t = calloc(1, sizeof *t);
    if (!t) return sl_error(SL_ENOMEM, "out of memory");
    t->doc_token = -1;
    struct stat st;
    if (stat(path, &st) != 0) {
        free(t);
        return sl_error(SL_EIO, "cannot open tokenizer %s", path);
    }
    int rc;
    size_t pl = strlen(path);
    char *a = malloc(pl + 32), *b = malloc(pl + 32);
    if (!a || !b) {
        free(a);
        free(b);
        free(t);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    struct stat vs;
    snprintf(a, pl + 32, "%s/vocab.json", path);
    int hf_dir = S_ISDIR(st.st_mode) && stat(a, &vs) != 0;
    if (ends_with(path, "tokenizer.json") || hf_dir) {
        if (hf_dir) snprintf(a, pl + 32, "%s/tokenizer.json", path);
        else snprintf(a, pl + 32, "%s", path);
        t->kind = SL_SUBWORD_BPE;
        rc = sl_bpe_load_hf(a, &t->bpe);
    } else if (S_ISDIR(st.st_mode) || ends_with(path, ".json")) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(a, pl + 32, "%s/vocab.json", path);
            snprintf(b, pl + 32, "%s/merges.txt", path);
        } else {
            snprintf(a, pl + 32, "%s", path);
            const char *slash = strrchr(path, '/');
            size_t dl = slash ? (size_t)(slash - path + 1) : 0;
            snprintf(b, pl + 32, "%.*smerges.txt", (int)dl, path);
        }
        t->kind = SL_SUBWORD_BPE;
        rc = sl_bpe_load_gpt2(a, b, &t->bpe);
    } else {
        char head[16] = {0};
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(head, 1, 10, f) : 0;
        if (f) fclose(f);
        if (got == 10 && !memcmp(head, "seqlab-bpe", 10)) {
            t->kind = SL_SUBWORD_BPE;
            rc = sl_bpe_load(path, &t->bpe);
        } else {
            t->kind = SL_SUBWORD_SPM;
            rc = sl_spm_load(path, &t->spm);
        }
    }
    free(a);
    free(b);
    if (rc) {
        free(t);
        return rc;
    }
    if (t->kind == SL_SUBWORD_BPE) {
        t->n_vocab = t->bpe->n_vocab;
        t->doc_token = sl_bpe_find_special(t->bpe, "<|endoftext|>");
    } else {
        t->n_vocab = sl_spm_size(t->spm);
        t->doc_token = sl_spm_bos(t->spm);
        if (!(t->spm_ws = sl_spm_ws_alloc())) {
            sl_subword_free(t);
            return sl_error(SL_ENOMEM, "out of memory");
        }
    }
    *out = t;
    return SL_OK;
}

void sl_subword_free(sl_subword *t)
{
    if (!t) return;
    sl_bpe_free(t->bpe);
    sl_spm_free(t->spm);
    sl_spm_ws_free(t->spm_ws);
    free(t);
}

const char *sl_subword_kind_name(const sl_subword *t)
{
    if (t->kind == SL_SUBWORD_SPM) return sl_spm_kind_name(t->spm);
    return "byte-level BPE (GPT-2)";
}

int sl_subword_encode(sl_subword *t, const unsigned char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap)
{
    if (t->kind == SL_SUBWORD_SPM) {
        size_t i = 0;
        while (i < n) {
            const unsigned char *nl = memchr(s + i, '\n', n - i);
            size_t e = nl ? (size_t)(nl - s) : n;
            int rc = sl_spm_encode_ws(t->spm, t->spm_ws, s + i, e - i, ids, n_ids, cap);
            if (rc) return rc;
            i = e + 1;
        }
        return SL_OK;
    }
    return sl_bpe_encode(t->bpe, s, n, ids, n_ids, cap);
}

void sl_subword_batch_free(sl_subword_batch *b)
{
    free(b->ids);
    free(b->ends);
    memset(b, 0, sizeof *b);
}

static int batch_end_line(sl_subword_batch *b)
{
    if (b->n_lines == b->lcap) {
        size_t c = b->lcap ? 2 * b->lcap : 1024;
        size_t *p = realloc(b->ends, c * sizeof *p);
        if (!p) return sl_error(SL_ENOMEM, "out of memory");
        b->ends = p;
        b->lcap = c;
    }
    b->ends[b->n_lines++] = b->n_ids;
    return SL_OK;
}

/* one thread's part, encoded serially: SentencePiece with the scratch ws, BPE with the model b
 * (a shallow copy with its own cache when threads share the model) */
static int encode_part(const sl_subword *t, sl_spm_ws *ws, sl_bpe *bpe, const unsigned char *s, size_t n, int per_line,
                       sl_subword_batch *out)
{
    int rc = SL_OK;
    if (!per_line && t->kind == SL_SUBWORD_BPE) return sl_bpe_encode(bpe, s, n, &out->ids, &out->n_ids, &out->cap);
    size_t i = 0;
    while (i < n && !rc) {
        const unsigned char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        if (t->kind == SL_SUBWORD_SPM) rc = sl_spm_encode_ws(t->spm, ws, s + i, e - i, &out->ids, &out->n_ids, &out->cap);
        else rc = sl_bpe_encode(bpe, s + i, e - i, &out->ids, &out->n_ids, &out->cap);
        if (!rc && per_line) rc = batch_end_line(out);
        i = e + 1;
    }
    return rc;
}

/* where part k of nt starts: the first line start (BPE whole text: safe cut) at or after k n / nt */
static size_t part_start(const sl_subword *t, const unsigned char *s, size_t n, int per_line, int k, int nt)
{
    if (k == 0) return 0;
    if (k == nt) return n;
    size_t x = (size_t)((double)n * k / nt);
    if (per_line || t->kind == SL_SUBWORD_SPM) {
        const unsigned char *nl = memchr(s + x, '\n', n - x);
        return nl ? (size_t)(nl - s) + 1 : n;
    }
    /* the safe cut of s[0..y) for the smallest window past x that has one */
    for (size_t w = 4096; x < n; w *= 2) {
        size_t y = x + w < n ? x + w : n;
        size_t c = sl_bpe_safe_cut(s, y);
        if (c >= x) return c;
        if (y == n) break;
    }
    return n;
}

int sl_subword_encode_batch(sl_subword *t, const unsigned char *s, size_t n, int per_line, int threads, sl_subword_batch *b,
                            size_t *bad_part)
{
    b->n_ids = b->n_lines = 0;
    *bad_part = 0;
    if (t->kind == SL_SUBWORD_SPM) per_line = 1;
    int nt = threads > 1 ? threads : 1;
    if (n < (size_t)nt * 4096) nt = 1; /* not worth a thread */
    if (nt == 1) return encode_part(t, t->spm_ws, t->bpe, s, n, per_line, b);
    size_t *start = malloc(((size_t)nt + 1) * sizeof *start);
    sl_subword_batch *part = calloc((size_t)nt, sizeof *part);
    int *prc = calloc((size_t)nt, sizeof *prc);
    char(*msg)[256] = calloc((size_t)nt, sizeof *msg);
    if (!start || !part || !prc || !msg) {
        free(start);
        free(part);
        free(prc);
        free(msg);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int k = 0; k <= nt; k++) { /* a safe cut found past the next target keeps the parts in order */
        start[k] = part_start(t, s, n, per_line, k, nt);
        if (k && start[k] < start[k - 1]) start[k] = start[k - 1];
    }
    #pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int k = 0; k < nt; k++) {
        sl_spm_ws *ws = t->kind == SL_SUBWORD_SPM ? sl_spm_ws_alloc() : NULL;
        sl_bpe copy;
        if (t->bpe) {
            copy = *t->bpe;
            copy.cache = NULL;
        }
        if (t->kind == SL_SUBWORD_SPM && !ws) prc[k] = sl_error(SL_ENOMEM, "out of memory");
        else prc[k] = encode_part(t, ws, t->bpe ? &copy : NULL, s + start[k], start[k + 1] - start[k], per_line, &part[k]);
        if (prc[k]) snprintf(msg[k], sizeof msg[k], "%s", sl_errmsg()); /* the message is per thread */
        sl_spm_ws_free(ws);
        if (t->bpe) sl_bpe_cache_free(&copy);
    }
    int rc = SL_OK;
    for (int k = 0; k < nt && !rc; k++)
        if (prc[k]) {
            *bad_part = start[k];
            rc = sl_error(prc[k], "%s", msg[k]);
        }
    size_t total = 0, lines = 0;
    for (int k = 0; k < nt; k++) {
        total += part[k].n_ids;
        lines += part[k].n_lines;
    }
    if (!rc && total > b->cap) {
        int32_t *p = realloc(b->ids, total * sizeof *p);
        if (!p) rc = sl_error(SL_ENOMEM, "out of memory");
        else {
            b->ids = p;
            b->cap = total;
        }
    }
    if (!rc && lines > b->lcap) {
        size_t *p = realloc(b->ends, lines * sizeof *p);
        if (!p) rc = sl_error(SL_ENOMEM, "out of memory");
        else {
            b->ends = p;
            b->lcap = lines;
        }
    }
    for (int k = 0; k < nt && !rc; k++) {
        if (part[k].n_ids) memcpy(b->ids + b->n_ids, part[k].ids, part[k].n_ids * sizeof *b->ids);
        for (size_t i = 0; i < part[k].n_lines; i++) b->ends[b->n_lines++] = b->n_ids + part[k].ends[i];
        b->n_ids += part[k].n_ids;
    }
    for (int k = 0; k < nt; k++) sl_subword_batch_free(&part[k]);
    free(part);
    free(prc);
    free(msg);
    free(start);
    return rc;
}

int sl_subword_decode(const sl_subword *t, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out, size_t *cap)
{
    if (t->kind == SL_SUBWORD_SPM) return sl_spm_decode(t->spm, ids, n, out, n_out, cap);
    return sl_bpe_decode(t->bpe, ids, n, out, n_out, cap);
}

const unsigned char *sl_subword_piece(const sl_subword *t, int id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (t->kind == SL_SUBWORD_SPM) return sl_spm_piece(t->spm, id, len);
    *len = (size_t)t->bpe->len[id];
    return t->bpe->tok[id];
}
