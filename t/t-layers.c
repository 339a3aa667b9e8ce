/* t/t-layers.c — every shared layer's forward against an independent value computed here in
 * double from its closed form (the torch definition: nn.Linear, LayerNorm, RMSNorm, the
 * activations, GLU, a depthwise causal Conv1d, Embedding, softmax, dropout), finite-difference
 * gradient checks of every backward, and the losses against direct computation.
 * Loss = sum(out * R) for a fixed random R, so dout = R. */
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
    struct {
        const char *what;
        float *v, *g;
        size_t n;
    } parts[] = {{"input", c->x, dx, nx}, {"weight", c->w, dw, nw}, {"bias", c->b, db, nb}};
    for (int i = 0; i < 3; i++) {
        if (!parts[i].n) continue;
        int rc = sl_gradcheck(parts[i].v, parts[i].g, parts[i].n, loss, c, 1e-2, 0, 1e-3, &r);
        ok(rc == 0 && r.max_rel < 2e-2, "%s: d/d%s (max rel %.2e over %zu)", name, parts[i].what, r.max_rel, r.checked);
    }
    free(dx);
    free(dw);
    free(db);
}

static double maxdiff(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= m) && !isnan(m)) m = d;
    }
    return m;
}

/* closed forms in double (torch's definitions) */
static double act_ref(sl_act a, double x)
{
    switch (a) {
    case SL_ACT_IDENTITY: return x;
    case SL_ACT_TANH: return tanh(x);
    case SL_ACT_RELU: return x > 0 ? x : 0;
    case SL_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case SL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case SL_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case SL_ACT_SILU: return x / (1 + exp(-x));
    case SL_ACT_SOFTPLUS: return x > 20 ? x : log1p(exp(x));
    }
    return NAN;
}

static double dact_ref(sl_act a, double x)
{
    double s = 1 / (1 + exp(-x)), u, th;
    switch (a) {
    case SL_ACT_IDENTITY: return 1;
    case SL_ACT_TANH: return 1 - tanh(x) * tanh(x);
    case SL_ACT_RELU: return x > 0;
    case SL_ACT_SIGMOID: return s * (1 - s);
    case SL_ACT_GELU: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-x * x / 2) / sqrt(2 * M_PI);
    case SL_ACT_GELU_TANH:
        u = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
        th = tanh(u);
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * sqrt(2 / M_PI) * (1 + 3 * 0.044715 * x * x);
    case SL_ACT_SILU: return s * (1 + x * (1 - s));
    case SL_ACT_SOFTPLUS: return x > 20 ? 1 : s;
    }
    return NAN;
}

