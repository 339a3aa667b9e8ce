/* seq/recurrent_kernel.h — the hand-written per-step product of the recurrent engine.
 *
 * Each time step of an RNN / LSTM / GRU multiplies a few batch rows by the same weights:
 * forward [x_t h_{t-1}] [W_ih W_hh]^T (B x (I+H) times (I+H) x G*H), backward dG_t W_hh and
 * dG_t W_ih (B x G*H times G*H x H, resp. I). sgemm repacks its operands on every call and is
 * tuned for large products; here the weights are packed once per forward / backward call into
 * panels, and the product of one step runs as a register-blocked AVX-512 micro-kernel that
 * reads the panels straight from the core's cache (L2 for the benchmark's sizes).
 *
 * Panel: the output columns are cut into groups of nv (3 or 4) vectors of 16 columns. For the
 * forward of the LSTM (GRU) a group is the 4 (3) gates of 16 consecutive hidden units, so one
 * register tile holds every gate of its units; otherwise a group is 64 consecutive columns.
 * The panel stores, group after group, for each reduction index k the nv x 16 weights of the
 * group (zero past the last column): one contiguous, 64-byte aligned stream per group.
 *
 * The micro-kernel keeps R rows x nv vectors of accumulators (R = 6 for nv = 4, 8 for nv = 3)
 * in registers, broadcasts one A element per row and k, and walks the reduction (in chunks of
 * up to 1024) streaming the group's panel from L2.
 *
 * Available on x86-64 with GCC when the CPU has AVX-512F (checked at run time); elsewhere
 * sl_rk_available() is 0 and the engine keeps its sgemm path.
 */
#ifndef SL_SEQ_RECURRENT_KERNEL_H
#define SL_SEQ_RECURRENT_KERNEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int K;           /* reduction length */
    int ncol;        /* output columns */
    int ngroups, nv; /* column groups, vectors per group (3 or 4) */
    int col[4];      /* group 0's vector v starts at column col[v] ... */
    int gstep;       /* ... and group u's at col[v] + u * gstep; */
    int lim[4];      /* its columns at and past lim[v] are padding (zero weights, not stored) */
    float *p;        /* (ngroups, K, nv, 16), 64-byte aligned */
    size_t cap;      /* floats allocated at p */
} sl_rk_panel;

/* 1 if the micro-kernel can run on this CPU (AVX-512F), else 0. */
int sl_rk_available(void);

/* Pack the forward panel of W (G*H, K), row-major (torch's weight_hh, K = H, or weight_ih,
 * K = input width): output column c (of G*H) at reduction index k is W[c, k], so the product
 * is A W^T. G = 3 or 4 groups the gates of 16 units; G = 1 groups 64 consecutive units.
 * Returns 0, or -1 when out of memory. */
int sl_rk_pack_fwd(sl_rk_panel *pn, const float *W, int G, int H, int K);

/* The forward panel of [W1 W2], W1 (G*H, K1) and W2 (G*H, K2) side by side (reduction index
 * k < K1 from W1, else from W2), for one product [a1 a2] [W1 W2]^T = a1 W1^T + a2 W2^T. */
int sl_rk_pack_fwd2(sl_rk_panel *pn, const float *W1, int K1, const float *W2, int K2, int G, int H);

/* Pack the backward panel of W (R, N), row-major: output column c (of N) at reduction index n
 * (of R) is W[n, c], so the product is A W. Returns 0 or -1. */
int sl_rk_pack_bwd(sl_rk_panel *pn, const float *W, int R, int N);

/* The backward panel of W1 (R1, N) stacked on W2 (R2, N): reduction index n < R1 from W1's
 * row n, else from W2's row n - R1 (a permuted row order of one matrix, for one). */
int sl_rk_pack_bwd2(sl_rk_panel *pn, const float *W1, int R1, const float *W2, int R2, int N);

void sl_rk_panel_free(sl_rk_panel *pn);

/* C[b, :] (row stride ldc, pn->ncol columns) = (beta ? C[b, :] : 0) + A[b, :] (row stride lda,
 * pn->K values) times the packed matrix, for the M rows b. Requires sl_rk_available(). */
void sl_rk_gemm(const sl_rk_panel *pn, int M, const float *A, int lda, float *C, int ldc, int beta);

#ifdef __cplusplus
}
#endif
#endif
