/* src/cmd_hippo.c — `seqlab hippo`: HiPPO online function approximation of a generated signal,
 * written as CSV (signal, online reconstruction of the present value, reconstruction of the
 * whole covered past from the final coefficients, and their errors). */
#include "src/cli.h"

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "ssm/hippo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE = "usage: seqlab hippo --out FILE.csv [--measure M] [--N n] [--discretization D] [--alpha A]\n"
                           "                    [--signal KIND] [--length L] [--theta T] [--lag-alpha A] [--lag-beta B]\n"
                           "                    [--seed S]\n"
                           "\n"
                           "Approximate a signal f on (0, 1], sampled at t_k = k/L (k = 1..L), online with a HiPPO\n"
                           "memory of N coefficients and write FILE.csv atomically with the columns\n"
                           "  t, signal, online, online_err, final, final_err\n"
                           "online: f(t_k) reconstructed from the coefficients at t_k; final: f(t_k) reconstructed from\n"
                           "the coefficients at t = 1 (nan where the measure does not cover t_k). A summary (RMSE of\n"
                           "both) goes to stdout.\n"
                           "  --measure M         legs (default), legt, lmu, lagt, glagt, fout (fout: use odd N)\n"
                           "  --N n               number of coefficients (default 32)\n"
                           "  --discretization D  forward, backward, bilinear (default), gbt, zoh (not for legs)\n"
                           "  --alpha A           GBT alpha in [0, 1] for --discretization gbt (default 0.5)\n"
                           "  --signal KIND       sines (default), sine, chirp, bump, step, random\n"
                           "  --length L          samples (default 1000)\n"
                           "  --theta T           window length / time scale of legt, lmu, fout, lagt, glagt as a\n"
                           "                      fraction of the signal (default 1; e.g. 0.05 for lagt)\n"
                           "  --lag-alpha A, --lag-beta B   glagt parameters (default 0, 0)\n"
                           "  --seed S            seed of --signal random (default 1)\n";

static int make_signal(const char *kind, double *f, long L, unsigned long seed)
{
    double a[8], ph[8];
    if (!strcmp(kind, "random")) {
        sl_rng *r = sl_rng_alloc(seed);
        if (!r) return sl_error(SL_ENOMEM, "out of memory");
        for (int k = 0; k < 8; k++) {
            a[k] = sl_rng_normal(r, 1.0) / (k + 1);
            ph[k] = 2 * M_PI * sl_rng_uniform(r);
        }
        sl_rng_free(r);
    }
    for (long k = 0; k < L; k++) {
        double t = (k + 1.0) / L, v;
        if (!strcmp(kind, "sines")) v = sin(2 * M_PI * 2 * t) + 0.5 * cos(2 * M_PI * 5 * t + 0.3) + 0.3 * t;
        else if (!strcmp(kind, "sine")) v = sin(2 * M_PI * 3 * t);
        else if (!strcmp(kind, "chirp")) v = sin(2 * M_PI * (1 + 4 * t) * t);
        else if (!strcmp(kind, "bump")) v = exp(-pow((t - 0.5) / 0.1, 2));
        else if (!strcmp(kind, "step")) v = t < 0.5 ? 0.0 : 1.0;
        else if (!strcmp(kind, "random")) {
            v = 0;
            for (int j = 0; j < 8; j++) v += a[j] * sin(2 * M_PI * (j + 1) * t + ph[j]);
        } else return sl_error(SL_EINVAL, "unknown signal '%s' (sines, sine, chirp, bump, step, random)", kind);
        f[k] = v;
    }
    return SL_OK;
}

