/* ssm/rwkv.c — RWKV-4 time mix + channel mix (see rwkv.h). */
#include "ssm/rwkv.h"
#include "core/error.h"
#include "seq/layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const sl_spec_key sl_rwkv_keys[] = {
    SL_KEY_INT(sl_rwkv_config, d_model, "d_model", "64", 1, 1 << 16, "n_embd: width C"),
    SL_KEY_INT(sl_rwkv_config, dim_ffn, "dim_ffn", "0", 0, 1 << 20, "channel-mix hidden width F (0: 4 d_model)"),
    SL_KEY_INT(sl_rwkv_config, layer_id, "layer_id", "0", 0, 1 << 16, "this block's index (for the init, as RWKV-LM)"),
    SL_KEY_INT(sl_rwkv_config, n_layer, "n_layer", "1", 1, 1 << 16, "blocks in the model (for the init)"),
    SL_KEY_FLOAT(sl_rwkv_config, layernorm_eps, "layernorm_eps", "1e-5", 1e-12, 1, "eps of ln2"),
    SL_KEY_END,
};

void sl_rwkv_config_default(sl_rwkv_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_rwkv_keys, c); /* cannot fail: the table's defaults are valid */
}

/* ---- WKV ---- */

#define ST(b, t, c, j) st[((((size_t)(b) * (T + 1) + (t)) * C) + (c)) * 3 + (j)]

void sl_rwkv_wkv_forward(float *y, float *st, const sl_rwkv_wkv_in *in)
{
    const float *k = in->k, *v = in->v, *w = in->w, *u = in->u;
    const int B = in->B, T = in->T, C = in->C;
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * T * C >= 65536)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            float aa = 0.0f, bb = 0.0f, pp = -1e38f;
            const float wc = w[c], uc = u[c];
            for (int t = 0; t < T; t++) {
                const size_t i = ((size_t)b * T + t) * C + c;
                ST(b, t, c, 0) = aa;
                ST(b, t, c, 1) = bb;
                ST(b, t, c, 2) = pp;
                const float kt = k[i], vt = v[i];
                /* output: (a + e^{u+k} v) / (b + e^{u+k}) against p = max(pp, u + k) */
                float ww = uc + kt, p = pp > ww ? pp : ww, e1 = expf(pp - p), e2 = expf(ww - p);
                y[i] = (e1 * aa + e2 * vt) / (e1 * bb + e2);
                /* state: a <- e^w a + e^k v against p = max(pp + w, k) */
                ww = pp + wc;
                p = ww > kt ? ww : kt;
                e1 = expf(ww - p);
                e2 = expf(kt - p);
                aa = e1 * aa + e2 * vt;
                bb = e1 * bb + e2;
                pp = p;
            }
            ST(b, T, c, 0) = aa;
            ST(b, T, c, 1) = bb;
            ST(b, T, c, 2) = pp;
        }
}

/* Backward through time with the adjoints of a and b scaled by e^{pp}: ah = dL/da_t e^{pp_t},
 * bh likewise. From a_{t-1} -> y_t and a_t = e^w a_{t-1} + e^k v:
 *   ah_{t-1} = g_t e1_t / den_t + e^{w + pp_{t-1} - pp_t} ah_t     (den_t = e1 bb + e2 >= 1)
 * and every exponent is <= 0 (pp_t >= pp_{t-1} + w, pp_t >= k_t, p_t >= pp_{t-1}). */
void sl_rwkv_wkv_backward(float *dk, float *dv, float *dw, float *du, const float *dy, const float *y, const float *st,
                          const sl_rwkv_wkv_in *in)
{
    const float *k = in->k, *v = in->v, *w = in->w, *u = in->u;
    const int B = in->B, T = in->T, C = in->C;
    #pragma omp parallel for schedule(static) if ((size_t)B * T * C >= 65536)
    for (int c = 0; c < C; c++) {
        double gw = 0.0, gu = 0.0;
        const float wc = w[c], uc = u[c];
        for (int b = 0; b < B; b++) {
            float ah = 0.0f, bh = 0.0f;
            for (int t = T - 1; t >= 0; t--) {
                const size_t i = ((size_t)b * T + t) * C + c;
                const float aa = ST(b, t, c, 0), bb = ST(b, t, c, 1), pp = ST(b, t, c, 2), ppt = ST(b, t + 1, c, 2);
                const float kt = k[i], vt = v[i], yt = y[i], g = dy[i];
                const float ww = uc + kt, p = pp > ww ? pp : ww, e1 = expf(pp - p), e2 = expf(ww - p);
                const float den = e1 * bb + e2, gy = g / den;
                const float ek = expf(kt - ppt), dec = expf(wc + pp - ppt);
                const float dd = gy * e2 * (vt - yt); /* d/d(u + k) of the output */
                dv[i] = gy * e2 + ah * ek;
                dk[i] = dd + ek * (ah * vt + bh);
                gu += dd;
                gw += (double)dec * (ah * aa + bh * bb);
                ah = gy * e1 + dec * ah;
                bh = -gy * yt * e1 + dec * bh;
            }
        }
        dw[c] += (float)gw;
        du[c] += (float)gu;
    }
}

