/* src/run.h — a training run directory: OUT/checkpoint.safetensors (+ metadata),
 * OUT/model.safetensors, OUT/log.csv. Helpers shared by train, eval and generate. */
#ifndef SL_SRC_RUN_H
#define SL_SRC_RUN_H

#include "core/safetensors.h"
#include "lab/tasks.h"
#include "seq/model.h"

/* (The mixer-wrapping rule is sl_model_spec_for_task, lab/registry.h.) */
/* A task spec's name, keys and values, checked without building the task (which may read a
 * corpus): SL_ENOTFOUND / SL_EINVAL with sl_task_create's message. */
int run_check_task_spec(const char *spec);

/* The model built from the user's spec `user_spec` suits task t: token or real input and
 * output, and the widths. SL_EINVAL with a message naming the model as typed otherwise. */
int run_check_task(const sl_model *m, const char *user_spec, const sl_task *t);

/* Load a run: metadata (checkpoint), the model with its trained weights, and optionally the
 * task (task_override replaces the recorded task spec). */
typedef struct {
    sl_safetensors *ckpt;
    sl_model *model;
    sl_task *task;
    unsigned char alphabet[256];
    int n_alphabet;
} run_t;
int run_open(const char *dir, const char *task_override, int want_task, run_t *r);
void run_close(run_t *r);

/* hex of bytes, and back */
void run_hex(const unsigned char *b, int n, char *out);
int run_unhex(const char *s, unsigned char *b, int cap);

#endif
