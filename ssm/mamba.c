/* ssm/mamba.c — the Mamba block (see mamba.h): mamba_ssm's Mamba.forward slow path on the
 * selective scan of ssm/scan.c, with its backward and step mode. */
#include "ssm/mamba.h"
#include "core/error.h"
#include "seq/layers.h"
#include "ssm/scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model base;
    sl_mamba_config cfg;
    int E, S, R, K, XD; /* d_inner, d_state, dt_rank, d_conv, x_proj width R + 2S */
    int i_inw, i_inb, i_cw, i_cb, i_xw, i_dtw, i_dtb, i_alog, i_D, i_ow, i_ob;
    /* forward cache for (B, T), carved from fwd */
    int B, T;
    sl_arena fwd, bwd;
    float *xin;           /* (N, d_model) input copy */
    float *xi, *z;        /* (N, E) x and z halves */
    float *xc, *u;        /* (N, E) conv output before / after SiLU */
    float *dtr, *Bm, *Cm; /* (N, R) (N, S) (N, S) */
    float *delta, *y;     /* (N, E) */
    float *A;             /* (E, S) */
    sl_scan_ws *ws;
    /* backward scratch, carved from bwd */
    float *gy, *gu, *gdelta, *gz, *gB, *gC; /* (N, E) x4, (N, S) x2 */
    float *gA, *gdtr, *gxc;                 /* (E, S) (N, R) (N, E) */
} mamba_model;

typedef struct {
    int B;
    sl_arena mem;                                          /* one block, carved into the fields below */
    float *win;                                            /* (B, K, E) last K conv inputs, oldest first */
    float *h;                                              /* (B, E, S) SSM state */
    float *xz, *xc, *xdbl, *dtr, *Bm, *Cm, *delta, *y, *A; /* scratch */
    sl_arena pf;                                           /* prefill's scratch for N = B*T rows */
} mamba_state;

const sl_spec_key sl_mamba_keys[] = {
    SL_KEY_INT(sl_mamba_config, d_model, "d_model", "64", 1, 65536, "model width"),
    SL_KEY_INT(sl_mamba_config, d_state, "d_state", "16", 1, 1024, "SSM state size N per channel"),
    SL_KEY_INT(sl_mamba_config, d_conv, "d_conv", "4", 1, 64, "width of the depthwise causal convolution"),
    SL_KEY_INT(sl_mamba_config, expand, "expand", "2", 1, 64, "d_inner = expand * d_model"),
    {"dt_rank", 's', "auto", 0, 0, "rank of the dt projection; auto = ceil(d_model / 16)"},
    SL_KEY_DOUBLE(sl_mamba_config, dt_min, "dt_min", "0.001", 1e-8, 10, "smallest initial step size"),
    SL_KEY_DOUBLE(sl_mamba_config, dt_max, "dt_max", "0.1", 1e-8, 10, "largest initial step size"),
    SL_KEY_DOUBLE(sl_mamba_config, dt_init_floor, "dt_init_floor", "1e-4", 0, 10, "lower clamp of the initial step size"),
    SL_KEY_DOUBLE(sl_mamba_config, dt_scale, "dt_scale", "1", 1e-6, 100, "scale of the dt_proj weight init"),
    SL_KEY_BOOL(sl_mamba_config, conv_bias, "conv_bias", "1", "conv1d has a bias"),
    SL_KEY_BOOL(sl_mamba_config, bias, "bias", "0", "in_proj and out_proj have biases"),
    SL_KEY_INT(sl_mamba_config, scan_chunks, "scan_chunks", "0", 0, 4096,
               "selective scan: 0 auto, 1 fast path, >1 chunked parallel over time"),
    SL_KEY_END,
};

sl_mamba_config sl_mamba_defaults(int d_model)
{
    sl_mamba_config c;
    memset(&c, 0, sizeof c);
    sl_spec_defaults(sl_mamba_keys, &c); /* cannot fail: the table's defaults are valid */
    c.d_model = d_model;
    c.dt_rank = 0; /* auto */
    return c;
}

