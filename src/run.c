/* src/run.c — see run.h. */
#include "src/run.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "lab/finetune.h"
#include "lab/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int run_check_task_spec(const char *spec)
{
    sl_spec *s;
    int rc = sl_spec_parse(spec, &s);
    if (rc) return rc;
    const sl_task_entry *e = sl_task_find(s->name);
    if (!e) {
        sl_spec_free(s);
        sl_task *t;
        return sl_task_create(spec, &t); /* its message: unknown task, did you mean */
    }
    const sl_spec_key *tables[2] = {e->keys, NULL};
    rc = sl_spec_check_kind(s, tables, "task");
    sl_spec_free(s);
    return rc;
}

int run_check_task(const sl_model *m, const char *user_spec, const sl_task *t)
{
    char name[64];
    size_t n = strcspn(user_spec, ":");
    snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), user_spec);
    int tin = !!(m->caps & SL_CAP_TOKEN_IN), tout = !!(m->caps & SL_CAP_TOKEN_OUT);
    if (tin != t->token_in || tout != t->token_out)
        return sl_error(SL_EINVAL, "model '%s' takes %s and gives %s; task '%s' gives %s and scores %s%s", name,
                        tin ? "tokens" : "real vectors", tout ? "logits over tokens" : "real vectors", t->name,
                        t->token_in ? "tokens" : "real vectors", t->token_out ? "tokens" : "real vectors",
                        t->token_in ? ""
                                    : "; for a real-valued task use a mixer (seqlab list --mixers), wrapped as seq:mixer=NAME");
    if (t->token_in ? m->d_in != t->vocab : m->d_in != t->d_in)
        return sl_error(SL_EINVAL,
                        "model '%s' has %s %d and task '%s' needs %d (leave %s out of the spec: train sets it "
                        "from the task)",
                        name, t->token_in ? "vocabulary" : "input width", m->d_in, t->name, t->token_in ? t->vocab : t->d_in,
                        t->token_in ? "vocab_size" : "d_input");
    if (t->token_out ? m->d_out != t->vocab : m->d_out != t->d_out)
        return sl_error(SL_EINVAL,
                        "model '%s' has %s %d and task '%s' needs %d (leave %s out of the spec: train sets it "
                        "from the task)",
                        name, t->token_out ? "vocabulary" : "output width", m->d_out, t->name, t->token_out ? t->vocab : t->d_out,
                        t->token_out ? "vocab_size" : "d_output");
    return SL_OK;
}

void run_hex(const unsigned char *b, int n, char *out)
{
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = '\0';
}

int run_unhex(const char *s, unsigned char *b, int cap)
{
    int n = 0;
    for (; s[0] && s[1] && n < cap; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) return -1;
        b[n++] = (unsigned char)v;
    }
    return *s ? -1 : n;
}

int run_open(const char *dir, const char *task_override, int want_task, run_t *r)
{
    memset(r, 0, sizeof *r);
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    int rc = sl_checkpoint_open(path, &r->ckpt);
    if (rc) return rc;
    const char *spec = sl_safetensors_meta(r->ckpt, "model");
    if (!spec) return sl_error(SL_EFORMAT, "%s has no model spec in its metadata", path);
    if ((rc = sl_model_create(spec, 1, &r->model))) return sl_error_wrap(rc, "rebuilding model '%s'", spec);
    if ((rc = sl_finetune_rebuild(r->ckpt, &r->model))) return rc; /* a LoRA run: base + adapters */
    if ((rc = sl_checkpoint_restore(r->ckpt, r->model->P, NULL, NULL, NULL, NULL))) return rc;
    const char *alpha = sl_safetensors_meta(r->ckpt, "alphabet");
    if (alpha) {
        r->n_alphabet = run_unhex(alpha, r->alphabet, 256);
        if (r->n_alphabet < 0) return sl_error(SL_EFORMAT, "%s: bad alphabet metadata", path);
    }
    /* count-based models (n-gram) are a deterministic function of their training text: the
     * run records the task, so they are re-fitted from its training split */
    int refit = (r->model->caps & SL_CAP_FIT) && !(r->model->caps & SL_CAP_GRAD);
    if (refit) {
        const char *ts = sl_safetensors_meta(r->ckpt, "task");
        sl_task *ft;
        if (!ts) return sl_error(SL_EFORMAT, "%s has no task in its metadata", path);
        if ((rc = sl_task_create(ts, &ft))) return sl_error_wrap(rc, "re-fitting %s", spec);
        rc = ft->train_stream ? sl_model_fit(r->model, ft->train_stream, ft->n_train_stream)
                              : sl_error(SL_EFORMAT, "task '%s' has no training text to fit on", ts);
        sl_task_free(ft);
        if (rc) return rc;
    }
    if (want_task) {
        const char *ts = task_override ? task_override : sl_safetensors_meta(r->ckpt, "task");
        if (!ts) return sl_error(SL_EFORMAT, "%s has no task in its metadata; give --task", path);
        if ((rc = sl_task_create(ts, &r->task))) return rc;
        if ((rc = sl_finetune_dpo_reference(r->task, spec, sl_safetensors_meta(r->ckpt, "init_from")))) return rc;
    }
    return SL_OK;
}

void run_close(run_t *r)
{
    sl_model_free(r->model);
    sl_task_free(r->task);
    sl_safetensors_free(r->ckpt);
    memset(r, 0, sizeof *r);
}
