/* ssm/hippo.h — HiPPO operators (Gu, Dao, Ermon, Rudra, Re 2020, "HiPPO: Recurrent Memory with
 * Optimal Polynomial Projections"): transition matrices, their low-rank corrections,
 * discretizations, online function approximation and reconstruction, and the `hippo` mixer.
 *
 * Convention: x'(t) = A x(t) + B u(t) (A carries its minus sign), row-major double matrices,
 * unit time scale. A time-invariant measure of time scale theta uses (A/theta, B/theta), i.e.
 * the step dt/theta. LegS is time-varying: x' = (1/t) A x + (1/t) B u.
 *
 * Reconstruction coordinate x handed to sl_hippo_basis:
 *   legs              x = s/t in [0, 1]          (s the past time, t the present)
 *   legt, lmu, fout   x = (t - s)/theta in [0, 1] (age inside the sliding window)
 *   lagt, glagt       x = (t - s)/theta >= 0      (age, exponentially forgotten)
 * and f(s) ~= sum_n c_n phi_n(x).
 */
#ifndef SL_SSM_HIPPO_H
#define SL_SSM_HIPPO_H

#include "seq/model.h"
#include "seq/spec.h"

/* sl_dcomplex is C99's double complex; C++ sees the layout-compatible std::complex<double>
 * (the standard guarantees the two share representation), so the header compiles there too */
#ifdef __cplusplus
#include <complex>
typedef std::complex<double> sl_dcomplex;
#else
#include <complex.h>
typedef double complex sl_dcomplex;
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SL_HIPPO_LEGS = 0, /* scaled Legendre, uniform measure on [0, t] */
    SL_HIPPO_LEGT,     /* translated Legendre, window [t - theta, t], orthonormal (paper) scaling */
    SL_HIPPO_LMU,      /* translated Legendre with the LMU scaling (Voelker et al. 2019) */
    SL_HIPPO_LAGT,     /* translated Laguerre, alpha = 0, beta = 0 (tilted e^{-x/2} basis) */
    SL_HIPPO_GLAGT,    /* generalized Laguerre L_n^(alpha), tilt beta */
    SL_HIPPO_FOUT      /* translated Fourier on the window [t - theta, t] */
} sl_hippo_measure;

typedef enum {
    SL_DISC_FORWARD = 0, /* forward Euler: I + dt A                 (GBT alpha = 0) */
    SL_DISC_BACKWARD,    /* backward Euler: (I - dt A)^-1           (GBT alpha = 1) */
    SL_DISC_BILINEAR,    /* Tustin                                  (GBT alpha = 1/2) */
    SL_DISC_GBT,         /* generalized bilinear with any alpha */
    SL_DISC_ZOH          /* zero-order hold: exp(dt A), A^-1 (exp(dt A) - I) B */
} sl_disc;

int sl_hippo_measure_from_name(const char *name, sl_hippo_measure *m);
const char *sl_hippo_measure_name(sl_hippo_measure m);
/* forward|euler, backward, bilinear, gbt, zoh. *alpha gets the GBT alpha of the named rule
 * (left unchanged for gbt and zoh). */
int sl_disc_from_name(const char *name, sl_disc *d, double *alpha);

/* A (N,N), B (N) of measure m (alpha, beta only used by glagt: alpha > -1, beta). */
int sl_hippo_transition(sl_hippo_measure m, int N, double alpha, double beta, double *A, double *B);

/* Low-rank correction: P (rank, N), up to 2 rows, with A + sum_r P_r P_r^T normal
 * (legs: rank 1, legt: rank 2, lagt: rank 1, fout: rank 1). SL_EUNSUPPORTED for lmu and for
 * glagt with alpha != 0, which have no such correction of rank <= 2. */
int sl_hippo_lowrank(sl_hippo_measure m, int N, double alpha, double beta, double *P, int *rank);

/* Discretize (A, B) with step dt: Ad (N,N), Bd (N). gbt_alpha is used by SL_DISC_GBT.
 * ZOH uses GSL's matrix exponential on the augmented matrix [[A, B], [0, 0]]. */
int sl_hippo_discretize(sl_disc d, double gbt_alpha, const double *A, const double *B, int N, double dt, double *Ad, double *Bd);

