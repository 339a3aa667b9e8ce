/* ssm/scan.c — selective scan: sequential reference, vectorised fast path, chunked parallel
 * scan over time; forward and backward (see scan.h for the equations). */
#include "ssm/scan.h"
#include "core/error.h"
#include "core/fastmath.h"
#include "seq/model.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define W SL_SCAN_W
#define SEG SL_SCAN_SEG
#define PF 8 /* software prefetch distance, time steps */

/* Kernels are SL_CLONES3 (core/fastmath.h): AVX-512, AVX2+FMA and baseline x86-64; the loader
 * picks one. The elementwise functions (exp, softplus, sigmoid; scalar and 16 lanes) are
 * core/fastmath.h's. */
#define INLINE static inline __attribute__((always_inline))

float sl_scan_expf(float x) { return sl_fm_expf(x); }
float sl_scan_softplusf(float x) { return sl_fm_softplusf(x); }
float sl_scan_sigmoidf(float x) { return sl_fm_sigmoidf(x); }

/* ---- argument checks --------------------------------------------------------------------- */

int sl_scan_check(const sl_scan_args *a)
{
    if (!a) return sl_error(SL_EINVAL, "scan: NULL arguments");
    if (a->B <= 0 || a->L <= 0 || a->D <= 0 || a->N <= 0 || a->G <= 0)
        return sl_error(SL_ESHAPE, "scan: bad sizes B=%d L=%d D=%d N=%d G=%d", a->B, a->L, a->D, a->N, a->G);
    if (a->D % a->G) return sl_error(SL_ESHAPE, "scan: D=%d channels do not split into G=%d groups", a->D, a->G);
    if (!a->u || !a->delta || !a->A || !a->Bm || !a->Cm) return sl_error(SL_EINVAL, "scan: u, delta, A, B and C are required");
    return SL_OK;
}

/* ---- reference ----------------------------------------------------------------------------- */

/* packed rows: 1 if a document starts at (b, t > 0), where the state restarts */
static inline int cut_at(const sl_scan_args *a, int b, int t)
{
    return a->doc_pos && t > 0 && a->doc_pos[(size_t)b * a->L + t] == 0;
}

static double ref_softplus(double v) { return v > 20.0 ? v : log1p(exp(v)); }

static double ref_dt(const sl_scan_args *a, size_t row, int d, double *dsp)
{
    double v = (double)a->delta[row] + (a->delta_bias ? a->delta_bias[d] : 0.0);
    if (!a->delta_softplus) {
        if (dsp) *dsp = 1.0;
        return v;
    }
    if (dsp) *dsp = v > 20.0 ? 1.0 : 1.0 / (1.0 + exp(-v));
    return ref_softplus(v);
}

int sl_scan_ref_forward(float *y, float *last_state, const sl_scan_args *a)
{
    int rc = sl_scan_check(a);
    if (rc) return rc;
    const int L = a->L, D = a->D, N = a->N, G = a->G, Dg = D / G;
    double *x = malloc((size_t)N * sizeof(double));
    if (!x) return sl_error(SL_ENOMEM, "out of memory");
    for (int b = 0; b < a->B; b++)
        for (int d = 0; d < D; d++) {
            const int g = d / Dg;
            for (int n = 0; n < N; n++) x[n] = 0.0;
            for (int t = 0; t < L; t++) {
                size_t row = ((size_t)b * L + t) * D + d;
                const float *Bt = a->Bm + (((size_t)b * L + t) * G + g) * N;
                const float *Ct = a->Cm + (((size_t)b * L + t) * G + g) * N;
                double dt = ref_dt(a, row, d, NULL), u = a->u[row], acc = 0.0, keep = cut_at(a, b, t) ? 0.0 : 1.0;
                for (int n = 0; n < N; n++) {
                    x[n] = keep * exp(dt * a->A[(size_t)d * N + n]) * x[n] + dt * Bt[n] * u;
                    acc += Ct[n] * x[n];
                }
                if (a->Dv) acc += a->Dv[d] * u;
                if (a->z) {
                    double zz = a->z[row];
                    acc *= zz / (1.0 + exp(-zz));
                }
                y[row] = (float)acc;
            }
            if (last_state)
                for (int n = 0; n < N; n++) last_state[((size_t)b * D + d) * N + n] = (float)x[n];
        }
    free(x);
    return SL_OK;
}

int sl_scan_ref_backward(const sl_scan_grads *gr, const float *dy, const sl_scan_args *a)
{
    int rc = sl_scan_check(a);
    if (rc) return rc;
    const int L = a->L, D = a->D, N = a->N, G = a->G, Dg = D / G;
    double *xs = malloc((size_t)(L + 1) * N * sizeof(double)), *q = malloc((size_t)N * sizeof(double));
    if (!xs || !q) {
        free(xs);
        free(q);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int b = 0; b < a->B; b++)
        for (int d = 0; d < D; d++) {
            const int g = d / Dg;
            const float *Ad = a->A + (size_t)d * N;
            for (int n = 0; n < N; n++) xs[n] = 0.0;
            for (int t = 0; t < L; t++) { /* states x_t at xs[(t+1)N] */
                size_t row = ((size_t)b * L + t) * D + d;
                const float *Bt = a->Bm + (((size_t)b * L + t) * G + g) * N;
                double dt = ref_dt(a, row, d, NULL), u = a->u[row], keep = cut_at(a, b, t) ? 0.0 : 1.0;
                for (int n = 0; n < N; n++)
                    xs[(size_t)(t + 1) * N + n] = keep * exp(dt * Ad[n]) * xs[(size_t)t * N + n] + dt * Bt[n] * u;
            }
            for (int n = 0; n < N; n++) q[n] = 0.0; /* q = a_{t+1} * dL/dx_{t+1} */
            double dD = 0.0, dbias = 0.0;
            for (int t = L - 1; t >= 0; t--) {
                size_t row = ((size_t)b * L + t) * D + d;
                size_t gro = (((size_t)b * L + t) * G + g) * N;
                const float *Bt = a->Bm + gro, *Ct = a->Cm + gro;
                double dsp, dt = ref_dt(a, row, d, &dsp), u = a->u[row];
                double g_y = dy[row];
                if (a->z) {
                    double yp = 0.0, zz = a->z[row], sg = 1.0 / (1.0 + exp(-zz));
                    for (int n = 0; n < N; n++) yp += Ct[n] * xs[(size_t)(t + 1) * N + n];
                    if (a->Dv) yp += a->Dv[d] * u;
                    if (gr->dz) gr->dz[row] += (float)(g_y * yp * sg * (1.0 + zz * (1.0 - sg)));
                    g_y *= zz * sg;
                }
                double du = a->Dv ? g_y * a->Dv[d] : 0.0, ddt = 0.0;
                dD += g_y * u;
                for (int n = 0; n < N; n++) {
                    double xt = xs[(size_t)(t + 1) * N + n], xp = xs[(size_t)t * N + n];
                    double gx = q[n] + Ct[n] * g_y;
                    double e = cut_at(a, b, t) ? 0.0 : exp(dt * Ad[n]); /* a_t: 0 where a document starts */
                    if (gr->dC) gr->dC[gro + n] += (float)(g_y * xt);
                    if (gr->dB) gr->dB[gro + n] += (float)(gx * dt * u);
                    if (gr->dA) gr->dA[(size_t)d * N + n] += (float)(gx * xp * e * dt);
                    ddt += gx * (xp * e * Ad[n] + Bt[n] * u);
                    du += gx * dt * Bt[n];
                    q[n] = e * gx;
                }
                if (gr->du) gr->du[row] += (float)du;
                if (gr->ddelta) gr->ddelta[row] += (float)(ddt * dsp);
                dbias += ddt * dsp;
            }
            if (gr->dD && a->Dv) gr->dD[d] += (float)dD;
            if (gr->ddelta_bias && a->delta_bias) gr->ddelta_bias[d] += (float)dbias;
        }
    free(xs);
    free(q);
    return SL_OK;
}

