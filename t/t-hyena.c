/* t/t-hyena.c — the Hyena operator (ssm/hyena.c): zoology parameter names, the positional
 * features and decay rates in closed form, the FFT long convolution against the direct sums
 * (output and every gradient), finite-difference gradients, step mode (the convolution history)
 * == sequence mode, the l_max limit, the lm: wrapper, the PyTorch fixture
 * (t/ref/make_conv_fixtures.py), spec errors and a learning test. */
#include "core/error.h"
#include "t/tap.h"
#include "t/testutil.h"
#include "t/mixer_check.h"
#include "t/fixture.h"
#include "core/util.h"
#include "ssm/hyena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_names(void)
{
    sl_model *m;
    int rc = sl_model_create("hyena:d_model=6,l_max=20,filter_order=8,emb_dim=5,num_inner_mlps=2", 1, &m);
    ok(rc == 0, "create hyena (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "in_proj.weight", 2, 18, 6, 0) && shape_is(P, "in_proj.bias", 1, 18, 0, 0) &&
           shape_is(P, "out_proj.weight", 2, 6, 6, 0) && shape_is(P, "short_filter.weight", 3, 18, 1, 3) &&
           shape_is(P, "short_filter.bias", 1, 18, 0, 0) && shape_is(P, "filter_fn.bias", 1, 6, 0, 0) &&
           shape_is(P, "filter_fn.pos_emb.z", 3, 1, 20, 5) && shape_is(P, "filter_fn.pos_emb.t", 3, 1, 20, 1) &&
           shape_is(P, "filter_fn.implicit_filter.0.weight", 2, 8, 5, 0) &&
           shape_is(P, "filter_fn.implicit_filter.1.freq", 2, 1, 8, 0) &&
           shape_is(P, "filter_fn.implicit_filter.2.weight", 2, 8, 8, 0) &&
           shape_is(P, "filter_fn.implicit_filter.4.bias", 1, 8, 0, 0) &&
           shape_is(P, "filter_fn.implicit_filter.6.weight", 2, 6, 8, 0) &&
           shape_is(P, "filter_fn.modulation.deltas", 3, 1, 1, 6) && P->n == 18,
       "zoology Hyena parameter names and shapes (%d tensors)", P->n);
    ok(!find(P, "filter_fn.pos_emb.t")->trainable && !find(P, "filter_fn.modulation.deltas")->trainable &&
           find(P, "filter_fn.pos_emb.z")->trainable && find(P, "filter_fn.implicit_filter.0.weight")->wd_scale == 0,
       "t and deltas are fixed buffers; z trains; the filter MLP has no weight decay");
    /* z[l] = [t, cos(f w), cos(f' w), -sin(f w), -sin(f' w)], f = (1e-4, 1), w = 2 pi l / L */
    const float *z = sl_params_data(P, sl_params_find(P, "filter_fn.pos_emb.z")),
                *dl = sl_params_data(P, sl_params_find(P, "filter_fn.modulation.deltas"));
    const int l = 7;
    const double w = 2 * M_PI * l / 20;
    int good = fabs(z[l * 5] - l / 19.0) < 1e-6 && fabs(z[l * 5 + 1] - cos(1e-4 * w)) < 1e-6 &&
               fabs(z[l * 5 + 2] - cos(w)) < 1e-6 && fabs(z[l * 5 + 3] + sin(1e-4 * w)) < 1e-6 &&
               fabs(z[l * 5 + 4] + sin(w)) < 1e-6;
    good &= fabs(dl[0] - log(1e-2) / 1.5) < 1e-5 && fabs(dl[5] - log(1e-2) / 0.3) < 1e-5;
    ok(good, "positional features and decay rates (linspace(log(target)/slow, log(target)/fast)) in closed form");
    /* the decay window bounds the filter: |h[c, t]| <= sqrt(M) exp(-t |delta_c|) (|sin| <= 1, output
     * weights within 1/sqrt(M)); at t = 1 the fastest channel's window is 0.01^(1/0.3) */
    float h[6 * 20];
    rc = sl_hyena_filter(m, h, 20);
    const double bound = sqrt(8.0) * exp(-fabs(dl[5]));
    ok(rc == 0 && fabsf(h[5 * 20 + 19]) <= bound * 1.0001 && bound < 1e-5,
       "the decay window bounds the filter (|h| = %.2e <= %.2e)", rc ? NAN : fabsf(h[5 * 20 + 19]), bound);
    sl_model_free(m);
}

