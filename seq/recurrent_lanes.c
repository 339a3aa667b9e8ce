/* seq/recurrent_lanes.c — LSTM / GRU with the batch in the vector lanes and the hidden units
 * split across threads (see recurrent_lanes.h). */
#include "seq/recurrent_lanes.h"
#include "core/error.h"
#include "seq/model.h"
#include "seq/recurrent_amx.h"
#include "core/fastmath.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RL_X86 1
#include <immintrin.h>
#include <omp.h>
#include <limits.h>
#include <sched.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <sys/mman.h>
#endif

/* the cells' clamps must if-convert for the lane loops to vectorise (core/fastmath.h) */
SL_NO_TRAPPING_MATH

#ifdef RL_X86
enum {
    RL_Q = 12,     /* rows (outputs) of a backward tile; threads get at least RL_Q units each */
    RL_UF = 3,     /* units per forward tile: LSTM 3 (4 gates: 12 rows), GRU 4 (3 gates: 12 + 12) */
    RL_KB = 128,   /* reduction indices (steps x lanes) per block of the weight-gradient operands */
};

typedef struct {
    float *p;
    size_t cap;   /* floats */
} rl_mem;

struct sl_rl {
    int B, T, NI, H, gru, rev;
    int BL, NV;        /* lanes (16 or 32), vectors per lane row */
    int amx;           /* the per-step products on AMX tiles (recurrent_amx.h): set by the forward */
    int NIP, QX, QH;   /* AMX: x rows padded to whole chunks; chunks of x and of h */
    size_t ldr;        /* row stride of the weight-gradient operands: RL_KB */
    /* per step (rows, BL), step after step (row stride BL): */
    rl_mem xh;         /* (2, K = NI + H rows) [x_t | h_prev]^T of the current and the next step (by
                        * step parity): the forward kernel's input, in L2 */
    rl_mem gates;      /* (G*H rows) activated gates */
    rl_mem aux;        /* (H rows) LSTM: c_t; GRU: W_hn h_prev + b_hn */
    rl_mem dxt;        /* (NI rows) dx^T, one partial per thread */
    rl_mem dgl;        /* per thread (dgl_stride floats): its units' dG rows, the products' input */
    rl_mem xfer;       /* (threads, 2, H16, BL) partial dh_prev for other threads' units (on AMX for all
                        * units), by step parity; H16: H rounded up to 16 */
    /* the weight-gradient product's operands, in blocks of RL_KB reduction indices (RL_KB / BL
     * steps): within a block, row r holds its steps' lanes contiguously (see at()), and a block's
     * rows follow each other, so that the product streams through memory: */
    rl_mem xhb;        /* (K rows) [x_t | h_prev]^T */
    rl_mem dgb;        /* (4H rows) dG_t: LSTM di df dg do; GRU dn dr dz dn*r */
    rl_mem pf, pdh, pdx;   /* packed panels: forward; backward dh and dx, per thread (strides below);
                            * on AMX their bf16 parts */
    rl_mem xv;         /* AMX: the forward's right operand [x_t | h_prev] in bf16 parts, by step parity */
    rl_mem dv;         /* AMX: per thread (dv_stride floats) the backward's dG rows in bf16 parts */
    size_t dv_stride;
    size_t dgl_stride, pdh_stride, pdx_stride;
    rl_mem small;      /* (H, BL) each: hlast, c0 (or zeros), c state, dhr, dc, dH_t; then the cells' bias (4H) */
    double *db;        /* (threads, 4H) bias-gradient sums */
    size_t dbcap;
    int valid;         /* a forward's caches are present */
    int infer;         /* the last forward ran in inference mode: gates and aux hold one step, xhb
                        * nothing, and no backward may follow */
};

/* the bytes a buffer of n floats takes (rounded to its alignment: huge pages fill whole) */
static size_t mem_bytes(size_t n)
{
    size_t bytes = (n ? n : 16) * sizeof(float);
    size_t align = bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    return (bytes + align - 1) / align * align;
}

static int mem_reserve(rl_mem *m, size_t n)
{
    if (m->cap >= n && m->p) return 0;
    if (m->p) sl_mem_count(0, mem_bytes(m->cap)); /* memory accounting (seq/model.h) */
    free(m->p);
    m->p = NULL;
    m->cap = 0;
    size_t bytes = mem_bytes(n);
    size_t align = bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    void *q = NULL;
    if (posix_memalign(&q, align, bytes)) return -1;
#ifdef MADV_HUGEPAGE
    /* large caches and operands are streamed through: huge pages spare the TLB */
    if (align > 64) (void)madvise(q, bytes, MADV_HUGEPAGE);
#endif
    m->p = q;
    m->cap = n;
    sl_mem_count(bytes, 0);
    return 0;
}

int sl_rl_fits(int B) { return B >= 1 && B <= 32; }

sl_rl *sl_rl_new(void) { return calloc(1, sizeof(sl_rl)); }

void sl_rl_free(sl_rl *w)
{
    if (!w) return;
    rl_mem *ms[] = {&w->xh, &w->gates, &w->aux, &w->dxt, &w->dgl, &w->xfer, &w->xhb, &w->dgb, &w->pf, &w->pdh, &w->pdx, &w->small,
                    &w->xv, &w->dv};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        if (ms[i]->p) sl_mem_count(0, mem_bytes(ms[i]->cap));
        free(ms[i]->p);
    }
    free(w->db);
    free(w);
}

/* offset of step t in a per-step array of rows x BL */
static inline size_t st(const sl_rl *w, int rows, int t) { return (size_t)t * rows * w->BL; }

/* offset of reduction index k's row 0 in a blocked weight-gradient operand of `rows` rows
 * (row r at + r * ldr): block k / RL_KB, then k % RL_KB within its rows */
static inline size_t blocked_at(int rows, size_t k) { return k / RL_KB * rows * RL_KB + k % RL_KB; }

/* the same for step t (its first lane) */
static inline size_t at(const sl_rl *w, int rows, int t) { return blocked_at(rows, (size_t)t * w->BL); }

/* floats of a blocked weight-gradient operand of `rows` rows */
static inline size_t blocked_size(const sl_rl *w, int rows)
{
    return blocked_at(rows, ((size_t)w->T * w->BL + RL_KB - 1) / RL_KB * RL_KB);
}

/* ---- a spinning barrier for the per-step synchronisation (a step is tens of microseconds;
 * after a few thousand spins the waiter sleeps on a futex until the last thread arrives, so an
 * oversubscribed machine loses neither user time to spinning nor system time to sched_yield
 * calls: issue #17 counted 8192 of them in one LSTM forward at T=256) ---- */

typedef struct {
    int count __attribute__((aligned(64)));
    int sense __attribute__((aligned(64)));
    int waiters;   /* threads asleep (or about to sleep) on sense */
    int n;
} rl_barrier;

#ifdef __linux__
static void futex_wait(int *addr, int val) { syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0); }
static void futex_wake_all(int *addr) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }
#else
static void futex_wait(int *addr, int val) { (void)addr; (void)val; sched_yield(); }
static void futex_wake_all(int *addr) { (void)addr; }
#endif

static void barrier_wait(rl_barrier *b, int *local)
{
    int s = !*local;
    *local = s;
    if (b->n == 1) return;
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, s, __ATOMIC_SEQ_CST);
        /* a sleeper announced itself before it checked sense (both sequentially consistent),
         * so either it sees the new sense or this sees it waiting */
        if (__atomic_load_n(&b->waiters, __ATOMIC_SEQ_CST)) futex_wake_all(&b->sense);
        return;
    }
    for (int spins = 0; spins < 4000; spins++) {
        if (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) == s) return;
        __builtin_ia32_pause();
    }
    while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s) {
        __atomic_add_fetch(&b->waiters, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sense, __ATOMIC_SEQ_CST) != s) futex_wait(&b->sense, !s);   /* returns at once if sense changed */
        __atomic_sub_fetch(&b->waiters, 1, __ATOMIC_SEQ_CST);
    }
}

/* units per forward tile: 12 rows of accumulators either way */
static inline int uf_of(const sl_rl *w) { return w->gru ? 4 : RL_UF; }

static int nthreads_for(const sl_rl *w)
{
    int n = omp_get_max_threads(), nq = (w->H + RL_Q - 1) / RL_Q;
    return n < 1 ? 1 : n > nq ? nq : n;
}

#pragma GCC push_options
#pragma GCC target("avx512f,fma")

/* One register tile: out[r * NV + v] = sum over k < kn of p[k * R + r] * x[k * ldx + 16 v ..],
 * R rows of packed weights against NV lane vectors, the accumulators in registers. */
