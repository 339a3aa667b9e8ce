/* seq/lm.c — the LM / sequence wrapper around mixers (see lm.h). */
#include "seq/lm.h"
#include "core/error.h"
#include "seq/layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model base;
    sl_lm_config cfg;
    int L, C;
    int *mix_out; /* (L) output width of each mixer */
    int i_wte, i_inw, i_inb, i_head, i_headb;
    int i_wpe;               /* learned positions (P, C), -1 if none */
    int *i_nw, *i_nb, *i_pw; /* (L) norm weight/bias, projection (-1 if none) */
    int i_nfw, i_nfb;
    /* activation cache for the last forward, sized for B*T rows; with checkpointing (K < L) the
     * slots of lm_h / lm_blk below */
    int B, T;
    int K, kb, nseg;    /* blocks per segment (L when off), block slots min(K, L), segments */
    const int32_t *tok; /* borrowed: caller keeps input alive until backward */
    const float *x;
    sl_arena fwd, bwd;   /* the cache below and backward's scratch, carved per call */
    float *h;            /* (K+nseg, N, C) residual stream: h_i in slot lm_h(i); (L+1, N, C) when off */
    float *nrm;          /* (kb, N, C) normed inputs to each mixer, block l in slot l % K */
    float *stats;        /* (kb+1, 2, N) mean/rstd of each norm, slot l % K (last = norm_f) */
    float *mo;           /* (kb, N, Dmax) mixer outputs (only if projected), slot l % K */
    float *f;            /* (N, C) final normed */
    float *g1, *g2, *g3; /* backward scratch (N, C) (N, C) (N, Dmax) */
    float *rec;          /* packed rows: (N, Dmax) a per-document mixer's recomputed output */
    /* packed rows, training with an rng: the rng state before each per-document mixer call,
     * (L, n_docs) states, and after the whole forward (the last), so backward's recomputation
     * draws the same dropout masks and leaves the stream where forward left it */
    unsigned char *snap;
    size_t snap_cap;
    int n_docs;
    /* checkpointing, training with an rng: the rng state at the start of every segment but the
     * last, and after the whole forward (slot nseg) */
    unsigned char *ck_snap;
    size_t ck_cap;
    int ck_rng;
} lm_model;

typedef struct {
    void **mix; /* (L) mixer states */
    int B;
    long pos;              /* steps taken since the reset (the position of the next input) */
    long *p0;              /* (B) pos at each row's last per-row reset: row b is at position pos - p0[b] */
    int apart;             /* some p0 is not 0 (rows restarted at different steps) */
    int32_t *dp;           /* (B) the rows' positions of one step, when apart */
    float *h, *n, *m, *st; /* (B, C) (B, C) (B, Dmax) (2B) */
    sl_arena pf;           /* prefill's scratch: (N, C) (N, C) (N, Dmax) (2N), N = B*T */
} lm_state;

/* h (rows, C) += wpe[t] for the rows' positions t = t0 + (row % T), or dp[row] (packed rows) */
static void pos_add(const lm_model *lm, const sl_params *P, float *h, int rows, int T, long t0, const int32_t *dp)
{
    const float *wpe = sl_params_data(P, lm->i_wpe);
    for (int n = 0; n < rows; n++) {
        const float *p = wpe + (size_t)(dp ? dp[n] : t0 + n % T) * lm->C;
        float *r = h + (size_t)n * lm->C;
        for (int c = 0; c < lm->C; c++) r[c] += p[c];
    }
}

/* ---- gradient checkpointing (seq/model.h, sl_model_set_checkpoint): the caches' slots ----
 * Segments of K blocks. The residual stream h_i (i = 0..L, h_l the input of block l) is kept at
 * every segment's input (i % K == 0) and at i = L, in slots 0 and K .. K+nseg-1; the inner h_i
 * of the segment being run live in slots 1 .. K-1. A block's caches have K slots, block l in
 * slot l % K. With K = L (checkpointing off) this is the plain layout: h_i in slot i. */
static size_t lm_h(const lm_model *lm, int i)
{
    const int K = lm->K;
    if (i % K) return i == lm->L ? (size_t)K - 1 + lm->nseg : (size_t)(i % K);
    return i ? (size_t)K - 1 + i / K : 0;
}

static size_t lm_blk(const lm_model *lm, int l) { return (size_t)(l % lm->K); }

/* checkpointing is on for the cached batch: more than one segment */
static int lm_ck(const lm_model *lm) { return lm->nseg > 1; }

static int dmax(const lm_model *lm)
{
    int d = lm->C;
    for (int l = 0; l < lm->L; l++)
        if (lm->mix_out[l] > d) d = lm->mix_out[l];
    return d;
}

/* out (n, C) = norm(in); mean, rstd (n) (rmsnorm: rstd only) */
static void norm_fwd(const lm_model *lm, const sl_params *P, int iw, int ib, float *out, float *mean, float *rstd,
                     const float *in, int n)
{
    const float *w = sl_params_data(P, iw);
    if (lm->cfg.rmsnorm) sl_rmsnorm_forward(out, rstd, in, w, n, lm->C, lm->cfg.norm_eps);
    else sl_layernorm_forward(out, mean, rstd, in, w, sl_params_data(P, ib), n, lm->C, lm->cfg.norm_eps);
}