#undef ST

void sl_rwkv_wkv_naive(double *y, const sl_rwkv_wkv_in *in)
{
    const float *k = in->k, *v = in->v, *w = in->w, *u = in->u;
    const int B = in->B, T = in->T, C = in->C;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < T; t++) {
                const size_t it = ((size_t)b * T + t) * C + c;
                double num = exp((double)u[c] + k[it]) * v[it], den = exp((double)u[c] + k[it]);
                for (int i = 0; i < t; i++) {
                    const size_t ii = ((size_t)b * T + i) * C + c;
                    const double e = exp((double)(t - 1 - i) * w[c] + k[ii]);
                    num += e * v[ii];
                    den += e;
                }
                y[it] = num / den;
            }
}

/* ---- the model ---- */

typedef struct {
    sl_model base;
    sl_rwkv_config cfg;
    int C, F;
    int i_td, i_tf, i_amk, i_amv, i_amr, i_ak, i_av, i_ar, i_ao, i_lw, i_lb, i_fmk, i_fmr, i_fk, i_fr, i_fv;
    int B, T;
    float *w; /* (C) -exp(time_decay) */
    sl_arena fwd, bwd;
    float *z, *xk, *xv, *xr, *k, *v, *r, *wkv, *sw, *a, *u2, *n, *mean, *rstd; /* (N, C) each; mean, rstd (N) */
    float *fxk, *fxr, *hk, *hh, *kv, *fr; /* (N, C), (N, C), (N, F), (N, F), (N, C), (N, C) */
    float *st;                            /* (B, T+1, C, 3) WKV states */
    float *dA, *dn, *du2, *dfxk, *dfxr, *dhh, *dsw, *dr, *dwkv, *dk, *dv, *dxk, *dxv, *dxr;
} rwkv_model;

typedef struct {
    int B;
    sl_arena mem;
    float *zprev, *nprev; /* (B, C): the last input of each mix (token shift) */
    float *aa, *bb, *pp;  /* (B, C) WKV state */
    float *xk, *xv, *xr, *k, *v, *r, *wkv, *a, *u2, *n, *mean, *rstd, *fxk, *fxr, *hh, *kv, *fr;
} rwkv_state;

#define PD(i) sl_params_data(base->P, m->i)
#define PG(i) sl_params_grad(base->P, m->i)

/* token-shift mixes: out_j = x mix_j + xx (1 - mix_j) for up to three mixes; xx_t = x_{t-1},
 * the row before a sequence's first taken from prev (B, C) or 0 */
static void shift_mix(float *o1, float *o2, float *o3, const float *m1, const float *m2, const float *m3, const float *x,
                      const float *prev, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t i = ((size_t)b * T + t) * C;
            const float *xp = t ? x + i - C : prev ? prev + (size_t)b * C : NULL;
            for (int c = 0; c < C; c++) {
                const float xc = x[i + c], xx = xp ? xp[c] : 0.0f;
                o1[i + c] = xx + m1[c] * (xc - xx);
                o2[i + c] = xx + m2[c] * (xc - xx);
                if (o3) o3[i + c] = xx + m3[c] * (xc - xx);
            }
        }
}

/* backward of shift_mix for one mix: dx += d mix, dx_{t-1} += d (1 - mix), dmix += d (x - xx) */
static void shift_mix_backward(float *dx, float *dmix, const float *d, const float *mix, const float *x, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t i = ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) {
                const float xx = t ? x[i - C + c] : 0.0f, g = d[i + c];
                dx[i + c] += g * mix[c];
                if (t) dx[i - C + c] += g * (1.0f - mix[c]);
                dmix[c] += g * (x[i + c] - xx);
            }
        }
}