int sl_mamba_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_mamba_config c = sl_mamba_defaults(0);
    const char *dr;
    int rc;
    if ((rc = sl_spec_read(s, sl_mamba_keys, &c)) || (rc = sl_spec_str(s, sl_mamba_keys, "dt_rank", &dr))) return rc;
    if (!strcmp(dr, "auto")) {
        c.dt_rank = 0;
    } else {
        long v;
        if ((rc = sl_parse_int(dr, 1, 65536, &v))) return sl_error_wrap(rc, "%s: key 'dt_rank' (an integer or auto)", s->name);
        c.dt_rank = (int)v;
    }
    if (c.dt_min > c.dt_max) return sl_error(SL_EINVAL, "%s: dt_min=%g is larger than dt_max=%g", s->name, c.dt_min, c.dt_max);
    return sl_mamba_create(&c, P, prefix, out);
}

static void neg_exp(float *A, const float *A_log, size_t n)
{
    for (size_t i = 0; i < n; i++) A[i] = -expf(A_log[i]);
}

static int mamba_forward(sl_model *m, const float *x, const int32_t *tok, float *out, int B, int T)
{
    mamba_model *mb = (mamba_model *)m;
    const sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, S = mb->S, R = mb->R, K = mb->K;
    const size_t N = (size_t)B * T;
    /* inference mode: no input copy; u is computed over xc in place and y written over xi (read
     * only by the convolution), so the working space is 4 (N, E) arrays instead of 6 + (N, C) */
    const int inf = m->inference;
    int rc;
    if (m->doc_pos && (rc = sl_docs_check(m->doc_pos, B, T))) return rc;
    if ((rc = SL_ARENA_CARVE(&mb->fwd, SL_FIELD(mb->xin, inf ? 0 : N * C), SL_FIELD(mb->xi, N * E), SL_FIELD(mb->z, N * E),
                             SL_FIELD(mb->xc, N * E), SL_FIELD(mb->u, inf ? 0 : N * E), SL_FIELD(mb->dtr, N * R),
                             SL_FIELD(mb->Bm, N * S), SL_FIELD(mb->Cm, N * S), SL_FIELD(mb->delta, N * E),
                             SL_FIELD(mb->y, inf ? 0 : N * E), SL_FIELD(mb->A, (size_t)E * S))))
        return rc;
    if (inf) {
        mb->u = mb->xc;
        mb->y = mb->xi;
    }
    mb->B = inf ? 0 : B; /* backward refuses without a training forward */
    mb->T = T;
    if (!inf) memcpy(mb->xin, x, N * C * sizeof(float));
    /* in_proj and x_proj as one product per output part (row blocks of their weights), each
     * written where it is used: no (N, 2E) / (N, R + 2S) result to split column by column */
    const float *win = sl_params_data(P, mb->i_inw), *bin = sl_params_data_opt(P, mb->i_inb);
    sl_linear_forward(mb->xi, x, win, bin, (int)N, C, E);
    sl_linear_forward(mb->z, x, win + (size_t)E * C, bin ? bin + E : NULL, (int)N, C, E);
    /* packed rows (m->doc_pos): the convolution's window and the scan's state restart at each
     * document (seq/layers.h, ssm/scan.h) */
    sl_conv1d_causal_docs_forward(mb->xc, mb->xi, sl_params_data(P, mb->i_cw), sl_params_data_opt(P, mb->i_cb), m->doc_pos, B, T,
                                  E, K);
    sl_act_forward(SL_ACT_SILU, mb->u, mb->xc, N * E);
    const float *wx = sl_params_data(P, mb->i_xw); /* (R + 2S, E): dt rows, B rows, C rows */
    sl_linear_forward(mb->dtr, mb->u, wx, NULL, (int)N, E, R);
    sl_linear_forward(mb->Bm, mb->u, wx + (size_t)R * E, NULL, (int)N, E, S);
    sl_linear_forward(mb->Cm, mb->u, wx + (size_t)(R + S) * E, NULL, (int)N, E, S);
    sl_linear_forward(mb->delta, mb->dtr, sl_params_data(P, mb->i_dtw), NULL, (int)N, R, E);
    neg_exp(mb->A, sl_params_data(P, mb->i_alog), (size_t)E * S);
    sl_scan_args a = {.B = B,
                      .L = T,
                      .D = E,
                      .N = S,
                      .G = 1,
                      .u = mb->u,
                      .delta = mb->delta,
                      .A = mb->A,
                      .Bm = mb->Bm,
                      .Cm = mb->Cm,
                      .Dv = sl_params_data(P, mb->i_D),
                      .z = mb->z,
                      .delta_bias = sl_params_data(P, mb->i_dtb),
                      .delta_softplus = 1,
                      .doc_pos = m->doc_pos};
    if ((rc = sl_scan_forward(mb->y, NULL, &a, mb->cfg.scan_chunks, mb->ws))) return rc;
    sl_linear_forward(out, mb->y, sl_params_data(P, mb->i_ow), sl_params_data_opt(P, mb->i_ob), (int)N, E, C);
    return SL_OK;
}