#define RL_TILE(R, NV)                                                                                   \
    static inline __attribute__((always_inline)) void tile_##R##_##NV(const float *restrict p, const float *restrict x, \
                                                                      size_t ldx, int kn, float *restrict out)        \
    {                                                                                                    \
        __m512 acc[R][NV];                                                                               \
        _Pragma("GCC unroll 12") for (int r = 0; r < R; r++)                                             \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();        \
        for (int k = 0; k < kn; k++) {                                                                   \
            __m512 xv[NV];                                                                               \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) xv[v] = _mm512_load_ps(x + (size_t)k * ldx + 16 * v); \
            _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                       \
                __m512 s = _mm512_set1_ps(p[(size_t)k * R + r]);                                         \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(s, xv[v], acc[r][v]); \
            }                                                                                            \
        }                                                                                                \
        _Pragma("GCC unroll 12") for (int r = 0; r < R; r++)                                             \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) _mm512_store_ps(out + (r * NV + v) * 16, acc[r][v]); \
    }

RL_TILE(12, 1) RL_TILE(12, 2)

/* out (12 rows of BL lanes, contiguous) for the tile's panel p over kn reduction rows of x */
static inline __attribute__((always_inline)) void tile12(int NV, const float *p, const float *x, size_t ldx, int kn, float *out)
{
    if (NV == 2) tile_12_2(p, x, ldx, kn, out);
    else tile_12_1(p, x, ldx, kn, out);
}

/* ---- packing ---- */

/* forward tile f (units UF f .. UF f + UF-1; UF = 3 for the LSTM, 4 for the GRU): for k < K
 * the 12 weights of its rows, row q = g * UF + u for gate g and unit u, over [W_ih W_hh] (the
 * GRU's two phases, W_ih for k < NI, then W_hh, are kept apart by the caller) */
static void pack_fwd_tile(const sl_rl *w, const sl_rl_args *a, int f, float *p)
{
    const int NI = w->NI, H = w->H, K = NI + H, G = w->gru ? 3 : 4, UF = uf_of(w), RF = G * UF;
    for (int g = 0; g < G; g++)
        for (int u = 0; u < UF; u++) {
            const int unit = f * UF + u, q = g * UF + u;
            if (unit >= H) {
                for (int k = 0; k < K; k++) p[(size_t)k * RF + q] = 0.0f;
                continue;
            }
            const float *wi = a->w_ih + (size_t)(g * H + unit) * NI, *wh = a->w_hh + (size_t)(g * H + unit) * H;
            for (int k = 0; k < NI; k++) p[(size_t)k * RF + q] = wi[k];
            for (int k = 0; k < H; k++) p[(size_t)(NI + k) * RF + q] = wh[k];
        }
}

/* ---- transposes between batch-first rows and lanes ---- */

