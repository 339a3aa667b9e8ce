/* core/fastmath.h — the element-wise kernels' shared layer: one set of compile attributes
 * (target clones, SL_FASTMATH) and vectorisable float exp / sigmoid / tanh / softplus / log,
 * each as a scalar function (sl_fm_expf, ...) and a 16-lane twin (sl_fm_expf_v16, ...) on GCC
 * vector values, both compiled from the one body in core/fastmath_body.inc.
 *
 * Why: libm's expf / tanhf / log1pf are scalar calls, so a loop that calls them does not
 * vectorise. These are branch-free (selects, not branches): inside a `#pragma omp simd` loop
 * or a target_clones kernel the scalar versions vectorise, and the _v16 twins serve code that
 * holds its data in vector values (the selective scan, the recurrent lanes path).
 *
 * Accuracy (measured against libm in double over [-30, 30], t/t-recurrent and t/t-scan):
 *   exp: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, Cephes' degree-5 polynomial for
 *        e^r, 2^k built in the exponent bits: relative error about 1.2e-7 (2 ulp). The input
 *        is clamped to [-87, 88], so the result is a normal float (no inf, no subnormal).
 *   sigmoid = 1 / (1 + e^-x): absolute error about 1.4e-7.
 *   tanh: Cephes' odd polynomial below |x| = 0.625, 1 - 2 / (e^{2|x|} + 1) above: absolute
 *        error about 1e-7, relative below |x| = 1 about 2e-7.
 *   log: y = 2^e m, m in [1/sqrt2, sqrt2], log m = 2 atanh(s), s = (m-1)/(m+1), the series
 *        to s^9: relative error about 1e-7 for normal positive y (no special cases: y <= 0,
 *        inf, NaN and subnormals are the caller's to avoid).
 *   softplus as torch.nn.functional.softplus (beta 1, threshold 20):
 *        max(x, 0) + log(1 + e^-|x|), x itself above 20: error about 1e-7, absolute below 1
 *        and relative above (1 + e^-|x| is rounded to float: for x below about -16 the result
 *        is 0, not e^x).
 * NaN inputs propagate through exp, sigmoid and tanh (the clamps keep NaN).
 *
 * The selects only if-convert (and so vectorise) without -ftrapping-math: files whose loops
 * call these functions turn it off with SL_NO_TRAPPING_MATH (a pragma for the rest of the file)
 * or put SL_FASTMATH on the kernel. */
#ifndef SL_CORE_FASTMATH_H
#define SL_CORE_FASTMATH_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define SL_FM_INLINE static inline __attribute__((always_inline))
#else
#define SL_FM_INLINE static inline
#endif

/* ---- dispatch: one macro family for GCC function multiversioning ----------------------------
 * The build uses the distribution's -O2 without -march, so element-wise loops would be 4-wide
 * SSE. A kernel marked SL_CLONES is compiled for x86-64-v4 (AVX-512) and the baseline,
 * SL_CLONES3 for x86-64-v4, x86-64-v3 (AVX2 + FMA) and the baseline; the loader picks the
 * variant by CPU. Off (plain functions) with clang, off ELF, under AddressSanitizer and with
 * -DSL_NO_TARGET_CLONES. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(SL_NO_TARGET_CLONES)
#define SL_TARGET_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#else
#define SL_TARGET_CLONES(...)
#endif
#define SL_CLONES SL_TARGET_CLONES("arch=x86-64-v4", "default")
#define SL_CLONES3 SL_TARGET_CLONES("arch=x86-64-v4", "arch=x86-64-v3", "default")

/* A kernel whose values are finite or -inf (attention scores, GELU inputs) may let GCC turn
 * compares into min / max and ignore signed zeros; exact for such values. */
#if defined(__GNUC__) && !defined(__clang__)
#define SL_FASTMATH __attribute__((optimize("finite-math-only", "no-signed-zeros", "no-trapping-math", "no-math-errno")))
#else
#define SL_FASTMATH
#endif

/* Put in a .c file (after its includes, before its kernels) whose loops call the functions
 * below outside an SL_FASTMATH kernel: without it the clamps' compares do not if-convert. */
