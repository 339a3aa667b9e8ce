/* ssm/h3.c — H3: shift SSM on the keys, diagonal (S4D) SSM on k v, multiplicative
 * interactions with q, multi-head (equations, names: h3.h). The diagonal kernel is S4D's
 * (ssm/s4d.c, bilinear) with C' = B C; both long convolutions are ssm/fftconv.c's. */
#include "ssm/h3.h"
#include "core/error.h"
#include "seq/layers.h"
#include "ssm/fftconv.h"
#include "ssm/s4d.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model base;
    sl_h3_config cfg;
    int C, H, hd, N, N2, KV; /* channels, heads, head_dim, d_state, modes, kv channels H hd^2 */
    int i_qw, i_qb, i_kw, i_kb, i_vw, i_vb, i_ow, i_ob, i_sB, i_sC, i_kD, i_dC, i_dB, i_dt, i_ar, i_ai, i_D;
    int B, T;
    sl_fftconv *fc;
    sl_buf xin, q, k, v, kc, kp, kv, s, o, Ks, Kd, Kdr, Cp;
    sl_buf go, gs, gkv, gkp, gk, gq, gv, gKs, gKdr, gKd, gCp;
} h3_model;

typedef struct {
    int B;
    float *sh;                    /* (B, C, N) shift registers */
    double complex *st;           /* (B, KV, N2) diagonal SSM states */
    double complex *Ab, *Bb, *Cp; /* (H, N2) */
    float *q, *k, *v, *kp, *o;
} h3_state;

static const int naive_vals[] = {0, 1};
const sl_spec_key sl_h3_keys[] = {
    SL_KEY_INT(sl_h3_config, d_model, "d_model", "64", 1, 65536, "model width"),
    SL_KEY_INT(sl_h3_config, d_state, "d_state", "64", 2, 4096,
               "N: shift-SSM taps, and 2x the diagonal SSM's complex modes (even)"),
    SL_KEY_INT(sl_h3_config, head_dim, "head_dim", "1", 1, 4096,
               "channels per head; d_model / head_dim heads, kv state head_dim^2 per head"),
    SL_KEY_DOUBLE(sl_h3_config, dt_min, "dt_min", "0.001", 1e-8, 10, "smallest initial step size of the diagonal SSM"),
    SL_KEY_DOUBLE(sl_h3_config, dt_max, "dt_max", "0.1", 1e-8, 10, "largest initial step size"),
    SL_KEY_CHOICE(sl_h3_config, naive, "conv", "fft", "fft|naive", naive_vals,
                  "long convolutions by FFT, or as direct O(T^2) sums (the reference)"),
    SL_KEY_END,
};

void sl_h3_config_default(sl_h3_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_h3_keys, c);
}

int sl_h3_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_h3_config c;
    sl_h3_config_default(&c);
    int rc = sl_spec_read(s, sl_h3_keys, &c);
    return rc ? rc : sl_h3_create(&c, P, prefix, out);
}

/* ---- the shift SSM's kernel ---------------------------------------------------------------- */

void sl_h3_shift_kernel(float *K, const float *Bs, const float *Cs, int C, int N, int L)
{
    for (int c = 0; c < C; c++)
        for (int j = 0; j < L; j++) {
            float s = 0.0f;
            for (int m = 0; m + j < N; m++) s += Bs[(size_t)c * N + m] * Cs[(size_t)c * N + m + j];
            K[(size_t)c * L + j] = s;
        }
}

void sl_h3_shift_kernel_backward(float *dBs, float *dCs, const float *dK, const float *Bs, const float *Cs, int C, int N, int L)
{
    for (int c = 0; c < C; c++)
        for (int j = 0; j < L && j < N; j++) {
            const float g = dK[(size_t)c * L + j];
            for (int m = 0; m + j < N; m++) {
                dBs[(size_t)c * N + m] += g * Cs[(size_t)c * N + m + j];
                dCs[(size_t)c * N + m + j] += g * Bs[(size_t)c * N + m];
            }
        }
}

