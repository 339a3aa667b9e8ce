/* ssm/mamba2.c — the Mamba2 block (mamba_ssm Mamba2 names; see mamba2.h): in_proj, causal
 * conv, the SSD scan of ssm/ssd.c, gated RMSNorm, out_proj. */
#include "ssm/mamba2.h"
#include "core/error.h"
#include "seq/layers.h"
#include "ssm/ssd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model base;
    sl_mamba2_config cfg;
    int E, H, P, G, S, K, CD, DIN; /* d_inner, heads, headdim, groups, d_state, d_conv, conv dim, in_proj width */
    int i_inw, i_inb, i_cw, i_cb, i_dtb, i_alog, i_D, i_nw, i_ow, i_ob;
    int B, T;
    sl_arena fwd, bwd; /* the forward cache and backward's scratch, carved per call */
    float *xin, *zx, *xbc, *xbcc, *xbca, *xs, *z, *Bm, *Cm, *dt, *A, *y, *yg, *rstd, *nrm, *o;
    float *go, *gn, *gyg, *gy, *gxs, *gdt, *gA, *gB, *gC, *gxbca, *gxbcc, *gxbc, *gzx;
    sl_ssd_ws *ws;
} mamba2_model;

typedef struct {
    int B;
    sl_arena mem; /* one block, carved into the fields below */
    float *win;   /* (B, K, CD) */
    float *S;     /* (B, H, P, N) */
    float *zx, *xbc, *xbca, *xs, *Bm, *Cm, *dt, *A, *y, *rstd, *o;
    sl_arena pf; /* prefill's scratch for N = B*T rows */
} mamba2_state;

const sl_spec_key sl_mamba2_keys[] = {
    SL_KEY_INT(sl_mamba2_config, d_model, "d_model", "64", 1, 65536, "model width"),
    SL_KEY_INT(sl_mamba2_config, d_state, "d_state", "64", 1, 1024, "SSM state size N per head"),
    SL_KEY_INT(sl_mamba2_config, d_conv, "d_conv", "4", 1, 64, "width of the depthwise causal convolution over (x, B, C)"),
    SL_KEY_INT(sl_mamba2_config, expand, "expand", "2", 1, 64, "d_inner = expand * d_model"),
    SL_KEY_INT(sl_mamba2_config, headdim, "headdim", "64", 1, 4096, "channels per head; nheads = d_inner / headdim"),
    SL_KEY_INT(sl_mamba2_config, ngroups, "ngroups", "1", 1, 1024, "groups of B and C (heads share them within a group)"),
    SL_KEY_INT(sl_mamba2_config, chunk_size, "chunk_size", "256", 1, 65536, "SSD chunk length"),
    SL_KEY_DOUBLE(sl_mamba2_config, dt_min, "dt_min", "0.001", 1e-8, 10, "smallest initial step size"),
    SL_KEY_DOUBLE(sl_mamba2_config, dt_max, "dt_max", "0.1", 1e-8, 10, "largest initial step size"),
    SL_KEY_DOUBLE(sl_mamba2_config, dt_init_floor, "dt_init_floor", "1e-4", 0, 10, "lower clamp of the initial step size"),
    SL_KEY_DOUBLE(sl_mamba2_config, A_init_min, "A_init_min", "1", 1e-6, 1e6, "A = -U(A_init_min, A_init_max) per head"),
    SL_KEY_DOUBLE(sl_mamba2_config, A_init_max, "A_init_max", "16", 1e-6, 1e6, "see A_init_min"),
    SL_KEY_BOOL(sl_mamba2_config, conv_bias, "conv_bias", "1", "conv1d has a bias"),
    SL_KEY_BOOL(sl_mamba2_config, bias, "bias", "0", "in_proj and out_proj have biases"),
    SL_KEY_FLOAT(sl_mamba2_config, norm_eps, "norm_eps", "1e-5", 1e-12, 1, "epsilon of the gated RMSNorm"),
    SL_KEY_END,
};

