/* ssm/retnet.c — multi-scale retention (see retnet.h) on the chunkwise core of ssm/linattn.c. */
#include "ssm/retnet.h"
#include "core/error.h"
#include "seq/layers.h"
#include "ssm/linattn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int mode_vals[] = {SL_RETNET_CHUNKWISE, SL_RETNET_PARALLEL, SL_RETNET_RECURRENT};

const sl_spec_key sl_retnet_keys[] = {
    SL_KEY_INT(sl_retnet_config, d_model, "d_model", "64", 1, 1 << 16, "embed_dim: width of x, q and k"),
    SL_KEY_INT(sl_retnet_config, num_heads, "num_heads", "4", 1, 1 << 12, "retention heads (d_k = d_model / num_heads, even)"),
    SL_KEY_INT(sl_retnet_config, value_dim, "value_dim", "0", 0, 1 << 17, "width of v and g (0: 2 d_model)"),
    SL_KEY_INT(sl_retnet_config, chunk_size, "chunk_size", "64", 1, 1 << 20, "chunk length of the chunkwise form"),
    SL_KEY_CHOICE(sl_retnet_config, mode, "mode", "chunkwise", "chunkwise|parallel|recurrent", mode_vals,
                  "sequence-mode form (all equal; backward is chunkwise)"),
    SL_KEY_FLOAT(sl_retnet_config, layernorm_eps, "layernorm_eps", "1e-6", 1e-12, 1, "eps of the group norm (RMSNorm)"),
    SL_KEY_END,
};

void sl_retnet_config_default(sl_retnet_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_retnet_keys, c); /* cannot fail: the table's defaults are valid */
}

typedef struct {
    sl_model base;
    sl_retnet_config cfg;
    int D, VD, H, K, V; /* d_model, value_dim, heads, d_k, d_v */
    int i_q, i_k, i_v, i_g, i_o;
    float *gh;  /* (H) log gamma_h */
    float *ang; /* (K/2) rotation frequencies */
    int B, T;
    sl_arena fwd, bwd;                          /* forward cache, backward scratch */
    float *xin, *q, *k, *v, *g, *o, *nrm, *pre; /* (N, D) (N, D) (N, D) (N, VD) (N, VD) (N, VD) (N, VD) (N, VD) */
    float *rstd, *cs;                           /* (N, H), (T, K/2, 2) */
    float *dpre, *dn, *dO, *dq, *dk, *dv, *dg;  /* (N, VD) x 3, (N, D) x 2, (N, VD) x 2 */
} retnet_model;

typedef struct {
    int B, pos;
    sl_arena mem;
    float *S;                                         /* (B, H, K, V) */
    float *q, *k, *v, *g, *o, *rstd, *nrm, *pre, *cs; /* one position's arrays; cs (K/2, 2) */
} retnet_state;

#define PD(i) sl_params_data(base->P, m->i)
#define PG(i) sl_params_grad(base->P, m->i)

/* rotate q or k rows (N rows of H heads x K) at positions pos0 + (row % T) by +angle (dir 1) or
 * back (dir -1, the transpose, for gradients); cs (T, K/2, 2) holds cos, sin */
static void rotate(float *x, const float *cs, int N, int T, int H, int K, int dir)
{
    const int K2 = K / 2;
    for (int r = 0; r < N; r++) {
        const float *c = cs + (size_t)(r % T) * K2 * 2;
        for (int h = 0; h < H; h++) {
            float *p = x + ((size_t)r * H + h) * K;
            for (int i = 0; i < K2; i++) {
                const float co = c[2 * i], si = dir * c[2 * i + 1], a = p[2 * i], b = p[2 * i + 1];
                p[2 * i] = a * co - b * si;
                p[2 * i + 1] = b * co + a * si;
            }
        }
    }
}

static void rot_table(float *cs, const float *ang, int pos0, int T, int K2)
{
    for (int t = 0; t < T; t++)
        for (int i = 0; i < K2; i++) {
            double a = (double)(pos0 + t) * ang[i];
            cs[((size_t)t * K2 + i) * 2] = (float)cos(a);
            cs[((size_t)t * K2 + i) * 2 + 1] = (float)sin(a);
        }
}