static int mamba_backward(sl_model *m, const float *dout, float *dx)
{
    mamba_model *mb = (mamba_model *)m;
    sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, S = mb->S, R = mb->R, K = mb->K, B = mb->B, T = mb->T;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "mamba: backward before forward");
    int rc;
    if ((rc = SL_ARENA_CARVE(&mb->bwd, SL_FIELD(mb->gy, N * E), SL_FIELD(mb->gu, N * E), SL_FIELD(mb->gdelta, N * E),
                             SL_FIELD(mb->gz, N * E), SL_FIELD(mb->gB, N * S), SL_FIELD(mb->gC, N * S),
                             SL_FIELD(mb->gA, (size_t)E * S), SL_FIELD(mb->gdtr, N * R), SL_FIELD(mb->gxc, N * E))))
        return rc;
    /* out_proj (gy set, not accumulated: no memset) */
    sl_linear_backward_set(mb->gy, sl_params_grad(P, mb->i_ow), sl_params_grad_opt(P, mb->i_ob), dout, mb->y,
                           sl_params_data(P, mb->i_ow), (int)N, E, C);
    /* scan */
    memset(mb->gu, 0, N * E * sizeof(float));
    memset(mb->gdelta, 0, N * E * sizeof(float));
    memset(mb->gz, 0, N * E * sizeof(float));
    memset(mb->gB, 0, N * S * sizeof(float));
    memset(mb->gC, 0, N * S * sizeof(float));
    memset(mb->gA, 0, (size_t)E * S * sizeof(float));
    sl_scan_args a = {.B = B,
                      .L = T,
                      .D = E,
                      .N = S,
                      .G = 1,
                      .u = mb->u,
                      .delta = mb->delta,
                      .A = mb->A,
                      .Bm = mb->Bm,
                      .Cm = mb->Cm,
                      .Dv = sl_params_data(P, mb->i_D),
                      .z = mb->z,
                      .delta_bias = sl_params_data(P, mb->i_dtb),
                      .delta_softplus = 1,
                      .doc_pos = m->doc_pos};
    sl_scan_grads g = {.du = mb->gu,
                       .ddelta = mb->gdelta,
                       .dA = mb->gA,
                       .dB = mb->gB,
                       .dC = mb->gC,
                       .dD = sl_params_grad(P, mb->i_D),
                       .dz = mb->gz,
                       .ddelta_bias = sl_params_grad(P, mb->i_dtb)};
    if ((rc = sl_scan_backward(&g, mb->gy, &a, mb->ws))) return rc;
    /* A = -exp(A_log): dA_log = dA * A */
    float *gal = sl_params_grad(P, mb->i_alog);
    for (size_t i = 0; i < (size_t)E * S; i++) gal[i] += mb->gA[i] * mb->A[i];
    /* dt_proj (no bias here: its bias went through the scan) */
    sl_linear_backward_set(mb->gdtr, sl_params_grad(P, mb->i_dtw), NULL, mb->gdelta, mb->dtr, sl_params_data(P, mb->i_dtw),
                           (int)N, R, E);
    /* x_proj, part by part (its weight's dt, B and C row blocks) */
    const float *wx = sl_params_data(P, mb->i_xw);
    float *gwx = sl_params_grad(P, mb->i_xw);
    sl_linear_backward(mb->gu, gwx, NULL, mb->gdtr, mb->u, wx, (int)N, E, R);
    sl_linear_backward(mb->gu, gwx + (size_t)R * E, NULL, mb->gB, mb->u, wx + (size_t)R * E, (int)N, E, S);
    sl_linear_backward(mb->gu, gwx + (size_t)(R + S) * E, NULL, mb->gC, mb->u, wx + (size_t)(R + S) * E, (int)N, E, S);
    /* SiLU, conv */
    memset(mb->gxc, 0, N * E * sizeof(float));
    sl_act_backward(SL_ACT_SILU, mb->gxc, mb->gu, mb->xc, N * E);
    /* conv input gradient lands in gu (reused as (N, E) scratch) */
    memset(mb->gu, 0, N * E * sizeof(float));
    sl_conv1d_causal_docs_backward(mb->gu, sl_params_grad(P, mb->i_cw), sl_params_grad_opt(P, mb->i_cb), mb->gxc, mb->xi,
                                   sl_params_data(P, mb->i_cw), m->doc_pos, B, T, E, K);
    /* in_proj, its x and z halves */
    const float *win = sl_params_data(P, mb->i_inw);
    float *gwin = sl_params_grad(P, mb->i_inw), *gbin = sl_params_grad_opt(P, mb->i_inb);
    sl_linear_backward(dx, gwin, gbin, mb->gu, mb->xin, win, (int)N, C, E);
    sl_linear_backward(dx, gwin + (size_t)E * C, gbin ? gbin + E : NULL, mb->gz, mb->xin, win + (size_t)E * C, (int)N, C, E);
    return SL_OK;
}