sl_mamba2_config sl_mamba2_defaults(int d_model)
{
    sl_mamba2_config c;
    memset(&c, 0, sizeof c);
    sl_spec_defaults(sl_mamba2_keys, &c); /* cannot fail: the table's defaults are valid */
    c.d_model = d_model;
    return c;
}

int sl_mamba2_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_mamba2_config c = sl_mamba2_defaults(0);
    int rc = sl_spec_read(s, sl_mamba2_keys, &c);
    return rc ? rc : sl_mamba2_create(&c, P, prefix, out);
}

/* RMSNormGated (norm_before_gate=False): yg = y * silu(z); o = rmsnorm_groups(yg) * w */
static void gated_norm_fwd(const mamba2_model *mb, const float *w, float *yg, float *nrm, float *o, float *rstd, const float *y,
                           const float *z, size_t N)
{
    const int E = mb->E, Eg = E / mb->G;
    for (size_t i = 0; i < N * E; i++) yg[i] = y[i] * sl_act1(SL_ACT_SILU, z[i]);
    sl_rmsnorm_forward(nrm, rstd, yg, NULL, (int)(N * mb->G), Eg, mb->cfg.norm_eps);
    for (size_t n = 0; n < N; n++)
        for (int e = 0; e < E; e++) o[n * E + e] = nrm[n * E + e] * w[e];
}

/* the SSD scan's arguments over the cached x, dt, A, B, C (forward and backward use the same) */
static sl_ssd_args ssd_args(const mamba2_model *mb, const sl_params *P, int B, int T)
{
    return (sl_ssd_args){.B = B,
                         .L = T,
                         .H = mb->H,
                         .P = mb->P,
                         .G = mb->G,
                         .N = mb->S,
                         .x = mb->xs,
                         .dt = mb->dt,
                         .A = mb->A,
                         .Bm = mb->Bm,
                         .Cm = mb->Cm,
                         .D = sl_params_data(P, mb->i_D),
                         .dt_bias = sl_params_data(P, mb->i_dtb),
                         .dt_softplus = 1,
                         .doc_pos = mb->base.doc_pos}; /* packed rows: the state restarts (ssd.h) */
}

