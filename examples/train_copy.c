/* examples/train_copy.c — libseqlab from C: build a model from a spec string, run it in
 * sequence mode and in step mode, then train it for a few steps on the copying task with
 * the library's optimizer, and evaluate it.
 *
 *     cc train_copy.c -o train_copy $(pkg-config --cflags --libs seqlab)
 *     ./train_copy [STEPS]
 *
 * Every library call returns 0 or a negative SL_E* code and leaves the reason in sl_errmsg().
 */
#include <seqlab/seqlab.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call) \
    do { \
        if ((call) != SL_OK) { \
            fprintf(stderr, "train_copy: %s: %s\n", #call, sl_errmsg()); \
            exit(1); \
        } \
    } while (0)

int main(int argc, char **argv)
{
    long steps = argc > 1 ? strtol(argv[1], NULL, 10) : 150;
    if (steps < 1) steps = 1;

    /* 1. a task and a model. The copying task shows 5 symbols, waits 3 steps, then asks for
     * them back: token input and output over 10 symbols. The model is the LM wrapper around
     * an LSTM mixer (embedding -> 1 residual LSTM block -> norm -> tied head). */
    sl_task *task;
    CHECK(sl_task_create("copy:length=5,delay=3", &task));
    char spec[128];
    snprintf(spec, sizeof spec, "lm:mixer=lstm,d_model=32,n_layer=1,vocab_size=%d", task->vocab);
    sl_model *m;
    CHECK(sl_model_create(spec, 42, &m));
    printf("model %s: %zu parameters, %d tensors; task %s: T=%d, metric %s\n", spec, sl_params_count_trainable(m->P), m->P->n,
           task->name, task->T, task->metric);

    /* 2. sequence mode: a batch of B sequences of T tokens -> logits (B, T, vocab) */
    int B = 8, T = task->T, V = m->d_out;
    sl_batch batch;
    CHECK(sl_batch_alloc(&batch, task, B));
    sl_rng *rng = sl_rng_alloc(7);
    CHECK(task->sample(task, 0, rng, &batch));
    float *y = malloc((size_t)B * T * V * sizeof *y);
    float *dy = malloc((size_t)B * T * V * sizeof *dy), *scratch = malloc((size_t)B * T * V * sizeof *dy);
    if (!y || !dy || !scratch || !rng) {
        fprintf(stderr, "train_copy: out of memory\n");
        return 1;
    }
    CHECK(sl_model_forward(m, NULL, batch.tok, y, B, T));

    /* 3. step mode: one position at a time with an explicit state; same logits */
    void *state = sl_model_state_new(m, B);
    if (!state) {
        fprintf(stderr, "train_copy: %s\n", sl_errmsg());
        return 1;
    }
    int32_t *tok_t = malloc((size_t)B * sizeof *tok_t);
    float *y_t = malloc((size_t)B * V * sizeof *y_t);
    double max_diff = 0;
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) tok_t[b] = batch.tok[(size_t)b * T + t];
        CHECK(sl_model_step(m, state, NULL, tok_t, y_t));
        for (int b = 0; b < B; b++)
            for (int v = 0; v < V; v++) {
                double d = fabs(y_t[(size_t)b * V + v] - y[((size_t)b * T + t) * V + v]);
                if (d > max_diff) max_diff = d;
            }
    }
    sl_model_state_free(m, state);
    printf("sequence mode vs step mode: max |difference| of the logits %.3g\n", max_diff);

    /* 4. training: forward, loss and its gradient, backward, clip, AdamW with the cosine
     * schedule (what sl_train in lab/trainer.h does, plus logging and checkpoints) */
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    sl_optim *opt = sl_optim_alloc(&oc, m->P->total);
    sl_schedule sched = {.cosine = 1, .lr = 1e-2f, .min_lr = 1e-3f, .warmup = 5, .decay_steps = steps};
    sl_eval_result before, after;
    CHECK(sl_task_eval(task, m, 4, 32, 99, &before));
    sl_model_set_training(m, 1, rng);
    for (long step = 0; step < steps; step++) {
        CHECK(task->sample(task, 0, rng, &batch));
        sl_params_zero_grad(m->P);
        CHECK(sl_model_forward(m, NULL, batch.tok, y, B, T));
        double loss = sl_task_loss(task, &batch, y, dy, scratch, NULL, NULL);
        CHECK(sl_model_backward(m, dy, NULL));
        sl_clip_grad_norm(m->P, 1.0);
        CHECK(sl_optim_step(opt, m->P, sl_schedule_lr(&sched, step)));
        if (step % 20 == 0 || step == steps - 1) printf("step %3ld  loss %.4f\n", step + 1, loss);
    }
    sl_model_set_training(m, 0, NULL);
    CHECK(sl_task_eval(task, m, 4, 32, 99, &after));
    printf("validation: loss %.4f -> %.4f, %s %.4f -> %.4f\n", before.loss, after.loss, task->metric, before.metric,
           after.metric);

    /* 5. the weights by name, as a safetensors file PyTorch can read */
    const char *out = getenv("TRAIN_COPY_OUT");
    if (out) {
        CHECK(sl_params_save(m->P, out, NULL, 0));
        printf("wrote %s\n", out);
    }

    int ok = max_diff < 1e-4 && after.loss < before.loss;
    free(y);
    free(dy);
    free(scratch);
    free(tok_t);
    free(y_t);
    sl_optim_free(opt);
    sl_rng_free(rng);
    sl_batch_free(&batch);
    sl_model_free(m);
    sl_task_free(task);
    return ok ? 0 : 1;
}
