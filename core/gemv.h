/* core/gemv.h — matrix-vector products for decoding (step mode), where a layer multiplies its
 * weights by one token's vector (or a few) and the cost is reading the weights once.
 *
 *   out (N, OC) = inp (N, C) . w^T (C, OC) [+ b (OC)]        w row-major (OC, C), N small
 *
 * Why not sgemm: with N = 1 a BLAS sgemm call is a GEMM driver around a one-row panel (packing,
 * blocking, a thread fork per call); decoding is bound by streaming the weights from memory,
 * so the kernel here reads each weight row once, 4 rows at a time, with 8 independent 16-lane
 * accumulator chains (AVX-512 where the CPU has it: SL_CLONES), and applies the 4 rows to all
 * N input rows while they sit in L1. Rows of w are split across the OpenMP threads in fixed
 * contiguous ranges when the product is large enough and the caller is not already inside a
 * parallel region; every output element is one dot product in a fixed order, so results do not
 * depend on the thread count. Unaligned pointers are fine (weights may be memory-mapped at any
 * 4-byte offset).
 *
 * The reference is sl_gemv_naive (double accumulation); t/t-decode compares the two. */
#ifndef SL_CORE_GEMV_H
#define SL_CORE_GEMV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest N the kernel takes (sl_linear_forward sends N <= SL_GEMV_MAX_N here). */
#define SL_GEMV_MAX_N 4

/* out (N,OC) = inp (N,C) w^T + b; b may be NULL; 1 <= N <= SL_GEMV_MAX_N. out must not alias
 * inp or w. */
void sl_gemv(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC);

/* The same, one thread, double accumulators: the reference. */
void sl_gemv_naive(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC);

/* The same on rows [r0, r1) of w only (out's columns r0..r1-1), no threads: for callers that
 * split the work themselves inside their own parallel region. */
void sl_gemv_rows(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC, int r0, int r1);

/* out (n) = sum over t < m of p[t] V[t, :] (V row-major (m, n)), t in order: the value
 * side of one attention row in step mode. Reference: sl_gemv_t_naive. */
void sl_gemv_t(float *out, const float *p, const float *V, int m, int n);
void sl_gemv_t_naive(float *out, const float *p, const float *V, int m, int n);

/* x[i] = exp(x[i] * scale - max_j x[j] * scale) over n >= 1 values in place; returns their
 * sum (double). The exponential is core/fastmath.h's sl_fm_expf. */
double sl_softmax_unnorm(float *x, int n, float scale);

/* The index of the largest value (the first on ties); n >= 1. */
int sl_argmax(const float *x, int n);

/* 1 if all n values are finite, else 0 and *bad = the first non-finite index. */
int sl_all_finite(const float *x, size_t n, size_t *bad);

#ifdef __cplusplus
}
#endif
#endif
