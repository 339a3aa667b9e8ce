/* seq/lstm.h — LSTM mixer, exactly torch.nn.LSTM (batch_first=True, proj_size=0).
 *
 * Gates in torch's order i, f, g, o (rows of weight_ih_l{k} (4H, I_k), weight_hh_l{k} (4H, H)):
 *   i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      f = sigmoid(W_if x + b_if + W_hf h + b_hf)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)         o = sigmoid(W_io x + b_io + W_ho h + b_ho)
 *   c' = f * c + i * g                              h' = o * tanh(c')
 * Spec: `lstm:input_size=7,hidden_size=13,num_layers=2,bias=1,dropout=0,bidirectional=0`.
 */
#ifndef SL_SEQ_LSTM_H
#define SL_SEQ_LSTM_H

#include "seq/recurrent_common.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sl_spec_key sl_lstm_keys[];

/* The table's defaults (torch's), ops set to this cell. */
int sl_lstm_config_default(sl_recurrent_config *cfg);
/* From a configuration (its ops and cell are set to this cell). */
int sl_lstm_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out);

int sl_lstm_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* h0, c0 (num_layers * num_directions, B, H); c0 may be NULL (zeros); h0 NULL clears both. */
static inline int sl_lstm_set_initial_state(sl_model *m, const float *h0, const float *c0, int B)
{
    return sl_recurrent_set_initial_state(m, h0, c0, B);
}

#ifdef __cplusplus
}
#endif
#endif
