/* t/t-gla.c — gated linear attention: the chunkwise form of ssm/linattn.c with per-channel
 * data-dependent gates == the recurrence in double (several chunk sizes), its backward (dq,
 * dk, dv and the gates' dg) == finite differences of the double recurrence, stability with
 * gates that forget almost everything; the gla layer: fla names and shapes, gradient check at
 * every coordinate, chunk == recurrent form, step == sequence, lm:mixer=gla, agreement with
 * the PyTorch reference (t/ref/make_linrnn_fixtures.py), spec errors, a learning test. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"
#include "t/mixer_check.h"
#include "t/fixture.h"
#include "core/util.h"
#include "lab/registry.h"
#include "ssm/linattn.h"
#include "t/linattn_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gates of log -30 per step and per channel: over a chunk of 64 steps the cumulative gate is
 * exp(-1920), which a chunk-start reference point (q exp(G_t), k exp(-G_s)) would overflow;
 * the log-space form stays finite and equal to the recurrence */
static void stability_test(void)
{
    prob p;
    const int B = 1, T = 130, H = 1, K = 4, V = 3;
    prob_make(&p, B, T, H, K, V, 1, 21);
    for (size_t i = 0; i < (size_t)T * K; i++) p.g[i] = i % 7 == 0 ? -0.01f : -30.0f;
    size_t nv = (size_t)B * T * H * V;
    float *o = malloc(nv * sizeof(float));
    sl_linattn_naive(p.o, &p.a);
    int rc = sl_linattn_chunk_forward(o, &p.a, 64);
    int finite = 1;
    for (size_t i = 0; i < nv; i++) finite &= isfinite(o[i]);
    double e = rc ? INFINITY : rel_err(o, p.o, nv);
    ok(finite && e < 1e-5, "gates of exp(-30) per step, chunk 64: finite and == recurrence in double (rel %.2e)", e);
    size_t nk = (size_t)B * T * H * K;
    float *dq = malloc(nk * sizeof(float)), *dk = malloc(nk * sizeof(float)), *dv = malloc(nv * sizeof(float)),
          *dg = malloc(nk * sizeof(float));
    rc = sl_linattn_chunk_backward(dq, dk, dv, dg, p.R, &p.a, 64);
    finite = rc == 0;
    for (size_t i = 0; i < nk; i++) finite &= isfinite(dq[i]) && isfinite(dk[i]) && isfinite(dg[i]);
    for (size_t i = 0; i < nv; i++) finite &= isfinite(dv[i]);
    ok(finite, "... and its backward is finite");
    free(o);
    free(dq);
    free(dk);
    free(dv);
    free(dg);
    prob_free(&p);
}

#define FIX_SPEC "gla:d_model=8,num_heads=2,expand_k=1,expand_v=1,gate_low_rank_dim=3,gate_logit_normalizer=2,chunk_size=4"