/* q, k (rotated, k scaled), v, g from x (N rows at positions pos0 ..) */
static void project(retnet_model *m, sl_model *base, float *q, float *k, float *v, float *g, const float *x, int N, int T,
                    const float *cs)
{
    const int D = m->D, VD = m->VD;
    sl_linear_forward(q, x, PD(i_q), NULL, N, D, D);
    sl_linear_forward(k, x, PD(i_k), NULL, N, D, D);
    sl_linear_forward(v, x, PD(i_v), NULL, N, D, VD);
    sl_linear_forward(g, x, PD(i_g), NULL, N, D, VD);
    const float sc = 1.0f / sqrtf((float)m->K);
    for (size_t i = 0; i < (size_t)N * D; i++) k[i] *= sc;
    rotate(q, cs, N, T, m->H, m->K, 1);
    rotate(k, cs, N, T, m->H, m->K, 1);
}

/* y = out_proj(swish(g) (.) rmsnorm_per_head(o)) */
static void output(retnet_model *m, sl_model *base, float *y, float *nrm, float *rstd, float *pre, const float *o, const float *g,
                   int N)
{
    const int VD = m->VD;
    sl_rmsnorm_forward(nrm, rstd, o, NULL, N * m->H, m->V, m->cfg.layernorm_eps);
    for (size_t i = 0; i < (size_t)N * VD; i++) pre[i] = sl_act1(SL_ACT_SILU, g[i]) * nrm[i];
    sl_linear_forward(y, pre, PD(i_o), NULL, N, VD, m->D);
}

static int retnet_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int B, int T)
{
    (void)tok;
    retnet_model *m = (retnet_model *)base;
    const int D = m->D, VD = m->VD, H = m->H;
    const size_t N = (size_t)B * T;
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->xin, N * D), SL_FIELD(m->q, N * D), SL_FIELD(m->k, N * D),
                             SL_FIELD(m->v, N * VD), SL_FIELD(m->g, N * VD), SL_FIELD(m->o, N * VD), SL_FIELD(m->nrm, N * VD),
                             SL_FIELD(m->pre, N * VD), SL_FIELD(m->rstd, N * H), SL_FIELD(m->cs, (size_t)T * m->K))))
        return rc;
    m->B = B;
    m->T = T;
    memcpy(m->xin, x, N * D * sizeof(float));
    rot_table(m->cs, m->ang, 0, T, m->K / 2);
    project(m, base, m->q, m->k, m->v, m->g, x, (int)N, T, m->cs);
    sl_linattn_args a = {
        .B = B, .T = T, .H = H, .K = m->K, .V = m->V, .q = m->q, .k = m->k, .v = m->v, .gh = m->gh, .scale = 1.0f};
    if (m->cfg.mode == SL_RETNET_PARALLEL) rc = sl_linattn_parallel_forward(m->o, &a);
    else if (m->cfg.mode == SL_RETNET_RECURRENT) rc = sl_linattn_recurrent_forward(m->o, &a);
    else rc = sl_linattn_chunk_forward(m->o, &a, m->cfg.chunk_size);
    if (rc) return rc;
    output(m, base, y, m->nrm, m->rstd, m->pre, m->o, m->g, (int)N);
    return SL_OK;
}

static int retnet_backward(sl_model *base, const float *dy, float *dx)
{
    retnet_model *m = (retnet_model *)base;
    const int D = m->D, VD = m->VD, H = m->H, B = m->B, T = m->T;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "retnet: backward before forward");
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->bwd, SL_FIELD(m->dpre, N * VD), SL_FIELD(m->dn, N * VD), SL_FIELD(m->dO, N * VD),
                             SL_FIELD(m->dq, N * D), SL_FIELD(m->dk, N * D), SL_FIELD(m->dv, N * VD), SL_FIELD(m->dg, N * VD))))
        return rc;
    sl_linear_backward_set(m->dpre, PG(i_o), NULL, dy, m->pre, PD(i_o), (int)N, VD, D);
    const float *g = m->g, *nrm = m->nrm, *dpre = m->dpre;
    for (size_t i = 0; i < N * VD; i++) {
        m->dn[i] = dpre[i] * sl_act1(SL_ACT_SILU, g[i]);
        m->dg[i] = dpre[i] * nrm[i] * sl_dact1(SL_ACT_SILU, g[i]);
    }
    memset(m->dO, 0, N * VD * sizeof(float));
    sl_rmsnorm_backward(m->dO, NULL, m->dn, m->o, NULL, m->rstd, (int)N * H, m->V);
    sl_linattn_args a = {
        .B = B, .T = T, .H = H, .K = m->K, .V = m->V, .q = m->q, .k = m->k, .v = m->v, .gh = m->gh, .scale = 1.0f};
    if ((rc = sl_linattn_chunk_backward(m->dq, m->dk, m->dv, NULL, m->dO, &a, m->cfg.chunk_size))) return rc;
    rotate(m->dq, m->cs, (int)N, T, H, m->K, -1);
    rotate(m->dk, m->cs, (int)N, T, H, m->K, -1);
    const float sc = 1.0f / sqrtf((float)m->K);
    for (size_t i = 0; i < N * D; i++) m->dk[i] *= sc;
    const float *xin = m->xin;
    float *gx = dx;
    sl_linear_backward(gx, PG(i_q), NULL, m->dq, xin, PD(i_q), (int)N, D, D);
    sl_linear_backward(gx, PG(i_k), NULL, m->dk, xin, PD(i_k), (int)N, D, D);
    sl_linear_backward(gx, PG(i_v), NULL, m->dv, xin, PD(i_v), (int)N, D, VD);
    sl_linear_backward(gx, PG(i_g), NULL, m->dg, xin, PD(i_g), (int)N, D, VD);
    return SL_OK;
}

