/* ssm/hippo.c — HiPPO transition matrices, low-rank corrections, discretizations, online
 * approximation (time-invariant measures and time-varying LegS) and reconstruction.
 *
 * Derivations (unit time scale, orthonormal bases, x' = A x + B u), r_n = sqrt(2n+1):
 *   LegS  A_nk = -r_n r_k (n > k), -(n+1) (n = k), 0 (n < k);  B_n = r_n;  x' = (A x + B u)/t.
 *         Basis on [0, t]: phi_n(s/t) = r_n P_n(2 s/t - 1).
 *   LegT  window [t-1, t], phi_n = r_n P_n(2(s-t) + 1):
 *         A_nk = -r_n r_k (k <= n), -r_n r_k (-1)^(n-k) (k > n);  B_n = r_n.
 *   LMU   the same system in c~_n = (-1)^n r_n c_n (Voelker et al.):
 *         A_nk = -(2n+1) (-1)^(n-k) (k <= n), -(2n+1) (k > n);  B_n = (2n+1)(-1)^n;
 *         f(t - r) ~= sum c~_n P_n(2r - 1).
 *   GLagT kernel L_n^(a)(x) e^{-(1+b)x/2} on the age x = t - s: with h_n = Gamma(n+a+1)/n!
 *         (normalised c_n / sqrt(h_n)): A_nk = -(1+b)/2 (n = k), -sqrt(h_k/h_n) (k < n);
 *         B_n = sqrt(h_n)/Gamma(a+1);  f(t-x) ~= x^a e^{-(1-b)x/2} sum c_n L_n^(a)(x)/sqrt(h_n).
 *         LagT is a = b = 0: A = I/2 - tril(1), B = 1 (the public HiPPO code's 'lagt').
 *   FouT  window [t-1, t], basis 1, sqrt2 cos(2 pi k xi), sqrt2 sin(2 pi k xi), xi = s - t + 1:
 *         A = Omega - 2 b b^T, B = 2 b, Omega[cos_k, sin_k] = 2 pi k = -Omega[sin_k, cos_k],
 *         b = (1, sqrt2, 0, sqrt2, 0, ...) = phi(window ends). The far end f(t-1) comes from the
 *         coefficients: the series gives (f(t) + f(t-1))/2 there, so f(t-1) ~= 2 b.c - f(t).
 * Each A + P P^T is normal: legs P_n = sqrt(n + 1/2) (A + PP^T = -I/2 + skew); legt P_even,
 * P_odd = r_n on even / odd n (skew); lagt P = 1/sqrt2 (skew - b/2 I); fout P = sqrt2 b (skew).
 */
#include "ssm/hippo.h"
#include "core/error.h"

#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sf_legendre.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    sl_hippo_measure m;
} measures[] = {
    {"legs", SL_HIPPO_LEGS}, {"legt", SL_HIPPO_LEGT},   {"lmu", SL_HIPPO_LMU},
    {"lagt", SL_HIPPO_LAGT}, {"glagt", SL_HIPPO_GLAGT}, {"fout", SL_HIPPO_FOUT},
};

int sl_hippo_measure_from_name(const char *name, sl_hippo_measure *m)
{
    for (size_t i = 0; i < sizeof measures / sizeof measures[0]; i++)
        if (!strcasecmp(name, measures[i].name)) {
            *m = measures[i].m;
            return SL_OK;
        }
    return sl_error(SL_EINVAL, "unknown HiPPO measure '%s' (legs, legt, lmu, lagt, glagt, fout)", name);
}

const char *sl_hippo_measure_name(sl_hippo_measure m)
{
    for (size_t i = 0; i < sizeof measures / sizeof measures[0]; i++)
        if (measures[i].m == m) return measures[i].name;
    return "?";
}

int sl_disc_from_name(const char *name, sl_disc *d, double *alpha)
{
    if (!strcasecmp(name, "forward") || !strcasecmp(name, "euler")) {
        *d = SL_DISC_FORWARD;
        *alpha = 0.0;
    } else if (!strcasecmp(name, "backward")) {
        *d = SL_DISC_BACKWARD;
        *alpha = 1.0;
    } else if (!strcasecmp(name, "bilinear")) {
        *d = SL_DISC_BILINEAR;
        *alpha = 0.5;
    } else if (!strcasecmp(name, "gbt")) *d = SL_DISC_GBT;
    else if (!strcasecmp(name, "zoh")) *d = SL_DISC_ZOH;
    else return sl_error(SL_EINVAL, "unknown discretization '%s' (forward, backward, bilinear, gbt, zoh)", name);
    return SL_OK;
}

