/* t/t-h3.c — the H3 mixer (ssm/h3.c): zoology parameter names, the FFT path against the
 * naive one (direct convolution sums, kernel in double) for the output and every gradient, the
 * shift kernel in closed form, finite-difference gradients, step == sequence, the lm: wrapper,
 * the PyTorch fixture (t/ref/make_conv_fixtures.py), spec errors and a learning test. */
#include "core/error.h"
#include "t/tap.h"
#include "t/testutil.h"
#include "t/fixture.h"
#include "core/util.h"
#include "ssm/h3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double rel_diff(const float *a, const float *b, size_t n)
{
    double m = 1.0;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > m) m = fabs(b[i]);
    return max_abs_diff(a, b, n) / m;
}

static void test_names(void)
{
    sl_model *m;
    int rc = sl_model_create("h3:d_model=12,d_state=8,head_dim=3", 1, &m);
    ok(rc == 0, "create h3 (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "q_proj.weight", 2, 12, 12, 0) && shape_is(P, "k_proj.bias", 1, 12, 0, 0) &&
           shape_is(P, "v_proj.weight", 2, 12, 12, 0) && shape_is(P, "ssm_k_kernel.kernel.B", 2, 12, 8, 0) &&
           shape_is(P, "ssm_k_kernel.kernel.C", 3, 1, 12, 8) && shape_is(P, "ssm_k_D", 1, 12, 0, 0) &&
           shape_is(P, "kernel.kernel.log_dt", 1, 4, 0, 0) && shape_is(P, "kernel.kernel.inv_A_real", 2, 4, 4, 0) &&
           shape_is(P, "kernel.kernel.A_imag", 2, 4, 4, 0) && shape_is(P, "D", 1, 4, 0, 0) &&
           shape_is(P, "output_linear.weight", 2, 12, 12, 0) && P->n == 17,
       "zoology H3 parameter names and shapes (%d tensors)", P->n);
    const sl_tensor *kc = find(P, "kernel.kernel.C"), *kb = find(P, "kernel.kernel.B");
    ok(kc && kc->ndim == 4 && kc->shape[1] == 4 && kc->shape[2] == 4 && kc->shape[3] == 2 && kb && kb->ndim == 3,
       "kernel.kernel.C (1, H, N/2, 2) and kernel.kernel.B (H, N/2, 2): real views of complex");
    ok(find(P, "kernel.kernel.log_dt")->wd_scale == 0 && find(P, "ssm_k_kernel.kernel.B")->wd_scale == 0 &&
           find(P, "q_proj.weight")->wd_scale != 0,
       "SSM parameters have no weight decay");
    /* init: shift B = e_1, so the shift kernel is C itself; S4D-Lin A */
    float K[12 * 10];
    sl_h3_shift_kernel(K, sl_params_data(P, sl_params_find(P, "ssm_k_kernel.kernel.B")),
                       sl_params_data(P, sl_params_find(P, "ssm_k_kernel.kernel.C")), 12, 8, 10);
    const float *Cs = sl_params_data(P, sl_params_find(P, "ssm_k_kernel.kernel.C"));
    int good = 1;
    for (int c = 0; c < 12; c++)
        for (int j = 0; j < 10; j++) good &= K[c * 10 + j] == (j < 8 ? Cs[c * 8 + j] : 0.0f);
    const float *ai = sl_params_data(P, sl_params_find(P, "kernel.kernel.A_imag")), *ar = sl_params_data(P, sl_params_find(P, "kernel.kernel.inv_A_real"));
    good &= fabsf(ai[3] - 3.0f * (float)M_PI) < 1e-5f && fabsf(expf(ar[2]) - 0.5f) < 1e-6f;
    ok(good, "init: shift kernel == C for B = e_1 (zero past d_state taps); A = -1/2 + i pi n");
    sl_model_free(m);
}