#if defined(__GNUC__) && !defined(__clang__)
#define SL_NO_TRAPPING_MATH _Pragma("GCC optimize(\"no-trapping-math\")")
#else
#define SL_NO_TRAPPING_MATH
#endif

/* ---- the functions: scalar ------------------------------------------------------------------ */
#define FM_T float
#define FM_I int32_t
#define FM_NAME(f) f
#define FM_SEL(m, a, b) ((m) ? (a) : (b))
#define FM_K(c) (c)
SL_FM_INLINE float sl_fm__pow2f(float k) /* 2^k for integral k in [-126, 127] */
{
    /* k's integer value from the mantissa of k + 1.5 * 2^23 (exact for integral |k| < 2^22),
     * not by a float-to-int conversion, which is undefined for a NaN k (found by the llama2c
     * fuzz harness: a forward pass whose finite but huge weights overflow to NaN scores). A
     * NaN still propagates through the polynomial, whatever this returns. Unsigned
     * arithmetic: no signed-shift UB either. */
    float t = k + 12582912.0f;
    uint32_t u;
    memcpy(&u, &t, sizeof u);
    uint32_t e = ((u & 0x007fffffu) - 0x00400000u + 127u) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return s;
}
SL_FM_INLINE float sl_fm__frexpf(float y, float *e) /* y = 2^e m, m in [1, 2); y normal, > 0 */
{
    uint32_t u;
    memcpy(&u, &y, sizeof u);
    *e = (float)((int32_t)(u >> 23) - 127);
    u = (u & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &u, sizeof m);
    return m;
}
#define FM_POW2 sl_fm__pow2f
#define FM_FREXP sl_fm__frexpf
#include "core/fastmath_body.inc"
#undef FM_T
#undef FM_I
#undef FM_NAME
#undef FM_SEL
#undef FM_K
#undef FM_POW2
#undef FM_FREXP

/* ---- the functions: 16 lanes (GCC vector extensions; any x86-64 target) --------------------- */
#if defined(__GNUC__)
/* -Wpsabi warns that 64-byte vector arguments pass differently with and without AVX-512: true
 * and harmless for these always-inline functions, and GCC reports it where they are inlined
 * into a target region, so it stays off for the including file. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float sl_v16f __attribute__((vector_size(64)));
typedef int32_t sl_v16i __attribute__((vector_size(64)));
typedef uint32_t sl_v16u __attribute__((vector_size(64)));

/* m ? a : b lane by lane (m: all ones or zero per lane, as compares give) */
SL_FM_INLINE sl_v16f sl_fm_sel_v16(sl_v16i m, sl_v16f a, sl_v16f b) { return (sl_v16f)(((sl_v16i)a & m) | ((sl_v16i)b & ~m)); }
SL_FM_INLINE sl_v16f sl_fm__pow2f_v16(sl_v16f k)
{
    sl_v16u bits = ((sl_v16u) __builtin_convertvector(k, sl_v16i) + 127u) << 23;
    return (sl_v16f)bits;
}
SL_FM_INLINE sl_v16f sl_fm__frexpf_v16(sl_v16f y, sl_v16f *e)
{
    sl_v16u u = (sl_v16u)y;
    *e = __builtin_convertvector((sl_v16i)(u >> 23) - 127, sl_v16f);
    return (sl_v16f)((u & 0x007fffffu) | 0x3f800000u);
}
#define FM_T sl_v16f
#define FM_I sl_v16i
#define FM_NAME(f) f##_v16
#define FM_SEL(m, a, b) sl_fm_sel_v16((m), (a), (b))
#define FM_K(c) ((sl_v16f){c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c})
#define FM_POW2 sl_fm__pow2f_v16
#define FM_FREXP sl_fm__frexpf_v16
#include "core/fastmath_body.inc"
#undef FM_T
#undef FM_I
#undef FM_NAME
#undef FM_SEL
#undef FM_K
#undef FM_POW2
#undef FM_FREXP
#endif

#endif
