/* bench/ssm_conv_bench.c — long convolution of an SSM layer three ways, L = 256 .. 16384:
 *   fft      FFT convolution (ssm/fftconv.c, FFTW3 float, n = 2L), O(L log L)
 *   naive    direct causal convolution, O(L^2)               (skipped above --naive-max)
 *   step     the S4D recurrence, one position at a time (seqlab step mode), O(L N)
 * plus the cost of the kernels: S4D Vandermonde (O(H N L)) and S4 Cauchy + Woodbury + iFFT,
 * and the whole S4D and S4 blocks in sequence mode vs step mode. CSV to stdout (or --out FILE).
 * Times are the best of --reps runs, in seconds, on the threads given by OMP_NUM_THREADS. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "ssm/fftconv.h"
#include "ssm/s4.h"
#include "ssm/s4d.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double best_of(int reps, double (*fn)(void *), void *ctx)
{
    double b = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t = fn(ctx);
        if (t < b) b = t;
    }
    return b;
}

typedef struct {
    int B, L, H, N;
    float *u, *y, *K;
    sl_fftconv *fc;
    sl_model *s4d, *s4;
    float *ld, *C, *lar, *aim;
} ctx;

static double t_fft(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_fftconv_forward(c->fc, c->y, c->u, c->K, c->B, c->H);
    return sl_now() - t;
}
static double t_naive(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_conv_naive_forward(c->y, c->u, c->K, c->B, c->L, c->H);
    return sl_now() - t;
}
static double t_vand(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_s4d_kernel(c->K, c->ld, c->C, c->lar, c->aim, c->H, c->N / 2, c->L, SL_SSM_ZOH);
    return sl_now() - t;
}
static double t_s4d_seq(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_model_forward(c->s4d, c->u, NULL, c->y, c->B, c->L);
    return sl_now() - t;
}
static double t_s4d_step(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_model_run_steps(c->s4d, c->u, NULL, c->y, c->B, c->L);
    return sl_now() - t;
}
static double t_s4_seq(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_model_forward(c->s4, c->u, NULL, c->y, c->B, c->L);
    return sl_now() - t;
}
static double t_s4_step(void *p)
{
    ctx *c = p;
    double t = sl_now();
    sl_model_run_steps(c->s4, c->u, NULL, c->y, c->B, c->L);
    return sl_now() - t;
}

int main(int argc, char **argv)
{
    int H = 32, N = 64, B = 1, reps = 3, Lmin = 256, Lmax = 16384, naive_max = 16384, s4 = 1;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: ssm_conv_bench [--H 32] [--N 64] [--B 1] [--reps 3] [--lmin 256] [--lmax 16384] [--naive-max "
                            "16384] [--s4 0|1] [--out FILE]\n");
            return 2;
        }
        i++;
        if (!strcmp(a, "--H")) H = atoi(v);
        else if (!strcmp(a, "--N")) N = atoi(v);
        else if (!strcmp(a, "--B")) B = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--lmin")) Lmin = atoi(v);
        else if (!strcmp(a, "--lmax")) Lmax = atoi(v);
        else if (!strcmp(a, "--naive-max")) naive_max = atoi(v);
        else if (!strcmp(a, "--s4")) s4 = atoi(v);
        else if (!strcmp(a, "--out")) out = v;
        else {
            fprintf(stderr, "ssm_conv_bench: unknown flag %s\n", a);
            return 2;
        }
    }
    if (H < 1 || N < 2 || N % 2 || B < 1 || reps < 1 || Lmin < 2 || Lmax < Lmin) {
        fprintf(stderr, "ssm_conv_bench: bad sizes\n");
        return 2;
    }
    sl_afile af;
    FILE *f = stdout;
    if (out) {
        if (sl_afile_open(&af, out)) {
            fprintf(stderr, "ssm_conv_bench: %s\n", sl_errmsg());
            return 1;
        }
        f = af.f;
    }
    fprintf(f, "L,B,H,N,threads,fft_conv_s,naive_conv_s,s4d_kernel_s,s4_kernel_s,s4d_seq_s,s4d_step_s,s4_seq_s,s4_step_s,naive_"
               "over_fft,step_over_seq,max_abs_fft_vs_naive\n");
    for (int L = Lmin; L <= Lmax; L *= 2) {
        ctx c = {.B = B, .L = L, .H = H, .N = N};
        size_t n = (size_t)B * L * H;
        sl_rng *r = sl_rng_alloc(42);
        c.u = malloc(n * sizeof *c.u);
        c.y = malloc(n * sizeof *c.y);
        c.K = malloc((size_t)H * L * sizeof *c.K);
        float *y2 = malloc(n * sizeof *y2);
        sl_rng_fill_normal(r, c.u, n, 1.0f);
        char spec[256];
        snprintf(spec, sizeof spec, "s4d:d_model=%d,d_state=%d", H, N);
        if (sl_model_create(spec, 1, &c.s4d)) {
            fprintf(stderr, "%s\n", sl_errmsg());
            return 1;
        }
        c.ld = sl_params_data(c.s4d->P, sl_params_find(c.s4d->P, "kernel.log_dt"));
        c.C = sl_params_data(c.s4d->P, sl_params_find(c.s4d->P, "kernel.C"));
        c.lar = sl_params_data(c.s4d->P, sl_params_find(c.s4d->P, "kernel.log_A_real"));
        c.aim = sl_params_data(c.s4d->P, sl_params_find(c.s4d->P, "kernel.A_imag"));
        c.fc = sl_fftconv_alloc(L);
        double tv = best_of(reps, t_vand, &c);
        double tf = best_of(reps, t_fft, &c);
        memcpy(y2, c.y, n * sizeof *y2);
        double tn = NAN, dmax = NAN;
        if (L <= naive_max) {
            tn = best_of(L >= 8192 ? 1 : reps, t_naive, &c);
            dmax = 0;
            for (size_t i = 0; i < n; i++) dmax = fmax(dmax, fabs((double)c.y[i] - y2[i]));
        }
        double tseq = best_of(reps, t_s4d_seq, &c), tstep = best_of(L >= 8192 ? 1 : reps, t_s4d_step, &c);
        double tk4 = NAN, ts4 = NAN, ts4s = NAN;
        if (s4) {
            snprintf(spec, sizeof spec, "s4:d_model=%d,d_state=%d,l_max=%d", H, N, L);
            if (sl_model_create(spec, 1, &c.s4)) {
                fprintf(stderr, "%s\n", sl_errmsg());
                return 1;
            }
            ts4 = best_of(reps, t_s4_seq, &c);
            ts4s = best_of(L >= 8192 ? 1 : reps, t_s4_step, &c); /* includes the O(N^3 log L) state setup */
            /* the S4 kernel alone: forward minus the convolution part measured on the same input */
            sl_s4_fft *ff = sl_s4_fft_alloc(L);
            double complex lam[512], P[512], Bv[512], Ct[512];
            sl_s4_dplr_legs(N, lam, P, Bv, NULL);
            for (int i = 0; i < N / 2; i++) Ct[i] = 1.0 / (i + 1);
            sl_s4_ssm ss = {.N2 = N / 2, .dt = 0.01, .lam = lam, .P = P, .B = Bv, .Ct = Ct};
            double *Kd = malloc((size_t)L * sizeof *Kd);
            tk4 = INFINITY;
            for (int rep = 0; rep < reps; rep++) {
                double t = sl_now();
                for (int h = 0; h < H; h++) sl_s4_kernel(&ss, ff, Kd);
                tk4 = fmin(tk4, sl_now() - t);
            }
            free(Kd);
            sl_s4_fft_free(ff);
            sl_model_free(c.s4);
        }
        fprintf(f, "%d,%d,%d,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.4g,%.4g,%.3g\n", L, B, H, N, sl_threads_get(), tf,
                tn, tv, tk4, tseq, tstep, ts4, ts4s, tn / tf, tstep / tseq, dmax);
        fflush(f);
        fprintf(stderr, "L=%d done\n", L);
        sl_fftconv_free(c.fc);
        sl_model_free(c.s4d);
        free(c.u);
        free(c.y);
        free(c.K);
        free(y2);
        sl_rng_free(r);
    }
    if (out && sl_afile_commit(&af)) {
        fprintf(stderr, "ssm_conv_bench: %s\n", sl_errmsg());
        return 1;
    }
    return 0;
}
