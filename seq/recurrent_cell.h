/* seq/recurrent_cell.h — the recurrent cells' interface: the arguments of one step's pointwise
 * part (sl_rcell_fwd / sl_rcell_bwd) and the operations table (sl_rcell_ops) each cell file
 * (seq/rnn.c, lstm.c, gru.c) defines. The engine (seq/recurrent_common.c) includes this header
 * and calls the cells through the table it finds in its configuration, so it depends on no
 * cell file; the cell files depend on the engine only for their constructors.
 */
#ifndef SL_SEQ_RECURRENT_CELL_H
#define SL_SEQ_RECURRENT_CELL_H

#include "core/fastmath.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SL_RCELL_ELMAN = 0, SL_RCELL_LSTM = 1, SL_RCELL_GRU = 2 } sl_rcell_kind;

/* The pointwise part of one time step over B rows. */

/* Forward of one step. g (B, G*H): in, x W_ih^T (+ h W_hh^T for Elman and LSTM), to which the
 * cell adds b (G*H: b_ih + b_hh for Elman and LSTM, b_ih for GRU; NULL without bias); out,
 * the activated gates (kept as the backward cache). GRU: gh (B, 3H) is h_prev W_hh^T, to which
 * the cell adds bh (b_hh or NULL); hn (B, H) receives W_hn h + b_hn (cached). zeros (at least
 * G*H zeros) stands in for every NULL, so the row loops have no branches and vectorise.
 * h_prev (B, H, row stride ldhp) is NULL for a zero state. LSTM: c_prev (B, H) or NULL,
 * c (B, H) receives the new cell. h (B, H, row stride ldh) receives the new hidden state. */
typedef struct {
    int B, H;
    float *g;
    int ldg; /* row stride of g (G*H when contiguous) */
    const float *b;
    const float *gh;
    const float *bh;
    float *hn;
    const float *h_prev;
    int ldhp;
    const float *c_prev;
    float *c;
    float *h;
    int ldh;
    int relu;
    const float *zeros;
} sl_rcell_fwd;

/* Backward of one step. dh_out (B, H, stride lddo) is the gradient arriving from above for h;
 * dh_rec (B, H) holds the gradient arriving from step t+1 (read), and on return the part of
 * dh_prev that does not go through W_hh (GRU: dh * z; else 0). LSTM: dc (B, H) in: from t+1,
 * out: for c_prev. dg (B, G*H) receives the gradients of the x-side pre-activations; GRU:
 * dgh (B, 3H) receives those of the h-side ones (r, z as dg; n as dn_pre * r), or with
 * dgh_n_only set only the n one (B, H): the engine's kernel path keeps one (B, 4H) row
 * [dn_pre*r | dr | dz | dn] holding both sides. Rows of g are ldg apart, rows of dg / dgh lddg
 * apart. */
typedef struct {
    int B, H;
    const float *g;
    int ldg;
    const float *hn;
    const float *h_prev;
    int ldhp;
    const float *c_prev;
    const float *c;
    const float *h;
    int ldh;
    const float *dh_out;
    int lddo;
    float *dh_rec;
    float *dc;
    float *dg;
    float *dgh; /* both with row stride lddg */
    int lddg;
    int dgh_n_only; /* GRU: dgh receives the n column block only */
    int relu;
    const float *zeros; /* as in sl_rcell_fwd */
} sl_rcell_bwd;

/* The cells' pointwise math is core/fastmath.h's (vectorisable exp / sigmoid / tanh; the naive
 * reference path sl_recurrent_forward_ref uses libm in double). The sl_rc_ names are kept
 * for the tests that measure them. Cell row kernels are SL_CLONES3 (AVX-512, AVX2 + FMA,
 * baseline) and their files set SL_NO_TRAPPING_MATH, so the loops vectorise. */
static inline float sl_rc_expf(float x) { return sl_fm_expf(x); }
static inline float sl_rc_sigmoidf(float x) { return sl_fm_sigmoidf(x); }
static inline float sl_rc_tanhf(float x) { return sl_fm_tanhf(x); }

/* A cell's operations: what the engine (seq/recurrent_common.c) calls for the pointwise part of
 * a step. Each cell file defines one table (rnn.c, lstm.c, gru.c) and puts it into the
 * configuration it builds; the engine reaches the cells only through it. The engine's own
 * structure still depends on the kind (LSTM's cell state, GRU's separate h-side product). */
typedef struct sl_rcell_ops {
    sl_rcell_kind kind;
    const char *name; /* "rnn", "lstm", "gru" */
    int gates;        /* G: 1, 4, 3 */
    void (*forward)(const sl_rcell_fwd *a);
    void (*backward)(const sl_rcell_bwd *a);
} sl_rcell_ops;

extern const sl_rcell_ops sl_rnn_cell_ops, sl_lstm_cell_ops, sl_gru_cell_ops;

#ifdef __cplusplus
}
#endif
#endif
