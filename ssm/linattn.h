/* ssm/linattn.h — the core that RetNet's retention and GLA share: causal linear attention with
 * a decaying state, per head h,
 *   S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t          S_t (K, V), S_{-1} = 0, g_t <= 0
 *   o_t = scale q_t S_t
 *       = scale sum_{s<=t} sum_d q_td k_sd exp(G_td - G_sd) v_s,   G_t = g_0 + ... + g_t
 * with data-dependent per-key-channel log gates g (B, T, H, K) (GLA, Yang et al. 2024) or a
 * constant log decay per head gh (H) (retention, Sun et al. 2023: g = log gamma_h).
 *
 * Forms:
 * - chunkwise (the training form): chunks of C steps; the state enters a chunk through
 *   (q (.) exp(G_t - G_start)) S, leaves it as diag(exp(G_end - G_start)) S + sum_s (k_s (.)
 *   exp(G_end - G_s))^T v_s (sgemm), and inside the chunk the scores are
 *   sum_d q_td k_sd exp(G_td - G_sd) for s <= t. Every exponent is a sum of log gates over the
 *   steps between two positions, so it is <= 0 and nothing overflows, whatever the gates: with
 *   per-channel gates the intra-chunk scores take one exp per (t, s, d) in log space (no
 *   factoring through a chunk reference point, which overflows when gates are small); with a
 *   per-head decay they are (Q K^T) (.) exp(G_t - G_s) from one sgemm.
 * - parallel (retention only): (Q K^T (.) D) V with D_ts = gamma^(t-s) for s <= t, O(T^2).
 * - recurrent: the recurrence above, one step at a time (step mode).
 * Backward (chunkwise; the forms compute one function): dq, dk, dv and, for per-channel gates,
 * dg from dG_t = q_t (.) dq_t - k_t (.) dk_t summed over s >= t (G is a cumulative sum of g).
 * Heads run in parallel (OpenMP over B x H) with single-threaded sgemm inside.
 */
#ifndef SL_SSM_LINATTN_H
#define SL_SSM_LINATTN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int B, T, H, K, V;  /* batch, length, heads, key and value channels per head */
    const float *q, *k; /* (B, T, H, K) */
    const float *v;     /* (B, T, H, V) */
    const float *g;     /* (B, T, H, K) log gates <= 0, or NULL: */
    const float *gh;    /* (H) constant log decay per head (used when g == NULL) */
    float scale;        /* multiplies every score */
} sl_linattn_args;

/* o (B, T, H, V) written. chunk >= 1. */
int sl_linattn_chunk_forward(float *o, const sl_linattn_args *a, int chunk);
/* dq, dk (B, T, H, K), dv (B, T, H, V), dg (B, T, H, K; only with per-channel gates, else
 * NULL) are WRITTEN (not accumulated) from dO (B, T, H, V). */
int sl_linattn_chunk_backward(float *dq, float *dk, float *dv, float *dg, const float *dO, const sl_linattn_args *a, int chunk);
/* the parallel form, per-head decay only (a->g == NULL); o written */
int sl_linattn_parallel_forward(float *o, const sl_linattn_args *a);
/* the recurrent form over the whole sequence from a zero state; o written */
int sl_linattn_recurrent_forward(float *o, const sl_linattn_args *a);
/* one step (a->T == 1): S (B, H, K, V) updated in place, o (B, H, V) written */
void sl_linattn_step(float *o, float *S, const sl_linattn_args *a);
/* reference: the recurrence in double; o (B, T, H, V) */
void sl_linattn_naive(double *o, const sl_linattn_args *a);

#ifdef __cplusplus
}
#endif
#endif