/* 16 x 16 transpose in registers: on return v[c] holds column c of the rows v[0..15] */
static inline __attribute__((always_inline)) void tr16(__m512 v[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    /* u[4i + j], 128-bit lane L: column j + 4L of rows 4i .. 4i+3 */
    for (int j = 0; j < 4; j++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        v[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        v[j + 8] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        v[j + 4] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        v[j + 12] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

/* dst rows r (stride ldr, 64-byte aligned) lanes b = src[b * lds + r] for r < n, b < B; lanes
 * B .. BL-1 zero (B = 0: all zeros, src is not read) */
static void to_lanes(float *dst, size_t ldr, const float *src, size_t lds, int n, int B, int BL)
{
    for (int r0 = 0; r0 < n; r0 += 16) {
        const int nr = n - r0 < 16 ? n - r0 : 16;
        const __mmask16 m = (__mmask16)((1u << nr) - 1);
        for (int b0 = 0; b0 < BL; b0 += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] = b0 + i < B ? _mm512_maskz_loadu_ps(m, src + (size_t)(b0 + i) * lds + r0) : _mm512_setzero_ps();
            tr16(v);
            for (int i = 0; i < nr; i++) _mm512_store_ps(dst + (size_t)(r0 + i) * ldr + b0, v[i]);
        }
    }
}

/* how dst is written by from_lanes */
enum {
    RL_STORE,    /* dst = value */
    RL_ADD,      /* dst += value */
    RL_STREAM,   /* dst = value, non-temporally where a whole aligned line is written: for
                  * arrays too large to stay in cache until they are read (fetching their lines
                  * before writing them cost ~0.9 ms per forward+backward at the benchmark's
                  * LSTM and GRU shapes, for the output and the input gradient) */
};

/* arrays of at least this many bytes are written with RL_STREAM: more than the cores' L2 */
#define RL_STREAM_BYTES ((size_t)4 << 20)

/* RL_STREAM for an array of n floats of at least RL_STREAM_BYTES, else RL_STORE */
static inline int store_for(size_t n) { return n * sizeof(float) >= RL_STREAM_BYTES ? RL_STREAM : RL_STORE; }

/* dst[b * ldd + r] (how: RL_STORE, RL_ADD or RL_STREAM) the sum over s < ns, in order, of the
 * source rows r (src + s * sst, stride ldr, 64-byte aligned) lane b, for r < n, b < B */
static void from_lanes(float *dst, size_t ldd, const float *src, size_t ldr, int n, int B, int how, int ns, size_t sst)
{
    /* streaming: a short first block, so that the others start on a line (when the rows do) */
    const int lead = how == RL_STREAM ? (int)((16 - ((uintptr_t)dst >> 2)) & 15) : 0;
    for (int r0 = 0, nr; r0 < n; r0 += nr) {
        nr = r0 == 0 && lead ? lead : 16;
        if (nr > n - r0) nr = n - r0;
        const __mmask16 m = (__mmask16)((1u << nr) - 1);
        for (int b0 = 0; b0 < B; b0 += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++) {
                const float *p = src + (size_t)(r0 + i) * ldr + b0;
                v[i] = i < nr ? _mm512_load_ps(p) : _mm512_setzero_ps();
                for (int k = 1; i < nr && k < ns; k++) v[i] = _mm512_add_ps(v[i], _mm512_load_ps(p + (size_t)k * sst));
            }
            tr16(v);
            for (int i = 0; i < 16 && b0 + i < B; i++) {
                float *d = dst + (size_t)(b0 + i) * ldd + r0;
                if (how == RL_STREAM && nr == 16 && !((uintptr_t)d & 63)) _mm512_stream_ps(d, v[i]);
                else _mm512_mask_storeu_ps(d, m, how == RL_ADD ? _mm512_add_ps(v[i], _mm512_maskz_loadu_ps(m, d)) : v[i]);
            }
        }
    }
}

/* ---- cells on a tile (rows of BL lanes) ---- */

/* Vector sigmoid / tanh for the cells: core/fastmath.h's 16-lane twins, the same body as the
 * scalar cells' functions (here compiled for AVX-512 with FMA). Measured against libm in
 * double: sigmoid 1.4e-7 and tanh 9.8e-8 absolute, exp 1.2e-7 relative. The divisions stay
 * divisions: a reciprocal estimate refined by a Newton step is as accurate but not as smooth,
 * and made the finite-difference gradient checks 2-5x noisier. */
#define V1(c) _mm512_set1_ps(c)
static inline __attribute__((always_inline)) __m512 v_sigmoid(__m512 x) { return (__m512)sl_fm_sigmoidf_v16((sl_v16f)x); }

static inline __attribute__((always_inline)) __m512 v_tanh(__m512 x) { return (__m512)sl_fm_tanhf_v16((sl_v16f)x); }

/* non-temporal store of one row of BL lanes (64-byte aligned, whole lines): for the caches read
 * again only much later, so their lines need not be fetched before they are written */
static inline __attribute__((always_inline)) void stream_row(float *dst, const float *src, int NV)
{
    _mm512_stream_ps(dst, _mm512_load_ps(src));
    if (NV > 1) _mm512_stream_ps(dst + 16, _mm512_load_ps(src + 16));
}

/* n floats (a multiple of 16) from src to dst (both 64-byte aligned), non-temporally */
static void stream_rows(float *dst, const float *src, size_t n)
{
    for (size_t e = 0; e < n; e += 16) _mm512_stream_ps(dst + e, _mm512_load_ps(src + e));
}

/* LSTM forward of units [unit0, unit0 + nu): pre (rows i f g o of the units, row g * gs + u),
 * bias (4H), cs the c state (updated in place). Writes the activated gates (gt)
 * and c (cc) non-temporally, h to h (and, non-temporally, to hb: the weight-gradient
 * operand's copy, or NULL). */
static inline __attribute__((always_inline)) void lstm_cell_tile(const sl_rl *w, const float *pre, int gs, const float *bias,
                                                                 int unit0, int nu, float *gt, float *cc, float *cs,
                                                                 float *h, float *hb)
{
    const int H = w->H, BL = w->BL, NV = w->NV;
    for (int u = 0; u < nu; u++) {
        const int j = unit0 + u;
        const __m512 bi = V1(bias[j]), bf = V1(bias[H + j]), bg = V1(bias[2 * H + j]), bo = V1(bias[3 * H + j]);
        for (int v = 0; v < NV; v++) {
            const size_t o = (size_t)v * 16, ol = (size_t)j * BL + o;
            const __m512 i = v_sigmoid(_mm512_add_ps(_mm512_load_ps(pre + (size_t)(0 * gs + u) * BL + o), bi));
            const __m512 f = v_sigmoid(_mm512_add_ps(_mm512_load_ps(pre + (size_t)(1 * gs + u) * BL + o), bf));
            const __m512 g = v_tanh(_mm512_add_ps(_mm512_load_ps(pre + (size_t)(2 * gs + u) * BL + o), bg));
            const __m512 og = v_sigmoid(_mm512_add_ps(_mm512_load_ps(pre + (size_t)(3 * gs + u) * BL + o), bo));
            const __m512 cn = _mm512_fmadd_ps(f, _mm512_load_ps(cs + ol), _mm512_mul_ps(i, g));
            const __m512 hv = _mm512_mul_ps(og, v_tanh(cn));
            if (gt) {   /* NULL in inference mode: no caches */
                _mm512_stream_ps(gt + (size_t)j * BL + o, i);
                _mm512_stream_ps(gt + (size_t)(H + j) * BL + o, f);
                _mm512_stream_ps(gt + (size_t)(2 * H + j) * BL + o, g);
                _mm512_stream_ps(gt + (size_t)(3 * H + j) * BL + o, og);
                _mm512_stream_ps(cc + ol, cn);
            }
            _mm512_store_ps(cs + ol, cn);
            _mm512_store_ps(h + ol, hv);
            if (hb) _mm512_stream_ps(hb + (size_t)j * w->ldr + o, hv);
        }
    }
}

/* GRU forward: px (rows r z n of W_ih x), ph (rows r z n of W_hh h), row g * gs + u; rzsum:
 * px's r and z rows are already the sums of both (ph's are not read); bias (4H): r, z (b_ih +
 * b_hh), b_in, b_hn. hp: h_prev rows. Writes the gates and hn = W_hn h + b_hn
 * non-temporally, h to h (and hb). */
static inline __attribute__((always_inline)) void gru_cell_tile(const sl_rl *w, const float *px, const float *ph, int gs,
                                                                int rzsum,
                                                                const float *bias, int unit0, int nu, float *gt,
                                                                const float *hp, float *hn, float *h, float *hb)
{
    const int H = w->H, BL = w->BL, NV = w->NV;
    for (int u = 0; u < nu; u++) {
        const int j = unit0 + u;
        const size_t qr = (size_t)u * BL, qz = (size_t)(gs + u) * BL, qn = (size_t)(2 * gs + u) * BL;
        const __m512 br = V1(bias[j]), bz = V1(bias[H + j]), bin = V1(bias[2 * H + j]), bhn = V1(bias[3 * H + j]);
        for (int v = 0; v < NV; v++) {
            const size_t o = (size_t)v * 16, ol = (size_t)j * BL + o;
            const __m512 hv = _mm512_add_ps(_mm512_load_ps(ph + qn + o), bhn);
            const __m512 pr = _mm512_load_ps(px + qr + o), pz = _mm512_load_ps(px + qz + o);
            const __m512 r = v_sigmoid(_mm512_add_ps(rzsum ? pr : _mm512_add_ps(pr, _mm512_load_ps(ph + qr + o)), br));
            const __m512 z = v_sigmoid(_mm512_add_ps(rzsum ? pz : _mm512_add_ps(pz, _mm512_load_ps(ph + qz + o)), bz));
            const __m512 n = v_tanh(_mm512_fmadd_ps(r, hv, _mm512_add_ps(_mm512_load_ps(px + qn + o), bin)));
            /* h = (1 - z) n + z h_prev = n + z (h_prev - n) */
            const __m512 hnew = _mm512_fmadd_ps(z, _mm512_sub_ps(_mm512_load_ps(hp + ol), n), n);
            if (gt) {   /* NULL in inference mode: no caches */
                _mm512_stream_ps(gt + (size_t)j * BL + o, r);
                _mm512_stream_ps(gt + (size_t)(H + j) * BL + o, z);
                _mm512_stream_ps(gt + (size_t)(2 * H + j) * BL + o, n);
                _mm512_stream_ps(hn + ol, hv);
            }
            _mm512_store_ps(h + ol, hnew);
            if (hb) _mm512_stream_ps(hb + (size_t)j * w->ldr + o, hnew);
        }
    }
}

/* One row of dG (BL lanes, in the thread's product buffer) out to the weight-gradient
 * operand (non-temporally) and into its bias sum (in double). */
static inline __attribute__((always_inline)) void emit_row(const sl_rl *w, const float *src, float *dst, double *db)
{
    __m512 sum = _mm512_setzero_ps();
    for (int l = 0; l < w->BL; l += 16) {
        const __m512 v = _mm512_load_ps(src + l);
        _mm512_stream_ps(dst + l, v);
        sum = _mm512_add_ps(sum, v);
    }
    if (db) *db += (double)_mm512_reduce_add_ps(sum);
}

/* LSTM backward of units [ua, ub) at step t: dh = dH + dhr; the carried dc; dhr = 0 (the
 * recurrent part is added by the dh product); c_prev = cp * keep (keep, BL lanes: 1, or 0 where
 * a packed row's document starts at t). dG goes to the thread's product buffer dl, unit
 * u = j - ua at rows 4u .. 4u+3 (i f g o), and to the weight-gradient operand dgb (rows
 * g H + j). */
/* A step's backward operands for one thread's units, in lanes (rows of BL): the gates gt, the
 * step's aux rows (LSTM: c_t; GRU: the candidate's h part hn), the previous state prev (LSTM:
 * c_{t-1}, with keep; GRU: h_{t-1}, rows ldprev apart) and dH; written: the product buffer dl,
 * the weight-gradient operand dgb, the bias sums db (or NULL), the carried dhr and (LSTM) dc. */
typedef struct {
    const float *gt, *aux, *prev, *keep, *dht;
    size_t ldprev;
    float *dl, *dgb, *dhr, *dc;
    double *db;
} rl_cell_bwd;

static void lstm_cell_bwd(const sl_rl *w, int ua, int ub, const rl_cell_bwd *a)
{
    const float *gt = a->gt, *c = a->aux, *cp = a->prev, *keep = a->keep, *dht = a->dht;
    float *dl = a->dl, *dgb = a->dgb, *dhr = a->dhr, *dc = a->dc;
    double *db = a->db;
    const int H = w->H, BL = w->BL;
    for (int j = ua; j < ub; j++) {
        const float *gi = gt + (size_t)j * BL, *gf = gt + (size_t)(H + j) * BL, *gg = gt + (size_t)(2 * H + j) * BL,
                    *go = gt + (size_t)(3 * H + j) * BL;
        const float *cj = c + (size_t)j * BL, *cpj = cp + (size_t)j * BL, *dhj = dht + (size_t)j * BL;
        float *di = dl + (size_t)4 * (j - ua) * BL, *df = di + BL, *dgg = di + 2 * BL, *dgo = di + 3 * BL;
        float *dr = dhr + (size_t)j * BL, *dcj = dc + (size_t)j * BL;
        #pragma omp simd
        for (int l = 0; l < BL; l++) {
            float dh = dhj[l] + dr[l], tc = sl_fm_tanhf(cj[l]);
            float i = gi[l], f = gf[l], g = gg[l], o = go[l];
            float dcv = dcj[l] + dh * o * (1.0f - tc * tc);
            di[l] = dcv * g * i * (1.0f - i);
            df[l] = dcv * (cpj[l] * keep[l]) * f * (1.0f - f);
            dgg[l] = dcv * i * (1.0f - g * g);
            dgo[l] = dh * tc * o * (1.0f - o);
            dcj[l] = dcv * f;
            dr[l] = 0.0f;
        }
        for (int g = 0; g < 4; g++) emit_row(w, di + (size_t)g * BL, dgb + (size_t)(g * H + j) * w->ldr, db ? db + g * H + j : NULL);
    }
}

/* GRU backward of units [ua, ub): dn = dh (1 - z)(1 - n^2), dr, dz and dn*r; dhr = dh z (the
 * direct part of dh_prev); h_prev rows ldhp apart. Product buffer: the x side (dn dr dz) of
 * unit u = j - ua at rows 3u .. 3u+2, the h side (dr dz dn*r) at rows 3 nu + 3u .. (nu =
 * ub - ua); weight-gradient operand rows dn | dr | dz | dn*r, H each. */
static void gru_cell_bwd(const sl_rl *w, int ua, int ub, const rl_cell_bwd *a)
{
    const float *gt = a->gt, *hn = a->aux, *hp = a->prev, *dht = a->dht;
    const size_t ldhp = a->ldprev;
    float *dl = a->dl, *dgb = a->dgb, *dhr = a->dhr;
    double *db = a->db;
    const int H = w->H, BL = w->BL, nu = ub - ua;
    for (int j = ua; j < ub; j++) {
        const float *gr = gt + (size_t)j * BL, *gz = gt + (size_t)(H + j) * BL, *gn = gt + (size_t)(2 * H + j) * BL;
        const float *hnj = hn + (size_t)j * BL, *hpj = hp + (size_t)j * ldhp, *dhj = dht + (size_t)j * BL;
        float *xs = dl + (size_t)3 * (j - ua) * BL, *hs = xs + (size_t)3 * nu * BL;
        float *dr = dhr + (size_t)j * BL;
        #pragma omp simd
        for (int l = 0; l < BL; l++) {
            float dh = dhj[l] + dr[l], r = gr[l], z = gz[l], n = gn[l];
            float dnp = dh * (1.0f - z) * (1.0f - n * n);
            float drp = dnp * hnj[l] * r * (1.0f - r), dzp = dh * (hpj[l] - n) * z * (1.0f - z);
            xs[l] = dnp; xs[BL + l] = drp; xs[2 * BL + l] = dzp;
            hs[l] = drp; hs[BL + l] = dzp; hs[2 * BL + l] = dnp * r;
            dr[l] = dh * z;
        }
        for (int g = 0; g < 3; g++) emit_row(w, xs + (size_t)g * BL, dgb + (size_t)(g * H + j) * w->ldr, db ? db + g * H + j : NULL);
        emit_row(w, hs + (size_t)2 * BL, dgb + (size_t)(3 * H + j) * w->ldr, db ? db + 3 * H + j : NULL);
    }
}

/* ---- forward ---- */

/* ---- AMX (recurrent_amx.h) ---- */

static inline size_t xv_stride(const sl_rl *w) { return (size_t)(w->QX + w->QH) * w->NV * SL_AMX_CHUNK; }

/* the AMX right operand of ring slot `slot` */
static inline uint16_t *xv_slot(const sl_rl *w, int slot) { return (uint16_t *)w->xv.p + (size_t)slot * xv_stride(w); }

/* AMX rows of a unit group pair ("super-group", 32 units) */
enum { RL_SG = 32 };

/* bf16 of one super-group's forward weights: per gate, its two 16-unit M-tiles over every chunk */
static inline size_t amx_fwd_sg(const sl_rl *w) { return (size_t)(w->gru ? 3 : 4) * 2 * (w->QX + w->QH) * SL_AMX_CHUNK; }

/* super-group sg's forward weights: gate g, M-tile m (units 32 sg + 16 m ..), chunk q at
 * ((g * 2 + m) * Q + q) SL_AMX_CHUNK: x columns (padded to NIP) then h columns */
static void pack_amx_fwd(const sl_rl *w, const sl_rl_args *a, int sg, uint16_t *dst)
{
    const int NI = w->NI, H = w->H, G = w->gru ? 3 : 4, Q = w->QX + w->QH;
    float blk[16 * 32];
    for (int g = 0; g < G; g++)
        for (int m = 0; m < 2; m++)
            for (int q = 0; q < Q; q++) {
                for (int i = 0; i < 16; i++) {
                    const int unit = sg * RL_SG + 16 * m + i;
                    for (int kk = 0; kk < 32; kk++) {
                        const int k = 32 * q + kk, kh = k - w->NIP;
                        float v = 0.0f;
                        if (unit < H && q < w->QX && k < NI) v = a->w_ih[(size_t)(g * H + unit) * NI + k];
                        else if (unit < H && q >= w->QX && kh < H) v = a->w_hh[(size_t)(g * H + unit) * H + kh];
                        blk[i * 32 + kk] = v;
                    }
                }
                sl_amx_pack_a(dst + ((size_t)(g * 2 + m) * Q + q) * SL_AMX_CHUNK, blk);
            }
}

/* AMX: super-group sg's pre-activations (rows g * RL_SG + u, BL lanes: LSTM gates i f g o; GRU
 * r and z of x and h, W_in x, W_hn h) from the step's right operand xv */
static void amx_fwd_products(const sl_rl *w, int sg, const uint16_t *xv, float *pre)
{
    const int BL = w->BL, NV = w->NV, H = w->H, nu = H - sg * RL_SG < RL_SG ? H - sg * RL_SG : RL_SG;
    const int Q = w->QX + w->QH;
    const uint16_t *ag = (const uint16_t *)w->pf.p + (size_t)sg * amx_fwd_sg(w);
    const size_t mq = (size_t)Q * SL_AMX_CHUNK, xq = (size_t)w->QX * SL_AMX_CHUNK;
    for (int gate = 0; gate < (w->gru ? 3 : 4); gate++) {
        const uint16_t *a0 = ag + 2 * gate * mq, *a1 = nu > 16 ? a0 + mq : NULL;
        float *p0 = pre + (size_t)gate * RL_SG * BL, *p1 = p0 + (size_t)16 * BL;
        if (!w->gru || gate < 2) {
            sl_amx_pair(a0, a1, xv, Q, NV, p0, p1, (size_t)BL);
        } else {   /* the GRU's n: W_in x (row block 2) and W_hn h (row block 3) apart */
            sl_amx_pair(a0, a1, xv, w->QX, NV, p0, p1, (size_t)BL);
            sl_amx_pair(a0 + xq, a1 ? a1 + xq : NULL, xv + xq * NV, w->QH, NV, p0 + (size_t)RL_SG * BL,
                        p1 + (size_t)RL_SG * BL, (size_t)BL);
        }
    }
}

/* rows [r0, r0 + n) of step t's [x_t | h_{t-1}] into ring slot `slot` of xh (on AMX also of
 * xv; r0 even, and x rows or h rows only) and, non-temporally, into the weight-gradient
 * operand xhb: row r0 + i, lane b = src[b * lds + i] for the nb source rows (nb = 0: zeros) */
static void rows_in(const sl_rl *w, const float *src, size_t lds, int nb, int slot, int t, int r0, int n)
{
    const int NI = w->NI, K = NI + w->H, BL = w->BL;
    float *xr = w->xh.p + (size_t)slot * K * BL + (size_t)r0 * BL;
    to_lanes(xr, (size_t)BL, src, lds, n, nb, BL);
    float *xb = w->infer ? NULL : w->xhb.p + at(w, K, t) + (size_t)r0 * w->ldr;
    for (int r = 0; xb && r < n; r++) stream_row(xb + (size_t)r * w->ldr, xr + (size_t)r * BL, w->NV);
    if (w->amx) sl_amx_rows_to_b(xv_slot(w, slot), w->NV, r0 < NI ? r0 : w->NIP + r0 - NI, xr, (size_t)BL, n);
}

/* where share i of n of [0, rows) begins when the rows are split in pairs (even, or rows) */
static inline int pair_split(int rows, int i, int n)
{
    const int r = 2 * (int)((long)((rows + 1) / 2) * i / n);
    return r < rows ? r : rows;
}

/* Packed rows: the lanes whose state restarts between step t and tn, the step after it in the
 * direction's order (the later of the two starts a document): keep[b] = 0 for them, 1
 * elsewhere; returns how many. */
static int lanes_cut(const sl_rl *w, const int32_t *dp, int t, int tn, float *keep)
{
    int n = 0;
    for (int b = 0; b < w->BL; b++) {
        const int c = dp && b < w->B && dp[(size_t)b * w->T + (t > tn ? t : tn)] == 0;
        keep[b] = c ? 0.0f : 1.0f;
        n += c;
    }
    return n;
}

static void forward_thread(sl_rl *w, const sl_rl_args *a, const float *X, size_t ldx, float *out, size_t ldo,
                           rl_barrier *bar, int id, int n)
{
    const int B = w->B, T = w->T, NI = w->NI, H = w->H, K = NI + H, BL = w->BL, NV = w->NV, gru = w->gru;
    const int yhow = store_for((size_t)B * T * ldo);
    const int GH = (gru ? 3 : 4) * H, UF = uf_of(w), RF = (gru ? 3 : 4) * UF;
    const size_t ldr = w->ldr;
    /* the forward tiles split evenly (the forward has no ownership to keep: every h_t is read
     * by every thread at the next step); on AMX the super-groups */
    const int nft = (H + UF - 1) / UF, f0 = (int)((long)nft * id / n), f1 = (int)((long)nft * (id + 1) / n);
    const int nsg = (H + RL_SG - 1) / RL_SG, s0 = (int)((long)nsg * id / n), s1 = (int)((long)nsg * (id + 1) / n);
    float *hlast = w->small.p, *cfirst = hlast + (size_t)H * BL, *cs = cfirst + (size_t)H * BL;
    const float *bias = w->small.p + (size_t)6 * H * BL;
    int sense = 0;
    float buf[2][12 * 32] __attribute__((aligned(64)));
    float pre[4 * RL_SG * 32] __attribute__((aligned(64)));   /* AMX: a super-group's pre-activations */
    float keep[32] __attribute__((aligned(64)));               /* packed rows: lanes_cut */

    /* this thread's panels, the x rows of its share of the steps, its units' initial state */
    if (w->amx) {
        sl_amx_tiles_on();
        for (int g = s0; g < s1; g++) pack_amx_fwd(w, a, g, (uint16_t *)w->pf.p + (size_t)g * amx_fwd_sg(w));
    } else {
        for (int f = f0; f < f1; f++) pack_fwd_tile(w, a, f, w->pf.p + (size_t)f * K * RF);
    }
    /* x_t's rows in lanes (this thread's share of them, in pairs) go into the ring slot of its
     * step and the weight-gradient operand: for the first step here, for step s+1 during step s */
    const int x0 = pair_split(NI, id, n), x1 = pair_split(NI, id + 1, n);
    const int t0 = w->rev ? T - 1 : 0;
    rows_in(w, X + (size_t)t0 * ldx + x0, (size_t)T * ldx, B, 0, t0, x0, x1 - x0);
    /* this thread's units */
    const int ua = w->amx ? s0 * RL_SG : f0 * UF, ub0 = w->amx ? s1 * RL_SG : f1 * UF, ub = ub0 < H ? ub0 : H;
    if (ua < ub) {   /* this thread's units of h0 and c0 (zeros without them) */
        rows_in(w, a->h0 ? a->h0 + ua : NULL, (size_t)H, a->h0 ? B : 0, 0, t0, NI + ua, ub - ua);
        if (!gru) {
            to_lanes(cfirst + (size_t)ua * BL, (size_t)BL, a->c0 ? a->c0 + ua : NULL, (size_t)H, ub - ua, a->c0 ? B : 0, BL);
            memcpy(cs + (size_t)ua * BL, cfirst + (size_t)ua * BL, (size_t)(ub - ua) * BL * sizeof(float));
        }
    }
    barrier_wait(bar, &sense);

    for (int s = 0; s < T; s++) {
        const int t = w->rev ? T - 1 - s : s, tn = w->rev ? t - 1 : t + 1;
        const float *xt = w->xh.p + (size_t)(s & 1) * K * BL;
        float *xnext = w->xh.p + (size_t)((s + 1) & 1) * K * BL;
        float *h = s + 1 < T ? xnext + (size_t)NI * BL : hlast;
        float *hb = s + 1 < T && !w->infer ? w->xhb.p + at(w, K, tn) + (size_t)NI * ldr : NULL;
        /* packed rows: lanes restarting at tn get h = 0 (and c = 0) once this step's output is
         * out; their weight-gradient operand rows are then written here, not by the cells */
        const int ncut = s + 1 < T && a->doc_pos ? lanes_cut(w, a->doc_pos, t, tn, keep) : 0;
        float *hbc = ncut ? NULL : hb;
        /* inference: no gates, no LSTM c / GRU W_hn h cache */
        float *gt = w->infer ? NULL : w->gates.p + st(w, GH, t), *aux = w->infer ? NULL : w->aux.p + st(w, H, t);
        /* AMX: super-group by super-group (computing the next one's products before this one's
         * cells, so that the tiles' stores are done before the cells read them, was no faster) */
        for (int g = s0; w->amx && g < s1; g++) {
            const int unit0 = g * RL_SG, nu = H - unit0 < RL_SG ? H - unit0 : RL_SG;
            amx_fwd_products(w, g, xv_slot(w, s & 1), pre);
            if (!gru)
                lstm_cell_tile(w, pre, RL_SG, bias, unit0, nu, gt, aux, cs, h, hbc);
            else
                gru_cell_tile(w, pre, pre + (size_t)RL_SG * BL, RL_SG, 1, bias, unit0, nu, gt, xt + (size_t)NI * BL, aux, h, hbc);
            if (s + 1 < T) sl_amx_rows_to_b(xv_slot(w, (s + 1) & 1), NV, w->NIP + unit0, h + (size_t)unit0 * BL, (size_t)BL, nu);
        }
        for (int f = f0; !w->amx && f < f1; f++) {
            const float *p = w->pf.p + (size_t)f * K * RF;
            const int unit0 = f * UF, nu = H - unit0 < UF ? H - unit0 : UF;
            if (!gru) {
                tile12(NV, p, xt, (size_t)BL, K, buf[0]);
                lstm_cell_tile(w, buf[0], RL_UF, bias, unit0, nu, gt, aux, cs, h, hbc);
            } else {
                tile12(NV, p, xt, (size_t)BL, NI, buf[0]);
                tile12(NV, p + (size_t)NI * RF, xt + (size_t)NI * BL, (size_t)BL, H, buf[1]);
                gru_cell_tile(w, buf[0], buf[1], 4, 0, bias, unit0, nu, gt, xt + (size_t)NI * BL, aux, h, hbc);
            }
        }
        /* the output, batch-first: this thread's units of h_t, while they are in cache */
        if (ua < ub) from_lanes(out + (size_t)t * ldo + ua, (size_t)T * ldo, h + (size_t)ua * BL, (size_t)BL, ub - ua, B, yhow, 1, 0);
        for (int j = ua; ncut && j < ub; j++) {   /* this thread's units: the only rows it wrote */
            for (int b = 0; b < B; b++)
                if (keep[b] == 0.0f) {
                    h[(size_t)j * BL + b] = 0.0f;
                    if (!gru) cs[(size_t)j * BL + b] = 0.0f;
                }
            if (hb) stream_row(hb + (size_t)j * ldr, h + (size_t)j * BL, NV);
        }
        if (s + 1 < T) rows_in(w, X + (size_t)tn * ldx + x0, (size_t)T * ldx, B, (s + 1) & 1, tn, x0, x1 - x0);
        barrier_wait(bar, &sense);
    }
    if (w->amx) sl_amx_tiles_off();
    _mm_sfence();   /* the non-temporal stores, before anyone reads the caches */
}

int sl_rl_forward(sl_rl *w, const sl_rl_args *a, const float *X, size_t ldx, float *out, size_t ldo)
{
    const int B = a->B, H = a->H, NI = a->NI;
    w->valid = 0;
    w->infer = a->infer;
    if (!sl_rl_fits(B)) return sl_error(SL_EINVAL, "recurrent lanes path: batch %d is not in 1..32", B);
    w->B = B; w->T = a->T; w->NI = NI; w->H = H; w->gru = a->gru; w->rev = a->rev;
    w->NV = B > 16 ? 2 : 1;
    w->BL = 16 * w->NV;
    w->ldr = RL_KB;
    const int K = NI + H, G = a->gru ? 3 : 4, GH = G * H;
    const int nft = (H + uf_of(w) - 1) / uf_of(w);
    const size_t TBL = (size_t)a->T * w->BL;
    w->amx = a->amx && !a->doc_pos && sl_amx_available();
    w->QX = (NI + 31) / 32;
    w->NIP = 32 * w->QX;
    w->QH = (H + 31) / 32;
    const size_t npf = w->amx ? (size_t)(H + RL_SG - 1) / RL_SG * amx_fwd_sg(w) / 2 : (size_t)nft * K * 12;
    const int inf = w->infer;   /* no caches: nothing of gates, aux and xhb is read */
    int bad = mem_reserve(&w->xh, (size_t)2 * K * w->BL) | mem_reserve(&w->gates, inf ? 0 : TBL * GH) |
              mem_reserve(&w->aux, inf ? 0 : TBL * H) | mem_reserve(&w->xhb, inf ? 0 : blocked_size(w, K)) | mem_reserve(&w->pf, npf) |
              mem_reserve(&w->small, (size_t)6 * H * w->BL + 4 * (size_t)H) |
              (w->amx ? mem_reserve(&w->xv, xv_stride(w)) : 0);
    if (bad) return sl_error(SL_ENOMEM, "%s: cannot allocate the lanes path's caches", a->gru ? "gru" : "lstm");
    /* the biases the cells add: LSTM b_ih + b_hh; GRU r, z: b_ih + b_hh, then b_in, b_hn */
    float *bias = w->small.p + (size_t)6 * H * w->BL;
    for (int r = 0; r < 4 * H; r++) bias[r] = 0.0f;
    if (a->b_ih && a->b_hh) {
        if (!a->gru) {
            for (int r = 0; r < GH; r++) bias[r] = a->b_ih[r] + a->b_hh[r];
        } else {
            for (int r = 0; r < 2 * H; r++) bias[r] = a->b_ih[r] + a->b_hh[r];
            for (int j = 0; j < H; j++) { bias[2 * H + j] = a->b_ih[2 * H + j]; bias[3 * H + j] = a->b_hh[2 * H + j]; }
        }
    }
    /* AMX: the right operand's padding rows stay zero */
    if (w->amx) memset(w->xv.p, 0, 2 * xv_stride(w) * sizeof(uint16_t));
    rl_barrier bar = {0, 0, 0};
    const int nt = nthreads_for(w);
    #pragma omp parallel num_threads(nt)
    {
        #pragma omp single
        bar.n = omp_get_num_threads();
        forward_thread(w, a, X, ldx, out, ldo, &bar, omp_get_thread_num(), omp_get_num_threads());
    }
    w->valid = !w->infer;
    return 0;
}

/* ---- backward ---- */

/* The weight row of reduction index k of a thread's product over its units [ua, ua + nu): LSTM
 * (both products) unit k / 4, gate k % 4; GRU x side (n r z) and h side (r z n), k = 3u + m. */
static inline int red_row(int gru, int hside, int H, int ua, int k)
{
    if (!gru) return (k & 3) * H + ua + (k >> 2);
    const int u = k / 3, m = k % 3;
    return (hside ? m : (m + 2) % 3) * H + ua + u;
}

/* backward tile: RL_Q output columns c0 .. c0+11 of W (rows, ncol) over the thread's kr
 * reduction rows: P[k][j] = W[red_row(k)][c0 + j] */
static void pack_bwd_tile(const float *W, int ncol, int kr, int c0, int gru, int hside, int H, int ua, float *p)
{
    for (int k = 0; k < kr; k++) {
        const float *src = W + (size_t)red_row(gru, hside, H, ua, k) * ncol;
        for (int j = 0; j < RL_Q; j++) p[(size_t)k * RL_Q + j] = c0 + j < ncol ? src[c0 + j] : 0.0f;
    }
}

/* AMX: the backward product's left operand, W^T over the thread's kr reduction rows (red_row):
 * M-tile m (output columns 16 m ..), chunk q at (m * QR + q) SL_AMX_CHUNK, QR = kr / 32
 * rounded up */
static void pack_amx_bwd(const float *W, int ncol, int kr, int gru, int hside, int H, int ua, uint16_t *dst)
{
    const int QR = (kr + 31) / 32, MC = (ncol + 15) / 16;
    float blk[16 * 32];
    for (int m = 0; m < MC; m++)
        for (int q = 0; q < QR; q++) {
            for (int kk = 0; kk < 32; kk++) {
                const int k = 32 * q + kk;
                const float *src = k < kr ? W + (size_t)red_row(gru, hside, H, ua, k) * ncol : NULL;
                for (int i = 0; i < 16; i++) {
                    const int c = 16 * m + i;
                    blk[i * 32 + kk] = src && c < ncol ? src[c] : 0.0f;
                }
            }
            sl_amx_pack_a(dst + ((size_t)m * QR + q) * SL_AMX_CHUNK, blk);
        }
}

/* what every thread of a backward call needs */
typedef struct {
    const sl_rl_args *a;
    const float *dH;
    size_t lddh;
    float *dX;
    size_t lddx;
    int dxbeta;
    float *dw_ih, *dw_hh, *dh0, *dc0;
    rl_barrier *bar;
} rl_bwd_job;

static void backward_tail(sl_rl *w, const rl_bwd_job *j, int *sense, int id, int n);

/* Backward of thread id of n, which owns units [ua, ub). Per step it runs the cell for its
 * units, then both products over its own units' rows of dG only (which it has just written:
 * they are in its L1/L2), for every output: a partial dh_prev for all H units and a partial
 * dx_t (kept per thread, summed after the loop). The partials for the other threads' units
 * go to an exchange buffer; after the barrier each thread adds the others' partials for its
 * units, in thread order. A step exchanges H x BL floats of partials instead of the 4H x BL of
 * dG a split of the outputs would share (measured faster: the lines another core wrote are the
 * expensive ones). */
static void backward_thread(sl_rl *w, const rl_bwd_job *job, int id, int n)
{
    const sl_rl_args *a = job->a;
    const float *dH = job->dH;
    const size_t lddh = job->lddh;
    float *dh0 = job->dh0, *dc0 = job->dc0;
    const int want_dx = job->dX != NULL;
    rl_barrier *bar = job->bar;
    const int B = w->B, T = w->T, NI = w->NI, H = w->H, K = NI + H, BL = w->BL, NV = w->NV, gru = w->gru;
    const int DW = 4 * H, nqh = (H + RL_Q - 1) / RL_Q, nqx = (NI + RL_Q - 1) / RL_Q;
    const int ua = (int)((long)H * id / n), ub = (int)((long)H * (id + 1) / n), nu = ub - ua;
    const int kr = (gru ? 3 : 4) * nu;   /* reduction rows of this thread's products */
    const size_t hoff = gru ? (size_t)kr * BL : 0;   /* the h side in the product buffer */
    const size_t pstride = (size_t)kr * RL_Q;        /* floats per panel tile */
    float *cfirst = w->small.p + (size_t)H * BL, *dhr = cfirst + (size_t)2 * H * BL, *dc = dhr + (size_t)H * BL;
    float *dht = dc + (size_t)H * BL;   /* dH_t of this thread's units, in lanes */
    double *db = a->b_ih ? w->db + (size_t)id * DW : NULL;   /* this thread's bias sums */
    float *dl = w->dgl.p + (size_t)id * w->dgl_stride;      /* this thread's dG rows */
    float *pdh = w->pdh.p + (size_t)id * w->pdh_stride, *pdx = w->pdx.p + (size_t)id * w->pdx_stride;
    float *dxt0 = want_dx ? w->dxt.p + (size_t)id * T * NI * BL : NULL;
    int sense = 0;
    float buf[RL_SG * 32] __attribute__((aligned(64)));
    /* AMX: QR chunks of reduction rows; output M-tiles of dh and dx, in pairs; the dG rows'
     * bf16 parts, h side and (GRU) x side */
    const int amx = w->amx, QR = (kr + 31) / 32, MH = (H + 15) / 16, MX = (NI + 15) / 16, H16 = 16 * MH;
    const size_t mstride = (size_t)QR * SL_AMX_CHUNK;
    uint16_t *dvh = amx ? (uint16_t *)(w->dv.p + (size_t)id * w->dv_stride) : NULL;
    uint16_t *dvx = amx && gru ? dvh + (size_t)QR * NV * SL_AMX_CHUNK : dvh;
    float *dxr = dl + (size_t)6 * H * BL;   /* AMX: dx_t's ring (2, 16 MX, BL) */
    float keep[32] __attribute__((aligned(64)));   /* packed rows: lanes_cut of this step and its predecessor */

    if (amx) {
        sl_amx_tiles_on();
        pack_amx_bwd(a->w_hh, H, kr, gru, 1, H, ua, (uint16_t *)pdh);
        if (want_dx) pack_amx_bwd(a->w_ih, NI, kr, gru, 0, H, ua, (uint16_t *)pdx);
        memset(dvh, 0, (size_t)(gru ? 2 : 1) * QR * NV * SL_AMX_CHUNK * sizeof(uint16_t));   /* padding rows */
    } else {
        for (int q = 0; q < nqh; q++) pack_bwd_tile(a->w_hh, H, kr, q * RL_Q, gru, 1, H, ua, pdh + (size_t)q * pstride);
        for (int q = 0; want_dx && q < nqx; q++) pack_bwd_tile(a->w_ih, NI, kr, q * RL_Q, gru, 0, H, ua, pdx + (size_t)q * pstride);
    }
    memset(dhr + (size_t)ua * BL, 0, (size_t)nu * BL * sizeof(float));
    memset(dc + (size_t)ua * BL, 0, (size_t)nu * BL * sizeof(float));
    if (db) memset(db, 0, (size_t)DW * sizeof(double));
    barrier_wait(bar, &sense);

    for (int s = T - 1; s >= 0; s--) {
        const int t = w->rev ? T - 1 - s : s, tp = w->rev ? t + 1 : t - 1;
        const float *gt = w->gates.p + st(w, (gru ? 3 : 4) * H, t), *aux = w->aux.p + st(w, H, t);
        /* dH_t of this thread's units into lanes; the next step's rows into L2 meanwhile */
        to_lanes(dht + (size_t)ua * BL, (size_t)BL, dH + (size_t)t * lddh + ua, (size_t)T * lddh, nu, B, BL);
        if (s) {
            for (int b = 0; b < B; b++)
                for (int j = 0; j < nu; j += 16) _mm_prefetch((const char *)(dH + ((size_t)b * T + tp) * lddh + ua + j), _MM_HINT_T1);
            /* the GRU's h_prev rows of the next step */
            for (int j = ua; gru && j < ub; j++)
                for (int l = 0; l < BL; l += 16) _mm_prefetch((const char *)(w->xhb.p + at(w, K, tp) + (size_t)(NI + j) * w->ldr + l), _MM_HINT_T1);
        }
        float *dgb = w->dgb.p + at(w, 4 * H, t);
        const int ncut = lanes_cut(w, s ? a->doc_pos : NULL, t, tp, keep);
        const rl_cell_bwd cb = {.gt = gt,
                                .aux = aux,
                                .prev = gru ? w->xhb.p + at(w, K, t) + (size_t)NI * w->ldr : s ? w->aux.p + st(w, H, tp) : cfirst,
                                .keep = keep,
                                .dht = dht,
                                .ldprev = w->ldr,
                                .dl = dl,
                                .dgb = dgb,
                                .dhr = dhr,
                                .dc = dc,
                                .db = db};
        if (!gru)
            lstm_cell_bwd(w, ua, ub, &cb);
        else
            gru_cell_bwd(w, ua, ub, &cb);
        const int need_dh = s || dh0;
        if (amx) {
            if (need_dh || (!gru && dxt0)) sl_amx_rows_to_b(dvh, NV, 0, dl + hoff, (size_t)BL, kr);   /* the LSTM's dx reads it too */
            if (gru && dxt0) sl_amx_rows_to_b(dvx, NV, 0, dl, (size_t)BL, kr);
        }
        float *xf = w->xfer.p + ((size_t)id * 2 + (s & 1)) * H16 * BL;   /* partials for the others' units */
        /* AMX: every unit's partial (output columns 32 q ..) straight to the exchange buffer
         * (reading the tiles' stores back soon after costs more than the product) */
        for (int q = 0; need_dh && amx && q < (MH + 1) / 2; q++) {
            const uint16_t *a0 = (const uint16_t *)pdh + (size_t)2 * q * mstride;
            float *c = xf + (size_t)32 * q * BL;
            sl_amx_pair(a0, 2 * q + 1 < MH ? a0 + mstride : NULL, dvh, QR, NV, c, c + (size_t)16 * BL, (size_t)BL);
        }
        for (int q = 0; need_dh && !amx && q < nqh; q++) {
            tile12(NV, pdh + (size_t)q * pstride, dl + hoff, (size_t)BL, kr, buf);
            const int c0 = q * RL_Q, nr = H - c0 < RL_Q ? H - c0 : RL_Q;
            for (int u = 0; u < nr; u++) {
                const int j = c0 + u, own = j >= ua && j < ub;
                const float *bu = buf + (size_t)u * BL;
                float *d = (own ? dhr : xf) + (size_t)j * BL;
                #pragma omp simd
                for (int l = 0; l < BL; l++) d[l] = own ? d[l] + bu[l] : bu[l];
            }
        }
        if (dxt0 && amx) {
            /* into a ring slot by step parity; the previous step's slot, whose stores are done,
             * goes out (non-temporally) meanwhile */
            float *cur = dxr + (size_t)(s & 1) * MX * 16 * BL;
            for (int q = 0; q < (MX + 1) / 2; q++) {
                const uint16_t *a0 = (const uint16_t *)pdx + (size_t)2 * q * mstride;
                float *c = cur + (size_t)32 * q * BL;
                sl_amx_pair(a0, 2 * q + 1 < MX ? a0 + mstride : NULL, dvx, QR, NV, c, c + (size_t)16 * BL, (size_t)BL);
            }
            if (s + 1 < T) stream_rows(dxt0 + st(w, NI, w->rev ? T - 2 - s : s + 1), dxr + (size_t)((s + 1) & 1) * MX * 16 * BL, (size_t)NI * BL);
            if (s == 0) stream_rows(dxt0 + st(w, NI, t), cur, (size_t)NI * BL);
        } else if (dxt0) {
            float *dxt = dxt0 + st(w, NI, t);
            for (int q = 0; q < nqx; q++) {
                tile12(NV, pdx + (size_t)q * pstride, dl, (size_t)BL, kr, buf);
                const int c0 = q * RL_Q, nr = NI - c0 < RL_Q ? NI - c0 : RL_Q;
                stream_rows(dxt + (size_t)c0 * BL, buf, (size_t)nr * BL);
            }
        }
        barrier_wait(bar, &sense);
        for (int o = 0; need_dh && o < n; o++) {
            if (o == id && !amx) continue;
            const float *of = w->xfer.p + ((size_t)o * 2 + (s & 1)) * H16 * BL + (size_t)ua * BL;
            float *d = dhr + (size_t)ua * BL;
            #pragma omp simd
            for (size_t i = 0; i < (size_t)nu * BL; i++) d[i] += of[i];
        }
        /* packed rows: nothing flows back into the previous document */
        for (int j = ua; ncut && j < ub; j++)
            for (int b = 0; b < B; b++)
                if (keep[b] == 0.0f) dhr[(size_t)j * BL + b] = dc[(size_t)j * BL + b] = 0.0f;
    }
    if (amx) sl_amx_tiles_off();
    /* the initial state's gradients: this thread's units */
    if (nu > 0) {
        if (dh0) from_lanes(dh0 + ua, (size_t)H, dhr + (size_t)ua * BL, (size_t)BL, nu, B, RL_STORE, 1, 0);
        if (dc0 && !gru) from_lanes(dc0 + ua, (size_t)H, dc + (size_t)ua * BL, (size_t)BL, nu, B, RL_STORE, 1, 0);
    }
    _mm_sfence();   /* the non-temporal stores, before the others read them */
    backward_tail(w, job, &sense, id, n);
}

/* ---- weight gradients ----
 *
 * dW[c][r] += sum over k of dG[row(c)][k] xh[r][k], k over every step's lanes (T BL), block
 * by block of the operands' RL_KB reduction indices (xhb, dgb: a block's rows are contiguous).
 * Register tiles of DW_R output rows x DW_NV vectors of 16 columns: the dG rows are broadcast,
 * the xh rows go in as vectors from a panel (kc x 64, in L1) transposed from the block's xh
 * rows. Each thread takes the rows of its units (the loop's split; every gate, so every thread
 * reads as many dG rows): no copies to add up. Its dG rows' block stays in L2 while the panels
 * go by; the next block is prefetched meanwhile. At the benchmark's shape on two threads this
 * takes 17.3 ms (GRU) and 22.3 ms (LSTM) per thread; the single-threaded OpenBLAS GEMMs into
 * per-thread copies it replaced took 20.2-23.3 and 24.6-26.4 ms with the copies' sum (and the
 * dx sum, ~0.5 ms). With its operands in cache the kernel runs at ~90% of the FMA peak; the
 * rest is waiting on the operands' rows. */
enum { DW_R = 6, DW_NV = 4, DW_W = 16 * DW_NV };

/* c[r][16 v ..] += sum over kk < kc of d[r][kk] panel[kk][16 v ..], r < DW_R, v < NV (the last
 * vector's columns masked by m) */
static inline __attribute__((always_inline)) void dw_tile(int NV, const float *const *d, const float *panel, int kc,
                                                          float *const *c, __mmask16 m)
{
    __m512 acc[DW_R][DW_NV];
    _Pragma("GCC unroll 6") for (int r = 0; r < DW_R; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int kk = 0; kk < kc; kk++) {
        __m512 xv[DW_NV];
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) xv[v] = _mm512_load_ps(panel + (size_t)kk * DW_W + 16 * v);
        _Pragma("GCC unroll 6") for (int r = 0; r < DW_R; r++) {
            const __m512 s = _mm512_set1_ps(d[r][kk]);
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(s, xv[v], acc[r][v]);
        }
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < DW_R; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {
            const __mmask16 mv = v == NV - 1 ? m : (__mmask16)0xffff;
            float *p = c[r] + 16 * v;
            _mm512_mask_storeu_ps(p, mv, _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(mv, p)));
        }
}

static void dw_tile_nv(int NV, const float *const *d, const float *panel, int kc, float *const *c, __mmask16 m)
{
    switch (NV) {
    case 1: dw_tile(1, d, panel, kc, c, m); break;
    case 2: dw_tile(2, d, panel, kc, c, m); break;
    case 3: dw_tile(3, d, panel, kc, c, m); break;
    default: dw_tile(4, d, panel, kc, c, m); break;
    }
}

/* The dG row (of dgb) behind row c of dW_ih (hside 0) or dW_hh (1), torch's gate order: LSTM
 * the same row; GRU r, z from dr, dz, n from dn (x side) or dn*r (h side). */
static inline int dw_src_row(int gru, int hside, int H, int c)
{
    if (!gru || c < 2 * H) return gru ? c + H : c;
    return hside ? c + H : c - 2 * H;
}

/* the rows of units [ua, ub) of dW_ih and dW_hh (every gate) over every step: the same dG
 * rows for every thread's share (4 per unit), so the same memory traffic */
static void weight_grads(const sl_rl *w, float *dw_ih, float *dw_hh, int ua, int ub)
{
    const int NI = w->NI, H = w->H, nu = ub - ua, nq = (w->gru ? 3 : 4) * nu;
    const size_t ldr = w->ldr, TBL = (size_t)w->T * w->BL;
    float panel[RL_KB * DW_W] __attribute__((aligned(64)));
    float sink[DW_W];   /* the output of a tile's rows past the last */
    for (size_t k0 = 0; k0 < TBL; k0 += RL_KB) {   /* block by block */
        const int kc = TBL - k0 < RL_KB ? (int)(TBL - k0) : RL_KB;
        const float *xblk = w->xhb.p + blocked_at(NI + H, k0), *dblk = w->dgb.p + blocked_at(4 * H, k0);
        for (int hside = 0; hside < 2; hside++) {
            const int ncol = hside ? H : NI;
            float *dw = hside ? dw_hh : dw_ih;
            for (int r0 = 0; r0 < ncol; r0 += DW_W) {
                const int nr = ncol - r0 < DW_W ? ncol - r0 : DW_W, NV = (nr + 15) / 16;
                const __mmask16 m = (__mmask16)(0xffffu >> (16 * NV - nr));
                const float *xr = xblk + (size_t)((hside ? NI : 0) + r0) * ldr;
                /* the panel: panel[kk * DW_W + i] = xr[i * ldr + kk], zeros past nr in its last vector */
                for (int kk = 0; nr % 16 && kk < kc; kk++) _mm512_store_ps(panel + (size_t)kk * DW_W + 16 * (NV - 1), _mm512_setzero_ps());
                from_lanes(panel, DW_W, xr, ldr, nr, kc, RL_STORE, 1, 0);
                /* the next block's rows into L2 while this one is computed (the hardware
                 * prefetchers alone: 22.8 / 17.8 ms against 22.3 / 17.3) */
                const int pre = k0 + RL_KB < TBL;
                for (int i = 0; pre && i < nr; i++)
                    for (int l = 0; l < RL_KB; l += 16) _mm_prefetch((const char *)(xr + blocked_at(NI + H, RL_KB) + (size_t)i * ldr + l), _MM_HINT_T1);
                for (int q0 = 0; q0 < nq; q0 += DW_R) {   /* own rows q, gate-major: row (q / nu) H + ua + q % nu */
                    const float *d[DW_R];
                    float *c[DW_R];
                    for (int r = 0; r < DW_R; r++) {
                        const int q = q0 + r < nq ? q0 + r : q0, cr = q / nu * H + ua + q % nu;
                        d[r] = dblk + (size_t)dw_src_row(w->gru, hside, H, cr) * ldr;
                        c[r] = q0 + r < nq ? dw + (size_t)cr * ncol + r0 : sink;
                    }
                    for (int r = 0; pre && r0 == 0 && r < DW_R; r++)
                        for (int l = 0; l < RL_KB; l += 16) _mm_prefetch((const char *)(d[r] + blocked_at(4 * H, RL_KB) + l), _MM_HINT_T1);
                    dw_tile_nv(NV, d, panel, kc, c, m);
                }
            }
        }
    }
}

/* After the loop, in the same parallel region (a new region may have to wake a sleeping
 * thread): the input gradient (the threads' partials added in thread order on the way out
 * batch-first) and this thread's rows of the weight gradients. */
static void backward_tail(sl_rl *w, const rl_bwd_job *j, int *sense, int id, int n)
{
    const int B = w->B, T = w->T, NI = w->NI, BL = w->BL;
    const size_t TBL = (size_t)T * BL;
    const int how = j->dxbeta ? RL_ADD : store_for((size_t)B * T * j->lddx);
    barrier_wait(j->bar, sense);
    for (int t = (int)((long)T * id / n); j->dX && t < (int)((long)T * (id + 1) / n); t++)
        from_lanes(j->dX + (size_t)t * j->lddx, (size_t)T * j->lddx, w->dxt.p + st(w, NI, t), (size_t)BL, NI, B, how, n,
                   TBL * NI);
    weight_grads(w, j->dw_ih, j->dw_hh, (int)((long)w->H * id / n), (int)((long)w->H * (id + 1) / n));
    _mm_sfence();   /* dX's non-temporal stores, before the caller reads it */
}

int sl_rl_backward(sl_rl *w, const sl_rl_args *a, const float *dH, size_t lddh, float *dX, size_t lddx, int dxbeta,
                   const sl_rl_grads *g)
{
    float *dw_ih = g->dw_ih, *dw_hh = g->dw_hh, *db_ih = g->db_ih, *db_hh = g->db_hh, *dh0 = g->dh0, *dc0 = g->dc0;
    if (!w->valid) return sl_error(SL_EINVAL, "recurrent lanes path: backward without a forward");
    const int T = w->T, NI = w->NI, H = w->H, gru = w->gru, BL = w->BL;
    const int DW = 4 * H;
    const size_t TBL = (size_t)T * BL;
    const int nt = nthreads_for(w);
    /* per-thread buffers, each sized for a thread that owns every unit (the team may be smaller
     * than asked for): dG rows 4H (GRU: both sides, 6H), panels (padded outputs) x 4H */
    w->dgl_stride = (size_t)6 * H * BL + (w->amx ? (size_t)2 * (NI + 15) / 16 * 16 * BL : 0);
    w->pdh_stride = (size_t)(H + RL_Q - 1) / RL_Q * RL_Q * DW;
    w->pdx_stride = (size_t)(NI + RL_Q - 1) / RL_Q * RL_Q * DW;
    if (w->amx) {   /* bf16 parts (two per float) of a thread's panels and dG rows, kr <= 4H */
        const size_t qr = (size_t)(DW + 31) / 32 * SL_AMX_CHUNK / 2;
        const size_t ph = (size_t)(H + 15) / 16 * qr, px = (size_t)(NI + 15) / 16 * qr;
        if (w->pdh_stride < ph) w->pdh_stride = ph;
        if (w->pdx_stride < px) w->pdx_stride = px;
        w->dv_stride = 2 * qr * w->NV;
    }
    int bad = mem_reserve(&w->dgb, blocked_size(w, DW)) |
              mem_reserve(&w->dgl, nt * w->dgl_stride) | mem_reserve(&w->xfer, (size_t)nt * 2 * (H + 15) / 16 * 16 * BL) |
              mem_reserve(&w->pdh, nt * w->pdh_stride) | (w->amx ? mem_reserve(&w->dv, nt * w->dv_stride) : 0) |
              (dX ? mem_reserve(&w->pdx, nt * w->pdx_stride) | mem_reserve(&w->dxt, nt * TBL * NI) : 0);
    if (a->b_ih && w->dbcap < (size_t)nt * DW) {
        free(w->db);
        w->dbcap = 0;
        if (!(w->db = malloc((size_t)nt * DW * sizeof(double)))) bad = 1;
        else w->dbcap = (size_t)nt * DW;
    }
    if (bad) return sl_error(SL_ENOMEM, "%s: cannot allocate the lanes path's backward buffers", gru ? "gru" : "lstm");
    rl_barrier bar = {0, 0, 0};
    rl_bwd_job job = {a, dH, lddh, dX, lddx, dxbeta, dw_ih, dw_hh, dh0, dc0, &bar};
    #pragma omp parallel num_threads(nt)
    {
        #pragma omp single
        bar.n = omp_get_num_threads();
        backward_thread(w, &job, omp_get_thread_num(), omp_get_num_threads());
    }
    if (a->b_ih && db_ih && db_hh) {
        double *db = w->db;
        for (int i = 1; i < bar.n; i++)   /* the threads' partial sums, in a fixed order */
            for (int r = 0; r < DW; r++) db[r] += w->db[(size_t)i * DW + r];
        for (int j = 0; j < H; j++) {
            if (!gru) {
                for (int g = 0; g < 4; g++) { db_ih[g * H + j] += (float)db[g * H + j]; db_hh[g * H + j] += (float)db[g * H + j]; }
            } else {
                db_ih[j] += (float)db[H + j]; db_hh[j] += (float)db[H + j];
                db_ih[H + j] += (float)db[2 * H + j]; db_hh[H + j] += (float)db[2 * H + j];
                db_ih[2 * H + j] += (float)db[j]; db_hh[2 * H + j] += (float)db[3 * H + j];
            }
        }
    }
    return 0;
}

int sl_rl_amx(const sl_rl *w) { return (w->valid || w->infer) && w->amx; }

void sl_rl_final_state(const sl_rl *w, float *hn, float *cn)
{
    const int B = w->B, H = w->H, BL = w->BL;
    if (hn) from_lanes(hn, (size_t)H, w->small.p, (size_t)BL, H, B, RL_STORE, 1, 0);
    /* inference mode keeps no c cache: the carried cell state (small's third block) is the last c */
    const float *c = w->infer ? w->small.p + (size_t)2 * H * BL : w->aux.p + st(w, H, w->rev ? 0 : w->T - 1);
    if (cn && !w->gru) from_lanes(cn, (size_t)H, c, (size_t)BL, H, B, RL_STORE, 1, 0);
}

#pragma GCC pop_options

#else /* no AVX-512 kernels on this target */

struct sl_rl {
    int unused;
};

int sl_rl_fits(int B) { (void)B; return 0; }
sl_rl *sl_rl_new(void) { return calloc(1, sizeof(sl_rl)); }
void sl_rl_free(sl_rl *w) { free(w); }

int sl_rl_forward(sl_rl *w, const sl_rl_args *a, const float *X, size_t ldx, float *out, size_t ldo)
{
    (void)w; (void)a; (void)X; (void)ldx; (void)out; (void)ldo;
    return sl_error(SL_EUNSUPPORTED, "recurrent lanes path: not built for this target");
}

int sl_rl_backward(sl_rl *w, const sl_rl_args *a, const float *dH, size_t lddh, float *dX, size_t lddx, int dxbeta,
                   const sl_rl_grads *g)
{
    (void)w; (void)a; (void)dH; (void)lddh; (void)dX; (void)lddx; (void)dxbeta; (void)g;
    return sl_error(SL_EUNSUPPORTED, "recurrent lanes path: not built for this target");
}

int sl_rl_amx(const sl_rl *w) { (void)w; return 0; }
void sl_rl_final_state(const sl_rl *w, float *hn, float *cn) { (void)w; (void)hn; (void)cn; }

#endif
