/* t/t-based.c — the Based mixer (ssm/based.c): zoology parameter names, the chunked linear
 * attention against its naive double-precision reference (forward and every gradient), the
 * banded window attention against the full masked softmax, finite-difference gradients, step ==
 * sequence, chunk-size invariance, the lm: wrapper, the PyTorch fixture
 * (t/ref/make_conv_fixtures.py), spec errors and a learning test. */
#include "core/error.h"
#include "t/tap.h"
#include "t/testutil.h"
#include "t/mixer_check.h"
#include "t/fixture.h"
#include "core/util.h"
#include "ssm/based.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_names(void)
{
    sl_model *m;
    int rc = sl_model_create("based:d_model=12,feature_dim=4,num_heads=3,window_size=5", 1, &m);
    ok(rc == 0, "create based (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "proj_q.weight", 2, 12, 12, 0) && shape_is(P, "proj_k.weight", 2, 12, 12, 0) &&
           shape_is(P, "proj_v.weight", 2, 12, 12, 0) && shape_is(P, "proj_o.weight", 2, 12, 12, 0) &&
           shape_is(P, "window_attn.Wqkv.weight", 2, 36, 12, 0) && shape_is(P, "window_attn.Wqkv.bias", 1, 36, 0, 0) &&
           shape_is(P, "window_attn.out_proj.weight", 2, 12, 12, 0) && shape_is(P, "window_attn.out_proj.bias", 1, 12, 0, 0) &&
           P->n == 8,
       "zoology Based + SlidingAttn parameter names and shapes (%d tensors)", P->n);
    sl_model_free(m);
    rc = sl_model_create("based:d_model=12,feature_dim=4,num_heads=3,window_size=0", 1, &m);
    ok(rc == 0 && m->P->n == 4, "window_size=0: the four Based tensors alone");
    if (!rc) sl_model_free(m);
}

/* chunked linear attention == the direct double sums, forward and backward, with a ragged last
 * chunk and several chunks */
static void test_linattn(void)
{
    const sl_linattn_shape s = {.B = 2, .T = 37, .H = 2, .F = 3, .Dv = 5, .chunk = 8, .eps = 1e-12f};
    const size_t nq = (size_t)s.B * s.T * s.H * s.F, nv = (size_t)s.B * s.T * s.H * s.Dv;
    float *q = tu_random(nq, 0.8f, 1), *k = tu_random(nq, 0.8f, 2), *v = tu_random(nv, 1.0f, 3), *dy = tu_random(nv, 1.0f, 4);
    float *y1 = malloc(nv * 4), *y2 = malloc(nv * 4), *d1 = malloc((size_t)s.B * s.H * s.T * 4),
          *d2 = malloc((size_t)s.B * s.H * s.T * 4);
    float *g1[3] = {calloc(nq, 4), calloc(nq, 4), calloc(nv, 4)}, *g2[3] = {calloc(nq, 4), calloc(nq, 4), calloc(nv, 4)};
    int rc = sl_based_linattn_forward(y1, d1, q, k, v, &s);
    sl_based_linattn_naive_forward(y2, d2, q, k, v, &s);
    double e = rc ? INFINITY : tu_rel_diff(y1, y2, nv), ed = tu_rel_diff(d1, d2, (size_t)s.B * s.H * s.T);
    ok(e < 2e-6 && ed < 2e-6, "chunked linear attention == naive (y rel %.2e, denominators rel %.2e)", e, ed);
    rc = sl_based_linattn_backward(g1[0], g1[1], g1[2], dy, y1, d1, q, k, v, &s);
    sl_based_linattn_naive_backward(g2[0], g2[1], g2[2], dy, q, k, v, &s);
    const char *nm[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; i++) {
        e = rc ? INFINITY : tu_rel_diff(g1[i], g2[i], i < 2 ? nq : nv);
        ok(e < 1e-5, "chunked backward == naive: %s (rel %.2e)", nm[i], e);
    }
    /* one chunk holding everything and chunks of one position give the same output */
    sl_linattn_shape s1 = s, s2 = s;
    s1.chunk = 1;
    s2.chunk = 1000;
    sl_based_linattn_forward(y1, d1, q, k, v, &s1);
    sl_based_linattn_forward(y2, d2, q, k, v, &s2);
    e = tu_rel_diff(y1, y2, nv);
    ok(e < 2e-6, "chunk_size 1 == one chunk (rel %.2e)", e);
    free(q);
    free(k);
    free(v);
    free(dy);
    free(y1);
    free(y2);
    free(d1);
    free(d2);
    for (int i = 0; i < 3; i++) {
        free(g1[i]);
        free(g2[i]);
    }
}

