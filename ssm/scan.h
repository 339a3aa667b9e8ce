/* ssm/scan.h — the selective scan of Mamba (Gu & Dao 2023, Algorithm 2), forward and backward.
 *
 * For every batch row b and channel d, with a state x of N values (zero at t = 0):
 *   dt_t  = softplus(delta[b,t,d] + delta_bias[d])      (or delta + bias without softplus;
 *                                                         softplus(v) = v for v > 20, as torch)
 *   x_t   = exp(dt_t * A[d,:]) * x_{t-1} + dt_t * B[b,t,g,:] * u[b,t,d]   (ZOH for A, Euler for B)
 *   y'_t  = sum_n C[b,t,g,n] x_t[n] + Dv[d] u[b,t,d]
 *   y_t   = y'_t * silu(z[b,t,d])                       (when z is given)
 * where g = d / (D / G) is the channel's group (G = 1 in Mamba: one B, C shared by all
 * channels; Mamba-2 heads use G groups). This is mamba_ssm's selective_scan_ref with
 * batch-first (B, L, D) tensors.
 *
 * Three implementations, equal up to float rounding:
 *  - sl_scan_ref_*: the sequential definition in double, storing every state (tests only);
 *  - sl_scan_forward/backward with nchunks = 1: the fast path. Channels are processed in
 *    blocks of SL_SCAN_W lanes, vectorised over the lanes (the state of a block is N x W
 *    floats), OpenMP over (batch, channel block); states are checkpointed every
 *    SL_SCAN_SEG steps and recomputed segment by segment in backward;
 *  - nchunks > 1: the chunked parallel scan over time. The recurrence is linear in x, so a
 *    chunk of time maps its initial state s to  P * s + E  with P = exp(A * sum dt) and E the
 *    chunk's end state from zero. Phase 1 computes (P, E) of every chunk in parallel, phase 2
 *    chains the chunks' initial states sequentially (cheap: one step per chunk), phase 3
 *    reruns every chunk in parallel from its true initial state. Backward does the same for
 *    the adjoint q_t = a_t * dL/dx_t, which runs backwards in time with the same P.
 *    One long sequence thus uses every core even when B * D is small.
 * Packed rows (doc_pos): a document start t cuts the recurrence, x_t = dt_t B_t u_t, as if the
 * decay a_t = exp(dt_t A) were 0 there; so the adjoint q_{t-1} = a_t dL/dx_t is 0 too, and
 * neither A nor dt_t gets the decay's gradient at t. Every path honours it (the reference, the
 * N = 16 and generic kernels, forward and backward); the chunked scan is not used then (a
 * chunk's map s -> P s + E would need P = 0 past a start): nchunks is taken as 1.
 * nchunks = 0 picks 1 when (batch x channel blocks) already fills the threads, else enough
 * chunks to do so. Results depend on nchunks and the thread count only through rounding;
 * with the same nchunks and threads they are bitwise reproducible.
 */
#ifndef SL_SSM_SCAN_H
#define SL_SSM_SCAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_SCAN_W 16   /* channel lanes per block */
#define SL_SCAN_SEG 64 /* checkpoint interval (time steps) */

typedef struct {
    int B, L, D, N, G;       /* batch, length, channels, state size, groups (D % G == 0) */
    const float *u;          /* (B, L, D) input */
    const float *delta;      /* (B, L, D) raw step size (before bias / softplus) */
    const float *A;          /* (D, N) state matrix (diagonal per channel), typically < 0 */
    const float *Bm;         /* (B, L, G, N) input matrix */
    const float *Cm;         /* (B, L, G, N) output matrix */
    const float *Dv;         /* (D) skip connection, or NULL */
    const float *z;          /* (B, L, D) gate, or NULL */
    const float *delta_bias; /* (D) or NULL */
    int delta_softplus;      /* 1: dt = softplus(delta + bias) */
    const int32_t *doc_pos;  /* (B, L) packed rows (seq/model.h), or NULL: where doc_pos is 0
                                 * (t > 0) a document starts and the state restarts from zero */
} sl_scan_args;

/* Gradients, accumulated (+=), shapes as the matching inputs; any may be NULL. */
typedef struct {
    float *du, *ddelta, *dA, *dB, *dC, *dD, *dz, *ddelta_bias;
} sl_scan_grads;

/* check shapes and pointers: 0 or SL_EINVAL/SL_ESHAPE with a message */
int sl_scan_check(const sl_scan_args *a);

/* ---- reference (double, sequential) ---- */
/* y (B, L, D); last_state (B, D, N) or NULL */
int sl_scan_ref_forward(float *y, float *last_state, const sl_scan_args *a);
int sl_scan_ref_backward(const sl_scan_grads *g, const float *dy, const sl_scan_args *a);

/* ---- fast path and chunked parallel scan ---- */
typedef struct sl_scan_ws sl_scan_ws; /* caches of the last forward, reused buffers */
sl_scan_ws *sl_scan_ws_new(void);
void sl_scan_ws_free(sl_scan_ws *ws);
/* Frees the buffers and keeps ws usable: the next sl_scan_forward allocates them again (a
 * backward needs that forward first). Gradient checkpointing's release (seq/model.h). The
 * buffers' bytes are counted by memory accounting (sl_mem_count). */
void sl_scan_ws_release(sl_scan_ws *ws);

/* nchunks: 1 fast path, > 1 chunked over time, 0 auto. y (B,L,D); last_state (B,D,N) or NULL.
 * ws keeps what backward needs (step sizes, checkpointed states). */
int sl_scan_forward(float *y, float *last_state, const sl_scan_args *a, int nchunks, sl_scan_ws *ws);
/* After sl_scan_forward with the same args and ws. */
int sl_scan_backward(const sl_scan_grads *g, const float *dy, const sl_scan_args *a, sl_scan_ws *ws);
/* number of time chunks the last forward used */
int sl_scan_ws_nchunks(const sl_scan_ws *ws);

/* ---- step mode: one position, args with L == 1; state (B, D, N) is updated in place ---- */
int sl_scan_step(float *y, float *state, const sl_scan_args *a);

/* The float kernels' exp, softplus and sigmoid (vectorisable; exp has ~1 ulp error on the
 * range used), exported so step code can match the sequence path. */
float sl_scan_expf(float x);
float sl_scan_softplusf(float x);
float sl_scan_sigmoidf(float x);

#ifdef __cplusplus
}
#endif
#endif
