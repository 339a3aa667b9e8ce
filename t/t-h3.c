/* t/t-h3.c — the H3 mixer (ssm/h3.c): zoology parameter names, the FFT path against the
 * naive one (direct convolution sums, kernel in double) for the output and every gradient, the
 * shift kernel in closed form, finite-difference gradients, step == sequence, the lm: wrapper,
 * the PyTorch fixture (t/ref/make_conv_fixtures.py), spec errors and a learning test. */
#include "core/error.h"
#include "t/tap.h"
#include "t/testutil.h"
#include "t/mixer_check.h"
#include "t/fixture.h"
#include "core/util.h"
#include "ssm/h3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const float *ai = sl_params_data(P, sl_params_find(P, "kernel.kernel.A_imag")),
                *ar = sl_params_data(P, sl_params_find(P, "kernel.kernel.inv_A_real"));
    good &= fabsf(ai[3] - 3.0f * (float)M_PI) < 1e-5f && fabsf(expf(ar[2]) - 0.5f) < 1e-6f;
    ok(good, "init: shift kernel == C for B = e_1 (zero past d_state taps); A = -1/2 + i pi n");
    sl_model_free(m);
}

/* conv=fft == conv=naive: output, input gradient and every parameter gradient */
static void test_fft_vs_naive(void)
{
    tu_check_pair(&(tu_pair){.spec = "h3:d_model=8,d_state=6,head_dim=2",
                             .ref = "h3:d_model=8,d_state=6,head_dim=2,conv=naive",
                             .seed = 4,
                             .xseed = 1,
                             .dyseed = 2,
                             .B = 2,
                             .T = 45,
                             .tol_y = 2e-6,
                             .tol_dx = 1e-5,
                             .tol_g = 1e-5,
                             .what = "FFT convolutions == direct sums"});
}

static void test_model(void)
{
    sl_model *m;
    int rc = sl_model_create("h3:d_model=4,d_state=4,head_dim=2", 5, &m);
    if (rc) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
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
    if (rc) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    float *x2 = tu_random((size_t)3 * 60 * 8, 1.0f, 10);
    check_step_equals_seq(m, "h3 T=60", x2, NULL, 3, 60, 2e-5);
    free(x2);
    sl_model_free(m);
}

static void test_lm(void)
{
    tu_check_lm(
        &(tu_lm_case){.spec = "lm:mixer=h3,d_model=8,n_layer=2,d_state=4,head_dim=2,vocab_size=7",
                      .names = {"backbone.layers.1.mixer.kernel.kernel.log_dt", "backbone.layers.0.mixer.ssm_k_kernel.kernel.C"},
                      .B = 2,
                      .T = 8,
                      .mul = 5,
                      .add = 1,
                      .step_tol = 1e-4,
                      .h = 5e-3,
                      .tol = 3e-2});
}

static void test_errors(void)
{
    tu_refused("h3:d_model=8,d_state=5", "d_state", "odd d_state");
    tu_refused("h3:d_model=8,head_dim=3", "head_dim", "d_model not a multiple of head_dim");
    tu_refused("h3:d_model=8,dt_min=0.5,dt_max=0.1", "dt_min", "dt_min > dt_max");
    tu_refused("h3:d_model=8,conv=fftw", "conv", "bad conv choice");
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
