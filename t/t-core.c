/* t/t-core.c — errors, rng, parameter table, gradient checker. */
#include "core/error.h"
#include "core/gradcheck.h"
#include "core/params.h"
#include "core/rng.h"
#include "t/tap.h"

#include <math.h>
#include <string.h>

static double quad(void *ctx)
{
    /* f(x) = sum_i (i+1) x_i^2 + x_0 x_1 */
    float *x = ctx;
    double s = 0;
    for (int i = 0; i < 5; i++) s += (i + 1) * (double)x[i] * x[i];
    return s + (double)x[0] * x[1];
}

static double small_quad(void *ctx)
{
    /* f(x) = 0.01 sum_i (i+1) x_i^2: gradients 0.02 (i+1) x_i, between 1e-3 and 0.1 */
    float *x = ctx;
    double s = 0;
    for (int i = 0; i < 3; i++) s += 0.01 * (i + 1) * (double)x[i] * x[i];
    return s;
}

int main(void)
{
    /* errors */
    int rc = sl_error(SL_EINVAL, "bad value %d", 42);
    ok(rc == SL_EINVAL && !strcmp(sl_errmsg(), "bad value 42"), "sl_error returns its code and records the message");
    sl_error_wrap(rc, "reading %s", "f.txt");
    ok(!strcmp(sl_errmsg(), "reading f.txt: bad value 42"), "sl_error_wrap prefixes context");
    {
        char big[1200];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        sl_error(SL_EINVAL, "%s", big);              /* cut at 1023 */
        sl_error_wrap(SL_EINVAL, "%.700s", big + 1); /* prefix cut at 511 */
        const char *m = sl_errmsg();
        ok(strlen(m) == 1023 && m[511] == ':' && m[512] == ' ' && strspn(m, "x") == 511 && strspn(m + 513, "x") == 510,
           "sl_error_wrap cuts a long prefix and message to the buffer");
        sl_error(SL_EINVAL, "ab");
        sl_error_wrap(SL_EINVAL, "%s", "");
        ok(!strcmp(sl_errmsg(), ": ab"), "sl_error_wrap with an empty prefix");
    }
    ok(strcmp(sl_strerror(SL_EFORMAT), "malformed input") == 0, "sl_strerror names codes");

    /* rng: determinism, state save/restore */
    sl_rng *a = sl_rng_alloc(7), *b = sl_rng_alloc(7), *c = sl_rng_alloc(8);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        double x = sl_rng_uniform(a), y = sl_rng_uniform(b), z = sl_rng_uniform(c);
        same &= x == y;
        diff |= x != z;
    }
    ok(same, "same seed, same stream");
    ok(diff, "different seeds, different streams");
    size_t n = sl_rng_state_size(a);
    unsigned char *buf = malloc(n);
    sl_rng_state_save(a, buf);
    double want[10];
    for (int i = 0; i < 10; i++) want[i] = sl_rng_normal(a, 1.0);
    ok(sl_rng_state_load(b, buf, n) == SL_OK, "state loads");
    same = 1;
    for (int i = 0; i < 10; i++) same &= sl_rng_normal(b, 1.0) == want[i];
    ok(same, "restored state continues the exact stream");
    ok(sl_rng_state_load(b, buf, n - 1) == SL_EFORMAT, "state of the wrong size is refused");
    free(buf);
    double mean = 0, var = 0;
    for (int i = 0; i < 20000; i++) {
        double x = sl_rng_normal(c, 2.0);
        mean += x;
        var += x * x;
    }
    mean /= 20000;
    var = var / 20000 - mean * mean;
    is_close(var, 4.0, 0.2, "normal(sigma=2) has variance ~4");
    sl_rng_free(a);
    sl_rng_free(b);
    sl_rng_free(c);

    /* parameter table */
    sl_params *P = sl_params_new();
    int w = sl_params_add(P, "layer.", "weight", 2, 3, 5, 0, 0);
    int bb = sl_params_add(P, "layer.", "bias", 1, 3, 0, 0, 0);
    ok(w == 0 && bb == 1, "indices in declaration order");
    ok(sl_params_add(P, "layer.", "weight", 1, 2, 0, 0, 0) == SL_EINVAL && strstr(sl_errmsg(), "duplicate"),
       "duplicate names refused");
    ok(sl_params_add(P, "", "bad", 2, 3, 0, 0, 0) == SL_EINVAL, "zero dimension refused");
    ok(sl_params_add(P, "", "bad", 5, 1, 1, 1, 1) == SL_EINVAL, "rank > 4 refused");
    ok(sl_params_find(P, "layer.bias") == 1 && sl_params_find(P, "nope") == -1, "find by full name");
    ok(P->t[w].wd_scale == 1.0f && P->t[bb].wd_scale == 0.0f, "weight decay defaults: matrices yes, vectors no");
    ok(P->t[bb].offset % 16 == 0, "tensors are 64-byte aligned in the block");
    ok(sl_params_alloc(P) == SL_OK && P->data && P->grad, "alloc");
    ok(sl_params_add(P, "", "late", 1, 2, 0, 0, 0) == SL_EINVAL, "no declarations after alloc");
    sl_params_data(P, bb)[2] = NAN;
    ok(sl_params_check_finite(P, 0) == SL_ENAN && strstr(sl_errmsg(), "layer.bias"), "non-finite value found and named");
    sl_params_data(P, bb)[2] = 0;
    ok(sl_params_check_finite(P, 0) == SL_OK, "finite table passes");
    ok(sl_params_count_trainable(P) == 18, "trainable count");
    sl_params_set_trainable(P, bb, 0);
    ok(sl_params_count_trainable(P) == 15, "frozen tensors are not counted");
    sl_params_free(P);

    /* gradient checker on a known function: right gradient passes, wrong one is caught */
    float x[5] = {0.3f, -0.7f, 1.1f, 0.5f, -0.2f}, g[5];
    for (int i = 0; i < 5; i++) g[i] = 2.0f * (i + 1) * x[i];
    g[0] += x[1];
    g[1] += x[0];
    sl_gradcheck_result r;
    int grc = sl_gradcheck(x, g, 5, quad, x, 1e-2, 0, 0, &r);
    ok(grc == SL_OK && r.max_rel < 1e-3 && r.checked == 5, "gradcheck accepts the right gradient (max rel %.2e)", r.max_rel);
    g[3] *= 1.1f;
    sl_gradcheck(x, g, 5, quad, x, 1e-2, 0, 0, &r);
    ok(r.max_rel > 1e-2 && r.worst == 3, "gradcheck flags a 10%% error at the right coordinate");

    /* the floor: the error is |a - n| / max(|a|, |n|, floor), floor 1e-3 by default (a loss in
     * double has no measurable noise, so 200 x noise stays below it). Gradients above the floor
     * are judged relatively: a 10% error on a gradient of 0.006 is an error of 0.1. */
    float xs[3] = {0.3f, -0.7f, 1.1f}, gs[3];
    for (int i = 0; i < 3; i++) gs[i] = 0.02f * (i + 1) * xs[i]; /* 0.006, -0.028, 0.066 */
    sl_gradcheck(xs, gs, 3, small_quad, xs, 1e-2, 0, 0, &r);
    ok(r.max_rel < 1e-6 && r.floor == 1e-3 && r.checked == 3,
       "small gradients: right ones pass, floor 1e-3 (max rel %.2e, floor %g)", r.max_rel, r.floor);
    gs[0] *= 1.1f;
    sl_gradcheck(xs, gs, 3, small_quad, xs, 1e-2, 0, 0, &r);
    ok(fabs(r.max_rel - 0.1 / 1.1) < 1e-4 && r.worst == 0,
       "a 10%% error on a gradient of 0.006 (above the floor) counts relatively: err %.4f = 0.1/1.1", r.max_rel);
    /* below the floor errors are absolute: floor 0.1 turns that error of 6e-4 into 6e-3 */
    sl_gradcheck(xs, gs, 3, small_quad, xs, 1e-2, 0, 0.1, &r);
    ok(fabs(r.max_rel - 6e-4 / 0.1) < 1e-5 && r.floor == 0.1,
       "with floor 0.1 the same error counts absolutely: err %.2e = 6e-4 / 0.1", r.max_rel);
    return done_testing();
}