static void decay(rwkv_model *m, sl_model *base)
{
    const float *td = PD(i_td);
    for (int c = 0; c < m->C; c++) m->w[c] = -expf(td[c]);
}

/* the channel mix's tail from its shifted inputs: hk = key(fxk), hh = relu(hk)^2, kv = value(hh),
 * fr = sigmoid(receptance(fxr)), f = fr kv, added to y */
static void channel_tail(rwkv_model *m, sl_model *base, float *y, float *hk, float *hh, float *kv, float *fr, const float *fxk,
                         const float *fxr, int N)
{
    const int C = m->C, F = m->F;
    sl_linear_forward(hk, fxk, PD(i_fk), NULL, N, C, F);
    for (size_t i = 0; i < (size_t)N * F; i++) hh[i] = hk[i] > 0 ? hk[i] * hk[i] : 0.0f;
    sl_linear_forward(kv, hh, PD(i_fv), NULL, N, F, C);
    sl_linear_forward(fr, fxr, PD(i_fr), NULL, N, C, C);
    for (size_t i = 0; i < (size_t)N * C; i++) {
        fr[i] = sl_act1(SL_ACT_SIGMOID, fr[i]);
        y[i] += fr[i] * kv[i];
    }
}

static int rwkv_forward(sl_model *base, const float *x, const int32_t *tok, float *y, int B, int T)
{
    (void)tok;
    rwkv_model *m = (rwkv_model *)base;
    const int C = m->C, F = m->F;
    const size_t N = (size_t)B * T, NC = N * C;
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->fwd, SL_FIELD(m->z, NC), SL_FIELD(m->xk, NC), SL_FIELD(m->xv, NC), SL_FIELD(m->xr, NC),
                             SL_FIELD(m->k, NC), SL_FIELD(m->v, NC), SL_FIELD(m->r, NC), SL_FIELD(m->wkv, NC),
                             SL_FIELD(m->sw, NC), SL_FIELD(m->a, NC), SL_FIELD(m->u2, NC), SL_FIELD(m->n, NC),
                             SL_FIELD(m->mean, N), SL_FIELD(m->rstd, N), SL_FIELD(m->fxk, NC), SL_FIELD(m->fxr, NC),
                             SL_FIELD(m->hk, N * F), SL_FIELD(m->hh, N * F), SL_FIELD(m->kv, NC), SL_FIELD(m->fr, NC),
                             SL_FIELD(m->st, (size_t)B * (T + 1) * C * 3))))
        return rc;
    m->B = B;
    m->T = T;
    memcpy(m->z, x, NC * sizeof(float));
    decay(m, base);
    /* time mix */
    shift_mix(m->xk, m->xv, m->xr, PD(i_amk), PD(i_amv), PD(i_amr), x, NULL, B, T, C);
    sl_linear_forward(m->k, m->xk, PD(i_ak), NULL, (int)N, C, C);
    sl_linear_forward(m->v, m->xv, PD(i_av), NULL, (int)N, C, C);
    sl_linear_forward(m->r, m->xr, PD(i_ar), NULL, (int)N, C, C);
    const sl_rwkv_wkv_in in = {m->k, m->v, m->w, PD(i_tf), B, T, C};
    sl_rwkv_wkv_forward(m->wkv, m->st, &in);
    for (size_t i = 0; i < NC; i++) m->sw[i] = sl_act1(SL_ACT_SIGMOID, m->r[i]) * m->wkv[i];
    sl_linear_forward(m->a, m->sw, PD(i_ao), NULL, (int)N, C, C);
    /* channel mix on ln2(z + a) */
    for (size_t i = 0; i < NC; i++) m->u2[i] = x[i] + m->a[i];
    sl_layernorm_forward(m->n, m->mean, m->rstd, m->u2, PD(i_lw), PD(i_lb), (int)N, C, m->cfg.layernorm_eps);
    shift_mix(m->fxk, m->fxr, NULL, PD(i_fmk), PD(i_fmr), NULL, m->n, NULL, B, T, C);
    memcpy(y, m->a, NC * sizeof(float));
    channel_tail(m, base, y, m->hk, m->hh, m->kv, m->fr, m->fxk, m->fxr, (int)N);
    return SL_OK;
}

