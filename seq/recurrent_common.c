/* seq/recurrent_common.c — layers, directions, dropout, initial state, GEMMs, BPTT and step
 * mode for the Elman RNN, LSTM and GRU (see recurrent_common.h; the cells are in rnn.c,
 * lstm.c, gru.c). */
#include "seq/recurrent_common.h"
#include "core/error.h"
#include "seq/recurrent_kernel.h"
#include "seq/recurrent_lanes.h"
#include "seq/layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model base;
    sl_recurrent_config cfg;
    int G, ndir, L, H, GH;
    int *i_wih, *i_whh, *i_bih, *i_bhh; /* (L * ndir) tensor indices; biases -1 if absent */
    /* initial state (torch layout (L*ndir, B, H)) and its gradient */
    float *h0, *c0, *dh0, *dc0;
    int h0_B;
    /* sequence-mode caches: batch-first (B, T, .) like x and y, except the cells' own (T, B, .) */
    int B, T, cached, dropped;
    sl_arena fwd, bwd;  /* the caches below and backward's scratch, carved per call */
    float *xin;         /* (B, T, I) a copy of the input */
    float **out;        /* [L] (B, T, ndir*H) each layer's output, batch-first like x and y */
    float **xd, **mask; /* [L] layer l >= 1: dropped input and its mask (B, T, ndir*H) */
    float **gates;      /* [L*ndir] (B, T, GH) activated gates */
    float **cst;        /* [L*ndir] LSTM (T, B, H) cells */
    float **hn;         /* [L*ndir] GRU (T, B, H) W_hn h + b_hn */
    float *ghs[2];      /* GRU (B, GH) per direction */
    float *bsum;        /* (L*ndir, GH) Elman/LSTM: b_ih + b_hh, added inside the cells */
    float *zeros;       /* (GH) zeros: the cells' stand-in for an absent bias or state */
    /* packed rows (seq/model.h): the last forward's doc_pos (B, T), or NULL; hz, cz (ndir, B, H)
     * a step's h_prev / c_prev with the rows whose document starts there zeroed (state_cut) */
    const int32_t *dp;
    float *hz, *cz;
    sl_field *fields; /* room for the arenas' field lists (fwd has the most) */
    /* backward scratch */
    float *dH, *dX, *ones;
    float *dg[2], *dgh[2], *dhr[2], *dc[2];
    /* the packed-panel kernel (seq/recurrent_kernel.h): on when the CPU has it, unless turned
     * off with sl_recurrent_set_fast; W_hh packed per layer-direction, forward and backward */
    int fast;
    sl_rk_panel *pf, *pb;   /* [L*ndir] W_hh: forward (h W_hh^T), backward (dG W_hh) */
    sl_rk_panel *pif, *pib; /* [L*ndir] W_ih: forward (x W_ih^T, GRU), backward (dG W_ih) */
    sl_rk_panel *pxf;       /* [L*ndir] [W_ih W_hh] forward (Elman, LSTM) */
    float **xh;             /* [L*ndir] (T, B, I_l + H): step t's [x_t | h_prev] */
    float *dwcat;           /* (I_l + H, GH) the weight gradient [dW_ih dW_hh]^T */
    double *dbp;            /* kernel path: per work item partial bias gradients (2 * GH each) */
    /* the lanes path (seq/recurrent_lanes.h; LSTM and GRU, B <= 32): allowed (sl_recurrent_set_lanes),
     * taken by the last forward, per layer-direction workspaces */
    int lanes_on, lanes;
    int amx_on; /* its per-step products may run on AMX tiles (sl_recurrent_set_amx) */
    sl_rl **rl;
} rmodel;

typedef struct {
    int B;
    float *h, *c;       /* (L, B, H) */
    float *g, *gh, *hn; /* (B, GH), (B, GH), (B, H) */
    float *bsum;        /* (L, GH) */
    sl_arena pf;        /* prefill's scratch: gates (N, GH), two layer outputs (N, H), N = B*T */
} rstate;

static const sl_model_vt rnn_vt, lstm_vt, gru_vt;
static int par_ok(const rmodel *r, int B, int T);
static int dg_width(const rmodel *r);

static void cell_forward(const rmodel *r, const sl_rcell_fwd *a) { r->cfg.ops->forward(a); }
static void cell_backward(const rmodel *r, const sl_rcell_bwd *a) { r->cfg.ops->backward(a); }

int sl_recurrent_is(const sl_model *m) { return m && (m->vt == &rnn_vt || m->vt == &lstm_vt || m->vt == &gru_vt); }

const sl_recurrent_config *sl_recurrent_get_config(const sl_model *m)
{
    return sl_recurrent_is(m) ? &((const rmodel *)m)->cfg : NULL;
}

static int layer_in(const rmodel *r, int l) { return l ? r->ndir * r->H : r->cfg.input_size; }

/* ---- lifecycle ---- */

/* seq/model.h's release: the caches and backward's scratch, and the lanes path's workspaces
 * (made again by the next forward) */
static void r_release(sl_model *m)
{
    rmodel *r = (rmodel *)m;
    sl_arena_free(&r->fwd);
    sl_arena_free(&r->bwd);
    for (int i = 0; r->rl && i < r->L * r->ndir; i++) {
        sl_rl_free(r->rl[i]);
        r->rl[i] = NULL;
    }
}

static void r_destroy(sl_model *m)
{
    rmodel *r = (rmodel *)m;
    int LD = r->L * r->ndir;
    sl_arena_free(&r->fwd);
    sl_arena_free(&r->bwd);
    free(r->fields);
    free(r->out);
    free(r->xd);
    free(r->mask);
    free(r->gates);
    free(r->cst);
    free(r->hn);
    free(r->i_wih);
    free(r->i_whh);
    free(r->i_bih);
    free(r->i_bhh);
    free(r->h0);
    free(r->c0);
    free(r->dh0);
    free(r->dc0);
    for (int i = 0; i < LD; i++) {
        if (r->pf) sl_rk_panel_free(&r->pf[i]);
        if (r->pb) sl_rk_panel_free(&r->pb[i]);
        if (r->pif) sl_rk_panel_free(&r->pif[i]);
        if (r->pxf) sl_rk_panel_free(&r->pxf[i]);
        if (r->pib) sl_rk_panel_free(&r->pib[i]);
    }
    for (int i = 0; r->rl && i < LD; i++) sl_rl_free(r->rl[i]);
    free(r->rl);
    free(r->pf);
    free(r->pb);
    free(r->pif);
    free(r->pib);
    free(r->pxf);
    free(r->xh);
    free(r->zeros);
    free(r);
}

static int r_init(sl_model *m, sl_rng *rng)
{
    rmodel *r = (rmodel *)m;
    sl_params *P = m->P;
    float k = 1.0f / sqrtf((float)r->H);
    /* torch's order: every parameter of the module in registration order, U(-k, k) */
    for (int i = 0; i < r->L * r->ndir; i++) {
        int idx[4] = {r->i_wih[i], r->i_whh[i], r->i_bih[i], r->i_bhh[i]};
        for (int j = 0; j < 4; j++)
            if (idx[j] >= 0) sl_rng_fill_uniform(rng, sl_params_data(P, idx[j]), P->t[idx[j]].numel, -k, k);
    }
    return SL_OK;
}

/* ---- sequence mode ---- */

static int reserve_caches(rmodel *r, int B, int T)
{
    const size_t TB = (size_t)T * B, H = r->H, GH = r->GH, LD = (size_t)r->L * r->ndir;
    const int lstm = r->cfg.cell == SL_RCELL_LSTM, gru = r->cfg.cell == SL_RCELL_GRU, cells = !r->lanes;
    /* inference mode on the kernel path: the per-step arrays are rings of two steps (ring_rows
     * rows instead of T*B; the sgemm path's gates hold the input projection of every step, its
     * O(T) working space), the last layer writes into y, no input copy */
    const int inf = r->base.inference, ring = inf && r->fast;
    const size_t SB = ring ? 2 * (size_t)B : TB;
    sl_field *f = r->fields;
    size_t n = 0;
    f[n++] = SL_FIELD(r->xin, r->fast || inf ? 0 : TB * r->cfg.input_size);
    f[n++] = SL_FIELD(r->bsum, LD * GH);
    for (int l = 0; l < r->L; l++) {
        const size_t wide = TB * r->ndir * H, drop = l && r->dropped ? wide : 0;
        /* the lanes path writes the last layer's output straight into y */
        f[n++] = SL_FIELD(r->out[l], l < r->L - 1 || (!r->lanes && !inf) ? wide : 0);
        f[n++] = SL_FIELD(r->xd[l], drop);
        f[n++] = SL_FIELD(r->mask[l], drop);
    }
    for (size_t i = 0; i < LD; i++) {
        f[n++] = SL_FIELD(r->gates[i], cells ? SB * GH : 0);
        f[n++] = SL_FIELD(r->cst[i], cells && lstm ? SB * H : 0);
        f[n++] = SL_FIELD(r->hn[i], cells && gru ? SB * H : 0);
        f[n++] = SL_FIELD(r->xh[i], cells && r->fast ? SB * (layer_in(r, (int)i / r->ndir) + H) : 0);
    }
    for (int d = 0; d < 2; d++) f[n++] = SL_FIELD(r->ghs[d], cells && gru && d < r->ndir ? (size_t)B * GH : 0);
    f[n++] = SL_FIELD(r->hz, cells && r->base.doc_pos ? (size_t)r->ndir * B * H : 0);
    f[n++] = SL_FIELD(r->cz, cells && lstm && r->base.doc_pos ? (size_t)r->ndir * B * H : 0);
    int rc = sl_arena_carve(&r->fwd, f, n);
    return rc ? sl_error(SL_ENOMEM, "%s: cannot allocate activation caches for B=%d T=%d", r->base.vt->kind, B, T) : SL_OK;
}

/* the fields of the caches (reserve_caches) */
static size_t n_fields(int L, int ndir) { return 6 + 3 * (size_t)L + 4 * (size_t)L * ndir; }

