/* t/mixer_check.h — the checks every mixer's test repeats, in one place (header-only; include
 * after t/testutil.h): a relative difference, two specs' forward and backward passes against
 * each other (a fast path against its naive reference), the lm: wrapper around a mixer (names,
 * step == sequence, finite-difference gradients) and a refused spec. The mixer tests (t/t-h3.c,
 * t/t-hyena.c, t/t-based.c, t/t-gla.c, t/t-retnet.c, t/t-lru.c, t/t-rwkv.c) keep only what is
 * particular to their mixer. */
#ifndef SL_T_MIXER_CHECK_H
#define SL_T_MIXER_CHECK_H

#include "core/error.h"
#include "lab/registry.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* max |a - b| / max(1, max |b|) */
static inline double tu_rel_diff(const float *a, const float *b, size_t n)
{
    double m = 1.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(b[i]) > m) m = fabs(b[i]);
    return max_abs_diff(a, b, n) / m;
}

/* Two specs of one mixer that must compute the same function (same seed: the same parameters):
 * forward on x and backward of dy (both N(0, 1), from xseed and dyseed) through each; the
 * output, the input gradient and every parameter gradient (the worst tensor named) agree within
 * tol_y, tol_dx, tol_g (tu_rel_diff). Three TAP lines, headed by `what`. */
typedef struct {
    const char *spec, *ref; /* the path under test, its reference */
    uint64_t seed, xseed, dyseed;
    int B, T;
    double tol_y, tol_dx, tol_g;
    const char *what; /* "FFT == naive", ... */
} tu_pair;

static inline void tu_check_pair(const tu_pair *c)
{
    sl_model *a = NULL, *b = NULL;
    if (sl_model_create(c->spec, c->seed, &a) || sl_model_create(c->ref, c->seed, &b)) {
        ok(0, "%s: create: %s", c->what, sl_errmsg());
        sl_model_free(a);
        return;
    }
    const size_t nx = (size_t)c->B * c->T * a->d_in, ny = (size_t)c->B * c->T * a->d_out;
    float *x = tu_random(nx, 1.0f, c->xseed), *dy = tu_random(ny, 1.0f, c->dyseed);
    float *ya = malloc(ny * sizeof(float)), *yb = malloc(ny * sizeof(float));
    float *dxa = calloc(nx, sizeof(float)), *dxb = calloc(nx, sizeof(float));
    sl_params_zero_grad(a->P);
    sl_params_zero_grad(b->P);
    int rc = sl_model_forward(a, x, NULL, ya, c->B, c->T) || sl_model_forward(b, x, NULL, yb, c->B, c->T) ||
             sl_model_backward(a, dy, dxa) || sl_model_backward(b, dy, dxb);
    if (rc) diag("%s", sl_errmsg());
    double e = rc ? INFINITY : tu_rel_diff(ya, yb, ny);
    ok(e < c->tol_y, "%s: output (rel %.2e, B=%d T=%d)", c->what, e, c->B, c->T);
    e = rc ? INFINITY : tu_rel_diff(dxa, dxb, nx);
    ok(e < c->tol_dx, "%s: input gradient (rel %.2e)", c->what, e);
    double worst = rc ? INFINITY : 0.0;
    const char *wn = "";
    for (int i = 0; i < a->P->n && !rc; i++) {
        const sl_tensor *t = &a->P->t[i];
        double d = tu_rel_diff(a->P->grad + t->offset, b->P->grad + t->offset, t->numel);
        if (!(d <= worst)) {
            worst = d;
            wn = t->name;
        }
    }
    ok(worst < c->tol_g, "%s: all %d parameter gradients (worst rel %.2e at %s)", c->what, a->P->n, worst, wn);
    free(x);
    free(dy);
    free(ya);
    free(yb);
    free(dxa);
    free(dxb);
    sl_model_free(a);
    sl_model_free(b);
}

/* The lm: wrapper around a mixer: spec (a token model) builds, has every tensor in names (full
 * names, backbone.layers.{i}.mixer....), and on B sequences of T tokens (i * mul + add) % vocab
 * runs step == sequence (step_tol) and finite-difference gradients (step h, tolerance tol, up to
 * 12 coordinates a tensor). Labelled by the spec up to its first comma. */
typedef struct {
    const char *spec;
    const char *names[3]; /* NULL-terminated */
    int B, T, mul, add;
    double step_tol, h, tol;
} tu_lm_case;

static inline void tu_check_lm(const tu_lm_case *c)
{
    char label[64];
    snprintf(label, sizeof label, "%.*s", (int)strcspn(c->spec, ","), c->spec);
    sl_model *m;
    int rc = sl_model_create(c->spec, 3, &m);
    ok(rc == 0, "create %s (%s)", label, rc ? sl_errmsg() : "ok");
    if (rc) return;
    int named = 1;
    for (int i = 0; i < 3 && c->names[i]; i++) named &= sl_params_find(m->P, c->names[i]) >= 0;
    ok(named, "%s: parameter names under backbone.layers.{i}.mixer. (%s, ...)", label, c->names[0]);
    const int n = c->B * c->T;
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    for (int i = 0; i < n; i++) tok[i] = (int32_t)((i * c->mul + c->add) % m->d_in);
    check_step_equals_seq(m, label, NULL, tok, c->B, c->T, c->step_tol);
    check_model_grads(m, label, NULL, tok, c->B, c->T, c->h, c->tol, 12);
    free(tok);
    sl_model_free(m);
}

/* spec is refused with a message that names `needle` */
static inline void tu_refused(const char *spec, const char *needle, const char *what)
{
    sl_model *m = NULL;
    int rc = sl_model_create(spec, 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), needle), "%s rejected: %s", what, rc ? sl_errmsg() : "(built)");
    if (!rc) sl_model_free(m);
}

#endif
