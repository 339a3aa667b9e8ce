/* t/t-rwkv.c — RWKV-4: the safe-form WKV recurrence == its definition summed in double (also
 * with k up to 60, where e^k overflows float), its backward == finite differences of the
 * double definition; the rwkv layer: RWKV-LM names and shapes, init, gradient check at every
 * coordinate, step == sequence, lm:mixer=rwkv, agreement with the PyTorch reference
 * (t/ref/make_linrnn_fixtures.py), spec errors, a learning test. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"
#include "t/mixer_check.h"
#include "t/fixture.h"
#include "core/util.h"
#include "lab/registry.h"
#include "ssm/rwkv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, T, C;
    float *k, *v, *w, *u, *R;
    double *y;
} wprob;

static double wkv_loss(void *ctx)
{
    wprob *p = ctx;
    const sl_rwkv_wkv_in in = {p->k, p->v, p->w, p->u, p->B, p->T, p->C};
    sl_rwkv_wkv_naive(p->y, &in);
    double s = 0;
    for (size_t i = 0; i < (size_t)p->B * p->T * p->C; i++) s += p->y[i] * p->R[i];
    return s;
}

static void wkv_tests(float kscale, const char *label)
{
    wprob p = {2, 23, 3};
    const size_t n = (size_t)p.B * p.T * p.C;
    sl_rng *r = sl_rng_alloc(4);
    p.k = malloc(n * sizeof(float));
    p.v = malloc(n * sizeof(float));
    p.R = malloc(n * sizeof(float));
    p.w = malloc(3 * sizeof(float));
    p.u = malloc(3 * sizeof(float));
    p.y = malloc(n * sizeof(double));
    sl_rng_fill_normal(r, p.k, n, kscale);
    sl_rng_fill_normal(r, p.v, n, 1.0f);
    sl_rng_fill_normal(r, p.R, n, 1.0f);
    const float w[3] = {-0.05f, -0.7f, -3.0f}, u[3] = {0.5f, -1.2f, 0.0f};
    memcpy(p.w, w, sizeof w);
    memcpy(p.u, u, sizeof u);
    float *y = malloc(n * sizeof(float)), *st = malloc((size_t)p.B * (p.T + 1) * p.C * 3 * sizeof(float));
    const sl_rwkv_wkv_in in = {p.k, p.v, p.w, p.u, p.B, p.T, p.C};
    sl_rwkv_wkv_forward(y, st, &in);
    sl_rwkv_wkv_naive(p.y, &in);
    double e = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(y[i] - p.y[i]));
        finite &= isfinite(y[i]);
    }
    ok(finite && e < 2e-6, "%s: WKV in the safe form == its definition in double (max abs %.2e)", label, e);
    float *dk = malloc(n * sizeof(float)), *dv = malloc(n * sizeof(float)), dw[3] = {0}, du[3] = {0};
    float *dyf = malloc(n * sizeof(float));
    memcpy(dyf, p.R, n * sizeof(float));
    sl_rwkv_wkv_backward(dk, dv, dw, du, dyf, y, st, &in);
    struct {
        const char *nm;
        float *x, *g;
        size_t len;
    } ts[] = {{"k", p.k, dk, n}, {"v", p.v, dv, n}, {"w", p.w, dw, 3}, {"u", p.u, du, 3}};
    for (int i = 0; i < 4; i++) {
        sl_gradcheck_result res;
        int rc = sl_gradcheck(ts[i].x, ts[i].g, ts[i].len, wkv_loss, &p, 1e-2, 0, 1e-3, &res);
        ok(rc == 0 && res.max_rel < 1e-3, "%s: WKV d%s == finite differences of the double definition, all %zu (max rel %.2e)",
           label, ts[i].nm, res.checked, res.max_rel);
    }
    free(y);
    free(st);
    free(dk);
    free(dv);
    free(dyf);
    free(p.k);
    free(p.v);
    free(p.R);
    free(p.w);
    free(p.u);
    free(p.y);
    sl_rng_free(r);
}

static void model_tests(void)
{
    sl_model *m;
    int rc = sl_model_create("rwkv:d_model=4,dim_ffn=6", 5, &m);
    ok(rc == 0, "create rwkv (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "att.time_decay", 1, 4, 0, 0) && shape_is(P, "att.time_first", 1, 4, 0, 0) &&
           shape_is(P, "att.time_mix_k", 3, 1, 1, 4) && shape_is(P, "att.time_mix_v", 3, 1, 1, 4) &&
           shape_is(P, "att.time_mix_r", 3, 1, 1, 4) && shape_is(P, "att.key.weight", 2, 4, 4, 0) &&
           shape_is(P, "att.value.weight", 2, 4, 4, 0) && shape_is(P, "att.receptance.weight", 2, 4, 4, 0) &&
           shape_is(P, "att.output.weight", 2, 4, 4, 0) && shape_is(P, "ln2.weight", 1, 4, 0, 0) &&
           shape_is(P, "ln2.bias", 1, 4, 0, 0) && shape_is(P, "ffn.time_mix_k", 3, 1, 1, 4) &&
           shape_is(P, "ffn.time_mix_r", 3, 1, 1, 4) && shape_is(P, "ffn.key.weight", 2, 6, 4, 0) &&
           shape_is(P, "ffn.receptance.weight", 2, 4, 4, 0) && shape_is(P, "ffn.value.weight", 2, 4, 6, 0) && P->n == 16,
       "RWKV-LM (v4) names and shapes (%d tensors)", P->n);
    const float *td = sl_params_data(P, sl_params_find(P, "att.time_decay"));
    ok(fabsf(td[0] + 5.0f) < 1e-6f && fabsf(td[3] - 3.0f) < 1e-5f, "init: time_decay from -5 to 3 across channels (%g .. %g)",
       td[0], td[3]);
    const int B = 2, T = 7, C = 4;
    float *x = tu_random((size_t)B * T * C, 1.0f, 3);
    /* mixes away from 0/1 so both the token and its predecessor count */
    sl_rng *r = sl_rng_alloc(6);
    const char *mixes[] = {"att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "ffn.time_mix_k", "ffn.time_mix_r", "ln2.bias"};
    for (int i = 0; i < 6; i++) sl_rng_fill_uniform(r, sl_params_data(P, sl_params_find(P, mixes[i])), 4, 0.2f, 0.8f);
    sl_rng_free(r);
    check_model_grads(m, "rwkv", x, NULL, B, T, 1e-2, 2e-2, 24);
    check_step_equals_seq(m, "rwkv", x, NULL, B, T, 1e-5);
    free(x);
    sl_model_free(m);
}

