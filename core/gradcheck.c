/* core/gradcheck.c — central-difference gradient check (see gradcheck.h). */
#include "core/gradcheck.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

double sl_gradcheck_noise(float *x, size_t i, sl_loss_fn f, void *ctx, double t)
{
    /* f at x_i + k t, k = 0..7. Every operation of the loss rounds differently at each point
     * when t is of the order of the check's step (much smaller steps leave many roundings
     * unchanged and underestimate the noise by up to ten times), while the smooth part of f
     * contributes only ~f^(5) t^5 to the fifth differences. The fifth differences of
     * independent noise of standard deviation s have variance C(10,5) s^2 = 252 s^2. */
    float orig = x[i];
    double v[8];
    for (int k = 0; k < 8; k++) {
        x[i] = (float)(orig + k * t);
        v[k] = f(ctx);
    }
    x[i] = orig;
    double ss = 0.0;
    for (int k = 0; k < 3; k++) {
        double d5 = v[k + 5] - 5.0 * v[k + 4] + 10.0 * v[k + 3] - 10.0 * v[k + 2] + 5.0 * v[k + 1] - v[k];
        ss += d5 * d5;
    }
    return sqrt(ss / (3.0 * 252.0));
}

/* central difference along x[i] with step h, divided by the step actually taken in float */
static double central(float *x, size_t i, sl_loss_fn f, void *ctx, double h)
{
    float orig = x[i];
    x[i] = (float)(orig + h);
    double fp = f(ctx);
    x[i] = (float)(orig - h);
    double fm = f(ctx);
    double hh = ((double)(float)(orig + h) - (double)(float)(orig - h)) / 2.0;
    x[i] = orig;
    return (fp - fm) / (2.0 * hh);
}

int sl_gradcheck(float *x, const float *grad, size_t n, sl_loss_fn f, void *ctx, double h, size_t max_checks, double floor,
                 sl_gradcheck_result *res)
{
    memset(res, 0, sizeof *res);
    if (n == 0) return SL_OK;
    if (floor <= 0) floor = 1e-3;
    size_t stride = (max_checks == 0 || n <= max_checks) ? 1 : (n + max_checks - 1) / max_checks;
    /* noise of the loss, the larger of two coordinates' estimates (one coordinate may not
     * reach the loss at all); a central difference's noise is sqrt(2) s / 2h */
    size_t mid = (n / stride / 2) * stride;
    double s = fmax(sl_gradcheck_noise(x, 0, f, ctx, h / 2), sl_gradcheck_noise(x, mid, f, ctx, h / 2));
    if (!isfinite(s)) return sl_error(SL_ENAN, "non-finite loss near the checked point");
    res->noise = 1.34 * s * sqrt(2.0) / (2.0 * h);
    res->floor = fmax(floor, 200.0 * res->noise);
    for (size_t i = 0; i < n; i += stride) {
        /* Richardson extrapolation: D(h) = f' + c h^2 + O(h^4), so (4 D(h) - D(2h)) / 3 is
         * f' + O(h^4): a curved loss does not force a small h, whose rounding noise grows as
         * 1/h. The noise of the combination is sqrt(16 + 1/4) / 3 ~ 1.34 times that of D(h). */
        double num = (4.0 * central(x, i, f, ctx, h) - central(x, i, f, ctx, 2.0 * h)) / 3.0;
        double a = grad[i];
        if (!isfinite(num) || !isfinite(a))
            return sl_error(SL_ENAN, "non-finite gradient at coordinate %zu (analytic %g, numeric %g)", i, a, num);
        double abs_err = fabs(a - num);
        double rel = abs_err / fmax(fmax(fabs(a), fabs(num)), res->floor);
        if (rel > res->max_rel) {
            res->max_rel = rel;
            res->worst = i;
            res->worst_analytic = a;
            res->worst_numeric = num;
        }
        if (abs_err > res->max_abs) res->max_abs = abs_err;
        res->checked++;
    }
    return SL_OK;
}
