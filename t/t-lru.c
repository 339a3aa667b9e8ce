/* t/t-lru.c — the Linear Recurrent Unit: the chunked scan == the plain recurrence in double
 * (forward and reverse, several chunk sizes), the layer == a double-precision loop of the
 * paper's equations, parameter names and init, gradient check at every coordinate, step ==
 * sequence, chunk-size invariance, lm:mixer=lru, agreement with the PyTorch reference
 * (t/ref/make_linrnn_fixtures.py), spec errors, and a learning test. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"
#include "t/mixer_check.h"
#include "t/fixture.h"
#include "core/util.h"
#include "lab/registry.h"
#include "ssm/lru.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void scan_tests(void)
{
    const int B = 2, T = 37, N = 5;
    sl_rng *r = sl_rng_alloc(9);
    float lr[5], li[5];
    /* |lambda| from 0.3 to 0.999, phases over the circle */
    for (int n = 0; n < N; n++) {
        double mag = n == 0 ? 0.999 : 0.3 + 0.15 * n, ph = 1.3 * n + 0.2;
        lr[n] = (float)(mag * cos(ph));
        li[n] = (float)(mag * sin(ph));
    }
    size_t n = (size_t)B * T * N;
    float *vr = malloc(n * sizeof(float)), *vi = malloc(n * sizeof(float));
    float *xr = malloc(n * sizeof(float)), *xi = malloc(n * sizeof(float));
    double *hr = malloc(n * sizeof(double)), *hi = malloc(n * sizeof(double));
    sl_rng_fill_normal(r, vr, n, 1.0f);
    sl_rng_fill_normal(r, vi, n, 1.0f);
    const int Ls[] = {1, 4, 7, 37, 64};
    for (int rev = 0; rev < 2; rev++) {
        sl_lru_scan_naive(hr, hi, vr, vi, lr, li, B, T, N, rev);
        double scale = 0;
        for (size_t k = 0; k < n; k++) scale = fmax(scale, fmax(fabs(hr[k]), fabs(hi[k])));
        for (size_t l = 0; l < sizeof Ls / sizeof Ls[0]; l++) {
            int L = Ls[l];
            float *ws = malloc((2 * (size_t)B * ((T + L - 1) / L) * N + 2 * (size_t)L * N) * sizeof(float));
            memcpy(xr, vr, n * sizeof(float));
            memcpy(xi, vi, n * sizeof(float));
            sl_lru_scan(xr, xi, lr, li, B, T, N, L, rev, ws);
            double e = 0;
            for (size_t k = 0; k < n; k++) e = fmax(e, fmax(fabs(xr[k] - hr[k]), fabs(xi[k] - hi[k])));
            ok(e <= 2e-6 * scale, "chunked scan (L=%d, %s) == recurrence in double (max abs %.2e, |h| up to %.1f)", L,
               rev ? "reverse" : "forward", e, scale);
            free(ws);
        }
    }
    free(vr);
    free(vi);
    free(xr);
    free(xi);
    free(hr);
    free(hi);
    sl_rng_free(r);
}

/* the layer in double, straight from the equations (lru.h) */
static void lru_naive(double *y, const sl_params *P, const float *u, int B, int T, int H, int N)
{
    const float *nu = sl_params_data(P, sl_params_find(P, "nu_log")), *th = sl_params_data(P, sl_params_find(P, "theta_log"));
    const float *ga = sl_params_data(P, sl_params_find(P, "gamma_log")), *Br = sl_params_data(P, sl_params_find(P, "B_re"));
    const float *Bi = sl_params_data(P, sl_params_find(P, "B_im")), *Cr = sl_params_data(P, sl_params_find(P, "C_re"));
    const float *Ci = sl_params_data(P, sl_params_find(P, "C_im")), *D = sl_params_data(P, sl_params_find(P, "D"));
    double complex *x = malloc((size_t)N * sizeof *x);
    for (int b = 0; b < B; b++) {
        for (int n = 0; n < N; n++) x[n] = 0;
        for (int t = 0; t < T; t++) {
            const float *ut = u + ((size_t)b * T + t) * H;
            for (int n = 0; n < N; n++) {
                double complex lam = cexp(-exp((double)nu[n]) + I * exp((double)th[n])), bu = 0;
                for (int h = 0; h < H; h++) bu += (Br[n * H + h] + I * Bi[n * H + h]) * ut[h];
                x[n] = lam * x[n] + exp((double)ga[n]) * bu;
            }
            for (int h = 0; h < H; h++) {
                double complex s = 0;
                for (int n = 0; n < N; n++) s += (Cr[h * N + n] + I * Ci[h * N + n]) * x[n];
                y[((size_t)b * T + t) * H + h] = creal(s) + D[h] * ut[h];
            }
        }
    }
    free(x);
}