/* din (n, C) += the norm's input gradient; its weight gradients accumulate into the block g */
static void norm_bwd(const lm_model *lm, float *g, int iw, int ib, float *din, const float *dout, const float *in,
                     const float *mean, const float *rstd, int n)
{
    const sl_params *P = lm->base.P;
    const float *w = sl_params_data(P, iw);
    if (lm->cfg.rmsnorm) sl_rmsnorm_backward(din, sl_params_at_opt(P, g, iw), dout, in, w, rstd, n, lm->C);
    else sl_layernorm_backward(din, sl_params_at_opt(P, g, iw), sl_params_at_opt(P, g, ib), dout, in, w, mean, rstd, n, lm->C);
}

static const float *head_w(const lm_model *lm, const sl_params *P) { return sl_params_data(P, lm->i_head); }

/* The forward cache for (B, T), shared by the whole-batch and the sliced paths. */
static int lm_reserve(lm_model *lm, const float *x, const int32_t *tok, int B, int T)
{
    const int N = B * T, C = lm->C, L = lm->L, D = dmax(lm);
    int rc;
    lm->K = lm->base.ckpt > 0 && lm->base.ckpt < L ? lm->base.ckpt : L > 0 ? L : 1;
    lm->kb = L < lm->K ? L : lm->K;
    lm->nseg = (L + lm->K - 1) / lm->K;
    const size_t nh = (size_t)lm->K + lm->nseg, kb = (size_t)lm->kb;
    if ((rc =
             SL_ARENA_CARVE(&lm->fwd, SL_FIELD(lm->h, nh * N * C), SL_FIELD(lm->nrm, kb * N * C),
                            SL_FIELD(lm->stats, (kb + 1) * 2 * N), SL_FIELD(lm->mo, kb * N * D), SL_FIELD(lm->f, (size_t)N * C))))
        return rc;
    lm->ck_rng = 0;
    if (lm_ck(lm) && lm->base.training && lm->base.rng) { /* rng snapshots for the recomputation */
        const size_t need = ((size_t)lm->nseg + 1) * sl_rng_state_size(lm->base.rng);
        if (need > lm->ck_cap) {
            unsigned char *p = realloc(lm->ck_snap, need);
            if (!p) return sl_error(SL_ENOMEM, "out of memory");
            lm->ck_snap = p;
            lm->ck_cap = need;
        }
        lm->ck_rng = 1;
    }
    const int32_t *dp = lm->base.doc_pos;
    if (dp && (rc = sl_docs_check(dp, B, T))) return rc;
    if (lm->i_wpe >= 0 && !dp && T > lm->cfg.max_position_embeddings)
        return sl_error(SL_EINVAL, "lm: sequence length %d is longer than max_position_embeddings=%d", T,
                        lm->cfg.max_position_embeddings);
    for (size_t i = 0; lm->i_wpe >= 0 && dp && i < (size_t)B * T; i++)
        if (dp[i] >= lm->cfg.max_position_embeddings)
            return sl_error(SL_EINVAL, "lm: a packed document is longer than max_position_embeddings=%d",
                            lm->cfg.max_position_embeddings);
    lm->B = B;
    lm->T = T;
    lm->tok = tok;
    lm->x = x;
    return SL_OK;
}

/* ---- packed rows (seq/model.h, sl_model_set_docs) for a mixer without SL_CAP_PACK: each
 * document runs alone (B = 1, T = its length) on its rows, which are contiguous in the (N, C)
 * layout. A mixer keeps the cache of its last call only, so backward runs the documents in
 * reverse and recomputes each one's forward first (the last document's cache is still there):
 * one extra mixer forward per step, the price of the mixers whose states do not reset at a
 * boundary themselves. Dropout replays: the rng is restored to its state before the call. ---- */

/* snapshot k of layer l (l = L, k = 0: the state after the whole forward) */
static unsigned char *lm_snap(lm_model *lm, int l, int k)
{
    return lm->snap + ((size_t)l * lm->n_docs + k) * sl_rng_state_size(lm->base.rng);
}

/* counts the batch's documents and, training with an rng, sizes the snapshots */
static int lm_docs_reserve(lm_model *lm)
{
    sl_model *m = &lm->base;
    int nd = 0;
    for (size_t i = 0; i < (size_t)lm->B * lm->T; i++) nd += m->doc_pos[i] == 0;
    lm->n_docs = 0;
    if (!(m->training && m->rng)) return SL_OK;
    const size_t need = ((size_t)lm->L * nd + 1) * sl_rng_state_size(m->rng);
    if (need > lm->snap_cap) {
        unsigned char *p = realloc(lm->snap, need);
        if (!p) return sl_error(SL_ENOMEM, "out of memory");
        lm->snap = p;
        lm->snap_cap = need;
    }
    lm->n_docs = nd;
    return SL_OK;
}

/* out (N, Dm) = mixer l of in (N, C), document by document */
static int lm_docs_forward(lm_model *lm, int l, const float *in, float *out)
{
    sl_model *mix = lm->base.children[l];
    const int T = lm->T, C = lm->C, Dm = lm->mix_out[l];
    int rc, k = 0;
    for (int b = 0; b < lm->B; b++)
        for (int t = 0, e; t < T; t = e, k++) {
            const size_t r = (size_t)b * T + t;
            e = sl_docs_end(lm->base.doc_pos + (size_t)b * T, t, T);
            if (lm->n_docs) sl_rng_state_save(lm->base.rng, lm_snap(lm, l, k));
            if ((rc = sl_model_forward(mix, in + r * C, NULL, out + r * Dm, 1, e - t))) return rc;
        }
    return SL_OK;
}

