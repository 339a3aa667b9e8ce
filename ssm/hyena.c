/* ssm/hyena.c — the Hyena operator of order 2 (equations, names: hyena.h): in_proj, short
 * depthwise conv, gate, implicit long filter (positional MLP with sine activations and an
 * exponential decay window) applied by FFT convolution (ssm/fftconv.c), gate, out_proj. */
#include "ssm/hyena.h"
#include "core/error.h"
#include "seq/layers.h"
#include "ssm/fftconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HY_MAX_MLPS 8

typedef struct {
    sl_model base;
    sl_hyena_config cfg;
    int C, L, M, E, K, nl; /* width, l_max, filter width, emb_dim, short taps, sine layers */
    int i_inw, i_inb, i_ow, i_ob, i_sw, i_sb, i_fb, i_z, i_t, i_freq, i_out, i_dl;
    int i_W[HY_MAX_MLPS + 1], i_b[HY_MAX_MLPS + 1];
    int B, T;
    sl_fftconv *fc;
    sl_buf xin, u, uc, v1, y, y2, fa, fs, h0, Kf;
    sl_buf gy2, gy, guc, gu, gv1, gK, gh0, gs, ga;
} hyena_model;

typedef struct {
    int B, pos;
    float *win;  /* (B, K, 3C) short-filter window */
    float *hist; /* (B, L, C) every v1 so far */
    float *Kf;   /* (C, L) the filter, computed at the first step */
    float *u, *uc, *y2;
    int *t0; /* (B) each row's start (its last per-row reset): its long convolution reads hist from t0 on */
} hyena_state;

static const int naive_vals[] = {0, 1};
const sl_spec_key sl_hyena_keys[] = {
    SL_KEY_INT(sl_hyena_config, d_model, "d_model", "64", 1, 65536, "model width"),
    SL_KEY_INT(sl_hyena_config, l_max, "l_max", "2048", 1, 1 << 22,
               "longest sequence; the positional grid of the implicit filter (zoology sets it to the input length)"),
    SL_KEY_INT(sl_hyena_config, filter_order, "filter_order", "64", 1, 4096, "width of the implicit filter's MLP"),
    SL_KEY_INT(sl_hyena_config, short_filter_order, "short_filter_order", "3", 1, 64, "taps of the short depthwise conv"),
    SL_KEY_INT(sl_hyena_config, emb_dim, "emb_dim", "3", 3, 255, "positional features (odd: t, then cos/sin bands)"),
    SL_KEY_INT(sl_hyena_config, num_inner_mlps, "num_inner_mlps", "2", 0, HY_MAX_MLPS,
               "inner Linear+Sin layers of the filter MLP"),
    SL_KEY_BOOL(sl_hyena_config, modulate, "modulate", "1", "multiply the filter by the exponential decay window"),
    SL_KEY_FLOAT(sl_hyena_config, w, "w", "1", -1e4, 1e4, "initial frequency of the sine activations"),
    SL_KEY_FLOAT(sl_hyena_config, fast_decay_pct, "fast_decay_pct", "0.3", 1e-6, 1e6,
                 "fastest channel decays to target at this fraction of l_max"),
    SL_KEY_FLOAT(sl_hyena_config, slow_decay_pct, "slow_decay_pct", "1.5", 1e-6, 1e6,
                 "slowest channel decays to target at this fraction"),
    SL_KEY_FLOAT(sl_hyena_config, target, "target", "1e-2", 1e-30, 0.999999, "decay target of the window"),
    SL_KEY_FLOAT(sl_hyena_config, shift, "shift", "0", -1e6, 1e6, "added to the decay window"),
    SL_KEY_CHOICE(sl_hyena_config, naive, "conv", "fft", "fft|naive", naive_vals,
                  "long convolution by FFT, or as direct O(T^2) sums (the reference)"),
    SL_KEY_END,
};

void sl_hyena_config_default(sl_hyena_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_hyena_keys, c);
}

int sl_hyena_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_hyena_config c;
    sl_hyena_config_default(&c);
    int rc = sl_spec_read(s, sl_hyena_keys, &c);
    return rc ? rc : sl_hyena_create(&c, P, prefix, out);
}

