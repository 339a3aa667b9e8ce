/* core/gemv.c — see gemv.h. */
#include "core/gemv.h"
#include "core/fastmath.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

SL_FM_INLINE v16 ld(const float *p) { return *(const v16u *)p; }

/* sum of the 16 lanes, pairwise (a fixed order) */
SL_FM_INLINE float hsum(v16 v)
{
    v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* Software prefetch distance (bytes past the 4-row block being read). Decoding streams every
 * weight from memory once per token; the hardware prefetchers stop at 4 KB page boundaries and
 * ramp up again on each page, so the kernel asks for the lines PREFETCH_AHEAD bytes ahead of
 * its block itself, 8 lines (512 bytes) per 32-column step, the whole block's length in all.
 * Measured on the stories15M-shaped checkpoint (one token's 43 products, 60.8 MB, mapped, one
 * thread, best of 100, load ~13): 1.70-1.75 ms per token with 4096 against 2.85-3.27 ms without
 * (/tmp micro-benchmark, docs/decoding.md). A prefetch never faults, so reading ahead past the
 * end of the matrix or of the mapping is harmless; results do not change (same arithmetic). */
#define PREFETCH_AHEAD 4096

/* out[n*OC + r] for 4 rows r0..r0+3 of w and every input row n */
SL_FM_INLINE void rows4(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC, int r0)
{
    const float *w0 = w + (size_t)r0 * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
    const char *pf = (const char *)w0 + PREFETCH_AHEAD, *pf_end = pf + (size_t)16 * C;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
        int k = 0;
        for (; k + 32 <= C; k += 32) {
            if (n == 0) { /* the first input row reads the block from memory: fetch ahead */
                for (int j = 0; j < 512; j += 64) __builtin_prefetch(pf + j, 0, 3);
                pf += 512;
            }
            const v16 xa = ld(x + k), xb = ld(x + k + 16);
            a0 += ld(w0 + k) * xa;
            c0 += ld(w0 + k + 16) * xb;
            a1 += ld(w1 + k) * xa;
            c1 += ld(w1 + k + 16) * xb;
            a2 += ld(w2 + k) * xa;
            c2 += ld(w2 + k + 16) * xb;
            a3 += ld(w3 + k) * xa;
            c3 += ld(w3 + k + 16) * xb;
        }
        if (k + 16 <= C) {
            const v16 xa = ld(x + k);
            a0 += ld(w0 + k) * xa;
            a1 += ld(w1 + k) * xa;
            a2 += ld(w2 + k) * xa;
            a3 += ld(w3 + k) * xa;
            k += 16;
        }
        if (n == 0)
            for (; pf < pf_end; pf += 64) __builtin_prefetch(pf, 0, 3);
        float s0 = hsum(a0 + c0), s1 = hsum(a1 + c1), s2 = hsum(a2 + c2), s3 = hsum(a3 + c3);
        for (; k < C; k++) {
            s0 += w0[k] * x[k];
            s1 += w1[k] * x[k];
            s2 += w2[k] * x[k];
            s3 += w3[k] * x[k];
        }
        float *o = out + (size_t)n * OC + r0;
        if (b) {
            s0 += b[r0];
            s1 += b[r0 + 1];
            s2 += b[r0 + 2];
            s3 += b[r0 + 3];
        }
        o[0] = s0;
        o[1] = s1;
        o[2] = s2;
        o[3] = s3;
    }
}

SL_FM_INLINE void row1(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC, int r)
{
    const float *w0 = w + (size_t)r * C;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        v16 a0 = {0}, c0 = {0};
        int k = 0;
        for (; k + 32 <= C; k += 32) {
            a0 += ld(w0 + k) * ld(x + k);
            c0 += ld(w0 + k + 16) * ld(x + k + 16);
        }
        if (k + 16 <= C) {
            a0 += ld(w0 + k) * ld(x + k);
            k += 16;
        }
        float s0 = hsum(a0 + c0);
        for (; k < C; k++) s0 += w0[k] * x[k];
        out[(size_t)n * OC + r] = b ? s0 + b[r] : s0;
    }
}

SL_CLONES void sl_gemv_rows(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC, int r0, int r1)
{
    (void)OC;
    int r = r0;
    for (; r + 4 <= r1; r += 4) rows4(out, inp, w, b, N, C, OC, r);
    for (; r < r1; r++) row1(out, inp, w, b, N, C, OC, r);
}

