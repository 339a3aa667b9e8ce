/* t/t-layers.c — finite-difference gradient checks for every shared layer, and the losses
 * against direct computation. Loss = sum(out * R) for a fixed random R, so dout = R. */
#include "core/error.h"
#include "core/gradcheck.h"
#include "core/rng.h"
#include "seq/layers.h"
#include "t/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 6, C = 5, OC = 4, B = 2, T = 5, K = 3, V = 7 };

typedef struct {
    int kind;
    sl_act act;
    float *x, *w, *b, *out, *R, *s1, *s2;
    int32_t *tok;
} ctx_t;

enum { LINEAR, LAYERNORM, LAYERNORM_NOBIAS, RMSNORM, ACT, GLU, CONV, EMBED };

static size_t out_size(int kind)
{
    switch (kind) {
    case LINEAR: return N * OC;
    case GLU: return N * C;
    case CONV: return B * T * C;
    default: return N * C;
    }
}

static double loss(void *p)
{
    ctx_t *c = p;
    switch (c->kind) {
    case LINEAR: sl_linear_forward(c->out, c->x, c->w, c->b, N, C, OC); break;
    case LAYERNORM: sl_layernorm_forward(c->out, c->s1, c->s2, c->x, c->w, c->b, N, C, 1e-5f); break;
    case LAYERNORM_NOBIAS: sl_layernorm_forward(c->out, c->s1, c->s2, c->x, c->w, NULL, N, C, 1e-5f); break;
    case RMSNORM: sl_rmsnorm_forward(c->out, c->s1, c->x, c->w, N, C, 1e-5f); break;
    case ACT: sl_act_forward(c->act, c->out, c->x, N * C); break;
    case GLU: sl_glu_forward(c->out, c->x, N, C); break;
    case CONV: sl_conv1d_causal_forward(c->out, c->x, c->w, c->b, B, T, C, K); break;
    case EMBED: sl_embedding_forward(c->out, c->tok, c->w, N, C); break;
    }
    double s = 0;
    for (size_t i = 0; i < out_size(c->kind); i++) s += (double)c->out[i] * c->R[i];
    return s;
}

static void backward(ctx_t *c, float *dx, float *dw, float *db)
{
    loss(c);
    switch (c->kind) {
    case LINEAR: sl_linear_backward(dx, dw, db, c->R, c->x, c->w, N, C, OC); break;
    case LAYERNORM: sl_layernorm_backward(dx, dw, db, c->R, c->x, c->w, c->s1, c->s2, N, C); break;
    case LAYERNORM_NOBIAS: sl_layernorm_backward(dx, dw, NULL, c->R, c->x, c->w, c->s1, c->s2, N, C); break;
    case RMSNORM: sl_rmsnorm_backward(dx, dw, c->R, c->x, c->w, c->s1, N, C); break;
    case ACT: sl_act_backward(c->act, dx, c->R, c->x, N * C); break;
    case GLU: sl_glu_backward(dx, c->R, c->x, N, C); break;
    case CONV: sl_conv1d_causal_backward(dx, dw, db, c->R, c->x, c->w, B, T, C, K); break;
    case EMBED: sl_embedding_backward(dw, c->R, c->tok, N, C); break;
    }
}

static void check(ctx_t *c, const char *name, size_t nx, size_t nw, size_t nb)
{
    float *dx = calloc(nx + 1, 4), *dw = calloc(nw + 1, 4), *db = calloc(nb + 1, 4);
    backward(c, nx ? dx : NULL, nw ? dw : NULL, nb ? db : NULL);
    sl_gradcheck_result r;
    struct { const char *what; float *v, *g; size_t n; } parts[] = {{"input", c->x, dx, nx}, {"weight", c->w, dw, nw}, {"bias", c->b, db, nb}};
    for (int i = 0; i < 3; i++) {
        if (!parts[i].n) continue;
        int rc = sl_gradcheck(parts[i].v, parts[i].g, parts[i].n, loss, c, 1e-2, 0, 1e-3, &r);
        ok(rc == 0 && r.max_rel < 2e-2, "%s: d/d%s (max rel %.2e over %zu)", name, parts[i].what, r.max_rel, r.checked);
    }
    free(dx); free(dw); free(db);
}