/* log h_n = log Gamma(n+a+1) - log Gamma(n+1) */
static double lag_logh(int n, double a) { return gsl_sf_lngamma(n + a + 1.0) - gsl_sf_lngamma(n + 1.0); }

int sl_hippo_transition(sl_hippo_measure m, int N, double alpha, double beta, double *A, double *B)
{
    if (N < 1) return sl_error(SL_EINVAL, "hippo: N must be >= 1 (got %d)", N);
    memset(A, 0, (size_t)N * N * sizeof *A);
    switch (m) {
    case SL_HIPPO_LEGS:
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < n; k++) A[n * N + k] = -sqrt((2.0 * n + 1) * (2.0 * k + 1));
            A[n * N + n] = -(n + 1.0);
            B[n] = sqrt(2.0 * n + 1);
        }
        return SL_OK;
    case SL_HIPPO_LEGT:
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < N; k++) {
                double s = (k <= n || ((k - n) % 2 == 0)) ? 1.0 : -1.0;
                A[n * N + k] = -s * sqrt((2.0 * n + 1) * (2.0 * k + 1));
            }
            B[n] = sqrt(2.0 * n + 1);
        }
        return SL_OK;
    case SL_HIPPO_LMU:
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < N; k++) {
                double s = (k > n || ((n - k) % 2 == 0)) ? 1.0 : -1.0;
                A[n * N + k] = -s * (2.0 * n + 1);
            }
            B[n] = (n % 2 ? -1.0 : 1.0) * (2.0 * n + 1);
        }
        return SL_OK;
    case SL_HIPPO_LAGT:
        alpha = 0.0, beta = 0.0;
        /* fall through */
    case SL_HIPPO_GLAGT:
        if (!(alpha > -1.0) || !isfinite(alpha) || !isfinite(beta))
            return sl_error(SL_EINVAL, "hippo glagt: alpha must be > -1 (got %g), beta finite", alpha);
        for (int n = 0; n < N; n++) {
            double lhn = lag_logh(n, alpha);
            for (int k = 0; k < n; k++) A[n * N + k] = -exp(0.5 * (lag_logh(k, alpha) - lhn));
            A[n * N + n] = -(1.0 + beta) / 2.0;
            B[n] = exp(0.5 * lhn - gsl_sf_lngamma(alpha + 1.0));
        }
        return SL_OK;
    case SL_HIPPO_FOUT:
        for (int n = 0; n < N; n++) B[n] = n == 0 ? 1.0 : (n % 2 ? M_SQRT2 : 0.0);
        for (int n = 1; n + 1 < N; n += 2) { /* n = cos_k, n+1 = sin_k, k = (n+1)/2 */
            double w = 2.0 * M_PI * ((n + 1) / 2);
            A[n * N + n + 1] = w;
            A[(n + 1) * N + n] = -w;
        }
        /* the far end f(t-1) is estimated from the coefficients; the Fourier series converges
         * to the mean of the two window ends there, so f(t-1) ~= 2 B.c - f(t):
         * x' = (Omega - 2 B B^T) x + 2 B f */
        for (int n = 0; n < N; n++)
            for (int k = 0; k < N; k++) A[n * N + k] -= 2.0 * B[n] * B[k];
        for (int n = 0; n < N; n++) B[n] *= 2.0;
        return SL_OK;
    }
    return sl_error(SL_EINVAL, "hippo: bad measure %d", (int)m);
}

