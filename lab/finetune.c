/* lab/finetune.c — starting a run from trained weights (see finetune.h). */
#include "lab/finetune.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/params.h"
#include "lab/dpo.h"
#include "lab/registry.h"
#include "seq/llama2c.h"
#include "seq/lora.h"
#include "seq/transformer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* state_dict entries that are buffers, not parameters, and tied heads: the lists of
 * `seqlab forward --weights` (src/cmd_forward.c) */
static const char *const IGNORE[] = {".attn.bias", ".attn.masked_bias", "lm_head.weight",
                                     /* a checkpoint given as a file: its optimizer and rng state */
                                     "__optim__.m", "__optim__.v", "__optim__.t", "__rng__", NULL};
static const char *const ALIAS[] = {"lm_head.weight", "transformer.wte.weight", "lm_head.weight", "backbone.embedding.weight",
                                    NULL};

static int unhex(const char *s, unsigned char *b, int cap)
{
    int n = 0;
    for (; s[0] && s[1] && n < cap; s += 2) {
        unsigned v;
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) || sscanf(s, "%2x", &v) != 1) return -1;
        b[n++] = (unsigned char)v;
    }
    return *s ? -1 : n;
}

static int read_meta(sl_init_source *s)
{
    const char *spec = sl_safetensors_meta(s->st, "model"), *alpha = sl_safetensors_meta(s->st, "alphabet");
    if (spec) {
        if (strlen(spec) >= sizeof s->spec) return sl_error(SL_EFORMAT, "%s: model spec longer than 4 KiB", s->path);
        snprintf(s->spec, sizeof s->spec, "%s", spec);
    }
    if (alpha && (s->n_alphabet = unhex(alpha, s->alphabet, 256)) <= 0)
        return sl_error(SL_EFORMAT, "%s: metadata 'alphabet' is not 1-256 hex bytes", s->path);
    if (sl_safetensors_meta(s->st, "lora"))
        return sl_error(SL_EUNSUPPORTED, "%s holds LoRA adapters, not a model: merge them first (seqlab lora merge)", s->path);
    return SL_OK;
}

int sl_init_source_open(const char *src, sl_init_source *s)
{
    memset(s, 0, sizeof *s);
    struct stat sb;
    if (stat(src, &sb) != 0) return sl_error(SL_EIO, "--init-from '%s': no such file or run directory", src);
    size_t n = strlen(src);
    if (S_ISDIR(sb.st_mode)) {
        s->kind = SL_INIT_RUN;
        snprintf(s->path, sizeof s->path, "%s/checkpoint.safetensors", src);
        int rc = sl_checkpoint_open(s->path, &s->st);
        if (rc) return sl_error_wrap(rc, "--init-from run '%s'", src);
        if ((rc = read_meta(s))) return rc;
        if (!s->spec[0]) return sl_error(SL_EFORMAT, "%s has no model spec in its metadata", s->path);
        return SL_OK;
    }
    snprintf(s->path, sizeof s->path, "%s", src);
    if (n > 4 && !strcmp(src + n - 4, ".bin")) {
        s->kind = SL_INIT_LLAMA2C;
        sl_llama2c_config cfg;
        int rc = sl_llama2c_read_config(src, &cfg);
        if (rc) return sl_error_wrap(rc, "--init-from llama2.c checkpoint '%s'", src);
        char *spec = sl_llama2c_spec(&cfg);
        if (!spec) return sl_error(SL_ENOMEM, "out of memory");
        snprintf(s->spec, sizeof s->spec, "%s", spec);
        free(spec);
        return SL_OK;
    }
    s->kind = SL_INIT_SAFETENSORS;
    int rc = sl_safetensors_read(src, &s->st);
    if (rc) return sl_error_wrap(rc, "--init-from '%s'", src);
    return read_meta(s);
}

void sl_init_source_close(sl_init_source *s)
{
    sl_safetensors_free(s->st);
    s->st = NULL;
}

int sl_init_task_spec(const sl_init_source *s, const char *task_spec, char **out)
{
    sl_spec *sp;
    int rc = sl_spec_parse(task_spec, &sp);
    if (rc) return rc;
    if (s->n_alphabet > 0 && (!strcmp(sp->name, "charlm") || !strcmp(sp->name, "dpo")) && !sl_spec_raw(sp, "alphabet")) {
        char hex[513];
        for (int i = 0; i < s->n_alphabet; i++) snprintf(hex + 2 * i, 3, "%02x", s->alphabet[i]);
        if ((rc = sl_spec_set(sp, "alphabet", hex))) {
            sl_spec_free(sp);
            return rc;
        }
    }
    *out = sl_spec_format(sp);
    sl_spec_free(sp);
    return *out ? SL_OK : sl_error(SL_ENOMEM, "out of memory");
}

static void char_text(char *buf, size_t cap, unsigned char c)
{
    if (isprint(c)) snprintf(buf, cap, "'%c' (0x%02x)", c, c);
    else snprintf(buf, cap, "0x%02x", c);
}

/* the characters of a that b lacks, as a list for a message */
static int missing_chars(const unsigned char *a, int na, const unsigned char *b, int nb, char *list, size_t cap)
{
    int in_b[256] = {0}, count = 0;
    size_t m = 0;
    list[0] = '\0';
    for (int i = 0; i < nb; i++) in_b[b[i]] = 1;
    for (int i = 0; i < na; i++)
        if (!in_b[a[i]]) {
            char one[16];
            char_text(one, sizeof one, a[i]);
            if (count < 12 && m < cap) m += (size_t)snprintf(list + m, cap - m, "%s%s", count ? ", " : "", one);
            count++;
        }
    if (count > 12 && m < cap) snprintf(list + m, cap - m, " and %d more", count - 12);
    return count;
}

