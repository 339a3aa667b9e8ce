/* src/run.c — see run.h. */
#include "src/run.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "lab/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int run_adapt_spec(const char *spec, const sl_task *t, char **out)
{
    sl_spec *s;
    const sl_model_entry *e;
    int rc = sl_registry_parse(spec, &s, &e);
    if (rc) return rc;
    if (e->is_mixer) {
        /* wrap: keys go to the wrapper, which passes the mixer's own keys on */
        char *mixer = strdup(s->name);
        free(s->name);
        s->name = strdup(t->token_in ? "lm" : "seq");
        rc = sl_spec_set(s, "mixer", mixer);
        free(mixer);
        if (!rc && e->width_key && strcmp(e->width_key, "d_model") && sl_spec_raw(s, e->width_key)) {
            /* `rnn:input_size=..` on a task: the wrapper decides the width from d_model */
            const char *v = sl_spec_raw(s, e->width_key);
            if (!sl_spec_raw(s, "d_model")) rc = sl_spec_set(s, "d_model", v);
            if (!rc) sl_spec_remove(s, e->width_key);
        }
        if (!rc && e->out_key && sl_spec_raw(s, e->out_key) && !sl_spec_raw(s, "d_model"))
            rc = sl_spec_set(s, "d_model", sl_spec_raw(s, e->out_key));
        e = sl_registry_find(s->name);
    }
    char buf[32];
    struct { const char *key; int val; int when; } fill[] = {
        {"vocab_size", t->vocab, t->token_in}, {"d_input", t->d_in, !t->token_in}, {"d_output", t->d_out, !t->token_out},
        {"block_size", t->T, 1}, {"max_seq_len", t->T, 1},
    };
    for (size_t i = 0; i < sizeof fill / sizeof fill[0] && !rc; i++) {
        if (!fill[i].when || !e || !sl_model_entry_has_key(e, fill[i].key) || sl_spec_raw(s, fill[i].key)) continue;
        snprintf(buf, sizeof buf, "%d", fill[i].val);
        rc = sl_spec_set(s, fill[i].key, buf);
    }
    if (!rc) {
        *out = sl_spec_format(s);
        if (!*out) rc = sl_error(SL_ENOMEM, "out of memory");
    }
    sl_spec_free(s);
    return rc;
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