static void model_tests(void)
{
    sl_model *m;
    int rc = sl_model_create("lru:d_model=4,d_hidden=3,chunk_size=3", 5, &m);
    ok(rc == 0, "create lru (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "nu_log", 1, 3, 0, 0) && shape_is(P, "theta_log", 1, 3, 0, 0) && shape_is(P, "gamma_log", 1, 3, 0, 0) &&
           shape_is(P, "B_re", 2, 3, 4, 0) && shape_is(P, "B_im", 2, 3, 4, 0) && shape_is(P, "C_re", 2, 4, 3, 0) &&
           shape_is(P, "C_im", 2, 4, 3, 0) && shape_is(P, "D", 1, 4, 0, 0) && P->n == 8,
       "LRU parameter names and shapes (%d tensors)", P->n);
    ok(find(P, "nu_log")->wd_scale == 0 && find(P, "gamma_log")->lr_scale == 0.5f && find(P, "B_re")->wd_scale != 0,
       "nu_log, theta_log, gamma_log: lr x0.5, no weight decay");
    /* init: |lambda| in [r_min, r_max], gamma = sqrt(1 - |lambda|^2), theta in [0, max_phase] */
    {
        sl_model *m2;
        rc = sl_model_create("lru:d_model=8,d_hidden=64,r_min=0.9,r_max=0.99,max_phase=0.5", 3, &m2);
        const float *nu = sl_params_data(m2->P, 0), *th = sl_params_data(m2->P, 1), *ga = sl_params_data(m2->P, 2);
        int good = rc == 0;
        for (int n = 0; good && n < 64; n++) {
            double mag = exp(-exp(nu[n])), ph = exp(th[n]);
            good &= mag >= 0.9 - 1e-6 && mag <= 0.99 + 1e-6 && ph <= 0.5 + 1e-6 && fabs(exp(ga[n]) - sqrt(1 - mag * mag)) < 1e-5;
        }
        ok(good, "ring init: |lambda| in [r_min, r_max], arg in [0, max_phase], gamma = sqrt(1 - |lambda|^2)");
        sl_model_free(m2);
    }
    const int B = 2, T = 7, H = 4, N = 3;
    float *x = tu_random((size_t)B * T * H, 1.0f, 3);
    float *y = malloc((size_t)B * T * H * sizeof(float));
    double *yr = malloc((size_t)B * T * H * sizeof(double));
    sl_model_forward(m, x, NULL, y, B, T);
    lru_naive(yr, P, x, B, T, H, N);
    double e = 0;
    for (int i = 0; i < B * T * H; i++) e = fmax(e, fabs(y[i] - yr[i]));
    ok(e < 1e-5, "lru forward == the paper's equations in double (max abs %.2e)", e);
    check_model_grads(m, "lru", x, NULL, B, T, 1e-2, 2e-2, 24);
    check_step_equals_seq(m, "lru", x, NULL, B, T, 1e-5);
    free(x);
    free(y);
    free(yr);
    sl_model_free(m);

    /* a longer sequence: chunked scan (several chunks, a partial last one) == one chunk, and
     * == the double loop; step == sequence */
    sl_model *m1, *m2;
    sl_model_create("lru:d_model=12,d_hidden=10,r_min=0.9,r_max=0.999,chunk_size=16", 5, &m1);
    sl_model_create("lru:d_model=12,d_hidden=10,r_min=0.9,r_max=0.999,chunk_size=1000", 5, &m2);
    const int T2 = 203;
    float *x2 = tu_random((size_t)2 * T2 * 12, 1.0f, 4), *y1 = malloc((size_t)2 * T2 * 12 * 4),
          *y2 = malloc((size_t)2 * T2 * 12 * 4);
    double *yd = malloc((size_t)2 * T2 * 12 * sizeof(double));
    sl_model_forward(m1, x2, NULL, y1, 2, T2);
    sl_model_forward(m2, x2, NULL, y2, 2, T2);
    lru_naive(yd, m1->P, x2, 2, T2, 12, 10);
    double d = max_abs_diff(y1, y2, (size_t)2 * T2 * 12), e2 = 0, s2 = 0;
    for (int i = 0; i < 2 * T2 * 12; i++) {
        e2 = fmax(e2, fabs(y1[i] - yd[i]));
        s2 = fmax(s2, fabs(yd[i]));
    }
    ok(d < 1e-5 * s2, "chunk_size=16 == chunk_size=1000 (max abs %.2e)", d);
    ok(e2 < 2e-6 * s2, "T=203, |lambda| up to 0.999: forward == double loop (max abs %.2e, |y| up to %.1f)", e2, s2);
    check_step_equals_seq(m1, "lru T=203", x2, NULL, 2, T2, 2e-6 * s2);
    {
        /* a finite difference h in theta_log turns the phase at lag t by t e^theta h: small
         * phases keep that below 0.1 rad over 203 steps */
        sl_model *m3;
        sl_model_create("lru:d_model=12,d_hidden=10,r_min=0.9,r_max=0.999,max_phase=0.5,chunk_size=16", 6, &m3);
        check_model_grads(m3, "lru T=203, 13 chunks", x2, NULL, 2, T2, 1e-3, 2e-2, 16);
        sl_model_free(m3);
    }
    free(x2);
    free(y1);
    free(y2);
    free(yd);
    sl_model_free(m1);
    sl_model_free(m2);
}

