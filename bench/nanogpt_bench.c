/* bench/nanogpt_bench.c — nanoGPT's CPU recipe on tinyshakespeare with seqlab's gpt model.
 *
 * Same protocol as bench/nanogpt_torch.py: characters (sorted unique bytes -> ids), first 90 %
 * train / last 10 % validation, random batches of 12 x 64, gpt:n_layer=4,n_head=4,n_embd=128,
 * bias=0,dropout=0, AdamW (0.9, 0.99, eps 1e-8, weight decay 0.1 on >= 2-D tensors), lr 1e-3
 * with 100 warmup steps and cosine decay to 1e-4 at 2000, gradient clipping at 1.0; after the
 * last step the losses are estimated on eval_iters batches.
 * usage: nanogpt_bench --data FILE [--iters N] [--threads K] [--seed S] [--eval_iters E] [--kernel flash|naive]
 *                      [--slices K] [--profile 1]
 * prints: seqlab,iters,train_loss,val_loss,wall_s,ms_per_iter,peak_rss_mb
 * --slices: sl_transformer_set_slices (0 default, -1 the per-operation reference path);
 * --profile 1: also the mean ms per iteration of each phase, on stderr.
 */
#include "core/error.h"
#include "core/fileio.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "seq/layers.h"
#include "seq/transformer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 12, BLOCK = 64 };

/* d holds the ids as bytes (vocabularies of <= 256 characters) */
static void batch(const unsigned char *d, size_t n, sl_rng *r, int32_t *x, int32_t *y)
{
    for (int b = 0; b < BATCH; b++) {
        size_t i = sl_rng_int(r, (unsigned long)(n - BLOCK));
        for (int t = 0; t < BLOCK; t++) {
            x[b * BLOCK + t] = d[i + t];
            y[b * BLOCK + t] = d[i + t + 1];
        }
    }
}

int main(int argc, char **argv)
{
    const char *path = NULL, *kernel = "flash";
    long iters = 2000, threads = 2, seed = 1337, eval_iters = 20, slices = 0, profile = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data")) path = argv[i + 1];
        else if (!strcmp(argv[i], "--iters")) iters = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--eval_iters")) eval_iters = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--kernel")) kernel = argv[i + 1];
        else if (!strcmp(argv[i], "--slices")) slices = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--profile")) profile = atol(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!path || iters < 1) {
        fprintf(stderr, "usage: nanogpt_bench --data FILE [--iters N] [--threads K]\n");
        return 2;
    }
    sl_threads_set((int)threads);
    void *buf;
    size_t n;
    if (sl_read_file(path, (size_t)1 << 30, &buf, &n)) {
        fprintf(stderr, "%s\n", sl_errmsg());
        return 1;
    }
    unsigned char *text = buf;
    int map[256], V = 0;
    int seen[256] = {0};
    for (size_t i = 0; i < n; i++) seen[text[i]] = 1;
    for (int c = 0; c < 256; c++) map[c] = seen[c] ? V++ : -1;
    unsigned char *data = text; /* ids in place of the characters */
    for (size_t i = 0; i < n; i++) data[i] = (unsigned char)map[text[i]];
    const size_t ntr = (size_t)(0.9 * (double)n), nva = n - ntr;
    char spec[256];
    snprintf(spec, sizeof spec, "gpt:n_layer=4,n_head=4,n_embd=128,block_size=%d,vocab_size=%d,bias=0,dropout=0,kernel=%s", BLOCK,
             V, kernel);
    sl_model *m = NULL;
    if (sl_model_create(spec, (uint64_t)seed, &m)) {
        fprintf(stderr, "%s\n", sl_errmsg());
        return 1;
    }
    sl_transformer_set_slices(m, (int)slices);
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    oc.beta1 = 0.9f;
    oc.beta2 = 0.99f;
    oc.weight_decay = 0.1f;
    sl_optim *opt = sl_optim_alloc(&oc, m->P->total);
    sl_schedule sch = {.cosine = 1, .lr = 1e-3f, .min_lr = 1e-4f, .warmup = 100, .decay_steps = 2000};
    sl_rng *rng = sl_rng_alloc((uint64_t)seed + 1);
    const int N = BATCH * BLOCK;
    int32_t x[BATCH * BLOCK], y[BATCH * BLOCK];
    float *logits = malloc((size_t)N * V * sizeof(float)), *probs = malloc((size_t)N * V * sizeof(float));
    float *dlog = malloc((size_t)N * V * sizeof(float));
    sl_model_set_training(m, 1, rng);
    double t0 = sl_now();
    double ph[6] = {0}; /* batch+zero, forward, loss, backward, clip, optimizer */
    for (long it = 0; it < iters; it++) {
        double tp[7];
        tp[0] = profile ? sl_now() : 0.0;
        batch(data, ntr, rng, x, y);
        int cnt;
        sl_params_zero_grad(m->P);
        if (profile) tp[1] = sl_now();
        if (sl_model_forward(m, NULL, x, logits, BATCH, BLOCK)) {
            fprintf(stderr, "%s\n", sl_errmsg());
            return 1;
        }
        if (profile) tp[2] = sl_now();
        sl_xent_forward(probs, logits, y, N, V, &cnt);
        memset(dlog, 0, (size_t)N * V * sizeof(float));
        sl_xent_backward(dlog, probs, y, N, V, 1.0f / (float)cnt);
        if (profile) tp[3] = sl_now();
        if (sl_model_backward(m, dlog, NULL)) {
            fprintf(stderr, "%s\n", sl_errmsg());
            return 1;
        }
        if (profile) tp[4] = sl_now();
        sl_clip_grad_norm(m->P, 1.0);
        if (profile) tp[5] = sl_now();
        sl_optim_step(opt, m->P, sl_schedule_lr(&sch, it));
        if (profile) {
            tp[6] = sl_now();
            for (int k = 0; k < 6; k++) ph[k] += tp[k + 1] - tp[k];
        }
    }
    double wall = sl_now() - t0;
    if (profile)
        fprintf(stderr, "ms/iter: batch+zero %.2f forward %.2f loss %.2f backward %.2f clip %.2f adamw %.2f\n",
                1e3 * ph[0] / iters, 1e3 * ph[1] / iters, 1e3 * ph[2] / iters, 1e3 * ph[3] / iters, 1e3 * ph[4] / iters,
                1e3 * ph[5] / iters);
    sl_model_set_training(m, 0, NULL);
    double loss[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        for (long e = 0; e < eval_iters; e++) {
            int cnt;
            if (s == 0) batch(data, ntr, rng, x, y);
            else batch(data + ntr, nva, rng, x, y);
            sl_model_forward(m, NULL, x, logits, BATCH, BLOCK);
            loss[s] += sl_xent_forward(probs, logits, y, N, V, &cnt);
        }
        loss[s] /= (double)eval_iters;
    }
    printf("seqlab,%ld,%.4f,%.4f,%.2f,%.2f,%.1f\n", iters, loss[0], loss[1], wall, 1000.0 * wall / (double)iters,
           (double)sl_peak_rss() / (1024.0 * 1024.0));
    free(logits);
    free(probs);
    free(dlog);
    free(buf);
    sl_optim_free(opt);
    sl_rng_free(rng);
    sl_model_free(m);
    return 0;
}