static int rwkv_backward(sl_model *base, const float *dy, float *dx)
{
    rwkv_model *m = (rwkv_model *)base;
    const int C = m->C, F = m->F, B = m->B, T = m->T;
    const size_t N = (size_t)B * T, NC = N * C;
    if (B <= 0) return sl_error(SL_EINVAL, "rwkv: backward before forward");
    int rc;
    if ((rc = SL_ARENA_CARVE(&m->bwd, SL_FIELD(m->dA, NC), SL_FIELD(m->dn, NC), SL_FIELD(m->du2, NC), SL_FIELD(m->dfxk, NC),
                             SL_FIELD(m->dfxr, NC), SL_FIELD(m->dhh, N * F), SL_FIELD(m->dsw, NC), SL_FIELD(m->dr, NC),
                             SL_FIELD(m->dwkv, NC), SL_FIELD(m->dk, NC), SL_FIELD(m->dv, NC), SL_FIELD(m->dxk, NC),
                             SL_FIELD(m->dxv, NC), SL_FIELD(m->dxr, NC))))
        return rc;
    /* y = a + fr kv */
    float *dfr = m->dr; /* reused below for dr */
    for (size_t i = 0; i < NC; i++) {
        dfr[i] = dy[i] * m->kv[i] * m->fr[i] * (1.0f - m->fr[i]); /* d receptance pre-activation */
        m->dsw[i] = dy[i] * m->fr[i];                             /* d kv */
    }
    memset(m->dfxr, 0, NC * sizeof(float));
    sl_linear_backward(m->dfxr, PG(i_fr), NULL, dfr, m->fxr, PD(i_fr), (int)N, C, C);
    sl_linear_backward_set(m->dhh, PG(i_fv), NULL, m->dsw, m->hh, PD(i_fv), (int)N, F, C);
    for (size_t i = 0; i < N * F; i++) m->dhh[i] *= m->hk[i] > 0 ? 2.0f * m->hk[i] : 0.0f;
    memset(m->dfxk, 0, NC * sizeof(float));
    sl_linear_backward(m->dfxk, PG(i_fk), NULL, m->dhh, m->fxk, PD(i_fk), (int)N, C, F);
    memset(m->dn, 0, NC * sizeof(float));
    shift_mix_backward(m->dn, PG(i_fmk), m->dfxk, PD(i_fmk), m->n, B, T, C);
    shift_mix_backward(m->dn, PG(i_fmr), m->dfxr, PD(i_fmr), m->n, B, T, C);
    memset(m->du2, 0, NC * sizeof(float));
    sl_layernorm_backward(m->du2, PG(i_lw), PG(i_lb), m->dn, m->u2, PD(i_lw), m->mean, m->rstd, (int)N, C);
    /* u2 = z + a; da = dy + du2 */
    for (size_t i = 0; i < NC; i++) m->dA[i] = dy[i] + m->du2[i];
    if (dx)
        for (size_t i = 0; i < NC; i++) dx[i] += m->du2[i];
    /* time mix: a = output(sigmoid(r) wkv) */
    sl_linear_backward_set(m->dsw, PG(i_ao), NULL, m->dA, m->sw, PD(i_ao), (int)N, C, C);
    for (size_t i = 0; i < NC; i++) {
        const float s = sl_act1(SL_ACT_SIGMOID, m->r[i]);
        m->dwkv[i] = m->dsw[i] * s;
        m->dr[i] = m->dsw[i] * m->wkv[i] * s * (1.0f - s);
    }
    float *gw = m->dxv; /* scratch (C) before dxv is written */
    memset(gw, 0, (size_t)C * sizeof(float));
    const sl_rwkv_wkv_in in = {m->k, m->v, m->w, PD(i_tf), B, T, C};
    sl_rwkv_wkv_backward(m->dk, m->dv, gw, PG(i_tf), m->dwkv, m->wkv, m->st, &in);
    float *gtd = PG(i_td);
    for (int c = 0; c < C; c++) gtd[c] += gw[c] * m->w[c]; /* w = -exp(time_decay) */
    sl_linear_backward_set(m->dxk, PG(i_ak), NULL, m->dk, m->xk, PD(i_ak), (int)N, C, C);
    sl_linear_backward_set(m->dxv, PG(i_av), NULL, m->dv, m->xv, PD(i_av), (int)N, C, C);
    sl_linear_backward_set(m->dxr, PG(i_ar), NULL, m->dr, m->xr, PD(i_ar), (int)N, C, C);
    float *dz = m->dn; /* reuse: dz from the three mixes */
    memset(dz, 0, NC * sizeof(float));
    shift_mix_backward(dz, PG(i_amk), m->dxk, PD(i_amk), m->z, B, T, C);
    shift_mix_backward(dz, PG(i_amv), m->dxv, PD(i_amv), m->z, B, T, C);
    shift_mix_backward(dz, PG(i_amr), m->dxr, PD(i_amr), m->z, B, T, C);
    if (dx)
        for (size_t i = 0; i < NC; i++) dx[i] += dz[i];
    return SL_OK;
}

