/* lab/finetune.h — starting a run from trained weights (`seqlab train --init-from SRC`).
 *
 * SRC is one of
 *   a run directory       its checkpoint.safetensors: the weights, the model spec ("model")
 *                         and, for character tasks, the alphabet the token ids stand for;
 *   FILE.safetensors      loaded by state_dict name: a seqlab model file or export (which
 *                         carry "model" and "alphabet" metadata) or a foreign state_dict
 *                         (nanoGPT's GPT, mamba_ssm's MambaLMHeadModel, ...), which needs
 *                         --model; buffers (".attn.bias") and a tied head are handled as
 *                         `seqlab forward --weights` handles them (sl_transformer_load for
 *                         gpt/llama, else sl_params_load with the same ignore/alias lists);
 *   FILE.bin              a llama2.c checkpoint (seq/llama2c.h): its llama:... spec; the
 *                         weights are copied out of the read-only mapping by name.
 * The new model is built from the source's spec (or --model), its weights replaced by the
 * source's, and trained on the new task from step 0 with a fresh optimizer. The vocabulary
 * must agree: a character task takes the source's alphabet (sl_init_task_spec sets the charlm
 * key `alphabet`, so ids keep their characters), and a corpus with characters outside it, or
 * a model whose vocabulary is not the task's, is an error that says how they differ.
 */
#ifndef SL_LAB_FINETUNE_H
#define SL_LAB_FINETUNE_H

#include "core/safetensors.h"
#include "lab/tasks.h"
#include "seq/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SL_INIT_RUN = 0, SL_INIT_SAFETENSORS = 1, SL_INIT_LLAMA2C = 2 } sl_init_kind;

typedef struct {
    sl_init_kind kind;
    char path[4096]; /* the file read (RUN/checkpoint.safetensors for a run) */
    char spec[4096]; /* the model spec the source records ("" when it has none) */
    unsigned char alphabet[256];
    int n_alphabet;     /* 0: the source names no alphabet */
    sl_safetensors *st; /* run / safetensors: the opened file */
} sl_init_source;

/* Open and validate SRC (kind by what it is: a directory, a .bin, else safetensors). */
int sl_init_source_open(const char *src, sl_init_source *s);
void sl_init_source_close(sl_init_source *s);

/* The task spec to train on: for charlm with no alphabet given and a source that names one,
 * the same spec with alphabet=HEX of the source's (caller frees *out). */
int sl_init_task_spec(const sl_init_source *s, const char *task_spec, char **out);

/* The model's vocabulary (token input/output width) agrees with the task's, and a source
 * alphabet with the task's: SL_EINVAL saying how they differ otherwise. */
int sl_init_check_vocab(const sl_init_source *s, const sl_model *m, const sl_task *t);

/* Replace m's weights with the source's (every tensor of m must be found, by name or through
 * the tied-head aliases, with its shape; extra source tensors are an error, as in
 * sl_params_load). */
int sl_init_load(const sl_init_source *s, sl_model *m);

/* LoRA runs (seq/lora.h). A run trained with --lora records "lora" (the adapter config) and
 * "init_from" (the base, as an absolute path) in its checkpoint and model file; its parameter
 * table, checkpoint and model file hold the adapters alone. sl_finetune_rebuild turns a model
 * just built from such a file's "model" spec into the adapted model: the base weights read
 * from init_from (which must still exist), wrapped with the recorded config (adapters zero
 * until the caller restores them). A file without "lora" leaves *m as it is. */
int sl_finetune_rebuild(const sl_safetensors *st, sl_model **m);

/* A dpo task (lab/dpo.h) gets its frozen reference: model_spec built and loaded from
 * init_from (the initial policy). Other tasks: nothing. NULL init_from for dpo is an error. */
int sl_finetune_dpo_reference(sl_task *t, const char *model_spec, const char *init_from);

#ifdef __cplusplus
}
#endif
#endif
