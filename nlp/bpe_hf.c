/* nlp/bpe_hf.c — byte-level BPE as a Hugging Face tokenizer.json (the `tokenizers` library's
 * serialisation; GPT-2's file on the Hub is this layout).
 *
 * The fields, from the library's documentation and its serialised GPT-2 file:
 *   model: {"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] (or [["a", "b"], ...],
 *           the form tokenizers >= 0.20 writes), "byte_fallback", "continuing_subword_prefix",
 *           "end_of_word_suffix", "dropout", "unk_token", "fuse_unk"}
 *   added_tokens: [{"id", "content", "special", ...}]
 *   normalizer, pre_tokenizer, post_processor, decoder
 * Token strings are GPT-2's bytes_to_unicode strings, as in vocab.json / merges.txt. seqlab
 * reads what encodes as GPT-2 does: a BPE model with no normaliser and the ByteLevel
 * pre-tokenizer with GPT-2's regex and no added prefix space (alone or as the only member of a
 * Sequence), no byte fallback, no dropout, no subword prefix or suffix; anything else is
 * refused by name. Added tokens become special tokens (an entry of model.vocab that an added
 * token names is that special token). Saving writes special tokens as added tokens only,
 * outside model.vocab, as the library accepts: a special token's name may spell the string
 * of an ordinary token, which in one JSON object would be a repeated key. */
#include "nlp/bpe.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_type(const sl_json *o, const char *type)
{
    const sl_json *t = o && o->type == SL_JSON_OBJECT ? sl_json_get(o, "type") : NULL;
    return t && t->type == SL_JSON_STRING && !strcmp(t->str, type);
}

static int is_true(const sl_json *v) { return v && v->type == SL_JSON_BOOL && v->boolean; }
static int is_null(const sl_json *v) { return !v || v->type == SL_JSON_NULL; }
static int empty_or_null(const sl_json *v) { return is_null(v) || (v->type == SL_JSON_STRING && !v->str[0]); }

/* the ByteLevel pre-tokenizer as GPT-2 uses it (use_regex defaults to true) */
static int check_pretok(const sl_json *p, const char *path)
{
    if (is_type(p, "Sequence")) {
        const sl_json *list = sl_json_get(p, "pretokenizers");
        if (!list || list->type != SL_JSON_ARRAY || list->n != 1)
            return sl_error(SL_EFORMAT, "%s: pre_tokenizer: a Sequence other than one ByteLevel is not supported", path);
        p = list->items[0];
    }
    if (!is_type(p, "ByteLevel"))
        return sl_error(SL_EFORMAT,
                        "%s: pre_tokenizer: only GPT-2's ByteLevel is supported (a SentencePiece-style "
                        "model such as Llama's: use its tokenizer.model)",
                        path);
    if (is_true(sl_json_get(p, "add_prefix_space")))
        return sl_error(SL_EFORMAT, "%s: pre_tokenizer: add_prefix_space is not supported", path);
    const sl_json *r = sl_json_get(p, "use_regex");
    if (r && !is_true(r)) return sl_error(SL_EFORMAT, "%s: pre_tokenizer: use_regex false is not supported", path);
    return SL_OK;
}

