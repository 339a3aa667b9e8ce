/* seq/rnn.c — the Elman cell (tanh / relu) and the `rnn` spec (see rnn.h). */
#include "seq/rnn.h"

#include <math.h>

const sl_spec_key sl_rnn_keys[] = {
    SL_RECURRENT_KEYS,
    {"nonlinearity", 's', "tanh", 0, 0, "tanh or relu"},
    {NULL, 0, NULL, 0, 0, NULL},
};

int sl_rnn_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config cfg;
    int rc = sl_recurrent_config_from_spec(s, sl_rnn_keys, SL_RCELL_ELMAN, &cfg);
    return rc ? rc : sl_recurrent_create(&cfg, P, prefix, out);
}

/* h = act(pre); the activation doubles as the cache (act' is a function of h) */
void sl_rnn_cell_forward(const sl_rcell_fwd *a)
{
    const int B = a->B, H = a->H, relu = a->relu;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 8192)
    for (int b = 0; b < B; b++) {
        float *g = a->g + (size_t)b * H, *h = a->h + (size_t)b * a->ldh;
        for (int j = 0; j < H; j++) {
            float v = relu ? (g[j] > 0.0f ? g[j] : 0.0f) : tanhf(g[j]);
            g[j] = v;
            h[j] = v;
        }
    }
}

/* dpre = (dh_out + dh_rec) * act'(pre): tanh' = 1 - h^2, relu' = [h > 0] */
void sl_rnn_cell_backward(const sl_rcell_bwd *a)
{
    const int B = a->B, H = a->H, relu = a->relu;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 8192)
    for (int b = 0; b < B; b++) {
        const float *h = a->h + (size_t)b * a->ldh, *dho = a->dh_out + (size_t)b * a->lddo;
        float *dr = a->dh_rec + (size_t)b * H, *dg = a->dg + (size_t)b * H;
        for (int j = 0; j < H; j++) {
            float dh = dho[j] + dr[j];
            dg[j] = relu ? (h[j] > 0.0f ? dh : 0.0f) : dh * (1.0f - h[j] * h[j]);
            dr[j] = 0.0f;
        }
    }
}
