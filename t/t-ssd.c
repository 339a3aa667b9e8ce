/* t/t-ssd.c — Mamba-2: the chunked SSD algorithm == its sequential scan (several chunk sizes,
 * groups, final state), SSD gradients vs finite differences, SSD step; the Mamba2 block:
 * mamba_ssm names, gradient check, step == sequence, chunk-size invariance, agreement with the
 * PyTorch reference (t/ref/make_mamba_fixtures.py), lm:mixer=mamba2, spec errors. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"
#include "t/fixture.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "core/util.h"
#include "lab/registry.h"
#include "ssm/ssd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_ssd_args a;
    float *x, *dt, *A, *Bm, *Cm, *D, *bias, *R, *y;
} sprob;

static float *urand(sl_rng *r, size_t n, float lo, float hi)
{
    float *v = malloc(n * sizeof(float));
    sl_rng_fill_uniform(r, v, n, lo, hi);
    return v;
}

static void sprob_make(sprob *p, int B, int L, int H, int P, int G, int N, uint64_t seed)
{
    sl_rng *r = sl_rng_alloc(seed);
    size_t BL = (size_t)B * L;
    p->x = urand(r, BL * H * P, -1, 1);
    p->dt = urand(r, BL * H, -3, 0.5f);
    p->A = urand(r, H, -3, -0.3f);
    p->Bm = urand(r, BL * G * N, -1, 1);
    p->Cm = urand(r, BL * G * N, -1, 1);
    p->D = urand(r, H, 0.5f, 1.5f);
    p->bias = urand(r, H, -1, 1);
    p->R = urand(r, BL * H * P, -1, 1);
    p->y = malloc(BL * H * P * sizeof(float));
    sl_rng_free(r);
    p->a = (sl_ssd_args){B, L, H, P, G, N, p->x, p->dt, p->A, p->Bm, p->Cm, p->D, p->bias, 1};
}

static void sprob_free(sprob *p)
{
    free(p->x);
    free(p->dt);
    free(p->A);
    free(p->Bm);
    free(p->Cm);
    free(p->D);
    free(p->bias);
    free(p->R);
    free(p->y);
}

static double rel(const float *a, const float *b, size_t n)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m) && !isnan(m)) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m / (s + 1e-6);
}

static double sloss(void *ctx)
{
    sprob *p = ctx;
    if (sl_ssd_ref_forward(p->y, NULL, &p->a)) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)p->a.B * p->a.L * p->a.H * p->a.P; i++) s += (double)p->y[i] * p->R[i];
    return s;
}

static void test_ssd_scan(void)
{
    struct {
        int B, L, H, P, G, N;
    } cs[] = {{2, 37, 4, 3, 2, 5}, {1, 64, 2, 16, 1, 16}, {1, 100, 6, 4, 3, 8}};
    int Qs[] = {1, 4, 7, 16, 64, 1000};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        sprob p;
        sprob_make(&p, cs[c].B, cs[c].L, cs[c].H, cs[c].P, cs[c].G, cs[c].N, 20 + c);
        size_t ny = (size_t)cs[c].B * cs[c].L * cs[c].H * cs[c].P, ns = (size_t)cs[c].B * cs[c].H * cs[c].P * cs[c].N;
        float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4), *s0 = malloc(ns * 4), *s1 = malloc(ns * 4);
        sl_ssd_ref_forward(y0, s0, &p.a);
        sl_ssd_ws *ws = sl_ssd_ws_new();
        double worst = 0, worst_s = 0;
        int rc = 0;
        for (size_t q = 0; q < sizeof Qs / sizeof Qs[0]; q++) {
            rc |= sl_ssd_chunked_forward(y1, s1, &p.a, Qs[q], ws);
            double e = rel(y1, y0, ny), es = rel(s1, s0, ns);
            if (!(e <= worst) && !isnan(worst)) worst = e;
            if (!(es <= worst_s) && !isnan(worst_s)) worst_s = es;
        }
        ok(rc == 0 && worst < 1e-5 && worst_s < 1e-5,
           "SSD B=%d L=%d H=%d P=%d G=%d N=%d: chunked (Q = 1, 4, 7, 16, 64, 1000) == sequential (y rel %.1e, state rel %.1e)",
           cs[c].B, cs[c].L, cs[c].H, cs[c].P, cs[c].G, cs[c].N, worst, worst_s);
        /* step */
        {
            const int B = cs[c].B, L = cs[c].L, H = cs[c].H, P = cs[c].P, G = cs[c].G, N = cs[c].N;
            float *st = calloc(ns, 4), *x = malloc((size_t)B * H * P * 4), *dt = malloc((size_t)B * H * 4);
            float *Bt = malloc((size_t)B * G * N * 4), *Ct = malloc((size_t)B * G * N * 4), *yy = malloc((size_t)B * H * P * 4);
            double m = 0;
            for (int t = 0; t < L; t++) {
                for (int b = 0; b < B; b++) {
                    memcpy(x + (size_t)b * H * P, p.x + ((size_t)b * L + t) * H * P, (size_t)H * P * 4);
                    memcpy(dt + (size_t)b * H, p.dt + ((size_t)b * L + t) * H, (size_t)H * 4);
                    memcpy(Bt + (size_t)b * G * N, p.Bm + ((size_t)b * L + t) * G * N, (size_t)G * N * 4);
                    memcpy(Ct + (size_t)b * G * N, p.Cm + ((size_t)b * L + t) * G * N, (size_t)G * N * 4);
                }
                sl_ssd_args a1 = p.a;
                a1.L = 1;
                a1.x = x;
                a1.dt = dt;
                a1.Bm = Bt;
                a1.Cm = Ct;
                sl_ssd_step(yy, st, &a1);
                for (int b = 0; b < B; b++)
                    for (int i = 0; i < H * P; i++) {
                        double e = fabs(yy[(size_t)b * H * P + i] - y0[((size_t)b * L + t) * H * P + i]);
                        if (!(e <= m) && !isnan(m)) m = e;
                    }
            }
            ok(m < 1e-4, "SSD step == sequential (max abs %.1e)", m);
            free(st);
            free(x);
            free(dt);
            free(Bt);
            free(Ct);
            free(yy);
        }
        sl_ssd_ws_free(ws);
        free(y0);
        free(y1);
        free(s0);
        free(s1);
        sprob_free(&p);
    }
    /* gradients */
    sprob p;
    sprob_make(&p, 2, 9, 4, 3, 2, 4, 7);
    size_t BL = 18;
    float *gx = calloc(BL * 12, 4), *gdt = calloc(BL * 4, 4), *gA = calloc(4, 4), *gB = calloc(BL * 8, 4),
          *gC = calloc(BL * 8, 4);
    float *gD = calloc(4, 4), *gb = calloc(4, 4);
    sl_ssd_grads g = {gx, gdt, gA, gB, gC, gD, gb};
    sl_ssd_ws *ws = sl_ssd_ws_new();
    int rc = sl_ssd_backward(&g, p.R, &p.a, ws);
    ok(rc == 0, "SSD backward runs (%s)", rc ? sl_errmsg() : "ok");
    struct {
        const char *n;
        float *x, *g;
        size_t k;
    } ts[] = {{"x", p.x, gx, BL * 12}, {"dt", p.dt, gdt, BL * 4}, {"A", p.A, gA, 4},         {"B", p.Bm, gB, BL * 8},
              {"C", p.Cm, gC, BL * 8}, {"D", p.D, gD, 4},         {"dt_bias", p.bias, gb, 4}};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        sl_gradcheck_result r;
        rc = sl_gradcheck(ts[i].x, ts[i].g, ts[i].k, sloss, &p, 2e-2, 60, 1e-3, &r);
        ok(rc == 0 && r.max_rel < 1e-2, "SSD grad %s vs finite differences (max rel %.2e over %zu)", ts[i].n, r.max_rel,
           r.checked);
    }
    sl_ssd_ws_free(ws);
    free(gx);
    free(gdt);
    free(gA);
    free(gB);
    free(gC);
    free(gD);
    free(gb);
    sprob_free(&p);
    sl_ssd_args bad = p.a;
    bad.G = 3;
    float y;
    ok(sl_ssd_chunked_forward(&y, NULL, &bad, 4, NULL) == SL_ESHAPE, "H %% G != 0 rejected: %s", sl_errmsg());
}

