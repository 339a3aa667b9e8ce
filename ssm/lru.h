/* ssm/lru.h — the Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural
 * Networks for Long Sequences"), the layer of the paper's appendix A with the parameter names
 * of its JAX code and of the minimal-LRU ports.
 *
 * Per state mode n < N (N = d_hidden) and channel h < H (H = d_model):
 *   lambda_n = exp(-exp(nu_log_n) + i exp(theta_log_n))           (|lambda| < 1 by construction)
 *   x_t = lambda (.) x_{t-1} + exp(gamma_log) (.) ((B_re + i B_im) u_t)     x_t in C^N
 *   y_t = Re((C_re + i C_im) x_t) + D (.) u_t
 * Tensors: nu_log (N), theta_log (N), gamma_log (N), B_re (N, H), B_im (N, H), C_re (H, N),
 * C_im (H, N), D (H). nu_log, theta_log, gamma_log get lr_scale and no weight decay.
 * Ring init: |lambda|^2 ~ U(r_min^2, r_max^2), arg lambda ~ U(0, max_phase), gamma_log =
 * log sqrt(1 - |lambda|^2), B ~ N(0, 1/(2H)), C ~ N(0, 1/N), D ~ N(0, 1).
 *
 * Sequence mode runs the recurrence as a chunked scan (sl_lru_scan): every chunk of
 * chunk_size steps scans from a zero state (chunks in parallel), the chunk-end states are
 * carried across chunks (T / chunk_size steps), and each chunk adds lambda^(j+1) times the
 * incoming state to its j-th row (in parallel). Backward is the same scan run backwards with
 * conj(lambda). Step mode is the recurrence itself. */
#ifndef SL_SSM_LRU_H
#define SL_SSM_LRU_H

#include "seq/model.h"
#include "seq/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The diagonal complex scan over B sequences of T steps and N modes, in place:
 * x (B, T, N) as re/im planes xr, xi; on entry the inputs v_t, on return the states
 * h_t = lam (.) h_{t-1} + v_t (h_{-1} = 0), or with reverse = 1 h_t = lam (.) h_{t+1} + v_t
 * (h_T = 0). lam (N) as lr, li. Chunks of L steps; ws holds 2 * B * ceil(T/L) * N floats. */
void sl_lru_scan(float *xr, float *xi, const float *lr, const float *li, int B, int T, int N, int L, int reverse, float *ws);
/* reference: the plain loop in double */
void sl_lru_scan_naive(double *hr, double *hi, const float *vr, const float *vi, const float *lr, const float *li, int B, int T,
                       int N, int reverse);

typedef struct {
    int d_model, d_hidden, chunk_size;
    double r_min, r_max, max_phase, lr_scale;
} sl_lru_config;

/* The `lru` spec's keys bound to sl_lru_config (seq/spec.h), their defaults, and the
 * constructors from a configuration and from a spec already checked against the table. */
extern const sl_spec_key sl_lru_keys[];
void sl_lru_config_default(sl_lru_config *c);
int sl_lru_create(const sl_lru_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_lru_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
