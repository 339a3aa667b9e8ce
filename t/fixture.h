/* t/fixture.h — checks against PyTorch fixtures (header-only; include after t/testutil.h).
 *
 * data_path(NAME): $SL_SRCDIR/t/data/NAME (rotating static buffers, 4 live at a time).
 * shape_is(P, name, nd, a, b, c): the named tensor exists with that shape.
 * check_fixture(spec, PREFIX, tol_y, tol_g): builds `spec`, loads PREFIX_weights.safetensors
 * (a PyTorch state_dict by name), runs forward on PREFIX_x.npy against PREFIX_y.npy (max abs
 * <= tol_y), backward of PREFIX_dy.npy, and compares every parameter gradient and the input
 * gradient ("input") with PREFIX_grads.safetensors (max abs relative to max(1, max|ref|)
 * <= tol_g). Two TAP lines per fixture (three with the load line).
 */
#ifndef SL_T_FIXTURE_H
#define SL_T_FIXTURE_H

#include "core/npy.h"
#include "core/safetensors.h"
#include "lab/registry.h"
#include "t/testutil.h"

#include <stdio.h>

static char *data_path(const char *name)
{
    const char *src = getenv("SL_SRCDIR");
    static char buf[4][1024];
    static int k = 0;
    char *p = buf[k++ & 3];
    snprintf(p, 1024, "%s/t/data/%s", src ? src : ".", name);
    return p;
}

static const sl_tensor *find(const sl_params *P, const char *name)
{
    int i = sl_params_find(P, name);
    return i >= 0 ? &P->t[i] : NULL;
}

static int shape_is(const sl_params *P, const char *name, int nd, int64_t a, int64_t b, int64_t c)
{
    const sl_tensor *t = find(P, name);
    if (!t || t->ndim != nd) return 0;
    int64_t s[3] = {a, b, c};
    for (int i = 0; i < nd; i++)
        if (t->shape[i] != s[i]) return 0;
    return 1;
}

/* forward + gradients against a PyTorch fixture PREFIX_{weights,x,y,dy,grads} */
static void check_fixture(const char *spec, const char *prefix, double tol_y, double tol_g)
{
    char w[256], x[256], y[256], dy[256], g[256];
    snprintf(w, sizeof w, "%s_weights.safetensors", prefix);
    snprintf(x, sizeof x, "%s_x.npy", prefix);
    snprintf(y, sizeof y, "%s_y.npy", prefix);
    snprintf(dy, sizeof dy, "%s_dy.npy", prefix);
    snprintf(g, sizeof g, "%s_grads.safetensors", prefix);
    sl_model *m;
    sl_npy X, Y, DY;
    sl_safetensors *G = NULL;
    if (sl_model_create(spec, 1, &m)) {
        ok(0, "%s: create (%s)", spec, sl_errmsg());
        return;
    }
    int rc = sl_params_load(m->P, data_path(w), NULL, NULL);
    ok(rc == 0, "%s: PyTorch state_dict loads by name (%s)", prefix, rc ? sl_errmsg() : "ok");
    if (rc || sl_npy_read(data_path(x), &X) || sl_npy_read(data_path(y), &Y) || sl_npy_read(data_path(dy), &DY) ||
        sl_safetensors_read(data_path(g), &G)) {
        ok(0, "%s: fixtures readable (%s)", prefix, sl_errmsg());
        sl_model_free(m);
        return;
    }
    const int B = (int)X.shape[0], T = (int)X.shape[1], C = (int)X.shape[2];
    float *out = malloc(Y.numel * sizeof(float)), *dx = calloc(X.numel, sizeof(float));
    rc = sl_model_forward(m, X.data, NULL, out, B, T);
    double e = rc ? INFINITY : max_abs_diff(out, Y.data, Y.numel);
    ok(e <= tol_y, "%s: forward == PyTorch (max abs %.2e, B=%d T=%d C=%d)", prefix, e, B, T, C);
    sl_params_zero_grad(m->P);
    rc = sl_model_backward(m, DY.data, dx);
    double worst = rc ? INFINITY : 0;
    const char *wn = "";
    size_t nt = 0;
    for (size_t i = 0; i < G->n && !rc; i++) {
        const sl_st_tensor *t = &G->t[i];
        float *ref = malloc(t->numel * sizeof(float));
        sl_safetensors_get_f32(G, t, ref, t->numel);
        const float *mine;
        if (!strcmp(t->name, "input")) mine = dx;
        else {
            int k = sl_params_find(m->P, t->name);
            if (k < 0) {
                worst = INFINITY;
                wn = t->name;
                free(ref);
                continue;
            }
            mine = sl_params_grad(m->P, k);
        }
        double s = 0;
        for (size_t j = 0; j < t->numel; j++)
            if (fabs(ref[j]) > s) s = fabs(ref[j]);
        double d = max_abs_diff(mine, ref, t->numel) / (s > 1 ? s : 1);
        if (!(d <= worst)) {
            worst = d;
            wn = t->name;
        }
        nt++;
        free(ref);
    }
    ok(worst <= tol_g && nt == (size_t)m->P->n + 1, "%s: all %zu gradients == PyTorch (worst %.2e at %s)", prefix, nt, worst, wn);
    free(out);
    free(dx);
    sl_npy_free(&X);
    sl_npy_free(&Y);
    sl_npy_free(&DY);
    sl_safetensors_free(G);
    sl_model_free(m);
}

#endif