/* every forward against its closed form in double */
static void forward_refs(ctx_t *c)
{
    double ref[256];
    float out[256];
    const float eps = 1e-5f;
    sl_linear_forward(out, c->x, c->w, c->b, N, C, OC);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = c->b[o];
            for (int k = 0; k < C; k++) s += (double)c->x[n * C + k] * c->w[o * C + k];
            ref[n * OC + o] = s;
        }
    ok(maxdiff(out, ref, N * OC) < 1e-5, "linear forward == x W^T + b (max abs %.2e)", maxdiff(out, ref, N * OC));
    for (int variant = 0; variant < 3; variant++) {
        float mean[N], rstd[N];
        if (variant == 0) sl_layernorm_forward(out, mean, rstd, c->x, c->w, c->b, N, C, eps);
        if (variant == 1) sl_layernorm_forward(out, mean, rstd, c->x, c->w, NULL, N, C, eps);
        if (variant == 2) sl_rmsnorm_forward(out, rstd, c->x, c->w, N, C, eps);
        for (int n = 0; n < N; n++) {
            double m = 0, v = 0, ms = 0;
            for (int k = 0; k < C; k++) {
                m += c->x[n * C + k];
                ms += (double)c->x[n * C + k] * c->x[n * C + k];
            }
            m /= C;
            for (int k = 0; k < C; k++) v += (c->x[n * C + k] - m) * (c->x[n * C + k] - m);
            v /= C; /* biased variance, as torch.nn.LayerNorm */
            for (int k = 0; k < C; k++) {
                double xv = c->x[n * C + k];
                ref[n * C + k] = variant == 2 ? xv / sqrt(ms / C + eps) * c->w[k]
                                              : (xv - m) / sqrt(v + eps) * c->w[k] + (variant == 0 ? c->b[k] : 0);
            }
        }
        const char *nm[] = {"layernorm", "layernorm (no bias)", "rmsnorm"};
        ok(maxdiff(out, ref, N * C) < 1e-5, "%s forward == closed form (max abs %.2e)", nm[variant], maxdiff(out, ref, N * C));
    }
    /* activations on a grid over [-6, 6] plus the softplus threshold region */
    enum { NA = 131 };
    float xs[NA], ya[NA];
    double ra[NA];
    for (int i = 0; i < NA; i++) xs[i] = i < 121 ? -6.0f + 0.1f * i : 15.0f + i - 121;
    const sl_act acts[] = {SL_ACT_IDENTITY, SL_ACT_TANH,      SL_ACT_RELU, SL_ACT_SIGMOID,
                           SL_ACT_GELU,     SL_ACT_GELU_TANH, SL_ACT_SILU, SL_ACT_SOFTPLUS};
    const char *an[] = {"identity", "tanh", "relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus"};
    for (int a = 0; a < 8; a++) {
        sl_act_forward(acts[a], ya, xs, NA);
        double e = 0, e1 = 0, ed = 0;
        for (int i = 0; i < NA; i++) {
            ra[i] = act_ref(acts[a], xs[i]);
            e = fmax(e, fabs(ya[i] - ra[i]) / fmax(1, fabs(ra[i])));
            e1 = fmax(e1, fabs(sl_act1(acts[a], xs[i]) - ra[i]) / fmax(1, fabs(ra[i])));
            if (acts[a] == SL_ACT_RELU && xs[i] == 0) continue;
            ed = fmax(ed, fabs(sl_dact1(acts[a], xs[i]) - dact_ref(acts[a], xs[i])));
        }
        ok(e < 2e-6 && e1 < 2e-6 && ed < 2e-6,
           "%s: sl_act_forward, sl_act1 and sl_dact1 == closed form in double (%.1e, %.1e, %.1e)", an[a], e, e1, ed);
    }
    /* GLU (torch.nn.functional.glu on the last dim): first half * sigmoid(second half) */
    sl_glu_forward(out, c->x, N, C);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++) ref[n * C + k] = c->x[n * 2 * C + k] / (1 + exp(-(double)c->x[n * 2 * C + C + k]));
    ok(maxdiff(out, ref, N * C) < 1e-6, "glu forward == a * sigmoid(b) (max abs %.2e)", maxdiff(out, ref, N * C));
    /* depthwise causal conv1d: torch Conv1d(C, C, K, groups=C, padding=K-1)[..., :T] */
    sl_conv1d_causal_forward(out, c->x, c->w, c->b, B, T, C, K);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int ch = 0; ch < C; ch++) {
                double s = c->b[ch];
                for (int k = 0; k < K; k++) {
                    int tt = t - (K - 1) + k;
                    if (tt >= 0) s += (double)c->w[ch * K + k] * c->x[(b * T + tt) * C + ch];
                }
                ref[(b * T + t) * C + ch] = s;
            }
    ok(maxdiff(out, ref, B * T * C) < 1e-5, "causal conv1d forward == direct sum (max abs %.2e)", maxdiff(out, ref, B * T * C));
    int32_t tk[N] = {6, 0, 3, 3, 1, 5};
    sl_embedding_forward(out, tk, c->w, N, C);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++) ref[n * C + k] = c->w[tk[n] * C + k];
    ok(maxdiff(out, ref, N * C) == 0, "embedding forward copies row tok of the table");
    /* softmax rows against exp(x - max) / sum */
    float sm[12] = {1000, 1001, 1002, -5, 0, 5, 0.3f, -1.2f, 2.5f, 0.0f, 0.0f, 0.0f};
    for (int r = 0; r < 4; r++) {
        double mx = -INFINITY, z = 0;
        for (int k = 0; k < 3; k++) mx = fmax(mx, sm[r * 3 + k]);
        for (int k = 0; k < 3; k++) z += exp(sm[r * 3 + k] - mx);
        for (int k = 0; k < 3; k++) ref[r * 3 + k] = exp(sm[r * 3 + k] - mx) / z;
    }
    sl_softmax_rows(sm, 4, 3);
    ok(maxdiff(sm, ref, 12) < 1e-7, "softmax rows == exp(x - max) / sum (max abs %.2e)", maxdiff(sm, ref, 12));
    /* dropout: out = inp * mask, mask in {0, 1/(1-p)}; backward multiplies by the same mask */
    float din[64], dout[64], dm[64], dg[64], dd[64];
    sl_rng *r = sl_rng_alloc(11);
    sl_rng_fill_normal(r, din, 64, 1.0f);
    sl_rng_fill_normal(r, dg, 64, 1.0f);
    sl_dropout_forward(dout, dm, din, 64, 0.25f, r);
    int good = 1, zeros = 0;
    for (int i = 0; i < 64; i++) {
        good &= (dm[i] == 0.0f || fabsf(dm[i] - 1.0f / 0.75f) < 1e-7f) && dout[i] == din[i] * dm[i];
        zeros += dm[i] == 0.0f;
        dd[i] = 0.5f;
    }
    sl_dropout_backward(dd, dg, dm, 64);
    for (int i = 0; i < 64; i++) good &= dd[i] == 0.5f + dg[i] * dm[i];
    ok(good && zeros > 4 && zeros < 32,
       "dropout: out = inp * mask, mask 0 or 1/(1-p), backward accumulates dout * mask (%d dropped)", zeros);
    sl_rng_free(r);
}