/* dx (N, C) += mixer l's input gradient for dout (N, Dm), documents in reverse order */
static int lm_docs_backward(lm_model *lm, int l, const float *dout, float *dx)
{
    sl_model *mix = lm->base.children[l];
    const int T = lm->T, C = lm->C, Dm = lm->mix_out[l];
    const float *in = lm->nrm + lm_blk(lm, l) * lm->B * T * C;
    int rc, k = 0, last = 1;
    for (int b = 0; b < lm->B; b++)
        for (int t = 0; t < T; t++) k += lm->base.doc_pos[(size_t)b * T + t] == 0;
    for (int b = lm->B - 1; b >= 0; b--) {
        const int32_t *dp = lm->base.doc_pos + (size_t)b * T;
        for (int e = T, t; e > 0; e = t, last = 0) {
            t = e - 1 - dp[e - 1]; /* this document's start */
            const size_t r = (size_t)b * T + t;
            k--;
            if (!last) {
                if (lm->n_docs) sl_rng_state_load(lm->base.rng, lm_snap(lm, l, k), sl_rng_state_size(lm->base.rng));
                if ((rc = sl_model_forward(mix, in + r * C, NULL, lm->rec + r * Dm, 1, e - t))) return rc;
            }
            if ((rc = sl_model_backward(mix, dout + r * Dm, dx + r * C))) return rc;
        }
    }
    if (lm->n_docs) sl_rng_state_load(lm->base.rng, lm_snap(lm, lm->L, 0), sl_rng_state_size(lm->base.rng));
    return SL_OK;
}

/* Block l on sequences [b0, b1) of the cached batch: h_{l+1} = h_l + mixer(norm(h_l)) (projected
 * to C when the mixer's width differs), rows r0 = b0*T .. r0+n of every cache. sliced = 0 runs
 * the whole batch (b0 = 0, b1 = B) with the mixer's own forward; sliced = 1 runs its
 * slice_forward on the same rows (seq/model.h). */
static int lm_block_forward(lm_model *lm, int l, int b0, int b1, int sliced)
{
    sl_model *m = &lm->base;
    const sl_params *P = m->P;
    const int B = lm->B, T = lm->T, N = B * T, C = lm->C, D = dmax(lm), n = (b1 - b0) * T;
    const size_t r0 = (size_t)b0 * T, NC = (size_t)N * C, nc = (size_t)n * C;
    float *hl = lm->h + lm_h(lm, l) * NC + r0 * C, *hn = lm->h + lm_h(lm, l + 1) * NC + r0 * C; // (n, C)
    float *nl = lm->nrm + lm_blk(lm, l) * NC, *st = lm->stats + lm_blk(lm, l) * 2 * N + r0;     // (N, C), (2, N)
    int rc;
    norm_fwd(lm, P, lm->i_nw[l], lm->i_nb[l], nl + r0 * C, st, st + N, hl, n);
    sl_model *mix = m->children[l];
    const int Dm = lm->mix_out[l];
    float *out = lm->i_pw[l] >= 0 ? lm->mo + lm_blk(lm, l) * N * D : lm->h + lm_h(lm, l + 1) * NC; // the whole (N, Dm) output
    if (sliced) rc = mix->vt->slice_forward(mix, out, b0, b1);
    else if (m->doc_pos && !(mix->caps & SL_CAP_PACK)) rc = lm_docs_forward(lm, l, nl, out);
    else rc = sl_model_forward(mix, nl, NULL, out, B, T);
    if (rc) return rc;
    if (lm->i_pw[l] >= 0) sl_linear_forward(hn, out + r0 * Dm, sl_params_data(P, lm->i_pw[l]), NULL, n, Dm, C);
    for (size_t i = 0; i < nc; i++) hn[i] += hl[i];
    return SL_OK;
}

/* Sequences [b0, b1) of the cached batch (see lm_block_forward); y (B, T, d_out) the whole
 * output. With checkpointing (whole batch only) the mixers of every segment but the last are
 * released after their block, the rng state kept at each such segment's start. */
static int lm_forward_rows(lm_model *lm, float *y, int b0, int b1, int sliced)
{
    sl_model *m = &lm->base;
    const sl_params *P = m->P;
    const int T = lm->T, N = lm->B * T, C = lm->C, L = lm->L, K = lm->K, n = (b1 - b0) * T;
    const size_t r0 = (size_t)b0 * T, NC = (size_t)N * C;
    float *h = lm->h + r0 * C; // h_0's rows
    int rc;
    if (lm->tok) sl_embedding_forward(h, lm->tok + r0, sl_params_data(P, lm->i_wte), n, C);
    else
        sl_linear_forward(h, lm->x + r0 * lm->cfg.d_input, sl_params_data(P, lm->i_inw), sl_params_data(P, lm->i_inb), n,
                          lm->cfg.d_input, C);
    if (lm->i_wpe >= 0) pos_add(lm, P, h, n, T, 0, m->doc_pos); /* r0 is a multiple of T; no slices when packed */
    for (int l = 0; l < L; l++) {
        const int kept = l / K == lm->nseg - 1; /* the last segment's caches stay for backward */
        if (lm->ck_rng && !kept && l % K == 0)
            sl_rng_state_save(m->rng, lm->ck_snap + (size_t)(l / K) * sl_rng_state_size(m->rng));
        if ((rc = lm_block_forward(lm, l, b0, b1, sliced))) return rc;
        if (!kept) sl_model_release(m->children[l]);
    }
    float *st = lm->stats + (size_t)lm->kb * 2 * N + r0;
    norm_fwd(lm, P, lm->i_nfw, lm->i_nfb, lm->f + r0 * C, st, st + N, lm->h + lm_h(lm, L) * NC + r0 * C, n);
    sl_linear_forward(y + r0 * m->d_out, lm->f + r0 * C, head_w(lm, P), sl_params_data_opt(P, lm->i_headb), n, C, m->d_out);
    return SL_OK;
}