static int mamba2_forward(sl_model *m, const float *x, const int32_t *tok, float *out, int B, int T)
{
    mamba2_model *mb = (mamba2_model *)m;
    const sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, H = mb->H, G = mb->G, S = mb->S, CD = mb->CD, DIN = mb->DIN;
    const size_t N = (size_t)B * T;
    /* inference mode: no input copy, SiLU over the conv output in place */
    const int inf = m->inference;
    int rc;
    if (m->doc_pos && (rc = sl_docs_check(m->doc_pos, B, T))) return rc;
    if ((rc = SL_ARENA_CARVE(&mb->fwd, SL_FIELD(mb->xin, inf ? 0 : N * C), SL_FIELD(mb->zx, N * DIN), SL_FIELD(mb->xbc, N * CD),
                             SL_FIELD(mb->xbcc, N * CD), SL_FIELD(mb->xbca, inf ? 0 : N * CD), SL_FIELD(mb->xs, N * E),
                             SL_FIELD(mb->z, N * E), SL_FIELD(mb->Bm, N * G * S), SL_FIELD(mb->Cm, N * G * S),
                             SL_FIELD(mb->dt, N * H), SL_FIELD(mb->A, H), SL_FIELD(mb->y, N * E), SL_FIELD(mb->yg, N * E),
                             SL_FIELD(mb->rstd, N * G), SL_FIELD(mb->nrm, N * E), SL_FIELD(mb->o, N * E))))
        return rc;
    if (inf) mb->xbca = mb->xbcc;
    mb->B = inf ? 0 : B; /* backward refuses without a training forward */
    mb->T = T;
    if (!inf) memcpy(mb->xin, x, N * C * sizeof(float));
    sl_linear_forward(mb->zx, x, sl_params_data(P, mb->i_inw), sl_params_data_opt(P, mb->i_inb), (int)N, C, DIN);
    sl_cols_get(mb->xbc, mb->zx, N, DIN, E, CD);
    sl_cols_get(mb->dt, mb->zx, N, DIN, E + CD, H);
    /* packed rows: the convolution's window restarts at each document (seq/layers.h) */
    sl_conv1d_causal_docs_forward(mb->xbcc, mb->xbc, sl_params_data(P, mb->i_cw), sl_params_data_opt(P, mb->i_cb), m->doc_pos, B,
                                  T, CD, mb->K);
    sl_act_forward(SL_ACT_SILU, mb->xbca, mb->xbcc, N * CD);
    sl_cols_get(mb->xs, mb->xbca, N, CD, 0, E);
    sl_cols_get(mb->Bm, mb->xbca, N, CD, E, G * S);
    sl_cols_get(mb->Cm, mb->xbca, N, CD, E + G * S, G * S);
    const float *al = sl_params_data(P, mb->i_alog);
    for (int h = 0; h < H; h++) mb->A[h] = -expf(al[h]);
    sl_ssd_args a = ssd_args(mb, P, B, T);
    if ((rc = sl_ssd_chunked_forward(mb->y, NULL, &a, mb->cfg.chunk_size, mb->ws))) return rc;
    /* z is the first E columns of zx */
    sl_cols_get(mb->z, mb->zx, N, DIN, 0, E);
    gated_norm_fwd(mb, sl_params_data(P, mb->i_nw), mb->yg, mb->nrm, mb->o, mb->rstd, mb->y, mb->z, N);
    sl_linear_forward(out, mb->o, sl_params_data(P, mb->i_ow), sl_params_data_opt(P, mb->i_ob), (int)N, E, C);
    return SL_OK;
}

