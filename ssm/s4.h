/* ssm/s4.h — S4 (Gu, Goel, Re 2022, "Efficiently Modeling Long Sequences with Structured State
 * Spaces"): HiPPO-LegS in diagonal-plus-low-rank (DPLR) form, the convolution kernel by a
 * Cauchy kernel and the Woodbury identity at the roots of unity plus an inverse FFT, and the
 * S4 block (kernel convolution + D skip -> activation -> Conv1d(H, 2H, 1) -> GLU).
 *
 * Continuous system per channel (N = d_state, N/2 modes stored, conjugate pairs implied):
 *   A = diag(Lambda) - P P^*,  Lambda = -exp(log_A_real) + i A_imag,  dt = exp(log_dt)
 * bilinear discretization; with Ct = C (I - Ab^L) (the learnt "C~" of the S4 code, L = l_max)
 *   Khat(w) = sum_{k<L} C Ab^k Bb w^k = 2 [k00 - (1+w) k01 k10 / (1 + (1+w) k11)],
 *   k_ab(w) = sum_{full spectrum} a_n b_n / ((2/dt)(1-w) - (1+w) lambda_n)
 * at w = exp(-2 pi i j / L), then K = irfft(Khat). (The factor (1+w) is folded into the Cauchy
 * denominator so w = -1 needs no special case.)
 * Step mode: O(N) per step on the half state (Woodbury, sl_s4_step); C = Ct (I - Ab^L)^-1 is
 * obtained once per state reset from the full N-dim system built densely (sl_s4_dense, also
 * the naive reference).
 *
 * Tensors: D (H), kernel.log_dt (H), kernel.C (H, N/2, 2) [= Ct], kernel.B (H, N/2, 2),
 * kernel.P (1, H, N/2, 2), kernel.log_A_real (H, N/2), kernel.A_imag (H, N/2),
 * output_linear.0.weight (2H, H, 1), output_linear.0.bias (2H). log_dt, log_A_real, A_imag,
 * B, P get lr_scale and no weight decay.
 */
#ifndef SL_SSM_S4_H
#define SL_SSM_S4_H

#include "seq/model.h"
#include "seq/spec.h"
#include "ssm/hippo.h" /* sl_dcomplex, sl_hippo_legs_dplr */

#ifdef __cplusplus
extern "C" {
#endif

/* sl_hippo_legs_dplr (ssm/hippo.h), under its S4 name */
int sl_s4_dplr_legs(int N, sl_dcomplex *lam, sl_dcomplex *P, sl_dcomplex *B, sl_dcomplex *V);

/* Kernel parameters of one channel (N2 = N/2 complex each) */
typedef struct {
    int N2;
    double dt;
    const sl_dcomplex *lam, *P, *B, *Ct;
} sl_s4_ssm;

/* Khat at the L/2+1 roots of unity (Cauchy + Woodbury) and K (L) = irfft(Khat) (FFTW, double) */
typedef struct sl_s4_fft sl_s4_fft;
sl_s4_fft *sl_s4_fft_alloc(int L);
void sl_s4_fft_free(sl_s4_fft *f);
int sl_s4_kernel(const sl_s4_ssm *s, sl_s4_fft *f, double *K);
/* dK (L) -> gradients (+=) wrt lam, P, B, Ct (complex convention g = dL/dRe + i dL/dIm) and dt */
int sl_s4_kernel_backward(const sl_s4_ssm *s, sl_s4_fft *f, const double *dK, sl_dcomplex *g_lam, sl_dcomplex *g_P,
                          sl_dcomplex *g_B, sl_dcomplex *g_Ct, double *g_dt);

/* Dense full-system bilinear discretization (N = 2 N2): Ab (N,N), Bb (N), C (N) = Ct_full
 * (I - Ab^L)^-1 (complex, row-major). The reference for the kernel and the step mode. */
int sl_s4_dense(const sl_s4_ssm *s, int L, sl_dcomplex *Ab, sl_dcomplex *Bb, sl_dcomplex *C);
/* naive kernel K_k = Re(C Ab^k Bb), k < L */
int sl_s4_kernel_naive(const sl_s4_ssm *s, int L, double *K);

/* O(N) bilinear step on the half state x (N2; the conjugate half is implied), with
 * d_n = 1/(1 - dt/2 lambda_n) precomputed and C (N2) the first half of sl_s4_dense's C:
 *   (I - dt/2 A) x' = (I + dt/2 A) x + dt B u,  A = Lambda - P P^* over the full state,
 * where P^* x_full = 2 Re(sum conj(P_n) x_n) is real, so the Woodbury solve is a scalar one.
 * Returns y = 2 Re(C . x'). */
double sl_s4_step(const sl_s4_ssm *s, const sl_dcomplex *d, const sl_dcomplex *C, sl_dcomplex *x, double u);

extern const sl_spec_key sl_s4_keys[];
typedef struct {
    int d_model, d_state, l_max;
    double dt_min, dt_max, dropout, lr_scale;
    const char *activation; /* seq/layers.h name; points into the spec or the key table */
} sl_s4_config;
/* The `s4` spec's keys bound to sl_s4_config (seq/spec.h), its defaults, and the constructors
 * from a configuration and from a spec already checked against the table. */
void sl_s4_config_default(sl_s4_config *c);
int sl_s4_create(const sl_s4_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_s4_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
