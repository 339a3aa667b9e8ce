/* ssm/h3.h — H3 (Fu, Dao et al. 2023, "Hungry Hungry Hippos"), zoology/safari `H3` names.
 *
 * C = d_model channels, hd = head_dim, H = C / hd heads, N = d_state (N/2 complex modes):
 *   q, k, v = x q_proj^T + b, x k_proj^T + b, x v_proj^T + b                    (B, T, C)
 *   shift SSM on k:  Ks[c, j] = sum_m B_s[c, m] C_s[c, m + j]  (j < N, else 0)   per channel
 *                    k' = Ks (*) k + ssm_k_D k                 (causal convolution along time)
 *   kv[h, d1, d2]  = k'[h hd + d1] v[h hd + d2]                                  per position
 *   diagonal SSM:    Kd[h, l] = 2 Re sum_n C'[h, n] Bb[h, n] Ab[h, n]^l  (S4D kernel, bilinear,
 *                    A = -exp(inv_A_real) + i A_imag, dt = exp(log_dt), C' = B C complex)
 *                    s[h, d1, d2] = Kd[h] (*) kv[h, d1, d2] + D[h] kv[h, d1, d2]
 *   o[d2 H + h]    = sum_d1 q[h hd + d1] s[h, d1, d2]          (zoology's output channel order)
 *   y = o output_linear^T + b
 * Sequence mode: both convolutions by FFT (ssm/fftconv.c, FFTW), O(T log T) per channel;
 * `conv=naive` takes the direct O(T^2) sums and the kernel in double (the reference). Step mode:
 * the shift register (N values per channel) and the diagonal state (N/2 complex modes per
 * (head, d1, d2)), y_t = 2 Re(C' . s_t), s_t = Ab s_{t-1} + Bb kv_t.
 *
 * Tensors: q_proj/k_proj/v_proj/output_linear .weight (C, C) .bias (C); ssm_k_kernel.kernel.B
 * (C, N), ssm_k_kernel.kernel.C (1, C, N), ssm_k_D (C); kernel.kernel.C (1, H, N/2, 2),
 * kernel.kernel.B (H, N/2, 2), kernel.kernel.log_dt (H), kernel.kernel.inv_A_real (H, N/2),
 * kernel.kernel.A_imag (H, N/2), D (H). The SSM's B, log_dt, inv_A_real, A_imag and the
 * shift B have no weight decay (zoology's OptimModule.register).
 */
#ifndef SL_SSM_H3_H
#define SL_SSM_H3_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int d_model, d_state, head_dim;
    double dt_min, dt_max;
    int naive; /* conv=naive: direct convolutions (the reference) */
} sl_h3_config;

extern const sl_spec_key sl_h3_keys[];
void sl_h3_config_default(sl_h3_config *c);
int sl_h3_create(const sl_h3_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_h3_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* The shift SSM's kernel Ks (C, L) from B_s (C, N), C_s (C, N); backward accumulates. */
void sl_h3_shift_kernel(float *K, const float *Bs, const float *Cs, int C, int N, int L);
void sl_h3_shift_kernel_backward(float *dBs, float *dCs, const float *dK, const float *Bs, const float *Cs, int C, int N, int L);

#ifdef __cplusplus
}
#endif
#endif