/* Basis functions phi (N) at coordinate x (see above). */
int sl_hippo_basis(sl_hippo_measure m, int N, double alpha, double beta, double x, double *phi);
/* sum_n c_n phi_n(x) */
double sl_hippo_eval(sl_hippo_measure m, int N, double alpha, double beta, const double *c, double x);

/* ---- LegS, time-varying: step k = 1, 2, ... with GBT alpha ----
 *   c_k = (I - a A/k)^-1 [ (I + (1-a) A/k) c_{k-1} + B f_k / k ]
 * O(N) per step: A is lower triangular with A_nk = -r_n r_k (n > k), -(n+1) (n = k), so A x
 * and the triangular solve need one prefix sum. r (N) = sqrt(2n+1) from sl_hippo_legs_r;
 * work (N) scratch. */
void sl_hippo_legs_r(int N, double *r);
void sl_hippo_legs_step(double *c, int N, long k, double f, double a, const double *r, double *work);
/* the same step through the dense A and a LAPACK solve (the reference); returns status */
int sl_hippo_legs_step_dense(double *c, const double *A, const double *B, int N, long k, double f, double a);
/* structured products and solves with the LegS A (used by the mixer's backward):
 * y = A x, y = A^T x, solve (I - a A) x = y, solve (I - a A^T) x = y (x may alias y) */
void sl_hippo_legs_mv(double *y, const double *x, const double *r, int N);
void sl_hippo_legs_mtv(double *y, const double *x, const double *r, int N);
void sl_hippo_legs_solve(double *x, const double *y, double a, const double *r, int N);
void sl_hippo_legs_solve_t(double *x, const double *y, double a, const double *r, int N);

/* DPLR form of HiPPO-LegS: the normal part S = A + P P^T (P_n = sqrt(n + 1/2)) is -I/2 + skew;
 * its eigen-decomposition (LAPACKE zheev of -i * skew) gives S = V Lambda V^*. Returns the N/2
 * eigenvalues with positive imaginary part (ascending), P~ = V^* P, B~ = V^* B for them, and
 * (if V != NULL) those eigenvectors as columns of V (N, N/2). Any output may be NULL. N even. */
int sl_hippo_legs_dplr(int N, sl_dcomplex *lam, sl_dcomplex *P, sl_dcomplex *B, sl_dcomplex *V);

/* Online approximation of the samples f[0..L) taken at t_k = (k+1) dt, k = 0..L-1.
 * legs: the GBT step above with alpha = gbt_alpha (dt plays no role: LegS is scale-invariant);
 * otherwise c_k = Ad c_{k-1} + Bd f_k with (Ad, Bd) = discretize(A, B) at step dt/theta.
 * c (N) gets the final coefficients; online (L), if non-NULL, the reconstruction of the
 * present value f(t_k) from c_k (legs x = 1, the others age 0). */
int sl_hippo_online(sl_hippo_measure m, int N, double alpha, double beta, sl_disc d, double gbt_alpha, double dt_over_theta,
                    const double *f, long L, double *c, double *online);

/* ---- the hippo mixer (fixed operator, learnable read-out) ----
 * d_model channels, each with its own N-dim HiPPO state driven by its input channel:
 *   c_t = Ad c_{t-1} + Bd u_t   (LegS: the time-varying step above, t = 1, 2, ...)
 *   y_t = C_h . c_t + D_h u_t   C (H, N), D (H) learnable; A (N,N), B (N) frozen (continuous).
 */
typedef struct {
    int d_model, d_state;
    const char *measure;        /* legs, legt, lmu, lagt, glagt, fout */
    const char *discretization; /* forward, backward, bilinear, gbt, zoh */
    double gbt_alpha, dt, lag_alpha, lag_beta;
} sl_hippo_config; /* the strings point into the spec or the key table */
/* The `hippo` spec's keys bound to sl_hippo_config (seq/spec.h), its defaults, and the
 * constructors from a configuration and from a spec already checked against the table. */
extern const sl_spec_key sl_hippo_keys[];
void sl_hippo_config_default(sl_hippo_config *c);
int sl_hippo_create(const sl_hippo_config *cfg, sl_params *P, const char *prefix, sl_model **out);
int sl_hippo_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

#ifdef __cplusplus
}
#endif
#endif
