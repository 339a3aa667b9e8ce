/* ssm/gla.c — gated linear attention (see gla.h) on the chunkwise core of ssm/linattn.c. */
#include "ssm/gla.h"
#include "core/error.h"
#include "seq/layers.h"
#include "ssm/linattn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int mode_vals[] = {SL_GLA_CHUNK, SL_GLA_RECURRENT};

const sl_spec_key sl_gla_keys[] = {
    SL_KEY_INT(sl_gla_config, d_model, "d_model", "64", 1, 1 << 16, "hidden_size: width of x"),
    SL_KEY_DOUBLE(sl_gla_config, expand_k, "expand_k", "0.5", 1e-3, 64, "key_dim = expand_k * d_model"),
    SL_KEY_DOUBLE(sl_gla_config, expand_v, "expand_v", "1", 1e-3, 64, "value_dim = expand_v * d_model"),
    SL_KEY_INT(sl_gla_config, num_heads, "num_heads", "4", 1, 1 << 12, "heads (key_dim and value_dim divisible by it)"),
    SL_KEY_INT(sl_gla_config, gate_low_rank_dim, "gate_low_rank_dim", "16", 1, 1 << 16,
               "rank of the forget-gate projection gk_proj"),
    SL_KEY_DOUBLE(sl_gla_config, gate_logit_normalizer, "gate_logit_normalizer", "16", 1e-3, 1e6,
                  "log alpha = logsigmoid(gk) / gate_logit_normalizer"),
    SL_KEY_FLOAT(sl_gla_config, norm_eps, "norm_eps", "1e-5", 1e-12, 1, "eps of g_norm (RMSNorm)"),
    SL_KEY_INT(sl_gla_config, chunk_size, "chunk_size", "16", 1, 1 << 20, "chunk length of the chunkwise form"),
    SL_KEY_CHOICE(sl_gla_config, mode, "mode", "chunk", "chunk|recurrent", mode_vals,
                  "sequence-mode form (backward is chunkwise)"),
    SL_KEY_END,
};

void sl_gla_config_default(sl_gla_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_gla_keys, c); /* cannot fail: the table's defaults are valid */
}

typedef struct {
    sl_model base;
    sl_gla_config cfg;
    int D, KD, VD, H, K, V, R; /* d_model, key_dim, value_dim, heads, d_k, d_v, gate rank */
    int i_q, i_k, i_v, i_g, i_g0, i_g1, i_g1b, i_o, i_n;
    int B, T;
    sl_arena fwd, bwd;               /* forward cache, backward scratch */
    float *xin;                      /* (N, D) */
    float *q, *k, *gk, *lg;          /* (N, KD): projections, gate logits, log alpha */
    float *v, *g, *o, *nrm, *pre;    /* (N, VD) */
    float *r, *rstd;                 /* (N, R), (N, H) */
    float *dpre, *dn, *dO, *dv, *dg; /* (N, VD) */
    float *dq, *dk, *dlg, *dr;       /* (N, KD) x 3, (N, R) */
} gla_model;

typedef struct {
    int B;
    sl_arena mem;
    float *S;                                                  /* (B, H, K, V) */
    float *q, *k, *v, *g, *r, *gk, *lg, *o, *rstd, *nrm, *pre; /* one position's arrays */
} gla_state;

#define PD(i) sl_params_data(base->P, m->i)
#define PG(i) sl_params_grad(base->P, m->i)

/* q, k, v, g, the gate's low-rank r and logits gk, log alpha lg, for N rows of x */
static void project(gla_model *m, sl_model *base, float *q, float *k, float *v, float *g, float *r, float *gk, float *lg,
                    const float *x, int N)
{
    const int D = m->D, KD = m->KD, VD = m->VD;
    sl_linear_forward(q, x, PD(i_q), NULL, N, D, KD);
    sl_linear_forward(k, x, PD(i_k), NULL, N, D, KD);
    sl_linear_forward(v, x, PD(i_v), NULL, N, D, VD);
    sl_linear_forward(g, x, PD(i_g), NULL, N, D, VD);
    sl_linear_forward(r, x, PD(i_g0), NULL, N, D, m->R);
    sl_linear_forward(gk, r, PD(i_g1), PD(i_g1b), N, m->R, KD);
    /* logsigmoid(z) = -softplus(-z) */
    const float inv = (float)(1.0 / m->cfg.gate_logit_normalizer);
    for (size_t i = 0; i < (size_t)N * KD; i++) lg[i] = -sl_act1(SL_ACT_SOFTPLUS, -gk[i]) * inv;
}

