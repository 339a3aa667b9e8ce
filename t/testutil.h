/* t/testutil.h — shared checks for models in the TAP tests (header-only, include after tap.h).
 *
 * check_model_grads: loss = sum(y * R) for a fixed random R, so dL/dy = R. Runs forward +
 * backward, then compares every trainable parameter (every coordinate of a tensor of up to
 * TU_ALL_COORDS elements, else a strided subset of up to max_per_tensor coordinates) and, for
 * real input, the input gradient against central differences. Emits one TAP line per tensor
 * (and, with TU_DIAG set in the environment, the worst coordinate, the measured
 * finite-difference noise and the floor used, for every one).
 * check_model_grads_rng: the same in training mode under one fixed dropout mask (the rng is
 * reseeded before every forward).
 * check_step_equals_seq: forward() vs step-by-step from a fresh state, max abs difference.
 */
#ifndef SL_T_TESTUTIL_H
#define SL_T_TESTUTIL_H

#include "core/error.h"
#include "core/gradcheck.h"
#include "core/optim.h"
#include "core/rng.h"
#include "lab/registry.h"
#include "seq/layers.h"
#include "seq/model.h"
#include "t/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* tensors of at most this many elements are gradient-checked at every coordinate */
#define TU_ALL_COORDS 32

typedef struct {
    sl_model *m;
    const float *x;
    const int32_t *tok;
    const float *R;
    float *y;
    int B, T;
    sl_rng *rng; /* training mode: reseeded before every forward, so one dropout mask */
    uint64_t seed;
} tu_ctx;

static double tu_loss(void *p)
{
    tu_ctx *c = p;
    if (c->rng) sl_rng_seed(c->rng, c->seed);
    if (sl_model_forward(c->m, c->x, c->tok, c->y, c->B, c->T)) return NAN;
    double s = 0.0;
    size_t n = (size_t)c->B * c->T * c->m->d_out;
    for (size_t i = 0; i < n; i++) s += (double)c->y[i] * c->R[i];
    return s;
}

static inline float *tu_random(size_t n, float sigma, uint64_t seed)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    sl_rng *r = sl_rng_alloc(seed);
    sl_rng_fill_normal(r, v, n, sigma);
    sl_rng_free(r);
    return v;
}

/* returns the number of failed TAP lines; rng non-NULL: the model is in training mode with
 * that rng, reseeded with `seed` before every forward, so dropout draws one fixed mask */
static inline int check_model_grads_rng(sl_model *m, const char *label, const float *x, const int32_t *tok, int B, int T,
                                        double h, double tol, size_t max_per_tensor, sl_rng *rng, uint64_t seed)
{
    size_t ny = (size_t)B * T * m->d_out, nx = x ? (size_t)B * T * m->d_in : 0;
    tu_ctx c = {m, x, tok, NULL, malloc(ny * sizeof(float)), B, T, rng, seed};
    float *R = tu_random(ny, 1.0f, 1234);
    c.R = R;
    float *dx = x ? calloc(nx, sizeof(float)) : NULL;
    sl_params_zero_grad(m->P);
    int fails = 0;
    if (rng) sl_rng_seed(rng, seed);
    if (sl_model_forward(m, x, tok, c.y, B, T) || sl_model_backward(m, R, dx)) {
        ok(0, "%s: forward/backward ran (%s)", label, sl_errmsg());
        free(c.y);
        free(R);
        free(dx);
        return 1;
    }
    float *g = malloc(m->P->total * sizeof(float));
    memcpy(g, m->P->grad, m->P->total * sizeof(float));
    for (int i = 0; i < m->P->n; i++) {
        const sl_tensor *t = &m->P->t[i];
        if (!t->trainable) continue;
        sl_gradcheck_result r;
        /* small tensors (biases, norms, D, A_log, ... of a test model) are checked at every
         * coordinate; larger ones at up to max_per_tensor evenly strided ones */
        size_t lim = t->numel <= TU_ALL_COORDS ? 0 : max_per_tensor;
        int rc = sl_gradcheck(m->P->data + t->offset, g + t->offset, t->numel, tu_loss, &c, h, lim, 1e-3, &r);
        int good = rc == 0 && r.max_rel <= tol;
        fails += !ok(good, "%s: grad %s (max rel %.2e over %zu)", label, t->name, r.max_rel, r.checked);
        if (!good || getenv("TU_DIAG"))
            diag("  worst at %zu: analytic %.6g numeric %.6g (fd noise %.2g, floor %.2g)", r.worst, r.worst_analytic,
                 r.worst_numeric, r.noise, r.floor);
    }
    if (x) {
        sl_gradcheck_result r;
        int rc = sl_gradcheck((float *)x, dx, nx, tu_loss, &c, h, nx <= TU_ALL_COORDS ? 0 : 4 * max_per_tensor, 1e-3, &r);
        int good = rc == 0 && r.max_rel <= tol;
        fails += !ok(good, "%s: grad input (max rel %.2e over %zu)", label, r.max_rel, r.checked);
        if (!good || getenv("TU_DIAG"))
            diag("  worst at %zu: analytic %.6g numeric %.6g (fd noise %.2g, floor %.2g)", r.worst, r.worst_analytic,
                 r.worst_numeric, r.noise, r.floor);
    }
    free(g);
    free(c.y);
    free(R);
    free(dx);
    return fails;
}

static inline int check_model_grads(sl_model *m, const char *label, const float *x, const int32_t *tok, int B, int T, double h,
                                    double tol, size_t max_per_tensor)
{
    return check_model_grads_rng(m, label, x, tok, B, T, h, tol, max_per_tensor, NULL, 0);
}

