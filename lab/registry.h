/* lab/registry.h — spec string -> model, for every family.
 *
 * Each family publishes a table of entries (lab/reg_<family>.c, ended by {NULL}); the
 * registry concatenates them. An entry's create() builds the model described by a parsed spec,
 * declaring its tensors in P under `prefix`. Mixers (real -> real of equal width) name the
 * key that sets their width (width_key, e.g. "input_size" for rnn, "d_model" for mamba) and,
 * optionally, a second key that the LM wrapper also defaults to d_model (out_key, e.g.
 * "hidden_size" for rnn), so `lm:mixer=NAME,d_model=64,...` can build them.
 */
#ifndef SL_LAB_REGISTRY_H
#define SL_LAB_REGISTRY_H

#include "lab/tasks.h"
#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;        /* spec name: "rnn", "lstm", "lm", "gpt", "ngram", ... */
    const char *family;      /* "recurrent", "ssm", "transformer", "ngram", "wrapper", ... */
    const char *help;        /* one line */
    const sl_spec_key *keys; /* key table ({NULL}-terminated) */
    int is_mixer;            /* usable as lm:mixer=NAME */
    const char *width_key;   /* mixers: key set to d_model by the LM wrapper */
    const char *out_key;     /* mixers: key defaulted to d_model by the LM wrapper, or NULL */
    /* Build from a spec whose keys were already checked against `keys`. */
    int (*create)(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);
    /* 1 if create() checks the spec's keys itself (wrappers that pass keys on to a mixer) */
    int own_key_check;
} sl_model_entry;

/* family tables (one per lab/reg_*.c) */
extern const sl_model_entry sl_models_core[];        /* lm wrapper (lab/reg_core.c) */
extern const sl_model_entry sl_models_recurrent[];   /* rnn lstm gru */
extern const sl_model_entry sl_models_ssm[];         /* hippo s4 s4d */
extern const sl_model_entry sl_models_mamba[];       /* mamba mamba2 */
extern const sl_model_entry sl_models_transformer[]; /* attention, gpt, llama */
extern const sl_model_entry sl_models_nlp[];         /* ngram, ... */
extern const sl_model_entry sl_models_linrnn[];      /* lru retnet gla rwkv (lab/reg_linrnn.c) */
extern const sl_model_entry sl_models_conv[];        /* based h3 hyena (lab/reg_conv.c) */

/* Iterate all entries: i from 0 while the result is non-NULL. */
const sl_model_entry *sl_registry_entry(int i);
const sl_model_entry *sl_registry_find(const char *name);

/* Parse a spec string and find its entry; an unknown name is SL_ENOTFOUND with a message
 * listing the models. On success the caller frees *s. */
int sl_registry_parse(const char *spec, sl_spec **s, const sl_model_entry **e);

/* 1 if the entry's key table has `key` */
int sl_model_entry_has_key(const sl_model_entry *e, const char *key);

/* Build a model from a spec string: parse, look up, check keys, declare into `P` under
 * `prefix`. With P == NULL a new table is made, allocated, and the model initialised from
 * `seed`, and the model owns it (the usual top-level call). */
int sl_model_create_in(const char *spec, sl_params *P, const char *prefix, sl_model **out);
int sl_model_create(const char *spec, uint64_t seed, sl_model **out);

/* Same, from a parsed spec (used by wrappers that build their mixers). */
int sl_model_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* The canonical form of a model spec (caller frees *out): the entry's name, then every key its
 * table binds to its configuration struct, given or default, in table order (sl_spec_canonical),
 * then the unbound keys the spec gives, as given. A wrapper (lm, seq) is followed by its
 * mixer's keys, the same way, without the width key that d_model sets. The canonical spec
 * builds the same model as the spec and is its own canonical form (t/t-config); training
 * writes it into checkpoints as the metadata key model_canonical. */
int sl_model_spec_canonical(const char *spec, char **out);

/* The mixer-wrapping rule: a model spec adapted to task t (caller frees *out). A bare mixer
 * becomes lm:mixer=... (token task) or seq:mixer=... (real-valued task), its keys and values
 * checked under the name the user typed first; a wrapper that does not suit the task is an
 * error naming the other; vocab_size, d_input, d_output, block_size and max_seq_len the model
 * has and the spec leaves out are set from the task. */
int sl_model_spec_for_task(const char *spec, const sl_task *t, char **out);

#ifdef __cplusplus
}
#endif
#endif