/* ---- the implicit filter ------------------------------------------------------------------- */

/* decay window mod[t, c] = exp(-t_t |deltas_c|) + shift (1 without modulation) */
static float hy_mod(const hyena_model *hm, int t, int c)
{
    if (!hm->cfg.modulate) return 1.0f;
    const float *tt = sl_params_data(hm->base.P, hm->i_t), *dl = sl_params_data(hm->base.P, hm->i_dl);
    return expf(-tt[t] * fabsf(dl[c])) + hm->cfg.shift;
}

/* Kf (C, T) from the parameters; fa, fs (nl, T, M) the pre-activations and sines, h0 (T, C) the
 * MLP's output (kept for backward) */
static void hy_filter_fwd(const hyena_model *hm, float *Kf, float *fa, float *fs, float *h0, int T)
{
    const sl_params *P = hm->base.P;
    const int M = hm->M, C = hm->C;
    const float *freq = sl_params_data(P, hm->i_freq);
    for (int l = 0; l < hm->nl; l++) {
        float *a = fa + (size_t)l * T * M, *s = fs + (size_t)l * T * M;
        const float *in = l ? fs + (size_t)(l - 1) * T * M : sl_params_data(P, hm->i_z); // (T, E or M)
        sl_linear_forward(a, in, sl_params_data(P, hm->i_W[l]), sl_params_data(P, hm->i_b[l]), T, l ? M : hm->E, M);
        for (size_t i = 0; i < (size_t)T * M; i++) s[i] = sinf(freq[i % M] * a[i]);
    }
    sl_linear_forward(h0, fs + (size_t)(hm->nl - 1) * T * M, sl_params_data(P, hm->i_out), NULL, T, M, C);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) Kf[(size_t)c * T + t] = h0[(size_t)t * C + c] * hy_mod(hm, t, c);
}

/* gK (C, T) -> gradients of the MLP, its shared frequency and z; gh0 (T, C), gs, ga (T, M) scratch */
static void hy_filter_bwd(hyena_model *hm, const float *gK, const float *fa, const float *fs, float *gh0, float *gs, float *ga,
                          int T)
{
    sl_params *P = hm->base.P;
    const int M = hm->M, C = hm->C;
    const float *freq = sl_params_data(P, hm->i_freq);
    float *gfreq = sl_params_grad(P, hm->i_freq);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) gh0[(size_t)t * C + c] = gK[(size_t)c * T + t] * hy_mod(hm, t, c);
    memset(gs, 0, (size_t)T * M * sizeof(float));
    sl_linear_backward(gs, sl_params_grad(P, hm->i_out), NULL, gh0, fs + (size_t)(hm->nl - 1) * T * M,
                       sl_params_data(P, hm->i_out), T, M, C);
    for (int l = hm->nl - 1; l >= 0; l--) {
        const float *a = fa + (size_t)l * T * M;
        /* s = sin(freq a): ga = gs cos(freq a) freq, gfreq += gs cos(freq a) a */
        for (size_t i = 0; i < (size_t)T * M; i++) {
            const float cs = cosf(freq[i % M] * a[i]) * gs[i];
            ga[i] = cs * freq[i % M];
            gfreq[i % M] += cs * a[i];
        }
        if (l) {
            memset(gs, 0, (size_t)T * M * sizeof(float));
            sl_linear_backward(gs, sl_params_grad(P, hm->i_W[l]), sl_params_grad(P, hm->i_b[l]), ga, fs + (size_t)(l - 1) * T * M,
                               sl_params_data(P, hm->i_W[l]), T, M, M);
        } else {
            sl_linear_backward(sl_params_grad(P, hm->i_z), sl_params_grad(P, hm->i_W[0]), sl_params_grad(P, hm->i_b[0]), ga,
                               sl_params_data(P, hm->i_z), sl_params_data(P, hm->i_W[0]), T, hm->E, M);
        }
    }
}

