/* seq/gru.c — the GRU cell (gates r, z, n) and the `gru` spec (see gru.h). */
#include "seq/gru.h"

/* the cells' clamps must if-convert for the row loops to vectorise (core/fastmath.h) */
SL_NO_TRAPPING_MATH

const sl_spec_key sl_gru_keys[] = {
    SL_RECURRENT_KEYS,
    SL_KEY_END,
};

int sl_gru_config_default(sl_recurrent_config *cfg) { return sl_recurrent_config_default(cfg, sl_gru_keys, &sl_gru_cell_ops); }

int sl_gru_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config c = *cfg;
    c.ops = &sl_gru_cell_ops;
    return sl_recurrent_create(&c, P, prefix, out);
}

int sl_gru_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config cfg;
    int rc = sl_recurrent_config_from_spec(s, sl_gru_keys, &sl_gru_cell_ops, &cfg);
    return rc ? rc : sl_recurrent_create(&cfg, P, prefix, out);
}

/* one row. With gx = x W_ih^T + b_ih and gh = h W_hh^T + b_hh (zeros for an absent bias):
 *   r = s(gx_r + gh_r), z = s(gx_z + gh_z), n = tanh(gx_n + r gh_n), h' = (1 - z) n + z h.
 * Every pointer is valid (zeros for an absent bias or state), so the loops have no branches.
 * h may alias hp (step mode). */
SL_CLONES3 static void fwd_row(float *gr, const float *b, const float *hr, const float *bh, float *hn, const float *hp, float *h,
                               int H)
{
    float *gz = gr + H, *gn = gr + 2 * H;
    const float *hz = hr + H, *hnp = hr + 2 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float hnj = hnp[j] + bh[2 * H + j];
        float r = sl_fm_sigmoidf((gr[j] + b[j]) + (hr[j] + bh[j]));
        float z = sl_fm_sigmoidf((gz[j] + b[H + j]) + (hz[j] + bh[H + j]));
        float n = sl_fm_tanhf((gn[j] + b[2 * H + j]) + r * hnj);
        float hpj = hp[j];
        hn[j] = hnj;
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        h[j] = (1.0f - z) * n + z * hpj;
    }
}

/* one row. dh = dh_out + dh_rec; dn = dh (1 - z); dz = dh (h_prev - n); dn_pre = dn (1 - n^2);
 * dr = dn_pre hn; x side (dr_pre, dz_pre, dn_pre); h side (dr_pre, dz_pre, dn_pre r); the
 * direct part of dh_prev is dh z. */
/* one row of the cell's backward: the h side's n part dn_pre * r goes to dhn; with full, its
 * r and z parts (equal to dgr's) go to dhr[0, 2H) too */
SL_FM_INLINE void bwd_row_body(float *dgr, float *dhr, float *dhn, float *dr, const float *gr, const float *hn, const float *hp,
                               const float *dho, int H, const int full)
{
    const float *gz = gr + H, *gn = gr + 2 * H;
    float *dgz = dgr + H, *dgn = dgr + 2 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float dh = dho[j] + dr[j], r = gr[j], z = gz[j], n = gn[j];
        float hpj = hp[j];
        float dnp = dh * (1.0f - z) * (1.0f - n * n);
        float drp = dnp * hn[j] * r * (1.0f - r);
        float dzp = dh * (hpj - n) * z * (1.0f - z);
        dgr[j] = drp;
        dgz[j] = dzp;
        dgn[j] = dnp;
        if (full) {
            dhr[j] = drp;
            dhr[H + j] = dzp;
        }
        dhn[j] = dnp * r;
        dr[j] = dh * z;
    }
}

SL_CLONES3 static void bwd_row(float *dgr, float *dhr, float *dr, const float *gr, const float *hn, const float *hp,
                               const float *dho, int H)
{
    bwd_row_body(dgr, dhr, dhr + 2 * H, dr, gr, hn, hp, dho, H, 1);
}

static void cell_forward(const sl_rcell_fwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++)
        fwd_row(a->g + (size_t)b * a->ldg, a->b ? a->b : a->zeros, a->gh + (size_t)b * 3 * H, a->bh ? a->bh : a->zeros,
                a->hn + (size_t)b * H, a->h_prev ? a->h_prev + (size_t)b * a->ldhp : a->zeros, a->h + (size_t)b * a->ldh, H);
}

/* the same, writing of the h side only dn_pre * r (to dhn): its r and z parts equal dgr, dgz */
SL_CLONES3 static void bwd_row_n(float *dgr, float *dhn, float *dr, const float *gr, const float *hn, const float *hp,
                                 const float *dho, int H)
{
    bwd_row_body(dgr, NULL, dhn, dr, gr, hn, hp, dho, H, 0);
}

static void cell_backward(const sl_rcell_bwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++) {
        const float *hp = a->h_prev ? a->h_prev + (size_t)b * a->ldhp : a->zeros;
        if (a->dgh_n_only)
            bwd_row_n(a->dg + (size_t)b * a->lddg, a->dgh + (size_t)b * a->lddg, a->dh_rec + (size_t)b * H,
                      a->g + (size_t)b * a->ldg, a->hn + (size_t)b * H, hp, a->dh_out + (size_t)b * a->lddo, H);
        else
            bwd_row(a->dg + (size_t)b * a->lddg, a->dgh + (size_t)b * a->lddg, a->dh_rec + (size_t)b * H,
                    a->g + (size_t)b * a->ldg, a->hn + (size_t)b * H, hp, a->dh_out + (size_t)b * a->lddo, H);
    }
}

const sl_rcell_ops sl_gru_cell_ops = {
    .kind = SL_RCELL_GRU, .name = "gru", .gates = 3, .forward = cell_forward, .backward = cell_backward};
