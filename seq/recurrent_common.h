/* seq/recurrent_common.h — the engine shared by the Elman RNN, LSTM and GRU mixers.
 *
 * The three models differ only in their cell (the pointwise gate arithmetic); everything
 * else — parameters named and shaped as torch.nn.RNN / LSTM / GRU, layer stacking, the
 * reverse direction of a bidirectional layer, dropout between layers, the optional initial
 * state, the GEMMs, backpropagation through time and step mode — lives here.
 *
 * Per layer l and direction d (suffix "" or "_reverse"), with G gates (RNN 1, LSTM 4, GRU 3):
 *   weight_ih_l{l}{sfx} (G*H, I_l)   I_0 = input_size, I_l = H * num_directions
 *   weight_hh_l{l}{sfx} (G*H, H)
 *   bias_ih_l{l}{sfx}   (G*H)        bias_hh_l{l}{sfx} (G*H)      (only with bias=1)
 * declared in torch's order (layer, direction, then w_ih, w_hh, b_ih, b_hh), so
 * a torch state_dict saved as safetensors loads unchanged. Init: U(-1/sqrt(H), 1/sqrt(H)).
 *
 * Speed (sequence mode): layer inputs and outputs are batch-first (B, T, .) like x and y, so
 * nothing is transposed; one step's B rows are a strided block. The engine's own caches are
 * time-major (T, B, .) on the kernel path (a step's rows are contiguous), batch-first for the
 * sgemm path's gates. Three paths:
 *  - lanes path (LSTM and GRU with B <= 32 on CPUs with AVX-512F, the default there;
 *    seq/recurrent_lanes.h): the batch in the vector lanes, the hidden units split across the
 *    threads with one barrier per step; it keeps its own caches.
 *  - kernel path (CPUs with AVX-512F, the default there otherwise; seq/recurrent_kernel.h): the weights
 *    are packed once per forward / backward call into panels; each step gathers [x_t | h_{t-1}]
 *    into a kept (B, T, I+H) array xh and one register-blocked micro-kernel product with the
 *    packed [W_ih W_hh] gives the gates (GRU: x and h sides apart), then the cell; backward
 *    runs, per step, the cell, dh_{t-1} += dG_t W_hh and dx_t = dG_t W_ih with the kernel and
 *    sums the bias gradients; the weight gradients are one GEMM, xh^T dG, over all B*T rows.
 *  - sgemm path (elsewhere, or sl_recurrent_set_fast(m, 0)): the input projection is one GEMM
 *    over all B*T rows; each step adds h_{t-1} W_hh^T with one sgemm over the B rows and runs
 *    the cell; backward runs the per-step sgemm dh_{t-1} += dG_t W_hh and leaves dW_ih, dW_hh,
 *    dx and the biases to one GEMM/GEMV each over all B*T rows.
 * The fused, vectorised pointwise cells (biases included) are shared. Time loops run on threads
 * by batch slice (and direction) without synchronising inside the loop; small models run
 * single-threaded.
 */
#ifndef SL_SEQ_RECURRENT_COMMON_H
#define SL_SEQ_RECURRENT_COMMON_H

#include "seq/model.h"
#include "seq/recurrent_cell.h"
#include "seq/spec.h"

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const sl_rcell_ops *ops; /* the cell: sl_rnn_cell_ops, sl_lstm_cell_ops or sl_gru_cell_ops */
    sl_rcell_kind cell;      /* ops->kind (sl_recurrent_create fills it in) */
    int input_size, hidden_size, num_layers;
    int relu;      /* Elman only: nonlinearity=relu (else tanh) */
    int bias;      /* bias_ih / bias_hh present */
    float dropout; /* on the outputs of every layer but the last, while training */
    int bidirectional;
} sl_recurrent_config;

/* ---- the model ---- */

/* Keys every recurrent spec has (torch.nn.RNN/LSTM/GRU argument names), bound to
 * sl_recurrent_config (seq/spec.h); rnn adds nonlinearity (SL_RNN_NONLINEARITY_KEY). */