/* conv=fft == conv=naive: output, input gradient and every parameter gradient */
static void test_fft_vs_naive(void)
{
    tu_check_pair(&(tu_pair){.spec = "hyena:d_model=8,l_max=64,filter_order=8",
                             .ref = "hyena:d_model=8,l_max=64,filter_order=8,conv=naive",
                             .seed = 4,
                             .xseed = 1,
                             .dyseed = 2,
                             .B = 2,
                             .T = 50,
                             .tol_y = 2e-6,
                             .tol_dx = 1e-5,
                             .tol_g = 1e-5,
                             .what = "FFT long convolution == direct sums"});
}

static void test_model(void)
{
    sl_model *m;
    int rc = sl_model_create("hyena:d_model=4,l_max=12,filter_order=4,num_inner_mlps=1", 5, &m);
    if (rc) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    const int B = 2, T = 9;
    float *x = tu_random((size_t)B * T * 4, 1.0f, 9);
    check_model_grads(m, "hyena", x, NULL, B, T, 1e-2, 2e-2, 24);
    check_step_equals_seq(m, "hyena", x, NULL, B, T, 2e-5);
    free(x);
    /* the whole l_max, then one step and one position more are refused */
    float *x2 = tu_random((size_t)2 * 13 * 4, 1.0f, 10), y[2 * 13 * 4];
    check_step_equals_seq(m, "hyena T=l_max", x2, NULL, 2, 12, 2e-5);
    rc = sl_model_forward(m, x2, NULL, y, 2, 13);
    ok(rc != 0 && strstr(sl_errmsg(), "l_max"), "a sequence longer than l_max is refused: %s", sl_errmsg());
    rc = sl_model_run_steps(m, x2, NULL, y, 2, 13);
    ok(rc != 0 && strstr(sl_errmsg(), "l_max"), "step mode past l_max is refused: %s", sl_errmsg());
    ok(m->max_len == 12, "max_len = l_max (decoders slide past it)");
    free(x2);
    sl_model_free(m);
    rc = sl_model_create("hyena:d_model=8,l_max=80,filter_order=8", 6, &m);
    if (rc) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    float *x3 = tu_random((size_t)3 * 70 * 8, 1.0f, 11);
    check_step_equals_seq(m, "hyena T=70", x3, NULL, 3, 70, 2e-5);
    free(x3);
    sl_model_free(m);
}

static void test_lm(void)
{
    tu_check_lm(&(tu_lm_case){
        .spec = "lm:mixer=hyena,d_model=4,n_layer=2,l_max=8,filter_order=4,num_inner_mlps=1,vocab_size=7",
        .names = {"backbone.layers.1.mixer.filter_fn.implicit_filter.1.freq", "backbone.layers.0.mixer.short_filter.weight"},
        .B = 2,
        .T = 8,
        .mul = 5,
        .add = 1,
        .step_tol = 1e-4,
        .h = 2e-3,
        .tol = 3e-2});
}

static void test_errors(void)
{
    tu_refused("hyena:d_model=8,emb_dim=4", "emb_dim", "even emb_dim");
    tu_refused("hyena:d_model=8,l_max=0", "l_max", "l_max=0");
    tu_refused("hyena:d_model=8,target=1.5", "target", "target outside (0, 1)");
    tu_refused("hyena:d_model=8,filter_ordr=4", "filter_order", "unknown key, nearest suggested");
}

int main(void)
{
    sl_threads_set(1);
    test_names();
    test_fft_vs_naive();
    test_model();
    test_lm();
    test_errors();
    check_fixture("hyena:d_model=6,l_max=16,filter_order=8,emb_dim=5,num_inner_mlps=1", "hyena", 1e-5, 1e-5);
    {
        /* delay by 4: the implicit long filter must put its weight on lag 4 */
        double first = 0, last = learn_delay("seq:mixer=hyena,d_model=16,n_layer=1,d_input=1,d_output=1,l_max=32,filter_order=16",
                                             300, &first);
        ok(last < 0.1 * first, "hyena learns a delay of 4: MSE %.4f -> %.4f", first, last);
    }
    return done_testing();
}