int sl_hyena_filter(sl_model *m, float *h, int T)
{
    hyena_model *hm = (hyena_model *)m;
    if (T < 1 || T > hm->L) return sl_error(SL_ESHAPE, "hyena: filter length %d outside 1..l_max=%d", T, hm->L);
    float *fa = malloc((size_t)hm->nl * T * hm->M * sizeof(float)), *fs = malloc((size_t)hm->nl * T * hm->M * sizeof(float));
    float *h0 = malloc((size_t)T * hm->C * sizeof(float));
    if (!fa || !fs || !h0) {
        free(fa);
        free(fs);
        free(h0);
        return sl_error(SL_ENOMEM, "hyena: out of memory");
    }
    hy_filter_fwd(hm, h, fa, fs, h0, T);
    free(fa);
    free(fs);
    free(h0);
    return SL_OK;
}

/* ---- sequence mode -------------------------------------------------------------------------- */

static int hyena_forward(sl_model *m, const float *x, const int32_t *tok, float *out, int B, int T)
{
    hyena_model *hm = (hyena_model *)m;
    const sl_params *P = m->P;
    const int C = hm->C, M = hm->M;
    const size_t N = (size_t)B * T;
    if (T > hm->L) return sl_error(SL_ESHAPE, "hyena: sequence length %d exceeds l_max=%d (set the key l_max)", T, hm->L);
    int rc;
    sl_buf *bufs[] = {&hm->xin, &hm->u, &hm->uc, &hm->v1, &hm->y, &hm->y2, &hm->fa, &hm->fs, &hm->h0, &hm->Kf};
    size_t need[] = {N * C,         N * 3 * C,    N * 3 * C, N * C, N * C, N * C, (size_t)hm->nl * T * M, (size_t)hm->nl * T * M,
                     (size_t)T * C, (size_t)C * T};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if ((rc = sl_buf_reserve(bufs[i], need[i]))) return rc;
    if (!hm->cfg.naive && (!hm->fc || sl_fftconv_len(hm->fc) != T)) {
        sl_fftconv_free(hm->fc);
        if (!(hm->fc = sl_fftconv_alloc(T))) return SL_ENOMEM;
    }
    hm->B = B;
    hm->T = T;
    memcpy(hm->xin.p, x, N * C * sizeof(float));
    sl_linear_forward(hm->u.p, x, sl_params_data(P, hm->i_inw), sl_params_data(P, hm->i_inb), (int)N, C, 3 * C);
    sl_conv1d_causal_forward(hm->uc.p, hm->u.p, sl_params_data(P, hm->i_sw), sl_params_data(P, hm->i_sb), B, T, 3 * C, hm->K);
    const float *uc = hm->uc.p, *fb = sl_params_data(P, hm->i_fb);
    for (size_t n = 0; n < N; n++)
        for (int c = 0; c < C; c++) hm->v1.p[n * C + c] = uc[n * 3 * C + 2 * C + c] * uc[n * 3 * C + c]; /* v * x1 */
    hy_filter_fwd(hm, hm->Kf.p, hm->fa.p, hm->fs.p, hm->h0.p, T);
    if (hm->cfg.naive) sl_conv_naive_forward(hm->y.p, hm->v1.p, hm->Kf.p, B, T, C);
    else if ((rc = sl_fftconv_forward(hm->fc, hm->y.p, hm->v1.p, hm->Kf.p, B, C))) return rc;
    for (size_t n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            hm->y.p[n * C + c] += fb[c] * hm->v1.p[n * C + c];
            hm->y2.p[n * C + c] = hm->y.p[n * C + c] * uc[n * 3 * C + C + c]; /* * x2 */
        }
    sl_linear_forward(out, hm->y2.p, sl_params_data(P, hm->i_ow), sl_params_data(P, hm->i_ob), (int)N, C, C);
    return SL_OK;
}