int main(void)
{
    sl_rng *rng = sl_rng_alloc(3);
    ctx_t c = {0};
    c.x = malloc(4 * 256);
    c.w = malloc(4 * 256);
    c.b = malloc(4 * 64);
    c.out = malloc(4 * 256);
    c.R = malloc(4 * 256);
    c.s1 = malloc(4 * 64);
    c.s2 = malloc(4 * 64);
    sl_rng_fill_normal(rng, c.x, 256, 1.0f);
    sl_rng_fill_normal(rng, c.w, 256, 0.5f);
    sl_rng_fill_normal(rng, c.b, 64, 0.5f);
    sl_rng_fill_normal(rng, c.R, 256, 1.0f);

    forward_refs(&c);
    c.kind = LINEAR;
    check(&c, "linear", N * C, OC * C, OC);
    c.kind = LAYERNORM;
    check(&c, "layernorm", N * C, C, C);
    c.kind = LAYERNORM_NOBIAS;
    check(&c, "layernorm (no bias)", N * C, C, 0);
    c.kind = RMSNORM;
    check(&c, "rmsnorm", N * C, C, 0);
    const char *acts[] = {"tanh", "relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus"};
    for (int i = 0; i < 7; i++) {
        c.kind = ACT;
        sl_act_from_name(acts[i], &c.act);
        if (c.act == SL_ACT_RELU) /* keep inputs away from the kink */
            for (int k = 0; k < N * C; k++)
                if (fabsf(c.x[k]) < 0.05f) c.x[k] = 0.3f;
        check(&c, acts[i], N * C, 0, 0);
    }
    sl_act a;
    ok(sl_act_from_name("swish", &a) == SL_EINVAL, "unknown activation name is an error");
    c.kind = GLU;
    check(&c, "glu", N * 2 * C, 0, 0);
    c.kind = CONV;
    check(&c, "causal conv1d", B * T * C, C * K, C);
    /* causality: changing a later input leaves earlier outputs alone */
    float *o1 = malloc(4 * 256);
    sl_conv1d_causal_forward(o1, c.x, c.w, c.b, B, T, C, K);
    c.x[(0 * T + 3) * C + 1] += 1.0f;
    sl_conv1d_causal_forward(c.out, c.x, c.w, c.b, B, T, C, K);
    int causal = 1;
    for (int t = 0; t < 3; t++)
        for (int ch = 0; ch < C; ch++) causal &= o1[t * C + ch] == c.out[t * C + ch];
    ok(causal && o1[3 * C + 1] != c.out[3 * C + 1], "conv1d is causal");
    free(o1);
    int32_t tok[N] = {0, 3, 3, 6, 1, 2};
    c.tok = tok;
    c.kind = EMBED;
    check(&c, "embedding", 0, V * C, 0);

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
    for (int i = 0; i < 100; i++) {
        okd &= dout[i] == 0.0f || dout[i] == 2.0f;
        kept += dout[i] != 0.0f;
    }
    ok(okd && kept > 25 && kept < 75, "dropout keeps ~half, scaled by 1/(1-p) (%d kept)", kept);

    /* softmax rows sum to one, stable for large logits */
    float sm[6] = {1000, 1001, 1002, -5, 0, 5};
    sl_softmax_rows(sm, 2, 3);
    is_close(sm[0] + sm[1] + sm[2], 1.0, 1e-6, "softmax row sums to 1 with large logits");
    sl_rng_free(rng);
    free(c.x);
    free(c.w);
    free(c.b);
    free(c.out);
    free(c.R);
    free(c.s1);
    free(c.s2);
    return done_testing();
}
