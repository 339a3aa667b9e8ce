/* bench/scan_bench.c — selective scan and Mamba block speed, CSV to stdout.
 *   scan_bench [B D L N threads reps]   (defaults 1 1536 2048 16 2 5)
 * Rows: impl, pass, B, D, L, N, threads, seconds (median of reps), state updates/s.
 * A state update is one (b, d, t, n) step of x = exp(dt A) x + dt B u; a scan does B*D*L*N. */
#include "core/error.h"
#include "core/rng.h"
#include "ssm/scan.h"
#ifdef SCAN_BENCH_BLOCK
#include "lab/registry.h"
#include "seq/model.h"
#endif

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

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 1, D = argc > 2 ? atoi(argv[2]) : 1536, L = argc > 3 ? atoi(argv[3]) : 2048;
    int N = argc > 4 ? atoi(argv[4]) : 16, th = argc > 5 ? atoi(argv[5]) : 2, reps = argc > 6 ? atoi(argv[6]) : 5;
    omp_set_num_threads(th);
    size_t BLD = (size_t)B * L * D, BLN = (size_t)B * L * N;
    float *u = malloc(BLD * 4), *dl = malloc(BLD * 4), *z = malloc(BLD * 4), *y = malloc(BLD * 4), *dy = malloc(BLD * 4);
    float *A = malloc((size_t)D * N * 4), *Bm = malloc(BLN * 4), *Cm = malloc(BLN * 4), *Dv = malloc(D * 4), *bias = malloc(D * 4);
    sl_rng *r = sl_rng_alloc(1);
    sl_rng_fill_normal(r, u, BLD, 1); sl_rng_fill_normal(r, dl, BLD, 1); sl_rng_fill_normal(r, z, BLD, 1);
    sl_rng_fill_normal(r, dy, BLD, 1); sl_rng_fill_normal(r, Bm, BLN, 1); sl_rng_fill_normal(r, Cm, BLN, 1);
    sl_rng_fill_uniform(r, bias, D, -4, -2);
    for (int d = 0; d < D; d++) { Dv[d] = 1; for (int n = 0; n < N; n++) A[(size_t)d * N + n] = -(float)(n + 1); }
    sl_scan_args a = {B, L, D, N, 1, u, dl, A, Bm, Cm, Dv, z, bias, 1};
    float *du = calloc(BLD, 4), *ddl = calloc(BLD, 4), *dz = calloc(BLD, 4), *dA = calloc((size_t)D * N, 4);
    float *dB = calloc(BLN, 4), *dC = calloc(BLN, 4), *dD = calloc(D, 4), *db = calloc(D, 4);
    sl_scan_grads g = {du, ddl, dA, dB, dC, dD, dz, db};
    sl_scan_ws *ws = sl_scan_ws_new();
    double upd = (double)B * D * L * N;
    printf("impl,pass,B,D,L,N,threads,seconds,updates_per_s\n");
    const char *names[2] = {"seqlab_fast", "seqlab_chunked"};
    for (int v = 0; v < 2; v++) {
        int K = v == 0 ? 1 : 2 * th;
        double tf[64], tb[64];
        for (int i = 0; i < reps + 1; i++) {
            double t0 = now();
            if (sl_scan_forward(y, NULL, &a, K, ws)) { fprintf(stderr, "%s\n", sl_errmsg()); return 1; }
            double t1 = now();
            sl_scan_backward(&g, dy, &a, ws);
            double t2 = now();
            if (i) { tf[i - 1] = t1 - t0; tb[i - 1] = t2 - t1; }
        }
        double mf = median(tf, reps), mb = median(tb, reps);
        printf("%s,forward,%d,%d,%d,%d,%d,%.6f,%.4g\n", names[v], B, D, L, N, th, mf, upd / mf);
        printf("%s,backward,%d,%d,%d,%d,%d,%.6f,%.4g\n", names[v], B, D, L, N, th, mb, upd / mb);
    }
    if (upd <= 2e7) {
        double t0 = now();
        sl_scan_ref_forward(y, NULL, &a);
        double t1 = now();
        printf("seqlab_ref,forward,%d,%d,%d,%d,1,%.6f,%.4g\n", B, D, L, N, t1 - t0, upd / (t1 - t0));
    }
    sl_scan_ws_free(ws);
    sl_rng_free(r);
    return 0;
}
