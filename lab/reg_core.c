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

/* The wrappers' configuration: the mixer's registry name and sl_lm_config (vocab_size for lm,
 * d_input/d_output for seq); both key tables are bound to it. */
typedef struct {
    const char *mixer;
    sl_lm_config lm;
} wrap_config;

#define WRAP_KEYS \
    SL_KEY_STR(wrap_config, mixer, "mixer", "rnn", "mixer for every block (any entry listed as a mixer)"), \
        SL_KEY_INT(wrap_config, lm.d_model, "d_model", "64", 1, 65536, "residual stream width"), \
        SL_KEY_INT(wrap_config, lm.n_layer, "n_layer", "2", 0, 1024, "number of residual blocks"), \
        SL_KEY_CHOICE(wrap_config, lm.rmsnorm, "norm", "rmsnorm", "layernorm|rmsnorm", NULL, "rmsnorm or layernorm"), \
        SL_KEY_FLOAT(wrap_config, lm.norm_eps, "norm_eps", "1e-5", 1e-12, 1, "epsilon of the norms"), \
        SL_KEY_INT(wrap_config, lm.max_position_embeddings, "max_position_embeddings", "0", 0, 1 << 24, \
                   "learned absolute positions added to the input for up to this many steps (0: none)")

static const sl_spec_key lm_keys[] = {
    WRAP_KEYS,
    SL_KEY_INT(wrap_config, lm.vocab_size, "vocab_size", "256", 1, 1 << 24,
               "vocabulary size (set from the task by `seqlab train`)"),
    SL_KEY_BOOL(wrap_config, lm.tie_embeddings, "tie_embeddings", "1", "share the embedding matrix with the output head"),
    SL_KEY_END,
};

static const sl_spec_key seq_keys[] = {
    WRAP_KEYS,
    SL_KEY_INT(wrap_config, lm.d_input, "d_input", "1", 1, 1 << 20, "input width (set from the task by `seqlab train`)"),
    SL_KEY_INT(wrap_config, lm.d_output, "d_output", "1", 1, 1 << 20, "output width (set from the task by `seqlab train`)"),
    SL_KEY_END,
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
    wrap_config wc = {0};
    int rc = sl_spec_read(s, own, &wc);
    if (rc) return rc;
    const sl_lm_config cfg = wc.lm;
    const char *mixer = wc.mixer;
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
                if (off < sizeof list - 1)
                    off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", e->name);
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
    if (!mix) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
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
    {.name = "lm",
     .family = "wrapper",
     .help = "token model: embedding -> n_layer x [x + mixer(norm(x))] -> norm -> head (MambaLMHeadModel layout)",
     .keys = lm_keys,
     .create = lm_create,
     .own_key_check = 1},
    {.name = "seq",
     .family = "wrapper",
     .help = "real-vector model: in_proj -> n_layer x [x + mixer(norm(x))] -> norm -> linear head",
     .keys = seq_keys,
     .create = seq_create,
     .own_key_check = 1},
    {0},
};
