/* src/run.c — see run.h. */
#include "src/run.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "lab/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "lm" or "seq": the wrapper a task needs */
static const char *wrapper_for(const sl_task *t) { return t->token_in ? "lm" : "seq"; }

/* a wrapper given for the wrong kind of task: name the fix (the same keys under the other
 * wrapper's name) */
static int wrong_wrapper(const sl_spec *s, const sl_task *t)
{
    sl_spec *fix = sl_spec_dup(s);
    char *fs = NULL;
    if (fix) {
        free(fix->name);
        fix->name = strdup(wrapper_for(t));
        fs = fix->name ? sl_spec_format(fix) : NULL;
    }
    const char *mixer = sl_spec_raw(s, "mixer");
    int rc = sl_error(SL_EINVAL, "model '%s' is for %s tasks and task '%s' is a %s task: use %s (or the bare mixer '%s', "
                      "which is wrapped to suit the task)", s->name, t->token_in ? "real-valued" : "token", t->name,
                      t->token_in ? "token" : "real-valued", fs ? fs : wrapper_for(t), mixer ? mixer : "rnn");
    free(fs);
    sl_spec_free(fix);
    return rc;
}

int run_adapt_spec(const char *spec, const sl_task *t, char **out)
{
    sl_spec *s;
    const sl_model_entry *e;
    int rc = sl_registry_parse(spec, &s, &e);
    if (rc) return rc;
    if ((!strcmp(e->name, "lm") || !strcmp(e->name, "seq")) && strcmp(e->name, wrapper_for(t))) {
        rc = wrong_wrapper(s, t);
        sl_spec_free(s);
        return rc;
    }
    if (e->is_mixer) {
        /* the keys and values the user gave, checked under the name the user typed, before
         * they move into the wrapper: the mixer's own keys and the wrapper's (but 'mixer') */
        const sl_model_entry *w = sl_registry_find(wrapper_for(t));
        sl_spec_key wkeys[32];
        int nw = 0;
        for (const sl_spec_key *k = w ? w->keys : NULL; k && k->name && nw < 31; k++)
            if (strcmp(k->name, "mixer")) wkeys[nw++] = *k;
        memset(&wkeys[nw], 0, sizeof wkeys[nw]);
        const sl_spec_key *tables[3] = {e->keys, wkeys, NULL};
        if (sl_spec_raw(s, "mixer")) {
            rc = sl_error(SL_EINVAL, "model '%s' is a mixer and has no key 'mixer'; to choose the mixer write %s:mixer=NAME",
                          s->name, wrapper_for(t));
            sl_spec_free(s);
            return rc;
        }
        if ((rc = sl_spec_check(s, tables))) { sl_spec_free(s); return rc; }
        /* wrap: keys go to the wrapper, which passes the mixer's own keys on */
        char *mixer = strdup(s->name);
        free(s->name);
        s->name = strdup(wrapper_for(t));
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

int run_check_task_spec(const char *spec)
{
    sl_spec *s;
    int rc = sl_spec_parse(spec, &s);
    if (rc) return rc;
    const sl_task_entry *e = sl_task_find(s->name);
    if (!e) {
        sl_spec_free(s);
        sl_task *t;
        return sl_task_create(spec, &t);   /* its message: unknown task, did you mean */
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
                        t->token_in ? "" : "; for a real-valued task use a mixer (seqlab list --mixers), wrapped as seq:mixer=NAME");
    if (t->token_in ? m->d_in != t->vocab : m->d_in != t->d_in)
        return sl_error(SL_EINVAL, "model '%s' has %s %d and task '%s' needs %d (leave %s out of the spec: train sets it "
                        "from the task)", name, t->token_in ? "vocabulary" : "input width", m->d_in, t->name,
                        t->token_in ? t->vocab : t->d_in, t->token_in ? "vocab_size" : "d_input");
    if (t->token_out ? m->d_out != t->vocab : m->d_out != t->d_out)
        return sl_error(SL_EINVAL, "model '%s' has %s %d and task '%s' needs %d (leave %s out of the spec: train sets it "
                        "from the task)", name, t->token_out ? "vocabulary" : "output width", m->d_out, t->name,
                        t->token_out ? t->vocab : t->d_out, t->token_out ? "vocab_size" : "d_output");
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