/* ---- fast path ------------------------------------------------------------------------------ */

struct sl_scan_ws {
    int B, L, D, N, G, K, nblk, bpg, nseg, nth, has_z;
    int nonpos;       /* dt A <= 0 everywhere: dt = softplus(.) >= 0 and every A <= 0 (Mamba's A = -exp(A_log)) */
    float *dt;        /* (B, L, D) step sizes */
    float *AT;        /* (nblk, N, W) A transposed into lanes */
    float *ck;        /* (B, nseg, nblk, N, W) state at each segment start */
    float *P, *E;     /* (B, K, nblk, N, W) chunk products / local end states (and adjoints) */
    float *thr;       /* (nth, (2 SEG + 1) N W) per-thread recompute buffers */
    float *dBp, *dCp; /* (nblk, B, L, N) partial dB, dC per block */
    float *dAp;       /* (B K, nblk, N, W) */
    float *dDp;       /* (2, B K, nblk, W) partial dD, then partial ddelta_bias */
    size_t cap[10];
};

sl_scan_ws *sl_scan_ws_new(void)
{
    sl_scan_ws *ws = calloc(1, sizeof *ws);
    if (!ws) sl_error(SL_ENOMEM, "out of memory");
    return ws;
}

/* the buffers, whose bytes memory accounting counts (seq/model.h, sl_mem_count) */
static float **ws_bufs(sl_scan_ws *ws, int i)
{
    float **b[10] = {&ws->dt, &ws->AT, &ws->ck, &ws->P, &ws->E, &ws->thr, &ws->dBp, &ws->dCp, &ws->dAp, &ws->dDp};
    return b[i];
}

void sl_scan_ws_release(sl_scan_ws *ws)
{
    if (!ws) return;
    for (int i = 0; i < 10; i++) {
        float **p = ws_bufs(ws, i);
        if (*p) sl_mem_count(0, ws->cap[i] * sizeof(float));
        free(*p);
        *p = NULL;
        ws->cap[i] = 0;
    }
}

void sl_scan_ws_free(sl_scan_ws *ws)
{
    sl_scan_ws_release(ws);
    free(ws);
}

int sl_scan_ws_nchunks(const sl_scan_ws *ws) { return ws ? ws->K : 0; }

static int reserve(float **p, size_t *cap, size_t n)
{
    if (n <= *cap && *p) return SL_OK;
    if (*p) sl_mem_count(0, *cap * sizeof(float));
    free(*p);
    *p = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64);
    *cap = *p ? n : 0;
    if (*p) sl_mem_count(n * sizeof(float), 0);
    return *p ? SL_OK : sl_error(SL_ENOMEM, "scan: out of memory (%zu floats)", n);
}

typedef struct {
    const sl_scan_args *a;
    sl_scan_ws *ws;
} scan_ctx;

INLINE void blk_info(const sl_scan_ws *ws, int blk, int *g, int *c0, int *nw)
{
    const int Dg = ws->D / ws->G;
    *g = blk / ws->bpg;
    int o = (blk % ws->bpg) * W;
    *c0 = *g * Dg + o;
    *nw = Dg - o < W ? Dg - o : W;
}

INLINE float *ck_at(const sl_scan_ws *ws, int b, int s, int blk)
{
    return ws->ck + (((size_t)b * ws->nseg + s) * ws->nblk + blk) * ws->N * W;
}

INLINE float *chunk_at(const sl_scan_ws *ws, float *base, int b, int k, int blk)
{
    return base + (((size_t)b * ws->K + k) * ws->nblk + blk) * ws->N * W;
}

/* sum of the 16 lanes, pairwise, in vector registers (plain loops here became scalar code) */
typedef float v8sf __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));
_Static_assert(W == 16, "hsum assumes 16 lanes");
INLINE float hsum(const float *v)
{
    v8sf a, b;
    v4sf c, d;
    memcpy(&a, v, sizeof a);
    memcpy(&b, v + 8, sizeof b);
    a += b;
    memcpy(&c, &a, sizeof c);
    memcpy(&d, (const char *)&a + sizeof c, sizeof d);
    c += d;
    return (c[0] + c[2]) + (c[1] + c[3]);
}

INLINE void load_lanes(float *dst, const float *src, int nw)
{
    for (int j = 0; j < W; j++) dst[j] = j < nw ? src[j] : 0.0f;
}

/* Software prefetch of one row position of the (B, L, D) inputs and outputs: the rows of one
 * block are D floats apart, beyond the hardware prefetchers' reach once D*4 > 4 KB. */
INLINE void fwd_prefetch(const sl_scan_args *a, const sl_scan_ws *ws, const float *y, size_t at, int mode)
{
    __builtin_prefetch(ws->dt + at);
    __builtin_prefetch(a->u + at);
    if (mode == 1 && a->z) __builtin_prefetch(a->z + at);
    if (mode == 1) __builtin_prefetch(y + at, 1);
}

/* Forward over t in [t0, t1) for one (b, block), state S (N, W) in/out.
 * mode 0: state only (+ sum of dt into sdt); mode 1: outputs and checkpoints. */
INLINE void fwd_body(const scan_ctx *c, int b, int blk, int t0, int t1, float *restrict S, float *restrict y, float *restrict sdt,
                     const int mode, const int nw)
{
    const sl_scan_args *a = c->a;
    const sl_scan_ws *ws = c->ws;
    const int L = a->L, D = a->D, N = a->N, G = a->G;
    int g, c0, nw_;
    blk_info(ws, blk, &g, &c0, &nw_);
    const float *AT = ws->AT + (size_t)blk * N * W;
    float dtv[W], uv[W], acc[W], dv[W];
    load_lanes(dv, a->Dv ? a->Dv + c0 : NULL, a->Dv ? nw : 0);
    for (int t = t0; t < t1; t++) {
        if (mode == 1 && t % SEG == 0) memcpy(ck_at(ws, b, t / SEG, blk), S, (size_t)N * W * sizeof(float));
        if (cut_at(a, b, t)) memset(S, 0, (size_t)N * W * sizeof(float)); /* a document starts */
        size_t row = ((size_t)b * L + t) * D + c0;
        if (t + PF < t1) fwd_prefetch(a, ws, y, row + PF * (size_t)D, mode);
        load_lanes(dtv, ws->dt + row, nw);
        load_lanes(uv, a->u + row, nw);
        const size_t gro = (((size_t)b * L + t) * G + g) * N;
        const float *Bt = a->Bm + gro, *Ct = a->Cm + gro;
        for (int j = 0; j < W; j++) acc[j] = 0.0f;
        for (int n = 0; n < N; n++) {
            const float bn = Bt[n], cn = Ct[n];
            float *Sn = S + (size_t)n * W;
            const float *An = AT + (size_t)n * W;
            #pragma omp simd
            for (int j = 0; j < W; j++) {
                float s = sl_fm_expf(dtv[j] * An[j]) * Sn[j] + dtv[j] * uv[j] * bn;
                Sn[j] = s;
                if (mode == 1) acc[j] += cn * s;
            }
        }
        if (mode == 0) {
            for (int j = 0; j < W; j++) sdt[j] += dtv[j];
        } else {
            #pragma omp simd
            for (int j = 0; j < W; j++) acc[j] += dv[j] * uv[j];
            if (a->z) {
                float zv[W];
                load_lanes(zv, a->z + row, nw);
                #pragma omp simd
                for (int j = 0; j < W; j++) acc[j] *= zv[j] * sl_fm_sigmoidf(zv[j]);
            }
            for (int j = 0; j < nw; j++) y[row + j] = acc[j];
        }
    }
}