static void rwkv_state_free(sl_model *base, void *p)
{
    (void)base;
    rwkv_state *s = p;
    if (!s) return;
    sl_arena_free(&s->mem);
    free(s);
}

static int rwkv_state_reset(sl_model *base, void *p)
{
    rwkv_model *m = (rwkv_model *)base;
    rwkv_state *s = p;
    const size_t n = (size_t)s->B * m->C;
    memset(s->zprev, 0, n * sizeof(float));
    memset(s->nprev, 0, n * sizeof(float));
    memset(s->aa, 0, n * sizeof(float));
    memset(s->bb, 0, n * sizeof(float));
    for (size_t i = 0; i < n; i++) s->pp[i] = -1e38f;
    return SL_OK;
}

static void *rwkv_state_new(sl_model *base, int B)
{
    rwkv_model *m = (rwkv_model *)base;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "rwkv: bad batch size %d", B);
        return NULL;
    }
    rwkv_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t n = (size_t)B * m->C, nf = (size_t)B * m->F;
    s->B = B;
    if (SL_ARENA_CARVE(&s->mem, SL_FIELD(s->zprev, n), SL_FIELD(s->nprev, n), SL_FIELD(s->aa, n), SL_FIELD(s->bb, n),
                       SL_FIELD(s->pp, n), SL_FIELD(s->xk, n), SL_FIELD(s->xv, n), SL_FIELD(s->xr, n), SL_FIELD(s->k, n),
                       SL_FIELD(s->v, n), SL_FIELD(s->r, n), SL_FIELD(s->wkv, n), SL_FIELD(s->a, n), SL_FIELD(s->u2, n),
                       SL_FIELD(s->n, n), SL_FIELD(s->mean, (size_t)B), SL_FIELD(s->rstd, (size_t)B), SL_FIELD(s->fxk, n),
                       SL_FIELD(s->fxr, n), SL_FIELD(s->hh, 2 * nf), SL_FIELD(s->kv, n), SL_FIELD(s->fr, n))) {
        free(s);
        return NULL;
    }
    rwkv_state_reset(base, s);
    return s;
}

/* one position: the same mixes with the previous inputs from the state, one WKV step */
static int rwkv_step(sl_model *base, void *p, const float *x, const int32_t *tok, float *y)
{
    (void)tok;
    rwkv_model *m = (rwkv_model *)base;
    rwkv_state *s = p;
    const int B = s->B, C = m->C;
    const size_t n = (size_t)B * C;
    decay(m, base);
    shift_mix(s->xk, s->xv, s->xr, PD(i_amk), PD(i_amv), PD(i_amr), x, s->zprev, B, 1, C);
    sl_linear_forward(s->k, s->xk, PD(i_ak), NULL, B, C, C);
    sl_linear_forward(s->v, s->xv, PD(i_av), NULL, B, C, C);
    sl_linear_forward(s->r, s->xr, PD(i_ar), NULL, B, C, C);
    const float *u = PD(i_tf);
    for (size_t i = 0; i < n; i++) {
        const int c = (int)(i % C);
        const float kt = s->k[i], vt = s->v[i];
        float ww = u[c] + kt, q = s->pp[i] > ww ? s->pp[i] : ww, e1 = expf(s->pp[i] - q), e2 = expf(ww - q);
        s->wkv[i] = sl_act1(SL_ACT_SIGMOID, s->r[i]) * (e1 * s->aa[i] + e2 * vt) / (e1 * s->bb[i] + e2);
        ww = s->pp[i] + m->w[c];
        q = ww > kt ? ww : kt;
        e1 = expf(ww - q);
        e2 = expf(kt - q);
        s->aa[i] = e1 * s->aa[i] + e2 * vt;
        s->bb[i] = e1 * s->bb[i] + e2;
        s->pp[i] = q;
    }
    sl_linear_forward(s->a, s->wkv, PD(i_ao), NULL, B, C, C);
    for (size_t i = 0; i < n; i++) s->u2[i] = x[i] + s->a[i];
    sl_layernorm_forward(s->n, s->mean, s->rstd, s->u2, PD(i_lw), PD(i_lb), B, C, m->cfg.layernorm_eps);
    shift_mix(s->fxk, s->fxr, NULL, PD(i_fmk), PD(i_fmr), NULL, s->n, s->nprev, B, 1, C);
    memcpy(y, s->a, n * sizeof(float));
    channel_tail(m, base, y, s->hh, s->hh + (size_t)B * m->F, s->kv, s->fr, s->fxk, s->fxr, B);
    memcpy(s->zprev, x, n * sizeof(float));
    memcpy(s->nprev, s->n, n * sizeof(float));
    return SL_OK;
}

