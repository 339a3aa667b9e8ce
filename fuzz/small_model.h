/* fuzz/small_model.h — build a model from a hostile spec only when it is small (include after
 * fuzz/fuzz.h). Every spec is checked by the registry (name, keys, types, ranges), but a model
 * is built only when every integer of its entry's key table (given or default) is <= 64 and
 * every number in the text is <= 64: a model of valid, large sizes (`gpt` alone is 124M
 * parameters) costs seconds and gigabytes per input, which is no finding. So `gpt` is built
 * only with n_layer, n_embd, block_size and vocab_size given. */
#ifndef SL_FUZZ_SMALL_MODEL_H
#define SL_FUZZ_SMALL_MODEL_H

#include "lab/registry.h"
#include "seq/spec.h"

/* the typed getters of every key of a table; returns the largest integer value */
static inline int fuzz_spec_getters(const sl_spec *s, const sl_spec_key *keys)
{
    int big = 0;
    for (const sl_spec_key *k = keys; k && k->name; k++) {
        int i, b;
        double d;
        const char *str;
        switch (k->type) {
        case 'i':
            if (!sl_spec_int(s, keys, k->name, &i) && i > big) big = i;
            break;
        case 'f': sl_spec_float(s, keys, k->name, &d); break;
        case 'b': sl_spec_bool(s, keys, k->name, &b); break;
        default: sl_spec_str(s, keys, k->name, &str); break;
        }
    }
    return big;
}

/* 0 and *out set when the spec is valid and small and the model was built; else non-zero */
static inline int fuzz_model_create_small(const char *spec, sl_model **out)
{
    sl_spec *s;
    const sl_model_entry *e;
    if (sl_registry_parse(spec, &s, &e)) return 1;
    const sl_spec_key *tables[2] = {e->keys, NULL};
    int big = e->own_key_check ? fuzz_spec_getters(s, e->keys) : sl_spec_check(s, tables) ? 1000 : fuzz_spec_getters(s, e->keys);
    sl_spec_free(s);
    if (big > 64 || !fuzz_small_numbers(spec, 64)) return 1;
    return sl_model_create(spec, 1, out);
}

#endif