static int lm_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    lm_model *lm = (lm_model *)m;
    int rc = lm_reserve(lm, x, tok, B, T);
    lm->n_docs = 0; /* no snapshots unless this batch is packed and trains with an rng */
    if (!rc && m->doc_pos && (rc = lm_docs_reserve(lm))) return rc;
    if (!rc) rc = lm_forward_rows(lm, y, 0, B, 0);
    if (!rc && lm->n_docs) sl_rng_state_save(m->rng, lm_snap(lm, lm->L, 0)); /* the stream after forward */
    if (!rc && lm->ck_rng) sl_rng_state_save(m->rng, lm->ck_snap + (size_t)lm->nseg * sl_rng_state_size(m->rng));
    return rc;
}

static int lm_reserve_backward(lm_model *lm)
{
    const size_t N = (size_t)lm->B * lm->T;
    return SL_ARENA_CARVE(&lm->bwd, SL_FIELD(lm->g1, N * lm->C), SL_FIELD(lm->g2, N * lm->C), SL_FIELD(lm->g3, N * dmax(lm)),
                          SL_FIELD(lm->rec, lm->base.doc_pos ? N * dmax(lm) : 0));
}

/* Backward over sequences [b0, b1) (see lm_forward_rows): parameter gradients accumulate into
 * the block g (P->grad or a slice's private block), dx's rows (real input; may be NULL) are
 * written (dx_acc 0) or accumulated (1). */
static int lm_backward_rows(lm_model *lm, const float *dy, float *dx, int dx_acc, float *g, int b0, int b1, int sliced)
{
    sl_model *m = &lm->base;
    const sl_params *P = m->P;
    const int B = lm->B, T = lm->T, N = B * T, C = lm->C, L = lm->L, D = dmax(lm), K = lm->K, n = (b1 - b0) * T;
    const size_t r0 = (size_t)b0 * T, NC = (size_t)N * C, nc = (size_t)n * C;
    float *dh = lm->g1 + r0 * C, *dn = lm->g2 + r0 * C; // (n, C) rows
    int rc;
    /* head: df = dy . W */
    memset(dn, 0, nc * sizeof(float));
    sl_linear_backward(dn, sl_params_at_opt(P, g, lm->i_head), sl_params_at_opt(P, g, lm->i_headb), dy + r0 * m->d_out,
                       lm->f + r0 * C, head_w(lm, P), n, C, m->d_out);
    memset(dh, 0, nc * sizeof(float));
    const float *st = lm->stats + (size_t)lm->kb * 2 * N + r0;
    norm_bwd(lm, g, lm->i_nfw, lm->i_nfb, dh, dn, lm->h + lm_h(lm, L) * NC + r0 * C, st, st + N, n);
    for (int l = L - 1; l >= 0; l--) {
        /* checkpointing: the last block of a segment whose caches forward released; run the
         * segment's forward again from its kept input, with the rng as it was then */
        if (l / K < lm->nseg - 1 && l % K == K - 1) {
            const int j = l / K;
            if (lm->ck_rng)
                sl_rng_state_load(m->rng, lm->ck_snap + (size_t)j * sl_rng_state_size(m->rng), sl_rng_state_size(m->rng));
            for (int li = j * K; li <= l; li++)
                if ((rc = lm_block_forward(lm, li, b0, b1, sliced))) return rc;
        }
        /* dh holds dL/dh_{l+1}; the residual passes it on unchanged, the block adds its part */
        sl_model *mix = m->children[l];
        const int Dm = lm->mix_out[l];
        float *dout = lm->g1; // the mixer's output gradient, whole (N, Dm)
        memset(dn, 0, nc * sizeof(float));
        if (lm->i_pw[l] >= 0) {
            dout = lm->g3;
            memset(dout + r0 * Dm, 0, (size_t)n * Dm * sizeof(float));
            sl_linear_backward(dout + r0 * Dm, sl_params_at_opt(P, g, lm->i_pw[l]), NULL, dh,
                               lm->mo + lm_blk(lm, l) * N * D + r0 * Dm, sl_params_data(P, lm->i_pw[l]), n, Dm, C);
        }
        if (sliced) rc = mix->vt->slice_backward(mix, dout, lm->g2, 1, g, b0, b1);
        else if (m->doc_pos && !(mix->caps & SL_CAP_PACK)) rc = lm_docs_backward(lm, l, dout, lm->g2);
        else rc = sl_model_backward(mix, dout, lm->g2);
        if (rc) return rc;
        if (lm_ck(lm)) sl_model_release(mix); /* recomputed, or (last segment) refilled by the next forward */
        st = lm->stats + lm_blk(lm, l) * 2 * N + r0;
        norm_bwd(lm, g, lm->i_nw[l], lm->i_nb[l], dh, dn, lm->h + lm_h(lm, l) * NC + r0 * C, st, st + N, n);
    }
    if (lm->ck_rng) /* the stream where forward left it */
        sl_rng_state_load(m->rng, lm->ck_snap + (size_t)lm->nseg * sl_rng_state_size(m->rng), sl_rng_state_size(m->rng));
    if (lm->i_wpe >= 0) { /* d wpe[t] = sum over the rows of dh at position t */
        float *gp = sl_params_at_opt(P, g, lm->i_wpe);
        for (int i = 0; i < n; i++) {
            float *gw = gp + (size_t)(m->doc_pos ? m->doc_pos[i] : i % T) * C;
            const float *d = dh + (size_t)i * C;
            for (int c = 0; c < C; c++) gw[c] += d[c];
        }
    }
    if (lm->tok) {
        sl_embedding_backward(sl_params_at_opt(P, g, lm->i_wte), dh, lm->tok + r0, n, C);
    } else {
        const int Di = lm->cfg.d_input;
        float *dxr = dx ? dx + r0 * Di : NULL;
        if (dxr && !dx_acc) memset(dxr, 0, (size_t)n * Di * sizeof(float));
        sl_linear_backward(dxr, sl_params_at_opt(P, g, lm->i_inw), sl_params_at_opt(P, g, lm->i_inb), dh, lm->x + r0 * Di,
                           sl_params_data(P, lm->i_inw), n, Di, C);
    }
    return SL_OK;
}