int sl_hippo_lowrank(sl_hippo_measure m, int N, double alpha, double beta, double *P, int *rank)
{
    (void)beta;
    if (N < 1) return sl_error(SL_EINVAL, "hippo: N must be >= 1 (got %d)", N);
    switch (m) {
    case SL_HIPPO_LEGS:
        *rank = 1;
        for (int n = 0; n < N; n++) P[n] = sqrt(n + 0.5);
        return SL_OK;
    case SL_HIPPO_LEGT:
        *rank = 2;
        for (int n = 0; n < N; n++) {
            P[n] = n % 2 ? 0.0 : sqrt(2.0 * n + 1);
            P[N + n] = n % 2 ? sqrt(2.0 * n + 1) : 0.0;
        }
        return SL_OK;
    case SL_HIPPO_GLAGT:
        if (alpha != 0.0) break;
        /* fall through */
    case SL_HIPPO_LAGT:
        *rank = 1;
        for (int n = 0; n < N; n++) P[n] = M_SQRT1_2;
        return SL_OK;
    case SL_HIPPO_FOUT: {
        *rank = 1;
        double *A = malloc((size_t)N * N * sizeof *A);
        if (!A) return sl_error(SL_ENOMEM, "out of memory");
        int rc = sl_hippo_transition(m, N, alpha, beta, A, P);
        for (int n = 0; n < N; n++) P[n] *= M_SQRT1_2; /* A + P P^T = Omega with P = sqrt2 B_0 = B/sqrt2 */
        free(A);
        return rc;
    }
    default: break;
    }
    *rank = 0;
    return sl_error(SL_EUNSUPPORTED, "hippo %s: no low-rank (<= 2) normal correction is known for this measure%s",
                    sl_hippo_measure_name(m), m == SL_HIPPO_LMU ? " (use legt, the same system in an orthonormal basis)" : "");
}

/* ---- discretization ---- */

static int gbt(double a, const double *A, const double *B, int N, double dt, double *Ad, double *Bd)
{
    /* (I - a dt A) [Ad | Bd] = [(I + (1-a) dt A) | dt B] */
    double *M = malloc((size_t)N * N * sizeof *M), *R = malloc((size_t)N * (N + 1) * sizeof *R);
    lapack_int *piv = malloc((size_t)N * sizeof *piv);
    int rc = SL_OK;
    if (!M || !R || !piv) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            double e = (i == j);
            M[i * N + j] = e - a * dt * A[i * N + j];
            R[i * (N + 1) + j] = e + (1.0 - a) * dt * A[i * N + j];
        }
        R[i * (N + 1) + N] = dt * B[i];
    }
    if (a == 0.0) {
        for (int i = 0; i < N; i++) {
            memcpy(Ad + (size_t)i * N, R + (size_t)i * (N + 1), (size_t)N * sizeof *Ad);
            Bd[i] = R[i * (N + 1) + N];
        }
        goto done;
    }
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, N, N + 1, M, N, piv, R, N + 1);
    if (info) {
        rc = sl_error(SL_EINVAL, "hippo: I - %g*dt*A is singular (dgesv info %d)", a, (int)info);
        goto done;
    }
    for (int i = 0; i < N; i++) {
        memcpy(Ad + (size_t)i * N, R + (size_t)i * (N + 1), (size_t)N * sizeof *Ad);
        Bd[i] = R[i * (N + 1) + N];
    }
done:
    free(M);
    free(R);
    free(piv);
    return rc;
}

static int zoh(const double *A, const double *B, int N, double dt, double *Ad, double *Bd)
{
    /* exp(dt [[A, B], [0, 0]]) = [[exp(dt A), int_0^dt exp(sA) ds B], [0, 1]] (Van Loan) */
    int M = N + 1;
    gsl_matrix *X = gsl_matrix_calloc(M, M), *E = gsl_matrix_alloc(M, M);
    if (!X || !E) {
        gsl_matrix_free(X);
        gsl_matrix_free(E);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) gsl_matrix_set(X, i, j, dt * A[i * N + j]);
        gsl_matrix_set(X, i, N, dt * B[i]);
    }
    int st = gsl_linalg_exponential_ss(X, E, GSL_PREC_DOUBLE);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) Ad[i * N + j] = gsl_matrix_get(E, i, j);
        Bd[i] = gsl_matrix_get(E, i, N);
    }
    gsl_matrix_free(X);
    gsl_matrix_free(E);
    if (st) return sl_error(SL_EINVAL, "hippo: matrix exponential failed (gsl status %d)", st);
    return SL_OK;
}