/* ---- convolutions: FFT or the naive reference ---------------------------------------------- */

static int conv_fwd(h3_model *hm, float *y, const float *u, const float *K, int Cn)
{
    if (hm->cfg.naive) {
        sl_conv_naive_forward(y, u, K, hm->B, hm->T, Cn);
        return SL_OK;
    }
    return sl_fftconv_forward(hm->fc, y, u, K, hm->B, Cn);
}

static int conv_bwd(h3_model *hm, float *du, float *dK, const float *dy, const float *u, const float *K, int Cn)
{
    if (hm->cfg.naive) {
        sl_conv_naive_backward(du, dK, dy, u, K, hm->B, hm->T, Cn);
        return SL_OK;
    }
    return sl_fftconv_backward(hm->fc, du, dK, dy, u, K, hm->B, Cn);
}

/* Cp (H, N2, 2) = B * C, complex products of kernel.kernel.B and kernel.kernel.C */
static void h3_cprime(const h3_model *hm, float *Cp)
{
    const float *Bk = sl_params_data(hm->base.P, hm->i_dB), *Ck = sl_params_data(hm->base.P, hm->i_dC);
    for (int i = 0; i < hm->H * hm->N2; i++) {
        float br = Bk[2 * i], bi = Bk[2 * i + 1], cr = Ck[2 * i], ci = Ck[2 * i + 1];
        Cp[2 * i] = br * cr - bi * ci;
        Cp[2 * i + 1] = br * ci + bi * cr;
    }
}

