/* bench/conv_bench.c — the convolution / attention-hybrid mixers (based, h3, hyena): each in its
 * efficient sequence form (chunked linear attention, FFT convolutions) against its recurrent
 * form (step mode, forward only) and, with --naive 1, its naive form (direct O(T^2) sums: based
 * train_view=quadratic, h3/hyena conv=naive), forward and forward+backward, at B=8, T=2048,
 * d_model=256 by default. Recurrent and naive forms run --slow-reps times.
 * CSV rows: impl,mixer,form,pass,B,T,d_model,threads,reps,seconds (best of reps). The PyTorch
 * peer (bench/conv_torch.py) writes the same columns; bench/run_conv_bench.sh runs both and the
 * ratios. Not part of make check. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "seq/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model *m;
    float *x, *y, *dy, *dx;
    int B, T, bwd;
} ctx;

static double run(ctx *c, int step)
{
    double t = sl_now();
    int rc;
    if (step) rc = sl_model_run_steps(c->m, c->x, NULL, c->y, c->B, c->T);
    else {
        rc = sl_model_forward(c->m, c->x, NULL, c->y, c->B, c->T);
        if (!rc && c->bwd) {
            sl_params_zero_grad(c->m->P);
            rc = sl_model_backward(c->m, c->dy, c->dx);
        }
    }
    if (rc) {
        fprintf(stderr, "conv_bench: %s\n", sl_errmsg());
        exit(1);
    }
    return sl_now() - t;
}

static double best(ctx *c, int step, int reps)
{
    double b = INFINITY;
    for (int r = 0; r < reps; r++) b = fmin(b, run(c, step));
    return b;
}

int main(int argc, char **argv)
{
    int B = 8, T = 2048, C = 256, reps = 3, slow_reps = 1, recurrent = 1, naive_on = 0;
    const char *out = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(
                stderr,
                "usage: conv_bench [--B 8] [--T 2048] [--d_model 256] [--reps 3] [--slow-reps 1] [--recurrent 1|0] [--naive 0|1] "
                "[--mixer based|h3|hyena] [--out FILE]\n");
            return 2;
        }
        i++;
        if (!strcmp(a, "--B")) B = atoi(v);
        else if (!strcmp(a, "--T")) T = atoi(v);
        else if (!strcmp(a, "--d_model")) C = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--slow-reps")) slow_reps = atoi(v);
        else if (!strcmp(a, "--recurrent")) recurrent = atoi(v);
        else if (!strcmp(a, "--naive")) naive_on = atoi(v);
        else if (!strcmp(a, "--mixer")) only = v;
        else if (!strcmp(a, "--out")) out = v;
        else {
            fprintf(stderr, "conv_bench: unknown flag %s\n", a);
            return 2;
        }
    }
    if (B < 1 || T < 1 || C < 1 || reps < 1 || slow_reps < 1) {
        fprintf(stderr, "conv_bench: bad sizes\n");
        return 2;
    }
    sl_afile af;
    FILE *f = stdout;
    if (out) {
        if (sl_afile_open(&af, out)) {
            fprintf(stderr, "conv_bench: %s\n", sl_errmsg());
            return 1;
        }
        f = af.f;
    }
    /* mixer, efficient spec, naive spec; d_model is appended */
    const char *rows[][3] = {
        {"based", "based:feature_dim=16,num_heads=1,window_size=64",
         "based:feature_dim=16,num_heads=1,window_size=64,train_view=quadratic"},
        {"h3", "h3:d_state=64,head_dim=1", "h3:d_state=64,head_dim=1,conv=naive"},
        {"hyena", "hyena:filter_order=64,l_max=%d", "hyena:filter_order=64,l_max=%d,conv=naive"},
    };
    fprintf(f, "impl,mixer,form,pass,B,T,d_model,threads,reps,seconds\n");
    const size_t n = (size_t)B * T * C;
    ctx c = {.B = B, .T = T, .x = malloc(n * 4), .y = malloc(n * 4), .dy = malloc(n * 4), .dx = malloc(n * 4)};
    sl_rng *r = sl_rng_alloc(42);
    sl_rng_fill_normal(r, c.x, n, 1.0f);
    sl_rng_fill_normal(r, c.dy, n, 1.0f);
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        if (only && strcmp(only, rows[k][0])) continue;
        for (int naive = 0; naive <= 1; naive++) {
            if (naive && !naive_on) continue;
            char base[200], spec[256];
            snprintf(base, sizeof base, rows[k][1 + naive], T);
            snprintf(spec, sizeof spec, "%s,d_model=%d", base, C);
            if (sl_model_create(spec, 1, &c.m)) {
                fprintf(stderr, "conv_bench: %s: %s\n", spec, sl_errmsg());
                return 1;
            }
            const char *form = naive ? "naive" : "efficient";
            const int rp = naive ? slow_reps : reps;
            for (c.bwd = 0; c.bwd <= 1; c.bwd++) {
                run(&c, 0); /* warm-up: buffers, FFT plans */
                fprintf(f, "seqlab,%s,%s,%s,%d,%d,%d,%d,%d,%.6g\n", rows[k][0], form, c.bwd ? "fwd+bwd" : "fwd", B, T, C,
                        sl_threads_get(), rp, best(&c, 0, rp));
                fflush(f);
            }
            if (!naive && recurrent) {
                c.bwd = 0;
                fprintf(f, "seqlab,%s,recurrent,fwd,%d,%d,%d,%d,%d,%.6g\n", rows[k][0], B, T, C, sl_threads_get(), slow_reps,
                        best(&c, 1, slow_reps));
                fflush(f);
            }
            sl_model_free(c.m);
            fprintf(stderr, "conv_bench: %s done\n", spec);
        }
    }
    if (out && sl_afile_commit(&af)) {
        fprintf(stderr, "conv_bench: %s\n", sl_errmsg());
        return 1;
    }
    free(c.x);
    free(c.y);
    free(c.dy);
    free(c.dx);
    sl_rng_free(r);
    return 0;
}