/* conv=fft == conv=naive: output, input gradient and every parameter gradient */
static void test_fft_vs_naive(void)
{
    sl_model *a, *b;
    if (sl_model_create("h3:d_model=8,d_state=6,head_dim=2", 4, &a) || sl_model_create("h3:d_model=8,d_state=6,head_dim=2,conv=naive", 4, &b)) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    const int B = 2, T = 45;
    const size_t n = (size_t)B * T * 8;
    float *x = tu_random(n, 1.0f, 1), *dy = tu_random(n, 1.0f, 2), *ya = malloc(n * 4), *yb = malloc(n * 4);
    float *dxa = calloc(n, 4), *dxb = calloc(n, 4);
    sl_params_zero_grad(a->P);
    sl_params_zero_grad(b->P);
    int rc = sl_model_forward(a, x, NULL, ya, B, T) || sl_model_forward(b, x, NULL, yb, B, T) ||
             sl_model_backward(a, dy, dxa) || sl_model_backward(b, dy, dxb);
    double e = rc ? INFINITY : rel_diff(ya, yb, n);
    ok(e < 2e-6, "FFT convolutions == direct sums: output (rel %.2e, T=%d)", e, T);
    e = rc ? INFINITY : rel_diff(dxa, dxb, n);
    ok(e < 1e-5, "FFT == naive: input gradient (rel %.2e)", e);
    double worst = 0;
    const char *wn = "";
    for (int i = 0; i < a->P->n && !rc; i++) {
        const sl_tensor *t = &a->P->t[i];
        double d = rel_diff(a->P->grad + t->offset, b->P->grad + t->offset, t->numel);
        if (d > worst) { worst = d; wn = t->name; }
    }
    ok(!rc && worst < 1e-5, "FFT == naive: all %d parameter gradients (worst rel %.2e at %s)", a->P->n, worst, wn);
    free(x); free(dy); free(ya); free(yb); free(dxa); free(dxb);
    sl_model_free(a);
    sl_model_free(b);
}

static void test_model(void)
{
    sl_model *m;
    int rc = sl_model_create("h3:d_model=4,d_state=4,head_dim=2", 5, &m);
    if (rc) { ok(0, "create: %s", sl_errmsg()); return; }
    /* larger steps than the init, so the diagonal SSM carries far */
    float *ldt = sl_params_data(m->P, sl_params_find(m->P, "kernel.kernel.log_dt"));
    ldt[0] = logf(0.3f);
    ldt[1] = logf(0.6f);
    const int B = 2, T = 9;
    float *x = tu_random((size_t)B * T * 4, 1.0f, 9);
    check_model_grads(m, "h3", x, NULL, B, T, 1e-2, 2e-2, 24);
    check_step_equals_seq(m, "h3", x, NULL, B, T, 2e-5);
    free(x);
    sl_model_free(m);
    rc = sl_model_create("h3:d_model=8,d_state=6,head_dim=2", 6, &m);
    if (rc) { ok(0, "create: %s", sl_errmsg()); return; }
    float *x2 = tu_random((size_t)3 * 60 * 8, 1.0f, 10);
    check_step_equals_seq(m, "h3 T=60", x2, NULL, 3, 60, 2e-5);
    free(x2);
    sl_model_free(m);
}

static void test_lm(void)
{
    sl_model *m;
    int rc = sl_model_create("lm:mixer=h3,d_model=8,n_layer=2,d_state=4,head_dim=2,vocab_size=7", 3, &m);
    ok(rc == 0, "lm:mixer=h3 (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    ok(sl_params_find(m->P, "backbone.layers.1.mixer.kernel.kernel.log_dt") >= 0 &&
           sl_params_find(m->P, "backbone.layers.0.mixer.ssm_k_kernel.kernel.C") >= 0,
       "names under backbone.layers.{i}.mixer.");
    int32_t tok[2 * 8];
    for (int i = 0; i < 16; i++) tok[i] = (i * 5 + 1) % 7;
    check_step_equals_seq(m, "lm:mixer=h3", NULL, tok, 2, 8, 1e-4);
    check_model_grads(m, "lm:mixer=h3", NULL, tok, 2, 8, 5e-3, 3e-2, 12);
    sl_model_free(m);
}

static void test_errors(void)
{
    sl_model *m = NULL;
    int rc = sl_model_create("h3:d_model=8,d_state=5", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "d_state"), "odd d_state: %s", sl_errmsg());
    rc = sl_model_create("h3:d_model=8,head_dim=3", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "head_dim"), "d_model not a multiple of head_dim: %s", sl_errmsg());
    rc = sl_model_create("h3:d_model=8,dt_min=0.5,dt_max=0.1", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "dt_min"), "dt_min > dt_max: %s", sl_errmsg());
    rc = sl_model_create("h3:d_model=8,conv=fftw", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "conv"), "bad conv choice: %s", sl_errmsg());
}

int main(void)
{
    sl_threads_set(1);
    test_names();
    test_fft_vs_naive();
    test_model();
    test_lm();
    test_errors();
    check_fixture("h3:d_model=8,d_state=6,head_dim=2", "h3", 1e-5, 1e-5);
    {
        /* delay by 4: the shift SSM's taps must learn the lag */
        double first = 0, last = learn_delay("seq:mixer=h3,d_model=16,n_layer=1,d_input=1,d_output=1,d_state=8", 300, &first);
        ok(last < 0.1 * first, "h3 learns a delay of 4: MSE %.4f -> %.4f", first, last);
    }
    return done_testing();
}
