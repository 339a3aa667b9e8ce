/* t/t-scan.c — selective scan: reference gradients vs finite differences; fast path and
 * chunked parallel scan vs the sequential reference (forward, last state, every gradient);
 * step mode vs sequence mode; argument errors. */
#include "t/tap.h"
#include "core/error.h"
#include "core/gradcheck.h"
#include "core/rng.h"
#include "ssm/scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, L, D, N, G, use_z, use_D, use_bias, softplus;
    float *u, *delta, *A, *Bm, *Cm, *Dv, *z, *bias, *R, *y;
    sl_scan_args a;
} prob;

static float *rnd(sl_rng *r, size_t n, float lo, float hi)
{
    float *v = malloc(n * sizeof(float));
    sl_rng_fill_uniform(r, v, n, lo, hi);
    return v;
}

static void prob_make(prob *p, uint64_t seed)
{
    sl_rng *r = sl_rng_alloc(seed);
    size_t BLD = (size_t)p->B * p->L * p->D, BLGN = (size_t)p->B * p->L * p->G * p->N;
    p->u = rnd(r, BLD, -1, 1);
    p->delta = rnd(r, BLD, -4, 0.5f);
    p->A = malloc((size_t)p->D * p->N * sizeof(float));
    for (int d = 0; d < p->D; d++) /* S4D-Real, jittered */
        for (int n = 0; n < p->N; n++) p->A[d * p->N + n] = -(float)(n + 1) * (float)(0.5 + sl_rng_uniform(r));
    p->Bm = rnd(r, BLGN, -1, 1);
    p->Cm = rnd(r, BLGN, -1, 1);
    p->Dv = rnd(r, p->D, 0.5f, 1.5f);
    p->z = rnd(r, BLD, -2, 2);
    p->bias = rnd(r, p->D, -1, 1);
    p->R = rnd(r, BLD, -1, 1);
    p->y = malloc(BLD * sizeof(float));
    sl_rng_free(r);
    p->a = (sl_scan_args){p->B,
                          p->L,
                          p->D,
                          p->N,
                          p->G,
                          p->u,
                          p->delta,
                          p->A,
                          p->Bm,
                          p->Cm,
                          p->use_D ? p->Dv : NULL,
                          p->use_z ? p->z : NULL,
                          p->use_bias ? p->bias : NULL,
                          p->softplus};
}

static void prob_free(prob *p)
{
    free(p->u);
    free(p->delta);
    free(p->A);
    free(p->Bm);
    free(p->Cm);
    free(p->Dv);
    free(p->z);
    free(p->bias);
    free(p->R);
    free(p->y);
}

static double ref_loss(void *ctx)
{
    prob *p = ctx;
    if (sl_scan_ref_forward(p->y, NULL, &p->a)) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)p->B * p->L * p->D; i++) s += (double)p->y[i] * p->R[i];
    return s;
}

typedef struct {
    float *du, *ddelta, *dA, *dB, *dC, *dD, *dz, *db;
} gbuf;

static sl_scan_grads gbuf_new(gbuf *g, const prob *p)
{
    size_t BLD = (size_t)p->B * p->L * p->D, BLGN = (size_t)p->B * p->L * p->G * p->N;
    g->du = calloc(BLD, 4);
    g->ddelta = calloc(BLD, 4);
    g->dz = calloc(BLD, 4);
    g->dA = calloc((size_t)p->D * p->N, 4);
    g->dB = calloc(BLGN, 4);
    g->dC = calloc(BLGN, 4);
    g->dD = calloc(p->D, 4);
    g->db = calloc(p->D, 4);
    return (sl_scan_grads){g->du, g->ddelta, g->dA, g->dB, g->dC, g->dD, g->dz, g->db};
}

static void gbuf_free(gbuf *g)
{
    free(g->du);
    free(g->ddelta);
    free(g->dA);
    free(g->dB);
    free(g->dC);
    free(g->dD);
    free(g->dz);
    free(g->db);
}

/* max |a - b| / (max |b| + 1e-6): unlike t/testutil.h's tu_rel_diff_max, strict where the
 * reference is all zero (a difference there counts a million-fold, not absolutely) */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m) && !isnan(m)) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m / (s + 1e-6);
}

