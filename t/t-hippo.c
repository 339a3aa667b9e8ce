/* t/t-hippo.c — HiPPO operators: closed forms, normality of A + PP^T, discretizations as
 * dt -> 0, reconstruction error vs N, the O(N) LegS step vs the dense one, and the mixer. */
#include "core/error.h"
#include "core/util.h"
#include "t/tap.h"
#include "t/testutil.h"
#include "lab/registry.h"
#include "ssm/hippo.h"

#include <gsl/gsl_sf_laguerre.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double maxabs(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= m)) m = fabs(a[i] - b[i]);
    return m;
}

/* || S S^T - S^T S ||_max for S = A + sum P_r P_r^T */
static double normality_defect(sl_hippo_measure m, int N, double al, double be)
{
    double *A = malloc(N * N * sizeof *A), *B = malloc(N * sizeof *B), *P = malloc(2 * N * sizeof *P);
    int rank = 0;
    if (sl_hippo_transition(m, N, al, be, A, B) || sl_hippo_lowrank(m, N, al, be, P, &rank)) {
        free(A);
        free(B);
        free(P);
        return INFINITY;
    }
    for (int r = 0; r < rank; r++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) A[i * N + j] += P[r * N + i] * P[r * N + j];
    double d = 0, scale = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double a = 0, b = 0;
            for (int k = 0; k < N; k++) {
                a += A[i * N + k] * A[j * N + k];
                b += A[k * N + i] * A[k * N + j];
            }
            if (fabs(a - b) > d) d = fabs(a - b);
            if (fabs(a) > scale) scale = fabs(a);
        }
    free(A);
    free(B);
    free(P);
    return d / scale;
}

static double sig_smooth(double t) { return sin(2 * M_PI * 2 * t) + 0.5 * cos(2 * M_PI * 5 * t + 0.3) + 0.3 * t; }

/* RMSE of the final reconstruction over the covered past */
static double recon_rmse(sl_hippo_measure m, int N, long L, double theta)
{
    double dt = 1.0 / L;
    double *f = malloc(L * sizeof *f), *c = malloc(N * sizeof *c);
    for (long k = 0; k < L; k++) f[k] = sig_smooth((k + 1) * dt);
    if (sl_hippo_online(m, N, 0, 0, SL_DISC_BILINEAR, 0.5, dt / theta, f, L, c, NULL)) {
        free(f);
        free(c);
        return INFINITY;
    }
    double se = 0;
    long cnt = 0;
    for (long k = 0; k < L; k++) {
        double t = (k + 1) * dt, x;
        if (m == SL_HIPPO_LEGS) x = t; /* s/t with t = 1 */
        else {
            x = (1.0 - t) / theta;
            if (x > 1.0) continue;
        }
        double e = sl_hippo_eval(m, N, 0, 0, c, x) - f[k];
        se += e * e;
        cnt++;
    }
    free(f);
    free(c);
    return sqrt(se / cnt);
}

