/* seq/lstm.c — the LSTM cell (gates i, f, g, o) and the `lstm` spec (see lstm.h). */
#include "seq/lstm.h"

/* the cells' clamps must if-convert for the row loops to vectorise (core/fastmath.h) */
SL_NO_TRAPPING_MATH

const sl_spec_key sl_lstm_keys[] = {
    SL_RECURRENT_KEYS,
    SL_KEY_END,
};

int sl_lstm_config_default(sl_recurrent_config *cfg) { return sl_recurrent_config_default(cfg, sl_lstm_keys, &sl_lstm_cell_ops); }

int sl_lstm_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config c = *cfg;
    c.ops = &sl_lstm_cell_ops;
    return sl_recurrent_create(&c, P, prefix, out);
}

int sl_lstm_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_recurrent_config cfg;
    int rc = sl_recurrent_config_from_spec(s, sl_lstm_keys, &sl_lstm_cell_ops, &cfg);
    return rc ? rc : sl_recurrent_create(&cfg, P, prefix, out);
}

/* one row: g (4H) + b (4H) pre-activations -> activations i, f, g, o; c' = f c + i g;
 * h' = o tanh(c'). Every pointer is valid (zeros for an absent bias or previous cell), so the
 * loops have no branches and vectorise. */
SL_CLONES3 static void fwd_row(float *gi, const float *b, const float *cp, float *c, float *h, int H)
{
    float *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float i = sl_fm_sigmoidf(gi[j] + b[j]), f = sl_fm_sigmoidf(gf[j] + b[H + j]);
        float g = sl_fm_tanhf(gg[j] + b[2 * H + j]), o = sl_fm_sigmoidf(go[j] + b[3 * H + j]);
        float cn = f * cp[j] + i * g;
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        c[j] = cn;
        h[j] = o * sl_fm_tanhf(cn);
    }
}

/* one row. With dh = dh_out + dh_rec and dc = dc_next + dh o (1 - tanh(c)^2):
 *   do = dh tanh(c), di = dc g, dg = dc i, df = dc c_prev, dc_prev = dc f,
 * then through sigmoid' = s (1 - s) and tanh' = 1 - t^2. */
SL_CLONES3 static void bwd_row(float *di, float *dr, float *dc, const float *gi, const float *cp, const float *c,
                               const float *dho, int H)
{
    const float *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
    float *df = di + H, *dgg = di + 2 * H, *dgo = di + 3 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float dh = dho[j] + dr[j], tc = sl_fm_tanhf(c[j]);
        float i = gi[j], f = gf[j], g = gg[j], o = go[j];
        float dcj = dc[j] + dh * o * (1.0f - tc * tc);
        float cpj = cp[j];
        di[j] = dcj * g * i * (1.0f - i);
        df[j] = dcj * cpj * f * (1.0f - f);
        dgg[j] = dcj * i * (1.0f - g * g);
        dgo[j] = dh * tc * o * (1.0f - o);
        dc[j] = dcj * f;
        dr[j] = 0.0f;
    }
}

static void cell_forward(const sl_rcell_fwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++)
        fwd_row(a->g + (size_t)b * a->ldg, a->b ? a->b : a->zeros, a->c_prev ? a->c_prev + (size_t)b * H : a->zeros,
                a->c + (size_t)b * H, a->h + (size_t)b * a->ldh, H);
}

static void cell_backward(const sl_rcell_bwd *a)
{
    const int B = a->B, H = a->H;
    #pragma omp parallel for schedule(static) if ((long)B * H >= 4096)
    for (int b = 0; b < B; b++)
        bwd_row(a->dg + (size_t)b * a->lddg, a->dh_rec + (size_t)b * H, a->dc + (size_t)b * H, a->g + (size_t)b * a->ldg,
                a->c_prev ? a->c_prev + (size_t)b * H : a->zeros, a->c + (size_t)b * H, a->dh_out + (size_t)b * a->lddo, H);
}

const sl_rcell_ops sl_lstm_cell_ops = {
    .kind = SL_RCELL_LSTM, .name = "lstm", .gates = 4, .forward = cell_forward, .backward = cell_backward};
