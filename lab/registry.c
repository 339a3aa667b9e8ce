/* lab/registry.c — the model registry: every family's table, spec -> model (see registry.h). */
#include "lab/registry.h"
#include "core/error.h"
#include "lab/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sl_model_entry *const families[] = {
    sl_models_core,        sl_models_recurrent, sl_models_ssm,    sl_models_mamba,
    sl_models_transformer, sl_models_nlp,       sl_models_linrnn, sl_models_conv,
};

const sl_model_entry *sl_registry_entry(int i)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const sl_model_entry *e = families[f]; e->name; e++)
            if (i-- == 0) return e;
    return NULL;
}

const sl_model_entry *sl_registry_find(const char *name)
{
    const sl_model_entry *e;
    for (int i = 0; (e = sl_registry_entry(i)); i++)
        if (strcmp(e->name, name) == 0) return e;
    return NULL;
}

static int unknown_model(const char *name)
{
    char list[1024];
    size_t off = 0;
    const sl_model_entry *e;
    sl_nearest near;
    sl_nearest_init(&near, name);
    list[0] = '\0';
    for (int i = 0; (e = sl_registry_entry(i)); i++) {
        sl_nearest_add(&near, e->name);
        if (off < sizeof list - 1) off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", e->name);
    }
    const char *guess = sl_nearest_get(&near);
    if (!guess && sl_task_find(name))
        return sl_error(SL_ENOTFOUND, "unknown model '%s' ('%s' is a task, not a model); models: %s", name, name, list);
    if (guess) return sl_error(SL_ENOTFOUND, "unknown model '%s'; did you mean '%s'? models: %s", name, guess, list);
    return sl_error(SL_ENOTFOUND, "unknown model '%s'; models: %s", name, list);
}

int sl_registry_parse(const char *spec, sl_spec **s, const sl_model_entry **e)
{
    int rc = sl_spec_parse(spec, s);
    if (rc) return rc;
    *e = sl_registry_find((*s)->name);
    if (!*e) {
        rc = unknown_model((*s)->name);
        sl_spec_free(*s);
        *s = NULL;
        return rc;
    }
    return SL_OK;
}

int sl_model_entry_has_key(const sl_model_entry *e, const char *key)
{
    for (const sl_spec_key *k = e->keys; k && k->name; k++)
        if (!strcmp(k->name, key)) return 1;
    return 0;
}

int sl_model_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_model_entry *e = sl_registry_find(s->name);
    if (!e) return unknown_model(s->name);
    if (!e->own_key_check) {
        const sl_spec_key *tables[2] = {e->keys, NULL};
        int rc = sl_spec_check(s, tables);
        if (rc) return rc;
    }
    return e->create(s, P, prefix, out);
}

int sl_model_create_in(const char *spec, sl_params *P, const char *prefix, sl_model **out)
{
    sl_spec *s;
    int rc = sl_spec_parse(spec, &s);
    if (rc) return rc;
    rc = sl_model_create_spec(s, P, prefix, out);
    sl_spec_free(s);
    return rc;
}

int sl_model_create(const char *spec, uint64_t seed, sl_model **out)
{
    *out = NULL;
    sl_params *P = sl_params_new();
    if (!P) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = NULL;
    int rc = sl_model_create_in(spec, P, "", &m);
    if (rc) {
        sl_params_free(P);
        return rc;
    }
    m->P = P;
    m->owns_params = 1;
    rc = sl_params_alloc(P);
    sl_rng *rng = rc ? NULL : sl_rng_alloc(seed);
    if (!rc && !rng) rc = sl_error(SL_ENOMEM, "out of memory");
    if (!rc) rc = sl_model_init(m, rng);
    sl_rng_free(rng);
    if (!rc) {
        free(m->spec);
        m->spec = strdup(spec);
    }
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    *out = m;
    return SL_OK;
}

/* ---- the canonical spec ---- */

/* one "k=v" (n characters of kv) after ':' (the first) or ',' */
static void canon_put(char *buf, size_t *len, size_t cap, const char *kv, size_t n)
{
    const char sep = memchr(buf, ':', *len) ? ',' : ':';
    *len += (size_t)snprintf(buf + *len, cap - *len, "%c%.*s", sep, (int)n, kv);
}

/* append to *buf (with `name`: "name" first): the table's bound keys from s, or their defaults,
 * but `skip`; then the unbound keys s gives */