static int hyena_backward(sl_model *m, const float *dout, float *dx)
{
    hyena_model *hm = (hyena_model *)m;
    sl_params *P = m->P;
    const int C = hm->C, M = hm->M, B = hm->B, T = hm->T;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "hyena: backward before forward");
    int rc;
    sl_buf *bufs[] = {&hm->gy2, &hm->gy, &hm->guc, &hm->gu, &hm->gv1, &hm->gK, &hm->gh0, &hm->gs, &hm->ga};
    size_t need[] = {N * C, N * C, N * 3 * C, N * 3 * C, N * C, (size_t)C * T, (size_t)T * C, (size_t)T * M, (size_t)T * M};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if ((rc = sl_buf_reserve(bufs[i], need[i]))) return rc;
        memset(bufs[i]->p, 0, need[i] * sizeof(float));
    }
    sl_linear_backward(hm->gy2.p, sl_params_grad(P, hm->i_ow), sl_params_grad(P, hm->i_ob), dout, hm->y2.p,
                       sl_params_data(P, hm->i_ow), (int)N, C, C);
    const float *uc = hm->uc.p, *fb = sl_params_data(P, hm->i_fb);
    float *gfb = sl_params_grad(P, hm->i_fb), *guc = hm->guc.p;
    for (size_t n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const float g2 = hm->gy2.p[n * C + c], gy = g2 * uc[n * 3 * C + C + c];
            guc[n * 3 * C + C + c] = g2 * hm->y.p[n * C + c]; /* x2 */
            hm->gy.p[n * C + c] = gy;
            gfb[c] += gy * hm->v1.p[n * C + c];
            hm->gv1.p[n * C + c] = fb[c] * gy;
        }
    if (hm->cfg.naive) sl_conv_naive_backward(hm->gv1.p, hm->gK.p, hm->gy.p, hm->v1.p, hm->Kf.p, B, T, C);
    else if ((rc = sl_fftconv_backward(hm->fc, hm->gv1.p, hm->gK.p, hm->gy.p, hm->v1.p, hm->Kf.p, B, C))) return rc;
    for (size_t n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const float g = hm->gv1.p[n * C + c];
            guc[n * 3 * C + c] = g * uc[n * 3 * C + 2 * C + c]; /* x1 */
            guc[n * 3 * C + 2 * C + c] = g * uc[n * 3 * C + c]; /* v */
        }
    sl_conv1d_causal_backward(hm->gu.p, sl_params_grad(P, hm->i_sw), sl_params_grad(P, hm->i_sb), guc, hm->u.p,
                              sl_params_data(P, hm->i_sw), B, T, 3 * C, hm->K);
    sl_linear_backward(dx, sl_params_grad(P, hm->i_inw), sl_params_grad(P, hm->i_inb), hm->gu.p, hm->xin.p,
                       sl_params_data(P, hm->i_inw), (int)N, C, 3 * C);
    hy_filter_bwd(hm, hm->gK.p, hm->fa.p, hm->fs.p, hm->gh0.p, hm->gs.p, hm->ga.p, T);
    return SL_OK;
}

/* ---- step mode: the convolution history ------------------------------------------------------ */

static void hyena_state_free(sl_model *m, void *state)
{
    (void)m;
    hyena_state *s = state;
    if (!s) return;
    free(s->win);
    free(s->hist);
    free(s->Kf);
    free(s->u);
    free(s->uc);
    free(s->y2);
    free(s->t0);
    free(s);
}

static int hyena_state_reset(sl_model *m, void *state)
{
    hyena_model *hm = (hyena_model *)m;
    hyena_state *s = state;
    memset(s->win, 0, (size_t)s->B * hm->K * 3 * hm->C * sizeof(float));
    memset(s->t0, 0, (size_t)s->B * sizeof *s->t0);
    s->pos = 0;
    return SL_OK;
}

/* seq/model.h's state_reset_rows: the chosen rows' short-filter window to zero and their long
 * convolution restarted at the next position (it reads the row's history from there on; the
 * filter, computed at the first step, and the position count stay shared) */
static int hyena_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    hyena_model *hm = (hyena_model *)m;
    hyena_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    const size_t nw = (size_t)hm->K * 3 * hm->C;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->win + b * nw, 0, nw * sizeof(float));
            s->t0[b] = s->pos;
        }
    return SL_OK;
}

static void *hyena_state_new(sl_model *m, int B)
{
    hyena_model *hm = (hyena_model *)m;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "hyena: bad batch size %d", B);
        return NULL;
    }
    hyena_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B, C = hm->C;
    s->B = B;
    s->win = malloc(b * hm->K * 3 * C * sizeof(float));
    s->hist = malloc(b * hm->L * C * sizeof(float));
    s->Kf = malloc((size_t)hm->L * C * sizeof(float));
    s->u = malloc(b * 3 * C * sizeof(float));
    s->uc = malloc(b * 3 * C * sizeof(float));
    s->y2 = malloc(b * C * sizeof(float));
    s->t0 = calloc(b, sizeof *s->t0);
    if (!s->win || !s->hist || !s->Kf || !s->u || !s->uc || !s->y2 || !s->t0) {
        hyena_state_free(m, s);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    hyena_state_reset(m, s);
    return s;
}

