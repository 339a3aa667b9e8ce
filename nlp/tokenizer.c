/* nlp/tokenizer.c — the tokenizer handle (see tokenizer.h). */
#include "nlp/tokenizer.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nlp/spm.h"

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
    if (S_ISDIR(st.st_mode) || ends_with(path, ".json")) {
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
    }
    else {
        t->n_vocab = sl_spm_size(t->spm);
        t->doc_token = sl_spm_bos(t->spm);
    }
    *out = t;
    return SL_OK;
}

void sl_subword_free(sl_subword *t)
{
    if (!t) return;
    sl_bpe_free(t->bpe);
    sl_spm_free(t->spm);
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
            int rc = sl_spm_encode(t->spm, s + i, e - i, ids, n_ids, cap);
            if (rc) return rc;
            i = e + 1;
        }
        return SL_OK;
    }
    return sl_bpe_encode(t->bpe, s, n, ids, n_ids, cap);
}

int sl_subword_decode(const sl_subword *t, const int32_t *ids, size_t n, unsigned char **out, size_t *n_out,
                        size_t *cap)
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