static int lm_backward(sl_model *m, const float *dy, float *dx)
{
    lm_model *lm = (lm_model *)m;
    int rc = lm_reserve_backward(lm);
    return rc ? rc : lm_backward_rows(lm, dy, dx, 1, m->P->grad, 0, lm->B, 0);
}

/* ---- batch slices (seq/model.h): the wrapper has them when every mixer has them; each slice
 * runs its rows of the embedding, norms, residuals and head, and its mixers' slices ---- */

static int lm_slice_ok(const sl_model *m)
{
    if (m->doc_pos || (m->ckpt > 0 && m->ckpt < m->n_children)) return 0; /* packed rows, checkpointing: the whole-batch path */
    for (int l = 0; l < m->n_children; l++)
        if (!sl_model_slice_ok(m->children[l])) return 0;
    return 1;
}

static int lm_slice_begin(sl_model *m, const float *x, const int32_t *tok, int B, int T)
{
    lm_model *lm = (lm_model *)m;
    int rc = lm_reserve(lm, x, tok, B, T);
    for (int l = 0; l < lm->L && !rc; l++) {
        sl_model *mix = m->children[l];
        rc = mix->vt->slice_begin(mix, lm->nrm + lm_blk(lm, l) * B * T * lm->C, NULL, B, T);
    }
    return rc;
}

static int lm_slice_forward(sl_model *m, float *y, int b0, int b1) { return lm_forward_rows((lm_model *)m, y, b0, b1, 1); }

static int lm_slice_backward_begin(sl_model *m)
{
    lm_model *lm = (lm_model *)m;
    int rc = lm_reserve_backward(lm);
    for (int l = 0; l < lm->L && !rc; l++) rc = m->children[l]->vt->slice_backward_begin(m->children[l]);
    return rc;
}

static int lm_slice_backward(sl_model *m, const float *dy, float *dx, int dx_acc, float *grad, int b0, int b1)
{
    return lm_backward_rows((lm_model *)m, dy, dx, dx_acc, grad, b0, b1, 1);
}

static void lm_state_free(sl_model *m, void *state)
{
    lm_state *s = state;
    if (!s) return;
    if (s->mix)
        for (int l = 0; l < m->n_children; l++) sl_model_state_free(m->children[l], s->mix[l]);
    free(s->mix);
    free(s->h);
    free(s->n);
    free(s->m);
    free(s->st);
    free(s->p0);
    free(s->dp);
    sl_arena_free(&s->pf);
    free(s);
}

static void *lm_state_new(sl_model *m, int B)
{
    lm_model *lm = (lm_model *)m;
    lm_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->B = B;
    s->mix = calloc((size_t)lm->L, sizeof(void *));
    s->h = malloc((size_t)B * lm->C * sizeof(float));
    s->n = malloc((size_t)B * lm->C * sizeof(float));
    s->m = malloc((size_t)B * dmax(lm) * sizeof(float));
    s->st = malloc((size_t)2 * B * sizeof(float));
    s->p0 = calloc((size_t)B, sizeof(long));
    s->dp = malloc((size_t)B * sizeof(int32_t));
    if (!s->mix || !s->h || !s->n || !s->m || !s->st || !s->p0 || !s->dp) {
        lm_state_free(m, s);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    for (int l = 0; l < lm->L; l++) {
        s->mix[l] = sl_model_state_new(m->children[l], B);
        if (!s->mix[l]) {
            lm_state_free(m, s);
            return NULL;
        }
    }
    return s;
}

static int lm_state_reset(sl_model *m, void *state)
{
    lm_state *s = state;
    s->pos = 0;
    s->apart = 0;
    memset(s->p0, 0, (size_t)s->B * sizeof(long));
    for (int l = 0; l < m->n_children; l++) {
        int rc = sl_model_state_reset(m->children[l], s->mix[l]);
        if (rc) return rc;
    }
    return SL_OK;
}

/* seq/model.h's state_reset_rows: every mixer's chosen rows, and their positions back to 0 */
static int lm_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    lm_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "lm: per-row reset of %d rows in a state for %d", B, s->B);
    for (int l = 0; l < m->n_children; l++) {
        int rc = sl_model_state_reset_rows(m->children[l], s->mix[l], rows, B);
        if (rc) return rc;
    }
    for (int b = 0; b < B; b++)
        if (rows[b]) s->p0[b] = s->pos;
    s->apart = 0;
    for (int b = 0; b < B; b++) s->apart |= s->p0[b] != 0;
    return SL_OK;
}