/* dW_hh (GH, H) += sum over b and the T-1 step pairs of dG[b, t]^T h[b, t - dir], dir = +1 for
 * the forward direction (each step with its predecessor t-1) and -1 for the reverse one (with
 * t+1). dG (B, T, GH) and h (rows (b, t) at h + (b*T + t)*ldh) are batch-first, so in the
 * flattened (B*T) row order the pairs are the rows (i, i - dir): one GEMM over all B*T - 1 such
 * row pairs, which includes the B - 1 pairs that straddle two batch rows (the first step of row
 * b with the last of row b-1, or the other way round for the reverse direction), and a second
 * GEMM over those B - 1 pairs alone, with alpha = -1, that takes them out again. */
static void gemm_dwhh(float *dW, const float *dG, const float *h, int ldh, int rev, int B, int T, int GH, int H)
{
    const size_t TB = (size_t)T * B;
    if (TB < 2) return;
    if (!rev) {
        /* rows i = 1 .. TB-1 of dG with rows i-1 of h; then minus the pairs (b*T, b*T - 1), b >= 1 */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, (int)(TB - 1), 1.0f, dG + GH, GH, h, ldh, 1.0f, dW, H);
        if (B > 1)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, B - 1, -1.0f, dG + (size_t)T * GH, T * GH,
                        h + ((size_t)T - 1) * ldh, T * ldh, 1.0f, dW, H);
    } else {
        /* rows i = 0 .. TB-2 of dG with rows i+1 of h; then minus the pairs (b*T + T-1, (b+1)*T), b <= B-2 */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, (int)(TB - 1), 1.0f, dG, GH, h + ldh, ldh, 1.0f, dW, H);
        if (B > 1)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, B - 1, -1.0f, dG + ((size_t)T - 1) * GH, T * GH,
                        h + (size_t)T * ldh, T * ldh, 1.0f, dW, H);
    }
}

/* Input projection of one direction of one layer for every t at once, one GEMM:
 * g (B*T, GH) = X (B*T, I) W_ih^T (the biases are added inside the cells). */
static void layer_dir_proj(rmodel *r, int l, int d, const float *X, int B, int T)
{
    const int ld = l * r->ndir + d, GH = r->GH, Iw = layer_in(r, l);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B * T, GH, Iw, 1.0f, X, Iw, sl_params_data(r->base.P, r->i_wih[ld]), Iw,
                0.0f, r->gates[ld], GH);
}

/* the bias a cell adds to x W_ih^T (+ h W_hh^T): b_ih + b_hh (Elman, LSTM; from bsum (L*ndir,
 * GH)), b_ih (GRU), or NULL */
static const float *cell_bias(const rmodel *r, int ld, const float *bsum)
{
    if (r->i_bih[ld] < 0) return NULL;
    if (r->cfg.cell == SL_RCELL_GRU) return sl_params_data(r->base.P, r->i_bih[ld]);
    return bsum + (size_t)ld * r->GH;
}

/* Packed rows: 1 if row b's state restarts between step t and tn, the step that follows it in
 * its direction (t + 1, or t - 1 in reverse): the later of the two starts a document, so tn
 * begins from the zero state (as t = 0 does), and no gradient flows back from tn to t. */
static inline int cut(const int32_t *dp, int b, int t, int tn, int T) { return dp && dp[(size_t)b * T + (t > tn ? t : tn)] == 0; }

/* The previous state p (nb rows of H, ldp apart, rows b0 .. of the batch) of step t, whose
 * predecessor is tp: itself when no row restarts there, else z (nb, H) with p's rows and zeros
 * for the rows that restart (*ld: the row stride of the result). */
static const float *state_cut(const rmodel *r, const float *p, int ldp, float *z, int b0, int nb, int t, int tp, int *ld)
{
    const int H = r->H;
    int any = 0;
    for (int b = 0; b < nb && !any; b++) any = cut(r->dp, b0 + b, tp, t, r->T);
    *ld = any ? H : ldp;
    if (!any) return p;
    for (int b = 0; b < nb; b++) {
        if (cut(r->dp, b0 + b, tp, t, r->T)) memset(z + (size_t)b * H, 0, (size_t)H * sizeof(float));
        else memcpy(z + (size_t)b * H, p + (size_t)b * ldp, (size_t)H * sizeof(float));
    }
    return z;
}

/* backward: rows [b0, b0 + nb) of the carried gradients dh (and dc) that restart at step t
 * (predecessor tp) stop there: nothing flows into the previous document */
static void grad_cut(const rmodel *r, float *dh, float *dc, int b0, int nb, int t, int tp)
{
    for (int b = 0; r->dp && b < nb; b++)
        if (cut(r->dp, b0 + b, tp, t, r->T)) {
            memset(dh + (size_t)b * r->H, 0, (size_t)r->H * sizeof(float));
            if (dc) memset(dc + (size_t)b * r->H, 0, (size_t)r->H * sizeof(float));
        }
}

static void sum_biases(const rmodel *r, float *bsum)
{
    if (!r->cfg.bias || r->cfg.cell == SL_RCELL_GRU) return;
    for (int ld = 0; ld < r->L * r->ndir; ld++) {
        const float *bi = sl_params_data(r->base.P, r->i_bih[ld]), *bh = sl_params_data(r->base.P, r->i_bhh[ld]);
        for (int j = 0; j < r->GH; j++) bsum[(size_t)ld * r->GH + j] = bi[j] + bh[j];
    }
}

/* The recurrence of one direction of one layer for batch rows [b0, b1): rows are independent,
 * so threads take disjoint row slices and never synchronise inside the time loop. */
static void layer_dir_scan(rmodel *r, int l, int d, int b0, int b1, int B, int T)
{
    const sl_params *P = r->base.P;
    const int H = r->H, GH = r->GH, ldo = r->ndir * H, ld = l * r->ndir + d, nb = b1 - b0;
    const float *whh = sl_params_data(P, r->i_whh[ld]);     /* (GH, H) */
    const float *bhh = sl_params_data_opt(P, r->i_bhh[ld]); /* (GH) */
    float *g = r->gates[ld] + (size_t)b0 * T * GH;          /* (B, T, GH): step t of row b0 at t*GH */
    float *out = r->out[l] + (size_t)b0 * T * ldo + d * H;  /* (B, T, ndir*H): step t of row b0 at t*ldo */
    const int gru = r->cfg.cell == SL_RCELL_GRU, lstm = r->cfg.cell == SL_RCELL_LSTM;
    const float *h0 = r->h0 ? r->h0 + ((size_t)ld * B + b0) * H : NULL; /* (nb, H) */
    const float *c0 = r->c0 ? r->c0 + ((size_t)ld * B + b0) * H : NULL;
    float *gh = gru ? r->ghs[d] + (size_t)b0 * GH : NULL; /* (nb, GH) */
    float *hz = r->hz ? r->hz + ((size_t)d * B + b0) * H : NULL, *cz = r->cz ? r->cz + ((size_t)d * B + b0) * H : NULL;
    const int ldh = T * ldo, ldg = T * GH; /* row strides of one step across the batch */
    for (int s = 0; s < T; s++) {
        int t = d ? T - 1 - s : s, tp = d ? t + 1 : t - 1, ldz;
        size_t row = (size_t)t * B + b0, prow = (size_t)tp * B + b0; /* in the (T, B, .) caches */
        sl_rcell_fwd a = {.B = nb,
                          .H = H,
                          .g = g + (size_t)t * GH,
                          .ldg = ldg,
                          .b = cell_bias(r, ld, r->bsum),
                          .relu = r->cfg.relu,
                          .h = out + (size_t)t * ldo,
                          .ldh = ldh,
                          .zeros = r->zeros};
        if (s) a.h_prev = state_cut(r, out + (size_t)tp * ldo, ldh, hz, b0, nb, t, tp, &a.ldhp);
        else {
            a.h_prev = h0;
            a.ldhp = H;
        }
        if (lstm) {
            a.c = r->cst[ld] + row * H;
            a.c_prev = s ? state_cut(r, r->cst[ld] + prow * H, H, cz, b0, nb, t, tp, &ldz) : c0;
        }
        if (gru) {
            if (a.h_prev)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, GH, H, 1.0f, a.h_prev, a.ldhp, whh, H, 0.0f, gh, GH);
            else memset(gh, 0, (size_t)nb * GH * sizeof(float));
            a.gh = gh;
            a.bh = bhh;
            a.hn = r->hn[ld] + row * H;
        } else if (a.h_prev) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, GH, H, 1.0f, a.h_prev, a.ldhp, whh, H, 1.0f, a.g, ldg);
        }
        cell_forward(r, &a);
    }
}

/* The same on the kernel path, where the gates and xh are time-major (T, B, .): one step's rows
 * are one contiguous block, which the hardware prefetchers follow (batch-first rows of a step
 * are T rows apart: one stream per row). X (B, T, Iw) is the layer's input. Each step first
 * gathers its rows [x_t | h_{t-1}] into xh (T, B, Iw + H) (kept: the weight gradients are one
 * GEMM over it), then one kernel product with the packed [W_ih W_hh] gives every gate's
 * pre-activation (GRU: two, x W_ih^T and h W_hh^T, which its n gate keeps apart), and the cell
 * finishes the step; the new h is copied into the next step's xh rows. */