int main(void)
{
    sl_rng *rng = sl_rng_alloc(3);
    ctx_t c = {0};
    c.x = malloc(4 * 256); c.w = malloc(4 * 256); c.b = malloc(4 * 64); c.out = malloc(4 * 256);
    c.R = malloc(4 * 256); c.s1 = malloc(4 * 64); c.s2 = malloc(4 * 64);
    sl_rng_fill_normal(rng, c.x, 256, 1.0f);
    sl_rng_fill_normal(rng, c.w, 256, 0.5f);
    sl_rng_fill_normal(rng, c.b, 64, 0.5f);
    sl_rng_fill_normal(rng, c.R, 256, 1.0f);

    c.kind = LINEAR; check(&c, "linear", N * C, OC * C, OC);
    c.kind = LAYERNORM; check(&c, "layernorm", N * C, C, C);
    c.kind = LAYERNORM_NOBIAS; check(&c, "layernorm (no bias)", N * C, C, 0);
    c.kind = RMSNORM; check(&c, "rmsnorm", N * C, C, 0);
    const char *acts[] = {"tanh", "relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus"};
    for (int i = 0; i < 7; i++) {
        c.kind = ACT;
        sl_act_from_name(acts[i], &c.act);
        if (c.act == SL_ACT_RELU) /* keep inputs away from the kink */
            for (int k = 0; k < N * C; k++) if (fabsf(c.x[k]) < 0.05f) c.x[k] = 0.3f;
        check(&c, acts[i], N * C, 0, 0);
    }
    sl_act a;
    ok(sl_act_from_name("swish", &a) == SL_EINVAL, "unknown activation name is an error");
    c.kind = GLU; check(&c, "glu", N * 2 * C, 0, 0);
    c.kind = CONV; check(&c, "causal conv1d", B * T * C, C * K, C);
    /* causality: changing a later input leaves earlier outputs alone */
    float *o1 = malloc(4 * 256);
    sl_conv1d_causal_forward(o1, c.x, c.w, c.b, B, T, C, K);
    c.x[(0 * T + 3) * C + 1] += 1.0f;
    sl_conv1d_causal_forward(c.out, c.x, c.w, c.b, B, T, C, K);
    int causal = 1;
    for (int t = 0; t < 3; t++) for (int ch = 0; ch < C; ch++) causal &= o1[t * C + ch] == c.out[t * C + ch];
    ok(causal && o1[3 * C + 1] != c.out[3 * C + 1], "conv1d is causal");
    free(o1);
    int32_t tok[N] = {0, 3, 3, 6, 1, 2};
    c.tok = tok;
    c.kind = EMBED; check(&c, "embedding", 0, V * C, 0);

    /* cross-entropy against direct log-softmax, ignore index, gradient */
    float logits[3 * V], probs[3 * V], dl[3 * V];
    sl_rng_fill_normal(rng, logits, 3 * V, 2.0f);
    int32_t tg[3] = {2, -1, 6};
    int cnt;
    double L = sl_xent_forward(probs, logits, tg, 3, V, &cnt);
    double want = 0;
    for (int n = 0; n < 3; n += 2) {
        double z = 0;
        for (int v = 0; v < V; v++) z += exp(logits[n * V + v]);
        want += -(logits[n * V + tg[n]] - log(z));
    }
    ok(cnt == 2, "xent counts only targets >= 0");
    is_close(L, want / 2, 1e-5, "xent equals mean -log softmax");
    memset(dl, 0, sizeof dl);
    sl_xent_backward(dl, probs, tg, 3, V, 0.5f);
    double fd = 0;
    {
        float save = logits[0 * V + 4];
        logits[4] = save + 1e-2f;
        double lp = sl_xent_forward(probs, logits, tg, 3, V, NULL);
        logits[4] = save - 1e-2f;
        double lm = sl_xent_forward(probs, logits, tg, 3, V, NULL);
        logits[4] = save;
        fd = (lp - lm) / 2e-2;
    }
    is_close(dl[4], fd, 1e-3, "xent gradient matches finite difference");
    int zero_row = 1;
    for (int v = 0; v < V; v++) zero_row &= dl[V + v] == 0.0f;
    ok(zero_row, "ignored rows get no gradient");

    /* masked MSE */
    float y[4] = {1, 2, 3, 4}, t4[4] = {0, 2, 5, 4}, mask[2] = {1, 0}, dy[4] = {0};
    double wsum;
    double mse = sl_mse_forward(y, t4, mask, 2, 2, &wsum);
    is_close(mse, 0.5, 1e-12, "masked mse");
    sl_mse_backward(dy, y, t4, mask, 2, 2, (float)(1.0 / wsum));
    ok(dy[0] == 1.0f && dy[2] == 0.0f, "mse gradient respects the mask");

    /* dropout: p = 0 is identity; p = 0.5 scales kept values by 2 */
    float din[100], dout[100], dmask[100];
    for (int i = 0; i < 100; i++) din[i] = 1.0f;
    sl_dropout_forward(dout, dmask, din, 100, 0.5f, rng);
    int okd = 1, kept = 0;
    for (int i = 0; i < 100; i++) { okd &= dout[i] == 0.0f || dout[i] == 2.0f; kept += dout[i] != 0.0f; }
    ok(okd && kept > 25 && kept < 75, "dropout keeps ~half, scaled by 1/(1-p) (%d kept)", kept);

    /* softmax rows sum to one, stable for large logits */
    float sm[6] = {1000, 1001, 1002, -5, 0, 5};
    sl_softmax_rows(sm, 2, 3);
    is_close(sm[0] + sm[1] + sm[2], 1.0, 1e-6, "softmax row sums to 1 with large logits");
    sl_rng_free(rng);
    free(c.x); free(c.w); free(c.b); free(c.out); free(c.R); free(c.s1); free(c.s2);
    return done_testing();
}