static int h3_forward(sl_model *m, const float *x, const int32_t *tok, float *out, int B, int T)
{
    h3_model *hm = (h3_model *)m;
    const sl_params *P = m->P;
    const int C = hm->C, H = hm->H, hd = hm->hd, KV = hm->KV, N2 = hm->N2;
    const size_t N = (size_t)B * T;
    int rc;
    sl_buf *bufs[] = {&hm->xin, &hm->q, &hm->k,  &hm->v,  &hm->kc,  &hm->kp, &hm->kv,
                      &hm->s,   &hm->o, &hm->Ks, &hm->Kd, &hm->Kdr, &hm->Cp};
    size_t need[] = {N * C,
                     N * C,
                     N * C,
                     N * C,
                     N * C,
                     N * C,
                     N * KV,
                     N * KV,
                     N * C,
                     (size_t)C * T,
                     (size_t)H * T,
                     (size_t)KV * T,
                     (size_t)H * N2 * 2};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if ((rc = sl_buf_reserve(bufs[i], need[i]))) return rc;
    if (!hm->cfg.naive && (!hm->fc || sl_fftconv_len(hm->fc) != T)) {
        sl_fftconv_free(hm->fc);
        if (!(hm->fc = sl_fftconv_alloc(T))) return SL_ENOMEM;
    }
    hm->B = B;
    hm->T = T;
    memcpy(hm->xin.p, x, N * C * sizeof(float));
    sl_linear_forward(hm->q.p, x, sl_params_data(P, hm->i_qw), sl_params_data(P, hm->i_qb), (int)N, C, C);
    sl_linear_forward(hm->k.p, x, sl_params_data(P, hm->i_kw), sl_params_data(P, hm->i_kb), (int)N, C, C);
    sl_linear_forward(hm->v.p, x, sl_params_data(P, hm->i_vw), sl_params_data(P, hm->i_vb), (int)N, C, C);
    /* shift SSM: k' = Ks (*) k + ssm_k_D k */
    sl_h3_shift_kernel(hm->Ks.p, sl_params_data(P, hm->i_sB), sl_params_data(P, hm->i_sC), C, hm->N, T);
    if ((rc = conv_fwd(hm, hm->kc.p, hm->k.p, hm->Ks.p, C))) return rc;
    const float *kD = sl_params_data(P, hm->i_kD), *D = sl_params_data(P, hm->i_D);
    for (size_t n = 0; n < N; n++)
        for (int c = 0; c < C; c++) hm->kp.p[n * C + c] = hm->kc.p[n * C + c] + kD[c] * hm->k.p[n * C + c];
    /* kv[h, d1, d2] = k'[h hd + d1] v[h hd + d2] */
    for (size_t n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int a = 0; a < hd; a++)
                for (int b = 0; b < hd; b++)
                    hm->kv.p[n * KV + ((size_t)h * hd + a) * hd + b] = hm->kp.p[n * C + h * hd + a] * hm->v.p[n * C + h * hd + b];
    /* diagonal SSM kernel per head, repeated over its hd^2 kv channels */
    h3_cprime(hm, hm->Cp.p);
    const float *ldt = sl_params_data(P, hm->i_dt), *ar = sl_params_data(P, hm->i_ar), *ai = sl_params_data(P, hm->i_ai);
    if (hm->cfg.naive) {
        double *Kd = malloc((size_t)H * T * sizeof *Kd);
        if (!Kd) return sl_error(SL_ENOMEM, "h3: out of memory");
        sl_s4d_kernel_naive(Kd, ldt, hm->Cp.p, ar, ai, H, N2, T, SL_SSM_BILINEAR);
        for (size_t i = 0; i < (size_t)H * T; i++) hm->Kd.p[i] = (float)Kd[i];
        free(Kd);
    } else {
        sl_s4d_kernel(hm->Kd.p, ldt, hm->Cp.p, ar, ai, H, N2, T, SL_SSM_BILINEAR);
    }
    for (int ch = 0; ch < KV; ch++)
        memcpy(hm->Kdr.p + (size_t)ch * T, hm->Kd.p + (size_t)(ch / (hd * hd)) * T, T * sizeof(float));
    if ((rc = conv_fwd(hm, hm->s.p, hm->kv.p, hm->Kdr.p, KV))) return rc;
    for (size_t n = 0; n < N; n++)
        for (int ch = 0; ch < KV; ch++) hm->s.p[n * KV + ch] += D[ch / (hd * hd)] * hm->kv.p[n * KV + ch];
    /* o[d2 H + h] = sum_d1 q[h hd + d1] s[h, d1, d2] */
    for (size_t n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int b = 0; b < hd; b++) {
                float acc = 0.0f;
                for (int a = 0; a < hd; a++) acc += hm->q.p[n * C + h * hd + a] * hm->s.p[n * KV + ((size_t)h * hd + a) * hd + b];
                hm->o.p[n * C + (size_t)b * H + h] = acc;
            }
    sl_linear_forward(out, hm->o.p, sl_params_data(P, hm->i_ow), sl_params_data(P, hm->i_ob), (int)N, C, C);
    return SL_OK;
}