static void layer_dir_scan_rk(rmodel *r, int l, int d, int b0, int b1, const float *X, int B, int T)
{
    const sl_params *P = r->base.P;
    const int H = r->H, GH = r->GH, ldo = r->ndir * H, ld = l * r->ndir + d, nb = b1 - b0;
    const int Iw = layer_in(r, l), K = Iw + H;
    const float *bhh = sl_params_data_opt(P, r->i_bhh[ld]); /* (GH) */
    float *g = r->gates[ld] + (size_t)b0 * GH;              /* (T, B, GH) from row b0 */
    float *out = r->out[l] + (size_t)b0 * T * ldo + d * H;  /* (B, T, ndir*H) from row b0 */
    float *xh = r->xh[ld] + (size_t)b0 * K;                 /* (T, B, Iw + H) from row b0 */
    const float *Xb = X + (size_t)b0 * T * Iw;              /* (B, T, Iw) from row b0 */
    const int gru = r->cfg.cell == SL_RCELL_GRU, lstm = r->cfg.cell == SL_RCELL_LSTM;
    const float *h0 = r->h0 ? r->h0 + ((size_t)ld * B + b0) * H : NULL; /* (nb, H) */
    const float *c0 = r->c0 ? r->c0 + ((size_t)ld * B + b0) * H : NULL;
    float *gh = gru ? r->ghs[d] + (size_t)b0 * GH : NULL; /* (nb, GH) */
    float *cz = r->cz ? r->cz + ((size_t)d * B + b0) * H : NULL;
    const size_t ldh = (size_t)T * ldo; /* out: row stride of one step across the batch */
    const int ring = r->base.inference; /* the caches are rings of two steps (reserve_caches) */
    for (int s = 0; s < T; s++) {
        int t = d ? T - 1 - s : s, tp = d ? t + 1 : t - 1, ldz;
        const int ts = ring ? s & 1 : t, tps = ring ? (s + 1) & 1 : tp; /* slots of t and t_prev */
        size_t row = (size_t)ts * B + b0, prow = (size_t)tps * B + b0;  /* in the (T, B, .) caches */
        float *xr = xh + (size_t)ts * B * K;
        for (int b = 0; b < nb; b++) {
            memcpy(xr + (size_t)b * K, Xb + ((size_t)b * T + t) * Iw, (size_t)Iw * sizeof(float));
            if (!s) {
                if (h0) memcpy(xr + (size_t)b * K + Iw, h0 + (size_t)b * H, (size_t)H * sizeof(float));
                else memset(xr + (size_t)b * K + Iw, 0, (size_t)H * sizeof(float));
            }
        }
        sl_rcell_fwd a = {.B = nb,
                          .H = H,
                          .g = g + (size_t)ts * B * GH,
                          .ldg = GH,
                          .b = cell_bias(r, ld, r->bsum),
                          .relu = r->cfg.relu,
                          .h = out + (size_t)t * ldo,
                          .ldh = (int)ldh,
                          .zeros = r->zeros};
        a.h_prev = xr + Iw; /* [x_t | h_{t-1}]: h0 or zeros first, and where a document starts */
        a.ldhp = K;
        if (lstm) {
            a.c = r->cst[ld] + row * H;
            a.c_prev = s ? state_cut(r, r->cst[ld] + prow * H, H, cz, b0, nb, t, tp, &ldz) : c0;
        }
        if (gru) {
            sl_rk_gemm(&r->pif[ld], nb, xr, K, a.g, GH, 0);
            sl_rk_gemm(&r->pf[ld], nb, xr + Iw, K, gh, GH, 0);
            a.gh = gh;
            a.bh = bhh;
            a.hn = r->hn[ld] + row * H;
        } else {
            sl_rk_gemm(&r->pxf[ld], nb, xr, K, a.g, GH, 0);
        }
        cell_forward(r, &a);
        if (s + 1 < T) {
            const int tn = d ? t - 1 : t + 1;
            float *xn = xh + (size_t)(ring ? (s + 1) & 1 : tn) * B * K + Iw;
            for (int b = 0; b < nb; b++) {
                if (cut(r->dp, b0 + b, t, tn, T)) memset(xn + (size_t)b * K, 0, (size_t)H * sizeof(float));
                else memcpy(xn + (size_t)b * K, a.h + b * ldh, (size_t)H * sizeof(float));
            }
        }
    }
}

/* Threads for the time loops only when a slice saves well over a millisecond: a parallel
 * region costs a scheduler round trip, which on a busy machine is far more than the work of a
 * small model. */
static int par_ok(const rmodel *r, int B, int T) { return omp_get_max_threads() > 1 && (double)T * B * r->GH * r->H >= 5e7; }

/* Work split of the time loops: ndir directions x ns batch slices, one per thread. The
 * split depends only on the thread count and the shape, so results are reproducible for a
 * given thread count. */
static int n_slices(const rmodel *r, int B, int T)
{
    int nthr = omp_get_max_threads();
    if (!par_ok(r, B, T)) return 1;
    int ns = (nthr + r->ndir - 1) / r->ndir;
    if (ns > B) ns = B;
    return ns < 1 ? 1 : ns;
}

static void run_scans(rmodel *r, int l, const float *X, int B, int T)
{
    const int ns = n_slices(r, B, T), items = r->ndir * ns;
    #pragma omp parallel for schedule(static, 1) if (items > 1 && par_ok(r, B, T))
    for (int it = 0; it < items; it++) {
        int d = it / ns, sl = it % ns;
        int b0 = (int)((long)B * sl / ns), b1 = (int)((long)B * (sl + 1) / ns);
        if (r->fast) layer_dir_scan_rk(r, l, d, b0, b1, X, B, T);
        else layer_dir_scan(r, l, d, b0, b1, B, T);
    }
}

/* Pack every layer-direction's weights for the kernel. Forward: [W_ih W_hh] (Elman, LSTM) or
 * W_ih and W_hh apart (GRU); backward: W_hh and W_ih. The panels' memory is kept between
 * calls. */
static int pack_panels(rmodel *r, int bwd)
{
    if (!r->fast) return SL_OK;
    const int LD = r->L * r->ndir, gru = r->cfg.cell == SL_RCELL_GRU;
    int bad = 0;
    #pragma omp parallel for schedule(static) reduction(| : bad) if (par_ok(r, r->B, r->T))
    for (int it = 0; it < 2 * LD; it++) {
        const int ld = it >> 1, Iw = layer_in(r, ld / r->ndir);
        const float *wih = sl_params_data(r->base.P, r->i_wih[ld]); /* (GH, Iw) */
        const float *whh = sl_params_data(r->base.P, r->i_whh[ld]); /* (GH, H) */
        if (bwd && gru && !(it & 1))                                /* rows in the order of the GRU's h-side dG: n, r, z */
            bad |= sl_rk_pack_bwd2(&r->pb[ld], whh + (size_t)2 * r->H * r->H, r->H, whh, 2 * r->H, r->H);
        else if (bwd) bad |= it & 1 ? sl_rk_pack_bwd(&r->pib[ld], wih, r->GH, Iw) : sl_rk_pack_bwd(&r->pb[ld], whh, r->GH, r->H);
        else if (gru)
            bad |= it & 1 ? sl_rk_pack_fwd(&r->pif[ld], wih, r->G, r->H, Iw) : sl_rk_pack_fwd(&r->pf[ld], whh, r->G, r->H, r->H);
        else if (!(it & 1)) bad |= sl_rk_pack_fwd2(&r->pxf[ld], wih, Iw, whh, r->H, r->G, r->H);
    }
    return bad ? sl_error(SL_ENOMEM, "%s: cannot allocate the packed weight panels", r->base.vt->kind) : SL_OK;
}

/* Kernel path: dx (B, T, Iw) = (beta ? dx : 0) + dG W_ih for every step, dG time-major (T, B,
 * dg_width) (the backward panel of W_ih; the GRU's x side starts at column H); the steps on the
 * threads. */
static void rk_dx(const rmodel *r, const sl_rk_panel *pn, const float *dG, float *dx, int Iw, int beta)
{
    const int B = r->B, T = r->T, DW = dg_width(r), off = r->cfg.cell == SL_RCELL_GRU ? r->H : 0;
    #pragma omp parallel for schedule(static) if (par_ok(r, B, T))
    for (int t = 0; t < T; t++) sl_rk_gemm(pn, B, dG + (size_t)t * B * DW + off, DW, dx + (size_t)t * Iw, T * Iw, beta);
}

/* The lanes path (seq/recurrent_lanes.h) takes LSTM and GRU batches of at most 32 rows on the
 * kernel path's CPUs (r->fast: AVX-512F, which is all the lanes path needs), unless turned off
 * with sl_recurrent_set_lanes. */
static int lanes_take(const rmodel *r, int B) { return r->fast && r->lanes_on && r->cfg.cell != SL_RCELL_ELMAN && sl_rl_fits(B); }

static void lanes_args(const rmodel *r, int l, int d, sl_rl_args *a)
{
    const sl_params *P = r->base.P;
    const int ld = l * r->ndir + d;
    const size_t st = (size_t)ld * r->B * r->H;
    memset(a, 0, sizeof *a);
    a->gru = r->cfg.cell == SL_RCELL_GRU;
    a->B = r->B;
    a->T = r->T;
    a->NI = layer_in(r, l);
    a->H = r->H;
    a->rev = d;
    a->w_ih = sl_params_data(P, r->i_wih[ld]);
    a->w_hh = sl_params_data(P, r->i_whh[ld]);
    a->b_ih = sl_params_data_opt(P, r->i_bih[ld]);
    a->b_hh = sl_params_data_opt(P, r->i_bhh[ld]);
    a->h0 = r->h0 ? r->h0 + st : NULL;
    a->c0 = r->c0 ? r->c0 + st : NULL;
    a->amx = r->amx_on && !r->dp; /* packed rows: AVX-512 only (recurrent_lanes.h) */
    a->infer = r->base.inference;
    a->doc_pos = r->dp;
}

/* one layer of the lanes path: each direction in turn, on all threads; the output (B, T,
 * ndir*H) goes to out (the last layer's straight into y: the lanes path's backward and final
 * state use their own caches, not the engine's out[]) */
static int lanes_forward_layer(rmodel *r, int l, const float *X, float *out)
{
    const int ldo = r->ndir * r->H;
    for (int d = 0; d < r->ndir; d++) {
        const int ld = l * r->ndir + d;
        if (!r->rl[ld] && !(r->rl[ld] = sl_rl_new())) return sl_error(SL_ENOMEM, "out of memory");
        sl_rl_args a;
        lanes_args(r, l, d, &a);
        int rc = sl_rl_forward(r->rl[ld], &a, X, (size_t)a.NI, out + (size_t)d * r->H, (size_t)ldo);
        if (rc) return rc;
    }
    return SL_OK;
}