/* y = o_proj(swish(g) (.) g_norm(o)) */
static void output(gla_model *m, sl_model *base, float *y, float *nrm, float *rstd, float *pre, const float *o, const float *g,
                   int N)
{
    sl_rmsnorm_forward(nrm, rstd, o, PD(i_n), N * m->H, m->V, m->cfg.norm_eps);
    for (size_t i = 0; i < (size_t)N * m->VD; i++) pre[i] = sl_act1(SL_ACT_SILU, g[i]) * nrm[i];
    sl_linear_forward(y, pre, PD(i_o), NULL, N, m->VD, m->D);
}

static int gla_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int B, int T)
{
    (void)tok;
    gla_model *m = (gla_model *)base;
    const int D = m->D, KD = m->KD, VD = m->VD, H = m->H;
    const size_t N = (size_t)B * T;
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->xin, N * D), SL_FIELD(m->q, N * KD), SL_FIELD(m->k, N * KD),
                             SL_FIELD(m->gk, N * KD), SL_FIELD(m->lg, N * KD), SL_FIELD(m->v, N * VD), SL_FIELD(m->g, N * VD),
                             SL_FIELD(m->o, N * VD), SL_FIELD(m->nrm, N * VD), SL_FIELD(m->pre, N * VD), SL_FIELD(m->r, N * m->R),
                             SL_FIELD(m->rstd, N * H))))
        return rc;
    m->B = B;
    m->T = T;
    memcpy(m->xin, x, N * D * sizeof(float));
    project(m, base, m->q, m->k, m->v, m->g, m->r, m->gk, m->lg, x, (int)N);
    sl_linattn_args a = {.B = B,
                         .T = T,
                         .H = H,
                         .K = m->K,
                         .V = m->V,
                         .q = m->q,
                         .k = m->k,
                         .v = m->v,
                         .g = m->lg,
                         .scale = 1.0f / sqrtf((float)m->K)};
    rc = m->cfg.mode == SL_GLA_RECURRENT ? sl_linattn_recurrent_forward(m->o, &a)
                                         : sl_linattn_chunk_forward(m->o, &a, m->cfg.chunk_size);
    if (rc) return rc;
    output(m, base, y, m->nrm, m->rstd, m->pre, m->o, m->g, (int)N);
    return SL_OK;
}

static int gla_backward(sl_model *base, const float *dy, float *dx)
{
    gla_model *m = (gla_model *)base;
    const int D = m->D, KD = m->KD, VD = m->VD, H = m->H, B = m->B, T = m->T, R = m->R;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "gla: backward before forward");
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->bwd, SL_FIELD(m->dpre, N * VD), SL_FIELD(m->dn, N * VD), SL_FIELD(m->dO, N * VD),
                             SL_FIELD(m->dv, N * VD), SL_FIELD(m->dg, N * VD), SL_FIELD(m->dq, N * KD), SL_FIELD(m->dk, N * KD),
                             SL_FIELD(m->dlg, N * KD), SL_FIELD(m->dr, N * R))))
        return rc;
    sl_linear_backward_set(m->dpre, PG(i_o), NULL, dy, m->pre, PD(i_o), (int)N, VD, D);
    const float *g = m->g, *nrm = m->nrm, *dpre = m->dpre;
    for (size_t i = 0; i < N * VD; i++) {
        m->dn[i] = dpre[i] * sl_act1(SL_ACT_SILU, g[i]);
        m->dg[i] = dpre[i] * nrm[i] * sl_dact1(SL_ACT_SILU, g[i]);
    }
    memset(m->dO, 0, N * VD * sizeof(float));
    sl_rmsnorm_backward(m->dO, PG(i_n), m->dn, m->o, PD(i_n), m->rstd, (int)N * H, m->V);
    sl_linattn_args a = {.B = B,
                         .T = T,
                         .H = H,
                         .K = m->K,
                         .V = m->V,
                         .q = m->q,
                         .k = m->k,
                         .v = m->v,
                         .g = m->lg,
                         .scale = 1.0f / sqrtf((float)m->K)};
    if ((rc = sl_linattn_chunk_backward(m->dq, m->dk, m->dv, m->dlg, m->dO, &a, m->cfg.chunk_size))) return rc;
    /* d logsigmoid(z) / dz = sigmoid(-z) */
    const float inv = (float)(1.0 / m->cfg.gate_logit_normalizer);
    float *dgk = m->dlg;
    for (size_t i = 0; i < N * KD; i++) dgk[i] *= inv * sl_act1(SL_ACT_SIGMOID, -m->gk[i]);
    sl_linear_backward_set(m->dr, PG(i_g1), PG(i_g1b), dgk, m->r, PD(i_g1), (int)N, R, KD);
    const float *xin = m->xin;
    sl_linear_backward(dx, PG(i_g0), NULL, m->dr, xin, PD(i_g0), (int)N, D, R);
    sl_linear_backward(dx, PG(i_q), NULL, m->dq, xin, PD(i_q), (int)N, D, KD);
    sl_linear_backward(dx, PG(i_k), NULL, m->dk, xin, PD(i_k), (int)N, D, KD);
    sl_linear_backward(dx, PG(i_v), NULL, m->dv, xin, PD(i_v), (int)N, D, VD);
    sl_linear_backward(dx, PG(i_g), NULL, m->dg, xin, PD(i_g), (int)N, D, VD);
    return SL_OK;
}

