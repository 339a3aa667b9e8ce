/* ssm/ssd.h — Mamba-2's state space duality (Dao & Gu 2024): the SSD algorithm. The Mamba2
 * block is ssm/mamba2.h (included at the end, for code that included this header for it).
 *
 * SSD scan: heads h of headdim P, a scalar A_h < 0 per head, B and C shared by the heads of a
 * group (G groups, head h in group h / (H / G)), state (P, N) per head:
 *   dt_t = softplus(dt[b,t,h] + dt_bias[h])
 *   S_t  = exp(dt_t A_h) S_{t-1} + dt_t x_t B_t^T          x_t (P), B_t (N)
 *   y_t  = S_t C_t + D_h x_t
 * The chunked algorithm (the "minimal SSD" of the paper): with Q-long chunks and the in-chunk
 * cumulative log-decay c_t = sum_{s<=t} dt_s A_h,
 *   inside a chunk   y_t += sum_{s<=t} (C_t . B_s) exp(c_t - c_s) dt_s x_s   (quadratic, matmuls)
 *   chunk state      R    = sum_s exp(c_last - c_s) dt_s x_s B_s^T
 *   between chunks   S_k  = exp(c_last) S_{k-1} + R_k                        (state passing)
 *   state output     y_t += exp(c_t) S_{k-1} C_t
 * which equals the sequential recurrence (sl_ssd_ref_forward) up to rounding.
 * Packed rows (doc_pos): a document start t cuts the recurrence (exp(dt_t A_h) taken as 0 there).
 * In the chunked algorithm, with st_t the start of t's document: the quadratic term keeps only
 * the pairs s, t of one document (st_t <= s, a segment mask on L), the entering state reaches
 * only the positions whose document began before the chunk (st_t < t0), and the state passed
 * on is the last document's alone (its decay from the chunk's start cut when that document
 * starts inside the chunk). Same matmuls; the masks cost O(Q^2) compares per chunk.
 * Backward: the SSD scan is a selective scan with channels (h, p), A[(h,p), n] = A_h and
 * delta[(h,p)] = dt[h]; it runs on ssm/scan.c's vectorised backward and sums over p and n.
 */
#ifndef SL_SSM_SSD_H
#define SL_SSM_SSD_H

#include "seq/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int B, L, H, P, G, N;
    const float *x;       /* (B, L, H, P) */
    const float *dt;      /* (B, L, H) raw */
    const float *A;       /* (H) */
    const float *Bm, *Cm; /* (B, L, G, N) */
    const float *D;       /* (H) or NULL */
    const float *dt_bias; /* (H) or NULL */
    int dt_softplus;
    const int32_t *doc_pos; /* (B, L) packed rows (seq/model.h) or NULL: S restarts from zero where
                             * a document starts (doc_pos 0, t > 0) */
} sl_ssd_args;

typedef struct {
    float *dx, *ddt, *dA, *dB, *dC, *dD, *ddt_bias; /* accumulated (+=); any may be NULL */
} sl_ssd_grads;

int sl_ssd_check(const sl_ssd_args *a);
/* sequential reference in double: y (B, L, H, P); last_state (B, H, P, N) or NULL */
int sl_ssd_ref_forward(float *y, float *last_state, const sl_ssd_args *a);

typedef struct sl_ssd_ws sl_ssd_ws;
sl_ssd_ws *sl_ssd_ws_new(void);
void sl_ssd_ws_free(sl_ssd_ws *ws);
/* Frees the buffers (its selective-scan workspace's too) and keeps ws usable: the next forward
 * allocates them again. Gradient checkpointing's release (seq/model.h); the bytes are counted
 * by memory accounting (sl_mem_count). */
void sl_ssd_ws_release(sl_ssd_ws *ws);

/* chunked SSD (chunk_size >= 1), OpenMP over (batch, head), CBLAS for the matmuls */
int sl_ssd_chunked_forward(float *y, float *last_state, const sl_ssd_args *a, int chunk_size, sl_ssd_ws *ws);
/* gradients of sum(y * dy) w.r.t. every input (needs no prior forward; uses ws for buffers) */
int sl_ssd_backward(const sl_ssd_grads *g, const float *dy, const sl_ssd_args *a, sl_ssd_ws *ws);
/* one position: args with L == 1, state (B, H, P, N) updated in place */
int sl_ssd_step(float *y, float *state, const sl_ssd_args *a);

#ifdef __cplusplus
}
#endif

#include "ssm/mamba2.h"
#endif