int sl_init_check_vocab(const sl_init_source *s, const sl_model *m, const sl_task *t)
{
    if (s->n_alphabet > 0 && t->alphabet) {
        char more[512], less[512];
        int nm = missing_chars(t->alphabet, t->vocab, s->alphabet, s->n_alphabet, more, sizeof more);
        int nl = missing_chars(s->alphabet, s->n_alphabet, t->alphabet, t->vocab, less, sizeof less);
        if (nm || nl || t->vocab != s->n_alphabet) {
            char msg[1200];
            size_t k = (size_t)snprintf(msg, sizeof msg, "the vocabularies differ: %s has %d characters, task %s has %d", s->path,
                                        s->n_alphabet, t->name, t->vocab);
            if (nm) k += (size_t)snprintf(msg + k, sizeof msg - k, "; the task's that the source lacks: %s", more);
            if (nl && k < sizeof msg) snprintf(msg + k, sizeof msg - k, "; the source's that the task lacks: %s", less);
            return sl_error(SL_EINVAL, "%s", msg);
        }
    }
    if (t->token_in && (m->caps & SL_CAP_TOKEN_IN) && m->d_in != t->vocab)
        return sl_error(SL_EINVAL, "the vocabularies differ: the model from %s reads %d token ids, task %s has %d%s", s->path,
                        m->d_in, t->name, t->vocab,
                        t->alphabet ? " characters (a character task's vocabulary is its corpus's distinct bytes)" : " tokens");
    if (t->token_out && (m->caps & SL_CAP_TOKEN_OUT) && m->d_out != t->vocab)
        return sl_error(SL_EINVAL, "the vocabularies differ: the model from %s predicts %d tokens, task %s has %d", s->path,
                        m->d_out, t->name, t->vocab);
    return SL_OK;
}

/* llama2.c: the file mapped read-only by sl_llama2c_load, its tensors copied by name */
static int load_llama2c(const sl_init_source *s, sl_model *m)
{
    sl_model *src = NULL;
    int rc = sl_llama2c_load(s->path, &src);
    if (rc) return sl_error_wrap(rc, "--init-from '%s'", s->path);
    const sl_params *P = m->P, *Q = src->P;
    for (int i = 0; i < P->n && !rc; i++) {
        int j = sl_params_find(Q, P->t[i].name);
        if (j < 0) rc = sl_error(SL_ENOTFOUND, "%s: the model's tensor '%s' is not in the checkpoint", s->path, P->t[i].name);
        else if (Q->t[j].numel != P->t[i].numel)
            rc = sl_error(SL_ESHAPE, "%s: tensor '%s' has %zu values in the checkpoint, the model's has %zu", s->path,
                          P->t[i].name, Q->t[j].numel, P->t[i].numel);
    }
    for (int i = 0; i < P->n && !rc; i++)
        memcpy(sl_params_data(P, i), sl_params_data(Q, sl_params_find(Q, P->t[i].name)), P->t[i].numel * sizeof(float));
    sl_model_free(src);
    return rc;
}

int sl_init_load(const sl_init_source *s, sl_model *m)
{
    int rc;
    switch (s->kind) {
    case SL_INIT_RUN:
        rc = sl_checkpoint_restore(s->st, m->P, NULL, NULL, NULL, NULL);
        return rc ? sl_error_wrap(rc, "--init-from '%s'", s->path) : SL_OK;
    case SL_INIT_LLAMA2C: return load_llama2c(s, m);
    case SL_INIT_SAFETENSORS:
    default:
        rc = sl_transformer_is(m) ? sl_transformer_load(m, s->path) : sl_params_load(m->P, s->path, IGNORE, ALIAS);
        return rc ? sl_error_wrap(rc, "--init-from") : SL_OK;
    }
}

int sl_finetune_rebuild(const sl_safetensors *st, sl_model **m)
{
    const char *lora = sl_safetensors_meta(st, "lora"), *from = sl_safetensors_meta(st, "init_from");
    if (!lora) return SL_OK;
    if (!from) return sl_error(SL_EFORMAT, "a LoRA run without 'init_from' metadata: its base model is unknown");
    sl_lora_config c;
    int rc = sl_lora_config_parse(lora, &c);
    if (rc) return sl_error_wrap(rc, "metadata 'lora'");
    sl_init_source src;
    if ((rc = sl_init_source_open(from, &src))) return sl_error_wrap(rc, "the LoRA run's base");
    rc = sl_init_load(&src, *m);
    sl_init_source_close(&src);
    if (rc) return sl_error_wrap(rc, "the LoRA run's base");
    sl_model *w;
    if ((rc = sl_lora_create(*m, &c, NULL, &w))) return rc;
    *m = w;
    return SL_OK;
}

int sl_finetune_dpo_reference(sl_task *t, const char *model_spec, const char *init_from)
{
    if (!sl_dpo_is(t)) return SL_OK;
    if (!init_from)
        return sl_error(SL_EINVAL, "the dpo task compares the policy with a frozen reference: train it with --init-from SRC");
    sl_init_source src;
    sl_model *ref = NULL;
    int rc = sl_init_source_open(init_from, &src);
    if (!rc) rc = sl_model_create(model_spec, 1, &ref);
    if (!rc) rc = sl_init_load(&src, ref);
    sl_init_source_close(&src);
    if (!rc) rc = sl_dpo_set_reference(t, ref);
    if (rc) {
        sl_model_free(ref);
        return sl_error_wrap(rc, "dpo reference model");
    }
    return SL_OK;
}