static int hyena_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *out)
{
    hyena_model *hm = (hyena_model *)m;
    hyena_state *s = state;
    const sl_params *P = m->P;
    const int B = s->B, C = hm->C, K = hm->K, L = hm->L, t = s->pos;
    if (!x) return sl_error(SL_EINVAL, "hyena takes real input");
    if (t >= L) return sl_error(SL_ESHAPE, "hyena: step %d past l_max=%d (the state holds l_max positions)", t + 1, L);
    int rc;
    if (t == 0 && (rc = sl_hyena_filter(m, s->Kf, L))) return rc; /* (C, L) */
    sl_linear_forward(s->u, x, sl_params_data(P, hm->i_inw), sl_params_data(P, hm->i_inb), B, C, 3 * C);
    const float *sw = sl_params_data(P, hm->i_sw), *sb = sl_params_data(P, hm->i_sb), *fb = sl_params_data(P, hm->i_fb);
    for (int b = 0; b < B; b++) {
        float *w = s->win + (size_t)b * K * 3 * C, *o = s->uc + (size_t)b * 3 * C;
        memmove(w, w + 3 * C, (size_t)(K - 1) * 3 * C * sizeof(float));
        memcpy(w + (size_t)(K - 1) * 3 * C, s->u + (size_t)b * 3 * C, 3 * C * sizeof(float));
        for (int c = 0; c < 3 * C; c++) {
            float acc = sb[c];
            for (int k = 0; k < K; k++) acc += sw[(size_t)c * K + k] * w[(size_t)k * 3 * C + c];
            o[c] = acc;
        }
        float *hist = s->hist + (size_t)b * L * C, *v1 = hist + (size_t)t * C;
        for (int c = 0; c < C; c++) v1[c] = o[2 * C + c] * o[c];
        for (int c = 0; c < C; c++) {
            const float *kf = s->Kf + (size_t)c * L;
            double acc = 0.0;
            for (int j = 0; j <= t - s->t0[b]; j++) acc += kf[j] * hist[(size_t)(t - j) * C + c];
            s->y2[(size_t)b * C + c] = ((float)acc + fb[c] * v1[c]) * o[C + c];
        }
    }
    sl_linear_forward(out, s->y2, sl_params_data(P, hm->i_ow), sl_params_data(P, hm->i_ob), B, C, C);
    s->pos++;
    return SL_OK;
}

/* ---- construction ---------------------------------------------------------------------------- */

static void fill_uniform(sl_rng *rng, sl_params *P, int i, float a)
{
    sl_rng_fill_uniform(rng, sl_params_data(P, i), P->t[i].numel, -a, a);
}

/* zoology's initialisation: nn.Linear / nn.Conv1d defaults (U(+-1/sqrt(fan_in))), filter bias
 * N(0, 1), Sin frequency w, the positional features and the decay rates as in hyena.h */