int sl_bpe_load_hf(const char *path, sl_bpe **out)
{
    *out = NULL;
    void *data = NULL;
    size_t n, nm = 0, ne = 0;
    sl_json *j = NULL;
    sl_bpe_mpair *mp = NULL;
    sl_bpe_extra *ex = NULL;
    char *vname = NULL, *fmt = NULL;
    int rc = sl_read_file(path, (size_t)1 << 30, &data, &n);
    if (rc) return rc;
#define BAD(...) \
    do { \
        rc = sl_error(SL_EFORMAT, __VA_ARGS__); \
        goto done; \
    } while (0)
    if ((rc = sl_json_parse(data, n, &j))) {
        sl_error_wrap(rc, "%s", path);
        goto done;
    }
    if (j->type != SL_JSON_OBJECT) BAD("%s: expected a JSON object (a tokenizer.json)", path);
    const sl_json *model = sl_json_get(j, "model");
    if (!model || model->type != SL_JSON_OBJECT) BAD("%s: no \"model\" object", path);
    if (!is_type(model, "BPE")) BAD("%s: model.type is not \"BPE\" (only byte-level BPE is read from tokenizer.json)", path);
    if (is_true(sl_json_get(model, "byte_fallback")))
        BAD("%s: model.byte_fallback is true: a SentencePiece-style BPE (Llama's); use its tokenizer.model", path);
    const sl_json *dr = sl_json_get(model, "dropout");
    if (!is_null(dr) && !(dr->type == SL_JSON_NUMBER && dr->number == 0)) BAD("%s: model.dropout is not supported", path);
    if (!empty_or_null(sl_json_get(model, "continuing_subword_prefix")) ||
        !empty_or_null(sl_json_get(model, "end_of_word_suffix")))
        BAD("%s: model.continuing_subword_prefix / end_of_word_suffix are not supported", path);
    if (!is_null(sl_json_get(j, "normalizer"))) BAD("%s: a normalizer is not supported (GPT-2 has none)", path);
    if ((rc = check_pretok(sl_json_get(j, "pre_tokenizer"), path))) goto done;
    const sl_json *vocab = sl_json_get(model, "vocab"), *merges = sl_json_get(model, "merges");
    if (!vocab || vocab->type != SL_JSON_OBJECT) BAD("%s: model.vocab is not an object of token -> id", path);
    if (!merges || merges->type != SL_JSON_ARRAY) BAD("%s: model.merges is not an array", path);
    mp = malloc((merges->n + 1) * sizeof *mp);
    if (!mp) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < merges->n; i++) {
        const sl_json *m = merges->items[i];
        if (m->type == SL_JSON_STRING) { /* "a b" */
            size_t l = strlen(m->str);
            const char *sp = memchr(m->str, ' ', l);
            if (!sp || sp == m->str || sp == m->str + l - 1 || memchr(sp + 1, ' ', l - (size_t)(sp - m->str) - 1))
                BAD("%s: model.merges[%zu]: expected two token strings separated by one space", path, i);
            mp[nm++] = (sl_bpe_mpair){{m->str, sp + 1}, {(size_t)(sp - m->str), l - (size_t)(sp - m->str) - 1}, (long)i};
        } else if (m->type == SL_JSON_ARRAY && m->n == 2 && m->items[0]->type == SL_JSON_STRING &&
                   m->items[1]->type == SL_JSON_STRING) { /* ["a", "b"] */
            mp[nm++] = (sl_bpe_mpair){
                {m->items[0]->str, m->items[1]->str}, {strlen(m->items[0]->str), strlen(m->items[1]->str)}, (long)i};
        } else {
            BAD("%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
        }
    }
    /* added tokens: those inside the vocabulary must name their entry; the others extend it */
    const sl_json *added = sl_json_get(j, "added_tokens");
    if (added && added->type != SL_JSON_ARRAY) BAD("%s: added_tokens is not an array", path);
    if (added) {
        ex = malloc((added->n + 1) * sizeof *ex);
        if (!ex) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < added->n; i++) {
            const sl_json *a = added->items[i], *id = a->type == SL_JSON_OBJECT ? sl_json_get(a, "id") : NULL,
                          *c = a->type == SL_JSON_OBJECT ? sl_json_get(a, "content") : NULL;
            int64_t v;
            if (!id || sl_json_int(id, 0, 1 << 24, &v) || !c || c->type != SL_JSON_STRING || !c->str[0])
                BAD("%s: added_tokens[%zu]: expected an object with an integer id and a non-empty content", path, i);
            const sl_json *in = sl_json_get(vocab, c->str);
            if (in) {
                int64_t w;
                if (sl_json_int(in, 0, 1 << 24, &w) || w != v)
                    BAD("%s: added_tokens[%zu] \"%.100s\" has id %lld, the vocabulary %s", path, i, c->str, (long long)v,
                        in->type == SL_JSON_NUMBER ? in->str : "another value");
            }
            ex[ne++] = (sl_bpe_extra){c->str, v, in != NULL};
        }
    }
    size_t pl = strlen(path);
    vname = malloc(pl + 16);
    fmt = malloc(2 * pl + 32);
    if (!vname || !fmt) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(vname, pl + 16, "%s model.vocab", path);
    char *o = fmt;
    for (size_t i = 0; i < pl; i++) { /* the file name, '%' escaped, then the merge's index */
        if (path[i] == '%') *o++ = '%';
        *o++ = path[i];
    }
    strcpy(o, " model.merges[%ld]");
    rc = sl_bpe_from_json(vocab, vname, mp, nm, path, fmt, ex, ne, out);
