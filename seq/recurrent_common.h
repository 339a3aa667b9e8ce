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
 * Speed (sequence mode): the caches are time-major (T, B, .) so one step is a contiguous
 * block of B rows. The input projection of a layer is one GEMM over all T*B rows; each step
 * adds h_{t-1} W_hh^T with one sgemm over the B rows and then runs the fused pointwise cell;
 * backward runs the per-step recurrent sgemm (dh_{t-1} = dG_t W_hh) and leaves the weight
 * gradients to three big GEMMs over all T*B rows. The two directions of a bidirectional layer
 * run on two threads.
 */
#ifndef SL_SEQ_RECURRENT_COMMON_H
#define SL_SEQ_RECURRENT_COMMON_H

#include "seq/model.h"
#include "seq/spec.h"

typedef enum { SL_RCELL_ELMAN = 0, SL_RCELL_LSTM = 1, SL_RCELL_GRU = 2 } sl_rcell_kind;

typedef struct {
    sl_rcell_kind cell;
    int input_size, hidden_size, num_layers;
    int relu;            /* Elman only: nonlinearity=relu (else tanh) */
    int bias;            /* bias_ih / bias_hh present */
    float dropout;       /* on the outputs of every layer but the last, while training */
    int bidirectional;
} sl_recurrent_config;

/* ---- cells: the pointwise part of one time step over B rows ---- */

/* Forward of one step. g (B, G*H): in, the pre-activations x W_ih^T + b_ih (+ h W_hh^T + b_hh
 * for Elman and LSTM); out, the activated gates (kept as the backward cache).
 * GRU: gh (B, 3H) is h_prev W_hh^T + b_hh; hn (B, H) receives its n part (cached).
 * h_prev (B, H, row stride ldhp) is NULL for a zero state. LSTM: c_prev (B, H) or NULL,
 * c (B, H) receives the new cell. h (B, H, row stride ldh) receives the new hidden state. */
typedef struct {
    int B, H;
    float *g;
    const float *gh;
    float *hn;
    const float *h_prev; int ldhp;
    const float *c_prev;
    float *c;
    float *h; int ldh;
    int relu;
} sl_rcell_fwd;

/* Backward of one step. dh_out (B, H, stride lddo) is the gradient arriving from above for h;
 * dh_rec (B, H) holds the gradient arriving from step t+1 (read), and on return the part of
 * dh_prev that does not go through W_hh (GRU: dh * z; else 0). LSTM: dc (B, H) in: from t+1,
 * out: for c_prev. dg (B, G*H) receives the gradients of the x-side pre-activations; GRU:
 * dgh (B, 3H) receives those of the h-side ones (r, z as dg; n as dn_pre * r). */
typedef struct {
    int B, H;
    const float *g;
    const float *hn;
    const float *h_prev; int ldhp;
    const float *c_prev;
    const float *c;
    const float *h; int ldh;
    const float *dh_out; int lddo;
    float *dh_rec;
    float *dc;
    float *dg;
    float *dgh;
    int relu;
} sl_rcell_bwd;

void sl_rnn_cell_forward(const sl_rcell_fwd *a);
void sl_rnn_cell_backward(const sl_rcell_bwd *a);
void sl_lstm_cell_forward(const sl_rcell_fwd *a);
void sl_lstm_cell_backward(const sl_rcell_bwd *a);
void sl_gru_cell_forward(const sl_rcell_fwd *a);
void sl_gru_cell_backward(const sl_rcell_bwd *a);

/* ---- the model ---- */

/* Keys every recurrent spec has (torch.nn.RNN/LSTM/GRU argument names). */
#define SL_RECURRENT_KEYS \
    {"input_size", 'i', "1", 1, 1 << 20, "input width (set to d_model inside lm/seq wrappers)"}, \
    {"hidden_size", 'i', "64", 1, 1 << 20, "hidden state width H (output width H, 2H if bidirectional)"}, \
    {"num_layers", 'i', "1", 1, 1024, "stacked recurrent layers"}, \
    {"bias", 'b', "1", 0, 1, "bias_ih and bias_hh present"}, \
    {"batch_first", 'b', "1", 1, 1, "seqlab is batch-first; only 1 is accepted"}, \
    {"dropout", 'f', "0", 0, 1, "dropout on the outputs of every layer but the last, while training"}, \
    {"bidirectional", 'b', "0", 0, 1, "add a reverse direction (sequence mode only)"}

int sl_recurrent_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out);

/* Read the common keys (and nonlinearity for Elman) of a checked spec into cfg. */
int sl_recurrent_config_from_spec(const sl_spec *s, const sl_spec_key *table, sl_rcell_kind cell,
                                  sl_recurrent_config *cfg);

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

/* Naive reference forward in double precision: plain loops, no BLAS, no dropout, same
 * initial state as the model. x (B, T, I) -> y (B, T, d_out). For tests. */
int sl_recurrent_forward_ref(sl_model *m, const float *x, float *y, int B, int T);

#endif
