/* seq/recurrent_kernel.c — packed-panel AVX-512 micro-kernel for the recurrent per-step
 * products (see recurrent_kernel.h). */
#include "seq/recurrent_kernel.h"
#include "core/cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RK_X86 1
#include <immintrin.h>
#endif

static int panel_alloc(sl_rk_panel *pn, size_t n)
{
    if (pn->cap >= n && pn->p) return 0;
    free(pn->p);
    pn->p = NULL;
    pn->cap = 0;
    void *q = NULL;
    if (posix_memalign(&q, 64, (n ? n : 16) * sizeof(float))) return -1;
    pn->p = q;
    pn->cap = n;
    return 0;
}

void sl_rk_panel_free(sl_rk_panel *pn)
{
    free(pn->p);
    memset(pn, 0, sizeof *pn);
}

/* P[u][k][v][l] = W[c * sc + (k - kb) * sk] for k in [kb, ke) and c = col[v] + u * gstep + l <
 * lim[v], else 0. The loops follow W's memory order: l innermost when the columns are
 * contiguous (sc == 1), else k innermost, in blocks of 64 k so that both the rows read and the
 * panel lines written stay in L1. */
static void pack_range(sl_rk_panel *pn, const float *W, size_t sc, size_t sk, int kb, int ke)
{
    const int K = pn->K, nv = pn->nv, ng = pn->ngroups;
    const int *lim = pn->lim;
    for (int u = 0; u < ng; u++) {
        float *pu = pn->p + (size_t)u * K * nv * 16;
        int c0[4], nc[4];
        for (int v = 0; v < nv; v++) {
            c0[v] = pn->col[v] + u * pn->gstep;
            int n = lim[v] - c0[v];
            nc[v] = n < 0 ? 0 : n > 16 ? 16 : n;
        }
        if (sc == 1) {
            for (int k = kb; k < ke; k++)
                for (int v = 0; v < nv; v++) {
                    float *dst = pu + ((size_t)k * nv + v) * 16;
                    const float *src = W + (size_t)(k - kb) * sk + c0[v];
                    for (int l = 0; l < nc[v]; l++) dst[l] = src[l];
                    for (int l = nc[v]; l < 16; l++) dst[l] = 0.0f;
                }
        } else {
            for (int k0 = kb; k0 < ke; k0 += 64) {
                int k1 = ke - k0 < 64 ? ke : k0 + 64;
                for (int v = 0; v < nv; v++)
                    for (int l = 0; l < 16; l++) {
                        float *dst = pu + (size_t)v * 16 + l;
                        if (l < nc[v]) {
                            const float *src = W + (size_t)(c0[v] + l) * sc;
                            for (int k = k0; k < k1; k++) dst[(size_t)k * nv * 16] = src[(size_t)(k - kb) * sk];
                        } else {
                            for (int k = k0; k < k1; k++) dst[(size_t)k * nv * 16] = 0.0f;
                        }
                    }
            }
        }
    }
}

/* the column groups of a forward panel with G gates of H units: G = 3, 4 one group per 16
 * units holding every gate, else groups of 64 consecutive columns */
static void fwd_layout(sl_rk_panel *pn, int G, int H)
{
    int *lim = pn->lim;
    pn->ncol = G * H;
    if (G == 3 || G == 4) {
        pn->nv = G;
        pn->ngroups = (H + 15) / 16;
        pn->gstep = 16;
        for (int v = 0; v < G; v++) { pn->col[v] = v * H; lim[v] = (v + 1) * H; }
    } else {
        pn->nv = 4;
        pn->ngroups = (G * H + 63) / 64;
        pn->gstep = 64;
        for (int v = 0; v < 4; v++) { pn->col[v] = 16 * v; lim[v] = G * H; }
    }
    for (int v = pn->nv; v < 4; v++) { pn->col[v] = 0; lim[v] = 0; }
}

int sl_rk_pack_fwd(sl_rk_panel *pn, const float *W, int G, int H, int K)
{
    pn->K = K;
    fwd_layout(pn, G, H);
    if (panel_alloc(pn, (size_t)pn->ngroups * K * pn->nv * 16)) return -1;
    pack_range(pn, W, (size_t)K, 1, 0, K);
    return 0;
}

int sl_rk_pack_fwd2(sl_rk_panel *pn, const float *W1, int K1, const float *W2, int K2, int G, int H)
{
    pn->K = K1 + K2;
    fwd_layout(pn, G, H);
    if (panel_alloc(pn, (size_t)pn->ngroups * pn->K * pn->nv * 16)) return -1;
    pack_range(pn, W1, (size_t)K1, 1, 0, K1);
    pack_range(pn, W2, (size_t)K2, 1, K1, K1 + K2);
    return 0;
}

int sl_rk_pack_bwd(sl_rk_panel *pn, const float *W, int R, int N)
{
    pn->K = R;
    pn->ncol = N;
    pn->nv = 4;
    pn->ngroups = (N + 63) / 64;
    pn->gstep = 64;
    for (int v = 0; v < 4; v++) { pn->col[v] = 16 * v; pn->lim[v] = N; }
    if (panel_alloc(pn, (size_t)pn->ngroups * R * 4 * 16)) return -1;
    pack_range(pn, W, 1, (size_t)N, 0, R);
    return 0;
}