static int forward_body(sl_model *m, const float *x, float *y, int B, int T)
{
    rmodel *r = (rmodel *)m;
    const int Iw = r->cfg.input_size, H = r->H, ldo = r->ndir * H;
    int rc;
    if (r->h0 && r->h0_B != B)
        return sl_error(SL_ESHAPE, "%s: the initial state was set for batch %d, forward has batch %d", m->vt->kind, r->h0_B, B);
    if (m->doc_pos && r->h0)
        return sl_error(SL_EUNSUPPORTED,
                        "%s: packed rows restart from the zero state; an initial state (h0) cannot be used with them",
                        m->vt->kind);
    if (m->doc_pos && (rc = sl_docs_check(m->doc_pos, B, T))) return rc;
    r->dp = m->doc_pos;
    r->dropped = m->training && r->cfg.dropout > 0 && r->L > 1;
    if (r->dropped && !m->rng)
        return sl_error(SL_EINVAL, "%s: dropout while training needs an rng (sl_model_set_training)", m->vt->kind);
    r->cached = 0;
    r->lanes = lanes_take(r, B);
    if ((rc = reserve_caches(r, B, T))) return rc;
    sum_biases(r, r->bsum);
    r->B = B;
    r->T = T;
    if (!r->lanes && (rc = pack_panels(r, 0))) return rc;
    /* the input is kept for the weight gradient: the caller's x need not outlive forward()
     * (the kernel path keeps it inside xh) */
    const int inf = m->inference;
    if (!r->fast && !inf) memcpy(r->xin, x, (size_t)B * T * Iw * sizeof(float));
    if (inf && !r->lanes) r->out[r->L - 1] = y; /* inference: the last layer writes into y */
    for (int l = 0; l < r->L; l++) {
        const float *X = r->fast || inf ? x : r->xin;
        if (l) {
            size_t n = (size_t)T * B * ldo;
            if (r->dropped) {
                sl_dropout_forward(r->xd[l], r->mask[l], r->out[l - 1], n, r->cfg.dropout, m->rng);
                X = r->xd[l];
            } else {
                X = r->out[l - 1];
            }
        }
        if (r->lanes) {
            if ((rc = lanes_forward_layer(r, l, X, l == r->L - 1 ? y : r->out[l]))) return rc;
            continue;
        }
        /* the kernel path projects the input inside the scan, step by step */
        if (!r->fast)
            for (int d = 0; d < r->ndir; d++) layer_dir_proj(r, l, d, X, B, T);
        run_scans(r, l, X, B, T);
    }
    if (!r->lanes && !inf) {
        /* by batch row on the threads (a copy of B*T*ldo floats is a few ms on one core) */
        const float *o = r->out[r->L - 1];
        const size_t rowf = (size_t)T * ldo;
        #pragma omp parallel for schedule(static) if (par_ok(r, B, T))
        for (int b = 0; b < B; b++) memcpy(y + b * rowf, o + b * rowf, rowf * sizeof(float));
    }
    /* inference: final_state only on the lanes path (its carried state); the rest is gone */
    r->cached = !inf || r->lanes;
    return SL_OK;
}

/* column sums: db (n) += sum over rows of a (rows, n); ones (rows) all 1 */
static void colsum_acc(const float *ones, float *db, const float *a, size_t rows, int n)
{
    cblas_sgemv(CblasRowMajor, CblasTrans, (int)rows, n, 1.0f, a, n, ones, 1, 1.0f, db, 1);
}

/* Width of a row of dG: G*H, but 4H for the GRU on the kernel path, whose rows are
 * [dn_pre*r | dr | dz | dn]: the h side (n, r, z) is columns [0, 3H) and the x side (r, z, n)
 * columns [H, 4H), so both are contiguous blocks and the h side's r and z are not stored twice
 * (the GRU's dG_h on the sgemm path is a separate (B, T, 3H) array). */
static int dg_width(const rmodel *r) { return r->fast && r->cfg.cell == SL_RCELL_GRU ? 4 * r->H : r->GH; }

/* Backpropagation through time of one direction of one layer for batch rows [b0, b1):
 * dH (B, T, ndir*H) is the gradient of the layer's output; fills the rows of dg[d] (and
 * dgh[d]) and, with an initial state, of dh0 / dc0. */
static void layer_dir_bptt(rmodel *r, int l, int d, int b0, int b1, const float *dH, float *dxo, int dxbeta, double *dbacc, int B,
                           int T)
{
    const sl_params *P = r->base.P;
    const int H = r->H, GH = r->GH, ldo = r->ndir * H, ld = l * r->ndir + d, nb = b1 - b0;
    const int gru = r->cfg.cell == SL_RCELL_GRU, lstm = r->cfg.cell == SL_RCELL_LSTM;
    const int ldh = T * ldo; /* out, dH: row stride of one step across the batch */
    /* gates (width GH), dG, dG_h (width DW, see dg_width): batch-first (B, T, .) on the sgemm
     * path, time-major (T, B, .) on the kernel path; row (b, t) at b * gb + t * gt, resp. b * db +
     * t * dt */
    const int DW = dg_width(r), gru4 = gru && r->fast;
    const size_t gb = r->fast ? (size_t)GH : (size_t)T * GH, gt = r->fast ? (size_t)B * GH : (size_t)GH;
    const size_t db = r->fast ? (size_t)DW : (size_t)T * DW, dt = r->fast ? (size_t)B * DW : (size_t)DW;
    const int ldg = (int)gb, lddg = (int)db;
    const float *whh = sl_params_data(P, r->i_whh[ld]);          /* (GH, H) */
    const float *g = r->gates[ld] + (size_t)b0 * gb;             /* from row b0 */
    const float *out = r->out[l] + (size_t)b0 * T * ldo + d * H; /* (B, T, ndir*H) from row b0 */
    const float *dHb = dH + (size_t)b0 * T * ldo + d * H;
    /* dgx: the x side of dG (dW_ih, dx, bias_ih); dgh: the h side (dh_prev, dW_hh, bias_hh) */
    float *dgx = r->dg[d] + (size_t)b0 * db + (gru4 ? H : 0);
    float *dgh = gru4 ? r->dg[d] + (size_t)b0 * db : gru ? r->dgh[d] + (size_t)b0 * db : dgx;
    float *dhr = r->dhr[d] + (size_t)b0 * H; /* (nb, H) */
    float *dc = lstm ? r->dc[d] + (size_t)b0 * H : NULL;
    const float *h0 = r->h0 ? r->h0 + ((size_t)ld * B + b0) * H : NULL;
    const float *c0 = r->c0 ? r->c0 + ((size_t)ld * B + b0) * H : NULL;
    float *hz = r->hz ? r->hz + ((size_t)d * B + b0) * H : NULL, *cz = r->cz ? r->cz + ((size_t)d * B + b0) * H : NULL;

    /* kernel path: dxo (B, T, Iw) or NULL receives (beta: += ) dG_t W_ih for each step while dG_t
     * is in cache, and dbacc (2 * GH, or NULL) the column sums of dG's x side (bias_ih; and
     * bias_hh but for its n block, for the GRU) and, GRU, of the h side's n block */
    const sl_rk_panel *pb = r->fast ? &r->pb[ld] : NULL, *pib = r->fast ? &r->pib[ld] : NULL;
    const int Iw = layer_in(r, l);
    float *dxb = dxo ? dxo + (size_t)b0 * T * Iw : NULL;
    if (dbacc) memset(dbacc, 0, 2 * (size_t)GH * sizeof(double));
    memset(dhr, 0, (size_t)nb * H * sizeof(float));
    if (dc) memset(dc, 0, (size_t)nb * H * sizeof(float));
    for (int s = T - 1; s >= 0; s--) {
        int t = d ? T - 1 - s : s, tp = d ? t + 1 : t - 1, ldz;
        size_t row = (size_t)t * B + b0, prow = (size_t)tp * B + b0;
        sl_rcell_bwd a = {.B = nb,
                          .H = H,
                          .g = g + (size_t)t * gt,
                          .ldg = ldg,
                          .relu = r->cfg.relu,
                          .h = out + (size_t)t * ldo,
                          .ldh = ldh,
                          .dh_out = dHb + (size_t)t * ldo,
                          .lddo = ldh,
                          .dh_rec = dhr,
                          .dc = dc,
                          .dg = dgx + (size_t)t * dt,
                          .lddg = lddg,
                          .dgh = gru ? dgh + (size_t)t * dt : NULL,
                          .dgh_n_only = gru4,
                          .zeros = r->zeros};
        if (s) a.h_prev = state_cut(r, out + (size_t)tp * ldo, ldh, hz, b0, nb, t, tp, &a.ldhp);
        else {
            a.h_prev = h0;
            a.ldhp = H;
        }
        if (r->fast) { /* the same values, in xh's contiguous rows (h0 or zeros first and at cuts) */
            a.h_prev = r->xh[ld] + ((size_t)t * B + b0) * (Iw + H) + Iw;
            a.ldhp = Iw + H;
        }
        if (lstm) {
            a.c = r->cst[ld] + row * H;
            a.c_prev = s ? state_cut(r, r->cst[ld] + prow * H, H, cz, b0, nb, t, tp, &ldz) : c0;
        }
        if (gru) a.hn = r->hn[ld] + row * H;
        cell_backward(r, &a);
        if (dbacc) /* column sums in double: of dG's x side, and of the GRU's h-side n block */
            for (int b = 0; b < nb; b++) {
                const float *x1 = dgx + (size_t)b * db + (size_t)t * dt, *x2 = dgh + (size_t)b * db + (size_t)t * dt;
                double *a1 = dbacc, *a2 = dbacc + GH;
                #pragma omp simd
                for (int j = 0; j < GH; j++) a1[j] += x1[j];
                if (gru) {
                    #pragma omp simd
                    for (int j = 0; j < H; j++) a2[j] += x2[j];
                }
            }
        if (dxb && pib) sl_rk_gemm(pib, nb, dgx + (size_t)t * dt, lddg, dxb + (size_t)t * Iw, T * Iw, dxbeta);
        /* dh_{prev} += dG_h W_hh */
        if ((s || h0) && pb) sl_rk_gemm(pb, nb, dgh + (size_t)t * dt, lddg, dhr, H, 1);
        else if (s || h0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, H, GH, 1.0f, dgh + (size_t)t * dt, lddg, whh, H, 1.0f, dhr,
                        H);
        if (s) grad_cut(r, dhr, dc, b0, nb, t, tp);
    }
    if (h0) {
        memcpy(r->dh0 + ((size_t)ld * B + b0) * H, dhr, (size_t)nb * H * sizeof(float));
        if (lstm) memcpy(r->dc0 + ((size_t)ld * B + b0) * H, dc, (size_t)nb * H * sizeof(float));
    }
}

