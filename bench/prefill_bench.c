/* bench/prefill_bench.c — prefill (issue #17 item 3): a prompt of T tokens run as one
 * sequence-mode pass from the step state (sl_model_prefill) against the same prompt stepped
 * token by token (sl_model_prefill_steps), for one model per family, in the same process,
 * alternating, best of --reps. CSV on stdout:
 *   model,params,T,prefill_s,steps_s,prefill_tok_s,steps_tok_s,speedup,native,max_rel_diff
 * native = 1 when the model runs prefill in sequence mode itself (0: its prefill is the step
 * loop, so the ratio is about 1). max_rel_diff compares the two logits blocks.
 *   usage: prefill_bench [--T 256] [--reps 3] [--threads 1] [--d 256] */
#include "core/error.h"
#include "core/util.h"
#include "lab/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_threads_set(int k);

static double run(sl_model *m, const int32_t *tok, float *y, int T, int native)
{
    void *st = sl_model_state_new(m, 1);
    if (!st) {
        fprintf(stderr, "state: %s\n", sl_errmsg());
        exit(1);
    }
    double t0 = sl_now();
    int rc = native ? sl_model_prefill(m, st, NULL, tok, y, 1, T) : sl_model_prefill_steps(m, st, NULL, tok, y, 1, T);
    double t = sl_now() - t0;
    if (rc) {
        fprintf(stderr, "%s\n", sl_errmsg());
        exit(1);
    }
    sl_model_state_free(m, st);
    return t;
}

int main(int argc, char **argv)
{
    int T = 256, reps = 3, threads = 1, d = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--d")) d = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: prefill_bench [--T N] [--reps N] [--threads N] [--d N]\n");
            return 2;
        }
    }
    if (T < 1 || reps < 1 || threads < 1 || d < 16) return 2;
    sl_threads_set(threads);
    char specs[12][256];
    int ns = 0;
    const int V = 256;
    snprintf(specs[ns++], 256, "gpt:n_layer=4,n_head=4,n_embd=%d,block_size=%d,vocab_size=%d", d, T, V);
    snprintf(specs[ns++], 256, "llama:n_layers=4,n_heads=4,n_kv_heads=2,dim=%d,max_seq_len=%d,vocab_size=%d", d, T, V);
    const char *mixers[] = {"mamba", "mamba2", "lstm", "gru", "s4d", "lru", "retnet", "gla", "rwkv"};
    for (size_t i = 0; i < sizeof mixers / sizeof *mixers; i++)
        snprintf(specs[ns++], 256, "lm:mixer=%s,d_model=%d,n_layer=4,vocab_size=%d", mixers[i], d, V);
    int32_t *tok = malloc((size_t)T * sizeof(int32_t));
    for (int t = 0; t < T; t++) tok[t] = (int32_t)((t * 37 + 11) % V);
    float *y1 = malloc((size_t)T * V * sizeof(float)), *y2 = malloc((size_t)T * V * sizeof(float));
    printf("model,params,T,prefill_s,steps_s,prefill_tok_s,steps_tok_s,speedup,native,max_rel_diff\n");
    for (int s = 0; s < ns; s++) {
        sl_model *m = NULL;
        if (sl_model_create(specs[s], 1, &m)) {
            fprintf(stderr, "%s: %s\n", specs[s], sl_errmsg());
            return 1;
        }
        double bp = INFINITY, bs = INFINITY;
        run(m, tok, y1, T, 1); /* warm-up: arenas, pages */
        for (int r = 0; r < reps; r++) {
            double a = run(m, tok, y1, T, 1), b = run(m, tok, y2, T, 0);
            if (a < bp) bp = a;
            if (b < bs) bs = b;
        }
        double diff = 0.0, mag = 0.0;
        for (size_t i = 0; i < (size_t)T * V; i++) {
            double e = fabs((double)y1[i] - y2[i]);
            if (e > diff) diff = e;
            if (fabs(y2[i]) > mag) mag = fabs(y2[i]);
        }
        char name[256];
        snprintf(name, sizeof name, "%s", specs[s]);
        char *c = strchr(name, ',');
        if (c) *c = 0;
        printf("%s,%zu,%d,%.5f,%.5f,%.1f,%.1f,%.2f,%d,%.2e\n", name, sl_params_count_trainable(m->P), T, bp, bs, T / bp, T / bs,
               bs / bp, sl_model_has_prefill(m) ? (m->n_children ? sl_model_has_prefill(m->children[0]) : 1) : 0,
               diff / (1.0 + mag));
        fflush(stdout);
        sl_model_free(m);
    }
    free(tok);
    free(y1);
    free(y2);
    return 0;
}