static int h3_backward(sl_model *m, const float *dout, float *dx)
{
    h3_model *hm = (h3_model *)m;
    sl_params *P = m->P;
    const int C = hm->C, H = hm->H, hd = hm->hd, KV = hm->KV, N2 = hm->N2, B = hm->B, T = hm->T;
    const size_t N = (size_t)B * T;
    if (B <= 0) return sl_error(SL_EINVAL, "h3: backward before forward");
    int rc;
    sl_buf *bufs[] = {&hm->go, &hm->gs, &hm->gkv, &hm->gkp, &hm->gk, &hm->gq, &hm->gv, &hm->gKs, &hm->gKdr, &hm->gKd, &hm->gCp};
    size_t need[] = {
        N * C, N * KV, N * KV, N * C, N * C, N * C, N * C, (size_t)C * T, (size_t)KV * T, (size_t)H * T, (size_t)H * N2 * 2};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if ((rc = sl_buf_reserve(bufs[i], need[i]))) return rc;
        memset(bufs[i]->p, 0, need[i] * sizeof(float));
    }
    sl_linear_backward(hm->go.p, sl_params_grad(P, hm->i_ow), sl_params_grad(P, hm->i_ob), dout, hm->o.p,
                       sl_params_data(P, hm->i_ow), (int)N, C, C);
    /* through o = sum_d1 q s */
    for (size_t n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int b = 0; b < hd; b++) {
                const float g = hm->go.p[n * C + (size_t)b * H + h];
                for (int a = 0; a < hd; a++) {
                    const size_t ch = n * KV + ((size_t)h * hd + a) * hd + b;
                    hm->gq.p[n * C + h * hd + a] += g * hm->s.p[ch];
                    hm->gs.p[ch] = g * hm->q.p[n * C + h * hd + a];
                }
            }
    /* through s = Kd (*) kv + D kv */
    const float *D = sl_params_data(P, hm->i_D);
    float *gD = sl_params_grad(P, hm->i_D);
    for (size_t n = 0; n < N; n++)
        for (int ch = 0; ch < KV; ch++) {
            gD[ch / (hd * hd)] += hm->gs.p[n * KV + ch] * hm->kv.p[n * KV + ch];
            hm->gkv.p[n * KV + ch] = D[ch / (hd * hd)] * hm->gs.p[n * KV + ch];
        }
    if ((rc = conv_bwd(hm, hm->gkv.p, hm->gKdr.p, hm->gs.p, hm->kv.p, hm->Kdr.p, KV))) return rc;
    for (int ch = 0; ch < KV; ch++)
        for (int l = 0; l < T; l++) hm->gKd.p[(size_t)(ch / (hd * hd)) * T + l] += hm->gKdr.p[(size_t)ch * T + l];
    const sl_s4d_kernel_params kp = {.log_dt = sl_params_data(P, hm->i_dt),
                                     .C = hm->Cp.p,
                                     .log_A_real = sl_params_data(P, hm->i_ar),
                                     .A_imag = sl_params_data(P, hm->i_ai),
                                     .H = H,
                                     .N2 = N2,
                                     .L = T,
                                     .disc = SL_SSM_BILINEAR};
    const sl_s4d_kernel_grads kg = {.g_log_dt = sl_params_grad(P, hm->i_dt),
                                    .g_C = hm->gCp.p,
                                    .g_log_A_real = sl_params_grad(P, hm->i_ar),
                                    .g_A_imag = sl_params_grad(P, hm->i_ai)};
    sl_s4d_kernel_backward(&kg, hm->gKd.p, &kp);
    /* C' = B C: gB += gC' conj(C), gC += gC' conj(B) (real-view gradients) */
    {
        const float *Bk = sl_params_data(P, hm->i_dB), *Ck = sl_params_data(P, hm->i_dC);
        float *gB = sl_params_grad(P, hm->i_dB), *gC = sl_params_grad(P, hm->i_dC);
        for (int i = 0; i < H * N2; i++) {
            float gr = hm->gCp.p[2 * i], gi = hm->gCp.p[2 * i + 1];
            gB[2 * i] += gr * Ck[2 * i] + gi * Ck[2 * i + 1];
            gB[2 * i + 1] += gi * Ck[2 * i] - gr * Ck[2 * i + 1];
            gC[2 * i] += gr * Bk[2 * i] + gi * Bk[2 * i + 1];
            gC[2 * i + 1] += gi * Bk[2 * i] - gr * Bk[2 * i + 1];
        }
    }
    /* through kv = k' v */
    for (size_t n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int a = 0; a < hd; a++)
                for (int b = 0; b < hd; b++) {
                    const float g = hm->gkv.p[n * KV + ((size_t)h * hd + a) * hd + b];
                    hm->gkp.p[n * C + h * hd + a] += g * hm->v.p[n * C + h * hd + b];
                    hm->gv.p[n * C + h * hd + b] += g * hm->kp.p[n * C + h * hd + a];
                }
    /* through k' = Ks (*) k + ssm_k_D k */
    const float *kD = sl_params_data(P, hm->i_kD);
    float *gkD = sl_params_grad(P, hm->i_kD);
    for (size_t n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            gkD[c] += hm->gkp.p[n * C + c] * hm->k.p[n * C + c];
            hm->gk.p[n * C + c] = kD[c] * hm->gkp.p[n * C + c];
        }
    if ((rc = conv_bwd(hm, hm->gk.p, hm->gKs.p, hm->gkp.p, hm->k.p, hm->Ks.p, C))) return rc;
    sl_h3_shift_kernel_backward(sl_params_grad(P, hm->i_sB), sl_params_grad(P, hm->i_sC), hm->gKs.p, sl_params_data(P, hm->i_sB),
                                sl_params_data(P, hm->i_sC), C, hm->N, T);
    sl_linear_backward(dx, sl_params_grad(P, hm->i_qw), sl_params_grad(P, hm->i_qb), hm->gq.p, hm->xin.p,
                       sl_params_data(P, hm->i_qw), (int)N, C, C);
    sl_linear_backward(dx, sl_params_grad(P, hm->i_kw), sl_params_grad(P, hm->i_kb), hm->gk.p, hm->xin.p,
                       sl_params_data(P, hm->i_kw), (int)N, C, C);
    sl_linear_backward(dx, sl_params_grad(P, hm->i_vw), sl_params_grad(P, hm->i_vb), hm->gv.p, hm->xin.p,
                       sl_params_data(P, hm->i_vw), (int)N, C, C);
    return SL_OK;
}