/* Weight gradients of one direction of one layer, over all steps at once: X (B, T, I) is the
 * layer's input. */
static void layer_dir_wgrad(rmodel *r, int l, int d, const float *X, int bias_done, int B, int T)
{
    const sl_params *P = r->base.P;
    const int H = r->H, GH = r->GH, Iw = layer_in(r, l), ldo = r->ndir * H, ld = l * r->ndir + d;
    const size_t TB = (size_t)T * B;
    const int gru = r->cfg.cell == SL_RCELL_GRU;
    float *dwih = sl_params_grad(P, r->i_wih[ld]), *dwhh = sl_params_grad(P, r->i_whh[ld]);
    float *dbih = sl_params_grad_opt(P, r->i_bih[ld]);
    float *dbhh = sl_params_grad_opt(P, r->i_bhh[ld]);
    const float *out = r->out[l] + d * H, *dg = r->dg[d], *dgh = gru && !r->fast ? r->dgh[d] : dg;
    const float *h0 = r->h0 ? r->h0 + (size_t)ld * B * H : NULL;
    if (r->fast) {
        /* xh (T*B, K) holds every step's [x_t | h_prev] (h0 or zeros first), in the row order of
         * the time-major dG, so dW_hh needs no shifted pairs: [dW_ih dW_hh]^T (K, GH) = xh^T dG
         * is one GEMM (this orientation runs faster in OpenBLAS than dG^T xh), two for the GRU,
         * whose x and h sides are different column blocks of dG; then it is added, transposed in
         * 16 x 16 blocks, into the two gradients. */
        const int K = Iw + H;
        const float *xh = r->xh[ld];
        float *dwt = r->dwcat; /* (K, GH) */
        if (gru) {
            /* dG rows [dn_pre*r | dr | dz | dn] (dg_width): the x side is columns H.. in gate
             * order, the h side columns 0.. in the order n, r, z */
            const int DW = 4 * H;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Iw, GH, (int)TB, 1.0f, xh, K, dg + H, DW, 0.0f, dwt, GH);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, GH, (int)TB, 1.0f, xh + Iw, K, dg, DW, 0.0f,
                        dwt + (size_t)Iw * GH, GH);
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, GH, (int)TB, 1.0f, xh, K, dg, GH, 0.0f, dwt, GH);
        }
        #pragma omp parallel for schedule(static) if (par_ok(r, B, T))
        for (int c0 = 0; c0 < GH; c0 += 16)
            for (int i0 = 0; i0 < K; i0 += 16) {
                const int i1 = i0 + 16 < K ? i0 + 16 : K, c1 = c0 + 16 < GH ? c0 + 16 : GH;
                for (int c = c0; c < c1; c++) {
                    /* the gate row of column c of the h-side block (GRU: n, r, z) */
                    const int ch = gru ? (c < H ? c + 2 * H : c - H) : c;
                    for (int i = i0; i < i1; i++) {
                        float v = dwt[(size_t)i * GH + c];
                        if (i < Iw) dwih[(size_t)c * Iw + i] += v;
                        else dwhh[(size_t)ch * H + (i - Iw)] += v;
                    }
                }
            }
        return; /* the kernel path sums the bias gradients inside its time loops */
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, Iw, (int)TB, 1.0f, dg, GH, X, Iw, 1.0f, dwih, Iw);
    /* forward direction: dG_h at t = 1..T-1 with h at t-1; reverse: t = 0..T-2 with h at t+1 */
    gemm_dwhh(dwhh, dgh, out, ldo, d, B, T, GH, H);
    /* packed rows: the pairs across a document start paired dG_t with the other document's h
     * (the step itself saw zeros): take them out again */
    for (int b = 0; r->dp && b < B; b++)
        for (int t = 0; t < T; t++) {
            const int tp = d ? t + 1 : t - 1;
            if (tp >= 0 && tp < T && cut(r->dp, b, tp, t, T))
                cblas_sger(CblasRowMajor, GH, H, -1.0f, dgh + ((size_t)b * T + t) * GH, 1, out + ((size_t)b * T + tp) * ldo, 1,
                           dwhh, H);
        }
    if (h0) {
        const float *dg0 = dgh + (size_t)(d ? T - 1 : 0) * GH; /* rows (b, first step), T*GH apart */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, B, 1.0f, dg0, T * GH, h0, H, 1.0f, dwhh, H);
    }
    if (bias_done) return;
    if (dbih) colsum_acc(r->ones, dbih, dg, TB, GH);
    if (dbhh) colsum_acc(r->ones, dbhh, dgh, TB, GH);
}

/* Between layers of the backward: dX (bufs[*wb]) holds the gradient of layer l's input; returns
 * that of layer l-1's output, through layer l's dropout mask. The two scratch buffers alternate
 * between holding dH and receiving the next layer's dX. */
static const float *next_dH(rmodel *r, int l, float *dX, float *bufs[2], int *wb)
{
    const size_t n = (size_t)r->T * r->B * r->ndir * r->H;
    if (!r->dropped) {
        *wb = 1 - *wb;
        return dX;
    }
    float *o = bufs[1 - *wb]; /* the next layer writes into bufs[*wb] again */
    memset(o, 0, n * sizeof(float));
    sl_dropout_backward(o, dX, r->mask[l], n);
    return o;
}

/* Backward on the lanes path: per layer from the top, each direction in turn on all threads;
 * the weight and bias gradients and dx come out of sl_rl_backward. */
static int lanes_backward(rmodel *r, const float *dy, float *dx)
{
    const int B = r->B, T = r->T, H = r->H, ldo = r->ndir * H;
    const size_t TB = (size_t)T * B;
    const sl_params *P = r->base.P;
    if (SL_ARENA_CARVE(&r->bwd, SL_FIELD(r->dH, r->L > 1 ? TB * ldo : 0), SL_FIELD(r->dX, r->L > 1 ? TB * ldo : 0)))
        return sl_error(SL_ENOMEM, "%s: cannot allocate backward buffers for B=%d T=%d", r->base.vt->kind, B, T);
    const float *dH = dy;
    float *bufs[2] = {r->dH, r->dX};
    int wb = 0;
    for (int l = r->L - 1; l >= 0; l--) {
        const int Iw = layer_in(r, l);
        float *dX = l ? bufs[wb] : dx;
        for (int d = 0; d < r->ndir; d++) {
            const int ld = l * r->ndir + d;
            const size_t st = (size_t)ld * B * H;
            sl_rl_args a;
            lanes_args(r, l, d, &a);
            const sl_rl_grads g = {.dw_ih = sl_params_grad(P, r->i_wih[ld]),
                                   .dw_hh = sl_params_grad(P, r->i_whh[ld]),
                                   .db_ih = a.b_ih ? sl_params_grad(P, r->i_bih[ld]) : NULL,
                                   .db_hh = a.b_hh ? sl_params_grad(P, r->i_bhh[ld]) : NULL,
                                   .dh0 = r->dh0 ? r->dh0 + st : NULL,
                                   .dc0 = r->dc0 ? r->dc0 + st : NULL};
            int rc = sl_rl_backward(r->rl[ld], &a, dH + (size_t)d * H, (size_t)ldo, dX, (size_t)Iw, l ? d : 1, &g);
            if (rc) return rc;
        }
        if (l == 0) break;
        dH = next_dH(r, l, dX, bufs, &wb);
    }
    return SL_OK;
}