int sl_hippo_discretize(sl_disc d, double gbt_alpha, const double *A, const double *B, int N, double dt, double *Ad, double *Bd)
{
    if (N < 1) return sl_error(SL_EINVAL, "hippo: N must be >= 1");
    if (!(dt > 0) || !isfinite(dt)) return sl_error(SL_EINVAL, "hippo: step dt must be > 0 (got %g)", dt);
    switch (d) {
    case SL_DISC_FORWARD: return gbt(0.0, A, B, N, dt, Ad, Bd);
    case SL_DISC_BACKWARD: return gbt(1.0, A, B, N, dt, Ad, Bd);
    case SL_DISC_BILINEAR: return gbt(0.5, A, B, N, dt, Ad, Bd);
    case SL_DISC_GBT:
        if (!(gbt_alpha >= 0 && gbt_alpha <= 1))
            return sl_error(SL_EINVAL, "hippo: GBT alpha must be in [0, 1] (got %g)", gbt_alpha);
        return gbt(gbt_alpha, A, B, N, dt, Ad, Bd);
    case SL_DISC_ZOH: return zoh(A, B, N, dt, Ad, Bd);
    }
    return sl_error(SL_EINVAL, "hippo: bad discretization %d", (int)d);
}

/* ---- reconstruction ---- */

int sl_hippo_basis(sl_hippo_measure m, int N, double alpha, double beta, double x, double *phi)
{
    if (N < 1) return sl_error(SL_EINVAL, "hippo: N must be >= 1");
    switch (m) {
    case SL_HIPPO_LEGS:
    case SL_HIPPO_LEGT:
    case SL_HIPPO_LMU: {
        double z = m == SL_HIPPO_LEGT ? 1.0 - 2.0 * x : 2.0 * x - 1.0;
        if (z < -1.0) z = -1.0;
        if (z > 1.0) z = 1.0;
        gsl_sf_legendre_Pl_array(N - 1, z, phi);
        if (m != SL_HIPPO_LMU)
            for (int n = 0; n < N; n++) phi[n] *= sqrt(2.0 * n + 1);
        return SL_OK;
    }
    case SL_HIPPO_LAGT:
        alpha = 0.0, beta = 0.0;
        /* fall through */
    case SL_HIPPO_GLAGT: {
        if (x < 0) x = 0;
        /* weighted three-term recurrence (the weight w(x) = x^a e^{-(1-b)x/2} is applied to the
         * seeds, so large x never overflows); t/t-hippo checks it against gsl_sf_laguerre_n */
        double w = (alpha == 0.0 ? 1.0 : pow(x, alpha)) * exp(-(1.0 - beta) * x / 2.0);
        double lm1 = 0.0, l0 = w;
        for (int n = 0; n < N; n++) {
            phi[n] = l0 * exp(-0.5 * lag_logh(n, alpha));
            double l1 = ((2.0 * n + 1.0 + alpha - x) * l0 - (n + alpha) * lm1) / (n + 1.0);
            lm1 = l0;
            l0 = l1;
        }
        return SL_OK;
    }
    case SL_HIPPO_FOUT: {
        double xi = 1.0 - x;
        phi[0] = 1.0;
        for (int n = 1; n < N; n++) {
            int k = (n + 1) / 2;
            phi[n] = M_SQRT2 * (n % 2 ? cos(2.0 * M_PI * k * xi) : sin(2.0 * M_PI * k * xi));
        }
        return SL_OK;
    }
    }
    return sl_error(SL_EINVAL, "hippo: bad measure %d", (int)m);
}

double sl_hippo_eval(sl_hippo_measure m, int N, double alpha, double beta, const double *c, double x)
{
    double *phi = malloc((size_t)N * sizeof *phi);
    if (!phi) return NAN;
    if (sl_hippo_basis(m, N, alpha, beta, x, phi)) {
        free(phi);
        return NAN;
    }
    double s = 0.0;
    for (int n = 0; n < N; n++) s += c[n] * phi[n];
    free(phi);
    return s;
}

/* ---- LegS structured operations ---- */

void sl_hippo_legs_r(int N, double *r)
{
    for (int n = 0; n < N; n++) r[n] = sqrt(2.0 * n + 1);
}

void sl_hippo_legs_mv(double *y, const double *x, const double *r, int N)
{
    double S = 0.0; /* sum_{k<n} r_k x_k */
    for (int n = 0; n < N; n++) {
        double xn = x[n];
        y[n] = -r[n] * S - (n + 1.0) * xn;
        S += r[n] * xn;
    }
}