/* ---- forward, N = 16 (the Mamba default) ----------------------------------------------------
 * Two orders: fwd16_lock_body below (the unchunked scan, K = 1) and fwd16_body, one block
 * through its whole chunk of time (the chunked scan's phases 1 and 3). The generic fwd_body
 * keeps the (N, W) state in a memory array and reloads it every step; with N fixed at 16 the
 * state is sixteen 16-lane vector values that the compiler keeps in registers across the time
 * loop where it can (AVX-512 has 32), and the output dot product uses four partial sums
 * instead of one chain of N dependent adds. Same arithmetic as fwd_body. Measured when
 * fwd16_body was also the K = 1 path (one thread, B=1 D=1536 L=2048): 0.035 -> 0.027 s. */
#define N16 16
/* the vector helpers are always inlined: no vector crosses a call boundary */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef sl_v16f v16f;
typedef sl_v16i v16i;
typedef sl_v16u v16u;
typedef float v16fu __attribute__((vector_size(64), aligned(4), may_alias)); /* unaligned access */

/* e^x on 16 lanes; nonpos: the caller knows x <= 0 (or NaN), so the upper clamp is left out */
INLINE v16f vexp_c(v16f x, const int nonpos)
{
    if (!nonpos) x = sl_fm_sel_v16(x > 88.0f, (v16f){0} + 88.0f, x); /* sl_fm_expf_v16's upper clamp */
    return sl_fm_expf_nonpos_v16(x);
}

INLINE v16f vload(const float *src, int nw)
{
    if (nw == W) return *(const v16fu *)src;
    v16f v = {0};
    for (int j = 0; j < nw; j++) v[j] = src[j];
    return v;
}