/* ---- step mode ------------------------------------------------------------------------------ */

static void h3_state_free(sl_model *m, void *state)
{
    (void)m;
    h3_state *s = state;
    if (!s) return;
    free(s->sh);
    free(s->st);
    free(s->Ab);
    free(s->Bb);
    free(s->Cp);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->kp);
    free(s->o);
    free(s);
}

static int h3_state_reset(sl_model *m, void *state)
{
    h3_model *hm = (h3_model *)m;
    h3_state *s = state;
    memset(s->sh, 0, (size_t)s->B * hm->C * hm->N * sizeof(float));
    for (size_t i = 0; i < (size_t)s->B * hm->KV * hm->N2; i++) s->st[i] = 0;
    return SL_OK;
}

static void *h3_state_new(sl_model *m, int B)
{
    h3_model *hm = (h3_model *)m;
    if (B <= 0) {
        sl_error(SL_ESHAPE, "h3: bad batch size %d", B);
        return NULL;
    }
    h3_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t b = (size_t)B, C = hm->C;
    s->B = B;
    s->sh = malloc(b * C * hm->N * sizeof(float));
    s->st = malloc(b * hm->KV * hm->N2 * sizeof(double complex));
    s->Ab = malloc((size_t)hm->H * hm->N2 * sizeof(double complex));
    s->Bb = malloc((size_t)hm->H * hm->N2 * sizeof(double complex));
    s->Cp = malloc((size_t)hm->H * hm->N2 * sizeof(double complex));
    s->q = malloc(b * C * sizeof(float));
    s->k = malloc(b * C * sizeof(float));
    s->v = malloc(b * C * sizeof(float));
    s->kp = malloc(b * C * sizeof(float));
    s->o = malloc(b * C * sizeof(float));
    if (!s->sh || !s->st || !s->Ab || !s->Bb || !s->Cp || !s->q || !s->k || !s->v || !s->kp || !s->o) {
        h3_state_free(m, s);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    h3_state_reset(m, s);
    return s;
}

/* shift register: sh <- (0, sh[0..N-2]) + B_s k, k' = C_s . sh + ssm_k_D k; diagonal modes:
 * st <- Ab st + Bb kv, s = 2 Re(C' . st) + D kv */
static int h3_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *out)
{
    h3_model *hm = (h3_model *)m;
    h3_state *s = state;
    const sl_params *P = m->P;
    const int B = s->B, C = hm->C, H = hm->H, hd = hm->hd, N = hm->N, N2 = hm->N2, KV = hm->KV;
    if (!x) return sl_error(SL_EINVAL, "h3 takes real input");
    sl_linear_forward(s->q, x, sl_params_data(P, hm->i_qw), sl_params_data(P, hm->i_qb), B, C, C);
    sl_linear_forward(s->k, x, sl_params_data(P, hm->i_kw), sl_params_data(P, hm->i_kb), B, C, C);
    sl_linear_forward(s->v, x, sl_params_data(P, hm->i_vw), sl_params_data(P, hm->i_vb), B, C, C);
    const float *Bs = sl_params_data(P, hm->i_sB), *Cs = sl_params_data(P, hm->i_sC), *kD = sl_params_data(P, hm->i_kD);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            float *sh = s->sh + ((size_t)b * C + c) * N, u = s->k[(size_t)b * C + c], acc = 0.0f;
            memmove(sh + 1, sh, (size_t)(N - 1) * sizeof(float));
            sh[0] = 0.0f;
            for (int n = 0; n < N; n++) {
                sh[n] += Bs[(size_t)c * N + n] * u;
                acc += Cs[(size_t)c * N + n] * sh[n];
            }
            s->kp[(size_t)b * C + c] = acc + kD[c] * u;
        }
    /* bilinear discretization of every mode, in double */
    float *Cp = malloc((size_t)H * N2 * 2 * sizeof(float));
    if (!Cp) return sl_error(SL_ENOMEM, "h3: out of memory");
    h3_cprime(hm, Cp);
    const float *ldt = sl_params_data(P, hm->i_dt), *ar = sl_params_data(P, hm->i_ar), *ai = sl_params_data(P, hm->i_ai);
    for (int h = 0; h < H; h++)
        for (int n = 0; n < N2; n++) {
            const size_t i = (size_t)h * N2 + n;
            const double dt = exp((double)ldt[h]);
            const double complex A = -exp((double)ar[i]) + I * (double)ai[i], qd = 1.0 - dt * A / 2.0;
            s->Ab[i] = (1.0 + dt * A / 2.0) / qd;
            s->Bb[i] = dt / qd;
            s->Cp[i] = Cp[2 * i] + I * Cp[2 * i + 1];
        }
    free(Cp);
    const float *D = sl_params_data(P, hm->i_D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int bb = 0; bb < hd; bb++) {
                float acc = 0.0f;
                for (int a = 0; a < hd; a++) {
                    const int ch = (h * hd + a) * hd + bb;
                    const float kv = s->kp[(size_t)b * C + h * hd + a] * s->v[(size_t)b * C + h * hd + bb];
                    double complex *st = s->st + ((size_t)b * KV + ch) * N2;
                    double y = 0.0;
                    for (int n = 0; n < N2; n++) {
                        const size_t i = (size_t)h * N2 + n;
                        st[n] = s->Ab[i] * st[n] + s->Bb[i] * kv;
                        y += 2.0 * creal(s->Cp[i] * st[n]);
                    }
                    acc += s->q[(size_t)b * C + h * hd + a] * ((float)y + D[h] * kv);
                }
                s->o[(size_t)b * C + (size_t)bb * H + h] = acc;
            }
    sl_linear_forward(out, s->o, sl_params_data(P, hm->i_ow), sl_params_data(P, hm->i_ob), B, C, C);
    return SL_OK;
}