static void retnet_state_free(sl_model *base, void *p)
{
    (void)base;
    retnet_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

static int retnet_state_reset(sl_model *base, void *p)
{
    retnet_model *m = (retnet_model *)base;
    retnet_state *s = p;
    memset(s->S, 0, (size_t)s->B * m->H * m->K * m->V * sizeof(float));
    s->pos = 0;
    return SL_OK;
}

static void *retnet_state_new(sl_model *base, int B)
{
    retnet_model *m = (retnet_model *)base;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "retnet: bad batch size %d", B);
        return NULL;
    }
    retnet_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B;
    s->B = B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->S, b * m->H * m->K * m->V), SL_FIELD(s->q, b * m->D), SL_FIELD(s->k, b * m->D),
                       SL_FIELD(s->v, b * m->VD), SL_FIELD(s->g, b * m->VD), SL_FIELD(s->o, b * m->VD),
                       SL_FIELD(s->rstd, b * m->H), SL_FIELD(s->nrm, b * m->VD), SL_FIELD(s->pre, b * m->VD),
                       SL_FIELD(s->cs, (size_t)m->K))) {
        free(s);
        return NULL;
    }
    retnet_state_reset(base, s);
    return s;
}

/* the recurrent form: S_h <- gamma_h S_h + k^T v, o = q S, at position s->pos */
static int retnet_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    retnet_model *m = (retnet_model *)base;
    retnet_state *s = p;
    rot_table(s->cs, m->ang, s->pos, 1, m->K / 2);
    project(m, base, s->q, s->k, s->v, s->g, x, s->B, 1, s->cs);
    sl_linattn_args a = {
        .B = s->B, .T = 1, .H = m->H, .K = m->K, .V = m->V, .q = s->q, .k = s->k, .v = s->v, .gh = m->gh, .scale = 1.0f};
    sl_linattn_step(s->o, s->S, &a);
    output(m, base, y, s->nrm, s->rstd, s->pre, s->o, s->g, s->B);
    s->pos++;
    return SL_OK;
}

/* torchscale reset_parameters: xavier_uniform_ with gain 2^-2.5 on q, k, v, g; gain 1 on out_proj */
static void xavier(sl_rng *rng, float *w, int out, int in, double gain)
{
    float a = (float)(gain * sqrt(6.0 / (in + out)));
    sl_rng_fill_uniform(rng, w, (size_t)out * in, -a, a);
}

static int retnet_init(sl_model *base, sl_rng *rng)
{
    retnet_model *m = (retnet_model *)base;
    const double g = pow(2.0, -2.5);
    xavier(rng, PD(i_q), m->D, m->D, g);
    xavier(rng, PD(i_k), m->D, m->D, g);
    xavier(rng, PD(i_v), m->VD, m->D, g);
    xavier(rng, PD(i_g), m->VD, m->D, g);
    xavier(rng, PD(i_o), m->D, m->VD, 1.0);
    return SL_OK;
}