/* T more positions must fit the position table in every row (a row's position: pos - p0[b]) */
static int lm_pos_check(const lm_model *lm, const lm_state *s, int T)
{
    if (lm->i_wpe < 0) return SL_OK;
    long last = s->pos;
    if (s->apart) {
        last = 0;
        for (int b = 0; b < s->B; b++) last = s->pos - s->p0[b] > last ? s->pos - s->p0[b] : last;
    }
    if (last + T > lm->cfg.max_position_embeddings)
        return sl_error(SL_EINVAL, "lm: step %ld is past max_position_embeddings=%d", last + T, lm->cfg.max_position_embeddings);
    return SL_OK;
}

static int lm_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *y)
{
    lm_model *lm = (lm_model *)m;
    lm_state *s = state;
    const sl_params *P = m->P;
    const int B = s->B, C = lm->C;
    int rc;
    if ((rc = lm_pos_check(lm, s, 1))) return rc;
    if (tok) {
        for (int b = 0; b < B; b++)
            if (tok[b] < 0 || tok[b] >= m->d_in)
                return sl_error(SL_EINVAL, "token %d outside the vocabulary [0, %d)", tok[b], m->d_in);
        sl_embedding_forward(s->h, tok, sl_params_data(P, lm->i_wte), B, C);
    } else {
        sl_linear_forward(s->h, x, sl_params_data(P, lm->i_inw), sl_params_data(P, lm->i_inb), B, lm->cfg.d_input, C);
    }
    if (lm->i_wpe >= 0 && s->apart) {
        for (int b = 0; b < B; b++) s->dp[b] = (int32_t)(s->pos - s->p0[b]);
        pos_add(lm, P, s->h, B, 1, 0, s->dp);
    } else if (lm->i_wpe >= 0) {
        pos_add(lm, P, s->h, B, 1, s->pos, NULL);
    }
    s->pos++;
    for (int l = 0; l < lm->L; l++) {
        norm_fwd(lm, P, lm->i_nw[l], lm->i_nb[l], s->n, s->st, s->st + B, s->h, B);
        /* the mixer writes into m (never in place), then m, or its projection, joins the residual */
        if ((rc = sl_model_step(m->children[l], s->mix[l], s->n, NULL, s->m))) return rc;
        const float *out = s->m;
        if (lm->i_pw[l] >= 0) {
            sl_linear_forward(s->n, s->m, sl_params_data(P, lm->i_pw[l]), NULL, B, lm->mix_out[l], C);
            out = s->n;
        }
        for (size_t i = 0; i < (size_t)B * C; i++) s->h[i] += out[i];
    }
    norm_fwd(lm, P, lm->i_nfw, lm->i_nfb, s->n, s->st, s->st + B, s->h, B);
    sl_linear_forward(y, s->n, head_w(lm, P), sl_params_data_opt(P, lm->i_headb), B, C, m->d_out);
    return SL_OK;
}

/* T positions in sequence mode from the state (issue #17 item 3): the embedding, norms,
 * projections and head run over all B*T rows at once, each mixer continues from its own state
 * with sl_model_prefill (its sequence-mode prefill, or its steps). */
static int lm_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T)
{
    lm_model *lm = (lm_model *)m;
    lm_state *s = state;
    const sl_params *P = m->P;
    const int C = lm->C, D = dmax(lm), N = B * T;
    float *h, *n, *mo, *st; // (N, C) (N, C) (N, D) (2N)
    int rc;
    if (B != s->B) return sl_error(SL_ESHAPE, "lm: prefill of %d rows into a state for %d", B, s->B);
    if ((rc = lm_pos_check(lm, s, T))) return rc;
    if ((rc = SL_ARENA_CARVE(&s->pf, SL_FIELD(h, (size_t)N * C), SL_FIELD(n, (size_t)N * C), SL_FIELD(mo, (size_t)N * D),
                             SL_FIELD(st, (size_t)2 * N))))
        return rc;
    if (tok) sl_embedding_forward(h, tok, sl_params_data(P, lm->i_wte), N, C);
    else sl_linear_forward(h, x, sl_params_data(P, lm->i_inw), sl_params_data(P, lm->i_inb), N, lm->cfg.d_input, C);
    if (lm->i_wpe >= 0 && s->apart) { /* rows restarted apart: per-row positions */
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int32_t q = (int32_t)(s->pos - s->p0[b] + t);
                pos_add(lm, P, h + ((size_t)b * T + t) * C, 1, 1, 0, &q);
            }
    } else if (lm->i_wpe >= 0) {
        pos_add(lm, P, h, N, T, s->pos, NULL);
    }
    for (int l = 0; l < lm->L; l++) {
        norm_fwd(lm, P, lm->i_nw[l], lm->i_nb[l], n, st, st + N, h, N);
        if ((rc = sl_model_prefill(m->children[l], s->mix[l], n, NULL, mo, B, T))) return rc;
        const float *out = mo;
        if (lm->i_pw[l] >= 0) {
            sl_linear_forward(n, mo, sl_params_data(P, lm->i_pw[l]), NULL, N, lm->mix_out[l], C);
            out = n;
        }
        for (size_t i = 0; i < (size_t)N * C; i++) h[i] += out[i];
    }
    s->pos += T;
    norm_fwd(lm, P, lm->i_nfw, lm->i_nfb, n, st, st + N, h, N);
    sl_linear_forward(y, n, head_w(lm, P), sl_params_data_opt(P, lm->i_headb), N, C, m->d_out);
    return SL_OK;
}