static void lm_tests(void)
{
    tu_check_lm(&(tu_lm_case){.spec = "lm:mixer=lru,d_model=8,d_hidden=6,n_layer=2,vocab_size=11,chunk_size=4",
                              .names = {"backbone.layers.1.mixer.nu_log", "backbone.layers.0.mixer.C_im"},
                              .B = 2,
                              .T = 9,
                              .mul = 7,
                              .add = 3,
                              .step_tol = 1e-4,
                              .h = 1e-3,
                              .tol = 3e-2});
}

static void error_tests(void)
{
    tu_refused("lru:d_model=8,r_min=0.9,r_max=0.5", "r_min", "r_min > r_max");
    tu_refused("lru:d_model=8,r_max=1.5", "r_max", "r_max > 1");
    tu_refused("lru:d_model=8,d_hiden=4", "d_hidden", "unknown key rejected, valid keys listed");
    tu_refused("lru:d_model=0", "d_model", "d_model=0");
    tu_refused("lru:d_model=8,chunk_size=0", "chunk_size", "chunk_size=0");
    tu_refused("lru:d_model=8,max_phase=abc", "max_phase", "max_phase=abc");
}

int main(void)
{
    sl_threads_set(1);
    scan_tests();
    model_tests();
    check_fixture("lru:d_model=6,d_hidden=5,chunk_size=4", "lru", 1e-5, 1e-5);
    lm_tests();
    error_tests();
    /* the output at t depends on x_{t-4} only through the recurrence (D u sees x_t) */
    {
        double first = 0,
               last = learn_delay("seq:mixer=lru,d_model=16,n_layer=1,d_input=1,d_output=1,d_hidden=16,r_min=0.5,r_max=0.99", 150,
                                  &first);
        ok(last < 0.1 && last < 0.1 * first, "lru learns y_t = x_{t-4}: MSE %.3g -> %.3g in 150 AdamW steps", first, last);
    }
    /* the chunked scan with its OpenMP loops on (B T N above the threshold) */
    {
        sl_threads_set(2);
        const int B = 3, T = 400, N = 64, L = 32, NC = (T + L - 1) / L;
        size_t n = (size_t)B * T * N;
        float *vr = tu_random(n, 1, 1), *vi = tu_random(n, 1, 2), lr[64], li[64];
        for (int k = 0; k < N; k++) {
            lr[k] = (float)(0.99 * cos(0.1 * k));
            li[k] = (float)(0.99 * sin(0.1 * k));
        }
        double *hr = malloc(n * sizeof(double)), *hi = malloc(n * sizeof(double)), s = 0;
        float *ws = malloc((2 * (size_t)B * NC * N + 2 * (size_t)L * N) * sizeof(float));
        sl_lru_scan_naive(hr, hi, vr, vi, lr, li, B, T, N, 0);
        sl_lru_scan(vr, vi, lr, li, B, T, N, L, 0, ws);
        double e = 0;
        for (size_t k = 0; k < n; k++) {
            e = fmax(e, fmax(fabs(vr[k] - hr[k]), fabs(vi[k] - hi[k])));
            s = fmax(s, fabs(hr[k]));
        }
        ok(e < 2e-6 * s, "chunked scan on 2 threads (B=3, T=400, N=64, L=32) == recurrence in double (max abs %.2e)", e);
        free(vr);
        free(vi);
        free(hr);
        free(hi);
        free(ws);
    }
    return done_testing();
}