/* zoology's initialisation: nn.Linear; shift B = e_1, shift C kaiming-uniform (bound 1/sqrt N);
 * ssm_k_D, D ~ N(0, 1); S4D-Lin A = -1/2 + i pi n, B = 1, C ~ complex N(0, 1),
 * log dt ~ U(log dt_min, log dt_max) */
static int h3_init(sl_model *m, sl_rng *rng)
{
    h3_model *hm = (h3_model *)m;
    sl_params *P = m->P;
    const int C = hm->C, H = hm->H, N = hm->N, N2 = hm->N2;
    const float a = 1.0f / sqrtf((float)C);
    int lin[] = {hm->i_qw, hm->i_qb, hm->i_kw, hm->i_kb, hm->i_vw, hm->i_vb, hm->i_ow, hm->i_ob};
    for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
        sl_rng_fill_uniform(rng, sl_params_data(P, lin[i]), P->t[lin[i]].numel, -a, a);
    float *sB = sl_params_data(P, hm->i_sB);
    memset(sB, 0, (size_t)C * N * sizeof(float));
    for (int c = 0; c < C; c++) sB[(size_t)c * N] = 1.0f;
    sl_rng_fill_uniform(rng, sl_params_data(P, hm->i_sC), (size_t)C * N, -1.0f / sqrtf((float)N), 1.0f / sqrtf((float)N));
    sl_rng_fill_normal(rng, sl_params_data(P, hm->i_kD), C, 1.0f);
    sl_rng_fill_normal(rng, sl_params_data(P, hm->i_D), H, 1.0f);
    float *ldt = sl_params_data(P, hm->i_dt), *ar = sl_params_data(P, hm->i_ar), *ai = sl_params_data(P, hm->i_ai);
    float *dB = sl_params_data(P, hm->i_dB);
    const double lo = log(hm->cfg.dt_min), hi = log(hm->cfg.dt_max);
    for (int h = 0; h < H; h++) {
        ldt[h] = (float)(lo + sl_rng_uniform(rng) * (hi - lo));
        for (int n = 0; n < N2; n++) {
            ar[(size_t)h * N2 + n] = (float)log(0.5);
            ai[(size_t)h * N2 + n] = (float)(M_PI * n);
            dB[2 * ((size_t)h * N2 + n)] = 1.0f;
            dB[2 * ((size_t)h * N2 + n) + 1] = 0.0f;
        }
    }
    sl_rng_fill_normal(rng, sl_params_data(P, hm->i_dC), (size_t)H * N2 * 2, (float)sqrt(0.5));
    return SL_OK;
}