#define SL_RECURRENT_KEYS \
    SL_KEY_INT(sl_recurrent_config, input_size, "input_size", "1", 1, 1 << 20, \
               "input width (set to d_model inside lm/seq wrappers)"), \
        SL_KEY_INT(sl_recurrent_config, hidden_size, "hidden_size", "64", 1, 1 << 20, \
                   "hidden state width H (output width H, 2H if bidirectional)"), \
        SL_KEY_INT(sl_recurrent_config, num_layers, "num_layers", "1", 1, 1024, "stacked recurrent layers"), \
        SL_KEY_BOOL(sl_recurrent_config, bias, "bias", "1", "bias_ih and bias_hh present"), \
        {"batch_first", 'b', "1", 1, 1, "seqlab is batch-first; only 1 is accepted"}, \
        SL_KEY_FLOAT(sl_recurrent_config, dropout, "dropout", "0", 0, 1, \
                     "dropout on the outputs of every layer but the last, while training"), \
        SL_KEY_BOOL(sl_recurrent_config, bidirectional, "bidirectional", "0", "add a reverse direction (sequence mode only)")
#define SL_RNN_NONLINEARITY_KEY \
    SL_KEY_CHOICE(sl_recurrent_config, relu, "nonlinearity", "tanh", "tanh|relu", NULL, "tanh or relu")

int sl_recurrent_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out);

/* The table's defaults for the cell of `ops` (torch's: one layer of 64 units with biases). */
int sl_recurrent_config_default(sl_recurrent_config *cfg, const sl_spec_key *table, const sl_rcell_ops *ops);
/* Read the keys of a checked spec into cfg (the table's defaults for absent keys), for the cell
 * of `ops`. */
int sl_recurrent_config_from_spec(const sl_spec *s, const sl_spec_key *table, const sl_rcell_ops *ops, sl_recurrent_config *cfg);

/* 1 if m is an rnn/lstm/gru built by sl_recurrent_create. */
int sl_recurrent_is(const sl_model *m);
const sl_recurrent_config *sl_recurrent_get_config(const sl_model *m);

/* Initial state, torch layout: h0 (num_layers * num_directions, B, H), LSTM also c0 (same
 * shape; NULL = zeros). Used by every later forward() with this B (another B is an error)
 * and by state_reset() in step mode. h0 == NULL clears it (zeros again). */
int sl_recurrent_set_initial_state(sl_model *m, const float *h0, const float *c0, int B);

/* After backward(): the gradients of the loss with respect to h0 and c0 (same shapes), which
 * are written (not accumulated). Requires an initial state to be set; dc0 may be NULL. */
int sl_recurrent_initial_state_grad(sl_model *m, float *dh0, float *dc0);

/* Final state of the last forward(), torch's h_n (and c_n): (num_layers * num_dirs, B, H). */
int sl_recurrent_final_state(sl_model *m, float *hn, float *cn);

/* The per-step products run on the packed-panel AVX-512 kernel (seq/recurrent_kernel.h) when
 * the CPU has AVX-512F, else on sgemm. set_fast(m, 0) forces the sgemm path (tests compare
 * the two); set_fast(m, 1) restores the kernel where available. sl_recurrent_fast says which
 * path the next forward / backward takes (1: kernel). */
int sl_recurrent_set_fast(sl_model *m, int on);
int sl_recurrent_fast(const sl_model *m);

/* On the kernel path, LSTM and GRU batches of at most 32 rows take the lanes path
 * (seq/recurrent_lanes.h: batch in the vector lanes, hidden units split across threads).
 * set_lanes(m, 0) keeps them on the per-row kernel (tests compare the two); set_lanes(m, 1)
 * restores the default. sl_recurrent_lanes says whether the last forward took it. */
int sl_recurrent_set_lanes(sl_model *m, int on);
int sl_recurrent_lanes(const sl_model *m);

/* On the lanes path, the per-step products (the gates' pre-activations, dh_{t-1} and dx_t)
 * run on AMX tiles where the CPU has AMX-BF16 and the kernel grants it (seq/recurrent_amx.h:
 * each float split into three bfloat16 parts, exact to float32 rounding), else on AVX-512.
 * set_amx(m, 0) keeps them on AVX-512 (tests compare the two; benchmarks measure both);
 * set_amx(m, 1) restores the default. sl_recurrent_amx says whether the last forward used
 * AMX (in every layer-direction). */
int sl_recurrent_set_amx(sl_model *m, int on);
int sl_recurrent_amx(const sl_model *m);

/* Naive reference forward in double precision: plain loops, no BLAS, no dropout, same
 * initial state as the model. x (B, T, I) -> y (B, T, d_out). For tests. */
int sl_recurrent_forward_ref(sl_model *m, const float *x, float *y, int B, int T);

#ifdef __cplusplus
}
#endif
#endif