static int mamba2_backward(sl_model *m, const float *dout, float *dx)
{
    mamba2_model *mb = (mamba2_model *)m;
    sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, H = mb->H, G = mb->G, S = mb->S, CD = mb->CD, DIN = mb->DIN, B = mb->B, T = mb->T;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "mamba2: backward before forward");
    int rc;
    if ((rc = SL_ARENA_CARVE(&mb->bwd, SL_FIELD(mb->go, N * E), SL_FIELD(mb->gn, N * E), SL_FIELD(mb->gyg, N * E),
                             SL_FIELD(mb->gy, N * E), SL_FIELD(mb->gxs, N * E), SL_FIELD(mb->gdt, N * H), SL_FIELD(mb->gA, H),
                             SL_FIELD(mb->gB, N * G * S), SL_FIELD(mb->gC, N * G * S), SL_FIELD(mb->gxbca, N * CD),
                             SL_FIELD(mb->gxbcc, N * CD), SL_FIELD(mb->gxbc, N * CD), SL_FIELD(mb->gzx, N * DIN))))
        return rc;
    const float *z = mb->z;
    memset(mb->go, 0, N * E * sizeof(float));
    sl_linear_backward(mb->go, sl_params_grad(P, mb->i_ow), sl_params_grad_opt(P, mb->i_ob), dout, mb->o,
                       sl_params_data(P, mb->i_ow), (int)N, E, C);
    /* gated norm */
    const float *w = sl_params_data(P, mb->i_nw);
    float *gw = sl_params_grad(P, mb->i_nw);
    for (size_t n = 0; n < N; n++)
        for (int e = 0; e < E; e++) {
            gw[e] += mb->go[n * E + e] * mb->nrm[n * E + e];
            mb->gn[n * E + e] = mb->go[n * E + e] * w[e];
        }
    memset(mb->gyg, 0, N * E * sizeof(float));
    sl_rmsnorm_backward(mb->gyg, NULL, mb->gn, mb->yg, NULL, mb->rstd, (int)(N * G), E / G);
    float *gz = mb->gn; /* reuse: gz (N, E) */
    for (size_t i = 0; i < N * E; i++) {
        float zz = z[i];
        mb->gy[i] = mb->gyg[i] * sl_act1(SL_ACT_SILU, zz);
        gz[i] = mb->gyg[i] * mb->y[i] * sl_dact1(SL_ACT_SILU, zz);
    }
    /* SSD */
    memset(mb->gxs, 0, N * E * sizeof(float));
    memset(mb->gdt, 0, N * H * sizeof(float));
    memset(mb->gA, 0, H * sizeof(float));
    memset(mb->gB, 0, N * G * S * sizeof(float));
    memset(mb->gC, 0, N * G * S * sizeof(float));
    sl_ssd_args a = ssd_args(mb, P, B, T);
    sl_ssd_grads sg = {.dx = mb->gxs,
                       .ddt = mb->gdt,
                       .dA = mb->gA,
                       .dB = mb->gB,
                       .dC = mb->gC,
                       .dD = sl_params_grad(P, mb->i_D),
                       .ddt_bias = sl_params_grad(P, mb->i_dtb)};
    if ((rc = sl_ssd_backward(&sg, mb->gy, &a, mb->ws))) return rc;
    float *gal = sl_params_grad(P, mb->i_alog);
    for (int h = 0; h < H; h++) gal[h] += mb->gA[h] * mb->A[h];
    /* SiLU, conv */
    sl_cols_put(mb->gxbca, mb->gxs, N, CD, 0, E);
    sl_cols_put(mb->gxbca, mb->gB, N, CD, E, G * S);
    sl_cols_put(mb->gxbca, mb->gC, N, CD, E + G * S, G * S);
    memset(mb->gxbcc, 0, N * CD * sizeof(float));
    sl_act_backward(SL_ACT_SILU, mb->gxbcc, mb->gxbca, mb->xbcc, N * CD);
    memset(mb->gxbc, 0, N * CD * sizeof(float));
    sl_conv1d_causal_docs_backward(mb->gxbc, sl_params_grad(P, mb->i_cw), sl_params_grad_opt(P, mb->i_cb), mb->gxbcc, mb->xbc,
                                   sl_params_data(P, mb->i_cw), m->doc_pos, B, T, CD, mb->K);
    sl_cols_put(mb->gzx, gz, N, DIN, 0, E);
    sl_cols_put(mb->gzx, mb->gxbc, N, DIN, E, CD);
    sl_cols_put(mb->gzx, mb->gdt, N, DIN, E + CD, H);
    sl_linear_backward(dx, sl_params_grad(P, mb->i_inw), sl_params_grad_opt(P, mb->i_inb), mb->gzx, mb->xin,
                       sl_params_data(P, mb->i_inw), (int)N, C, DIN);
    return SL_OK;
}

static void mamba2_state_free(sl_model *m, void *state)
{
    mamba2_state *s = state;
    if (!s) return;
    sl_arena_free(&s->mem);
    sl_arena_free(&s->pf);
    free(s);
}

static int mamba2_state_reset(sl_model *m, void *state)
{
    mamba2_model *mb = (mamba2_model *)m;
    mamba2_state *s = state;
    memset(s->win, 0, (size_t)s->B * mb->K * mb->CD * sizeof(float));
    memset(s->S, 0, (size_t)s->B * mb->E * mb->S * sizeof(float));
    return SL_OK;
}

static void *mamba2_state_new(sl_model *m, int B)
{
    mamba2_model *mb = (mamba2_model *)m;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "mamba2: bad batch size %d", B);
        return NULL;
    }
    mamba2_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B;
    s->B = B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->win, b * mb->K * mb->CD), SL_FIELD(s->S, b * mb->E * mb->S),
                       SL_FIELD(s->zx, b * mb->DIN), SL_FIELD(s->xbc, b * mb->CD), SL_FIELD(s->xbca, b * mb->CD),
                       SL_FIELD(s->xs, b * mb->E), SL_FIELD(s->Bm, b * mb->G * mb->S), SL_FIELD(s->Cm, b * mb->G * mb->S),
                       SL_FIELD(s->dt, b * mb->H), SL_FIELD(s->A, mb->H), SL_FIELD(s->y, b * 4 * mb->E),
                       SL_FIELD(s->rstd, b * mb->G), SL_FIELD(s->o, b * mb->E))) {
        mamba2_state_free(m, s);
        return NULL;
    }
    mamba2_state_reset(m, s);
    return s;
}

