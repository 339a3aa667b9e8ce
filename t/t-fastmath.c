/* t/t-fastmath.c — core/fastmath.h: each function against libm in double, the 16-lane twins
 * against the scalar functions (the same body, so the same bits in one compile), the clamps,
 * the masked exp's zero and NaN propagation. */
#include "core/fastmath.h"
#include "tap.h"

#include <math.h>

/* the argument grid: n points spread over [lo, hi], the ends included */
static float at(float lo, float hi, int i, int n) { return lo + (hi - lo) * (float)i / (float)(n - 1); }

typedef float (*f1)(float);
typedef sl_v16f (*v1)(sl_v16f);

/* 1 if fv(x) == f(x) bit for bit on every lane over the grid */
static int twin_same(f1 f, v1 fv, float lo, float hi)
{
    const int n = 16 * 4096;
    for (int i = 0; i < n; i += 16) {
        sl_v16f x, y;
        for (int l = 0; l < 16; l++) x[l] = at(lo, hi, i + l, n);
        y = fv(x);
        for (int l = 0; l < 16; l++) {
            float s = f(x[l]);
            if (memcmp(&s, &y[l], sizeof s)) {
                diag("x = %.9g: scalar %.9g, lanes %.9g", x[l], s, y[l]);
                return 0;
            }
        }
    }
    return 1;
}

static double sp_ref(double x) { return x > 20 ? x : log1p(exp(x)); }

int main(void)
{
    plan(13);
    const int n = 200001;
    double ee = 0, es = 0, et = 0, el = 0, ep = 0, en = 0;
    for (int i = 0; i < n; i++) {
        const float x = at(-86.0f, 86.0f, i, n), xs = at(-30.0f, 30.0f, i, n);
        ee = fmax(ee, fabs(sl_fm_expf(x) - exp(x)) / exp(x));
        const float xn = at(-86.0f, 0.0f, i, n);
        en = fmax(en, fabs(sl_fm_expf_nonpos(xn) - exp(xn)) / exp(xn));
        es = fmax(es, fabs(sl_fm_sigmoidf(xs) - 1.0 / (1.0 + exp(-(double)xs))));
        et = fmax(et, fabs(sl_fm_tanhf(xs) - tanh(xs)));
        ep = fmax(ep, fabs(sl_fm_softplusf(xs) - sp_ref(xs)) / fmax(1.0, sp_ref(xs)));
        const float y = exp2f(at(-125.0f, 127.0f, i, n)); /* normal positive floats, 2^-125 .. 2^127 */
        const double ly = log(y);
        el = fmax(el, fabs(sl_fm_logf(y) - ly) / fmax(fabs(ly), 1e-3));
    }
    ok(ee < 2.5e-7, "exp: max relative error %.3g on [-86, 86]", ee);
    ok(en < 2.5e-7, "exp_nonpos: max relative error %.3g on [-86, 0]", en);
    ok(es < 2e-7, "sigmoid: max absolute error %.3g on [-30, 30]", es);
    ok(et < 2e-7, "tanh: max absolute error %.3g on [-30, 30]", et);
    ok(ep < 2e-7, "softplus: max error %.3g on [-30, 30] (absolute below 1, relative above)", ep);
    ok(el < 3e-7, "log: max error %.3g (relative, absolute below |log y| = 1e-3) over 2^-125 .. 2^127", el);

    ok(twin_same(sl_fm_expf, sl_fm_expf_v16, -100.0f, 100.0f) &&
           twin_same(sl_fm_expf_nonpos, sl_fm_expf_nonpos_v16, -100.0f, 0.0f) &&
           twin_same(sl_fm_expf_flush, sl_fm_expf_flush_v16, -100.0f, 0.0f),
       "exp, exp_nonpos, exp_flush: the 16-lane twins give the scalar functions' bits");
    ok(twin_same(sl_fm_sigmoidf, sl_fm_sigmoidf_v16, -40.0f, 40.0f) && twin_same(sl_fm_tanhf, sl_fm_tanhf_v16, -40.0f, 40.0f) &&
           twin_same(sl_fm_softplusf, sl_fm_softplusf_v16, -40.0f, 40.0f) && twin_same(sl_fm_logf, sl_fm_logf_v16, 1e-3f, 1e3f),
       "sigmoid, tanh, softplus, log: the 16-lane twins give the scalar functions' bits");

    ok(isfinite(sl_fm_expf(1e30f)) && sl_fm_expf(1e30f) > 1e38f && sl_fm_expf(-1e30f) > 0.0f && isnormal(sl_fm_expf(-1e30f)),
       "exp clamps to [-87, 88]: finite, normal results");
    ok(sl_fm_expf_flush(-INFINITY) == 0.0f && sl_fm_expf_flush(-87.0f) == 0.0f && sl_fm_expf_flush(-86.9f) > 0.0f,
       "exp_flush: 0 at and below -87 (masked -inf scores)");
    ok(sl_fm_sigmoidf(-1000.0f) >= 0.0f && sl_fm_sigmoidf(1000.0f) == 1.0f && sl_fm_tanhf(1000.0f) == 1.0f &&
           sl_fm_tanhf(-1000.0f) == -1.0f && sl_fm_softplusf(1000.0f) == 1000.0f && sl_fm_softplusf(-1000.0f) >= 0.0f,
       "sigmoid, tanh, softplus saturate cleanly");
    /* (a NaN must not reach a float-to-int conversion inside: UBSan, issue 19's fuzzing) */
    ok(isnan(sl_fm_expf(NAN)) && isnan(sl_fm_sigmoidf(NAN)) && isnan(sl_fm_tanhf(NAN)) && isnan(sl_fm_expf_nonpos(NAN)) &&
           isnan(sl_fm_expf_flush(NAN)),
       "NaN propagates through exp, exp_nonpos, exp_flush, sigmoid, tanh");
    ok(sl_fm_logf(1.0f) == 0.0f && fabs(sl_fm_logf(2.0f) - M_LN2) < 1e-7 && fabs(sl_fm_logf(0.5f) + M_LN2) < 1e-7,
       "log(1) = 0, log(2) and log(1/2) to float precision");
    return exit_status();
}