static void test_window(void)
{
    const int B = 2, T = 20, C = 6, W = 5;
    float *qkv = tu_random((size_t)B * T * 3 * C, 1.0f, 7), *o1 = malloc((size_t)B * T * C * 4),
          *o2 = malloc((size_t)B * T * C * 4);
    float *P = malloc((size_t)B * T * W * 4);
    sl_based_window_forward(o1, P, qkv, B, T, C, W);
    sl_based_window_naive_forward(o2, qkv, B, T, C, W);
    double e = tu_rel_diff(o1, o2, (size_t)B * T * C);
    ok(e < 2e-6, "banded window attention == full masked softmax (rel %.2e)", e);
    /* a window as long as the sequence is full causal attention: differs from W = 5 */
    sl_based_window_naive_forward(o1, qkv, B, T, C, T);
    ok(tu_rel_diff(o1, o2, (size_t)B * T * C) > 1e-2, "the window mask matters (W=T differs from W=5)");
    free(qkv);
    free(o1);
    free(o2);
    free(P);
}

static void test_model(void)
{
    sl_model *m;
    int rc = sl_model_create("based:d_model=8,feature_dim=3,num_heads=2,window_size=3,chunk_size=4", 5, &m);
    if (rc) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    const int B = 2, T = 11;
    float *x = tu_random((size_t)B * T * 8, 1.0f, 9);
    check_model_grads(m, "based", x, NULL, B, T, 1e-2, 2e-2, 24);
    check_step_equals_seq(m, "based", x, NULL, B, T, 2e-5);
    free(x);
    sl_model_free(m);
    /* train_view=quadratic (the naive sums) == the chunked form, inside the model, forward and
     * every gradient */
    tu_check_pair(&(tu_pair){.spec = "based:d_model=8,feature_dim=3,num_heads=2,window_size=3,chunk_size=4",
                             .ref = "based:d_model=8,feature_dim=3,num_heads=2,window_size=3,chunk_size=4,train_view=quadratic",
                             .seed = 5,
                             .xseed = 12,
                             .dyseed = 13,
                             .B = 2,
                             .T = 19,
                             .tol_y = 2e-6,
                             .tol_dx = 1e-5,
                             .tol_g = 1e-5,
                             .what = "train_view=linear == quadratic"});
    /* long enough for the window ring buffer to wrap many times, several chunks */
    rc = sl_model_create("based:d_model=16,feature_dim=4,num_heads=2,window_size=7,chunk_size=16", 5, &m);
    if (rc) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    float *x2 = tu_random((size_t)3 * 70 * 16, 1.0f, 10);
    check_step_equals_seq(m, "based T=70", x2, NULL, 3, 70, 2e-5);
    free(x2);
    sl_model_free(m);
}

static void test_lm(void)
{
    tu_check_lm(&(tu_lm_case){
        .spec = "lm:mixer=based,d_model=8,n_layer=2,feature_dim=2,num_heads=2,window_size=3,chunk_size=3,vocab_size=7",
        .names = {"backbone.layers.1.mixer.proj_q.weight", "backbone.layers.0.mixer.window_attn.Wqkv.bias"},
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
    tu_refused("based:d_model=10,num_heads=3", "num_heads", "d_model not a multiple of num_heads");
    tu_refused("based:d_model=8,window_size=-1", "window_size", "negative window_size");
    tu_refused("based:d_model=8,feature_dm=4", "feature_dim", "unknown key, nearest suggested");
    tu_refused("based:d_model=8,chunk_size=0", "chunk_size", "chunk_size=0");
}

int main(void)
{
    sl_threads_set(1);
    test_names();
    test_linattn();
    test_window();
    test_model();
    test_lm();
    test_errors();
    check_fixture("based:d_model=8,feature_dim=3,num_heads=2,window_size=4,chunk_size=4", "based", 1e-5, 1e-5);
    {
        /* delay by 4 (t/testutil.h learn_delay) needs position: the wrapper's learned positions, read
         * by the window attention; the loss must fall far below its start */
        double first = 0, last = learn_delay("seq:mixer=based,d_model=16,n_layer=1,d_input=1,d_output=1,feature_dim=4,"
                                             "window_size=8,chunk_size=8,max_position_embeddings=32",
                                             300, &first);
        ok(last < 0.1 * first, "based learns a delay of 4: MSE %.4f -> %.4f", first, last);
    }
    return done_testing();
}
