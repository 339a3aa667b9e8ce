/* core/gradcheck.h — finite-difference gradient checking.
 *
 * Compares an analytic gradient with central differences (f(x+h) - f(x-h)) / 2h for up to
 * max_checks coordinates of x (all of them if n <= max_checks; otherwise an evenly strided,
 * deterministic subset). The loss is evaluated in double by the callback; x is float, so h
 * is typically 1e-3 .. 1e-2 and tolerances are relative, of order 1e-2.
 * Error per coordinate: |a - d| / max(|a| + |d|, floor) with floor = 1e-3 by default.
 */
#ifndef SL_CORE_GRADCHECK_H
#define SL_CORE_GRADCHECK_H

#include <stddef.h>

typedef double (*sl_loss_fn)(void *ctx);

typedef struct {
    double max_rel;      /* largest relative error */
    double max_abs;      /* largest absolute error */
    size_t worst;        /* coordinate of max_rel */
    double worst_analytic, worst_numeric;
    size_t checked;
} sl_gradcheck_result;

int sl_gradcheck(float *x, const float *grad, size_t n, sl_loss_fn f, void *ctx, double h,
                 size_t max_checks, double floor, sl_gradcheck_result *res);

#endif