static void mamba_state_free(sl_model *m, void *state)
{
    mamba_state *s = state;
    if (!s) return;
    sl_arena_free(&s->mem);
    sl_arena_free(&s->pf);
    free(s);
}

static int mamba_state_reset(sl_model *m, void *state)
{
    mamba_model *mb = (mamba_model *)m;
    mamba_state *s = state;
    memset(s->win, 0, (size_t)s->B * mb->K * mb->E * sizeof(float));
    memset(s->h, 0, (size_t)s->B * mb->E * mb->S * sizeof(float));
    return SL_OK;
}

static void *mamba_state_new(sl_model *m, int B)
{
    mamba_model *mb = (mamba_model *)m;
    const int E = mb->E, S = mb->S;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "mamba: bad batch size %d", B);
        return NULL;
    }
    mamba_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->B = B;
    const size_t b = (size_t)B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->win, b * mb->K * E), SL_FIELD(s->h, b * E * S), SL_FIELD(s->xz, b * 2 * E),
                       SL_FIELD(s->xc, b * 2 * E), SL_FIELD(s->xdbl, b * mb->XD), SL_FIELD(s->dtr, b * mb->R),
                       SL_FIELD(s->Bm, b * S), SL_FIELD(s->Cm, b * S), SL_FIELD(s->delta, b * E), SL_FIELD(s->y, b * 2 * E),
                       SL_FIELD(s->A, (size_t)E * S))) {
        mamba_state_free(m, s);
        return NULL;
    }
    mamba_state_reset(m, s);
    return s;
}

static int mamba_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *out)
{
    mamba_model *mb = (mamba_model *)m;
    mamba_state *s = state;
    const sl_params *P = m->P;
    const int B = s->B, C = mb->cfg.d_model, E = mb->E, S = mb->S, R = mb->R, K = mb->K, XD = mb->XD;
    if (!x) return sl_error(SL_EINVAL, "mamba takes real input");
    sl_linear_forward(s->xz, x, sl_params_data(P, mb->i_inw), sl_params_data_opt(P, mb->i_inb), B, C, 2 * E);
    const float *cw = sl_params_data(P, mb->i_cw), *cb = sl_params_data_opt(P, mb->i_cb);
    float *xc = s->xc, *u = s->xc + (size_t)B * E, *z = s->y + (size_t)B * E;
    for (int b = 0; b < B; b++) {
        float *w = s->win + (size_t)b * K * E;
        memmove(w, w + E, (size_t)(K - 1) * E * sizeof(float));
        memcpy(w + (size_t)(K - 1) * E, s->xz + (size_t)b * 2 * E, (size_t)E * sizeof(float));
        memcpy(z + (size_t)b * E, s->xz + (size_t)b * 2 * E + E, (size_t)E * sizeof(float));
        float *o = xc + (size_t)b * E;
        for (int c = 0; c < E; c++) o[c] = cb ? cb[c] : 0.0f;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < E; c++) o[c] += cw[(size_t)c * K + k] * w[(size_t)k * E + c];
    }
    sl_act_forward(SL_ACT_SILU, u, xc, (size_t)B * E);
    sl_linear_forward(s->xdbl, u, sl_params_data(P, mb->i_xw), NULL, B, E, XD);
    sl_cols_get(s->dtr, s->xdbl, B, XD, 0, R);
    sl_cols_get(s->Bm, s->xdbl, B, XD, R, S);
    sl_cols_get(s->Cm, s->xdbl, B, XD, R + S, S);
    sl_linear_forward(s->delta, s->dtr, sl_params_data(P, mb->i_dtw), NULL, B, R, E);
    neg_exp(s->A, sl_params_data(P, mb->i_alog), (size_t)E * S);
    sl_scan_args a = {.B = B,
                      .L = 1,
                      .D = E,
                      .N = S,
                      .G = 1,
                      .u = u,
                      .delta = s->delta,
                      .A = s->A,
                      .Bm = s->Bm,
                      .Cm = s->Cm,
                      .Dv = sl_params_data(P, mb->i_D),
                      .z = z,
                      .delta_bias = sl_params_data(P, mb->i_dtb),
                      .delta_softplus = 1};
    int rc = sl_scan_step(s->y, s->h, &a);
    if (rc) return rc;
    sl_linear_forward(out, s->y, sl_params_data(P, mb->i_ow), sl_params_data_opt(P, mb->i_ob), B, E, C);
    return SL_OK;
}