static void gla_state_free(sl_model *base, void *p)
{
    (void)base;
    gla_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

static int gla_state_reset(sl_model *base, void *p)
{
    gla_model *m = (gla_model *)base;
    gla_state *s = p;
    memset(s->S, 0, (size_t)s->B * m->H * m->K * m->V * sizeof(float));
    return SL_OK;
}

static void *gla_state_new(sl_model *base, int B)
{
    gla_model *m = (gla_model *)base;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "gla: bad batch size %d", B);
        return NULL;
    }
    gla_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B;
    s->B = B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->S, b * m->H * m->K * m->V), SL_FIELD(s->q, b * m->KD), SL_FIELD(s->k, b * m->KD),
                       SL_FIELD(s->v, b * m->VD), SL_FIELD(s->g, b * m->VD), SL_FIELD(s->r, b * m->R), SL_FIELD(s->gk, b * m->KD),
                       SL_FIELD(s->lg, b * m->KD), SL_FIELD(s->o, b * m->VD), SL_FIELD(s->rstd, b * m->H),
                       SL_FIELD(s->nrm, b * m->VD), SL_FIELD(s->pre, b * m->VD))) {
        free(s);
        return NULL;
    }
    gla_state_reset(base, s);
    return s;
}

static int gla_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    gla_model *m = (gla_model *)base;
    gla_state *s = p;
    project(m, base, s->q, s->k, s->v, s->g, s->r, s->gk, s->lg, x, s->B);
    sl_linattn_args a = {.B = s->B,
                         .T = 1,
                         .H = m->H,
                         .K = m->K,
                         .V = m->V,
                         .q = s->q,
                         .k = s->k,
                         .v = s->v,
                         .g = s->lg,
                         .scale = 1.0f / sqrtf((float)m->K)};
    sl_linattn_step(s->o, s->S, &a);
    output(m, base, y, s->nrm, s->rstd, s->pre, s->o, s->g, s->B);
    return SL_OK;
}

/* fla GatedLinearAttention._init_weights: xavier_uniform_ with gain 2^-2.5 on every Linear
 * weight, zero biases; g_norm.weight = 1 */
static void xavier(sl_rng *rng, float *w, int out, int in, double gain)
{
    float a = (float)(gain * sqrt(6.0 / (in + out)));
    sl_rng_fill_uniform(rng, w, (size_t)out * in, -a, a);
}

static int gla_init(sl_model *base, sl_rng *rng)
{
    gla_model *m = (gla_model *)base;
    const double g = pow(2.0, -2.5);
    xavier(rng, PD(i_q), m->KD, m->D, g);
    xavier(rng, PD(i_k), m->KD, m->D, g);
    xavier(rng, PD(i_v), m->VD, m->D, g);
    xavier(rng, PD(i_g), m->VD, m->D, g);
    xavier(rng, PD(i_g0), m->R, m->D, g);
    xavier(rng, PD(i_g1), m->KD, m->R, g);
    memset(PD(i_g1b), 0, (size_t)m->KD * sizeof(float));
    xavier(rng, PD(i_o), m->D, m->VD, g);
    float *w = PD(i_n);
    for (int e = 0; e < m->V; e++) w[e] = 1.0f;
    return SL_OK;
}