static int backward_body(sl_model *m, const float *dy, float *dx)
{
    rmodel *r = (rmodel *)m;
    if (r->lanes) return lanes_backward(r, dy, dx);
    const int B = r->B, T = r->T, H = r->H, GH = r->GH, ldo = r->ndir * H;
    const size_t TB = (size_t)T * B;
    const int ns = n_slices(r, B, T), items = r->ndir * ns;
    /* kernel path: bias gradients summed inside the time loops, one partial per work item */
    const int bias_in_loop = r->fast && r->cfg.bias;
    size_t kmax = 0; /* kernel path: the widest [x | h] */
    for (int l = 0; r->fast && l < r->L; l++) kmax = kmax > (size_t)(layer_in(r, l) + H) ? kmax : (size_t)(layer_in(r, l) + H);
    const size_t dd = r->L > 1 ? TB * ldo : 0, dgw = TB * dg_width(r), bh = (size_t)B * H;
    const size_t dgh = r->cfg.cell == SL_RCELL_GRU && !r->fast ? TB * GH : 0, dc = r->cfg.cell == SL_RCELL_LSTM ? bh : 0;
    const int two = r->ndir > 1;
    int rc = SL_ARENA_CARVE(&r->bwd, SL_FIELD(r->dH, dd), SL_FIELD(r->dX, dd), SL_FIELD(r->ones, TB), SL_FIELD(r->dg[0], dgw),
                            SL_FIELD(r->dg[1], two * dgw), SL_FIELD(r->dhr[0], bh), SL_FIELD(r->dhr[1], two * bh),
                            SL_FIELD(r->dgh[0], dgh), SL_FIELD(r->dgh[1], two * dgh), SL_FIELD(r->dc[0], dc),
                            SL_FIELD(r->dc[1], two * dc), SL_FIELD(r->dwcat, (size_t)GH * kmax),
                            SL_FIELD(r->dbp, bias_in_loop ? (size_t)items * 2 * GH : 0));
    if (rc) return sl_error(SL_ENOMEM, "%s: cannot allocate backward buffers for B=%d T=%d", m->vt->kind, B, T);
    if ((rc = pack_panels(r, 1))) return rc;
    if (!r->fast || !r->cfg.bias)
        for (size_t i = 0; i < TB; i++) r->ones[i] = 1.0f;
    /* dH: the gradient of the current layer's output (B, T, ldo); the last layer's is dy.
     * The two scratch buffers alternate between holding dH and receiving the next one. */
    const float *dH = dy;
    float *bufs[2] = {r->dH, r->dX};
    int wb = 0;
    for (int l = r->L - 1; l >= 0; l--) {
        const float *X = l == 0 ? r->xin : r->dropped ? r->xd[l] : r->out[l - 1];
        const int Iw = layer_in(r, l);
        /* kernel path, one direction: the input gradient is made inside the time loop */
        float *dxo = NULL;
        if (r->fast && r->ndir == 1) dxo = l == 0 ? dx : bufs[wb];
        {
            #pragma omp parallel for schedule(static, 1) if (items > 1 && par_ok(r, B, T))
            for (int it = 0; it < items; it++) {
                int d = it / ns, sl = it % ns;
                layer_dir_bptt(r, l, d, (int)((long)B * sl / ns), (int)((long)B * (sl + 1) / ns), dH, dxo, l == 0,
                               bias_in_loop ? r->dbp + (size_t)it * 2 * GH : NULL, B, T);
            }
        }
        if (bias_in_loop)
            for (int d = 0; d < r->ndir; d++) {
                const int ld = l * r->ndir + d;
                float *dbih = sl_params_grad(m->P, r->i_bih[ld]), *dbhh = sl_params_grad(m->P, r->i_bhh[ld]);
                for (int j = 0; j < GH; j++) {
                    double s1 = 0, s2 = 0;
                    for (int sl = 0; sl < ns; sl++) {
                        const double *p = r->dbp + (size_t)(d * ns + sl) * 2 * GH;
                        s1 += p[j];
                        s2 += r->cfg.cell == SL_RCELL_GRU && j >= 2 * H ? p[GH + j - 2 * H] : p[j];
                    }
                    dbih[j] += (float)s1;
                    dbhh[j] += (float)s2;
                }
            }
        for (int d = 0; d < r->ndir; d++) layer_dir_wgrad(r, l, d, X, bias_in_loop, B, T);
        if (l == 0) {
            /* dx += sum_d dG_d W_ih_d, straight into the caller's (B, T, I) */
            for (int d = 0; dx && !dxo && d < r->ndir; d++) {
                if (r->fast) rk_dx(r, &r->pib[d], r->dg[d], dx, Iw, 1);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, Iw, GH, 1.0f, r->dg[d], GH,
                                sl_params_data(m->P, r->i_wih[d]), Iw, 1.0f, dx, Iw);
            }
            break;
        }
        /* the gradient of layer l's input = that of layer l-1's output (through the dropout) */
        float *dX = bufs[wb];
        for (int d = 0; !dxo && d < r->ndir; d++) {
            if (r->fast) rk_dx(r, &r->pib[l * r->ndir + d], r->dg[d], dX, Iw, d);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, Iw, GH, 1.0f, r->dg[d], GH,
                            sl_params_data(m->P, r->i_wih[l * r->ndir + d]), Iw, d ? 1.0f : 0.0f, dX, Iw);
        }
        dH = next_dH(r, l, dX, bufs, &wb);
    }
    return SL_OK;
}

/* ---- initial / final state ---- */

int sl_recurrent_set_initial_state(sl_model *m, const float *h0, const float *c0, int B)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "set_initial_state: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    free(r->h0);
    free(r->c0);
    free(r->dh0);
    free(r->dc0);
    r->h0 = r->c0 = r->dh0 = r->dc0 = NULL;
    r->h0_B = 0;
    r->cached = 0;
    if (!h0) {
        if (c0) return sl_error(SL_EINVAL, "%s: c0 given without h0", m->vt->kind);
        return SL_OK;
    }
    if (B <= 0) return sl_error(SL_ESHAPE, "%s: bad batch size %d for the initial state", m->vt->kind, B);
    if (c0 && r->cfg.cell != SL_RCELL_LSTM) return sl_error(SL_EINVAL, "%s has no cell state: c0 is for lstm only", m->vt->kind);
    size_t n = (size_t)r->L * r->ndir * B * r->H;
    int lstm = r->cfg.cell == SL_RCELL_LSTM;
    r->h0 = malloc(n * sizeof(float));
    r->dh0 = calloc(n, sizeof(float));
    if (lstm) {
        r->c0 = calloc(n, sizeof(float));
        r->dc0 = calloc(n, sizeof(float));
    }
    if (!r->h0 || !r->dh0 || (lstm && (!r->c0 || !r->dc0))) {
        free(r->h0);
        free(r->c0);
        free(r->dh0);
        free(r->dc0);
        r->h0 = r->c0 = r->dh0 = r->dc0 = NULL;
        return sl_error(SL_ENOMEM, "out of memory");
    }
    memcpy(r->h0, h0, n * sizeof(float));
    if (lstm && c0) memcpy(r->c0, c0, n * sizeof(float));
    r->h0_B = B;
    return SL_OK;
}

int sl_recurrent_initial_state_grad(sl_model *m, float *dh0, float *dc0)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "initial_state_grad: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    if (!r->h0) return sl_error(SL_EINVAL, "%s: no initial state set, so it has no gradient", m->vt->kind);
    size_t n = (size_t)r->L * r->ndir * r->h0_B * r->H;
    if (dh0) memcpy(dh0, r->dh0, n * sizeof(float));
    if (dc0) {
        if (!r->dc0) return sl_error(SL_EINVAL, "%s has no cell state", m->vt->kind);
        memcpy(dc0, r->dc0, n * sizeof(float));
    }
    return SL_OK;
}

int sl_recurrent_final_state(sl_model *m, float *hn, float *cn)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "final_state: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    if (!r->cached) return sl_error(SL_EINVAL, "%s: final_state needs a preceding forward", m->vt->kind);
    if (cn && r->cfg.cell != SL_RCELL_LSTM) return sl_error(SL_EINVAL, "%s has no cell state", m->vt->kind);
    const int B = r->B, T = r->T, H = r->H, ldo = r->ndir * H;
    if (r->lanes) {
        for (int ld = 0; ld < r->L * r->ndir; ld++)
            sl_rl_final_state(r->rl[ld], hn ? hn + (size_t)ld * B * H : NULL, cn ? cn + (size_t)ld * B * H : NULL);
        return SL_OK;
    }
    for (int l = 0; l < r->L; l++)
        for (int d = 0; d < r->ndir; d++) {
            int ld = l * r->ndir + d, t = d ? 0 : T - 1;
            for (int b = 0; b < B; b++) {
                if (hn)
                    memcpy(hn + ((size_t)ld * B + b) * H, r->out[l] + ((size_t)b * T + t) * ldo + d * H,
                           (size_t)H * sizeof(float));
                if (cn) memcpy(cn + ((size_t)ld * B + b) * H, r->cst[ld] + ((size_t)t * B + b) * H, (size_t)H * sizeof(float));
            }
        }
    return SL_OK;
}

int sl_recurrent_set_fast(sl_model *m, int on)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "set_fast: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    int f = on && sl_rk_available();
    if (f != r->fast) r->cached = 0; /* the caches of one path do not serve the other's backward */
    r->fast = f;
    return SL_OK;
}

int sl_recurrent_fast(const sl_model *m) { return sl_recurrent_is(m) && ((const rmodel *)m)->fast; }

int sl_recurrent_set_lanes(sl_model *m, int on)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "set_lanes: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    r->lanes_on = on != 0;
    r->cached = 0;
    return SL_OK;
}

int sl_recurrent_lanes(const sl_model *m)
{
    return sl_recurrent_is(m) && ((const rmodel *)m)->cached && ((const rmodel *)m)->lanes;
}

int sl_recurrent_set_amx(sl_model *m, int on)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "set_amx: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    r->amx_on = on != 0;
    r->cached = 0;
    return SL_OK;
}

int sl_recurrent_amx(const sl_model *m)
{
    if (!sl_recurrent_lanes(m)) return 0;
    const rmodel *r = (const rmodel *)m;
    for (int i = 0; i < r->L * r->ndir; i++)
        if (!r->rl[i] || !sl_rl_amx(r->rl[i])) return 0;
    return 1;
}

/* ---- step mode ---- */

static void r_state_free(sl_model *m, void *st)
{
    rstate *s = st;
    if (!s) return;
    free(s->h);
    free(s->c);
    free(s->g);
    free(s->gh);
    free(s->hn);
    free(s->bsum);
    sl_arena_free(&s->pf);
    free(s);
}

static int r_state_reset(sl_model *m, void *st)
{
    rmodel *r = (rmodel *)m;
    rstate *s = st;
    size_t n = (size_t)r->L * s->B * r->H;
    if (r->h0 && r->h0_B != s->B)
        return sl_error(SL_ESHAPE, "%s: the initial state was set for batch %d, the step state has batch %d", m->vt->kind,
                        r->h0_B, s->B);
    if (r->h0) memcpy(s->h, r->h0, n * sizeof(float));
    else memset(s->h, 0, n * sizeof(float));
    if (s->c) {
        if (r->c0) memcpy(s->c, r->c0, n * sizeof(float));
        else memset(s->c, 0, n * sizeof(float));
    }
    return SL_OK;
}