static void gradcheck_ref(prob *p, const char *label)
{
    gbuf g;
    sl_scan_grads gr = gbuf_new(&g, p);
    sl_scan_ref_backward(&gr, p->R, &p->a);
    struct {
        const char *name;
        float *x, *gx;
        size_t n;
        int on;
    } ts[] = {
        {"u", p->u, g.du, (size_t)p->B * p->L * p->D, 1},
        {"delta", p->delta, g.ddelta, (size_t)p->B * p->L * p->D, 1},
        {"A", p->A, g.dA, (size_t)p->D * p->N, 1},
        {"B", p->Bm, g.dB, (size_t)p->B * p->L * p->G * p->N, 1},
        {"C", p->Cm, g.dC, (size_t)p->B * p->L * p->G * p->N, 1},
        {"D", p->Dv, g.dD, (size_t)p->D, p->use_D},
        {"z", p->z, g.dz, (size_t)p->B * p->L * p->D, p->use_z},
        {"delta_bias", p->bias, g.db, (size_t)p->D, p->use_bias},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        if (!ts[i].on) continue;
        sl_gradcheck_result r;
        int rc = sl_gradcheck(ts[i].x, ts[i].gx, ts[i].n, ref_loss, p, 1e-3, 60, 1e-3, &r);
        ok(rc == 0 && r.max_rel < 1e-2, "%s: reference grad %s vs finite differences (max rel %.2e over %zu)", label, ts[i].name,
           r.max_rel, r.checked);
    }
    gbuf_free(&g);
}

static void compare_fast(prob *p, const char *label, int K)
{
    size_t BLD = (size_t)p->B * p->L * p->D, BDN = (size_t)p->B * p->D * p->N;
    float *y0 = malloc(BLD * 4), *y1 = malloc(BLD * 4), *s0 = malloc(BDN * 4), *s1 = malloc(BDN * 4);
    sl_scan_ref_forward(y0, s0, &p->a);
    sl_scan_ws *ws = sl_scan_ws_new();
    int rc = sl_scan_forward(y1, s1, &p->a, K, ws);
    double ey = rel_diff(y1, y0, BLD), es = rel_diff(s1, s0, BDN);
    ok(rc == 0 && ey < 2e-5 && es < 2e-5, "%s K=%d (used %d): forward == reference (y rel %.1e, last state rel %.1e)", label, K,
       sl_scan_ws_nchunks(ws), ey, es);
    gbuf g0, g1;
    sl_scan_grads r0 = gbuf_new(&g0, p), r1 = gbuf_new(&g1, p);
    sl_scan_ref_backward(&r0, p->R, &p->a);
    rc = sl_scan_backward(&r1, p->R, &p->a, ws);
    size_t BLGN = (size_t)p->B * p->L * p->G * p->N;
    double e[8] = {rel_diff(g1.du, g0.du, BLD),  rel_diff(g1.ddelta, g0.ddelta, BLD), rel_diff(g1.dA, g0.dA, (size_t)p->D * p->N),
                   rel_diff(g1.dB, g0.dB, BLGN), rel_diff(g1.dC, g0.dC, BLGN),        rel_diff(g1.dD, g0.dD, p->D),
                   rel_diff(g1.dz, g0.dz, BLD),  rel_diff(g1.db, g0.db, p->D)};
    double m = 0;
    for (int i = 0; i < 8; i++)
        if (!(e[i] <= m)) m = e[i];
    ok(rc == 0 && m < 1e-4,
       "%s K=%d: backward == reference (max rel %.1e: du %.1e ddelta %.1e dA %.1e dB %.1e dC %.1e dD %.1e dz %.1e dbias %.1e)",
       label, K, m, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
    if (rc) diag("%s", sl_errmsg());
    /* accumulation: a second backward doubles the gradients */
    if (K == 1) {
        sl_scan_backward(&r1, p->R, &p->a, ws);
        for (int d = 0; d < p->D * p->N; d++) g0.dA[d] *= 2;
        ok(rel_diff(g1.dA, g0.dA, (size_t)p->D * p->N) < 1e-4, "%s: backward accumulates", label);
    }
    gbuf_free(&g0);
    gbuf_free(&g1);
    sl_scan_ws_free(ws);
    free(y0);
    free(y1);
    free(s0);
    free(s1);
}

static void compare_step(prob *p, const char *label)
{
    const int B = p->B, L = p->L, D = p->D, N = p->N, G = p->G;
    size_t BLD = (size_t)B * L * D;
    float *y0 = malloc(BLD * 4), *st = calloc((size_t)B * D * N, 4);
    float *u = malloc(B * D * 4), *dl = malloc(B * D * 4), *z = malloc(B * D * 4), *yy = malloc(B * D * 4);
    float *Bt = malloc((size_t)B * G * N * 4), *Ct = malloc((size_t)B * G * N * 4);
    sl_scan_ws *ws = sl_scan_ws_new();
    sl_scan_forward(y0, NULL, &p->a, 1, ws);
    double m = 0;
    for (int t = 0; t < L; t++) {
        for (int b = 0; b < B; b++) {
            memcpy(u + b * D, p->u + ((size_t)b * L + t) * D, D * 4);
            memcpy(dl + b * D, p->delta + ((size_t)b * L + t) * D, D * 4);
            memcpy(z + b * D, p->z + ((size_t)b * L + t) * D, D * 4);
            memcpy(Bt + (size_t)b * G * N, p->Bm + ((size_t)b * L + t) * G * N, (size_t)G * N * 4);
            memcpy(Ct + (size_t)b * G * N, p->Cm + ((size_t)b * L + t) * G * N, (size_t)G * N * 4);
        }
        sl_scan_args a1 = p->a;
        a1.L = 1;
        a1.u = u;
        a1.delta = dl;
        a1.z = p->use_z ? z : NULL;
        a1.Bm = Bt;
        a1.Cm = Ct;
        sl_scan_step(yy, st, &a1);
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                double e = fabs(yy[b * D + d] - y0[((size_t)b * L + t) * D + d]);
                if (!(e <= m) && !isnan(m)) m = e;
            }
    }
    ok(m < 1e-5, "%s: step mode == sequence mode (max abs %.1e)", label, m);
    sl_scan_ws_free(ws);
    free(y0);
    free(st);
    free(u);
    free(dl);
    free(z);
    free(yy);
    free(Bt);
    free(Ct);
}