int sl_rk_pack_bwd2(sl_rk_panel *pn, const float *W1, int R1, const float *W2, int R2, int N)
{
    pn->K = R1 + R2;
    pn->ncol = N;
    pn->nv = 4;
    pn->ngroups = (N + 63) / 64;
    pn->gstep = 64;
    for (int v = 0; v < 4; v++) { pn->col[v] = 16 * v; pn->lim[v] = N; }
    if (panel_alloc(pn, (size_t)pn->ngroups * pn->K * 4 * 16)) return -1;
    pack_range(pn, W1, 1, (size_t)N, 0, R1);
    pack_range(pn, W2, 1, (size_t)N, R1, R1 + R2);
    return 0;
}

#ifdef RK_X86

int sl_rk_available(void)
{
    return sl_cpu_has(SL_CPU_AVX512F);
}

#pragma GCC push_options
#pragma GCC target("avx512f,fma")

/* Reduction chunk. The accumulators stay in registers for a whole chunk; between chunks a tile
 * is stored and reloaded. Measured on the benchmark's shapes (16 rows, K = 384 .. 1024), longer
 * chunks win over L1-sized ones (128: 32 KB of panel) by 4-16%: the panel streams from L2 fast
 * enough, the stores and reloads cost more. */
#define RK_KC 1024

/* One register tile: rows [0, R) of A / C, the nv vectors of one group, reduction indices
 * [0, kn) of the chunk; p is the group's panel at the chunk's first k. */
#define RK_TILE(NV, R)                                                                          \
    static inline __attribute__((always_inline)) void tile_##NV##_##R(                         \
        const float *restrict p, int kn, const float *restrict a, int lda, float *restrict c,  \
        int ldc, const int *cs, const __mmask16 *mk, int load)                                 \
    {                                                                                           \
        __m512 acc[R][NV];                                                                      \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                               \
                acc[r][v] = load ? _mm512_maskz_loadu_ps(mk[v], c + (size_t)r * ldc + cs[v])    \
                                 : _mm512_setzero_ps();                                         \
        for (int k = 0; k < kn; k++) {                                                          \
            __m512 w[NV];                                                                       \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                               \
                w[v] = _mm512_load_ps(p + ((size_t)k * NV + v) * 16);                           \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                              \
                __m512 s = _mm512_set1_ps(a[(size_t)r * lda + k]);                              \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                           \
                    acc[r][v] = _mm512_fmadd_ps(s, w[v], acc[r][v]);                            \
            }                                                                                   \
        }                                                                                       \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                               \
                _mm512_mask_storeu_ps(c + (size_t)r * ldc + cs[v], mk[v], acc[r][v]);           \
    }

RK_TILE(4, 1) RK_TILE(4, 2) RK_TILE(4, 3) RK_TILE(4, 4) RK_TILE(4, 5) RK_TILE(4, 6)
RK_TILE(3, 1) RK_TILE(3, 2) RK_TILE(3, 3) RK_TILE(3, 4) RK_TILE(3, 5) RK_TILE(3, 6) RK_TILE(3, 7) RK_TILE(3, 8)

/* the register tiles by row count ([0] unused): R rows of 4 (or 3) vectors */
typedef void (*rk_tile_fn)(const float *, int, const float *, int, float *, int, const int *, const __mmask16 *, int);
static const rk_tile_fn tiles4[] = {NULL, tile_4_1, tile_4_2, tile_4_3, tile_4_4, tile_4_5, tile_4_6};
static const rk_tile_fn tiles3[] = {NULL, tile_3_1, tile_3_2, tile_3_3, tile_3_4, tile_3_5, tile_3_6, tile_3_7, tile_3_8};

/* every row block of one group and one reduction chunk: tiles of rmax rows, the last one
 * smaller */
static void group(const rk_tile_fn *tile, int rmax, const float *p, int kn, int M, const float *a, int lda, float *c,
                  int ldc, const int *cs, const __mmask16 *mk, int load)
{
    for (int b = 0; b < M; b += rmax)
        tile[M - b < rmax ? M - b : rmax](p, kn, a + (size_t)b * lda, lda, c + (size_t)b * ldc, ldc, cs, mk, load);
}

static void rk_gemm_avx512(const sl_rk_panel *pn, int M, const float *A, int lda, float *C, int ldc, int beta)
{
    const int K = pn->K, nv = pn->nv;
    const size_t gsz = (size_t)K * nv * 16;
    for (int u = 0; u < pn->ngroups; u++) {
        int cs[4];
        __mmask16 mk[4];
        for (int v = 0; v < 4; v++) {
            int start = pn->col[v] + u * pn->gstep;
            int n = pn->lim[v] - start;   /* valid columns of this vector */
            n = n < 0 ? 0 : n > 16 ? 16 : n;
            cs[v] = n ? start : 0;
            mk[v] = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
        }
        const float *pu = pn->p + (size_t)u * gsz;
        for (int k0 = 0; k0 < K; k0 += RK_KC) {
            int kn = K - k0 < RK_KC ? K - k0 : RK_KC;
            const float *pk = pu + (size_t)k0 * nv * 16;
            int load = beta || k0 > 0;
            if (nv == 4) group(tiles4, 6, pk, kn, M, A + k0, lda, C, ldc, cs, mk, load);
            else group(tiles3, 8, pk, kn, M, A + k0, lda, C, ldc, cs, mk, load);
        }
    }
}

#pragma GCC pop_options

void sl_rk_gemm(const sl_rk_panel *pn, int M, const float *A, int lda, float *C, int ldc, int beta)
{
    if (M > 0) rk_gemm_avx512(pn, M, A, lda, C, ldc, beta);
}

#else

int sl_rk_available(void) { return 0; }

void sl_rk_gemm(const sl_rk_panel *pn, int M, const float *A, int lda, float *C, int ldc, int beta)
{
    (void)pn; (void)M; (void)A; (void)lda; (void)C; (void)ldc; (void)beta;
}

#endif
