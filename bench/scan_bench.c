/* bench/scan_bench.c — selective scan and Mamba block speed, CSV to stdout.
 *   scan_bench scan  [B D L N threads reps]   (defaults 1 1536 2048 16 2 5)
 *   scan_bench block [B d_model L N threads reps]   (mamba:d_model=..,d_state=N; D = 2 d_model)
 * Rows: impl, pass, B, D, L, N, threads, seconds (wall, median of reps), state updates/s
 * (from the wall time), cpu_seconds (process CPU time of that rep: on a shared, loaded machine
 * the wall time includes time spent descheduled; CPU time includes OpenMP spin-waiting).
 * A state update is one (b, d, t, n) step of x = exp(dt A) x + dt B u; a scan does B*D*L*N.
 * Rows of the scan: seqlab_fast (nchunks 1: vectorised over channels, OpenMP over batch x
 * channel blocks), seqlab_chunked (nchunks = 2 x threads: parallel over time too),
 * seqlab_ref (the sequential double reference, small sizes only).
 * Rows of the block: seqlab_block forward, backward (after a forward), on the Mamba block. */
#include "core/error.h"
#include "core/rng.h"
#include "lab/registry.h"
#include "seq/model.h"
#include "ssm/scan.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmpd);
    return v[n / 2];
}

void sl_threads_set(int k);

