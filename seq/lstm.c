/* seq/lstm.c — the LSTM cell (gates i, f, g, o) and the `lstm` spec (see lstm.h). */
#include "seq/lstm.h"

#include <math.h>

const sl_spec_key sl_lstm_keys[] = {
    SL_RECURRENT_KEYS,
    {NULL, 0, NULL, 0, 0, NULL},
};

int sl_lstm_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config cfg;
    int rc = sl_recurrent_config_from_spec(s, sl_lstm_keys, SL_RCELL_LSTM, &cfg);
    return rc ? rc : sl_recurrent_create(&cfg, P, prefix, out);
}

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

/* g (B, 4H) pre-activations -> activations i, f, g, o; c' = f c + i g; h' = o tanh(c') */
void sl_lstm_cell_forward(const sl_rcell_fwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++) {
        float *gi = a->g + (size_t)b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *cp = a->c_prev ? a->c_prev + (size_t)b * H : NULL;
        float *c = a->c + (size_t)b * H, *h = a->h + (size_t)b * a->ldh;
        for (int j = 0; j < H; j++) {
            float i = sigmoidf(gi[j]), f = sigmoidf(gf[j]), g = tanhf(gg[j]), o = sigmoidf(go[j]);
            float cn = (cp ? f * cp[j] : 0.0f) + i * g;
            gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;
            c[j] = cn;
            h[j] = o * tanhf(cn);
        }
    }
}

/* With dh = dh_out + dh_rec and dc = dc_next + dh o (1 - tanh(c)^2):
 *   do = dh tanh(c), di = dc g, dg = dc i, df = dc c_prev, dc_prev = dc f,
 * then through sigmoid' = s(1-s) and tanh' = 1 - t^2. */
void sl_lstm_cell_backward(const sl_rcell_bwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++) {
        const float *gi = a->g + (size_t)b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *cp = a->c_prev ? a->c_prev + (size_t)b * H : NULL;
        const float *c = a->c + (size_t)b * H, *dho = a->dh_out + (size_t)b * a->lddo;
        float *dr = a->dh_rec + (size_t)b * H, *dc = a->dc + (size_t)b * H;
        float *di = a->dg + (size_t)b * 4 * H, *df = di + H, *dgg = di + 2 * H, *dgo = di + 3 * H;
        for (int j = 0; j < H; j++) {
            float dh = dho[j] + dr[j], tc = tanhf(c[j]);
            float i = gi[j], f = gf[j], g = gg[j], o = go[j];
            float dcj = dc[j] + dh * o * (1.0f - tc * tc);
            float cpj = cp ? cp[j] : 0.0f;
            di[j] = dcj * g * i * (1.0f - i);
            df[j] = dcj * cpj * f * (1.0f - f);
            dgg[j] = dcj * i * (1.0f - g * g);
            dgo[j] = dh * tc * o * (1.0f - o);
            dc[j] = dcj * f;
            dr[j] = 0.0f;
        }
    }
}