/* RWKV-LM v4neo's init of the mixing and decay parameters (ratio_0_to_1 = layer_id /
 * (n_layer - 1), ratio_1_to_almost0 = 1 - layer_id / n_layer, ddd_c = c / C); linear layers as
 * torch.nn.Linear (uniform, bound 1/sqrt(fan_in)); ln2 weight 1, bias 0. */
static int rwkv_init(sl_model *base, sl_rng *rng)
{
    rwkv_model *m = (rwkv_model *)base;
    const int C = m->C, F = m->F, L = m->cfg.n_layer, id = m->cfg.layer_id;
    const double r01 = L > 1 ? (double)id / (L - 1) : 0.0, r10 = 1.0 - (double)id / L;
    float *td = PD(i_td), *tf = PD(i_tf), *amk = PD(i_amk), *amv = PD(i_amv), *amr = PD(i_amr), *fmk = PD(i_fmk),
          *fmr = PD(i_fmr);
    for (int c = 0; c < C; c++) {
        const double ddd = (double)c / C;
        td[c] = (float)(-5.0 + 8.0 * pow(C > 1 ? (double)c / (C - 1) : 0.0, 0.7 + 1.3 * r01));
        tf[c] = (float)(log(0.3) + ((c + 1) % 3 - 1) * 0.5);
        amk[c] = (float)pow(ddd, r10);
        amv[c] = (float)(pow(ddd, r10) + 0.3 * r01);
        amr[c] = (float)pow(ddd, 0.5 * r10);
        fmk[c] = (float)pow(ddd, r10);
        fmr[c] = (float)pow(ddd, r10);
    }
    struct {
        int i, out, in;
    } lin[] = {{m->i_ak, C, C}, {m->i_av, C, C}, {m->i_ar, C, C}, {m->i_ao, C, C},
               {m->i_fk, F, C}, {m->i_fr, C, C}, {m->i_fv, C, F}};
    for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++) {
        float a = 1.0f / sqrtf((float)lin[j].in);
        sl_rng_fill_uniform(rng, sl_params_data(base->P, lin[j].i), (size_t)lin[j].out * lin[j].in, -a, a);
    }
    float *lw = PD(i_lw), *lb = PD(i_lb);
    for (int c = 0; c < C; c++) {
        lw[c] = 1.0f;
        lb[c] = 0.0f;
    }
    return SL_OK;
}

static void rwkv_destroy(sl_model *base)
{
    rwkv_model *m = (rwkv_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
    free(m->w);
    free(m);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int rwkv_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    rwkv_state *d = dst;
    const rwkv_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "state copy: %d rows into %d", s->B, d->B);
    return sl_arena_copy(&d->mem, &s->mem);
}

/* seq/model.h's release: the forward cache and backward's scratch */
static void rwkv_release(sl_model *base)
{
    rwkv_model *m = (rwkv_model *)base;
    sl_arena_free(&m->fwd);
    sl_arena_free(&m->bwd);
}

/* seq/model.h's state_reset_rows: the chosen rows' token shifts and WKV state as state_reset */
static int rwkv_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    rwkv_model *m = (rwkv_model *)base;
    rwkv_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t C = (size_t)m->C;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->zprev + b * C, 0, C * sizeof(float));
            memset(s->nprev + b * C, 0, C * sizeof(float));
            memset(s->aa + b * C, 0, C * sizeof(float));
            memset(s->bb + b * C, 0, C * sizeof(float));
            for (size_t i = 0; i < C; i++) s->pp[b * C + i] = -1e38f;
        }
    return SL_OK;
}

