/* seq/rnn.c — the Elman cell (tanh / relu) and the `rnn` spec (see rnn.h). */
#include "seq/rnn.h"

/* the cells' clamps must if-convert for the row loops to vectorise (core/fastmath.h) */
SL_NO_TRAPPING_MATH

const sl_spec_key sl_rnn_keys[] = {
    SL_RECURRENT_KEYS,
    SL_RNN_NONLINEARITY_KEY,
    SL_KEY_END,
};

int sl_rnn_config_default(sl_recurrent_config *cfg) { return sl_recurrent_config_default(cfg, sl_rnn_keys, &sl_rnn_cell_ops); }

int sl_rnn_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config c = *cfg;
    c.ops = &sl_rnn_cell_ops;
    return sl_recurrent_create(&c, P, prefix, out);
}

int sl_rnn_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config cfg;
    int rc = sl_recurrent_config_from_spec(s, sl_rnn_keys, &sl_rnn_cell_ops, &cfg);
    return rc ? rc : sl_recurrent_create(&cfg, P, prefix, out);
}

/* one row: h = act(pre + b); the activation doubles as the cache (act' is a function of h).
 * Every pointer is valid (zeros for an absent bias), so the loops have no branches. */
SL_CLONES3 static void fwd_row(float *g, const float *b, float *h, int H, int relu)
{
    if (relu) {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float p = g[j] + b[j];
            float v = p > 0.0f ? p : 0.0f;
            g[j] = v;
            h[j] = v;
        }
    } else {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float v = sl_fm_tanhf(g[j] + b[j]);
            g[j] = v;
            h[j] = v;
        }
    }
}

/* one row: dpre = (dh_out + dh_rec) * act'(pre), tanh' = 1 - h^2, relu' = [h > 0] */
SL_CLONES3 static void bwd_row(float *dg, float *dr, const float *h, const float *dho, int H, int relu)
{
    if (relu) {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float dh = dho[j] + dr[j];
            dg[j] = h[j] > 0.0f ? dh : 0.0f;
            dr[j] = 0.0f;
        }
    } else {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float dh = dho[j] + dr[j];
            dg[j] = dh * (1.0f - h[j] * h[j]);
            dr[j] = 0.0f;
        }
    }
}

static void cell_forward(const sl_rcell_fwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 16384)
    for (int b = 0; b < B; b++) fwd_row(a->g + (size_t)b * a->ldg, a->b ? a->b : a->zeros, a->h + (size_t)b * a->ldh, H, a->relu);
}

static void cell_backward(const sl_rcell_bwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 16384)
    for (int b = 0; b < B; b++)
        bwd_row(a->dg + (size_t)b * a->lddg, a->dh_rec + (size_t)b * H, a->h + (size_t)b * a->ldh,
                a->dh_out + (size_t)b * a->lddo, H, a->relu);
}

const sl_rcell_ops sl_rnn_cell_ops = {
    .kind = SL_RCELL_ELMAN, .name = "rnn", .gates = 1, .forward = cell_forward, .backward = cell_backward};