void sl_hippo_legs_mtv(double *y, const double *x, const double *r, int N)
{
    double S = 0.0; /* sum_{n>k} r_n x_n */
    for (int k = N - 1; k >= 0; k--) {
        double xk = x[k];
        y[k] = -(k + 1.0) * xk - r[k] * S;
        S += r[k] * xk;
    }
}

void sl_hippo_legs_solve(double *x, const double *y, double a, const double *r, int N)
{
    /* (1 + a(n+1)) x_n + a r_n sum_{k<n} r_k x_k = y_n */
    double S = 0.0;
    for (int n = 0; n < N; n++) {
        x[n] = (y[n] - a * r[n] * S) / (1.0 + a * (n + 1.0));
        S += r[n] * x[n];
    }
}

void sl_hippo_legs_solve_t(double *x, const double *y, double a, const double *r, int N)
{
    double S = 0.0;
    for (int k = N - 1; k >= 0; k--) {
        x[k] = (y[k] - a * r[k] * S) / (1.0 + a * (k + 1.0));
        S += r[k] * x[k];
    }
}

void sl_hippo_legs_step(double *c, int N, long k, double f, double a, const double *r, double *work)
{
    double ik = 1.0 / (double)k;
    sl_hippo_legs_mv(work, c, r, N);
    for (int n = 0; n < N; n++) work[n] = c[n] + (1.0 - a) * ik * work[n] + ik * r[n] * f;
    sl_hippo_legs_solve(c, work, a * ik, r, N);
}

int sl_hippo_legs_step_dense(double *c, const double *A, const double *B, int N, long k, double f, double a)
{
    double ik = 1.0 / (double)k;
    double *M = malloc((size_t)N * N * sizeof *M), *r = malloc((size_t)N * sizeof *r);
    lapack_int *piv = malloc((size_t)N * sizeof *piv);
    int rc = SL_OK;
    if (!M || !r || !piv) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < N; i++) {
        double s = c[i] + ik * B[i] * f;
        for (int j = 0; j < N; j++) {
            s += (1.0 - a) * ik * A[i * N + j] * c[j];
            M[i * N + j] = (i == j) - a * ik * A[i * N + j];
        }
        r[i] = s;
    }
    if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, N, 1, M, N, piv, r, 1)) {
        rc = sl_error(SL_EINVAL, "hippo: singular LegS step");
        goto done;
    }
    memcpy(c, r, (size_t)N * sizeof *c);
done:
    free(M);
    free(r);
    free(piv);
    return rc;
}

/* DPLR form of LegS (S4), see hippo.h.
 *
 * The eigendecomposition calls LAPACK's zheev in column-major layout on buffers of our own,
 * each with SL_DPLR_SLACK spare elements after it. OpenBLAS 0.3.21's zgemv_n Haswell kernel
 * (zheev -> zhetrd -> zlatrd -> zgemv) reads past the end of its operands: valgrind shows
 * 16-byte reads up to ~900 bytes beyond them, and when the heap ends there the read faults
 * (seen as `seqlab eval` of an S4 run dying with SIGSEGV, depending on the environment's
 * size). LAPACKE's row-major path copies into buffers it allocates exactly, so it cannot be
 * padded; the column-major call gets the same matrix, triangle and workspace size, hence the
 * same eigenvalues and eigenvectors as before. */
enum { SL_DPLR_SLACK = 512 };