/* The gradient of a loss on the LAST step only, reaching inputs more than one checkpoint segment
 * (SL_SCAN_SEG) earlier through a slowly decaying state: the whole-vector comparison above cannot
 * see a cut adjoint between segments when the state decays fast, this one can (the early inputs'
 * gradient exists only through the carried adjoint). */
static void compare_long_range(int L, int N, int K)
{
    const int B = 1, D = 32;
    prob p = {.B = B, .L = L, .D = D, .N = N, .G = 1, .use_z = 1, .use_D = 0, .use_bias = 0, .softplus = 1};
    prob_make(&p, 500 + L + N);
    for (int i = 0; i < D * N; i++) p.A[i] = -0.01f * (float)(1 + i % N);
    for (size_t i = 0; i < (size_t)B * L * D; i++) p.delta[i] -= 4.0f; /* dt ~ softplus(-8..-3.5) */
    memset(p.R, 0, (size_t)B * L * D * sizeof(float));
    for (int d = 0; d < D; d++) p.R[(size_t)(L - 1) * D + d] = 1.0f - 2.0f * (float)(d % 2);
    gbuf r0, r1;
    sl_scan_grads g0 = gbuf_new(&r0, &p), g1 = gbuf_new(&r1, &p);
    sl_scan_ws *ws = sl_scan_ws_new();
    int rc = sl_scan_ref_forward(p.y, NULL, &p.a) || sl_scan_ref_backward(&g0, p.R, &p.a) ||
             sl_scan_forward(p.y, NULL, &p.a, K, ws) || sl_scan_backward(&g1, p.R, &p.a, ws);
    double m = 0, s = 0; /* inputs of the first segment only */
    for (int t = 0; t < SL_SCAN_SEG - 4; t++)
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)t * D + d;
            double e = fabs((double)r1.du[i] - r0.du[i]);
            if (!(e <= m) && !isnan(m)) m = e;
            if (fabs(r0.du[i]) > s) s = fabs(r0.du[i]);
        }
    ok(rc == 0 && s > 1e-4 && m < 1e-4 * s,
       "L=%d N=%d K=%d: a last-step loss reaches the first segment's inputs as in the reference (du there: max %.1e, error %.1e)",
       L, N, K, s, m);
    sl_scan_ws_free(ws);
    gbuf_free(&r0);
    gbuf_free(&r1);
    prob_free(&p);
}