int cmd_hippo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv, USAGE)) return 0;
    const char *mname = "legs", *dname = "bilinear", *signal = "sines", *out = NULL;
    long N = 32, L = 1000, seed = 1;
    double ga = 0.5, theta = 1.0, la = 0.0, lb = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--measure") || !strcmp(a, "--N") || !strcmp(a, "--discretization") || !strcmp(a, "--alpha") ||
            !strcmp(a, "--signal") || !strcmp(a, "--length") || !strcmp(a, "--theta") || !strcmp(a, "--lag-alpha") ||
            !strcmp(a, "--lag-beta") || !strcmp(a, "--seed") || !strcmp(a, "--out")) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--measure")) mname = v;
            else if (!strcmp(a, "--discretization")) dname = v;
            else if (!strcmp(a, "--signal")) signal = v;
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--N")) {
                if (!cli_int(USAGE, a, v, 1, 4096, &N)) return 2;
            } else if (!strcmp(a, "--length")) {
                if (!cli_int(USAGE, a, v, 1, 10000000, &L)) return 2;
            } else if (!strcmp(a, "--seed")) {
                if (!cli_int(USAGE, a, v, 0, 2147483647L, &seed)) return 2;
            } else if (!strcmp(a, "--alpha")) {
                if (!cli_double(USAGE, a, v, 0, 1, &ga)) return 2;
            } else if (!strcmp(a, "--theta")) {
                if (!cli_double(USAGE, a, v, 1e-9, 1e9, &theta)) return 2;
            } else if (!strcmp(a, "--lag-alpha")) {
                if (!cli_double(USAGE, a, v, -0.999, 1e3, &la)) return 2;
            } else {
                if (!cli_double(USAGE, a, v, -1e3, 1e3, &lb)) return 2;
            }
            continue;
        }
        static const char *const flags[] = {"measure", "N",         "discretization", "alpha", "signal", "length",
                                            "theta",   "lag-alpha", "lag-beta",       "seed",  "out",    NULL};
        return cli_usage(USAGE, "hippo: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
    }
    if (!out) return cli_usage(USAGE, "hippo: --out is required");
    sl_hippo_measure m;
    sl_disc d;
    if (sl_hippo_measure_from_name(mname, &m)) return cli_usage(USAGE, "--measure: %s", sl_errmsg());
    if (sl_disc_from_name(dname, &d, &ga)) return cli_usage(USAGE, "--discretization: %s", sl_errmsg());
    if (m == SL_HIPPO_LEGS && d == SL_DISC_ZOH)
        return cli_usage(USAGE, "--discretization zoh: legs is time-varying; use a GBT rule");
    {
        const char *kinds[] = {"sines", "sine", "chirp", "bump", "step", "random"};
        int known = 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) known |= !strcmp(signal, kinds[i]);
        if (!known) return cli_usage(USAGE, "--signal: unknown signal '%s'", signal);
    }
    double *f = malloc((size_t)L * sizeof *f), *on = malloc((size_t)L * sizeof *on), *c = malloc((size_t)N * sizeof *c);
    double *phi = malloc((size_t)N * sizeof *phi);
    if (!f || !on || !c || !phi) {
        free(f);
        free(on);
        free(c);
        free(phi);
        return cli_fail("out of memory");
    }
    int rc = 1;
    if (make_signal(signal, f, L, (unsigned long)seed)) {
        cli_lib_fail("hippo");
        goto done;
    }
    if (sl_hippo_online(m, (int)N, la, lb, d, ga, (1.0 / L) / theta, f, L, c, on)) {
        cli_lib_fail("hippo");
        goto done;
    }
    sl_afile af;
    if (sl_afile_open(&af, out)) {
        cli_lib_fail(out);
        goto done;
    }
    fprintf(af.f, "t,signal,online,online_err,final,final_err\n");
    double se_on = 0, se_fin = 0;
    long n_fin = 0;
    for (long k = 0; k < L; k++) {
        double t = (k + 1.0) / L, x, fin = NAN;
        if (m == SL_HIPPO_LEGS) x = t;
        else x = (1.0 - t) / theta;
        int covered = m == SL_HIPPO_LEGS || m == SL_HIPPO_LAGT || m == SL_HIPPO_GLAGT || x <= 1.0;
        if (covered) {
            sl_hippo_basis(m, (int)N, la, lb, x, phi);
            fin = 0;
            for (int i = 0; i < N; i++) fin += c[i] * phi[i];
            se_fin += (fin - f[k]) * (fin - f[k]);
            n_fin++;
        }
        se_on += (on[k] - f[k]) * (on[k] - f[k]);
        fprintf(af.f, "%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", t, f[k], on[k], on[k] - f[k], fin, fin - f[k]);
    }
    if (ferror(af.f)) {
        sl_afile_abort(&af);
        cli_fail("%s: write error", out);
        goto done;
    }
    if (sl_afile_commit(&af)) {
        cli_lib_fail(out);
        goto done;
    }
    printf("hippo measure=%s N=%ld discretization=%s signal=%s length=%ld theta=%g: online RMSE %.6g, final RMSE %.6g over %ld "
           "points\n",
           sl_hippo_measure_name(m), N, dname, signal, L, theta, sqrt(se_on / L), n_fin ? sqrt(se_fin / n_fin) : NAN, n_fin);
    rc = 0;
done:
    free(f);
    free(on);
    free(c);
    free(phi);
    return rc;
}
