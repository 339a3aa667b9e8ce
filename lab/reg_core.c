/* lab/reg_core.c — the wrappers: `lm` (token model) and `seq` (real-vector model), each
 * embedding/projection -> n_layer residual blocks of a mixer -> norm -> head.
 * Keys that are not the wrapper's own are passed to the mixer; the wrapper sets the mixer's
 * width key to d_model (and defaults its out_key to d_model). */
#include "lab/registry.h"
#include "core/error.h"
#include "seq/lm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRAP_KEYS \
    {"mixer", 's', "rnn", 0, 0, "mixer for every block (any entry listed as a mixer)"}, \
    {"d_model", 'i', "64", 1, 65536, "residual stream width"}, \
    {"n_layer", 'i', "2", 0, 1024, "number of residual blocks"}, \
    {"norm", 's', "rmsnorm", 0, 0, "rmsnorm or layernorm"}, \
    {"norm_eps", 'f', "1e-5", 1e-12, 1, "epsilon of the norms"}, \
    {"max_position_embeddings", 'i', "0", 0, 1 << 24, "learned absolute positions added to the input for up to this many steps (0: none)"}

static const sl_spec_key lm_keys[] = {
    WRAP_KEYS,
    {"vocab_size", 'i', "256", 1, 1 << 24, "vocabulary size (set from the task by `seqlab train`)"},
    {"tie_embeddings", 'b', "1", 0, 1, "share the embedding matrix with the output head"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const sl_spec_key seq_keys[] = {
    WRAP_KEYS,
    {"d_input", 'i', "1", 1, 1 << 20, "input width (set from the task by `seqlab train`)"},
    {"d_output", 'i', "1", 1, 1 << 20, "output width (set from the task by `seqlab train`)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static int is_own_key(const sl_spec_key *table, const char *k)
{
    for (; table->name; table++)
        if (!strcmp(table->name, k)) return 1;
    return 0;
}

static int wrap_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out, int token)
{
    const sl_spec_key *own = token ? lm_keys : seq_keys;
    sl_lm_config cfg = {0};
    const char *mixer, *norm;
    double eps;
    int rc;
    if ((rc = sl_spec_str(s, own, "mixer", &mixer)) || (rc = sl_spec_int(s, own, "d_model", &cfg.d_model)) ||
        (rc = sl_spec_int(s, own, "n_layer", &cfg.n_layer)) || (rc = sl_spec_str(s, own, "norm", &norm)) ||
        (rc = sl_spec_float(s, own, "norm_eps", &eps)) ||
        (rc = sl_spec_int(s, own, "max_position_embeddings", &cfg.max_position_embeddings)))
        return rc;
    if (!strcmp(norm, "rmsnorm")) cfg.rmsnorm = 1;
    else if (strcmp(norm, "layernorm")) return sl_error(SL_EINVAL, "%s: norm must be rmsnorm or layernorm, not '%s'", s->name, norm);
    cfg.norm_eps = (float)eps;
    if (token) {
        if ((rc = sl_spec_int(s, own, "vocab_size", &cfg.vocab_size)) || (rc = sl_spec_bool(s, own, "tie_embeddings", &cfg.tie_embeddings)))
            return rc;
    } else {
        if ((rc = sl_spec_int(s, own, "d_input", &cfg.d_input)) || (rc = sl_spec_int(s, own, "d_output", &cfg.d_output)))
            return rc;
    }
    const sl_model_entry *me = sl_registry_find(mixer);
    if (!me || !me->is_mixer) {
        char list[512];
        size_t off = 0;
        const sl_model_entry *e;
        sl_nearest near;
        sl_nearest_init(&near, mixer);
        list[0] = '\0';
        for (int i = 0; (e = sl_registry_entry(i)); i++)
            if (e->is_mixer) {
                sl_nearest_add(&near, e->name);
                if (off < sizeof list - 1) off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", e->name);
            }
        const char *guess = sl_nearest_get(&near);
        return sl_error(SL_EINVAL, "key 'mixer' of model '%s': '%s' is not a mixer;%s%s%s mixers: %s", s->name, mixer,
                        guess ? " did you mean '" : "", guess ? guess : "", guess ? "'?" : "", off ? list : "(none)");
    }
    /* the mixer's spec: every key that is not the wrapper's own */
    sl_spec ms = {0};
    ms.name = (char *)me->name;
    sl_spec *mspec = sl_spec_dup(&ms);
    if (!mspec) return sl_error(SL_ENOMEM, "out of memory");
    for (int i = 0; i < s->n; i++)
        if (!is_own_key(own, s->keys[i]) && (rc = sl_spec_set(mspec, s->keys[i], s->vals[i]))) goto done;
    const sl_spec_key *tables[3] = {own, me->keys, NULL};
    if ((rc = sl_spec_check(s, tables))) goto done;
    if (me->width_key && sl_spec_raw(mspec, me->width_key)) {
        rc = sl_error(SL_EINVAL, "%s: the mixer's '%s' is set by d_model; do not give it", s->name, me->width_key);
        goto done;
    }
    char dm[32];
    snprintf(dm, sizeof dm, "%d", cfg.d_model);
    if (me->width_key && (rc = sl_spec_set(mspec, me->width_key, dm))) goto done;
    if (me->out_key && !sl_spec_raw(mspec, me->out_key) && (rc = sl_spec_set(mspec, me->out_key, dm))) goto done;
    sl_model **mix = calloc((size_t)cfg.n_layer + 1, sizeof *mix);
    if (!mix) { rc = sl_error(SL_ENOMEM, "out of memory"); goto done; }
    for (int l = 0; l < cfg.n_layer; l++) {
        char pre[SL_NAME_MAX];
        snprintf(pre, sizeof pre, "%sbackbone.layers.%d.mixer.", prefix ? prefix : "", l);
        rc = sl_model_create_spec(mspec, P, pre, &mix[l]);
        if (rc) {
            for (int k = 0; k < l; k++) sl_model_free(mix[k]);
            free(mix);
            goto done;
        }
    }
    rc = sl_lm_create(&cfg, mix, P, prefix, out);
    free(mix);
done:
    sl_spec_free(mspec);
    return rc;
}

static int lm_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    return wrap_create(s, P, prefix, out, 1);
}

static int seq_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    return wrap_create(s, P, prefix, out, 0);
}

const sl_model_entry sl_models_core[] = {
    {.name = "lm", .family = "wrapper", .help = "token model: embedding -> n_layer x [x + mixer(norm(x))] -> norm -> head (MambaLMHeadModel layout)",
     .keys = lm_keys, .create = lm_create, .own_key_check = 1},
    {.name = "seq", .family = "wrapper", .help = "real-vector model: in_proj -> n_layer x [x + mixer(norm(x))] -> norm -> linear head",
     .keys = seq_keys, .create = seq_create, .own_key_check = 1},
    {0},
};
