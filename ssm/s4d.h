/* ssm/s4d.h — S4D, the diagonal state-space layer (Gu, Gupta, Goel, Re 2022, "On the
 * Parameterization and Initialization of Diagonal State Space Models"), in the layout of the
 * minimal s4d.py of the state-spaces repository.
 *
 * Per channel h (H = d_model) and mode n < N/2 (N = d_state):
 *   A = -exp(log_A_real) + i A_imag,  dt = exp(log_dt)
 *   ZOH:      Ab = exp(dt A),                    Bb = (exp(dt A) - 1) / A
 *   bilinear: Ab = (1 + dt A/2) / (1 - dt A/2),  Bb = dt / (1 - dt A/2)
 *   K[h,l] = 2 Re sum_n C[h,n] Bb[h,n] Ab[h,n]^l            (Vandermonde kernel)
 *   z = K (*) u + D u -> GELU -> Conv1d(H, 2H, 1) -> GLU(dim = channels)
 * Step mode: s <- Ab s + Bb u, z = 2 Re(C . s) + D u, then the same output layers.
 *
 * Tensors: D (H), kernel.log_dt (H), kernel.C (H, N/2, 2) [real view of complex],
 * kernel.log_A_real (H, N/2), kernel.A_imag (H, N/2), output_linear.0.weight (2H, H, 1),
 * output_linear.0.bias (2H). log_dt, log_A_real, A_imag get lr_scale and no weight decay.
 * Initialisations: lin (A = -1/2 + i pi n), inv (-1/2 + i N/pi (N/(2n+1) - 1)),
 * real (-(n+1)), legs (eigenvalues of the normal part of HiPPO-LegS).
 */
#ifndef SL_SSM_S4D_H
#define SL_SSM_S4D_H

#include "seq/model.h"
#include "seq/spec.h"
#include "ssm/ssmblock.h" /* SL_SSM_ZOH, SL_SSM_BILINEAR */

#ifdef __cplusplus
extern "C" {
#endif

/* K (H, L) from the parameters (double inside): powers by recurrence */
void sl_s4d_kernel(float *K, const float *log_dt, const float *C, const float *log_A_real, const float *A_imag, int H, int N2,
                   int L, int disc);
/* reference: every power as exp(l dt A) (ZOH) / cpow (bilinear), as the PyTorch code does */
void sl_s4d_kernel_naive(double *K, const float *log_dt, const float *C, const float *log_A_real, const float *A_imag, int H,
                         int N2, int L, int disc);
/* backward: dK (H, L) -> gradients accumulated (+=) into g's fields (any may be NULL), for
 * the kernel of the parameters in p (sl_s4d_kernel's arguments) */
typedef struct {
    const float *log_dt;     /* (H) */
    const float *C;          /* (H, N2, 2) */
    const float *log_A_real; /* (H, N2) */
    const float *A_imag;     /* (H, N2) */
    int H, N2, L, disc;
} sl_s4d_kernel_params;
typedef struct {
    float *g_log_dt, *g_C, *g_log_A_real, *g_A_imag; /* shaped as above */
} sl_s4d_kernel_grads;
void sl_s4d_kernel_backward(const sl_s4d_kernel_grads *g, const float *dK, const sl_s4d_kernel_params *p);

/* initial A (N2 complex as re/im) for init = lin, inv, real, legs; N = 2*N2 */
int sl_s4d_init_A(const char *init, int N2, double *re, double *im);

extern const sl_spec_key sl_s4d_keys[];
typedef struct {
    int d_model, d_state;
    const char *init;           /* lin, inv, real, legs */
    const char *discretization; /* zoh, bilinear */
    double dt_min, dt_max, dropout, lr_scale;
    const char *activation; /* seq/layers.h name */
} sl_s4d_config;            /* the strings point into the spec or the key table */
/* The `s4d` spec's keys bound to sl_s4d_config (seq/spec.h), its defaults, and the
 * constructors from a configuration and from a spec already checked against the table. */
void sl_s4d_config_default(sl_s4d_config *c);
int sl_s4d_create(const sl_s4d_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_s4d_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