/* T positions in sequence mode from the state (issue #17 item 3). The projections (in_proj,
 * x_proj, dt_proj, out_proj: most of the work) run over all B*T rows at once; the convolution
 * continues the state's window and the selective scan continues from the state's h, position
 * by position (sl_scan_step: the sequence kernels of ssm/scan.c start from a zero state), and
 * both leave their final window / state in the state. */
static int mamba_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *out, int B, int T)
{
    mamba_model *mb = (mamba_model *)m;
    mamba_state *s = state;
    const sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, S = mb->S, R = mb->R, K = mb->K, XD = mb->XD;
    const size_t N = (size_t)B * T;
    float *xz, *xc, *u, *xdbl, *dtr, *Bm, *Cm, *delta, *z, *y; // (N,2E) (N,E) (N,E) (N,XD) (N,R) (N,S) (N,S) (N,E) (N,E) (N,E)
    int rc;
    (void)tok;
    if (!x) return sl_error(SL_EINVAL, "mamba takes real input");
    if (B != s->B) return sl_error(SL_ESHAPE, "mamba: prefill of %d rows into a state for %d", B, s->B);
    if ((rc = SL_ARENA_CARVE(&s->pf, SL_FIELD(xz, N * 2 * E), SL_FIELD(xc, N * E), SL_FIELD(u, N * E), SL_FIELD(xdbl, N * XD),
                             SL_FIELD(dtr, N * R), SL_FIELD(Bm, N * S), SL_FIELD(Cm, N * S), SL_FIELD(delta, N * E),
                             SL_FIELD(z, N * E), SL_FIELD(y, N * E))))
        return rc;
    sl_linear_forward(xz, x, sl_params_data(P, mb->i_inw), sl_params_data_opt(P, mb->i_inb), (int)N, C, 2 * E);
    const float *cw = sl_params_data(P, mb->i_cw), *cb = sl_params_data_opt(P, mb->i_cb);
    for (int b = 0; b < B; b++) {
        float *w = s->win + (size_t)b * K * E;
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)b * T + t;
            memmove(w, w + E, (size_t)(K - 1) * E * sizeof(float));
            memcpy(w + (size_t)(K - 1) * E, xz + r * 2 * E, (size_t)E * sizeof(float));
            memcpy(z + r * E, xz + r * 2 * E + E, (size_t)E * sizeof(float));
            float *o = xc + r * E;
            for (int c = 0; c < E; c++) o[c] = cb ? cb[c] : 0.0f;
            for (int k = 0; k < K; k++)
                for (int c = 0; c < E; c++) o[c] += cw[(size_t)c * K + k] * w[(size_t)k * E + c];
        }
    }
    sl_act_forward(SL_ACT_SILU, u, xc, N * E);
    sl_linear_forward(xdbl, u, sl_params_data(P, mb->i_xw), NULL, (int)N, E, XD);
    sl_cols_get(dtr, xdbl, (int)N, XD, 0, R);
    sl_cols_get(Bm, xdbl, (int)N, XD, R, S);
    sl_cols_get(Cm, xdbl, (int)N, XD, R + S, S);
    sl_linear_forward(delta, dtr, sl_params_data(P, mb->i_dtw), NULL, (int)N, R, E);
    neg_exp(s->A, sl_params_data(P, mb->i_alog), (size_t)E * S);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)b * T + t;
            sl_scan_args a = {.B = 1,
                              .L = 1,
                              .D = E,
                              .N = S,
                              .G = 1,
                              .u = u + r * E,
                              .delta = delta + r * E,
                              .A = s->A,
                              .Bm = Bm + r * S,
                              .Cm = Cm + r * S,
                              .Dv = sl_params_data(P, mb->i_D),
                              .z = z + r * E,
                              .delta_bias = sl_params_data(P, mb->i_dtb),
                              .delta_softplus = 1};
            if ((rc = sl_scan_step(y + r * E, s->h + (size_t)b * E * S, &a))) return rc;
        }
    sl_linear_forward(out, y, sl_params_data(P, mb->i_ow), sl_params_data_opt(P, mb->i_ob), (int)N, E, C);
    return SL_OK;
}

