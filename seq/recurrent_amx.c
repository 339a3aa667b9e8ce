/* seq/recurrent_amx.c — float32 products on AMX tiles, each float split into three bfloat16
 * parts (see recurrent_amx.h). */
#include "seq/recurrent_amx.h"
#include "core/cpu.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>

/* the probe (cpuid, XCR0, Linux's tile-data permission) is core/cpu.c's, done once */
int sl_amx_available(void) { return sl_cpu_has(SL_CPU_AMX_BF16); }

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

/* eight tiles of 16 rows x 64 bytes; in static memory (GCC 12's _tile_loadconfig does not tell
 * the compiler that it reads all 64 bytes, so a configuration built on the stack may be left
 * half-written) */
static const amx_config amx_cfg __attribute__((aligned(64))) = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

void sl_amx_tiles_on(void) { _tile_loadconfig(&amx_cfg); }

void sl_amx_tiles_off(void) { _tile_release(); }

/* |x| at most the largest finite bfloat16, 0x1.fep127 (NaN stays NaN: max and min return
 * their second operand when either is NaN). An infinite x would make its later parts inf - inf
 * = NaN, and a zero part times an infinite one is NaN too: clamped, inf times a weight is a
 * huge number that the cells saturate on as they do on inf. */
static inline __attribute__((always_inline)) __m512 clamp_bf16(__m512 x)
{
    const __m512 big = _mm512_castsi512_ps(_mm512_set1_epi32(0x7f7f0000));
    return _mm512_min_ps(big, _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), big), x));
}

/* Rows a (index k) and b (k + 1) of 16 lanes (clamped) as three vectors of 32 bf16 parts in
 * the pair layout (lane l: a's part, then b's), each part the rounding (to nearest even) of
 * what the previous ones left. */
static inline __attribute__((always_inline)) void split_pair(__m512 a, __m512 b, __m512i out[3])
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
                                         19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    a = clamp_bf16(a);
    b = clamp_bf16(b);
    for (int p = 0; p < 3; p++) {
        out[p] = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
        if (p == 2) break;
        a = _mm512_sub_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(out[p], 16)));
        b = _mm512_sub_ps(b, _mm512_castsi512_ps(_mm512_and_si512(out[p], hi)));
    }
}

void sl_amx_pack_a(uint16_t *dst, const float *src)
{
    /* the row's two halves split as a pair, then back from pair order to row order */
    const __m512i unpair = _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, 30, 28, 26, 24, 22, 20, 18,
                                            16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int i = 0; i < 16; i++) {
        __m512i w[3];
        split_pair(_mm512_loadu_ps(src + i * 32), _mm512_loadu_ps(src + i * 32 + 16), w);
        for (int p = 0; p < 3; p++) _mm512_store_si512(dst + p * SL_AMX_PART + i * 32, _mm512_permutexvar_epi16(unpair, w[p]));
    }
}

void sl_amx_rows_to_b(uint16_t *b, int NV, int k0, const float *src, size_t lds, int n)
{
    for (int r = 0; r < n; r += 2) {
        const int k = k0 + r;
        uint16_t *q = b + (size_t)(k / 32) * NV * SL_AMX_CHUNK + (size_t)(k % 32 / 2) * 32;
        for (int v = 0; v < NV; v++) {
            __m512i w[3];
            split_pair(_mm512_load_ps(src + (size_t)r * lds + 16 * v),
                       r + 1 < n ? _mm512_load_ps(src + (size_t)(r + 1) * lds + 16 * v) : _mm512_setzero_ps(), w);
            for (int p = 0; p < 3; p++) _mm512_store_si512(q + (size_t)v * SL_AMX_CHUNK + p * SL_AMX_PART, w[p]);
        }
    }
}

/* The product for constant TWO (a1 present) and NV: accumulators in tiles 0, 1 (c0's halves)
 * and 2, 3 (c1's), A's part in 4 and 5, B's in 6 and 7. Per chunk the six part products go
 * in the order (i, j) = 00 01 02 11 10 20, so that each A part is loaded once and B's part 0
 * serves both 10 and 20: eight loads of each pair of tiles for six products, not nine (5%
 * faster on its own, with every operand in cache; in place, within the noise). */
static inline __attribute__((always_inline)) void pair_k(const int TWO, const int NV, const uint16_t *a0, const uint16_t *a1,
                                                         const uint16_t *b, int nq, float *c0, float *c1, size_t ldc)
{
    static const int pi[6] = {0, 0, 0, 1, 1, 2}, pj[6] = {0, 1, 2, 1, 0, 0};
    _tile_zero(0);
    if (NV == 2) _tile_zero(1);
    if (TWO) {
        _tile_zero(2);
        if (NV == 2) _tile_zero(3);
    }
    for (int q = 0; q < nq; q++) {
        const uint16_t *bq = b + (size_t)q * NV * SL_AMX_CHUNK;
        for (int e = 0; e < 6; e++) {
            const int i = pi[e], j = pj[e];
            if (e == 0 || e == 3 || e == 5) {
                _tile_loadd(4, a0 + (size_t)q * SL_AMX_CHUNK + i * SL_AMX_PART, 64);
                if (TWO) _tile_loadd(5, a1 + (size_t)q * SL_AMX_CHUNK + i * SL_AMX_PART, 64);
            }
            if (e != 5) {
                _tile_loadd(6, bq + j * SL_AMX_PART, 64);
                if (NV == 2) _tile_loadd(7, bq + SL_AMX_CHUNK + j * SL_AMX_PART, 64);
            }
            _tile_dpbf16ps(0, 4, 6);
            if (NV == 2) _tile_dpbf16ps(1, 4, 7);
            if (TWO) {
                _tile_dpbf16ps(2, 5, 6);
                if (NV == 2) _tile_dpbf16ps(3, 5, 7);
            }
        }
    }
    const size_t s = ldc * sizeof(float);
    _tile_stored(0, c0, s);
    if (NV == 2) _tile_stored(1, c0 + 16, s);
    if (TWO) {
        _tile_stored(2, c1, s);
        if (NV == 2) _tile_stored(3, c1 + 16, s);
    }
}

void sl_amx_pair(const uint16_t *a0, const uint16_t *a1, const uint16_t *b, int nq, int NV, float *c0, float *c1, size_t ldc)
{
    if (a1 && NV == 2) pair_k(1, 2, a0, a1, b, nq, c0, c1, ldc);
    else if (a1) pair_k(1, 1, a0, a1, b, nq, c0, c1, ldc);
    else if (NV == 2) pair_k(0, 2, a0, a1, b, nq, c0, c1, ldc);
    else pair_k(0, 1, a0, a1, b, nq, c0, c1, ldc);
}

#pragma GCC pop_options

#else /* no AMX kernels on this target */

int sl_amx_available(void) { return 0; }
void sl_amx_tiles_on(void) {}
void sl_amx_tiles_off(void) {}
void sl_amx_pack_a(uint16_t *dst, const float *src)
{
    (void)dst;
    (void)src;
}
void sl_amx_rows_to_b(uint16_t *b, int NV, int k0, const float *src, size_t lds, int n)
{
    (void)b;
    (void)NV;
    (void)k0;
    (void)src;
    (void)lds;
    (void)n;
}
void sl_amx_pair(const uint16_t *a0, const uint16_t *a1, const uint16_t *b, int nq, int NV, float *c0, float *c1, size_t ldc)
{
    (void)a0;
    (void)a1;
    (void)b;
    (void)nq;
    (void)NV;
    (void)c0;
    (void)c1;
    (void)ldc;
}

#endif