static int mamba2_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *out)
{
    mamba2_model *mb = (mamba2_model *)m;
    mamba2_state *s = state;
    const sl_params *P = m->P;
    const int B = s->B, C = mb->cfg.d_model, E = mb->E, H = mb->H, G = mb->G, S = mb->S, CD = mb->CD, DIN = mb->DIN, K = mb->K;
    if (!x) return sl_error(SL_EINVAL, "mamba2 takes real input");
    sl_linear_forward(s->zx, x, sl_params_data(P, mb->i_inw), sl_params_data_opt(P, mb->i_inb), B, C, DIN);
    const float *cw = sl_params_data(P, mb->i_cw), *cb = sl_params_data_opt(P, mb->i_cb);
    for (int b = 0; b < B; b++) {
        float *w = s->win + (size_t)b * K * CD;
        memmove(w, w + CD, (size_t)(K - 1) * CD * sizeof(float));
        memcpy(w + (size_t)(K - 1) * CD, s->zx + (size_t)b * DIN + E, (size_t)CD * sizeof(float));
        float *o = s->xbc + (size_t)b * CD;
        for (int c = 0; c < CD; c++) o[c] = cb ? cb[c] : 0.0f;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < CD; c++) o[c] += cw[(size_t)c * K + k] * w[(size_t)k * CD + c];
    }
    sl_act_forward(SL_ACT_SILU, s->xbca, s->xbc, (size_t)B * CD);
    sl_cols_get(s->xs, s->xbca, B, CD, 0, E);
    sl_cols_get(s->Bm, s->xbca, B, CD, E, G * S);
    sl_cols_get(s->Cm, s->xbca, B, CD, E + G * S, G * S);
    sl_cols_get(s->dt, s->zx, B, DIN, E + CD, H);
    const float *al = sl_params_data(P, mb->i_alog);
    for (int h = 0; h < H; h++) s->A[h] = -expf(al[h]);
    sl_ssd_args a = {.B = B,
                     .L = 1,
                     .H = H,
                     .P = mb->P,
                     .G = G,
                     .N = S,
                     .x = s->xs,
                     .dt = s->dt,
                     .A = s->A,
                     .Bm = s->Bm,
                     .Cm = s->Cm,
                     .D = sl_params_data(P, mb->i_D),
                     .dt_bias = sl_params_data(P, mb->i_dtb),
                     .dt_softplus = 1};
    float *y = s->y, *z = s->y + (size_t)B * E, *yg = z + (size_t)B * E, *nrm = yg + (size_t)B * E;
    int rc = sl_ssd_step(y, s->S, &a);
    if (rc) return rc;
    sl_cols_get(z, s->zx, B, DIN, 0, E);
    gated_norm_fwd(mb, sl_params_data(P, mb->i_nw), yg, nrm, s->o, s->rstd, y, z, B);
    sl_linear_forward(out, s->o, sl_params_data(P, mb->i_ow), sl_params_data_opt(P, mb->i_ob), B, E, C);
    return SL_OK;
}

/* T positions in sequence mode from the state (issue #17 item 3): in_proj, the gated norm and
 * out_proj over all B*T rows at once; the convolution continues the state's window and the SSD
 * recurrence continues from the state's S position by position (sl_ssd_step; the chunked SSD
 * of ssm/ssd.c starts from a zero state), leaving the final window and state behind. */
