/* seq/lora.h — LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models").
 *
 * A frozen weight W0 (out, in) gets a trainable rank-r update:
 *     W = W0 + scale * B A,   A (r, in), B (out, r), scale = alpha / r,
 * initialised as the PEFT library does (peft LoraLayer.reset_lora_parameters, init_lora_weights
 * = True): A ~ kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0, so the
 * adapted model starts as the base model.
 *
 * The wrapper applies the update to the weight, not to the activations: before every forward
 * (and when a step-mode state is made or reset) it writes W0 + scale B A into the base model's
 * tensor from a kept copy of W0, runs the base model unchanged, and after the base model's
 * backward has put dL/dW into the base's gradient block it forms
 *     dA += scale * B^T dW   (r, in),     dB += scale * dW A^T   (out, r).
 * That is the same function and the same gradients as the activation form
 * y = x W0^T + scale (x A^T) B^T, for any tensor used as a matrix anywhere in any model (a
 * recurrent W_hh applied at every step, a tied embedding), without touching a mixer. What it
 * cannot do is dropout on the adapter's input only (PEFT's lora_dropout), since the weight
 * form never sees that input: dropout must be 0 (docs/finetune.md).
 *
 * The wrapper's own parameter table holds the adapters alone, named as PEFT saves them
 * (adapter_model.safetensors): for a base tensor "X.weight" the module is X, and the tensors
 *     base_model.model.X.lora_A.weight (r, in),  base_model.model.X.lora_B.weight (out, r);
 * a tensor not ending in ".weight" (torch.nn.LSTM's "weight_ih_l0") is its own module name.
 * So the trainer, the optimizer and checkpoints see only the adapters: no optimizer state for
 * the base. The base's gradient block is the backward's scratch (each mixer's backward writes
 * its weight gradients); it is zeroed before each backward and never read except for targets.
 *
 * Targets: `targets=P1|P2|...`. A pattern with a glob character (* ? [) is matched against the
 * whole tensor name (fnmatch); any other pattern matches a name containing it as whole
 * dot-separated components ("c_attn" matches "transformer.h.0.attn.c_attn.weight", "mixer.in_proj"
 * matches "backbone.layers.1.mixer.in_proj.weight"). Only tensors of rank 2 are candidates; a
 * pattern that matches none is an error listing the rank-2 names.
 */
#ifndef SL_SEQ_LORA_H
#define SL_SEQ_LORA_H

#include "core/params.h"
#include "seq/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int r;              /* rank, >= 1 */
    float alpha;        /* scale = alpha / r */
    float dropout;      /* must be 0 (see above) */
    char targets[1024]; /* P1|P2|... */
} sl_lora_config;

/* "r=8,alpha=16,dropout=0,targets=c_attn|c_proj": r and alpha default to 8 (PEFT LoraConfig's
 * defaults), dropout to 0; targets is required. SL_EINVAL naming the key otherwise. */
int sl_lora_config_parse(const char *s, sl_lora_config *c);
/* the canonical string of a config (cap >= 1100) */
void sl_lora_config_format(const sl_lora_config *c, char *buf, size_t cap);

/* 1 if pattern list `targets` selects tensor `name` (see above). */
int sl_lora_match(const char *targets, const char *name);

/* Wrap base (an allocated, loaded model). On success the wrapper owns base; the adapters are
 * allocated and initialised from rng (A kaiming-uniform, B zero). */
int sl_lora_create(sl_model *base, const sl_lora_config *c, sl_rng *rng, sl_model **out);
int sl_lora_is(const sl_model *m);
sl_model *sl_lora_base(const sl_model *m);
const sl_lora_config *sl_lora_get_config(const sl_model *m);
/* number of adapted tensors; the base index of target k; base tensor i's frozen value (the
 * kept copy for a target, else the base table's data) */
int sl_lora_n_targets(const sl_model *m);
int sl_lora_target(const sl_model *m, int k);
const float *sl_lora_base_data(const sl_model *m, int i);

/* Write W0 + scale B A into the base table's target tensors (forward does this itself). */
void sl_lora_materialize(sl_model *m);
/* Put W0 back into the base table (the base model alone again). */
void sl_lora_restore_base(sl_model *m);

/* PEFT names for the base tensor `name` (cap >= SL_NAME_MAX + 32); and back: the base tensor
 * of an adapter name in table P (index, or -1), which = 0 for A, 1 for B. */
void sl_lora_names(const char *name, char *a, char *b, size_t cap);
int sl_lora_target_of(const sl_params *P, const char *adapter_name, int *which);

/* Read adapters saved by a LoRA run or sl_lora_save into m's adapter table: every adapter of
 * m must be present with its shape, and the file may hold no other tensor (adapters for
 * another model are an error naming the first tensor that does not fit). The file's "lora"
 * metadata, when present, must give the same r and alpha. */
int sl_lora_load(sl_model *m, const char *path);

/* Fold a file's adapters into the base table P: W += sign * scale * B A for each (sign +1
 * merge, -1 unmerge), scale from the file's "lora" metadata. Every adapter must name a rank-2
 * tensor of P with matching shapes; P is changed only if all do. */
int sl_lora_fold(sl_params *P, const char *path, int sign);

#ifdef __cplusplus
}
#endif
#endif
