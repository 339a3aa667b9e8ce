/* seq/gru.c — the GRU cell (gates r, z, n) and the `gru` spec (see gru.h). */
#include "seq/gru.h"

#include <math.h>

const sl_spec_key sl_gru_keys[] = {
    SL_RECURRENT_KEYS,
    {NULL, 0, NULL, 0, 0, NULL},
};

int sl_gru_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config cfg;
    int rc = sl_recurrent_config_from_spec(s, sl_gru_keys, SL_RCELL_GRU, &cfg);
    return rc ? rc : sl_recurrent_create(&cfg, P, prefix, out);
}

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

/* g (B, 3H) = x W_ih^T + b_ih, gh (B, 3H) = h W_hh^T + b_hh:
 *   r = s(g_r + gh_r), z = s(g_z + gh_z), n = tanh(g_n + r gh_n), h' = (1 - z) n + z h */
void sl_gru_cell_forward(const sl_rcell_fwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++) {
        float *gr = a->g + (size_t)b * 3 * H, *gz = gr + H, *gn = gr + 2 * H;
        const float *hr = a->gh + (size_t)b * 3 * H, *hz = hr + H, *hnp = hr + 2 * H;
        const float *hp = a->h_prev ? a->h_prev + (size_t)b * a->ldhp : NULL;
        float *hn = a->hn + (size_t)b * H, *h = a->h + (size_t)b * a->ldh;
        for (int j = 0; j < H; j++) {
            float r = sigmoidf(gr[j] + hr[j]), z = sigmoidf(gz[j] + hz[j]);
            float n = tanhf(gn[j] + r * hnp[j]);
            float hpj = hp ? hp[j] : 0.0f;
            hn[j] = hnp[j];
            gr[j] = r; gz[j] = z; gn[j] = n;
            h[j] = (1.0f - z) * n + z * hpj;
        }
    }
}

/* dh = dh_out + dh_rec; dn = dh (1 - z); dz = dh (h_prev - n); dn_pre = dn (1 - n^2);
 * dr = dn_pre hn; x side (dr_pre, dz_pre, dn_pre); h side (dr_pre, dz_pre, dn_pre r);
 * the direct part of dh_prev is dh z. */
void sl_gru_cell_backward(const sl_rcell_bwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++) {
        const float *gr = a->g + (size_t)b * 3 * H, *gz = gr + H, *gn = gr + 2 * H;
        const float *hn = a->hn + (size_t)b * H, *dho = a->dh_out + (size_t)b * a->lddo;
        const float *hp = a->h_prev ? a->h_prev + (size_t)b * a->ldhp : NULL;
        float *dr = a->dh_rec + (size_t)b * H;
        float *dgr = a->dg + (size_t)b * 3 * H, *dgz = dgr + H, *dgn = dgr + 2 * H;
        float *dhr = a->dgh + (size_t)b * 3 * H, *dhz = dhr + H, *dhn = dhr + 2 * H;
        for (int j = 0; j < H; j++) {
            float dh = dho[j] + dr[j], r = gr[j], z = gz[j], n = gn[j];
            float hpj = hp ? hp[j] : 0.0f;
            float dnp = dh * (1.0f - z) * (1.0f - n * n);
            float drp = dnp * hn[j] * r * (1.0f - r);
            float dzp = dh * (hpj - n) * z * (1.0f - z);
            dgr[j] = drp; dgz[j] = dzp; dgn[j] = dnp;
            dhr[j] = drp; dhz[j] = dzp; dhn[j] = dnp * r;
            dr[j] = dh * z;
        }
    }
}