static int lm_state_copy(sl_model *m, void *dst, const void *src)
{
    lm_state *d = dst;
    const lm_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "lm: copy of a state for %d rows into one for %d", s->B, d->B);
    for (int l = 0; l < m->n_children; l++) {
        int rc = sl_model_state_copy(m->children[l], d->mix[l], s->mix[l]);
        if (rc) return rc;
    }
    d->pos = s->pos;
    d->apart = s->apart;
    memcpy(d->p0, s->p0, (size_t)s->B * sizeof(long));
    return SL_OK;
}

static int lm_init(sl_model *m, sl_rng *rng)
{
    lm_model *lm = (lm_model *)m;
    sl_params *P = m->P;
    const int C = lm->C;
    if (lm->i_wte >= 0) sl_rng_fill_normal(rng, sl_params_data(P, lm->i_wte), (size_t)m->d_in * C, 0.02f);
    if (lm->i_wpe >= 0) sl_rng_fill_normal(rng, sl_params_data(P, lm->i_wpe), (size_t)lm->cfg.max_position_embeddings * C, 0.02f);
    if (lm->i_inw >= 0) {
        float a = 1.0f / sqrtf((float)lm->cfg.d_input);
        sl_rng_fill_uniform(rng, sl_params_data(P, lm->i_inw), (size_t)C * lm->cfg.d_input, -a, a);
        sl_rng_fill_uniform(rng, sl_params_data(P, lm->i_inb), (size_t)C, -a, a);
    }
    for (int l = 0; l < lm->L; l++) {
        float *w = sl_params_data(P, lm->i_nw[l]);
        for (int c = 0; c < C; c++) w[c] = 1.0f;
        if (lm->i_pw[l] >= 0) {
            float a = 1.0f / sqrtf((float)lm->mix_out[l]);
            sl_rng_fill_uniform(rng, sl_params_data(P, lm->i_pw[l]), (size_t)C * lm->mix_out[l], -a, a);
        }
    }
    float *w = sl_params_data(P, lm->i_nfw);
    for (int c = 0; c < C; c++) w[c] = 1.0f;
    if (lm->i_head != lm->i_wte) {
        if (lm->i_headb >= 0) {
            float a = 1.0f / sqrtf((float)C);
            sl_rng_fill_uniform(rng, sl_params_data(P, lm->i_head), (size_t)m->d_out * C, -a, a);
            sl_rng_fill_uniform(rng, sl_params_data(P, lm->i_headb), (size_t)m->d_out, -a, a);
        } else {
            sl_rng_fill_normal(rng, sl_params_data(P, lm->i_head), (size_t)m->d_out * C, 0.02f);
        }
    }
    return SL_OK;
}

static void lm_destroy(sl_model *m)
{
    lm_model *lm = (lm_model *)m;
    sl_arena_free(&lm->fwd);
    sl_arena_free(&lm->bwd);
    free(lm->snap);
    free(lm->ck_snap);
    free(lm->mix_out);
    free(lm->i_nw);
    free(lm->i_nb);
    free(lm->i_pw);
    free(lm);
}

static const sl_model_vt lm_vt = {
    .kind = "lm",
    .destroy = lm_destroy,
    .init = lm_init,
    .forward = lm_forward,
    .backward = lm_backward,
    .state_new = lm_state_new,
    .state_free = lm_state_free,
    .state_reset = lm_state_reset,
    .state_reset_rows = lm_state_reset_rows,
    .step = lm_step,
    .slice_ok = lm_slice_ok,
    .slice_begin = lm_slice_begin,
    .slice_forward = lm_slice_forward,
    .slice_backward_begin = lm_slice_backward_begin,
    .slice_backward = lm_slice_backward,
    .prefill = lm_prefill,
    .state_copy = lm_state_copy,
};