/* One step of one 16-channel block, N = 16: S <- exp(dt A) S + dt u B; returns C.S (when out) */
INLINE v16f step16(v16f *restrict S, const float *AT, v16f dtv, v16f uv, const float *Bt, const float *Ct, const int out,
                   const int nonpos)
{
    const v16f du = dtv * uv;
    v16f acc[4] = {{0}, {0}, {0}, {0}};
    #pragma GCC unroll 16
    for (int n = 0; n < N16; n++) {
        S[n] = vexp_c(dtv * *(const v16fu *)(AT + n * W), nonpos) * S[n] + du * Bt[n];
        if (out) acc[n & 3] += S[n] * Ct[n];
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* y of one block and step from its C.S: plus D u, gated by silu(z) when zp is given */
INLINE v16f gate16(v16f o, v16f dv, v16f uv, const float *zp, int nw)
{
    o += dv * uv;
    if (zp) {
        const v16f zv = vload(zp, nw);
        o *= zv / (1.0f + sl_fm_expf_v16(-zv));
    }
    return o;
}

INLINE void fwd16_body(const scan_ctx *c, int b, int blk, int t0, int t1, float *restrict Sio, float *restrict y,
                       float *restrict sdt, const int mode, const int nw, const int nonpos)
{
    const sl_scan_args *a = c->a;
    const sl_scan_ws *ws = c->ws;
    const int L = a->L, D = a->D, G = a->G;
    int g, c0, nw_;
    blk_info(ws, blk, &g, &c0, &nw_);
    const float *AT = ws->AT + (size_t)blk * N16 * W;
    v16f S[N16]; /* A is read from memory each step (a load operand): S alone fills 16 registers */
    #pragma GCC unroll 16
    for (int n = 0; n < N16; n++) S[n] = *(const v16fu *)(Sio + n * W);
    const v16f dv = a->Dv ? vload(a->Dv + c0, nw) : (v16f){0};
    v16f sd = {0};
    for (int t = t0; t < t1; t++) {
        if (mode == 1 && t % SEG == 0) {
            float *ck = ck_at(ws, b, t / SEG, blk);
            #pragma GCC unroll 16
            for (int n = 0; n < N16; n++) *(v16fu *)(ck + n * W) = S[n];
        }
        if (cut_at(a, b, t)) /* a document starts */
            for (int n = 0; n < N16; n++) S[n] = (v16f){0};
        size_t row = ((size_t)b * L + t) * D + c0;
        if (t + PF < t1) fwd_prefetch(a, ws, y, row + PF * (size_t)D, mode);
        const v16f dtv = vload(ws->dt + row, nw), uv = vload(a->u + row, nw);
        const size_t gro = (((size_t)b * L + t) * G + g) * N16;
        const v16f sum = step16(S, AT, dtv, uv, a->Bm + gro, a->Cm + gro, mode == 1, nonpos);
        if (mode == 0) {
            sd += dtv;
            continue;
        }
        const v16f o = gate16(sum, dv, uv, a->z ? a->z + row : NULL, nw);
        if (nw == W) *(v16fu *)(y + row) = o;
        else
            for (int j = 0; j < nw; j++) y[row + j] = o[j];
    }
    #pragma GCC unroll 16
    for (int n = 0; n < N16; n++) *(v16fu *)(Sio + n * W) = S[n];
    if (mode == 0)
        for (int j = 0; j < W; j++) sdt[j] += sd[j];
}

/* Lockstep forward (K = 1, N = 16, mode 1) over the blocks [blk0, blk1) of batch b: time
 * outside, blocks inside, each block's state loaded from and stored back to Sb (blk1 - blk0
 * blocks of N x W) around its step. Every step then reads one contiguous stretch of each input
 * row and writes one of y, instead of one line per block with rows D floats apart, which is
 * what the one-block-through-all-time order (fwd16_body) does; the state's round trip through
 * L1/L2 costs far less than those scattered lines. Measured at B=1 D=1536 L=2048: one thread
 * 0.022 s against 0.033 s, two threads 0.012 s against 0.019 s. */
INLINE void fwd16_lock_body(const scan_ctx *c, int b, int blk0, int blk1, float *restrict Sb, float *restrict y, const int nonpos)
{
    const sl_scan_args *a = c->a;
    const sl_scan_ws *ws = c->ws;
    const int L = a->L, D = a->D, G = a->G;
    for (int t = 0; t < L; t++) {
        if (t + 2 < L) {
            int g0, c0, nw0, g1, c1, nw1; /* the channels of these blocks, c0 .. c1 + nw1 */
            blk_info(ws, blk0, &g0, &c0, &nw0);
            blk_info(ws, blk1 - 1, &g1, &c1, &nw1);
            const size_t r2 = ((size_t)b * L + t + 2) * D + c0;
            for (int j = 0; j < c1 + nw1 - c0; j += 16) {
                __builtin_prefetch(ws->dt + r2 + j);
                __builtin_prefetch(a->u + r2 + j);
                if (a->z) __builtin_prefetch(a->z + r2 + j);
                __builtin_prefetch(y + r2 + j, 1);
            }
        }
        for (int blk = blk0; blk < blk1; blk++) {
            int g, c0, nw;
            blk_info(ws, blk, &g, &c0, &nw);
            float *Sio = Sb + (size_t)(blk - blk0) * N16 * W;
            v16f S[N16];
            #pragma GCC unroll 16
            for (int n = 0; n < N16; n++) S[n] = *(const v16fu *)(Sio + n * W);
            if (t % SEG == 0) {
                float *ck = ck_at(ws, b, t / SEG, blk);
                #pragma GCC unroll 16
                for (int n = 0; n < N16; n++) *(v16fu *)(ck + n * W) = S[n];
            }
            if (cut_at(a, b, t)) /* a document starts */
                for (int n = 0; n < N16; n++) S[n] = (v16f){0};
            const float *AT = ws->AT + (size_t)blk * N16 * W;
            const size_t row = ((size_t)b * L + t) * D + c0;
            const v16f dtv = vload(ws->dt + row, nw), uv = vload(a->u + row, nw);
            const size_t gro = (((size_t)b * L + t) * G + g) * N16;
            const v16f sum = step16(S, AT, dtv, uv, a->Bm + gro, a->Cm + gro, 1, nonpos);
            #pragma GCC unroll 16
            for (int n = 0; n < N16; n++) *(v16fu *)(Sio + n * W) = S[n];
            const v16f o = gate16(sum, a->Dv ? vload(a->Dv + c0, nw) : (v16f){0}, uv, a->z ? a->z + row : NULL, nw);
            if (nw == W) *(v16fu *)(y + row) = o;
            else
                for (int j = 0; j < nw; j++) y[row + j] = o[j];
        }
    }
}

SL_CLONES3 static void fwd16_lock(const scan_ctx *c, int b, int blk0, int blk1, float *Sb, float *y)
{
    if (c->ws->nonpos) fwd16_lock_body(c, b, blk0, blk1, Sb, y, 1);
    else fwd16_lock_body(c, b, blk0, blk1, Sb, y, 0);
}

SL_CLONES3 static void fwd_kernel(const scan_ctx *c, int b, int blk, int t0, int t1, float *S, float *y, float *sdt, int mode)
{
    int g, c0, nw;
    blk_info(c->ws, blk, &g, &c0, &nw);
    /* mode and full-block width (and for N = 16 whether dt A <= 0) as compile-time constants */
#define FWD_SPECIALISE(body, ...) \
    do { \
        if (mode == 0 && nw == W) body(c, b, blk, t0, t1, S, y, sdt, 0, W __VA_ARGS__); \
        else if (mode == 0) body(c, b, blk, t0, t1, S, y, sdt, 0, nw __VA_ARGS__); \
        else if (nw == W) body(c, b, blk, t0, t1, S, y, sdt, 1, W __VA_ARGS__); \
        else body(c, b, blk, t0, t1, S, y, sdt, 1, nw __VA_ARGS__); \
    } while (0)
    if (c->a->N == N16 && c->ws->nonpos) FWD_SPECIALISE(fwd16_body, , 1);
    else if (c->a->N == N16) FWD_SPECIALISE(fwd16_body, , 0);
    else FWD_SPECIALISE(fwd_body);
#undef FWD_SPECIALISE
}

SL_CLONES3 static void dt_kernel(float *dt, const sl_scan_args *a, size_t r0, size_t r1)
{
    const int D = a->D;
    for (size_t r = r0; r < r1; r++) {
        const float *dl = a->delta + r * D;
        float *o = dt + r * D;
        if (a->delta_softplus) {
            if (a->delta_bias) {
                #pragma omp simd
                for (int d = 0; d < D; d++) o[d] = sl_fm_softplusf(dl[d] + a->delta_bias[d]);
            } else {
                #pragma omp simd
                for (int d = 0; d < D; d++) o[d] = sl_fm_softplusf(dl[d]);
            }
        } else {
            for (int d = 0; d < D; d++) o[d] = dl[d] + (a->delta_bias ? a->delta_bias[d] : 0.0f);
        }
    }
}

static int nthreads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* chunk k covers segments [k nseg / K, (k+1) nseg / K) */
static void chunk_range(const sl_scan_ws *ws, int k, int *t0, int *t1)
{
    int s0 = (int)((long)k * ws->nseg / ws->K), s1 = (int)((long)(k + 1) * ws->nseg / ws->K);
    *t0 = s0 * SEG;
    *t1 = s1 * SEG < ws->L ? s1 * SEG : ws->L;
}

int sl_scan_forward(float *y, float *last_state, const sl_scan_args *a, int nchunks, sl_scan_ws *ws)
{
    int rc = sl_scan_check(a);
    if (rc) return rc;
    if (!ws || !y) return sl_error(SL_EINVAL, "scan: NULL output or workspace");
    if (nchunks < 0) return sl_error(SL_EINVAL, "scan: nchunks must be >= 0, not %d", nchunks);
    const int B = a->B, L = a->L, D = a->D, N = a->N, G = a->G, Dg = D / G;
    ws->B = B;
    ws->L = L;
    ws->D = D;
    ws->N = N;
    ws->G = G;
    ws->bpg = (Dg + W - 1) / W;
    ws->nblk = G * ws->bpg;
    ws->nseg = (L + SEG - 1) / SEG;
    ws->nth = nthreads();
    ws->has_z = a->z != NULL;
    ws->nonpos = a->delta_softplus;
    for (size_t i = 0; ws->nonpos && i < (size_t)D * N; i++) ws->nonpos = a->A[i] <= 0.0f;
    int K = nchunks;
    if (K == 0) {
        long tasks = (long)B * ws->nblk;
        K = tasks >= 2L * ws->nth ? 1 : (int)((2L * ws->nth + tasks - 1) / tasks);
    }
    if (K > ws->nseg) K = ws->nseg;
    if (a->doc_pos) K = 1; /* packed rows: the unchunked scan (scan.h) */
    ws->K = K;
    const size_t NW = (size_t)N * W;
    if ((rc = reserve(&ws->dt, &ws->cap[0], (size_t)B * L * D)) || (rc = reserve(&ws->AT, &ws->cap[1], ws->nblk * NW)) ||
        (rc = reserve(&ws->ck, &ws->cap[2], (size_t)B * ws->nseg * ws->nblk * NW)) ||
        (rc = reserve(&ws->P, &ws->cap[3], (size_t)B * K * ws->nblk * NW)) ||
        (rc = reserve(&ws->E, &ws->cap[4], (size_t)B * K * ws->nblk * NW)))
        return rc;
    /* A transposed into lanes; padding lanes get A = 0 (their dt and u are 0 too) */
    for (int blk = 0; blk < ws->nblk; blk++) {
        int g, c0, nw;
        blk_info(ws, blk, &g, &c0, &nw);
        for (int n = 0; n < N; n++)
            for (int j = 0; j < W; j++)
                ws->AT[(size_t)blk * NW + (size_t)n * W + j] = j < nw ? a->A[(size_t)(c0 + j) * N + n] : 0.0f;
    }
    const size_t rows = (size_t)B * L;
    /* small problems run serially: a parallel region costs more than they do */
    const int par = (double)B * L * D * N >= 262144.0;
    #pragma omp parallel for schedule(static) if (par)
    for (long i = 0; i < (long)((rows + 63) / 64); i++)
        dt_kernel(ws->dt, a, (size_t)i * 64, (size_t)(i + 1) * 64 < rows ? (size_t)(i + 1) * 64 : rows);

    scan_ctx c = {a, ws};
    const long nbb = (long)B * ws->nblk;
    if (K > 1) {
        /* phase 1: each chunk from a zero state -> E (end state), P = exp(A sum dt) */
        #pragma omp parallel for schedule(static) if (par)
        for (long i = 0; i < nbb * (K - 1); i++) {
            int k = (int)(i % (K - 1)), blk = (int)(i / (K - 1) % ws->nblk), b = (int)(i / (K - 1) / ws->nblk);
            int t0, t1;
            chunk_range(ws, k, &t0, &t1);
            float *E = chunk_at(ws, ws->E, b, k, blk), *Pk = chunk_at(ws, ws->P, b, k, blk), sdt[W] = {0};
            memset(E, 0, NW * sizeof(float));
            fwd_kernel(&c, b, blk, t0, t1, E, NULL, sdt, 0);
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) Pk[n * W + j] = sl_fm_expf(ws->AT[(size_t)blk * NW + n * W + j] * sdt[j]);
        }
        /* phase 2: chain the chunks: in[0] = 0, in[k] = P[k-1] in[k-1] + E[k-1]; in[k] replaces E[k] */
        #pragma omp parallel for schedule(static) if (par)
        for (long i = 0; i < nbb; i++) {
            int blk = (int)(i % ws->nblk), b = (int)(i / ws->nblk);
            float run[NW];
            memset(run, 0, sizeof run);
            for (int k = 0; k < K; k++) {
                float *E = chunk_at(ws, ws->E, b, k, blk);
                const float *Pk = chunk_at(ws, ws->P, b, k, blk);
                for (size_t e = 0; e < NW; e++) {
                    float in = run[e];
                    if (k < K - 1) run[e] = Pk[e] * in + E[e];
                    E[e] = in;
                }
            }
        }
    }
    /* phase 3 (or the whole scan when K == 1). (Tiling this loop in time, so that all of a
     * thread's blocks walk one tile of 64 rows before the next, was measured slower: 0.036 s
     * against 0.029 s single-threaded at B=1 D=1536 L=2048 N=16; stepping all of a thread's
     * blocks one time step at a time is the lockstep path above, much faster.) */
    if (K == 1 && N == N16) { /* lockstep over each thread's blocks (see fwd16_lock_body) */
        memset(ws->E, 0, (size_t)nbb * NW * sizeof(float));
        #pragma omp parallel if (par)
        {
            int nth = 1, id = 0;
#ifdef _OPENMP
            nth = omp_get_num_threads();
            id = omp_get_thread_num();
#endif
            for (int b = 0; b < B; b++) {
                int blk0 = (int)((long)ws->nblk * id / nth), blk1 = (int)((long)ws->nblk * (id + 1) / nth);
                if (blk1 > blk0) fwd16_lock(&c, b, blk0, blk1, ws->E + ((size_t)b * ws->nblk + blk0) * NW, y);
            }
        }
        if (last_state)
            for (int b = 0; b < B; b++)
                for (int blk = 0; blk < ws->nblk; blk++) {
                    int g, c0, nw;
                    blk_info(ws, blk, &g, &c0, &nw);
                    const float *S = ws->E + ((size_t)b * ws->nblk + blk) * NW;
                    for (int j = 0; j < nw; j++)
                        for (int n = 0; n < N; n++) last_state[((size_t)b * D + c0 + j) * N + n] = S[(size_t)n * W + j];
                }
        return SL_OK;
    }
    #pragma omp parallel for schedule(static) if (par)
    for (long i = 0; i < nbb * K; i++) {
        int k = (int)(i % K), blk = (int)(i / K % ws->nblk), b = (int)(i / K / ws->nblk);
        int t0, t1;
        chunk_range(ws, k, &t0, &t1);
        float S[NW];
        if (K > 1) memcpy(S, chunk_at(ws, ws->E, b, k, blk), sizeof S);
        else memset(S, 0, sizeof S);
        fwd_kernel(&c, b, blk, t0, t1, S, y, NULL, 1);
        if (last_state && k == K - 1) {
            int g, c0, nw;
            blk_info(ws, blk, &g, &c0, &nw);
            for (int j = 0; j < nw; j++)
                for (int n = 0; n < N; n++) last_state[((size_t)b * D + c0 + j) * N + n] = S[(size_t)n * W + j];
        }
    }
    return SL_OK;
}

/* Backward over the segments of one chunk, latest first, for one (b, block).
 * q (N, W) in/out: the adjoint flowing into the chunk's last step from the future,
 * q_t = a_{t+1} dL/dx_{t+1}. mode 0: adjoint only over [t0, t1) (+ sum dt); mode 1: all grads. */
typedef struct {
    const sl_scan_grads *g;
    const float *dy;
    float *X, *Ab;       /* per-thread: (SEG+1, N, W), (SEG, N, W) */
    float *dA, *dD, *db; /* task partials (N, W), (W), (W) */
} bwd_out;

/* backward's prefetch: the inputs, and with grads the gradient rows it adds to (and delta's
 * row when the derivative of softplus is taken from delta) */
INLINE void bwd_prefetch(const sl_scan_args *a, const sl_scan_ws *ws, const bwd_out *o, size_t at, int grads, int delta)
{
    __builtin_prefetch(ws->dt + at);
    __builtin_prefetch(a->u + at);
    __builtin_prefetch(o->dy + at);
    if (a->z) __builtin_prefetch(a->z + at);
    if (delta) __builtin_prefetch(a->delta + at);
    if (!grads) return;
    if (o->g->du) __builtin_prefetch(o->g->du + at, 1);
    if (o->g->ddelta) __builtin_prefetch(o->g->ddelta + at, 1);
    if (a->z && o->g->dz) __builtin_prefetch(o->g->dz + at, 1);
}

INLINE void bwd_body(const scan_ctx *c, int b, int blk, int t0, int t1, float *restrict q, const bwd_out *o, float *restrict sdt,
                     const int mode, const int nw)
{
    const sl_scan_args *a = c->a;
    const sl_scan_ws *ws = c->ws;
    const int L = a->L, D = a->D, N = a->N, G = a->G, B = a->B;
    const size_t NW = (size_t)N * W;
    int g, c0, nw_;
    blk_info(ws, blk, &g, &c0, &nw_);
    const float *AT = ws->AT + (size_t)blk * NW;
    float dtv[W], uv[W], dyv[W], zv[W], dv[W], ddt[W], duv[W], yp[W];
    load_lanes(dv, a->Dv ? a->Dv + c0 : NULL, a->Dv ? nw : 0);
    float *restrict X = o->X, *restrict Ab = o->Ab;
    float *dBp = mode == 1 ? ws->dBp + ((size_t)blk * B + b) * L * N : NULL;
    float *dCp = mode == 1 ? ws->dCp + ((size_t)blk * B + b) * L * N : NULL;
    /* segments inside [t0, t1), latest first */
    for (int s1 = t1; s1 > t0;) {
        int s0 = ((s1 - 1) / SEG) * SEG;
        if (s0 < t0) s0 = t0;
        if (mode == 1) {
            /* recompute the states of this segment from its checkpoint */
            memcpy(X, ck_at(ws, b, s0 / SEG, blk), NW * sizeof(float));
            for (int t = s0; t < s1; t++) {
                size_t row = ((size_t)b * L + t) * D + c0;
                if (t + PF < s1) {
                    __builtin_prefetch(ws->dt + row + PF * (size_t)D);
                    __builtin_prefetch(a->u + row + PF * (size_t)D);
                }
                load_lanes(dtv, ws->dt + row, nw);
                load_lanes(uv, a->u + row, nw);
                const float *Bt = a->Bm + (((size_t)b * L + t) * G + g) * N;
                const float *Xp = X + (size_t)(t - s0) * NW;
                float *Xn = X + (size_t)(t - s0 + 1) * NW, *At = Ab + (size_t)(t - s0) * NW;
                for (int n = 0; n < N; n++) {
                    const float bn = Bt[n];
                    #pragma omp simd
                    for (int j = 0; j < W; j++) {
                        float e = sl_fm_expf(dtv[j] * AT[n * W + j]);
                        At[n * W + j] = e;
                        Xn[n * W + j] = e * Xp[n * W + j] + dtv[j] * uv[j] * bn;
                    }
                }
                if (cut_at(a, b, t)) /* a document starts: a_t = 0 */
                    for (int n = 0; n < N; n++)
                        for (int j = 0; j < W; j++) {
                            At[n * W + j] = 0.0f;
                            Xn[n * W + j] = dtv[j] * uv[j] * Bt[n];
                        }
            }
        }
        for (int t = s1 - 1; t >= s0; t--) {
            size_t row = ((size_t)b * L + t) * D + c0;
            if (t - PF >= s0) bwd_prefetch(a, ws, o, row - PF * (size_t)D, mode == 1, mode == 1);
            const size_t gro = (((size_t)b * L + t) * G + g) * N;
            const float *Bt = a->Bm + gro, *Ct = a->Cm + gro;
            load_lanes(dtv, ws->dt + row, nw);
            load_lanes(uv, a->u + row, nw);
            load_lanes(dyv, o->dy + row, nw);
            const float *Xt = mode == 1 ? X + (size_t)(t - s0 + 1) * NW : NULL;
            const float *Xp = mode == 1 ? X + (size_t)(t - s0) * NW : NULL;
            const float *At = mode == 1 ? Ab + (size_t)(t - s0) * NW : NULL;
            if (a->z) {
                load_lanes(zv, a->z + row, nw);
                if (mode == 1) {
                    for (int j = 0; j < W; j++) yp[j] = dv[j] * uv[j];
                    for (int n = 0; n < N; n++) {
                        const float cn = Ct[n];
                        #pragma omp simd
                        for (int j = 0; j < W; j++) yp[j] += cn * Xt[n * W + j];
                    }
                    float dzv[W];
                    #pragma omp simd
                    for (int j = 0; j < W; j++) {
                        float sg = sl_fm_sigmoidf(zv[j]);
                        dzv[j] = dyv[j] * yp[j] * sg * (1.0f + zv[j] * (1.0f - sg));
                        dyv[j] *= zv[j] * sg;
                    }
                    if (o->g->dz)
                        for (int j = 0; j < nw; j++) o->g->dz[row + j] += dzv[j];
                } else {
                    #pragma omp simd
                    for (int j = 0; j < W; j++) dyv[j] *= zv[j] * sl_fm_sigmoidf(zv[j]);
                }
            }
            if (mode == 0) {
                for (int n = 0; n < N; n++) {
                    const float cn = Ct[n];
                    #pragma omp simd
                    for (int j = 0; j < W; j++) q[n * W + j] = sl_fm_expf(dtv[j] * AT[n * W + j]) * (q[n * W + j] + cn * dyv[j]);
                }
                for (int j = 0; j < W; j++) sdt[j] += dtv[j];
                continue;
            }
            #pragma omp simd
            for (int j = 0; j < W; j++) {
                ddt[j] = 0.0f;
                duv[j] = dyv[j] * dv[j];
                o->dD[j] += dyv[j] * uv[j];
            }
            for (int n = 0; n < N; n++) {
                const float cn = Ct[n], bn = Bt[n];
                float pc[W], pb[W]; /* lane partials of dC[t,n], dB[t,n] (no simd reduction: gcc
                                         does not vectorise this loop with one) */
                float *qn = q + (size_t)n * W, *dAn = o->dA + (size_t)n * W;
                const float *An = AT + (size_t)n * W, *Xtn = Xt + (size_t)n * W, *Xpn = Xp + (size_t)n * W,
                            *Atn = At + (size_t)n * W;
                #pragma omp simd
                for (int j = 0; j < W; j++) {
                    float gx = qn[j] + cn * dyv[j];
                    pc[j] = dyv[j] * Xtn[j];
                    float da = gx * Xpn[j] * Atn[j];
                    ddt[j] += da * An[j] + gx * bn * uv[j];
                    dAn[j] += da * dtv[j];
                    pb[j] = gx * dtv[j] * uv[j];
                    duv[j] += gx * dtv[j] * bn;
                    qn[j] = Atn[j] * gx;
                }
                dCp[(size_t)t * N + n] = hsum(pc);
                dBp[(size_t)t * N + n] = hsum(pb);
            }
            /* through dt = softplus(delta + bias): d/dv = sigmoid(v) (1 above the threshold) */
            if (a->delta_softplus) {
                const float *dl = a->delta + row;
                for (int j = 0; j < nw; j++) {
                    float v = dl[j] + (a->delta_bias ? a->delta_bias[c0 + j] : 0.0f);
                    ddt[j] *= v > 20.0f ? 1.0f : sl_fm_sigmoidf(v);
                }
            }
            for (int j = 0; j < nw; j++) o->db[j] += ddt[j];
            if (o->g->ddelta)
                for (int j = 0; j < nw; j++) o->g->ddelta[row + j] += ddt[j];
            if (o->g->du)
                for (int j = 0; j < nw; j++) o->g->du[row + j] += duv[j];
        }
        s1 = s0;
    }
}

/* ---- backward, N = 16: adjoint q in vector values, dB/dC lane sums by a transposing tree ---
 * Same arithmetic as bwd_body in mode 1. The sixteen per-t sums over the lanes of dC[t, n] and
 * dB[t, n] are formed together: pairs of vectors are folded by two-source shuffles (16 -> 8 ->
 * 4 -> 2 -> 1 partials per vector) so that one vector ends up holding the sums for n = 0..15,
 * 45 vector operations instead of sixteen separate horizontal sums. */
#ifdef __clang__
/* clang (the --enable-fuzzing build) has no __builtin_shuffle: the same sums, element by element */
INLINE v16f vfold(v16f a, v16f b, const v16i lo, const v16i hi)
{
    v16f r;
    for (int j = 0; j < 16; j++) r[j] = (lo[j] < 16 ? a[lo[j]] : b[lo[j] - 16]) + (hi[j] < 16 ? a[hi[j]] : b[hi[j] - 16]);
    return r;
}
#else
INLINE v16f vfold(v16f a, v16f b, const v16i lo, const v16i hi)
{
    return __builtin_shuffle(a, b, lo) + __builtin_shuffle(a, b, hi);
}
#endif

/* the four fold levels: 16 -> 8 -> 4 -> 2 -> 1 partial sums per source vector */
#define F1L ((v16i){0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23})
#define F1H ((v16i){8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31})
#define F2L ((v16i){0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27})
#define F2H ((v16i){4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31})
#define F3L ((v16i){0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29})
#define F3H ((v16i){2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31})
#define F4L ((v16i){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
#define F4H ((v16i){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})

INLINE void vstore_add(float *dst, v16f v, int nw)
{
    if (nw == W) *(v16fu *)dst += v;
    else
        for (int j = 0; j < nw; j++) dst[j] += v[j];
}

INLINE void bwd16_body(const scan_ctx *c, int b, int blk, int t0, int t1, float *restrict qio, const bwd_out *o, const int nw,
                       const int nonpos)
{
    const sl_scan_args *a = c->a;
    const sl_scan_ws *ws = c->ws;
    const int L = a->L, D = a->D, G = a->G, B = a->B;
    const size_t NW = (size_t)N16 * W;
    int g, c0, nw_;
    blk_info(ws, blk, &g, &c0, &nw_);
    const float *AT = ws->AT + (size_t)blk * NW;
    const v16f dv = a->Dv ? vload(a->Dv + c0, nw) : (v16f){0};
    float *restrict X = o->X, *restrict Ab = o->Ab;
    float *dBp = ws->dBp + ((size_t)blk * B + b) * L * N16;
    float *dCp = ws->dCp + ((size_t)blk * B + b) * L * N16;
    v16f q[N16], sD = {0}, sb = {0};
    #pragma GCC unroll 16
    for (int n = 0; n < N16; n++) q[n] = *(const v16fu *)(qio + n * W);
    for (int s1 = t1; s1 > t0;) {
        int s0 = ((s1 - 1) / SEG) * SEG;
        if (s0 < t0) s0 = t0;
        { /* recompute the states of this segment from its checkpoint */
            v16f x[N16];
            const float *ck = ck_at(ws, b, s0 / SEG, blk);
            #pragma GCC unroll 16
            for (int n = 0; n < N16; n++) {
                x[n] = *(const v16fu *)(ck + n * W);
                *(v16fu *)(X + n * W) = x[n];
            }
            for (int t = s0; t < s1; t++) {
                size_t row = ((size_t)b * L + t) * D + c0;
                if (t + PF < s1) {
                    __builtin_prefetch(ws->dt + row + PF * (size_t)D);
                    __builtin_prefetch(a->u + row + PF * (size_t)D);
                }
                const v16f dtv = vload(ws->dt + row, nw), du = dtv * vload(a->u + row, nw);
                const float *Bt = a->Bm + (((size_t)b * L + t) * G + g) * N16;
                float *Xn = X + (size_t)(t - s0 + 1) * NW, *At = Ab + (size_t)(t - s0) * NW;
                #pragma GCC unroll 16
                for (int n = 0; n < N16; n++) {
                    const v16f e = vexp_c(dtv * *(const v16fu *)(AT + n * W), nonpos);
                    *(v16fu *)(At + n * W) = e;
                    x[n] = e * x[n] + du * Bt[n];
                    *(v16fu *)(Xn + n * W) = x[n];
                }
                if (cut_at(a, b, t)) /* a document starts: a_t = 0 */
                    for (int n = 0; n < N16; n++) {
                        *(v16fu *)(At + n * W) = (v16f){0};
                        x[n] = du * Bt[n];
                        *(v16fu *)(Xn + n * W) = x[n];
                    }
            }
        }
        for (int t = s1 - 1; t >= s0; t--) {
            size_t row = ((size_t)b * L + t) * D + c0;
            if (t - PF >= s0) bwd_prefetch(a, ws, o, row - PF * (size_t)D, 1, 0);
            const size_t gro = (((size_t)b * L + t) * G + g) * N16;
            const float *Bt = a->Bm + gro, *Ct = a->Cm + gro;
            const v16f dtv = vload(ws->dt + row, nw), uv = vload(a->u + row, nw), du = dtv * uv;
            v16f dyv = vload(o->dy + row, nw);
            const float *Xt = X + (size_t)(t - s0 + 1) * NW, *Xp = X + (size_t)(t - s0) * NW, *At = Ab + (size_t)(t - s0) * NW;
            if (a->z) {
                const v16f zv = vload(a->z + row, nw);
                v16f yp[4] = {dv * uv, {0}, {0}, {0}};
                #pragma GCC unroll 16
                for (int n = 0; n < N16; n++) yp[n & 3] += Ct[n] * *(const v16fu *)(Xt + n * W);
                const v16f y0 = (yp[0] + yp[1]) + (yp[2] + yp[3]);
                const v16f sg = 1.0f / (1.0f + sl_fm_expf_v16(-zv));
                if (o->g->dz) vstore_add(o->g->dz + row, dyv * y0 * sg * (1.0f + zv * (1.0f - sg)), nw);
                dyv *= zv * sg;
            }
            v16f ddt = {0}, duv = dyv * dv, pc[2], pb[2], rc[4], rb[4], sc[4], sb4[4];
            sD += dyv * uv;
            #pragma GCC unroll 16
            for (int n = 0; n < N16; n++) {
                const v16f An = *(const v16fu *)(AT + n * W), Atn = *(const v16fu *)(At + n * W);
                const v16f gx = q[n] + Ct[n] * dyv;
                pc[n & 1] = dyv * *(const v16fu *)(Xt + n * W);
                const v16f da = gx * *(const v16fu *)(Xp + n * W) * Atn;
                ddt += da * An + gx * Bt[n] * uv;
                *(v16fu *)(o->dA + n * W) += da * dtv;
                pb[n & 1] = gx * du;
                duv += gx * dtv * Bt[n];
                q[n] = Atn * gx;
                /* fold the lane sums as soon as their inputs exist (fewer live vectors) */
                if (n & 1) {
                    rc[(n >> 1) & 3] = vfold(pc[0], pc[1], F1L, F1H);
                    rb[(n >> 1) & 3] = vfold(pb[0], pb[1], F1L, F1H);
                }
                if ((n & 3) == 3) {
                    sc[n >> 2] = vfold(rc[((n >> 1) & 3) - 1], rc[(n >> 1) & 3], F2L, F2H);
                    sb4[n >> 2] = vfold(rb[((n >> 1) & 3) - 1], rb[(n >> 1) & 3], F2L, F2H);
                }
            }
            *(v16fu *)(dCp + (size_t)t * N16) = vfold(vfold(sc[0], sc[1], F3L, F3H), vfold(sc[2], sc[3], F3L, F3H), F4L, F4H);
            *(v16fu *)(dBp + (size_t)t * N16) = vfold(vfold(sb4[0], sb4[1], F3L, F3H), vfold(sb4[2], sb4[3], F3L, F3H), F4L, F4H);
            /* through dt = softplus(v), v = delta + bias: d dt/dv = sigmoid(v) = 1 - exp(-dt), from
             * dt alone, so delta's rows need not be read again (above the threshold, dt = v > 20
             * and 1 - exp(-dt) rounds to 1). Small dt: the series of 1 - exp(-dt), no cancellation. */
            if (a->delta_softplus) {
                const v16f ser =
                    dtv * (1.0f - dtv * 0.5f * (1.0f - dtv * (1.0f / 3) * (1.0f - dtv * 0.25f * (1.0f - dtv * 0.2f))));
                ddt *= sl_fm_sel_v16(dtv < 0.1f, ser, 1.0f - sl_fm_expf_v16(-dtv));
            }
            sb += ddt;
            if (o->g->ddelta) vstore_add(o->g->ddelta + row, ddt, nw);
            if (o->g->du) vstore_add(o->g->du + row, duv, nw);
        }
        s1 = s0;
    }
    #pragma GCC unroll 16
    for (int n = 0; n < N16; n++) *(v16fu *)(qio + n * W) = q[n];
    *(v16fu *)o->dD += sD;
    *(v16fu *)o->db += sb;
}

SL_CLONES3 static void bwd_kernel(const scan_ctx *c, int b, int blk, int t0, int t1, float *q, const bwd_out *o, float *sdt,
                                  int mode)
{
    int g, c0, nw;
    blk_info(c->ws, blk, &g, &c0, &nw);
    if (mode == 1 && c->a->N == N16) {
        const int np = c->ws->nonpos;
        if (nw == W && np) bwd16_body(c, b, blk, t0, t1, q, o, W, 1);
        else if (nw == W) bwd16_body(c, b, blk, t0, t1, q, o, W, 0);
        else bwd16_body(c, b, blk, t0, t1, q, o, nw, np);
        return;
    }
    if (mode == 0) {
        if (nw == W) bwd_body(c, b, blk, t0, t1, q, o, sdt, 0, W);
        else bwd_body(c, b, blk, t0, t1, q, o, sdt, 0, nw);
    } else {
        if (nw == W) bwd_body(c, b, blk, t0, t1, q, o, sdt, 1, W);
        else bwd_body(c, b, blk, t0, t1, q, o, sdt, 1, nw);
    }
}

int sl_scan_backward(const sl_scan_grads *gr, const float *dy, const sl_scan_args *a, sl_scan_ws *ws)
{
    int rc = sl_scan_check(a);
    if (rc) return rc;
    if (!ws || !gr || !dy) return sl_error(SL_EINVAL, "scan: NULL gradient, dy or workspace");
    if (ws->B != a->B || ws->L != a->L || ws->D != a->D || ws->N != a->N || ws->G != a->G || ws->K < 1 ||
        ws->has_z != (a->z != NULL))
        return sl_error(SL_EINVAL, "scan: backward without a matching forward");
    const int B = a->B, L = a->L, D = a->D, N = a->N, G = a->G, K = ws->K, nblk = ws->nblk, Dg = D / G;
    const size_t NW = (size_t)N * W;
    const int nth = nthreads();
    if ((rc = reserve(&ws->thr, &ws->cap[5], (size_t)nth * (2 * SEG + 1) * NW)) ||
        (rc = reserve(&ws->dBp, &ws->cap[6], (size_t)nblk * B * L * N)) ||
        (rc = reserve(&ws->dCp, &ws->cap[7], (size_t)nblk * B * L * N)) ||
        (rc = reserve(&ws->dAp, &ws->cap[8], (size_t)B * K * nblk * NW)) ||
        (rc = reserve(&ws->dDp, &ws->cap[9], (size_t)2 * B * K * nblk * W)))
        return rc;
    float *dDp = ws->dDp, *dbp = ws->dDp + (size_t)B * K * nblk * W;
    scan_ctx c = {a, ws};
    const long nbb = (long)B * nblk;
    const int par = (double)B * L * D * N >= 262144.0;
    if (K > 1) {
        /* phase 1: local adjoint of chunks 1..K-1 from zero (into E) and their P */
        #pragma omp parallel for schedule(static) if (par)
        for (long i = 0; i < nbb * (K - 1); i++) {
            int k = 1 + (int)(i % (K - 1)), blk = (int)(i / (K - 1) % nblk), b = (int)(i / (K - 1) / nblk);
            int t0, t1;
            chunk_range(ws, k, &t0, &t1);
            float *E = chunk_at(ws, ws->E, b, k, blk), *Pk = chunk_at(ws, ws->P, b, k, blk), sdt[W] = {0};
            memset(E, 0, NW * sizeof(float));
            bwd_out o = {gr, dy, NULL, NULL, NULL, NULL, NULL};
            bwd_kernel(&c, b, blk, t0, t1, E, &o, sdt, 0);
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) Pk[n * W + j] = sl_fm_expf(ws->AT[(size_t)blk * NW + n * W + j] * sdt[j]);
        }
        /* phase 2: q entering chunk k from the future: in[K-1] = 0, in[k-1] = P[k] in[k] + E[k] */
        #pragma omp parallel for schedule(static) if (par)
        for (long i = 0; i < nbb; i++) {
            int blk = (int)(i % nblk), b = (int)(i / nblk);
            float run[NW];
            memset(run, 0, sizeof run);
            for (int k = K - 1; k >= 0; k--) {
                float *E = chunk_at(ws, ws->E, b, k, blk);
                const float *Pk = chunk_at(ws, ws->P, b, k, blk);
                for (size_t e = 0; e < NW; e++) {
                    float in = run[e];
                    if (k > 0) run[e] = Pk[e] * in + E[e];
                    E[e] = in;
                }
            }
        }
    }
    /* phase 3: full backward of every chunk from its incoming adjoint */
    #pragma omp parallel for schedule(static) if (par)
    for (long i = 0; i < nbb * K; i++) {
        int k = (int)(i % K), blk = (int)(i / K % nblk), b = (int)(i / K / nblk);
        int t0, t1;
        chunk_range(ws, k, &t0, &t1);
        float q[NW];
        if (K > 1) memcpy(q, chunk_at(ws, ws->E, b, k, blk), sizeof q);
        else memset(q, 0, sizeof q);
        float *thr = ws->thr + (size_t)thread_id() * (2 * SEG + 1) * NW;
        size_t slot = (size_t)b * K + k;
        bwd_out o = {gr,
                     dy,
                     thr,
                     thr + (size_t)(SEG + 1) * NW,
                     ws->dAp + (slot * nblk + blk) * NW,
                     dDp + (slot * nblk + blk) * W,
                     dbp + (slot * nblk + blk) * W};
        memset(o.dA, 0, NW * sizeof(float));
        memset(o.dD, 0, W * sizeof(float));
        memset(o.db, 0, W * sizeof(float));
        bwd_kernel(&c, b, blk, t0, t1, q, &o, NULL, 1);
    }
    /* reductions in a fixed order */
    #pragma omp parallel for schedule(static) if (par)
    for (int blk = 0; blk < nblk; blk++) {
        int g, c0, nw;
        blk_info(ws, blk, &g, &c0, &nw);
        for (int j = 0; j < nw; j++) {
            int d = c0 + j;
            double sD = 0.0, sb = 0.0;
            for (size_t slot = 0; slot < (size_t)B * K; slot++) {
                sD += dDp[(slot * nblk + blk) * W + j];
                sb += dbp[(slot * nblk + blk) * W + j];
                if (gr->dA)
                    for (int n = 0; n < N; n++)
                        gr->dA[(size_t)d * N + n] += ws->dAp[(slot * nblk + blk) * NW + (size_t)n * W + j];
            }
            if (gr->dD && a->Dv) gr->dD[d] += (float)sD;
            if (gr->ddelta_bias && a->delta_bias) gr->ddelta_bias[d] += (float)sb;
        }
    }
    if (gr->dB || gr->dC) {
        const size_t LN = (size_t)L * N;
        /* one task per (b, t, g) row: with B = G = 1 a loop over (b, g) alone would be serial */
        #pragma omp parallel for schedule(static) if (par)
        for (long i = 0; i < (long)B * L * G; i++) {
            int g = (int)(i % G), t = (int)(i / G % L), b = (int)(i / G / L);
            {
                size_t gro = (size_t)i * N;
                for (int bl = 0; bl < ws->bpg; bl++) {
                    int blk = g * ws->bpg + bl;
                    const float *pB = ws->dBp + ((size_t)blk * B + b) * LN + (size_t)t * N;
                    const float *pC = ws->dCp + ((size_t)blk * B + b) * LN + (size_t)t * N;
                    for (int n = 0; n < N; n++) {
                        if (gr->dB) gr->dB[gro + n] += pB[n];
                        if (gr->dC) gr->dC[gro + n] += pC[n];
                    }
                }
            }
        }
    }
    (void)Dg;
    return SL_OK;
}