void sl_gemv(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC)
{
    const double work = (double)N * C * OC;
    const int nth = work >= 65536.0 && !omp_in_parallel() ? omp_get_max_threads() : 1;
    if (nth <= 1 || OC < 8) {
        sl_gemv_rows(out, inp, w, b, N, C, OC, 0, OC);
        return;
    }
    /* contiguous ranges of whole 4-row groups, fixed by the thread count */
    const int groups = (OC + 3) / 4;
    #pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        const int g0 = (int)((long)groups * t / n), g1 = (int)((long)groups * (t + 1) / n);
        const int a = 4 * g0, e = 4 * g1 < OC ? 4 * g1 : OC;
        if (a < e) sl_gemv_rows(out, inp, w, b, N, C, OC, a, e);
    }
}

void sl_gemv_naive(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC)
{
    for (int n = 0; n < N; n++)
        for (int r = 0; r < OC; r++) {
            double s = b ? b[r] : 0.0;
            for (int k = 0; k < C; k++) s += (double)w[(size_t)r * C + k] * inp[(size_t)n * C + k];
            out[(size_t)n * OC + r] = (float)s;
        }
}

SL_CLONES void sl_gemv_t(float *out, const float *p, const float *V, int m, int n)
{
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        v16 a = {0}, c = {0};
        for (int t = 0; t < m; t++) {
            const float pt = p[t];
            a += pt * ld(V + (size_t)t * n + j);
            c += pt * ld(V + (size_t)t * n + j + 16);
        }
        *(v16u *)(out + j) = a;
        *(v16u *)(out + j + 16) = c;
    }
    for (; j + 16 <= n; j += 16) {
        v16 a = {0};
        for (int t = 0; t < m; t++) a += p[t] * ld(V + (size_t)t * n + j);
        *(v16u *)(out + j) = a;
    }
    for (; j < n; j++) {
        float a = 0.0f;
        for (int t = 0; t < m; t++) a += p[t] * V[(size_t)t * n + j];
        out[j] = a;
    }
}

void sl_gemv_t_naive(float *out, const float *p, const float *V, int m, int n)
{
    for (int j = 0; j < n; j++) {
        double a = 0.0;
        for (int t = 0; t < m; t++) a += (double)p[t] * V[(size_t)t * n + j];
        out[j] = (float)a;
    }
}

SL_CLONES SL_FASTMATH double sl_softmax_unnorm(float *x, int n, float scale)
{
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    mx *= scale;
    float s = 0.0f;
    #pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) {
        x[i] = sl_fm_expf(x[i] * scale - mx);
        s += x[i];
    }
    return s;
}

SL_CLONES SL_FASTMATH static float max_of(const float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

int sl_argmax(const float *x, int n)
{
    /* NaN never compares greater: fall back to the plain scan when the max is not found */
    const float mx = max_of(x, n);
    for (int i = 0; i < n; i++)
        if (x[i] == mx) return i;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef uint32_t u16v __attribute__((vector_size(64), aligned(4), may_alias));

/* 1 if none of x[0..n) has an all-ones exponent (inf or NaN); 16 lanes at a time (the scalar
 * loop did not vectorise: about 40 ms for a 60 MB checkpoint at load), reading ahead */
SL_CLONES static int finite_block(const float *x, size_t n)
{
    const u16v e = {0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u,
                    0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u};
    u16v va = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __builtin_prefetch((const char *)(x + i) + PREFETCH_AHEAD, 0, 0); /* one line per step */
        const u16v u = *(const u16v *)(x + i);
        va |= (u16v)((u & e) == e);
    }
    uint32_t acc = 0;
    for (int j = 0; j < 16; j++) acc |= va[j];
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        acc |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return acc == 0;
}

int sl_all_finite(const float *x, size_t n, size_t *bad)
{
    for (size_t i0 = 0; i0 < n; i0 += 65536) {
        const size_t m = n - i0 < 65536 ? n - i0 : 65536;
        if (finite_block(x + i0, m)) continue;
        for (size_t i = i0; i < i0 + m; i++)
            if (!isfinite(x[i])) {
                if (bad) *bad = i;
                return 0;
            }
    }
    return 1;
}