int main(void)
{
    /* small problems for the finite-difference checks of the reference */
    prob p1 = {.B = 2, .L = 7, .D = 3, .N = 4, .G = 1, .use_z = 1, .use_D = 1, .use_bias = 1, .softplus = 1};
    prob_make(&p1, 1);
    gradcheck_ref(&p1, "ref z+D+bias");
    prob_free(&p1);
    prob p2 = {.B = 1, .L = 6, .D = 4, .N = 3, .G = 2, .use_z = 0, .use_D = 0, .use_bias = 0, .softplus = 0};
    prob_make(&p2, 2);
    for (size_t i = 0; i < 24; i++) p2.delta[i] = 0.05f + 0.1f * (float)(i % 5); /* dt > 0 without softplus */
    gradcheck_ref(&p2, "ref plain G=2");
    prob_free(&p2);

    /* fast paths vs reference: odd sizes (partial lane blocks, partial segments), groups */
    struct {
        int B, L, D, N, G, z, Dv, bias;
        const char *label;
    } cs[] = {
        {2, 150, 37, 5, 1, 1, 1, 1, "B=2 L=150 D=37 N=5 z"},
        {1, 300, 48, 16, 2, 0, 1, 1, "B=1 L=300 D=48 N=16 G=2"},
        {3, 64, 16, 8, 1, 1, 0, 0, "B=3 L=64 D=16 N=8"},
        {1, 1000, 20, 16, 4, 1, 1, 1, "B=1 L=1000 D=20 N=16 G=4"},
        /* N = 16 takes its own kernels (lockstep forward at K = 1, register forward at K > 1,
         * register backward): full 16-lane blocks, two batches, z without D */
        {2, 130, 32, 16, 1, 1, 0, 0, "B=2 L=130 D=32 N=16 z"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        prob p = {.B = cs[i].B,
                  .L = cs[i].L,
                  .D = cs[i].D,
                  .N = cs[i].N,
                  .G = cs[i].G,
                  .use_z = cs[i].z,
                  .use_D = cs[i].Dv,
                  .use_bias = cs[i].bias,
                  .softplus = 1};
        prob_make(&p, 10 + i);
        compare_fast(&p, cs[i].label, 1);
        compare_fast(&p, cs[i].label, 3);
        compare_fast(&p, cs[i].label, 0);
        if (i < 2) compare_step(&p, cs[i].label);
        prob_free(&p);
    }
    /* softplus threshold branch: large delta */
    {
        prob p = {.B = 1, .L = 80, .D = 5, .N = 4, .G = 1, .use_z = 1, .use_D = 1, .use_bias = 1, .softplus = 1};
        prob_make(&p, 99);
        for (size_t i = 0; i < 400; i += 3) p.delta[i] = 25.0f;
        for (int d = 0; d < 5 * 4; d++) p.A[d] *= 0.01f;
        compare_fast(&p, "large delta", 2);
        prob_free(&p);
        /* the same through the N = 16 kernels (full and partial lane blocks) */
        prob q = {.B = 1, .L = 80, .D = 21, .N = 16, .G = 1, .use_z = 1, .use_D = 1, .use_bias = 1, .softplus = 1};
        prob_make(&q, 98);
        for (size_t i = 0; i < (size_t)80 * 21; i += 3) q.delta[i] = 25.0f;
        for (int d = 0; d < 21 * 16; d++) q.A[d] *= 0.01f;
        compare_fast(&q, "large delta N=16", 1);
        compare_fast(&q, "large delta N=16", 2);
        /* one A > 0: dt A can be positive, so the N = 16 kernels keep exp's upper clamp */
        q.A[17] = 0.01f;
        compare_fast(&q, "N=16 with an A > 0", 1);
        prob_free(&q);
    }
    /* long-range gradients across checkpoint segments, every path */
    for (int K = 0; K <= 3; K++) {
        compare_long_range(130, 16, K);
        compare_long_range(300, 8, K);
    }
    /* errors */
    {
        sl_scan_args bad = {.B = 1, .L = 4, .D = 6, .N = 2, .G = 4}; /* every pointer NULL */
        float y[24];
        sl_scan_ws *ws = sl_scan_ws_new();
        ok(sl_scan_forward(y, NULL, &bad, 1, ws) == SL_ESHAPE && strstr(sl_errmsg(), "groups"), "D %% G != 0 rejected: %s",
           sl_errmsg());
        bad.G = 1;
        ok(sl_scan_forward(y, NULL, &bad, 1, ws) == SL_EINVAL, "missing inputs rejected: %s", sl_errmsg());
        sl_scan_grads g = {0};
        float x[24] = {0}, A[12] = {0};
        sl_scan_args ok_a = {1, 4, 6, 2, 1, x, x, A, x, x, NULL, NULL, NULL, 1};
        ok(sl_scan_backward(&g, x, &ok_a, ws) == SL_EINVAL, "backward without forward rejected: %s", sl_errmsg());
        sl_scan_ws_free(ws);
    }
    return done_testing();
}