int sl_lm_create(const sl_lm_config *cfg, sl_model *const *mixers, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const int L = cfg->n_layer, C = cfg->d_model;
    if (L < 0 || C <= 0 || cfg->max_position_embeddings < 0)
        return sl_error(SL_EINVAL, "lm: bad n_layer=%d d_model=%d max_position_embeddings=%d", L, C,
                        cfg->max_position_embeddings);
    lm_model *lm = calloc(1, sizeof *lm);
    if (!lm) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &lm->base;
    m->vt = &lm_vt;
    m->P = P;
    lm->cfg = *cfg;
    lm->L = L;
    lm->C = C;
    lm->mix_out = calloc((size_t)L + 1, sizeof(int));
    lm->i_nw = calloc((size_t)L + 1, sizeof(int));
    lm->i_nb = calloc((size_t)L + 1, sizeof(int));
    lm->i_pw = calloc((size_t)L + 1, sizeof(int));
    int rc = (!lm->mix_out || !lm->i_nw || !lm->i_nb || !lm->i_pw) ? sl_error(SL_ENOMEM, "out of memory") : SL_OK;
    int caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_PACK | SL_CAP_CKPT;
    for (int l = 0; l < L && !rc; l++) {
        rc = sl_model_add_child(m, mixers[l]);
        if (rc) break;
        if (mixers[l]->d_in != C) rc = sl_error(SL_ESHAPE, "lm: mixer %d takes width %d, d_model is %d", l, mixers[l]->d_in, C);
        if (!(mixers[l]->caps & SL_CAP_STEP)) caps &= ~SL_CAP_STEP;
        if (mixers[l]->caps & SL_CAP_BIDIR) caps |= SL_CAP_BIDIR;
        lm->mix_out[l] = mixers[l]->d_out;
    }
    if (rc) {
        for (int l = m->n_children; l < L; l++) sl_model_free(mixers[l]);
        sl_model_free(m);
        return rc;
    }
    char pre[SL_NAME_MAX], name[64];
    snprintf(pre, sizeof pre, "%sbackbone.", prefix ? prefix : "");
    lm->i_wte = lm->i_inw = lm->i_inb = lm->i_headb = lm->i_wpe = -1;
    if (cfg->vocab_size > 0) {
        m->d_in = m->d_out = cfg->vocab_size;
        caps |= SL_CAP_TOKEN_IN | SL_CAP_TOKEN_OUT | SL_CAP_EMBED;
        lm->i_wte = sl_params_add(P, pre, "embedding.weight", 2, cfg->vocab_size, C, 0, 0);
    } else {
        m->d_in = cfg->d_input;
        m->d_out = cfg->d_output;
        caps |= SL_CAP_REAL_IN | SL_CAP_REAL_OUT;
        lm->i_inw = sl_params_add(P, pre, "in_proj.weight", 2, C, cfg->d_input, 0, 0);
        lm->i_inb = sl_params_add(P, pre, "in_proj.bias", 1, C, 0, 0, 0);
    }
    if (cfg->max_position_embeddings > 0)
        lm->i_wpe = sl_params_add(P, pre, "position_embeddings.weight", 2, cfg->max_position_embeddings, C, 0, 0);
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "layers.%d.norm.weight", l);
        lm->i_nw[l] = sl_params_add(P, pre, name, 1, C, 0, 0, 0);
        lm->i_nb[l] = -1;
        if (!cfg->rmsnorm) {
            snprintf(name, sizeof name, "layers.%d.norm.bias", l);
            lm->i_nb[l] = sl_params_add(P, pre, name, 1, C, 0, 0, 0);
        }
        lm->i_pw[l] = -1;
        if (lm->mix_out[l] != C) {
            snprintf(name, sizeof name, "layers.%d.proj.weight", l);
            lm->i_pw[l] = sl_params_add(P, pre, name, 2, C, lm->mix_out[l], 0, 0);
        }
    }
    lm->i_nfw = sl_params_add(P, pre, "norm_f.weight", 1, C, 0, 0, 0);
    lm->i_nfb = cfg->rmsnorm ? -1 : sl_params_add(P, pre, "norm_f.bias", 1, C, 0, 0, 0);
    if (cfg->vocab_size > 0) {
        lm->i_head = cfg->tie_embeddings ? lm->i_wte
                                         : sl_params_add(P, prefix ? prefix : "", "lm_head.weight", 2, cfg->vocab_size, C, 0, 0);
    } else {
        lm->i_head = sl_params_add(P, prefix ? prefix : "", "head.weight", 2, cfg->d_output, C, 0, 0);
        lm->i_headb = sl_params_add(P, prefix ? prefix : "", "head.bias", 1, cfg->d_output, 0, 0, 0);
    }
    /* any failed declaration left a negative index; the table has the message */
    int bad = lm->i_nfw < 0 || lm->i_head < 0 || (cfg->max_position_embeddings > 0 && lm->i_wpe < 0) ||
              (cfg->vocab_size > 0 ? lm->i_wte < 0 : (lm->i_inw < 0 || lm->i_inb < 0 || lm->i_headb < 0));
    for (int l = 0; l < L; l++) bad |= lm->i_nw[l] < 0 || (!cfg->rmsnorm && lm->i_nb[l] < 0);
    if (bad) {
        sl_model_free(m);
        return SL_EINVAL;
    }
    m->caps = caps;
    /* a state holds as many positions as the position table and every mixer's state allow */
    m->max_len = cfg->max_position_embeddings;
    for (int l = 0; l < L; l++)
        if (mixers[l]->max_len > 0 && (m->max_len == 0 || mixers[l]->max_len < m->max_len)) m->max_len = mixers[l]->max_len;
    *out = m;
    return SL_OK;
}

int sl_lm_embedding(sl_model *m, float **wte, int *V, int *C)
{
    if (m->vt != &lm_vt) return sl_error(SL_EUNSUPPORTED, "%s is not an LM wrapper", m->vt->kind);
    lm_model *lm = (lm_model *)m;
    if (lm->i_wte < 0) return sl_error(SL_EUNSUPPORTED, "this wrapper takes real input: it has no embedding");
    *wte = sl_params_data(m->P, lm->i_wte);
    *V = m->d_in;
    *C = lm->C;
    return SL_OK;
}