#undef BAD
done:
    free(mp);
    free(ex);
    free(vname);
    free(fmt);
    sl_json_free(j);
    free(data);
    return rc;
}

/* a JSON string literal of s to f, through q (6 bytes a byte at most, + quotes) */
static void put_str(FILE *f, const char *s, char *q, size_t qcap)
{
    sl_json_quote(q, qcap, s);
    fputs(q, f);
}

int sl_bpe_save_hf(const sl_bpe *b, const char *path)
{
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    size_t maxl = 1;
    for (int i = 0; i < b->n_vocab; i++)
        if ((size_t)b->len[i] > maxl) maxl = (size_t)b->len[i];
    size_t qcap = 6 * (4 * maxl + 2) + 3; /* a merge: two GPT-2 strings and a space */
    char *s = malloc(2 * maxl + 1), *s2 = malloc(2 * maxl + 1), *both = malloc(4 * maxl + 2), *q = malloc(qcap);
    if (!s || !s2 || !both || !q) {
        free(s);
        free(s2);
        free(both);
        free(q);
        sl_afile_abort(&a);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    FILE *f = a.f;
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [", f);
    int first = 1;
    for (int i = 0; i < b->n_vocab; i++) {
        if (!b->special[i]) continue;
        memcpy(s, b->tok[i], (size_t)b->len[i]);
        s[b->len[i]] = 0;
        fprintf(f, "%s\n    {\"id\": %d, \"content\": ", first ? "" : ",", i);
        put_str(f, s, q, qcap);
        fputs(", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": true, \"special\": true}", f);
        first = 0;
    }
    fputs(first ? "],\n" : "\n  ],\n", f);
    fputs("  \"normalizer\": null,\n"
          "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": "
          "true},\n"
          "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, \"use_regex\": "
          "true},\n"
          "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n"
          "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
          "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n    \"fuse_unk\": false,\n"
          "    \"byte_fallback\": false,\n    \"vocab\": {",
          f);
    first = 1;
    for (int i = 0; i < b->n_vocab; i++) {
        if (b->special[i]) continue; /* an added token only: its name could spell a token's string */
        sl_bpe_gpt2_string(b->tok[i], (size_t)b->len[i], s);
        fputs(first ? "\n      " : ",\n      ", f);
        first = 0;
        put_str(f, s, q, qcap);
        fprintf(f, ": %d", i);
    }
    fputs("\n    },\n    \"merges\": [", f);
    for (int r = 0; r < b->n_merges; r++) {
        int x = b->merge[3 * r], y = b->merge[3 * r + 1];
        sl_bpe_gpt2_string(b->tok[x], (size_t)b->len[x], s);
        sl_bpe_gpt2_string(b->tok[y], (size_t)b->len[y], s2);
        sprintf(both, "%s %s", s, s2);
        fputs(r ? ",\n      " : "\n      ", f);
        put_str(f, both, q, qcap);
    }
    fputs("\n    ]\n  }\n}\n", f);
    free(s);
    free(s2);
    free(both);
    free(q);
    if (ferror(f)) rc = sl_error(SL_EIO, "writing %s failed", path);
    if (rc) {
        sl_afile_abort(&a);
        return rc;
    }
    return sl_afile_commit(&a);
}
