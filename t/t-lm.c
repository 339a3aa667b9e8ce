/* t/t-lm.c — the LM / seq wrapper, tested with a small mixer defined here (a causal
 * "previous + current" linear mixer with step mode), so the wrapper is proven on its own:
 * gradient checks in token and real mode, step == sequence, projection when the mixer's
 * output width differs, parameter names. */
#include "core/error.h"
#include "seq/layers.h"
#include "seq/lm.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <stdlib.h>
#include <string.h>

/* y_t = W0 x_t + W1 x_{t-1} : (Dout, Din) each */
typedef struct {
    sl_model base;
    int iw0, iw1;
    const float *x;
    int B, T;
} mix_t;
typedef struct {
    float *prev;
    int B;
} mix_state;

static int mix_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    mix_t *k = (mix_t *)m;
    k->x = x;
    k->B = B;
    k->T = T;
    const int Di = m->d_in, Do = m->d_out;
    const float *w0 = sl_params_data(m->P, k->iw0), *w1 = sl_params_data(m->P, k->iw1);
    sl_linear_forward(y, x, w0, NULL, B * T, Di, Do);
    for (int b = 0; b < B; b++)
        for (int t = 1; t < T; t++)
            for (int o = 0; o < Do; o++)
                for (int i = 0; i < Di; i++)
                    y[((size_t)b * T + t) * Do + o] += w1[o * Di + i] * x[((size_t)b * T + t - 1) * Di + i];
    return 0;
}

static int mix_backward(sl_model *m, const float *dy, float *dx)
{
    mix_t *k = (mix_t *)m;
    const int Di = m->d_in, Do = m->d_out, B = k->B, T = k->T;
    const float *w0 = sl_params_data(m->P, k->iw0), *w1 = sl_params_data(m->P, k->iw1);
    float *g0 = sl_params_grad(m->P, k->iw0), *g1 = sl_params_grad(m->P, k->iw1);
    sl_linear_backward(dx, g0, NULL, dy, k->x, w0, B * T, Di, Do);
    for (int b = 0; b < B; b++)
        for (int t = 1; t < T; t++)
            for (int o = 0; o < Do; o++) {
                float d = dy[((size_t)b * T + t) * Do + o];
                for (int i = 0; i < Di; i++) {
                    g1[o * Di + i] += d * k->x[((size_t)b * T + t - 1) * Di + i];
                    if (dx) dx[((size_t)b * T + t - 1) * Di + i] += d * w1[o * Di + i];
                }
            }
    return 0;
}

static void *mix_state_new(sl_model *m, int B)
{
    mix_state *s = calloc(1, sizeof *s);
    s->prev = calloc((size_t)B * m->d_in, sizeof(float));
    s->B = B;
    return s;
}
static void mix_state_free(sl_model *m, void *st)
{
    mix_state *s = st;
    free(s->prev);
    free(s);
}
static int mix_state_reset(sl_model *m, void *st)
{
    mix_state *s = st;
    memset(s->prev, 0, (size_t)s->B * m->d_in * 4);
    return 0;
}
static int mix_step(sl_model *m, void *st, const float *x, const int32_t *tok, float *y)
{
    mix_t *k = (mix_t *)m;
    mix_state *s = st;
    sl_linear_forward(y, x, sl_params_data(m->P, k->iw0), NULL, s->B, m->d_in, m->d_out);
    float *tmp = malloc((size_t)s->B * m->d_out * 4);
    sl_linear_forward(tmp, s->prev, sl_params_data(m->P, k->iw1), NULL, s->B, m->d_in, m->d_out);
    for (int i = 0; i < s->B * m->d_out; i++) y[i] += tmp[i];
    free(tmp);
    memcpy(s->prev, x, (size_t)s->B * m->d_in * 4);
    return 0;
}
static int mix_init(sl_model *m, sl_rng *rng)
{
    mix_t *k = (mix_t *)m;
    sl_rng_fill_normal(rng, sl_params_data(m->P, k->iw0), (size_t)m->d_in * m->d_out, 0.4f);
    sl_rng_fill_normal(rng, sl_params_data(m->P, k->iw1), (size_t)m->d_in * m->d_out, 0.4f);
    return 0;
}
static void mix_destroy(sl_model *m) { free(m); }
static const sl_model_vt mix_vt = {"testmix",     mix_destroy,    mix_init,        mix_forward, mix_backward,
                                   mix_state_new, mix_state_free, mix_state_reset, mix_step,    NULL};