static int hyena_init(sl_model *m, sl_rng *rng)
{
    hyena_model *hm = (hyena_model *)m;
    sl_params *P = m->P;
    const int C = hm->C, L = hm->L, E = hm->E, M = hm->M;
    fill_uniform(rng, P, hm->i_inw, 1.0f / sqrtf((float)C));
    fill_uniform(rng, P, hm->i_inb, 1.0f / sqrtf((float)C));
    fill_uniform(rng, P, hm->i_ow, 1.0f / sqrtf((float)C));
    fill_uniform(rng, P, hm->i_ob, 1.0f / sqrtf((float)C));
    fill_uniform(rng, P, hm->i_sw, 1.0f / sqrtf((float)hm->K));
    fill_uniform(rng, P, hm->i_sb, 1.0f / sqrtf((float)hm->K));
    sl_rng_fill_normal(rng, sl_params_data(P, hm->i_fb), C, 1.0f);
    for (int l = 0; l < hm->nl; l++) {
        const float a = 1.0f / sqrtf((float)(l ? M : E));
        fill_uniform(rng, P, hm->i_W[l], a);
        fill_uniform(rng, P, hm->i_b[l], a);
    }
    fill_uniform(rng, P, hm->i_out, 1.0f / sqrtf((float)M));
    float *freq = sl_params_data(P, hm->i_freq);
    for (int j = 0; j < M; j++) freq[j] = hm->cfg.w;
    /* z[l] = [t_l, cos(f_j w_l), -sin(f_j w_l)], t = linspace(0, 1, L), w_l = 2 pi l / L,
     * f = linspace(1e-4, bands - 1, bands) */
    float *z = sl_params_data(P, hm->i_z), *tt = sl_params_data(P, hm->i_t);
    const int bands = (E - 1) / 2;
    for (int l = 0; l < L; l++) {
        const double t = L > 1 ? (double)l / (L - 1) : 0.0, w = 2.0 * M_PI * l / L;
        tt[l] = (float)t;
        z[(size_t)l * E] = (float)t;
        for (int j = 0; j < bands; j++) {
            const double f = bands > 1 ? 1e-4 + (bands - 1 - 1e-4) * j / (bands - 1) : 1e-4;
            z[(size_t)l * E + 1 + j] = (float)cos(f * w);
            z[(size_t)l * E + 1 + bands + j] = (float)-sin(f * w);
        }
    }
    /* deltas = linspace(log(target) / slow_decay_pct, log(target) / fast_decay_pct, C) */
    float *dl = sl_params_data(P, hm->i_dl);
    const double lo = log(hm->cfg.target) / hm->cfg.slow_decay_pct, hi = log(hm->cfg.target) / hm->cfg.fast_decay_pct;
    for (int c = 0; c < C; c++) dl[c] = (float)(C > 1 ? lo + (hi - lo) * c / (C - 1) : lo);
    return SL_OK;
}

static void hyena_destroy(sl_model *m)
{
    hyena_model *hm = (hyena_model *)m;
    sl_buf *bufs[] = {&hm->xin, &hm->u,  &hm->uc,  &hm->v1, &hm->y,   &hm->y2, &hm->fa,  &hm->fs, &hm->h0, &hm->Kf,
                      &hm->gy2, &hm->gy, &hm->guc, &hm->gu, &hm->gv1, &hm->gK, &hm->gh0, &hm->gs, &hm->ga};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) sl_buf_free(bufs[i]);
    sl_fftconv_free(hm->fc);
    free(hm);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int hyena_state_copy(sl_model *base_, void *dst, const void *src)
{
    hyena_model *hm = (hyena_model *)base_;
    hyena_state *d = dst;
    const hyena_state *s = src;
    const size_t C = (size_t)hm->C;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "hyena: state copy: %d rows into %d", s->B, d->B);
    memcpy(d->win, s->win, (size_t)s->B * hm->K * 3 * C * sizeof(float));
    for (int b = 0; b < s->B; b++)
        memcpy(d->hist + (size_t)b * hm->L * C, s->hist + (size_t)b * hm->L * C, (size_t)s->pos * C * sizeof(float));
    memcpy(d->Kf, s->Kf, (size_t)hm->L * C * sizeof(float));
    d->pos = s->pos;
    memcpy(d->t0, s->t0, (size_t)s->B * sizeof *s->t0);
    return SL_OK;
}

static const sl_model_vt hyena_vt = {
    .kind = "hyena",
    .destroy = hyena_destroy,
    .init = hyena_init,
    .forward = hyena_forward,
    .backward = hyena_backward,
    .state_new = hyena_state_new,
    .state_free = hyena_state_free,
    .state_reset = hyena_state_reset,
    .state_reset_rows = hyena_state_reset_rows,
    .state_copy = hyena_state_copy,
    .step = hyena_step,
};