static inline double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m) && !isnan(m)) m = d; /* a NaN difference sticks: every "<= tol" check fails */
    }
    return m;
}

/* Two relative differences of a from a reference b (n floats each), kept apart because the tests
 * that use them set their tolerances on them (t/mixer_check.h's tu_rel_diff is a third form):
 * tu_rel_diff_1p: max |a - b| / (1 + max |b|), absolute for values of order 1 and below;
 *   INFINITY as soon as some a[i] is not finite (a NaN or inf in b alone goes unnoticed).
 * tu_rel_diff_max: max |a - b| / max |b| (max |b| <= 1e-30: the absolute difference); a NaN
 *   difference anywhere gives NaN, which fails every "<= tol" check. */
static inline double tu_rel_diff_1p(const float *a, const float *b, size_t n)
{
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double e = fabs((double)a[i] - b[i]);
        if (e > d) d = e;
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return d / (1.0 + m);
}

static inline double tu_rel_diff_max(const float *a, const float *b, size_t n)
{
    double mx = 0.0, sc = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx) && !isnan(mx)) mx = d; /* a NaN difference sticks */
        if (fabs((double)b[i]) > sc) sc = fabs((double)b[i]);
    }
    return mx / (sc > 1e-30 ? sc : 1.0);
}

static inline int check_step_equals_seq(sl_model *m, const char *label, const float *x, const int32_t *tok, int B, int T,
                                        double tol)
{
    size_t ny = (size_t)B * T * m->d_out;
    float *y1 = malloc(ny * sizeof(float)), *y2 = malloc(ny * sizeof(float));
    int rc1 = sl_model_forward(m, x, tok, y1, B, T);
    int rc2 = rc1 ? rc1 : sl_model_run_steps(m, x, tok, y2, B, T);
    double d = (rc1 || rc2) ? INFINITY : max_abs_diff(y1, y2, ny);
    int good = ok(d <= tol, "%s: step mode == sequence mode (max abs diff %.2e)", label, d);
    if (rc1 || rc2) diag("  %s", sl_errmsg());
    free(y1);
    free(y2);
    return !good;
}

/* learn_delay: train a one-block real-valued model (spec) to reproduce its input delayed by 4
 * steps, y_t = x_{t-4}, with AdamW (lr 1e-2, no decay) on fresh N(0,1) batches (B 8, T 32);
 * returns the final MSE and stores the first in *first (about 1: learning must bring it far
 * below). INFINITY if the model cannot be built or a pass fails. */
static inline double learn_delay(const char *spec, int steps, double *first)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, 3, &m)) return INFINITY;
    const int B = 8, T = 32, delay = 4;
    sl_optim_config cfg = sl_optim_defaults(SL_OPT_ADAMW);
    cfg.weight_decay = 0.0f;
    sl_optim *o = sl_optim_alloc(&cfg, m->P->total);
    sl_rng *r = sl_rng_alloc(17);
    float *x = malloc(B * T * sizeof *x), *tg = malloc(B * T * sizeof *tg), *y = malloc(B * T * sizeof *y),
          *dy = malloc(B * T * sizeof *dy);
    double loss = INFINITY;
    for (int it = 0; it < steps; it++) {
        sl_rng_fill_normal(r, x, B * T, 1.0f);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) tg[b * T + t] = t >= delay ? x[b * T + t - delay] : 0.0f;
        sl_params_zero_grad(m->P);
        if (sl_model_forward(m, x, NULL, y, B, T)) {
            loss = INFINITY;
            break;
        }
        loss = sl_mse_forward(y, tg, NULL, B * T, 1, NULL);
        if (it == 0) *first = loss;
        memset(dy, 0, B * T * sizeof *dy);
        sl_mse_backward(dy, y, tg, NULL, B * T, 1, 1.0f / (B * T));
        if (sl_model_backward(m, dy, NULL) || sl_optim_step(o, m->P, 1e-2f)) {
            loss = INFINITY;
            break;
        }
    }
    free(x);
    free(tg);
    free(y);
    free(dy);
    sl_rng_free(r);
    sl_optim_free(o);
    sl_model_free(m);
    return loss;
}

/* extra keys some mixers need at the tests' small sizes (d_model 16, T <= 32) */
static inline const char *tu_mixer_small_keys(const char *name)
{
    if (!strcmp(name, "attention")) return ",n_head=2,max_seq_len=32";
    if (!strcmp(name, "hyena")) return ",l_max=32";
    if (!strcmp(name, "based")) return ",window_size=4";
    if (!strcmp(name, "mamba2")) return ",headdim=8,d_state=8";
    return "";
}

/* the spec of registered mixer e bare (width W, its output width 16 where it has one) and inside
 * the LM wrapper (d_model W, 2 layers, vocabulary V), each with tu_mixer_small_keys */
static inline void tu_mixer_spec_bare(char *spec, size_t n, const sl_model_entry *e, int W)
{
    snprintf(spec, n, "%s:%s=%d%s%s%s%s", e->name, e->width_key, W, e->out_key ? "," : "", e->out_key ? e->out_key : "",
             e->out_key ? "=16" : "", tu_mixer_small_keys(e->name));
}
static inline void tu_mixer_spec_lm(char *spec, size_t n, const sl_model_entry *e, int W, int V)
{
    snprintf(spec, n, "lm:mixer=%s,d_model=%d,n_layer=2,vocab_size=%d%s", e->name, W, V, tu_mixer_small_keys(e->name));
}

#endif