static const sl_model_vt rwkv_vt = {
    .kind = "rwkv",
    .destroy = rwkv_destroy,
    .release = rwkv_release,
    .init = rwkv_init,
    .forward = rwkv_forward,
    .backward = rwkv_backward,
    .state_new = rwkv_state_new,
    .state_free = rwkv_state_free,
    .state_reset = rwkv_state_reset,
    .state_reset_rows = rwkv_state_reset_rows,
    .state_copy = rwkv_state_copy,
    .step = rwkv_step,
};

int sl_rwkv_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_rwkv_config c;
    sl_rwkv_config_default(&c);
    int rc = sl_spec_read(s, sl_rwkv_keys, &c);
    return rc ? rc : sl_rwkv_create(&c, P, prefix, out);
}

int sl_rwkv_create(const sl_rwkv_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_rwkv_config c = *cfg;
    if (c.d_model < 1 || c.dim_ffn < 0 || c.n_layer < 1)
        return sl_error(SL_EINVAL, "rwkv: need d_model >= 1, dim_ffn >= 0 and n_layer >= 1");
    if (c.layer_id < 0 || c.layer_id >= c.n_layer)
        return sl_error(SL_EINVAL, "rwkv: layer_id=%d must be in [0, n_layer=%d)", c.layer_id, c.n_layer);
    rwkv_model *m = calloc(1, sizeof *m);
    if (!m) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *base = &m->base;
    base->vt = &rwkv_vt;
    base->P = P;
    base->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    base->d_in = base->d_out = c.d_model;
    m->cfg = c;
    const int C = c.d_model, F = c.dim_ffn ? c.dim_ffn : 4 * c.d_model;
    m->C = C;
    m->F = F;
    m->w = malloc((size_t)C * sizeof(float));
    if (!m->w) {
        free(m);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    const char *pre = prefix ? prefix : "";
    m->i_td = sl_params_add(P, pre, "att.time_decay", 1, C, 0, 0, 0);
    m->i_tf = sl_params_add(P, pre, "att.time_first", 1, C, 0, 0, 0);
    m->i_amk = sl_params_add(P, pre, "att.time_mix_k", 3, 1, 1, C, 0);
    m->i_amv = sl_params_add(P, pre, "att.time_mix_v", 3, 1, 1, C, 0);
    m->i_amr = sl_params_add(P, pre, "att.time_mix_r", 3, 1, 1, C, 0);
    m->i_ak = sl_params_add(P, pre, "att.key.weight", 2, C, C, 0, 0);
    m->i_av = sl_params_add(P, pre, "att.value.weight", 2, C, C, 0, 0);
    m->i_ar = sl_params_add(P, pre, "att.receptance.weight", 2, C, C, 0, 0);
    m->i_ao = sl_params_add(P, pre, "att.output.weight", 2, C, C, 0, 0);
    m->i_lw = sl_params_add(P, pre, "ln2.weight", 1, C, 0, 0, 0);
    m->i_lb = sl_params_add(P, pre, "ln2.bias", 1, C, 0, 0, 0);
    m->i_fmk = sl_params_add(P, pre, "ffn.time_mix_k", 3, 1, 1, C, 0);
    m->i_fmr = sl_params_add(P, pre, "ffn.time_mix_r", 3, 1, 1, C, 0);
    m->i_fk = sl_params_add(P, pre, "ffn.key.weight", 2, F, C, 0, 0);
    m->i_fr = sl_params_add(P, pre, "ffn.receptance.weight", 2, C, C, 0, 0);
    m->i_fv = sl_params_add(P, pre, "ffn.value.weight", 2, C, F, 0, 0);
    int idx[] = {m->i_td, m->i_tf, m->i_amk, m->i_amv, m->i_amr, m->i_ak, m->i_av, m->i_ar,
                 m->i_ao, m->i_lw, m->i_lb,  m->i_fmk, m->i_fmr, m->i_fk, m->i_fr, m->i_fv};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            rwkv_destroy(base);
            return idx[i];
        }
    /* RWKV-LM: time_decay, time_first and the time_mix vectors get no weight decay */
    int nowd[] = {m->i_td, m->i_tf, m->i_amk, m->i_amv, m->i_amr, m->i_fmk, m->i_fmr};
    for (size_t i = 0; i < sizeof nowd / sizeof nowd[0]; i++) sl_params_set_group(P, nowd[i], 1.0f, 0.0f);
    *out = base;
    return SL_OK;
}
