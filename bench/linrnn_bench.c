/* bench/linrnn_bench.c — the linear-RNN mixers (docs/linear-rnn.md): forward and
 * forward+backward time of each mixer's efficient sequence form against its recurrent form.
 *
 *   bench/linrnn_bench [--threads K] [--T 2048] [--B 8] [--d 256] [--reps N] [--mixers lru,retnet,gla,rwkv]
 *
 * Forms (all sequence mode, same weights, same input):
 *   efficient  the default: lru's chunked scan (chunk 64), retnet's chunkwise retention
 *              (chunk 64), gla's chunkwise form with log-space gates (chunk 16), rwkv's
 *              sequence mode (the WKV recurrence per channel, batch and channels in parallel:
 *              RWKV-4 has no chunked form);
 *   recurrent  the recurrence one step at a time, forward and backward through time: lru with
 *              one chunk (chunk_size=T: a plain loop over t), retnet and gla with chunk_size=1
 *              (S_t = diag(alpha_t) S_{t-1} + k_t^T v_t per step, the adjoint backwards); not
 *              for rwkv, whose efficient form is already that;
 *   parallel   retnet only, forward only: (Q K^T (.) D) V, O(T^2);
 *   step       step mode over the T positions (the decoding path), forward only.
 * CSV on stdout: impl,mixer,form,T,B,d_model,threads,fwd_ms,fwdbwd_ms (median wall time of N
 * repetitions after a warm-up; "" where a form has no backward). bench/run_linrnn_bench.sh
 * runs this and bench/linrnn_torch.py in the same run and writes the ratios. */
#include "core/error.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* one form: fwd (and fwd+bwd when bwd) medians over reps; step: step mode */
static int run(const char *mixer, const char *form, const char *spec, int B, int T, int D, int threads, int reps, int bwd,
               int step)
{
    sl_model *m;
    if (sl_model_create(spec, 1, &m)) {
        fprintf(stderr, "linrnn_bench: %s: %s\n", spec, sl_errmsg());
        return 1;
    }
    size_t n = (size_t)B * T * D;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float)),
          *dx = malloc(n * sizeof(float));
    sl_rng *rng = sl_rng_alloc(3);
    sl_rng_fill_normal(rng, x, n, 1.0f);
    sl_rng_fill_normal(rng, dy, n, 1.0f);
    double *tf = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double));
    int rc = step ? sl_model_run_steps(m, x, NULL, y, B, T) : sl_model_forward(m, x, NULL, y, B, T); /* warm-up */
    if (!rc && bwd) rc = sl_model_backward(m, dy, dx);
    for (int r = 0; r < reps && !rc; r++) {
        double t0 = sl_now();
        rc = step ? sl_model_run_steps(m, x, NULL, y, B, T) : sl_model_forward(m, x, NULL, y, B, T);
        double t1 = sl_now();
        tf[r] = (t1 - t0) * 1e3;
        if (bwd && !rc) {
            memset(dx, 0, n * sizeof(float));
            sl_params_zero_grad(m->P);
            double t2 = sl_now();
            rc = sl_model_forward(m, x, NULL, y, B, T);
            if (!rc) rc = sl_model_backward(m, dy, dx);
            tb[r] = (sl_now() - t2) * 1e3;
        }
    }
    if (rc) fprintf(stderr, "linrnn_bench: %s: %s\n", spec, sl_errmsg());
    else if (bwd)
        printf("seqlab,%s,%s,%d,%d,%d,%d,%.2f,%.2f\n", mixer, form, T, B, D, threads, median(tf, reps), median(tb, reps));
    else printf("seqlab,%s,%s,%d,%d,%d,%d,%.2f,\n", mixer, form, T, B, D, threads, median(tf, reps));
    fflush(stdout);
    free(tf);
    free(tb);
    free(x);
    free(y);
    free(dy);
    free(dx);
    sl_rng_free(rng);
    sl_model_free(m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    int threads = 2, T = 2048, B = 8, D = 256, reps = 3;
    const char *mixers = "lru,retnet,gla,rwkv";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc) {
            fprintf(stderr, "linrnn_bench: option %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--B")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--d")) D = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mixers")) mixers = argv[i + 1];
        else {
            fprintf(stderr, "linrnn_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (T < 1 || B < 1 || D < 4 || reps < 1 || threads < 1) {
        fprintf(stderr, "linrnn_bench: bad sizes\n");
        return 2;
    }
    sl_threads_set(threads);
    printf("impl,mixer,form,T,B,d_model,threads,fwd_ms,fwdbwd_ms\n");
    char *list = strdup(mixers);
    int rc = 0;
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        char base[128], spec[256];
        if (!strcmp(name, "lru")) snprintf(base, sizeof base, "lru:d_model=%d,d_hidden=%d", D, D);
        else if (!strcmp(name, "retnet")) snprintf(base, sizeof base, "retnet:d_model=%d,num_heads=4", D);
        else if (!strcmp(name, "gla")) snprintf(base, sizeof base, "gla:d_model=%d,num_heads=4", D);
        else if (!strcmp(name, "rwkv")) snprintf(base, sizeof base, "rwkv:d_model=%d", D);
        else {
            fprintf(stderr, "linrnn_bench: unknown mixer %s (lru, retnet, gla, rwkv)\n", name);
            rc = 2;
            break;
        }
        rc |= run(name, "efficient", base, B, T, D, threads, reps, 1, 0);
        if (strcmp(name, "rwkv")) {
            snprintf(spec, sizeof spec, "%s,chunk_size=%d", base, !strcmp(name, "lru") ? T : 1);
            rc |= run(name, "recurrent", spec, B, T, D, threads, reps, 1, 0);
        }
        if (!strcmp(name, "retnet")) {
            snprintf(spec, sizeof spec, "%s,mode=parallel", base);
            rc |= run(name, "parallel", spec, B, T, D, threads, reps, 0, 0);
        }
        rc |= run(name, "step", base, B, T, D, threads, reps, 0, 1);
    }
    free(list);
    return rc;
}