static int mamba2_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *out, int B, int T)
{
    mamba2_model *mb = (mamba2_model *)m;
    mamba2_state *s = state;
    const sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, H = mb->H, G = mb->G, S = mb->S, CD = mb->CD, DIN = mb->DIN, K = mb->K;
    const size_t N = (size_t)B * T;
    float *zx, *xbc, *xbca, *xs, *Bm, *Cm, *dt, *y, *z, *yg, *nrm, *rstd,
        *o; // (N,DIN) (N,CD) x2 (N,E) (N,GS) x2 (N,H) (N,E) x4 (N,G) (N,E)
    int rc;
    (void)tok;
    if (!x) return sl_error(SL_EINVAL, "mamba2 takes real input");
    if (B != s->B) return sl_error(SL_ESHAPE, "mamba2: prefill of %d rows into a state for %d", B, s->B);
    if ((rc = SL_ARENA_CARVE(&s->pf, SL_FIELD(zx, N * DIN), SL_FIELD(xbc, N * CD), SL_FIELD(xbca, N * CD), SL_FIELD(xs, N * E),
                             SL_FIELD(Bm, N * G * S), SL_FIELD(Cm, N * G * S), SL_FIELD(dt, N * H), SL_FIELD(y, N * E),
                             SL_FIELD(z, N * E), SL_FIELD(yg, N * E), SL_FIELD(nrm, N * E), SL_FIELD(rstd, N * G),
                             SL_FIELD(o, N * E))))
        return rc;
    sl_linear_forward(zx, x, sl_params_data(P, mb->i_inw), sl_params_data_opt(P, mb->i_inb), (int)N, C, DIN);
    const float *cw = sl_params_data(P, mb->i_cw), *cb = sl_params_data_opt(P, mb->i_cb);
    for (int b = 0; b < B; b++) {
        float *w = s->win + (size_t)b * K * CD;
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)b * T + t;
            memmove(w, w + CD, (size_t)(K - 1) * CD * sizeof(float));
            memcpy(w + (size_t)(K - 1) * CD, zx + r * DIN + E, (size_t)CD * sizeof(float));
            float *oc = xbc + r * CD;
            for (int c = 0; c < CD; c++) oc[c] = cb ? cb[c] : 0.0f;
            for (int k = 0; k < K; k++)
                for (int c = 0; c < CD; c++) oc[c] += cw[(size_t)c * K + k] * w[(size_t)k * CD + c];
        }
    }
    sl_act_forward(SL_ACT_SILU, xbca, xbc, N * CD);
    sl_cols_get(xs, xbca, (int)N, CD, 0, E);
    sl_cols_get(Bm, xbca, (int)N, CD, E, G * S);
    sl_cols_get(Cm, xbca, (int)N, CD, E + G * S, G * S);
    sl_cols_get(dt, zx, (int)N, DIN, E + CD, H);
    const float *al = sl_params_data(P, mb->i_alog);
    for (int h = 0; h < H; h++) s->A[h] = -expf(al[h]);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)b * T + t;
            sl_ssd_args a = {.B = 1,
                             .L = 1,
                             .H = H,
                             .P = mb->P,
                             .G = G,
                             .N = S,
                             .x = xs + r * E,
                             .dt = dt + r * H,
                             .A = s->A,
                             .Bm = Bm + r * G * S,
                             .Cm = Cm + r * G * S,
                             .D = sl_params_data(P, mb->i_D),
                             .dt_bias = sl_params_data(P, mb->i_dtb),
                             .dt_softplus = 1};
            if ((rc = sl_ssd_step(y + r * E, s->S + (size_t)b * E * S, &a))) return rc;
        }
    sl_cols_get(z, zx, (int)N, DIN, 0, E);
    gated_norm_fwd(mb, sl_params_data(P, mb->i_nw), yg, nrm, o, rstd, y, z, (int)N);
    sl_linear_forward(out, o, sl_params_data(P, mb->i_ow), sl_params_data_opt(P, mb->i_ob), (int)N, E, C);
    return SL_OK;
}