static void h3_destroy(sl_model *m)
{
    h3_model *hm = (h3_model *)m;
    sl_buf *bufs[] = {&hm->xin, &hm->q,  &hm->k,  &hm->v,   &hm->kc,  &hm->kp,   &hm->kv,  &hm->s,
                      &hm->o,   &hm->Ks, &hm->Kd, &hm->Kdr, &hm->Cp,  &hm->go,   &hm->gs,  &hm->gkv,
                      &hm->gkp, &hm->gk, &hm->gq, &hm->gv,  &hm->gKs, &hm->gKdr, &hm->gKd, &hm->gCp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) sl_buf_free(bufs[i]);
    sl_fftconv_free(hm->fc);
    free(hm);
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int h3_state_copy(sl_model *base_, void *dst, const void *src)
{
    h3_model *hm = (h3_model *)base_;
    h3_state *d = dst;
    const h3_state *s = src;
    const size_t b = (size_t)s->B;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "h3: state copy: %d rows into %d", s->B, d->B);
    memcpy(d->sh, s->sh, b * hm->C * hm->N * sizeof(float));
    memcpy(d->st, s->st, b * hm->KV * hm->N2 * sizeof(double complex));
    return SL_OK;
}

/* seq/model.h's state_reset_rows: the chosen rows' shift registers and SSM states to zero */
static int h3_state_reset_rows(sl_model *base, void *p, const uint8_t *rows, int B)
{
    h3_model *hm = (h3_model *)base;
    h3_state *s = p;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", base->vt->kind, B, s->B);
    const size_t nsh = (size_t)hm->C * hm->N, nst = (size_t)hm->KV * hm->N2;
    for (int b = 0; b < B; b++)
        if (rows[b]) {
            memset(s->sh + b * nsh, 0, nsh * sizeof(float));
            for (size_t i = 0; i < nst; i++) s->st[b * nst + i] = 0;
        }
    return SL_OK;
}

static const sl_model_vt h3_vt = {
    .kind = "h3",
    .destroy = h3_destroy,
    .init = h3_init,
    .forward = h3_forward,
    .backward = h3_backward,
    .state_new = h3_state_new,
    .state_free = h3_state_free,
    .state_reset = h3_state_reset,
    .state_reset_rows = h3_state_reset_rows,
    .state_copy = h3_state_copy,
    .step = h3_step,
};

