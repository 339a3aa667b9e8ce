/* core/gradcheck.h — finite-difference gradient checking.
 *
 * Compares an analytic gradient a with central differences n = (f(x+h) - f(x-h)) / 2h for up
 * to max_checks coordinates of x (all of them if n <= max_checks or max_checks == 0;
 * otherwise an evenly strided, deterministic subset that includes coordinate 0).
 *
 * Error per coordinate, the usual relative form:
 *     err = |a - n| / max(|a|, |n|, floor_eff),   floor_eff = max(floor, 200 * noise)
 * floor (default 1e-3 when <= 0) is an absolute gradient level below which errors count as
 * absolute ones. noise is the estimated standard deviation of n that comes from rounding in
 * the loss: the loss of a float32 model is computed with relative error ~1e-7, and a central
 * difference divides that error by 2h, so for coordinates with gradients near zero the
 * difference is mostly noise. The noise is measured (not assumed): the loss is evaluated at
 * eight points h/2 apart along two coordinates (0 and the middle checked one), and the spread
 * of their fifth differences, which cancel any smooth variation up to ~f^(5) (h/2)^5, gives the
 * rounding error of the loss (the idea of Moré & Wild's ECnoise); the larger of the two
 * estimates is used (sl_gradcheck_noise). With
 * floor_eff = 200 * noise, a tolerance of 3e-2 on err allows six standard deviations of noise
 * on gradients below floor_eff, and nothing more; a loss computed in double (noise ~1e-16)
 * leaves floor alone. The cost is 16 loss evaluations per call beside 2 per coordinate.
 */
#ifndef SL_CORE_GRADCHECK_H
#define SL_CORE_GRADCHECK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef double (*sl_loss_fn)(void *ctx);

typedef struct {
    double max_rel; /* largest err (see above) */
    double max_abs; /* largest |a - n| */
    size_t worst;   /* coordinate of max_rel */
    double worst_analytic, worst_numeric;
    double noise; /* estimated standard deviation of n from rounding in f */
    double floor; /* floor_eff used */
    size_t checked;
} sl_gradcheck_result;

int sl_gradcheck(float *x, const float *grad, size_t n, sl_loss_fn f, void *ctx, double h, size_t max_checks, double floor,
                 sl_gradcheck_result *res);

/* the rounding noise (standard deviation) of f near x, from 8 points t apart along x[i] */
double sl_gradcheck_noise(float *x, size_t i, sl_loss_fn f, void *ctx, double t);

#ifdef __cplusplus
}
#endif
#endif