static int mamba2_state_copy(sl_model *m, void *dst, const void *src)
{
    mamba2_model *mb = (mamba2_model *)m;
    mamba2_state *d = dst;
    const mamba2_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "mamba2: copy of a state for %d rows into one for %d", s->B, d->B);
    memcpy(d->win, s->win, (size_t)s->B * mb->K * mb->CD * sizeof(float));
    memcpy(d->S, s->S, (size_t)s->B * mb->E * mb->S * sizeof(float));
    return SL_OK;
}

static int mamba2_init(sl_model *m, sl_rng *rng)
{
    mamba2_model *mb = (mamba2_model *)m;
    sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, H = mb->H;
    float a = 1.0f / sqrtf((float)C);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_inw), (size_t)mb->DIN * C, -a, a);
    if (mb->i_inb >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_inb), (size_t)mb->DIN, -a, a);
    a = 1.0f / sqrtf((float)mb->K);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_cw), (size_t)mb->CD * mb->K, -a, a);
    if (mb->i_cb >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_cb), (size_t)mb->CD, -a, a);
    float *dtb = sl_params_data(P, mb->i_dtb), *al = sl_params_data(P, mb->i_alog), *D = sl_params_data(P, mb->i_D);
    const double lo = log(mb->cfg.dt_min), hi = log(mb->cfg.dt_max);
    for (int h = 0; h < H; h++) {
        double dt = exp(sl_rng_uniform(rng) * (hi - lo) + lo);
        if (dt < mb->cfg.dt_init_floor) dt = mb->cfg.dt_init_floor;
        dtb[h] = (float)(dt + log(-expm1(-dt)));
    }
    for (int h = 0; h < H; h++) {
        al[h] = (float)log(mb->cfg.A_init_min + sl_rng_uniform(rng) * (mb->cfg.A_init_max - mb->cfg.A_init_min));
        D[h] = 1.0f;
    }
    float *nw = sl_params_data(P, mb->i_nw);
    for (int e = 0; e < E; e++) nw[e] = 1.0f;
    a = 1.0f / sqrtf((float)E);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_ow), (size_t)C * E, -a, a);
    if (mb->i_ob >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_ob), (size_t)C, -a, a);
    return SL_OK;
}

static void mamba2_destroy(sl_model *m)
{
    mamba2_model *mb = (mamba2_model *)m;
    sl_arena_free(&mb->fwd);
    sl_arena_free(&mb->bwd);
    sl_ssd_ws_free(mb->ws);
    free(mb);
}

/* seq/model.h's release: the forward cache, backward's scratch and the SSD's workspace */
static void mamba2_release(sl_model *m)
{
    mamba2_model *mb = (mamba2_model *)m;
    sl_arena_free(&mb->fwd);
    sl_arena_free(&mb->bwd);
    sl_ssd_ws_release(mb->ws);
}

/* seq/model.h's state_reset_rows: the chosen rows' conv window and SSD state to zero */
static int mamba2_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    mamba2_model *mb = (mamba2_model *)m;
    mamba2_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    const size_t nw = (size_t)mb->K * mb->CD, ns = (size_t)mb->E * mb->S;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->win + b * nw, 0, nw * sizeof(float));
            memset(s->S + b * ns, 0, ns * sizeof(float));
        }
    return SL_OK;
}

static const sl_model_vt mamba2_vt = {
    .kind = "mamba2",
    .destroy = mamba2_destroy,
    .release = mamba2_release,
    .init = mamba2_init,
    .forward = mamba2_forward,
    .backward = mamba2_backward,
    .state_new = mamba2_state_new,
    .state_free = mamba2_state_free,
    .state_reset = mamba2_state_reset,
    .state_reset_rows = mamba2_state_reset_rows,
    .prefill = mamba2_prefill,
    .state_copy = mamba2_state_copy,
    .step = mamba2_step,
};