int main(void)
{
    /* every problem here is tiny: OpenBLAS threads on 24x24 LAPACK solves only wait for each
     * other (seconds per test on a loaded machine), so run single-threaded */
    sl_threads_set(1);
    /* ---- closed forms ---- */
    {
        const int N = 6;
        double A[36], B[6];
        sl_hippo_transition(SL_HIPPO_LEGS, N, 0, 0, A, B);
        int good = 1;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < N; k++) {
                double e = n > k ? -sqrt((2.0 * n + 1) * (2.0 * k + 1)) : n == k ? -(n + 1.0) : 0.0;
                good &= fabs(A[n * N + k] - e) < 1e-14;
            }
        for (int n = 0; n < N; n++) good &= fabs(B[n] - sqrt(2.0 * n + 1)) < 1e-14;
        ok(good, "LegS A, B equal the closed form");
        ok(A[2 * N + 1] == -sqrt(15.0) && A[3 * N + 3] == -4.0 && A[1 * N + 4] == 0.0,
           "LegS spot entries A[2,1] = -sqrt 15, A[3,3] = -4, A[1,4] = 0");

        sl_hippo_transition(SL_HIPPO_LEGT, N, 0, 0, A, B);
        ok(fabs(A[0] + 1) < 1e-14 && fabs(A[1 * N + 2] - sqrt(15.0)) < 1e-14 && fabs(A[1 * N + 3] + sqrt(21.0)) < 1e-14 &&
               fabs(A[3 * N + 1] + sqrt(21.0)) < 1e-14 && fabs(B[4] - 3.0) < 1e-14,
           "LegT A[0,0] = -1, A[1,2] = +sqrt 15, A[1,3] = -sqrt 21, A[3,1] = -sqrt 21, B[4] = 3");
        sl_hippo_transition(SL_HIPPO_LMU, N, 0, 0, A, B);
        ok(A[0] == -1 && A[1 * N + 0] == 3 && A[1 * N + 1] == -3 && A[0 * N + 3] == -1 && A[2 * N + 5] == -5 && B[1] == -3 &&
               B[2] == 5,
           "LMU A_ij = (2i+1)(-1 if i<j else (-1)^(i-j+1)), B_i = (2i+1)(-1)^i (Voelker et al.)");
        sl_hippo_transition(SL_HIPPO_LAGT, N, 0, 0, A, B);
        good = 1;
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < N; k++) good &= A[n * N + k] == (n == k ? -0.5 : k < n ? -1.0 : 0.0);
            good &= fabs(B[n] - 1.0) < 1e-14;
        }
        ok(good, "LagT A = I/2 - tril(1), B = 1");
        sl_hippo_transition(SL_HIPPO_FOUT, 5, 0, 0, A, B);
        ok(fabs(A[1 * 5 + 2] - 2 * M_PI) < 1e-14 && fabs(A[2 * 5 + 1] + 2 * M_PI) < 1e-14 &&
               fabs(A[3 * 5 + 4] - 4 * M_PI) < 1e-13 && fabs(A[0] + 2) < 1e-14 && fabs(A[1 * 5 + 3] + 4) < 1e-14 &&
               fabs(A[0 * 5 + 1] + 2 * M_SQRT2) < 1e-14 && B[2] == 0 && fabs(B[3] - 2 * M_SQRT2) < 1e-15 && B[0] == 2,
           "FouT A = Omega - 2 b b^T, B = 2 b entries");
        double Ag[16], Bg[4];
        sl_hippo_transition(SL_HIPPO_GLAGT, 4, 0.0, 0.0, Ag, Bg);
        double Al[16], Bl[4];
        sl_hippo_transition(SL_HIPPO_LAGT, 4, 0, 0, Al, Bl);
        ok(maxabs(Ag, Al, 16) < 1e-14 && maxabs(Bg, Bl, 4) < 1e-14, "glagt(alpha=0, beta=0) == lagt");
        ok(sl_hippo_transition(SL_HIPPO_GLAGT, 4, -1.5, 0, Ag, Bg) == SL_EINVAL, "glagt alpha <= -1 rejected: %s", sl_errmsg());
    }
    /* ---- low-rank corrections make A normal ---- */
    ok(normality_defect(SL_HIPPO_LEGS, 16, 0, 0) < 1e-12, "LegS: A + PP^T normal (rank 1)");
    ok(normality_defect(SL_HIPPO_LEGT, 16, 0, 0) < 1e-12, "LegT: A + P0P0^T + P1P1^T normal (rank 2)");
    ok(normality_defect(SL_HIPPO_LAGT, 16, 0, 0) < 1e-12, "LagT: A + PP^T normal (rank 1)");
    ok(normality_defect(SL_HIPPO_GLAGT, 12, 0, 0.4) < 1e-12, "GLagT alpha=0 beta=0.4: A + PP^T normal");
    ok(normality_defect(SL_HIPPO_FOUT, 15, 0, 0) < 1e-12, "FouT: A + BB^T normal");
    {
        double P[8];
        int r;
        ok(sl_hippo_lowrank(SL_HIPPO_LMU, 4, 0, 0, P, &r) == SL_EUNSUPPORTED, "LMU has no low-rank correction (clear error)");
        /* and it can fail: without the correction LegS is not normal */
        double A[256], B[16], d = 0;
        sl_hippo_transition(SL_HIPPO_LEGS, 16, 0, 0, A, B);
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                double a = 0, b = 0;
                for (int k = 0; k < 16; k++) {
                    a += A[i * 16 + k] * A[j * 16 + k];
                    b += A[k * 16 + i] * A[k * 16 + j];
                }
                if (fabs(a - b) > d) d = fabs(a - b);
            }
        ok(d > 1.0, "LegS A alone is far from normal (defect %.3g)", d);
    }
    /* ---- discretizations ---- */
    {
        const int N = 8;
        double A[64], B[8], Az[64], Bz[8], Ad[64], Bd[8];
        sl_hippo_transition(SL_HIPPO_LEGT, N, 0, 0, A, B);
        const sl_disc ds[4] = {SL_DISC_FORWARD, SL_DISC_BACKWARD, SL_DISC_BILINEAR, SL_DISC_GBT};
        const char *nm[4] = {"forward Euler", "backward Euler", "bilinear", "GBT alpha=0.3"};
        const double order[4] = {2, 2, 3, 2};
        for (int i = 0; i < 4; i++) {
            double e[2];
            for (int j = 0; j < 2; j++) {
                double dt = j ? 1e-3 : 1e-2;
                sl_hippo_discretize(SL_DISC_ZOH, 0, A, B, N, dt, Az, Bz);
                sl_hippo_discretize(ds[i], 0.3, A, B, N, dt, Ad, Bd);
                e[j] = fmax(maxabs(Ad, Az, 64), maxabs(Bd, Bz, 8));
            }
            double rate = log10(e[0] / e[1]);
            ok(rate > order[i] - 0.3, "%s -> ZOH as dt -> 0: err %.2e (dt=1e-2), %.2e (dt=1e-3), order %.2f", nm[i], e[0], e[1],
               rate);
        }
        /* ZOH against a closed form: diagonal A */
        double Dg[4] = {-1, 0, 0, -3}, Db[2] = {1, 2};
        sl_hippo_discretize(SL_DISC_ZOH, 0, Dg, Db, 2, 0.5, Ad, Bd);
        ok(fabs(Ad[0] - exp(-0.5)) < 1e-13 && fabs(Ad[3] - exp(-1.5)) < 1e-13 && fabs(Ad[1]) < 1e-15 &&
               fabs(Bd[0] - (1 - exp(-0.5))) < 1e-13 && fabs(Bd[1] - 2 * (1 - exp(-1.5)) / 3) < 1e-13,
           "ZOH of diagonal A equals exp(dt a), (exp(dt a) - 1)/a b");
        ok(sl_hippo_discretize(SL_DISC_GBT, 1.5, A, B, N, 0.1, Ad, Bd) == SL_EINVAL, "GBT alpha outside [0,1] rejected");
        ok(sl_hippo_discretize(SL_DISC_ZOH, 0, A, B, N, -1, Ad, Bd) == SL_EINVAL, "dt <= 0 rejected");
    }
    /* ---- O(N) LegS ---- */
    {
        const int N = 24;
        double A[N * N], B[N], c1[N], c2[N], w[N], x[N], y1[N], y2[N], r[N];
        sl_hippo_transition(SL_HIPPO_LEGS, N, 0, 0, A, B);
        sl_hippo_legs_r(N, r);
        memset(c1, 0, sizeof c1);
        memset(c2, 0, sizeof c2);
        double d = 0, cmax = 0;
        for (long k = 1; k <= 300; k++) {
            double f = sig_smooth(k / 300.0);
            sl_hippo_legs_step(c1, N, k, f, 0.5, r, w);
            sl_hippo_legs_step_dense(c2, A, B, N, k, f, 0.5);
            d = fmax(d, maxabs(c1, c2, N));
        }
        for (int i = 0; i < N; i++) cmax = fmax(cmax, fabs(c2[i]));
        ok(d < 1e-12 * fmax(1, cmax), "O(N) LegS bilinear step == dense step over 300 steps (max diff %.2e)", d);
        memset(c1, 0, sizeof c1);
        memset(c2, 0, sizeof c2);
        d = 0;
        for (long k = 1; k <= 100; k++) {
            sl_hippo_legs_step(c1, N, k, cos(k * 0.1), 1.0, r, w);
            sl_hippo_legs_step_dense(c2, A, B, N, k, cos(k * 0.1), 1.0);
            d = fmax(d, maxabs(c1, c2, N));
        }
        ok(d < 1e-12, "O(N) LegS backward-Euler step == dense (max diff %.2e)", d);
        for (int i = 0; i < N; i++) x[i] = sin(i + 1.0);
        sl_hippo_legs_mtv(y1, x, r, N);
        for (int j = 0; j < N; j++) {
            y2[j] = 0;
            for (int i = 0; i < N; i++) y2[j] += A[i * N + j] * x[i];
        }
        ok(maxabs(y1, y2, N) < 1e-10, "LegS A^T x structured == dense");
        sl_hippo_legs_solve_t(y1, x, 0.37, r, N);
        for (int j = 0; j < N; j++) {
            y2[j] = y1[j];
            for (int i = 0; i < N; i++) y2[j] -= 0.37 * A[i * N + j] * y1[i];
        }
        ok(maxabs(y2, x, N) < 1e-10, "LegS (I - a A^T)^-1 structured solve");
    }
    /* ---- reconstruction error falls as N grows ---- */
    {
        struct {
            sl_hippo_measure m;
            long L;
            double theta;
            double last;
        } cs[] = {
            {SL_HIPPO_LEGS, 4000, 1.0, 5e-3},
            {SL_HIPPO_LEGT, 4000, 1.0, 5e-2},
            {SL_HIPPO_LMU, 4000, 1.0, 5e-2},
            {SL_HIPPO_FOUT, 4000, 1.0, 0.1},
        };
        const int Ns[4] = {4, 8, 16, 32};
        for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
            double e[4];
            for (int i = 0; i < 4; i++)
                e[i] = recon_rmse(cs[c].m, cs[c].m == SL_HIPPO_FOUT ? Ns[i] + 1 : Ns[i], cs[c].L, cs[c].theta);
            ok(e[1] < e[0] && e[2] < e[1] && e[3] < e[2] && e[3] < cs[c].last,
               "%s reconstruction RMSE falls with N: %.3g (N=4) %.3g (8) %.3g (16) %.3g (32)", sl_hippo_measure_name(cs[c].m),
               e[0], e[1], e[2], e[3]);
        }
        /* LagT: exponential window, error over the recent past (age <= 2 theta) */
        double e[3];
        const int Nl[3] = {8, 32, 128};
        for (int i = 0; i < 3; i++) {
            const long L = 4000;
            const double theta = 0.05, dt = 1.0 / L;
            int N = Nl[i];
            double *f = malloc(L * sizeof *f), *cc = malloc(N * sizeof *cc), se = 0;
            long cnt = 0;
            for (long k = 0; k < L; k++) f[k] = sig_smooth((k + 1) * dt);
            sl_hippo_online(SL_HIPPO_LAGT, N, 0, 0, SL_DISC_BILINEAR, 0.5, dt / theta, f, L, cc, NULL);
            for (long k = 0; k < L; k++) {
                double x = (1.0 - (k + 1) * dt) / theta;
                if (x > 2) continue;
                double d = sl_hippo_eval(SL_HIPPO_LAGT, N, 0, 0, cc, x) - f[k];
                se += d * d;
                cnt++;
            }
            e[i] = sqrt(se / cnt);
            free(f);
            free(cc);
        }
        ok(e[1] < e[0] && e[2] < e[1], "lagt reconstruction RMSE (age <= 2 theta) falls with N: %.3g (8) %.3g (32) %.3g (128)",
           e[0], e[1], e[2]);
    }
    /* GLagT's ODE is exact (no window end to estimate): the online coefficients (ZOH, input
     * held over each step) equal c_n(T) = int_0^inf f(T - theta x) L_n^(a)(x) e^{-(1+b)x/2} /
     * sqrt(h_n) dx computed by quadrature of the same piecewise-constant input */
    {
        const long L = 400;
        const int N = 8;
        const double theta = 0.1, dt = 1.0 / L, al[2] = {0.5, 0.0}, be[2] = {0.2, 0.0};
        for (int v = 0; v < 2; v++) {
            double f[400], c[8], q[8] = {0}, phi[8], d = 0, mx = 0;
            for (long k = 0; k < L; k++) f[k] = sig_smooth((k + 1) * dt);
            sl_hippo_online(v ? SL_HIPPO_LAGT : SL_HIPPO_GLAGT, N, al[v], be[v], SL_DISC_ZOH, 0, dt / theta, f, L, c, NULL);
            const long M = 200000;
            const double X = 1.0 / theta, hx = X / M;
            for (long i = 0; i < M; i++) {
                double x = (i + 0.5) * hx, s = 1.0 - theta * x; /* s in (0, 1] */
                long k = (long)ceil(s / dt) - 1;                /* s in (t_{k-1}, t_k] -> f[k] */
                if (k < 0) k = 0;
                if (k >= L) k = L - 1;
                /* phi_n = x^a e^{-(1-b)x/2} L_n/sqrt(h_n); kernel_n = L_n e^{-(1+b)x/2}/sqrt(h_n)
                 * = phi_n e^{-b x} / x^a */
                sl_hippo_basis(v ? SL_HIPPO_LAGT : SL_HIPPO_GLAGT, N, al[v], be[v], x, phi);
                double w = exp(-be[v] * x) / ((al[v] == 0.0 ? 1.0 : pow(x, al[v])));
                for (int n = 0; n < N; n++) q[n] += hx * f[k] * phi[n] * w;
            }
            for (int n = 0; n < N; n++) {
                d = fmax(d, fabs(c[n] - q[n]));
                mx = fmax(mx, fabs(q[n]));
            }
            ok(d < 1e-6 * mx, "%s: online ZOH coefficients == quadrature projection (max diff %.2e, scale %.2e)",
               v ? "lagt" : "glagt alpha=0.5 beta=0.2", d, mx);
        }
    }
    /* LegT and LMU are one system in two bases: identical reconstructions */
    {
        const long L = 1000;
        const int N = 12;
        double f[1000], c1[12], c2[12], on1[1000], on2[1000], d = 0;
        for (long k = 0; k < L; k++) f[k] = sig_smooth((k + 1.0) / L);
        sl_hippo_online(SL_HIPPO_LEGT, N, 0, 0, SL_DISC_ZOH, 0, 1.0 / L, f, L, c1, on1);
        sl_hippo_online(SL_HIPPO_LMU, N, 0, 0, SL_DISC_ZOH, 0, 1.0 / L, f, L, c2, on2);
        for (double x = 0; x <= 1.0; x += 0.01)
            d = fmax(d, fabs(sl_hippo_eval(SL_HIPPO_LEGT, N, 0, 0, c1, x) - sl_hippo_eval(SL_HIPPO_LMU, N, 0, 0, c2, x)));
        d = fmax(d, maxabs(on1, on2, L));
        ok(d < 1e-9, "LegT and LMU (same system, other basis) reconstruct identically (max diff %.2e)", d);
    }
    /* ---- Laguerre basis recurrence vs GSL ---- */
    {
        double phi[10], d = 0;
        for (double x = 0.0; x < 30; x += 1.7) {
            sl_hippo_basis(SL_HIPPO_GLAGT, 10, 0.7, 0.2, x, phi);
            for (int n = 0; n < 10; n++) {
                double h = exp(lgamma(n + 1.7) - lgamma(n + 1.0));
                double ref = pow(x, 0.7) * exp(-0.4 * x) * gsl_sf_laguerre_n(n, 0.7, x) / sqrt(h);
                d = fmax(d, fabs(phi[n] - ref) / fmax(1, fabs(ref)));
            }
        }
        ok(d < 1e-10, "generalized Laguerre basis recurrence == gsl_sf_laguerre_n (max rel %.2e)", d);
    }
    /* ---- the mixer ---- */
    {
        const char *specs[] = {"hippo:d_model=3,d_state=6", "hippo:d_model=3,d_state=5,measure=legt,discretization=zoh,dt=0.05",
                               "hippo:d_model=2,d_state=4,measure=fout,discretization=backward,dt=0.1",
                               /* 10 rows: a full group of the interleaved LegS rows and a partial one */
                               "hippo:d_model=5,d_state=7"};
        for (int s = 0; s < 4; s++) {
            sl_model *m = NULL;
            if (sl_model_create(specs[s], 7, &m)) {
                ok(0, "create %s: %s", specs[s], sl_errmsg());
                continue;
            }
            const int B = 2, T = 9, H = m->d_in;
            float *x = tu_random((size_t)B * T * H, 1.0f, 11);
            check_model_grads(m, specs[s], x, NULL, B, T, 1e-2, 2e-2, 64);
            check_step_equals_seq(m, specs[s], x, NULL, B, T, 1e-5);
            int iA = sl_params_find(m->P, "A"), iB = sl_params_find(m->P, "B");
            ok(iA >= 0 && iB >= 0 && !m->P->t[iA].trainable && !m->P->t[iB].trainable &&
                   m->P->t[sl_params_find(m->P, "C")].trainable,
               "%s: A, B frozen; C trainable", specs[s]);
            free(x);
            sl_model_free(m);
        }
        sl_model *m = NULL;
        ok(sl_model_create("hippo:d_model=3,measure=legs,discretization=zoh", 1, &m) != 0, "hippo legs + zoh rejected: %s",
           sl_errmsg());
        ok(sl_model_create("hippo:d_model=3,measure=nope", 1, &m) != 0, "unknown measure rejected: %s", sl_errmsg());
        int rc = sl_model_create("lm:mixer=hippo,d_model=8,n_layer=1,vocab_size=13,d_state=8", 3, &m);
        ok(rc == 0, "lm:mixer=hippo builds (%s)", rc ? sl_errmsg() : "ok");
        if (!rc) {
            int32_t tok[2 * 7];
            for (int i = 0; i < 14; i++) tok[i] = (i * 5) % 13;
            check_step_equals_seq(m, "lm:mixer=hippo", NULL, tok, 2, 7, 1e-4);
            sl_model_free(m);
        }
    }
    return done_testing();
}