int sl_h3_create(const sl_h3_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    const sl_h3_config c = *cfg;
    if (c.d_model <= 0 || c.head_dim <= 0 || c.d_state < 2)
        return sl_error(SL_EINVAL, "h3: d_model and head_dim must be positive and d_state >= 2");
    if (c.d_state % 2) return sl_error(SL_EINVAL, "h3: d_state=%d must be even (d_state/2 complex modes)", c.d_state);
    if (c.d_model % c.head_dim)
        return sl_error(SL_EINVAL, "h3: d_model=%d is not a multiple of head_dim=%d", c.d_model, c.head_dim);
    if (!(c.dt_min > 0 && c.dt_min <= c.dt_max)) return sl_error(SL_EINVAL, "h3: need 0 < dt_min <= dt_max");
    h3_model *hm = calloc(1, sizeof *hm);
    if (!hm) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &hm->base;
    m->vt = &h3_vt;
    m->P = P;
    m->caps = SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER;
    m->d_in = m->d_out = c.d_model;
    hm->cfg = c;
    hm->C = c.d_model;
    hm->hd = c.head_dim;
    hm->H = c.d_model / c.head_dim;
    hm->N = c.d_state;
    hm->N2 = c.d_state / 2;
    hm->KV = hm->H * c.head_dim * c.head_dim;
    const char *pre = prefix ? prefix : "";
    const int C = hm->C, H = hm->H, N = hm->N, N2 = hm->N2;
    hm->i_qw = sl_params_add(P, pre, "q_proj.weight", 2, C, C, 0, 0);
    hm->i_qb = sl_params_add(P, pre, "q_proj.bias", 1, C, 0, 0, 0);
    hm->i_kw = sl_params_add(P, pre, "k_proj.weight", 2, C, C, 0, 0);
    hm->i_kb = sl_params_add(P, pre, "k_proj.bias", 1, C, 0, 0, 0);
    hm->i_vw = sl_params_add(P, pre, "v_proj.weight", 2, C, C, 0, 0);
    hm->i_vb = sl_params_add(P, pre, "v_proj.bias", 1, C, 0, 0, 0);
    hm->i_sB = sl_params_add(P, pre, "ssm_k_kernel.kernel.B", 2, C, N, 0, 0);
    hm->i_sC = sl_params_add(P, pre, "ssm_k_kernel.kernel.C", 3, 1, C, N, 0);
    hm->i_kD = sl_params_add(P, pre, "ssm_k_D", 1, C, 0, 0, 0);
    hm->i_dC = sl_params_add(P, pre, "kernel.kernel.C", 4, 1, H, N2, 2);
    hm->i_dt = sl_params_add(P, pre, "kernel.kernel.log_dt", 1, H, 0, 0, 0);
    hm->i_dB = sl_params_add(P, pre, "kernel.kernel.B", 3, H, N2, 2, 0);
    hm->i_ar = sl_params_add(P, pre, "kernel.kernel.inv_A_real", 2, H, N2, 0, 0);
    hm->i_ai = sl_params_add(P, pre, "kernel.kernel.A_imag", 2, H, N2, 0, 0);
    hm->i_D = sl_params_add(P, pre, "D", 1, H, 0, 0, 0);
    hm->i_ow = sl_params_add(P, pre, "output_linear.weight", 2, C, C, 0, 0);
    hm->i_ob = sl_params_add(P, pre, "output_linear.bias", 1, C, 0, 0, 0);
    int idx[] = {hm->i_qw, hm->i_qb, hm->i_kw, hm->i_kb, hm->i_vw, hm->i_vb, hm->i_sB, hm->i_sC, hm->i_kD,
                 hm->i_dC, hm->i_dt, hm->i_dB, hm->i_ar, hm->i_ai, hm->i_D,  hm->i_ow, hm->i_ob};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] < 0) {
            h3_destroy(m);
            return idx[i];
        }
    /* zoology's OptimModule.register: no weight decay on the SSM parameters */
    int nowd[] = {hm->i_sB, hm->i_dt, hm->i_dB, hm->i_ar, hm->i_ai};
    for (size_t i = 0; i < sizeof nowd / sizeof nowd[0]; i++) sl_params_set_group(P, nowd[i], 1.0f, 0.0f);
    *out = m;
    return SL_OK;
}
