/* t/t-s4.c — S4: the DPLR form of HiPPO-LegS, the Cauchy/Woodbury kernel vs the naive
 * C Ab^k Bb kernel (double precision) at L = 1024, the kernel backward vs finite differences
 * (double), the model's gradient check, step == convolution mode, spec errors, LM use. */
#include "core/error.h"
#include "core/util.h"
#include "t/tap.h"
#include "t/testutil.h"
#include "lab/registry.h"
#include "ssm/hippo.h"
#include "ssm/s4.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a LegS-initialised channel with a random Ct */
typedef struct {
    double complex lam[64], P[64], B[64], Ct[64];
    sl_s4_ssm s;
} chan;

static void make_chan(chan *c, int N, double dt, unsigned seed)
{
    sl_s4_dplr_legs(N, c->lam, c->P, c->B, NULL);
    sl_rng *r = sl_rng_alloc(seed);
    for (int n = 0; n < N / 2; n++) c->Ct[n] = sl_rng_normal(r, 0.7) + I * sl_rng_normal(r, 0.7);
    sl_rng_free(r);
    c->s = (sl_s4_ssm){.N2 = N / 2, .dt = dt, .lam = c->lam, .P = c->P, .B = c->B, .Ct = c->Ct};
}

static double kloss(const sl_s4_ssm *s, sl_s4_fft *f, const double *R, int L)
{
    double *K = malloc(L * sizeof *K), v = 0;
    sl_s4_kernel(s, f, K);
    for (int k = 0; k < L; k++) v += K[k] * R[k];
    free(K);
    return v;
}