/* the window and the SSM state (the rest of the state is scratch) */
static int mamba_state_copy(sl_model *m, void *dst, const void *src)
{
    mamba_model *mb = (mamba_model *)m;
    mamba_state *d = dst;
    const mamba_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "mamba: copy of a state for %d rows into one for %d", s->B, d->B);
    memcpy(d->win, s->win, (size_t)s->B * mb->K * mb->E * sizeof(float));
    memcpy(d->h, s->h, (size_t)s->B * mb->E * mb->S * sizeof(float));
    return SL_OK;
}

static int mamba_init(sl_model *m, sl_rng *rng)
{
    mamba_model *mb = (mamba_model *)m;
    sl_params *P = m->P;
    const int C = mb->cfg.d_model, E = mb->E, S = mb->S, R = mb->R, K = mb->K;
    float a = 1.0f / sqrtf((float)C);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_inw), (size_t)2 * E * C, -a, a);
    if (mb->i_inb >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_inb), (size_t)2 * E, -a, a);
    a = 1.0f / sqrtf((float)K);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_cw), (size_t)E * K, -a, a);
    if (mb->i_cb >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_cb), (size_t)E, -a, a);
    a = 1.0f / sqrtf((float)E);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_xw), (size_t)mb->XD * E, -a, a);
    a = (float)(mb->cfg.dt_scale / sqrt((double)R));
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_dtw), (size_t)E * R, -a, a);
    /* dt log-uniform in [dt_min, dt_max], floored; bias = softplus^-1(dt) = dt + log(-expm1(-dt)) */
    float *dtb = sl_params_data(P, mb->i_dtb);
    const double lo = log(mb->cfg.dt_min), hi = log(mb->cfg.dt_max);
    for (int e = 0; e < E; e++) {
        double dt = exp(sl_rng_uniform(rng) * (hi - lo) + lo);
        if (dt < mb->cfg.dt_init_floor) dt = mb->cfg.dt_init_floor;
        dtb[e] = (float)(dt + log(-expm1(-dt)));
    }
    float *al = sl_params_data(P, mb->i_alog), *D = sl_params_data(P, mb->i_D);
    for (int e = 0; e < E; e++) {
        for (int n = 0; n < S; n++) al[(size_t)e * S + n] = (float)log((double)(n + 1));
        D[e] = 1.0f;
    }
    a = 1.0f / sqrtf((float)E);
    sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_ow), (size_t)C * E, -a, a);
    if (mb->i_ob >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, mb->i_ob), (size_t)C, -a, a);
    return SL_OK;
}

static void mamba_destroy(sl_model *m)
{
    mamba_model *mb = (mamba_model *)m;
    sl_arena_free(&mb->fwd);
    sl_arena_free(&mb->bwd);
    sl_scan_ws_free(mb->ws);
    free(mb);
}

/* seq/model.h's release: the forward cache, backward's scratch and the scan's workspace (its
 * step sizes, state checkpoints and backward's partial dB, dC: about three (B, T, E) arrays) */
static void mamba_release(sl_model *m)
{
    mamba_model *mb = (mamba_model *)m;
    sl_arena_free(&mb->fwd);
    sl_arena_free(&mb->bwd);
    sl_scan_ws_release(mb->ws);
}

/* seq/model.h's state_reset_rows: the chosen rows' conv window and SSM state to zero */
static int mamba_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    mamba_model *mb = (mamba_model *)m;
    mamba_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    const size_t nw = (size_t)mb->K * mb->E, nh = (size_t)mb->E * mb->S;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->win + b * nw, 0, nw * sizeof(float));
            memset(s->h + b * nh, 0, nh * sizeof(float));
        }
    return SL_OK;
}