int sl_scan_step(float *y, float *state, const sl_scan_args *a)
{
    int rc = sl_scan_check(a);
    if (rc) return rc;
    if (a->L != 1) return sl_error(SL_ESHAPE, "scan step: L must be 1, not %d", a->L);
    const int D = a->D, N = a->N, G = a->G, Dg = D / G;
    for (int b = 0; b < a->B; b++)
        for (int d = 0; d < D; d++) {
            size_t row = (size_t)b * D + d;
            const int g = d / Dg;
            const float *Bt = a->Bm + ((size_t)b * G + g) * N, *Ct = a->Cm + ((size_t)b * G + g) * N;
            float v = a->delta[row] + (a->delta_bias ? a->delta_bias[d] : 0.0f);
            float dt = a->delta_softplus ? sl_fm_softplusf(v) : v, u = a->u[row], acc = 0.0f;
            float *x = state + row * N;
            for (int n = 0; n < N; n++) {
                x[n] = sl_fm_expf(dt * a->A[(size_t)d * N + n]) * x[n] + dt * u * Bt[n];
                acc += Ct[n] * x[n];
            }
            if (a->Dv) acc += a->Dv[d] * u;
            if (a->z) acc *= a->z[row] * sl_fm_sigmoidf(a->z[row]);
            y[row] = acc;
        }
    return SL_OK;
}