static sl_model *mk_mix(sl_params *P, const char *prefix, int Di, int Do)
{
    mix_t *k = calloc(1, sizeof *k);
    k->base.vt = &mix_vt;
    k->base.P = P;
    k->base.d_in = Di;
    k->base.d_out = Do;
    k->base.caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    k->iw0 = sl_params_add(P, prefix, "w0", 2, Do, Di, 0, 0);
    k->iw1 = sl_params_add(P, prefix, "w1", 2, Do, Di, 0, 0);
    return &k->base;
}

static sl_model *build(sl_lm_config *cfg, int mix_out)
{
    sl_params *P = sl_params_new();
    sl_model *mix[3];
    for (int l = 0; l < cfg->n_layer; l++) {
        char pre[64];
        snprintf(pre, sizeof pre, "backbone.layers.%d.mixer.", l);
        mix[l] = mk_mix(P, pre, cfg->d_model, l == 0 ? mix_out : cfg->d_model);
    }
    sl_model *m;
    if (sl_lm_create(cfg, mix, P, "", &m)) {
        diag("%s", sl_errmsg());
        return NULL;
    }
    m->owns_params = 1;
    sl_params_alloc(P);
    sl_rng *rng = sl_rng_alloc(5);
    sl_model_init(m, rng);
    /* perturb norm gains so their gradients are not trivially symmetric */
    for (int i = 0; i < P->n; i++)
        if (strstr(P->t[i].name, "norm"))
            for (size_t k = 0; k < P->t[i].numel; k++) P->data[P->t[i].offset + k] += 0.1f * (float)sl_rng_normal(rng, 1.0);
    /* the embedding's N(0, 0.02) init is too small for finite differences through a norm:
     * use unit scale, so the step h = 1e-2 is a small perturbation */
    int ie = sl_params_find(P, "backbone.embedding.weight");
    if (ie >= 0)
        for (size_t k = 0; k < P->t[ie].numel; k++) P->data[P->t[ie].offset + k] *= 50.0f;
    sl_rng_free(rng);
    return m;
}