static void test_block(void)
{
    sl_model *m;
    int rc = sl_model_create("mamba2:d_model=16,d_state=8,headdim=8,ngroups=2,chunk_size=4", 3, &m);
    ok(rc == 0, "create mamba2 (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    /* E = 32, H = 4, conv_dim = 32 + 2*2*8 = 64, in_proj rows = 2*32 + 32 + 4 = 100 */
    ok(shape_is(P, "in_proj.weight", 2, 100, 16, 0) && shape_is(P, "conv1d.weight", 3, 64, 1, 4) &&
           shape_is(P, "conv1d.bias", 1, 64, 0, 0) && shape_is(P, "dt_bias", 1, 4, 0, 0) && shape_is(P, "A_log", 1, 4, 0, 0) &&
           shape_is(P, "D", 1, 4, 0, 0) && shape_is(P, "norm.weight", 1, 32, 0, 0) &&
           shape_is(P, "out_proj.weight", 2, 16, 32, 0) && P->n == 8,
       "mamba_ssm Mamba2 parameter names and shapes (%d tensors)", P->n);
    ok(find(P, "A_log")->wd_scale == 0 && find(P, "D")->wd_scale == 0 && find(P, "dt_bias")->wd_scale == 0,
       "dt_bias, A_log, D: no weight decay");
    const float *al = sl_params_data(P, sl_params_find(P, "A_log"));
    int good = 1;
    for (int h = 0; h < 4; h++) good &= -expf(al[h]) <= -1.0f && -expf(al[h]) >= -16.0f;
    ok(good, "init: A = -exp(A_log) in [-16, -1]");
    const int B = 2, T = 11;
    float *x = tu_random((size_t)B * T * 16, 1.0f, 9);
    float *dtb = sl_params_data(P, sl_params_find(P, "dt_bias"));
    for (int h = 0; h < 4; h++) dtb[h] = -1.5f + 0.4f * h;
    /* float32 forward: a few near-zero conv1d.weight gradients (~3e-5) sit at the finite
     * difference noise level, hence h = 3e-2 and 5e-2; the exact check is the PyTorch one below */
    check_model_grads(m, "mamba2", x, NULL, B, T, 3e-2, 5e-2, 24);
    check_step_equals_seq(m, "mamba2", x, NULL, B, T, 1e-4);
    free(x);
    sl_model_free(m);
    /* chunk size does not change the function */
    sl_model *m1, *m2;
    sl_model_create("mamba2:d_model=16,d_state=8,headdim=8,chunk_size=3", 3, &m1);
    sl_model_create("mamba2:d_model=16,d_state=8,headdim=8,chunk_size=256", 3, &m2);
    float *x2 = tu_random(40 * 16, 1.0f, 2), *y1 = malloc(40 * 16 * 4), *y2 = malloc(40 * 16 * 4);
    sl_model_forward(m1, x2, NULL, y1, 1, 40);
    sl_model_forward(m2, x2, NULL, y2, 1, 40);
    double d = max_abs_diff(y1, y2, 40 * 16);
    ok(d < 1e-5, "chunk_size=3 == chunk_size=256 (max abs %.2e)", d);
    free(x2);
    free(y1);
    free(y2);
    sl_model_free(m1);
    sl_model_free(m2);
}

static void test_lm(void)
{
    sl_model *m;
    int rc = sl_model_create("lm:mixer=mamba2,d_model=16,n_layer=2,vocab_size=11,d_state=8,headdim=8,chunk_size=4", 3, &m);
    ok(rc == 0, "create lm:mixer=mamba2 (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    ok(sl_params_find(m->P, "backbone.layers.1.mixer.norm.weight") >= 0 &&
           sl_params_find(m->P, "backbone.layers.0.mixer.dt_bias") >= 0,
       "lm:mixer=mamba2 names (backbone.layers.{i}.mixer.*)");
    int32_t tok[2 * 9];
    for (int i = 0; i < 18; i++) tok[i] = (i * 5 + 1) % 11;
    check_step_equals_seq(m, "lm:mixer=mamba2", NULL, tok, 2, 9, 1e-4);
    sl_model_free(m);
}

static void test_errors(void)
{
    sl_model *m;
    int rc = sl_model_create("mamba2:d_model=16,headdim=24", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "headdim"), "d_inner not a multiple of headdim rejected: %s", sl_errmsg());
    rc = sl_model_create("mamba2:d_model=16,headdim=8,ngroups=3", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "ngroups"), "nheads not a multiple of ngroups rejected: %s", sl_errmsg());
    rc = sl_model_create("mamba2:d_model=16,chunk_size=0", 1, &m);
    ok(rc != 0, "chunk_size=0 rejected: %s", sl_errmsg());
}

int main(void)
{
    sl_threads_set(1); /* tiny problems; the parallel scan paths are tested in t/t-scan */
    test_ssd_scan();
    test_block();
    check_fixture("mamba2:d_model=16,d_state=8,d_conv=4,expand=2,headdim=8,ngroups=2,chunk_size=5", "mamba2", 1e-4, 1e-4);
    test_lm();
    test_errors();
    return done_testing();
}