int sl_hyena_create(const sl_hyena_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_hyena_config c = *cfg;
    if (c.d_model <= 0 || c.l_max <= 0 || c.filter_order <= 0 || c.short_filter_order <= 0)
        return sl_error(SL_EINVAL, "hyena: d_model, l_max, filter_order and short_filter_order must be positive");
    if (c.emb_dim < 3 || c.emb_dim % 2 == 0)
        return sl_error(SL_EINVAL, "hyena: emb_dim=%d must be odd and >= 3 (time, then cosine and sine bands)", c.emb_dim);
    if (c.num_inner_mlps < 0 || c.num_inner_mlps > HY_MAX_MLPS)
        return sl_error(SL_EINVAL, "hyena: num_inner_mlps=%d outside 0..%d", c.num_inner_mlps, HY_MAX_MLPS);
    if (!(c.target > 0 && c.target < 1 && c.fast_decay_pct > 0 && c.slow_decay_pct > 0))
        return sl_error(SL_EINVAL, "hyena: need 0 < target < 1 and positive fast_decay_pct, slow_decay_pct");
    hyena_model *hm = calloc(1, sizeof *hm);
    if (!hm) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &hm->base;
    m->vt = &hyena_vt;
    m->P = P;
    m->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    m->d_in = m->d_out = c.d_model;
    m->max_len = c.l_max;
    hm->cfg = c;
    hm->C = c.d_model;
    hm->L = c.l_max;
    hm->M = c.filter_order;
    hm->E = c.emb_dim;
    hm->K = c.short_filter_order;
    hm->nl = c.num_inner_mlps + 1;
    const char *pre = prefix ? prefix : "";
    const int C = hm->C, M = hm->M;
    char name[96];
    int bad = 0;
#define ADD(var, nm, nd, a, b, cc) \
    do { \
        var = sl_params_add(P, pre, nm, nd, a, b, cc, 0); \
        if (var < 0) bad = var; \
    } while (0)
    ADD(hm->i_inw, "in_proj.weight", 2, 3 * C, C, 0);
    ADD(hm->i_inb, "in_proj.bias", 1, 3 * C, 0, 0);
    ADD(hm->i_ow, "out_proj.weight", 2, C, C, 0);
    ADD(hm->i_ob, "out_proj.bias", 1, C, 0, 0);
    ADD(hm->i_sw, "short_filter.weight", 3, 3 * C, 1, hm->K);
    ADD(hm->i_sb, "short_filter.bias", 1, 3 * C, 0, 0);
    ADD(hm->i_fb, "filter_fn.bias", 1, C, 0, 0);
    ADD(hm->i_z, "filter_fn.pos_emb.z", 3, 1, hm->L, hm->E);
    ADD(hm->i_t, "filter_fn.pos_emb.t", 3, 1, hm->L, 1);
    for (int l = 0; l < hm->nl; l++) {
        snprintf(name, sizeof name, "filter_fn.implicit_filter.%d.weight", 2 * l);
        ADD(hm->i_W[l], name, 2, M, l ? M : hm->E, 0);
        snprintf(name, sizeof name, "filter_fn.implicit_filter.%d.bias", 2 * l);
        ADD(hm->i_b[l], name, 1, M, 0, 0);
    }
    ADD(hm->i_freq, "filter_fn.implicit_filter.1.freq", 2, 1, M, 0);
    snprintf(name, sizeof name, "filter_fn.implicit_filter.%d.weight", 2 * hm->nl);
    ADD(hm->i_out, name, 2, C, M, 0);
    ADD(hm->i_dl, "filter_fn.modulation.deltas", 3, 1, 1, C);
#undef ADD
    if (bad) {
        hyena_destroy(m);
        return bad;
    }
    /* zoology: the filter MLP has weight decay 0; z trains at lr 1e-5 (here 1/100 of the run's);
     * t and the decay rates are buffers */
    for (int l = 0; l < hm->nl; l++) {
        sl_params_set_group(P, hm->i_W[l], 1.0f, 0.0f);
        sl_params_set_group(P, hm->i_b[l], 1.0f, 0.0f);
    }
    sl_params_set_group(P, hm->i_out, 1.0f, 0.0f);
    sl_params_set_group(P, hm->i_freq, 1.0f, 0.0f);
    sl_params_set_group(P, hm->i_z, 0.01f, 0.0f);
    sl_params_set_trainable(P, hm->i_t, 0);
    sl_params_set_trainable(P, hm->i_dl, 0);
    *out = m;
    return SL_OK;
}