static const sl_model_vt mamba_vt = {
    .kind = "mamba",
    .destroy = mamba_destroy,
    .release = mamba_release,
    .init = mamba_init,
    .forward = mamba_forward,
    .backward = mamba_backward,
    .state_new = mamba_state_new,
    .state_free = mamba_state_free,
    .state_reset = mamba_state_reset,
    .state_reset_rows = mamba_state_reset_rows,
    .prefill = mamba_prefill,
    .state_copy = mamba_state_copy,
    .step = mamba_step,
};

int sl_mamba_create(const sl_mamba_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    sl_mamba_config c = *cfg;
    if (c.d_model <= 0 || c.d_state <= 0 || c.d_conv <= 0 || c.expand <= 0)
        return sl_error(SL_EINVAL, "mamba: d_model=%d d_state=%d d_conv=%d expand=%d must all be positive", c.d_model, c.d_state,
                        c.d_conv, c.expand);
    if (c.dt_rank <= 0) c.dt_rank = (c.d_model + 15) / 16;
    if (!(c.dt_min > 0 && c.dt_min <= c.dt_max && c.dt_init_floor >= 0 && c.dt_scale > 0))
        return sl_error(SL_EINVAL, "mamba: need 0 < dt_min <= dt_max, dt_init_floor >= 0, dt_scale > 0 (got %g %g %g %g)",
                        c.dt_min, c.dt_max, c.dt_init_floor, c.dt_scale);
    if (c.scan_chunks < 0) return sl_error(SL_EINVAL, "mamba: scan_chunks must be >= 0");
    if ((long)c.expand * c.d_model > (1L << 24)) return sl_error(SL_EINVAL, "mamba: expand * d_model too large");
    mamba_model *mb = calloc(1, sizeof *mb);
    if (!mb) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &mb->base;
    m->vt = &mamba_vt;
    m->P = P;
    m->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_INFER | SL_CAP_PACK;
    m->d_in = m->d_out = c.d_model;
    mb->cfg = c;
    mb->E = c.expand * c.d_model;
    mb->S = c.d_state;
    mb->R = c.dt_rank;
    mb->K = c.d_conv;
    mb->XD = mb->R + 2 * mb->S;
    mb->ws = sl_scan_ws_new();
    if (!mb->ws) {
        free(mb);
        return SL_ENOMEM;
    }
    const char *pre = prefix ? prefix : "";
    const int E = mb->E, C = c.d_model;
    mb->i_inb = mb->i_cb = mb->i_ob = -1;
    mb->i_inw = sl_params_add(P, pre, "in_proj.weight", 2, 2 * E, C, 0, 0);
    if (c.bias) mb->i_inb = sl_params_add(P, pre, "in_proj.bias", 1, 2 * E, 0, 0, 0);
    mb->i_cw = sl_params_add(P, pre, "conv1d.weight", 3, E, 1, c.d_conv, 0);
    if (c.conv_bias) mb->i_cb = sl_params_add(P, pre, "conv1d.bias", 1, E, 0, 0, 0);
    mb->i_xw = sl_params_add(P, pre, "x_proj.weight", 2, mb->XD, E, 0, 0);
    mb->i_dtw = sl_params_add(P, pre, "dt_proj.weight", 2, E, mb->R, 0, 0);
    mb->i_dtb = sl_params_add(P, pre, "dt_proj.bias", 1, E, 0, 0, 0);
    mb->i_alog = sl_params_add(P, pre, "A_log", 2, E, mb->S, 0, 0);
    mb->i_D = sl_params_add(P, pre, "D", 1, E, 0, 0, 0);
    mb->i_ow = sl_params_add(P, pre, "out_proj.weight", 2, C, E, 0, 0);
    if (c.bias) mb->i_ob = sl_params_add(P, pre, "out_proj.bias", 1, C, 0, 0, 0);
    int idx[] = {mb->i_inw,
                 mb->i_cw,
                 mb->i_xw,
                 mb->i_dtw,
                 mb->i_dtb,
                 mb->i_alog,
                 mb->i_D,
                 mb->i_ow,
                 c.bias ? mb->i_inb : 0,
                 c.bias ? mb->i_ob : 0,
                 c.conv_bias ? mb->i_cb : 0};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            mamba_destroy(m);
            return idx[i];
        }
    /* mamba_ssm: A_log and D are _no_weight_decay */
    sl_params_set_group(P, mb->i_alog, 1.0f, 0.0f);
    sl_params_set_group(P, mb->i_D, 1.0f, 0.0f);
    *out = m;
    return SL_OK;
}