static void *r_state_new(sl_model *m, int B)
{
    rmodel *r = (rmodel *)m;
    if (r->ndir != 1) {
        sl_error(
            SL_EUNSUPPORTED,
            "%s: a bidirectional instance has no step mode (the reverse direction needs the whole sequence); use sequence mode",
            m->vt->kind);
        return NULL;
    }
    rstate *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    size_t n = (size_t)r->L * B * r->H;
    s->B = B;
    s->h = malloc(n * sizeof(float));
    s->g = malloc((size_t)B * r->GH * sizeof(float));
    s->bsum = malloc((size_t)r->L * r->GH * sizeof(float));
    if (r->cfg.cell == SL_RCELL_LSTM) s->c = malloc(n * sizeof(float));
    if (r->cfg.cell == SL_RCELL_GRU) {
        s->gh = malloc((size_t)B * r->GH * sizeof(float));
        s->hn = malloc((size_t)B * r->H * sizeof(float));
    }
    if (!s->h || !s->g || !s->bsum || (r->cfg.cell == SL_RCELL_LSTM && !s->c) ||
        (r->cfg.cell == SL_RCELL_GRU && (!s->gh || !s->hn))) {
        r_state_free(m, s);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    if (r_state_reset(m, s)) {
        r_state_free(m, s);
        return NULL;
    }
    return s;
}

static int step_body(sl_model *m, void *st, const float *x, float *y)
{
    rmodel *r = (rmodel *)m;
    rstate *s = st;
    const sl_params *P = m->P;
    const int B = s->B, H = r->H, GH = r->GH;
    const int gru = r->cfg.cell == SL_RCELL_GRU, lstm = r->cfg.cell == SL_RCELL_LSTM;
    const float *in = x;
    sum_biases(r, s->bsum);
    for (int l = 0; l < r->L; l++) {
        const int Iw = layer_in(r, l);
        const float *wih = sl_params_data(P, r->i_wih[l]), *whh = sl_params_data(P, r->i_whh[l]);
        const float *bhh = sl_params_data_opt(P, r->i_bhh[l]);
        float *h = s->h + (size_t)l * B * H;
        /* same operation order as sequence mode: x W_ih^T, + h W_hh^T, + bias in the cell */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, GH, Iw, 1.0f, in, Iw, wih, Iw, 0.0f, s->g, GH);
        sl_rcell_fwd a = {.B = B,
                          .H = H,
                          .g = s->g,
                          .ldg = GH,
                          .b = cell_bias(r, l, s->bsum),
                          .h_prev = h,
                          .ldhp = H,
                          .h = h,
                          .ldh = H,
                          .relu = r->cfg.relu,
                          .zeros = r->zeros};
        if (gru) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, GH, H, 1.0f, h, H, whh, H, 0.0f, s->gh, GH);
            a.gh = s->gh;
            a.bh = bhh;
            a.hn = s->hn;
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, GH, H, 1.0f, h, H, whh, H, 1.0f, s->g, GH);
        }
        if (lstm) {
            a.c_prev = s->c + (size_t)l * B * H;
            a.c = s->c + (size_t)l * B * H;
        }
        cell_forward(r, &a);
        in = h;
    }
    memcpy(y, in, (size_t)B * H * sizeof(float));
    return SL_OK;
}

/* ---- entry points: small problems run single-threaded ----
 * Below the par_ok size, threads cost more than they save (the per-step GEMMs are small, and
 * OpenBLAS would otherwise open a parallel region for each of them). A one-thread parallel
 * region with its own nthreads-var of 1 keeps OpenBLAS (whose OpenMP build asks
 * omp_get_max_threads) and the cells' pragmas serial without touching any global setting. */
#define SERIAL_REGION(call) \
    do { \
        _Pragma("omp parallel num_threads(1)") \
        { \
            omp_set_num_threads(1); \
            rc = (call); \
        } \
    } while (0)

static int r_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    rmodel *r = (rmodel *)m;
    int rc;
    (void)tok;
    if (par_ok(r, B, T)) return forward_body(m, x, y, B, T);
    SERIAL_REGION(forward_body(m, x, y, B, T));
    return rc;
}

static int r_backward(sl_model *m, const float *dy, float *dx)
{
    rmodel *r = (rmodel *)m;
    int rc;
    if (!r->cached) return sl_error(SL_EINVAL, "%s: backward without a preceding forward", m->vt->kind);
    if (par_ok(r, r->B, r->T)) return backward_body(m, dy, dx);
    SERIAL_REGION(backward_body(m, dy, dx));
    return rc;
}

static int r_step(sl_model *m, void *st, const float *x, const int32_t *tok, float *y)
{
    rmodel *r = (rmodel *)m;
    int rc;
    (void)tok;
    if (par_ok(r, ((rstate *)st)->B, 1)) return step_body(m, st, x, y);
    SERIAL_REGION(step_body(m, st, x, y));
    return rc;
}

/* T positions in sequence mode from the state (issue #17 item 3): per layer, the input
 * products x W_ih^T of all B*T rows as one GEMM, then the recurrence from the state's h (and c)
 * position by position with the step's operation order; the final h / c stay in the state. */
static int prefill_body(sl_model *m, void *st, const float *x, float *y, int B, int T)
{
    rmodel *r = (rmodel *)m;
    rstate *s = st;
    const sl_params *P = m->P;
    const int H = r->H, GH = r->GH, N = B * T;
    const int gru = r->cfg.cell == SL_RCELL_GRU, lstm = r->cfg.cell == SL_RCELL_LSTM;
    float *G, *o1, *o2; // (N, GH) (N, H) (N, H)
    int rc;
    if ((rc = SL_ARENA_CARVE(&s->pf, SL_FIELD(G, (size_t)N * GH), SL_FIELD(o1, (size_t)N * H), SL_FIELD(o2, (size_t)N * H))))
        return rc;
    sum_biases(r, s->bsum);
    const float *in = x;
    for (int l = 0; l < r->L; l++) {
        const int Iw = layer_in(r, l);
        const float *wih = sl_params_data(P, r->i_wih[l]), *whh = sl_params_data(P, r->i_whh[l]);
        const float *bhh = sl_params_data_opt(P, r->i_bhh[l]);
        float *h = s->h + (size_t)l * B * H, *out = l == r->L - 1 ? y : (l % 2 ? o2 : o1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, GH, Iw, 1.0f, in, Iw, wih, Iw, 0.0f, G, GH);
        for (int t = 0; t < T; t++) {
            float *g = G + (size_t)t * GH; /* row b at b*T + t: stride T*GH */
            sl_rcell_fwd a = {.B = B,
                              .H = H,
                              .g = g,
                              .ldg = T * GH,
                              .b = cell_bias(r, l, s->bsum),
                              .h_prev = h,
                              .ldhp = H,
                              .h = h,
                              .ldh = H,
                              .relu = r->cfg.relu,
                              .zeros = r->zeros};
            if (gru) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, GH, H, 1.0f, h, H, whh, H, 0.0f, s->gh, GH);
                a.gh = s->gh;
                a.bh = bhh;
                a.hn = s->hn;
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, GH, H, 1.0f, h, H, whh, H, 1.0f, g, T * GH);
            }
            if (lstm) {
                a.c_prev = s->c + (size_t)l * B * H;
                a.c = s->c + (size_t)l * B * H;
            }
            cell_forward(r, &a);
            for (int b = 0; b < B; b++) memcpy(out + ((size_t)b * T + t) * H, h + (size_t)b * H, (size_t)H * sizeof(float));
        }
        in = out;
    }
    return SL_OK;
}

static int r_prefill(sl_model *m, void *st, const float *x, const int32_t *tok, float *y, int B, int T)
{
    rmodel *r = (rmodel *)m;
    int rc;
    (void)tok;
    if (B != ((rstate *)st)->B)
        return sl_error(SL_ESHAPE, "%s: prefill of %d rows into a state for %d", m->vt->kind, B, ((rstate *)st)->B);
    if (par_ok(r, B, 1)) return prefill_body(m, st, x, y, B, T);
    SERIAL_REGION(prefill_body(m, st, x, y, B, T));
    return rc;
}

static int r_state_copy(sl_model *m, void *dst, const void *src)
{
    rmodel *r = (rmodel *)m;
    rstate *d = dst;
    const rstate *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "%s: copy of a state for %d rows into one for %d", m->vt->kind, s->B, d->B);
    size_t n = (size_t)r->L * s->B * r->H;
    memcpy(d->h, s->h, n * sizeof(float));
    if (s->c) memcpy(d->c, s->c, n * sizeof(float));
    return SL_OK;
}

/* ---- naive reference (double, plain loops) ---- */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