int sl_mamba2_create(const sl_mamba2_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_mamba2_config c = *cfg;
    if (c.d_model <= 0 || c.d_state <= 0 || c.d_conv <= 0 || c.expand <= 0 || c.headdim <= 0 || c.ngroups <= 0 ||
        c.chunk_size <= 0)
        return sl_error(SL_EINVAL, "mamba2: d_model, d_state, d_conv, expand, headdim, ngroups, chunk_size must be positive");
    const int E = c.expand * c.d_model;
    if (E % c.headdim)
        return sl_error(SL_EINVAL, "mamba2: d_inner = expand * d_model = %d is not a multiple of headdim=%d", E, c.headdim);
    const int H = E / c.headdim;
    if (H % c.ngroups) return sl_error(SL_EINVAL, "mamba2: nheads=%d is not a multiple of ngroups=%d", H, c.ngroups);
    if (!(c.dt_min > 0 && c.dt_min <= c.dt_max && c.A_init_min > 0 && c.A_init_min <= c.A_init_max))
        return sl_error(SL_EINVAL, "mamba2: need 0 < dt_min <= dt_max and 0 < A_init_min <= A_init_max");
    mamba2_model *mb = calloc(1, sizeof *mb);
    if (!mb) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &mb->base;
    m->vt = &mamba2_vt;
    m->P = P;
    m->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_INFER | SL_CAP_PACK;
    m->d_in = m->d_out = c.d_model;
    mb->cfg = c;
    mb->E = E;
    mb->H = H;
    mb->P = c.headdim;
    mb->G = c.ngroups;
    mb->S = c.d_state;
    mb->K = c.d_conv;
    mb->CD = E + 2 * c.ngroups * c.d_state;
    mb->DIN = 2 * E + 2 * c.ngroups * c.d_state + H;
    mb->ws = sl_ssd_ws_new();
    if (!mb->ws) {
        free(mb);
        return SL_ENOMEM;
    }
    const char *pre = prefix ? prefix : "";
    mb->i_inb = mb->i_cb = mb->i_ob = -1;
    mb->i_inw = sl_params_add(P, pre, "in_proj.weight", 2, mb->DIN, c.d_model, 0, 0);
    if (c.bias) mb->i_inb = sl_params_add(P, pre, "in_proj.bias", 1, mb->DIN, 0, 0, 0);
    mb->i_cw = sl_params_add(P, pre, "conv1d.weight", 3, mb->CD, 1, c.d_conv, 0);
    if (c.conv_bias) mb->i_cb = sl_params_add(P, pre, "conv1d.bias", 1, mb->CD, 0, 0, 0);
    mb->i_dtb = sl_params_add(P, pre, "dt_bias", 1, H, 0, 0, 0);
    mb->i_alog = sl_params_add(P, pre, "A_log", 1, H, 0, 0, 0);
    mb->i_D = sl_params_add(P, pre, "D", 1, H, 0, 0, 0);
    mb->i_nw = sl_params_add(P, pre, "norm.weight", 1, E, 0, 0, 0);
    mb->i_ow = sl_params_add(P, pre, "out_proj.weight", 2, c.d_model, E, 0, 0);
    if (c.bias) mb->i_ob = sl_params_add(P, pre, "out_proj.bias", 1, c.d_model, 0, 0, 0);
    int idx[] = {mb->i_inw,
                 mb->i_cw,
                 mb->i_dtb,
                 mb->i_alog,
                 mb->i_D,
                 mb->i_nw,
                 mb->i_ow,
                 c.bias ? mb->i_inb : 0,
                 c.bias ? mb->i_ob : 0,
                 c.conv_bias ? mb->i_cb : 0};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            mamba2_destroy(m);
            return idx[i];
        }
    /* mamba_ssm Mamba2: dt_bias, A_log and D are _no_weight_decay */
    sl_params_set_group(P, mb->i_dtb, 1.0f, 0.0f);
    sl_params_set_group(P, mb->i_alog, 1.0f, 0.0f);
    sl_params_set_group(P, mb->i_D, 1.0f, 0.0f);
    *out = m;
    return SL_OK;
}