int sl_hippo_legs_dplr(int N, double complex *lam, double complex *Pt, double complex *Bt, double complex *V)
{
    if (N < 2 || N % 2) return sl_error(SL_EINVAL, "LegS DPLR: N must be even and >= 2 (got %d)", N);
    const int N2 = N / 2;
    /* S = A + P P^T = -I/2 + Sk, Sk_nk = -r_n r_k / 2 (n > k), +r_n r_k / 2 (n < k);
     * Hm = -i Sk is Hermitian, Sk = i Hm, so S = V (-1/2 + i mu) V^*.
     * Hm is stored column-major: Hm(n, k) at Hm[k * N + n]. */
    double complex *Hm = calloc((size_t)N * N + SL_DPLR_SLACK, sizeof *Hm);
    double *w = calloc((size_t)N + SL_DPLR_SLACK, sizeof *w);
    double *rwork = calloc((size_t)3 * N + SL_DPLR_SLACK, sizeof *rwork);
    double complex *work = NULL, wq = 0;
    int rc = SL_OK;
    if (!Hm || !w || !rwork) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < N; k++) {
            double rr = 0.5 * sqrt((2.0 * n + 1) * (2.0 * k + 1));
            double sk = n > k ? -rr : n < k ? rr : 0.0;
            Hm[(size_t)k * N + n] = -I * sk;
        }
    lapack_int info = LAPACKE_zheev_work(LAPACK_COL_MAJOR, 'V', 'U', N, Hm, N, w, &wq, -1, rwork);
    lapack_int lwork = info ? 0 : (lapack_int)creal(wq);
    if (!info && !(work = calloc((size_t)lwork + SL_DPLR_SLACK, sizeof *work))) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    if (!info) info = LAPACKE_zheev_work(LAPACK_COL_MAJOR, 'V', 'U', N, Hm, N, w, work, lwork, rwork);
    if (info) {
        rc = sl_error(SL_EINVAL, "LegS DPLR: eigendecomposition failed (zheev info %d)", (int)info);
        goto done;
    }
    /* ascending: the last N2 have mu > 0; eigenvector col is column col of Hm */
    for (int j = 0; j < N2; j++) {
        int col = N2 + j;
        if (lam) lam[j] = -0.5 + I * w[col];
        double complex p = 0, b = 0;
        for (int k = 0; k < N; k++) {
            double complex v = Hm[(size_t)col * N + k];
            p += conj(v) * sqrt(k + 0.5);
            b += conj(v) * sqrt(2.0 * k + 1);
            if (V) V[k * N2 + j] = v;
        }
        if (Pt) Pt[j] = p;
        if (Bt) Bt[j] = b;
    }
done:
    free(Hm);
    free(w);
    free(rwork);
    free(work);
    return rc;
}

int sl_hippo_online(sl_hippo_measure m, int N, double alpha, double beta, sl_disc d, double gbt_alpha, double dt_over_theta,
                    const double *f, long L, double *c, double *online)
{
    if (N < 1 || L < 1) return sl_error(SL_EINVAL, "hippo: need N >= 1 and L >= 1 (got %d, %ld)", N, L);
    double a = gbt_alpha;
    if (d == SL_DISC_FORWARD) a = 0.0;
    else if (d == SL_DISC_BACKWARD) a = 1.0;
    else if (d == SL_DISC_BILINEAR) a = 0.5;
    if (m == SL_HIPPO_LEGS && d == SL_DISC_ZOH)
        return sl_error(SL_EINVAL, "hippo legs is time-varying: use forward, backward, bilinear or gbt, not zoh");
    double *A = malloc((size_t)N * N * sizeof *A), *B = malloc((size_t)N * sizeof *B), *Ad = malloc((size_t)N * N * sizeof *Ad),
           *Bd = malloc((size_t)N * sizeof *Bd), *w = malloc((size_t)N * sizeof *w), *phi = malloc((size_t)N * sizeof *phi),
           *r = malloc((size_t)N * sizeof *r);
    int rc = SL_OK;
    if (!A || !B || !Ad || !Bd || !w || !phi || !r) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = sl_hippo_transition(m, N, alpha, beta, A, B))) goto done;
    if (m != SL_HIPPO_LEGS && (rc = sl_hippo_discretize(d, a, A, B, N, dt_over_theta, Ad, Bd))) goto done;
    if ((rc = sl_hippo_basis(m, N, alpha, beta, m == SL_HIPPO_LEGS ? 1.0 : 0.0, phi))) goto done;
    memset(c, 0, (size_t)N * sizeof *c);
    sl_hippo_legs_r(N, r);
    for (long k = 0; k < L; k++) {
        if (m == SL_HIPPO_LEGS) {
            sl_hippo_legs_step(c, N, k + 1, f[k], a, r, w);
        } else {
            for (int i = 0; i < N; i++) {
                double s = Bd[i] * f[k];
                for (int j = 0; j < N; j++) s += Ad[i * N + j] * c[j];
                w[i] = s;
            }
            memcpy(c, w, (size_t)N * sizeof *c);
        }
        if (online) {
            double s = 0.0;
            for (int i = 0; i < N; i++) s += c[i] * phi[i];
            online[k] = s;
        }
    }
done:
    free(A);
    free(B);
    free(Ad);
    free(Bd);
    free(w);
    free(phi);
    free(r);
    return rc;
}