int sl_recurrent_forward_ref(sl_model *m, const float *x, float *y, int B, int T)
{
    if (!sl_recurrent_is(m)) return sl_error(SL_EINVAL, "forward_ref: not an rnn/lstm/gru model");
    rmodel *r = (rmodel *)m;
    const sl_params *P = m->P;
    const int H = r->H, G = r->G, ndir = r->ndir, ldo = ndir * H, I0 = r->cfg.input_size;
    if (r->h0 && r->h0_B != B) return sl_error(SL_ESHAPE, "%s: initial state batch %d != %d", m->vt->kind, r->h0_B, B);
    size_t wmax = (size_t)(I0 > ldo ? I0 : ldo);
    double *cur = malloc((size_t)T * wmax * sizeof(double)), *nxt = malloc((size_t)T * ldo * sizeof(double));
    double *h = malloc((size_t)H * sizeof(double)), *c = malloc((size_t)H * sizeof(double));
    double *gx = malloc((size_t)G * H * sizeof(double)), *gh = malloc((size_t)G * H * sizeof(double));
    if (!cur || !nxt || !h || !c || !gx || !gh) {
        free(cur);
        free(nxt);
        free(h);
        free(c);
        free(gx);
        free(gh);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < I0; i++) cur[(size_t)t * I0 + i] = x[((size_t)b * T + t) * I0 + i];
        for (int l = 0; l < r->L; l++) {
            const int Iw = layer_in(r, l);
            for (int d = 0; d < ndir; d++) {
                const int ld = l * ndir + d;
                const float *wih = sl_params_data(P, r->i_wih[ld]), *whh = sl_params_data(P, r->i_whh[ld]);
                const float *bih = sl_params_data_opt(P, r->i_bih[ld]);
                const float *bhh = sl_params_data_opt(P, r->i_bhh[ld]);
                for (int j = 0; j < H; j++) {
                    h[j] = r->h0 ? r->h0[((size_t)ld * B + b) * H + j] : 0.0;
                    c[j] = r->c0 ? r->c0[((size_t)ld * B + b) * H + j] : 0.0;
                }
                for (int s = 0; s < T; s++) {
                    int t = d ? T - 1 - s : s;
                    for (int k = 0; k < G * H; k++) {
                        double ax = bih ? bih[k] : 0.0, ah = bhh ? bhh[k] : 0.0;
                        for (int i = 0; i < Iw; i++) ax += (double)wih[(size_t)k * Iw + i] * cur[(size_t)t * Iw + i];
                        for (int i = 0; i < H; i++) ah += (double)whh[(size_t)k * H + i] * h[i];
                        gx[k] = ax;
                        gh[k] = ah;
                    }
                    for (int j = 0; j < H; j++) {
                        if (r->cfg.cell == SL_RCELL_ELMAN) {
                            double v = gx[j] + gh[j];
                            h[j] = r->cfg.relu ? (v > 0 ? v : 0) : tanh(v);
                        } else if (r->cfg.cell == SL_RCELL_LSTM) {
                            double ig = sigm(gx[j] + gh[j]), fg = sigm(gx[H + j] + gh[H + j]);
                            double gg = tanh(gx[2 * H + j] + gh[2 * H + j]), og = sigm(gx[3 * H + j] + gh[3 * H + j]);
                            c[j] = fg * c[j] + ig * gg;
                            h[j] = og * tanh(c[j]);
                        } else {
                            double rg = sigm(gx[j] + gh[j]), zg = sigm(gx[H + j] + gh[H + j]);
                            double ng = tanh(gx[2 * H + j] + rg * gh[2 * H + j]);
                            h[j] = (1 - zg) * ng + zg * h[j];
                        }
                        nxt[(size_t)t * ldo + d * H + j] = h[j];
                    }
                }
            }
            memcpy(cur, nxt, (size_t)T * ldo * sizeof(double));
        }
        for (int t = 0; t < T; t++)
            for (int j = 0; j < ldo; j++) y[((size_t)b * T + t) * ldo + j] = (float)cur[(size_t)t * ldo + j];
    }
    free(cur);
    free(nxt);
    free(h);
    free(c);
    free(gx);
    free(gh);
    return SL_OK;
}

/* seq/model.h's state_reset_rows: the chosen rows of every layer's h (and c) as r_state_reset
 * sets them (the initial state's rows, or zero) */
static int r_state_reset_rows(sl_model *m, void *st, const uint8_t *rows, int B)
{
    rmodel *r = (rmodel *)m;
    rstate *s = st;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    if (r->h0 && r->h0_B != s->B)
        return sl_error(SL_ESHAPE, "%s: the initial state was set for batch %d, the step state has batch %d", m->vt->kind,
                        r->h0_B, s->B);
    const size_t H = (size_t)r->H;
    for (int l = 0; l < r->L; l++)
        for (int b = 0; b < B; b++) {
            if (!rows[b]) continue;
            const size_t o = ((size_t)l * B + b) * H;
            if (r->h0) memcpy(s->h + o, r->h0 + o, H * sizeof(float));
            else memset(s->h + o, 0, H * sizeof(float));
            if (s->c) {
                if (r->c0) memcpy(s->c + o, r->c0 + o, H * sizeof(float));
                else memset(s->c + o, 0, H * sizeof(float));
            }
        }
    return SL_OK;
}

/* ---- construction ---- */

#define RVT(NAME, KIND) \
    static const sl_model_vt NAME = {.kind = KIND, \
                                     .destroy = r_destroy, \
                                     .release = r_release, \
                                     .init = r_init, \
                                     .forward = r_forward, \
                                     .backward = r_backward, \
                                     .state_new = r_state_new, \
                                     .state_free = r_state_free, \
                                     .state_reset = r_state_reset, \
                                     .state_reset_rows = r_state_reset_rows, \
                                     .step = r_step, \
                                     .prefill = r_prefill, \
                                     .state_copy = r_state_copy}
RVT(rnn_vt, "rnn");
RVT(lstm_vt, "lstm");
RVT(gru_vt, "gru");

int sl_recurrent_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    if (!cfg->ops || !cfg->ops->forward || !cfg->ops->backward)
        return sl_error(SL_EINVAL, "recurrent: the configuration names no cell (ops)");
    const char *kind = cfg->ops->name;
    if (cfg->input_size < 1 || cfg->hidden_size < 1 || cfg->num_layers < 1)
        return sl_error(SL_EINVAL, "%s: input_size, hidden_size and num_layers must be >= 1 (got %d, %d, %d)", kind,
                        cfg->input_size, cfg->hidden_size, cfg->num_layers);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1))
        return sl_error(SL_EINVAL, "%s: dropout must be in [0, 1), got %g", kind, cfg->dropout);
    if (cfg->relu && cfg->ops->kind != SL_RCELL_ELMAN) return sl_error(SL_EINVAL, "%s: nonlinearity is an rnn key", kind);
    rmodel *r = calloc(1, sizeof *r);
    if (!r) return sl_error(SL_ENOMEM, "out of memory");
    r->cfg = *cfg;
    r->cfg.cell = cfg->ops->kind;
    r->base.vt = r->cfg.cell == SL_RCELL_LSTM ? &lstm_vt : r->cfg.cell == SL_RCELL_GRU ? &gru_vt : &rnn_vt;
    r->G = cfg->ops->gates;
    r->ndir = cfg->bidirectional ? 2 : 1;
    r->L = cfg->num_layers;
    r->H = cfg->hidden_size;
    r->GH = r->G * r->H;
    r->base.P = P;
    r->base.d_in = cfg->input_size;
    r->base.d_out = r->ndir * r->H;
    r->base.caps = SL_CAP_GRAD | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | (cfg->bidirectional ? SL_CAP_BIDIR : SL_CAP_STEP) |
                   SL_CAP_INFER | SL_CAP_PACK;
    if (r->base.d_in == r->base.d_out) r->base.caps |= SL_CAP_MIXER;
    int LD = r->L * r->ndir;
    r->i_wih = malloc(LD * sizeof(int));
    r->i_whh = malloc(LD * sizeof(int));
    r->i_bih = malloc(LD * sizeof(int));
    r->i_bhh = malloc(LD * sizeof(int));
    r->out = calloc(r->L, sizeof(float *));
    r->xd = calloc(r->L, sizeof(float *));
    r->mask = calloc(r->L, sizeof(float *));
    r->gates = calloc(LD, sizeof(float *));
    r->cst = calloc(LD, sizeof(float *));
    r->hn = calloc(LD, sizeof(float *));
    r->fields = calloc(n_fields(r->L, r->ndir), sizeof(sl_field));
    r->zeros = calloc((size_t)r->GH, sizeof(float));
    r->pf = calloc(LD, sizeof(sl_rk_panel));
    r->pb = calloc(LD, sizeof(sl_rk_panel));
    r->pif = calloc(LD, sizeof(sl_rk_panel));
    r->pib = calloc(LD, sizeof(sl_rk_panel));
    r->pxf = calloc(LD, sizeof(sl_rk_panel));
    r->xh = calloc(LD, sizeof(float *));
    r->fast = sl_rk_available();
    r->lanes_on = 1;
    r->amx_on = 1;
    r->rl = calloc(LD, sizeof(sl_rl *));
    if (!r->rl || !r->zeros || !r->pf || !r->pb || !r->pif || !r->pib || !r->pxf || !r->xh || !r->i_wih || !r->i_whh ||
        !r->i_bih || !r->i_bhh || !r->out || !r->xd || !r->mask || !r->gates || !r->cst || !r->hn || !r->fields) {
        r_destroy(&r->base);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    const char *pre = prefix ? prefix : "";
    for (int l = 0; l < r->L; l++)
        for (int d = 0; d < r->ndir; d++) {
            int ld = l * r->ndir + d;
            const char *sfx = d ? "_reverse" : "";
            char nm[64];
            int rc;
            snprintf(nm, sizeof nm, "weight_ih_l%d%s", l, sfx);
            rc = r->i_wih[ld] = sl_params_add(P, pre, nm, 2, r->GH, layer_in(r, l), 0, 0);
            if (rc >= 0) {
                snprintf(nm, sizeof nm, "weight_hh_l%d%s", l, sfx);
                rc = r->i_whh[ld] = sl_params_add(P, pre, nm, 2, r->GH, r->H, 0, 0);
            }
            r->i_bih[ld] = r->i_bhh[ld] = -1;
            if (rc >= 0 && cfg->bias) {
                snprintf(nm, sizeof nm, "bias_ih_l%d%s", l, sfx);
                rc = r->i_bih[ld] = sl_params_add(P, pre, nm, 1, r->GH, 0, 0, 0);
                if (rc >= 0) {
                    snprintf(nm, sizeof nm, "bias_hh_l%d%s", l, sfx);
                    rc = r->i_bhh[ld] = sl_params_add(P, pre, nm, 1, r->GH, 0, 0, 0);
                }
            }
            if (rc < 0) {
                r_destroy(&r->base);
                return rc;
            }
        }
    *out = &r->base;
    return SL_OK;
}

int sl_recurrent_config_default(sl_recurrent_config *cfg, const sl_spec_key *table, const sl_rcell_ops *ops)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ops = ops;
    cfg->cell = ops->kind;
    return sl_spec_defaults(table, cfg);
}

int sl_recurrent_config_from_spec(const sl_spec *s, const sl_spec_key *table, const sl_rcell_ops *ops, sl_recurrent_config *cfg)
{
    int rc, bf;
    if ((rc = sl_recurrent_config_default(cfg, table, ops)) || (rc = sl_spec_read(s, table, cfg)) ||
        (rc = sl_spec_bool(s, table, "batch_first", &bf)))
        return rc;
    if (!bf) return sl_error(SL_EINVAL, "%s: batch_first=0 is not supported: seqlab arrays are batch-first (B, T, D)", s->name);
    if (cfg->dropout >= 1) return sl_error(SL_EINVAL, "%s: dropout must be < 1, got %g", s->name, cfg->dropout);
    return SL_OK;
}