static void gla_destroy(sl_model *base)
{
    gla_model *m = (gla_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
    free(m);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int gla_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    gla_state *d = dst;
    const gla_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's release: the forward cache and backward's scratch */
static void gla_release(sl_model *base)
{
    gla_model *m = (gla_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
}

/* seq/model.h's state_reset_rows: the chosen rows' state to zero */
static int gla_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    gla_model *m = (gla_model *)base;
    gla_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t n = (size_t)m->H * m->K * m->V;
    for (int b = 0; b < B; b++)
        if (rows[b]) memset(s->S + b * n, 0, n * sizeof(float));
    return SL_OK;
}

static const sl_model_vt gla_vt = {
    .kind = "gla",
    .destroy = gla_destroy,
    .release = gla_release,
    .init = gla_init,
    .forward = gla_forward,
    .backward = gla_backward,
    .state_new = gla_state_new,
    .state_free = gla_state_free,
    .state_reset = gla_state_reset,
    .state_reset_rows = gla_state_reset_rows,
    .state_copy = gla_state_copy,
    .step = gla_step,
};

int sl_gla_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_gla_config c;
    sl_gla_config_default(&c);
    int rc = sl_spec_read(s, sl_gla_keys, &c);
    return rc ? rc : sl_gla_create(&c, P, prefix, out);
}

int sl_gla_create(const sl_gla_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_gla_config c = *cfg;
    if (c.d_model < 1 || c.num_heads < 1 || c.chunk_size < 1 || c.gate_low_rank_dim < 1)
        return sl_error(SL_EINVAL, "gla: d_model, num_heads, gate_low_rank_dim and chunk_size must be positive");
    if (!(c.expand_k > 0 && c.expand_v > 0 && c.gate_logit_normalizer > 0))
        return sl_error(SL_EINVAL, "gla: expand_k, expand_v and gate_logit_normalizer must be positive");
    /* fla: key_dim = int(hidden_size * expand_k), value_dim = int(hidden_size * expand_v) */
    const int KD = (int)(c.d_model * c.expand_k), VD = (int)(c.d_model * c.expand_v);
    if (KD < c.num_heads || KD % c.num_heads)
        return sl_error(SL_EINVAL, "gla: key_dim = expand_k * d_model = %d is not a positive multiple of num_heads=%d", KD,
                        c.num_heads);
    if (VD < c.num_heads || VD % c.num_heads)
        return sl_error(SL_EINVAL, "gla: value_dim = expand_v * d_model = %d is not a positive multiple of num_heads=%d", VD,
                        c.num_heads);
    if (c.mode != SL_GLA_CHUNK && c.mode != SL_GLA_RECURRENT) return sl_error(SL_EINVAL, "gla: bad mode %d", c.mode);
    gla_model *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *base = &m->base;
    base->vt = &gla_vt;
    base->P = P;
    base->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    base->d_in = base->d_out = c.d_model;
    m->cfg = c;
    m->D = c.d_model;
    m->KD = KD;
    m->VD = VD;
    m->H = c.num_heads;
    m->K = KD / c.num_heads;
    m->V = VD / c.num_heads;
    m->R = c.gate_low_rank_dim;
    const char *pre = prefix ? prefix : "";
    m->i_q = sl_params_add(P, pre, "q_proj.weight", 2, KD, m->D, 0, 0);
    m->i_k = sl_params_add(P, pre, "k_proj.weight", 2, KD, m->D, 0, 0);
    m->i_v = sl_params_add(P, pre, "v_proj.weight", 2, VD, m->D, 0, 0);
    m->i_g = sl_params_add(P, pre, "g_proj.weight", 2, VD, m->D, 0, 0);
    m->i_g0 = sl_params_add(P, pre, "gk_proj.0.weight", 2, m->R, m->D, 0, 0);
    m->i_g1 = sl_params_add(P, pre, "gk_proj.1.weight", 2, KD, m->R, 0, 0);
    m->i_g1b = sl_params_add(P, pre, "gk_proj.1.bias", 1, KD, 0, 0, 0);
    m->i_o = sl_params_add(P, pre, "o_proj.weight", 2, m->D, VD, 0, 0);
    m->i_n = sl_params_add(P, pre, "g_norm.weight", 1, m->V, 0, 0, 0);
    int idx[] = {m->i_q, m->i_k, m->i_v, m->i_g, m->i_g0, m->i_g1, m->i_g1b, m->i_o, m->i_n};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            gla_destroy(base);
            return idx[i];
        }
    *out = base;
    return SL_OK;
}