static int canon_append(char **buf, size_t *len, const char *name, const sl_spec_key *table, const sl_spec *s, const char *skip)
{
    union {
        double d;
        void *p;
        long l;
        unsigned char b[4096];
    } cfg; /* room for any bound struct */
    for (const sl_spec_key *k = table; k && k->name; k++)
        if (k->bind && k->off + sizeof(double) > sizeof cfg)
            return sl_error(SL_EINVAL, "internal: key '%s' of model '%s' lies past the canonical scratch", k->name, s->name);
    memset(&cfg, 0, sizeof cfg);
    int rc = sl_spec_read(s, table, &cfg);
    if (rc) return rc;
    char *c = sl_spec_canonical("", table, &cfg);
    if (!c) return sl_error(SL_ENOMEM, "out of memory");
    size_t cap = *len + (name ? strlen(name) : 0) + strlen(c) + 2;
    for (const sl_spec_key *k = table; k && k->name; k++) {
        const char *v = k->bind ? NULL : sl_spec_raw(s, k->name);
        if (v) cap += strlen(k->name) + strlen(v) + 2;
    }
    char *nb = realloc(*buf, cap);
    if (!nb) {
        free(c);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    *buf = nb;
    if (name) *len += (size_t)snprintf(nb + *len, cap - *len, "%s", name);
    for (const char *p = *c ? c + 1 : c; *p;) { /* c is ":k=v,k=v,..." */
        const size_t n = strcspn(p, ","), kn = strcspn(p, "=");
        if (!skip || kn != strlen(skip) || strncmp(p, skip, kn)) canon_put(nb, len, cap, p, n);
        p += n + (p[n] == ',');
    }
    free(c);
    for (const sl_spec_key *k = table; k && k->name; k++) {
        const char *v = k->bind ? NULL : sl_spec_raw(s, k->name);
        if (!v) continue;
        char kv[512];
        int n = snprintf(kv, sizeof kv, "%s=%s", k->name, v);
        if (n < 0 || (size_t)n >= sizeof kv)
            return sl_error(SL_EINVAL, "%s: the value of key '%s' is too long", s->name, k->name);
        canon_put(nb, len, cap, kv, (size_t)n);
    }
    return SL_OK;
}

int sl_model_spec_canonical(const char *spec, char **out)
{
    *out = NULL;
    sl_spec *s, *ms = NULL;
    const sl_model_entry *e, *me = NULL;
    int rc = sl_registry_parse(spec, &s, &e);
    if (rc) return rc;
    char *buf = NULL;
    size_t len = 0;
    const int wrapper = e->own_key_check && sl_model_entry_has_key(e, "mixer");
    if (wrapper) {
        /* the wrapper's rule (lab/reg_core.c): the keys that are not its own go to the mixer,
         * whose width key is d_model and whose out key defaults to it */
        const char *mixer;
        int dm;
        if ((rc = sl_spec_str(s, e->keys, "mixer", &mixer)) || (rc = sl_spec_int(s, e->keys, "d_model", &dm))) goto done;
        if (!(me = sl_registry_find(mixer)) || !me->is_mixer) {
            rc = sl_error(SL_EINVAL, "key 'mixer' of model '%s': '%s' is not a mixer", s->name, mixer);
            goto done;
        }
        const sl_spec_key *tables[3] = {e->keys, me->keys, NULL};
        if ((rc = sl_spec_check(s, tables))) goto done;
        sl_spec m0 = {0};
        m0.name = (char *)me->name;
        if (!(ms = sl_spec_dup(&m0))) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < s->n; i++)
            if (!sl_model_entry_has_key(e, s->keys[i]) && (rc = sl_spec_set(ms, s->keys[i], s->vals[i]))) goto done;
        char dms[32];
        snprintf(dms, sizeof dms, "%d", dm);
        if (me->width_key && (rc = sl_spec_set(ms, me->width_key, dms))) goto done;
        if (me->out_key && !sl_spec_raw(ms, me->out_key) && (rc = sl_spec_set(ms, me->out_key, dms))) goto done;
    } else {
        const sl_spec_key *tables[2] = {e->keys, NULL};
        if ((rc = sl_spec_check(s, tables))) goto done;
    }
    if ((rc = canon_append(&buf, &len, e->name, e->keys, s, NULL))) goto done;
    if (me && (rc = canon_append(&buf, &len, NULL, me->keys, ms, me->width_key))) goto done;
    *out = buf;
    buf = NULL;
done:
    free(buf);
    sl_spec_free(ms);
    sl_spec_free(s);
    return rc;
}

/* ---- a model spec adapted to a task (seqlab train) ---- */

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
    int rc = sl_error(SL_EINVAL,
                      "model '%s' is for %s tasks and task '%s' is a %s task: use %s (or the bare mixer '%s', "
                      "which is wrapped to suit the task)",
                      s->name, t->token_in ? "real-valued" : "token", t->name, t->token_in ? "token" : "real-valued",
                      fs ? fs : wrapper_for(t), mixer ? mixer : "rnn");
    free(fs);
    sl_spec_free(fix);
    return rc;
}

int sl_model_spec_for_task(const char *spec, const sl_task *t, char **out)
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
        if ((rc = sl_spec_check(s, tables))) {
            sl_spec_free(s);
            return rc;
        }
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
    struct {
        const char *key;
        int val;
        int when;
    } fill[] = {
        {"vocab_size", t->vocab, t->token_in},
        {"d_input", t->d_in, !t->token_in},
        {"d_output", t->d_out, !t->token_out},
        {"block_size", t->T, 1},
        {"max_seq_len", t->T, 1},
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