static void retnet_destroy(sl_model *base)
{
    retnet_model *m = (retnet_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
    free(m->gh);
    free(m->ang);
    free(m);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int retnet_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    retnet_state *d = dst;
    const retnet_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    d->pos = s->pos;
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's release: the forward cache and backward's scratch */
static void retnet_release(sl_model *base)
{
    retnet_model *m = (retnet_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
}

/* seq/model.h's state_reset_rows: the chosen rows' state to zero. The position counter stays
 * shared: the rotation of q and k enters the scores only through the difference of their
 * positions, so a row restarted at position p scores as its document alone from 0. */
static int retnet_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    retnet_model *m = (retnet_model *)base;
    retnet_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t n = (size_t)m->H * m->K * m->V;
    for (int b = 0; b < B; b++)
        if (rows[b]) memset(s->S + b * n, 0, n * sizeof(float));
    return SL_OK;
}

static const sl_model_vt retnet_vt = {
    .kind = "retnet",
    .destroy = retnet_destroy,
    .release = retnet_release,
    .init = retnet_init,
    .forward = retnet_forward,
    .backward = retnet_backward,
    .state_new = retnet_state_new,
    .state_free = retnet_state_free,
    .state_reset = retnet_state_reset,
    .state_reset_rows = retnet_state_reset_rows,
    .state_copy = retnet_state_copy,
    .step = retnet_step,
};

int sl_retnet_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_retnet_config c;
    sl_retnet_config_default(&c);
    int rc = sl_spec_read(s, sl_retnet_keys, &c);
    return rc ? rc : sl_retnet_create(&c, P, prefix, out);
}

int sl_retnet_create(const sl_retnet_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_retnet_config c = *cfg;
    if (c.d_model < 1 || c.num_heads < 1 || c.chunk_size < 1 || c.value_dim < 0)
        return sl_error(SL_EINVAL, "retnet: d_model, num_heads and chunk_size must be positive and value_dim >= 0");
    const int VD = c.value_dim ? c.value_dim : 2 * c.d_model;
    if (c.d_model % c.num_heads)
        return sl_error(SL_EINVAL, "retnet: d_model=%d is not divisible by num_heads=%d", c.d_model, c.num_heads);
    if (VD % c.num_heads) return sl_error(SL_EINVAL, "retnet: value_dim=%d is not divisible by num_heads=%d", VD, c.num_heads);
    if ((c.d_model / c.num_heads) % 2)
        return sl_error(SL_EINVAL, "retnet: d_model / num_heads = %d must be even (the rotation turns pairs of channels)",
                        c.d_model / c.num_heads);
    if (c.mode < SL_RETNET_CHUNKWISE || c.mode > SL_RETNET_RECURRENT) return sl_error(SL_EINVAL, "retnet: bad mode %d", c.mode);
    retnet_model *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *base = &m->base;
    base->vt = &retnet_vt;
    base->P = P;
    base->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    base->d_in = base->d_out = c.d_model;
    m->cfg = c;
    m->D = c.d_model;
    m->VD = VD;
    m->H = c.num_heads;
    m->K = c.d_model / c.num_heads;
    m->V = VD / c.num_heads;
    m->gh = malloc((size_t)m->H * sizeof(float));
    m->ang = malloc((size_t)(m->K / 2) * sizeof(float));
    if (!m->gh || !m->ang) {
        retnet_destroy(base);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    /* torchscale RetNetRelPos: decay = log(1 - 2^(-5 - h)), angle = 1 / 10000^linspace(0, 1, d_k / 2) */
    for (int h = 0; h < m->H; h++) m->gh[h] = (float)log1p(-pow(2.0, -5.0 - h));
    const int K2 = m->K / 2;
    for (int i = 0; i < K2; i++) m->ang[i] = (float)(1.0 / pow(10000.0, K2 > 1 ? (double)i / (K2 - 1) : 0.0));
    const char *pre = prefix ? prefix : "";
    m->i_q = sl_params_add(P, pre, "q_proj.weight", 2, m->D, m->D, 0, 0);
    m->i_k = sl_params_add(P, pre, "k_proj.weight", 2, m->D, m->D, 0, 0);
    m->i_v = sl_params_add(P, pre, "v_proj.weight", 2, VD, m->D, 0, 0);
    m->i_g = sl_params_add(P, pre, "g_proj.weight", 2, VD, m->D, 0, 0);
    m->i_o = sl_params_add(P, pre, "out_proj.weight", 2, m->D, VD, 0, 0);
    int idx[] = {m->i_q, m->i_k, m->i_v, m->i_g, m->i_o};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            retnet_destroy(base);
            return idx[i];
        }
    *out = base;
    return SL_OK;
}