static int block(int B, int dm, int L, int N, int th, int reps)
{
    char spec[128];
    snprintf(spec, sizeof spec, "mamba:d_model=%d,d_state=%d", dm, N);
    sl_model *m;
    if (sl_model_create(spec, 1, &m)) {
        fprintf(stderr, "%s\n", sl_errmsg());
        return 1;
    }
    size_t n = (size_t)B * L * dm;
    float *x = malloc(n * 4), *y = malloc(n * 4), *dy = malloc(n * 4), *dx = calloc(n, 4);
    sl_rng *r = sl_rng_alloc(2);
    sl_rng_fill_normal(r, x, n, 1);
    sl_rng_fill_normal(r, dy, n, 1);
    double tf[64], tb[64], cf[64], cb[64];
    for (int i = 0; i < reps + 1; i++) {
        double t0 = now(), c0 = cpu();
        if (sl_model_forward(m, x, NULL, y, B, L)) {
            fprintf(stderr, "%s\n", sl_errmsg());
            return 1;
        }
        double t1 = now(), c1 = cpu();
        sl_model_backward(m, dy, dx);
        double t2 = now(), c2 = cpu();
        if (i) {
            tf[i - 1] = t1 - t0;
            tb[i - 1] = t2 - t1;
            cf[i - 1] = c1 - c0;
            cb[i - 1] = c2 - c1;
        }
    }
    double upd = (double)B * 2 * dm * L * N, mf = median(tf, reps), mb = median(tb, reps);
    printf("seqlab_block,forward,%d,%d,%d,%d,%d,%.6f,%.4g,%.6f\n", B, 2 * dm, L, N, th, mf, upd / mf, median(cf, reps));
    printf("seqlab_block,backward,%d,%d,%d,%d,%d,%.6f,%.4g,%.6f\n", B, 2 * dm, L, N, th, mb, upd / mb, median(cb, reps));
    sl_model_free(m);
    sl_rng_free(r);
    free(x);
    free(y);
    free(dy);
    free(dx);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "scan";
    argc--;
    argv++;
    int B = argc > 1 ? atoi(argv[1]) : 1, D = argc > 2 ? atoi(argv[2]) : 1536, L = argc > 3 ? atoi(argv[3]) : 2048;
    int N = argc > 4 ? atoi(argv[4]) : 16, th = argc > 5 ? atoi(argv[5]) : 2, reps = argc > 6 ? atoi(argv[6]) : 5;
    if (B < 1 || D < 1 || L < 1 || N < 1 || th < 1 || reps < 1 || reps > 64) {
        fprintf(stderr, "usage: scan_bench scan|block [B D|d_model L N threads reps]\n");
        return 2;
    }
    sl_threads_set(th);
    if (!strcmp(what, "block")) {
        printf("impl,pass,B,D,L,N,threads,seconds,updates_per_s,cpu_seconds\n");
        return block(B, D, L, N, th, reps);
    }
    size_t BLD = (size_t)B * L * D, BLN = (size_t)B * L * N;
    float *u = malloc(BLD * 4), *dl = malloc(BLD * 4), *z = malloc(BLD * 4), *y = malloc(BLD * 4), *dy = malloc(BLD * 4);
    float *A = malloc((size_t)D * N * 4), *Bm = malloc(BLN * 4), *Cm = malloc(BLN * 4), *Dv = malloc(D * 4),
          *bias = malloc(D * 4);
    sl_rng *r = sl_rng_alloc(1);
    sl_rng_fill_normal(r, u, BLD, 1);
    sl_rng_fill_normal(r, dl, BLD, 1);
    sl_rng_fill_normal(r, z, BLD, 1);
    sl_rng_fill_normal(r, dy, BLD, 1);
    sl_rng_fill_normal(r, Bm, BLN, 1);
    sl_rng_fill_normal(r, Cm, BLN, 1);
    sl_rng_fill_uniform(r, bias, D, -4, -2);
    for (int d = 0; d < D; d++) {
        Dv[d] = 1;
        for (int n = 0; n < N; n++) A[(size_t)d * N + n] = -(float)(n + 1);
    }
    sl_scan_args a = {B, L, D, N, 1, u, dl, A, Bm, Cm, Dv, z, bias, 1};
    float *du = calloc(BLD, 4), *ddl = calloc(BLD, 4), *dz = calloc(BLD, 4), *dA = calloc((size_t)D * N, 4);
    float *dB = calloc(BLN, 4), *dC = calloc(BLN, 4), *dD = calloc(D, 4), *db = calloc(D, 4);
    sl_scan_grads g = {du, ddl, dA, dB, dC, dD, dz, db};
    sl_scan_ws *ws = sl_scan_ws_new();
    double upd = (double)B * D * L * N;
    printf("impl,pass,B,D,L,N,threads,seconds,updates_per_s,cpu_seconds\n");
    const char *names[2] = {"seqlab_fast", "seqlab_chunked"};
    for (int v = 0; v < 2; v++) {
        int K = v == 0 ? 1 : 2 * th;
        double tf[64], tb[64], cf[64], cb[64];
        for (int i = 0; i < reps + 1; i++) {
            double t0 = now(), c0 = cpu();
            if (sl_scan_forward(y, NULL, &a, K, ws)) {
                fprintf(stderr, "%s\n", sl_errmsg());
                return 1;
            }
            double t1 = now(), c1 = cpu();
            sl_scan_backward(&g, dy, &a, ws);
            double t2 = now(), c2 = cpu();
            if (i) {
                tf[i - 1] = t1 - t0;
                tb[i - 1] = t2 - t1;
                cf[i - 1] = c1 - c0;
                cb[i - 1] = c2 - c1;
            }
        }
        double mf = median(tf, reps), mb = median(tb, reps);
        printf("%s,forward,%d,%d,%d,%d,%d,%.6f,%.4g,%.6f\n", names[v], B, D, L, N, th, mf, upd / mf, median(cf, reps));
        printf("%s,backward,%d,%d,%d,%d,%d,%.6f,%.4g,%.6f\n", names[v], B, D, L, N, th, mb, upd / mb, median(cb, reps));
    }
    if (upd <= 2e7) {
        double t0 = now(), c0 = cpu();
        sl_scan_ref_forward(y, NULL, &a);
        double t1 = now(), c1 = cpu();
        printf("seqlab_ref,forward,%d,%d,%d,%d,1,%.6f,%.4g,%.6f\n", B, D, L, N, t1 - t0, upd / (t1 - t0), c1 - c0);
    }
    sl_scan_ws_free(ws);
    sl_rng_free(r);
    return 0;
}
