/* bench/rnn_bench.c — seqlab's rnn / lstm / gru: forward and forward+backward time.
 *
 *   bench/rnn_bench [--threads K] [--T 256] [--B 32] [--I 128] [--H 256] [--reps N] [--models rnn,lstm,gru]
 *                   [--amx 0|1]
 *
 * CSV on stdout: impl,model,T,B,I,H,threads,fwd_ms,fwdbwd_ms,fwd_cpu_ms,fwdbwd_cpu_ms: the median
 * wall time of N repetitions after a warm-up, and the least process CPU time of those
 * repetitions (with one thread, a figure that a loaded machine disturbs much less than the wall
 * time: descheduled time does not count). bench/run_rnn_bench.sh runs this and
 * bench/rnn_torch.py in the same run and writes the ratios. --amx 0 keeps the LSTM / GRU lanes
 * path's per-step products on AVX-512 where the CPU has AMX (sl_recurrent_set_amx); its rows
 * are then "seqlab_avx512". */
#include "core/error.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "seq/recurrent_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

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

int main(int argc, char **argv)
{
    int threads = 2, T = 256, B = 32, I = 128, H = 256, reps = 5, amx = 1;
    const char *models = "rnn,lstm,gru";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc) {
            fprintf(stderr, "rnn_bench: option %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--B")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--I")) I = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--H")) H = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--models")) models = argv[i + 1];
        else if (!strcmp(argv[i], "--amx")) {
            if (strcmp(argv[i + 1], "0") && strcmp(argv[i + 1], "1")) {
                fprintf(stderr, "rnn_bench: --amx takes 0 or 1\n");
                return 2;
            }
            amx = atoi(argv[i + 1]);
        } else {
            fprintf(stderr, "rnn_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (T < 1 || B < 1 || I < 1 || H < 1 || reps < 1) {
        fprintf(stderr, "rnn_bench: bad sizes\n");
        return 2;
    }
    sl_threads_set(threads);
    printf("impl,model,T,B,I,H,threads,fwd_ms,fwdbwd_ms,fwd_cpu_ms,fwdbwd_cpu_ms\n");
    char *list = strdup(models);
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        char spec[256];
        snprintf(spec, sizeof spec, "%s:input_size=%d,hidden_size=%d", name, I, H);
        sl_model *m;
        if (sl_model_create(spec, 1, &m)) {
            fprintf(stderr, "rnn_bench: %s\n", sl_errmsg());
            return 1;
        }
        sl_recurrent_set_amx(m, amx);
        size_t nx = (size_t)B * T * I, ny = (size_t)B * T * m->d_out;
        float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float));
        float *dy = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
        sl_rng *rng = sl_rng_alloc(3);
        sl_rng_fill_normal(rng, x, nx, 1.0f);
        sl_rng_fill_normal(rng, dy, ny, 1.0f);
        double *tf = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double));
        /* warm-up: allocates the caches */
        if (sl_model_forward(m, x, NULL, y, B, T) || sl_model_backward(m, dy, dx)) {
            fprintf(stderr, "rnn_bench: %s\n", sl_errmsg());
            return 1;
        }
        double cf = 1e30, cb = 1e30;
        for (int r = 0; r < reps; r++) {
            double c0 = cpu_now(), t0 = sl_now();
            sl_model_forward(m, x, NULL, y, B, T);
            double t1 = sl_now(), c1 = cpu_now();
            memset(dx, 0, nx * sizeof(float));
            sl_params_zero_grad(m->P);
            double c2 = cpu_now(), t2 = sl_now();
            sl_model_forward(m, x, NULL, y, B, T);
            sl_model_backward(m, dy, dx);
            double t3 = sl_now(), c3 = cpu_now();
            tf[r] = (t1 - t0) * 1e3;
            tb[r] = (t3 - t2) * 1e3;
            if ((c1 - c0) * 1e3 < cf) cf = (c1 - c0) * 1e3;
            if ((c3 - c2) * 1e3 < cb) cb = (c3 - c2) * 1e3;
        }
        printf("%s,%s,%d,%d,%d,%d,%d,%.2f,%.2f,%.2f,%.2f\n", amx ? "seqlab" : "seqlab_avx512", name, T, B, I, H, threads,
               median(tf, reps), median(tb, reps), cf, cb);
        fflush(stdout);
        free(tf);
        free(tb);
        free(x);
        free(y);
        free(dy);
        free(dx);
        sl_rng_free(rng);
        sl_model_free(m);
    }
    free(list);
    return 0;
}