int main(void)
{
    enum { B = 2, T = 5, V = 9, C = 6 };
    int32_t tok[B * T] = {1, 4, 2, 8, 0, 3, 3, 7, 5, 6};
    /* token mode, tied, RMSNorm, layer 0 projected (mixer out 4 != d_model 6) */
    sl_lm_config cfg = {.vocab_size = V, .d_model = C, .n_layer = 2, .rmsnorm = 1, .tie_embeddings = 1, .norm_eps = 1e-5f};
    sl_model *m = build(&cfg, 4);
    ok(m != NULL, "token wrapper built");
    ok(sl_params_find(m->P, "backbone.embedding.weight") >= 0 && sl_params_find(m->P, "backbone.layers.1.norm.weight") >= 0 &&
           sl_params_find(m->P, "backbone.layers.0.proj.weight") >= 0 && sl_params_find(m->P, "backbone.norm_f.weight") >= 0 &&
           sl_params_find(m->P, "lm_head.weight") < 0,
       "MambaLMHeadModel names; tied head has no lm_head.weight");
    ok((m->caps & SL_CAP_TOKEN_IN) && (m->caps & SL_CAP_STEP) && m->d_out == V, "caps and widths");
    check_model_grads(m, "lm tied rmsnorm", NULL, tok, B, T, 1e-2, 2e-2, 40);
    check_step_equals_seq(m, "lm tied rmsnorm", NULL, tok, B, T, 1e-5);
    int32_t bad[B * T] = {0};
    bad[3] = V;
    float *y = malloc(sizeof(float) * B * T * V);
    ok(sl_model_forward(m, NULL, bad, y, B, T) == SL_EINVAL && strstr(sl_errmsg(), "outside the vocabulary"),
       "out-of-vocabulary token refused");
    float xr[4] = {0};
    ok(sl_model_forward(m, xr, NULL, y, 1, 1) == SL_EINVAL, "real input refused by a token model");
    free(y);
    sl_model_free(m);

    /* untied, LayerNorm */
    cfg.tie_embeddings = 0;
    cfg.rmsnorm = 0;
    m = build(&cfg, C);
    ok(sl_params_find(m->P, "lm_head.weight") >= 0 && sl_params_find(m->P, "backbone.norm_f.bias") >= 0,
       "untied head and LayerNorm biases");
    check_model_grads(m, "lm untied layernorm", NULL, tok, B, T, 1e-2, 2e-2, 40);
    check_step_equals_seq(m, "lm untied layernorm", NULL, tok, B, T, 1e-5);
    sl_model_free(m);

    /* real mode */
    sl_lm_config rc = {.d_input = 3, .d_output = 2, .d_model = C, .n_layer = 1, .rmsnorm = 1, .norm_eps = 1e-5f};
    m = build(&rc, C);
    float *x = tu_random(B * T * 3, 1.0f, 9);
    ok(m->d_in == 3 && m->d_out == 2 && (m->caps & SL_CAP_REAL_IN), "real wrapper widths");
    check_model_grads(m, "seq real", x, NULL, B, T, 1e-2, 2e-2, 40);
    check_step_equals_seq(m, "seq real", x, NULL, B, T, 1e-5);
    free(x);
    sl_model_free(m);

    /* learned absolute positions (token and real mode): gradients, step == sequence, limits */
    cfg.tie_embeddings = 1;
    cfg.rmsnorm = 1;
    cfg.max_position_embeddings = T + 2;
    m = build(&cfg, C);
    int ip = sl_params_find(m->P, "backbone.position_embeddings.weight");
    ok(ip >= 0 && m->P->t[ip].numel == (size_t)(T + 2) * C, "position_embeddings.weight is (max_position_embeddings, d_model)");
    /* unit scale, as for the embedding, so finite differences see it */
    for (size_t k = 0; k < m->P->t[ip].numel; k++) m->P->data[m->P->t[ip].offset + k] *= 50.0f;
    check_model_grads(m, "lm learned positions", NULL, tok, B, T, 1e-2, 2e-2, 40);
    check_step_equals_seq(m, "lm learned positions", NULL, tok, B, T, 1e-5);
    {
        /* the positions matter: the same tokens shifted by one position give other outputs */
        int32_t same[2] = {3, 3};
        float y2[2 * V];
        sl_model_forward(m, NULL, same, y2, 1, 2);
        float d = 0.0f;
        for (int v = 0; v < V; v++) d += (y2[v] - y2[V + v]) * (y2[v] - y2[V + v]);
        ok(d > 1e-6f, "the same token at positions 0 and 1 gets different logits (%g)", (double)d);
        int32_t *longer = calloc((size_t)T + 3, sizeof *longer);
        float *yl = malloc(sizeof(float) * (T + 3) * V);
        ok(sl_model_forward(m, NULL, longer, yl, 1, T + 3) == SL_EINVAL && strstr(sl_errmsg(), "max_position_embeddings"),
           "a sequence longer than max_position_embeddings is refused: %s", sl_errmsg());
        free(longer);
        free(yl);
    }
    sl_model_free(m);
    rc.max_position_embeddings = T;
    m = build(&rc, C);
    x = tu_random(B * T * 3, 1.0f, 11);
    int ipr = sl_params_find(m->P, "backbone.position_embeddings.weight");
    for (size_t k = 0; ipr >= 0 && k < m->P->t[ipr].numel; k++) m->P->data[m->P->t[ipr].offset + k] *= 50.0f;
    check_model_grads(m, "seq learned positions", x, NULL, B, T, 1e-2, 2e-2, 40);
    check_step_equals_seq(m, "seq learned positions", x, NULL, B, T, 1e-5);
    free(x);
    sl_model_free(m);

    /* zero blocks is a valid (bigram-like) model */
    sl_lm_config z = {.vocab_size = V, .d_model = C, .n_layer = 0, .rmsnorm = 1, .tie_embeddings = 0, .norm_eps = 1e-5f};
    m = build(&z, C);
    check_model_grads(m, "lm n_layer=0", NULL, tok, B, T, 1e-2, 2e-2, 40);
    sl_model_free(m);
    return done_testing();
}
