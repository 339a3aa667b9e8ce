/* core/gradcheck.c — central-difference gradient check (see gradcheck.h). */
#include "core/gradcheck.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

int sl_gradcheck(float *x, const float *grad, size_t n, sl_loss_fn f, void *ctx, double h,
                 size_t max_checks, double floor, sl_gradcheck_result *res)
{
    memset(res, 0, sizeof *res);
    if (n == 0) return SL_OK;
    if (floor <= 0) floor = 1e-3;
    size_t stride = (max_checks == 0 || n <= max_checks) ? 1 : (n + max_checks - 1) / max_checks;
    for (size_t i = 0; i < n; i += stride) {
        float orig = x[i];
        x[i] = (float)(orig + h);
        double fp = f(ctx);
        x[i] = (float)(orig - h);
        double fm = f(ctx);
        /* the step actually taken in float */
        double hh = ((double)(float)(orig + h) - (double)(float)(orig - h)) / 2.0;
        x[i] = orig;
        double num = (fp - fm) / (2.0 * hh);
        double a = grad[i];
        if (!isfinite(num) || !isfinite(a))
            return sl_error(SL_ENAN, "non-finite gradient at coordinate %zu (analytic %g, numeric %g)", i, a, num);
        double abs_err = fabs(a - num);
        double rel = abs_err / fmax(fabs(a) + fabs(num), floor);
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