int main(void)
{
    /* the double-precision references are small dense LAPACK/BLAS problems: single-threaded
     * OpenBLAS (threads only wait for each other at these sizes); the models below use 2 */
    const int threads = sl_threads_get();
    sl_threads_set(1);
    /* ---- DPLR: V (Lambda - P~ P~^*) V^* = A_LegS, V B~ = B over the full (conjugate) basis ---- */
    {
        const int N = 16, N2 = 8;
        double complex lam[8], P[8], Bt[8], V[16 * 8];
        double A[256], B[16];
        sl_s4_dplr_legs(N, lam, P, Bt, V);
        sl_hippo_transition(SL_HIPPO_LEGS, N, 0, 0, A, B);
        double dA = 0, dB = 0, re = 0;
        for (int i = 0; i < N; i++) {
            double complex b = 0;
            for (int n = 0; n < N2; n++) b += V[i * N2 + n] * Bt[n] + conj(V[i * N2 + n] * Bt[n]);
            dB = fmax(dB, cabs(b - B[i]));
            for (int j = 0; j < N; j++) {
                double complex a = 0;
                /* full basis: columns v_n and conj(v_n), eigenvalues lam, conj(lam), P~ and conj(P~) */
                for (int n = 0; n < 2 * N2; n++)
                    for (int k = 0; k < 2 * N2; k++) {
                        double complex vi = n < N2 ? V[i * N2 + n] : conj(V[i * N2 + n - N2]);
                        double complex vj = k < N2 ? V[j * N2 + k] : conj(V[j * N2 + k - N2]);
                        double complex pn = n < N2 ? P[n] : conj(P[n - N2]), pk = k < N2 ? P[k] : conj(P[k - N2]);
                        double complex ln = n < N2 ? lam[n] : conj(lam[n - N2]);
                        a += vi * ((n == k ? ln : 0) - pn * conj(pk)) * conj(vj);
                    }
                dA = fmax(dA, cabs(a - A[i * N + j]));
            }
        }
        for (int n = 0; n < N2; n++) re = fmax(re, fabs(creal(lam[n]) + 0.5));
        ok(dA < 1e-10 && dB < 1e-10 && re < 1e-12,
           "DPLR of LegS: V(Lambda - PP*)V* == A (%.1e), V B~ == B (%.1e), Re Lambda = -1/2", dA, dB);
        int inc = 1;
        for (int n = 0; n < N2; n++) inc &= cimag(lam[n]) > 0 && (n == 0 || cimag(lam[n]) > cimag(lam[n - 1]));
        ok(inc, "eigenvalues kept: positive imaginary parts, ascending");
        ok(sl_s4_dplr_legs(7, lam, P, Bt, NULL) == SL_EINVAL, "odd N rejected");
    }
    /* ---- Cauchy + Woodbury kernel == naive C Ab^k Bb at L = 1024 ---- */
    {
        const int L = 1024;
        sl_s4_fft *f = sl_s4_fft_alloc(L);
        const double dts[3] = {0.002, 0.02, 0.1};
        const int Ns[3] = {16, 64, 32};
        for (int c = 0; c < 3; c++) {
            chan ch;
            make_chan(&ch, Ns[c], dts[c], 10 + c);
            double *K1 = malloc(L * sizeof *K1), *K2 = malloc(L * sizeof *K2), d = 0, mx = 0;
            sl_s4_kernel(&ch.s, f, K1);
            sl_s4_kernel_naive(&ch.s, L, K2);
            for (int k = 0; k < L; k++) {
                d = fmax(d, fabs(K1[k] - K2[k]));
                mx = fmax(mx, fabs(K2[k]));
            }
            ok(d <= 1e-5 * mx, "Cauchy/Woodbury kernel == naive C Ab^k Bb (N=%d, dt=%g, L=%d): rel err %.2e", Ns[c], dts[c], L,
               d / mx);
            free(K1);
            free(K2);
        }
        /* it can fail: a wrong dt in one of them */
        chan a, b;
        make_chan(&a, 16, 0.02, 3);
        make_chan(&b, 16, 0.021, 3);
        double *K1 = malloc(L * sizeof *K1), *K2 = malloc(L * sizeof *K2), d = 0, mx = 0;
        sl_s4_kernel(&a.s, f, K1);
        sl_s4_kernel_naive(&b.s, L, K2);
        for (int k = 0; k < L; k++) {
            d = fmax(d, fabs(K1[k] - K2[k]));
            mx = fmax(mx, fabs(K2[k]));
        }
        ok(d > 1e-3 * mx, "a 5%% change of dt is detected by the comparison (rel %.2e)", d / mx);
        free(K1);
        free(K2);
        sl_s4_fft_free(f);
    }
    /* ---- O(N) Woodbury step == dense full-state recurrence ---- */
    {
        const int N = 16, N2 = 8, L = 128;
        chan ch;
        make_chan(&ch, N, 0.05, 41);
        for (int n = 0; n < N2; n++) {
            ch.lam[n] += 0.05 * n - 0.1 * I;
            ch.P[n] *= 0.9 + 0.1 * I;
        }
        double complex Ab[16 * 16], Bb[16], C[16], xf[16] = {0}, yv[16], xh[8] = {0}, d[8];
        sl_s4_dense(&ch.s, L, Ab, Bb, C);
        for (int n = 0; n < N2; n++) d[n] = 1.0 / (1.0 - ch.s.dt / 2 * ch.lam[n]);
        double err = 0, scale = 0;
        for (int k = 0; k < 300; k++) {
            double u = sin(0.3 * k) + 0.2 * cos(1.7 * k);
            for (int i = 0; i < N; i++) {
                yv[i] = Bb[i] * u;
                for (int j = 0; j < N; j++) yv[i] += Ab[i * N + j] * xf[j];
            }
            memcpy(xf, yv, sizeof xf);
            double complex o = 0;
            for (int i = 0; i < N; i++) o += C[i] * xf[i];
            double y2 = sl_s4_step(&ch.s, d, C, xh, u);
            err = fmax(err, fabs(creal(o) - y2));
            scale = fmax(scale, fabs(creal(o)));
        }
        ok(err <= 1e-12 * fmax(1, scale),
           "O(N) Woodbury step == dense full-state step over 300 steps (max diff %.2e, scale %.2e)", err, scale);
    }
    /* ---- kernel backward vs central differences (double) ---- */
    {
        const int L = 64, N = 8, N2 = 4;
        sl_s4_fft *f = sl_s4_fft_alloc(L);
        chan ch;
        make_chan(&ch, N, 0.05, 77);
        for (int n = 0; n < N2; n++) {
            ch.lam[n] += 0.1 * (n + 1);
            ch.P[n] *= 1.1;
        } /* off the structured init */
        double R[64];
        sl_rng *r = sl_rng_alloc(5);
        for (int k = 0; k < L; k++) R[k] = sl_rng_normal(r, 1.0);
        sl_rng_free(r);
        double complex g[4][4] = {{0}};
        double gdt = 0;
        sl_s4_kernel_backward(&ch.s, f, R, g[0], g[1], g[2], g[3], &gdt);
        double complex *par[4] = {ch.lam, ch.P, ch.B, ch.Ct};
        const char *nm[4] = {"Lambda", "P", "B", "C~"};
        const double h = 1e-6;
        for (int p = 0; p < 4; p++) {
            double err = 0, scale = 0;
            for (int n = 0; n < N2; n++)
                for (int part = 0; part < 2; part++) {
                    double complex e = part ? I * h : h, o = par[p][n];
                    par[p][n] = o + e;
                    double lp = kloss(&ch.s, f, R, L);
                    par[p][n] = o - e;
                    double lm = kloss(&ch.s, f, R, L);
                    par[p][n] = o;
                    double num = (lp - lm) / (2 * h), an = part ? cimag(g[p][n]) : creal(g[p][n]);
                    err = fmax(err, fabs(num - an));
                    scale = fmax(scale, fabs(num));
                }
            ok(err <= 1e-6 * fmax(1, scale), "kernel backward d/d%s == finite differences (abs err %.2e, scale %.2e)", nm[p], err,
               scale);
        }
        double o = ch.s.dt;
        ch.s.dt = o + 1e-7;
        double lp = kloss(&ch.s, f, R, L);
        ch.s.dt = o - 1e-7;
        double lm = kloss(&ch.s, f, R, L);
        ch.s.dt = o;
        double num = (lp - lm) / 2e-7;
        ok(fabs(num - gdt) <= 1e-5 * fmax(1, fabs(num)), "kernel backward d/d dt == finite differences (%.6g vs %.6g)", gdt, num);
        sl_s4_fft_free(f);
    }
    sl_threads_set(threads);
    /* ---- the model ---- */
    {
        const char *specs[] = {"s4:d_model=3,d_state=4,l_max=16",
                               "s4:d_model=2,d_state=8,l_max=32,activation=tanh,dt_min=0.01,dt_max=0.2"};
        const int Ts[2] = {16, 11};
        for (int s = 0; s < 2; s++) {
            sl_model *m = NULL;
            if (sl_model_create(specs[s], 9, &m)) {
                ok(0, "create %s: %s", specs[s], sl_errmsg());
                continue;
            }
            const int B = 2, T = Ts[s], H = m->d_in;
            float *x = tu_random((size_t)B * T * H, 1.0f, 31);
            check_model_grads(m, specs[s], x, NULL, B, T, 1e-2, 3e-2, 48);
            check_step_equals_seq(m, specs[s], x, NULL, B, T, 5e-5);
            free(x);
            sl_model_free(m);
        }
        sl_model *m = NULL;
        if (!sl_model_create("s4:d_model=4,d_state=8,l_max=64", 2, &m)) {
            float *x = tu_random(2 * 256 * 4, 1.0f, 1), *y = malloc(2 * 256 * 4 * sizeof(float));
            ok(sl_model_forward(m, x, NULL, y, 2, 65) == SL_ESHAPE, "T > l_max rejected: %s", sl_errmsg());
            const sl_params *P = m->P;
            int ib = sl_params_find(P, "kernel.B"), ip = sl_params_find(P, "kernel.P"), ic = sl_params_find(P, "kernel.C");
            ok(ib >= 0 && ip >= 0 && ic >= 0 && P->t[ib].lr_scale == 0.1f && P->t[ip].wd_scale == 0.0f &&
                   P->t[ic].lr_scale == 1.0f && P->t[ip].ndim == 4 && P->t[ip].shape[0] == 1,
               "S4 groups: B, P, Lambda, log_dt at lr_scale 0.1 / wd 0; C default; kernel.P (1, H, N/2, 2)");
            free(x);
            free(y);
            sl_model_free(m);
        } else ok(0, "create: %s", sl_errmsg());
        ok(sl_model_create("s4:d_model=4,d_state=5", 1, &m) == SL_EINVAL, "odd d_state rejected: %s", sl_errmsg());
        int rc = sl_model_create("lm:mixer=s4,d_model=8,n_layer=1,vocab_size=9,d_state=8,l_max=32", 3, &m);
        ok(rc == 0, "lm:mixer=s4 builds (%s)", rc ? sl_errmsg() : "ok");
        if (!rc) {
            int32_t tok[2 * 20];
            for (int i = 0; i < 40; i++) tok[i] = (i * 4 + 1) % 9;
            check_step_equals_seq(m, "lm:mixer=s4", NULL, tok, 2, 20, 1e-4);
            sl_model_free(m);
        }
    }
    {
        double first = 0,
               last = learn_delay("seq:mixer=s4,d_model=16,n_layer=1,d_input=1,d_output=1,d_state=16,l_max=32", 150, &first);
        ok(last < 0.1 && last < 0.1 * first, "s4 learns y_t = x_{t-4}: MSE %.3g -> %.3g in 150 AdamW steps", first, last);
    }
    return done_testing();
}
