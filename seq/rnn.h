/* seq/rnn.h — Elman RNN mixer, exactly torch.nn.RNN (batch_first=True).
 *
 *   h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),  act = tanh or relu
 *
 * Spec: `rnn:input_size=7,hidden_size=13,num_layers=2,nonlinearity=relu,bias=1,dropout=0,
 * bidirectional=0`. Parameters weight_ih_l{k}[_reverse] (H, I_k), weight_hh_l{k}[_reverse]
 * (H, H), bias_ih_l{k}[_reverse] (H), bias_hh_l{k}[_reverse] (H). Output: the last layer's h
 * at every t, width H (2H bidirectional). The engine and the initial-state API (h0 of shape
 * (num_layers * num_directions, B, H), as torch) are in seq/recurrent_common.h.
 */
#ifndef SL_SEQ_RNN_H
#define SL_SEQ_RNN_H

#include "seq/recurrent_common.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sl_spec_key sl_rnn_keys[];

/* The table's defaults (torch's), ops set to this cell. */
int sl_rnn_config_default(sl_recurrent_config *cfg);
/* From a configuration (its ops and cell are set to this cell). */
int sl_rnn_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out);

/* Build from a spec already checked against sl_rnn_keys. */
int sl_rnn_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* h0 (num_layers * num_directions, B, H), or NULL to go back to zeros. */
static inline int sl_rnn_set_initial_state(sl_model *m, const float *h0, int B)
{
    return sl_recurrent_set_initial_state(m, h0, NULL, B);
}

#ifdef __cplusplus
}
#endif
#endif
