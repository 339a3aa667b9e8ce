/* bench/ckpt_bench.c — gradient checkpointing (issue #21 item 2): one training configuration per
 * process, so the process's peak resident size (getrusage ru_maxrss) is this configuration's.
 * Trains STEPS AdamW steps of MODEL on the character LM of the default corpus (charlm, T =
 * --T) with batch B and checkpointing every K blocks (0: off), through the trainer's pass
 * (sl_train_forward / sl_train_backward), and prints one CSV row:
 *   model,n_layer,B,T,K,steps,ms_step,cpu_ms_step,maxrss_kb,act_peak_bytes
 * ms_step / cpu_ms_step: wall and process-CPU milliseconds per step, the first step (the
 * caches' first allocation) left out; act_peak_bytes: the peak of the bytes held in the
 * models' arenas (the activation caches, seq/model.h sl_arena_stats) over the timed steps.
 *   usage: ckpt_bench MODEL B T K [STEPS=6] [THREADS=1] */
#include "core/error.h"
#include "core/optim.h"
#include "core/util.h"
#include "lab/registry.h"
#include "lab/tasks.h"
#include "lab/trainer.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CHECK(x) \
    do { \
        if ((x)) { \
            fprintf(stderr, "ckpt_bench: %s\n", sl_errmsg()); \
            return 1; \
        } \
    } while (0)

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: ckpt_bench MODEL B T K [STEPS=6] [THREADS=1]\n");
        return 2;
    }
    const char *model = argv[1];
    const int B = atoi(argv[2]), T = atoi(argv[3]), K = atoi(argv[4]);
    const int steps = argc > 5 ? atoi(argv[5]) : 6, threads = argc > 6 ? atoi(argv[6]) : 1;
    char task_spec[64], *spec = NULL;
    snprintf(task_spec, sizeof task_spec, "charlm:seq_len=%d", T);
    sl_threads_set(threads);
    sl_task *t = NULL;
    sl_model *m = NULL;
    CHECK(sl_task_create(task_spec, &t));
    CHECK(sl_model_spec_for_task(model, t, &spec));
    CHECK(sl_model_create(spec, 1, &m));
    CHECK(sl_model_set_checkpoint(m, K));
    if (K > 0) mallopt(M_MMAP_THRESHOLD, 1 << 20); /* as seqlab train does with checkpointing */
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_rng *rng = sl_rng_alloc(1);
    sl_batch b;
    CHECK(sl_batch_alloc(&b, t, B));
    const size_t ny = (size_t)B * T * m->d_out;
    float *y = malloc(ny * sizeof(float)), *dy = malloc(ny * sizeof(float)), *scratch = malloc(ny * sizeof(float));
    sl_train_pass pass = {0};
    sl_model_set_training(m, 1, rng);
    double w0 = 0, c0 = 0;
    size_t now, peak = 0;
    for (int s = 0; s <= steps; s++) {
        if (s == 1) { /* the first step allocated the caches; time the rest */
            w0 = sl_now();
            c0 = cpu_now();
            sl_arena_stats_reset();
        }
        CHECK(t->sample(t, 0, rng, &b));
        sl_params_zero_grad(m->P);
        CHECK(sl_train_forward(&pass, m, b.x, b.tok, y, B, T));
        sl_task_loss(t, &b, y, dy, scratch, NULL, NULL);
        CHECK(sl_train_backward(&pass, m, dy, NULL));
        CHECK(sl_optim_step(o, m->P, 1e-3f));
    }
    const double ms = 1e3 * (sl_now() - w0) / steps, cms = 1e3 * (cpu_now() - c0) / steps;
    sl_arena_stats(&now, &peak);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s,%d,%d,%d,%d,%d,%.1f,%.1f,%ld,%zu\n", model, m->n_children, B, T, K, steps, ms, cms, ru.ru_maxrss, peak);
    sl_train_pass_free(&pass);
    free(y);
    free(dy);
    free(scratch);
    sl_batch_free(&b);
    sl_rng_free(rng);
    sl_optim_free(o);
    sl_model_free(m);
    sl_task_free(t);
    free(spec);
    return 0;
}
