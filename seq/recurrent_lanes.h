/* seq/recurrent_lanes.h — the "lanes" path of the recurrent engine: LSTM and GRU with the batch
 * in the vector lanes and the hidden units split across threads.
 *
 * For batches of at most 32 rows, one layer-direction's recurrence runs with every activation
 * transposed: a step's [x_t | h_{t-1}] is a (NI+H, BL) block whose columns are the batch rows
 * (BL = 16 or 32 lanes, one or two AVX-512 vectors; lanes past B are padding). The gate
 * pre-activations of a step are then W [x_t | h_{t-1}]^T (the weights on the left), computed by
 * a register-tiled micro-kernel that broadcasts one weight per row and reduction index and
 * multiplies it into the one or two lane vectors of that index; the weights stream once per step
 * from the core's L2. The threads split the hidden units (in quanta of 12): each thread computes
 * every gate of its units, finishes their cells inside the tile while the pre-activations are in
 * registers, and writes its units' h_t; one barrier per step publishes h_t to the others.
 * Backward mirrors it: each thread runs the cell backward for its units, a barrier, then the
 * products dh_{t-1} = W_hh^T dG_t (its own units' rows, so its next cell step needs nothing from
 * the other threads) and dx_t = W_ih^T dG_t (a share of the input rows). The weight gradients
 * are one product over all steps and lanes after the loop (a register-tiled AVX-512 kernel;
 * each thread computes the rows of its own units), the bias gradients column sums in double
 * inside it.
 *
 * Where the CPU has AMX-BF16 (and the kernel grants the tile state), the per-step products
 * run on AMX tiles instead (seq/recurrent_amx.h; sl_rl_args.amx = 0 keeps them on AVX-512):
 * every float of an operand split into three bfloat16 parts and six part products kept, exact
 * to float32 rounding. The forward then works in "super-groups" of 32 units (two 16-row tiles
 * per gate; the GRU's W_in x and W_hn h as two products over the x and h chunks), its right
 * operand [x_t | h_{t-1}] converted to bf16 parts in TDPBF16PS's pair layout as the rows come
 * in and the cells write h; the backward converts each thread's dG rows the same way and
 * stores dh_prev's partials (every unit's, its own too) straight from the tiles into the
 * exchange buffer, dx_t's into a two-step ring copied out a step later.
 *
 * The caches the steps read are stored step after step (a step's rows x lanes contiguous,
 * which the hardware prefetchers follow); the weight-gradient product's two operands,
 * [x_t | h_{t-1}]^T and dG^T, are also written (non-temporally) in blocks of a few steps, each
 * row of a block holding those steps' lanes, so that its reduction over steps and lanes is
 * contiguous and it streams through memory block by block.
 *
 * x86-64 with GCC and AVX-512F only: the engine takes it only where its kernel path runs
 * (sl_rk_available, seq/recurrent_kernel.h), whose CPU check is the same.
 */
#ifndef SL_SEQ_RECURRENT_LANES_H
#define SL_SEQ_RECURRENT_LANES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One layer-direction's problem. Weights are torch's: w_ih (G*H, NI), w_hh (G*H, H), biases
 * (G*H) or NULL. */
typedef struct {
    int gru;         /* 0: LSTM (G = 4, gates i f g o), 1: GRU (G = 3, gates r z n) */
    int B, T, NI, H; /* batch, steps, input width, hidden width */
    int rev;         /* 1: the reverse direction (t = T-1 down to 0) */
    const float *w_ih, *w_hh, *b_ih, *b_hh;
    const float *h0, *c0;   /* (B, H) each, or NULL for zeros */
    int amx;                /* 1: the per-step products may run on AMX tiles where the CPU has them */
    int infer;              /* 1: inference: no caches for backward (gates, cells, the weight-gradient
                           * operand); the step's working rows only, and no backward may follow */
    const int32_t *doc_pos; /* (B, T) packed rows (seq/model.h) or NULL: a lane whose document starts
                           * at a step begins it from the zero state, and backward stops its
                           * gradient there (AVX-512 products only: amx must be 0) */
} sl_rl_args;

typedef struct sl_rl sl_rl; /* workspace and caches of one layer-direction */

/* 1 if the lanes path takes this shape (B <= 32). */
int sl_rl_fits(int B);

sl_rl *sl_rl_new(void);
void sl_rl_free(sl_rl *w);

/* Forward. X: row (b, t) of the layer input at X + (b*T + t) * ldx (NI values); the output h
 * of row (b, t) goes to out + (b*T + t) * ldo (H values). Runs on omp_get_max_threads()
 * threads. Keeps what backward needs. Returns 0 or an SL_ error. */
int sl_rl_forward(sl_rl *w, const sl_rl_args *a, const float *X, size_t ldx, float *out, size_t ldo);

/* Backward of the preceding forward with the same args. dH: the gradient of out (row (b, t) at
 * dH + (b*T + t) * lddh). Accumulates into dw_ih, dw_hh (and db_ih, db_hh when the biases
 * exist); dX (row stride lddx, NI values) receives (dxbeta: += ) the input gradient, or is NULL;
 * dh0 / dc0 ((B, H), or NULL) receive the initial state's gradients. */
typedef struct {
    float *dw_ih, *dw_hh; /* (G*H, NI) (G*H, H) */
    float *db_ih, *db_hh; /* (G*H) each, or NULL */
    float *dh0, *dc0;     /* (B, H) each, or NULL */
} sl_rl_grads;
int sl_rl_backward(sl_rl *w, const sl_rl_args *a, const float *dH, size_t lddh, float *dX, size_t lddx, int dxbeta,
                   const sl_rl_grads *g);

/* 1 if the preceding forward ran its products on AMX tiles (and the backward will). */
int sl_rl_amx(const sl_rl *w);

/* The last step's state of the preceding forward: h (and c, LSTM) as (B, H); cn may be NULL. */
void sl_rl_final_state(const sl_rl *w, float *hn, float *cn);

#ifdef __cplusplus
}
#endif
#endif