static void model_tests(void)
{
    sl_model *m;
    int rc = sl_model_create("gla:d_model=8,num_heads=2,gate_low_rank_dim=3,gate_logit_normalizer=1,chunk_size=3", 5, &m);
    ok(rc == 0, "create gla (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "q_proj.weight", 2, 4, 8, 0) && shape_is(P, "k_proj.weight", 2, 4, 8, 0) &&
           shape_is(P, "v_proj.weight", 2, 8, 8, 0) && shape_is(P, "g_proj.weight", 2, 8, 8, 0) &&
           shape_is(P, "gk_proj.0.weight", 2, 3, 8, 0) && shape_is(P, "gk_proj.1.weight", 2, 4, 3, 0) &&
           shape_is(P, "gk_proj.1.bias", 1, 4, 0, 0) && shape_is(P, "o_proj.weight", 2, 8, 8, 0) &&
           shape_is(P, "g_norm.weight", 1, 4, 0, 0) && P->n == 9,
       "fla GatedLinearAttention names and shapes, expand_k 0.5 (%d tensors)", P->n);
    const int B = 2, T = 7, D = 8;
    float *x = tu_random((size_t)B * T * D, 1.0f, 3);
    /* random gate biases and norm weights so every term matters */
    sl_rng *r = sl_rng_alloc(8);
    sl_rng_fill_uniform(r, sl_params_data(P, sl_params_find(P, "gk_proj.1.bias")), 4, -3, 3);
    sl_rng_fill_uniform(r, sl_params_data(P, sl_params_find(P, "g_norm.weight")), 4, 0.5f, 1.5f);
    sl_rng_free(r);
    check_model_grads(m, "gla", x, NULL, B, T, 1e-3, 2e-2, 24);
    check_step_equals_seq(m, "gla", x, NULL, B, T, 1e-5);
    free(x);
    sl_model_free(m);

    /* chunkwise (several chunk sizes) == recurrent form inside the layer */
    const char *specs[] = {"gla:d_model=12,num_heads=3,expand_k=1,gate_logit_normalizer=1,mode=recurrent",
                           "gla:d_model=12,num_heads=3,expand_k=1,gate_logit_normalizer=1,chunk_size=16",
                           "gla:d_model=12,num_heads=3,expand_k=1,gate_logit_normalizer=1,chunk_size=5",
                           "gla:d_model=12,num_heads=3,expand_k=1,gate_logit_normalizer=1,chunk_size=1000"};
    const char *forms[] = {"recurrent", "chunk_size=16", "chunk_size=5", "chunk_size=1000"};
    const int T2 = 57, B2 = 2;
    float *x2 = tu_random((size_t)B2 * T2 * 12, 1.0f, 4), *y[4];
    for (int i = 0; i < 4; i++) {
        y[i] = malloc((size_t)B2 * T2 * 12 * sizeof(float));
        sl_model *mi;
        rc = sl_model_create(specs[i], 5, &mi);
        if (rc || sl_model_forward(mi, x2, NULL, y[i], B2, T2)) {
            ok(0, "%s: %s", specs[i], sl_errmsg());
            continue;
        }
        if (i == 1) {
            check_step_equals_seq(mi, "gla T=57", x2, NULL, B2, T2, 1e-5);
            check_model_grads(mi, "gla T=57, 4 chunks", x2, NULL, B2, T2, 1e-3, 2e-2, 12);
        }
        sl_model_free(mi);
    }
    for (int i = 1; i < 4; i++) {
        double d = max_abs_diff(y[0], y[i], (size_t)B2 * T2 * 12);
        ok(d < 1e-5, "gla: %s == recurrent form (max abs %.2e)", forms[i], d);
    }
    for (int i = 0; i < 4; i++) free(y[i]);
    free(x2);
}

static void lm_tests(void)
{
    tu_check_lm(
        &(tu_lm_case){.spec = "lm:mixer=gla,d_model=8,num_heads=2,n_layer=2,vocab_size=11,chunk_size=4,gate_low_rank_dim=4",
                      .names = {"backbone.layers.1.mixer.gk_proj.1.bias"},
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
    tu_refused("gla:d_model=10,num_heads=4,expand_k=1", "num_heads", "key_dim not divisible by num_heads");
    tu_refused("gla:d_model=8,num_heads=4,expand_v=0.75", "value_dim", "value_dim not divisible by num_heads");
    tu_refused("gla:d_model=8,mode=chunked", "mode", "unknown mode");
    tu_refused("gla:d_model=8,hidden_size=8", "hidden_size", "unknown key");
    tu_refused("gla:d_model=8,gate_logit_normalizer=0", "gate_logit_normalizer", "gate_logit_normalizer=0");
}

int main(void)
{
    sl_threads_set(1);
    core_tests(1, "GLA core");
    stability_test();
    model_tests();
    check_fixture(FIX_SPEC, "gla", 1e-4, 1e-4);
    lm_tests();
    error_tests();
    {
        /* induction heads: content-based recall through the gated state; chance 1/8 */
        double first = 0, last = 0;
        double acc = learn_task("lm:mixer=gla,d_model=32,n_layer=2,num_heads=2", "induction:seq_len=16,vocab_size=8", 600, 16,
                                3e-3f, &first, &last);
        ok(acc >= 0.9, "lm:mixer=gla learns induction heads: accuracy %.3f (loss %.3f -> %.3f in 600 AdamW steps, chance 0.125)",
           acc, first, last);
    }
    sl_threads_set(2);
    {
        prob p;
        prob_make(&p, 2, 200, 4, 8, 8, 1, 5);
        size_t nv = (size_t)2 * 200 * 4 * 8;
        float *o = malloc(nv * sizeof(float));
        sl_linattn_naive(p.o, &p.a);
        int rc = sl_linattn_chunk_forward(o, &p.a, 16);
        double e = rc ? INFINITY : rel_err(o, p.o, nv);
        ok(e < 2e-6, "GLA core on 2 threads (B=2 T=200 H=4 K=V=8) == recurrence in double (rel %.2e)", e);
        free(o);
        prob_free(&p);
    }
    return done_testing();
}