static void lm_tests(void)
{
    tu_check_lm(&(tu_lm_case){.spec = "lm:mixer=rwkv,d_model=8,n_layer=2,vocab_size=11",
                              .names = {"backbone.layers.1.mixer.att.time_first", "backbone.layers.0.mixer.ffn.value.weight"},
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
    tu_refused("rwkv:d_model=8,layer_id=2,n_layer=2", "layer_id", "layer_id >= n_layer");
    tu_refused("rwkv:d_model=8,n_embd=8", "n_embd", "unknown key");
    tu_refused("rwkv:d_model=8,dim_ffn=-1", "dim_ffn", "dim_ffn=-1");
}

int main(void)
{
    sl_threads_set(1);
    wkv_tests(1.0f, "k ~ N(0, 1)");
    wkv_tests(30.0f, "k ~ N(0, 30^2) (e^k beyond float)");
    model_tests();
    check_fixture("rwkv:d_model=6,dim_ffn=10", "rwkv", 1e-4, 1e-4);
    lm_tests();
    error_tests();
    {
        double first = 0, last = learn_delay("seq:mixer=rwkv,d_model=16,n_layer=1,d_input=1,d_output=1", 150, &first);
        ok(last < 0.1 && last < 0.1 * first, "rwkv learns y_t = x_{t-4}: MSE %.3g -> %.3g in 150 AdamW steps", first, last);
    }
    return done_testing();
}
