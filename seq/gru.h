/* seq/gru.h — GRU mixer, exactly torch.nn.GRU (batch_first=True).
 *
 * Gates in torch's order r, z, n (rows of weight_ih_l{k} (3H, I_k), weight_hh_l{k} (3H, H)):
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   h' = (1 - z) * n + z * h
 * Spec: `gru:input_size=7,hidden_size=13,num_layers=2,bias=1,dropout=0,bidirectional=0`.
 */
#ifndef SL_SEQ_GRU_H
#define SL_SEQ_GRU_H

#include "seq/recurrent_common.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sl_spec_key sl_gru_keys[];

/* The table's defaults (torch's), ops set to this cell. */
int sl_gru_config_default(sl_recurrent_config *cfg);
/* From a configuration (its ops and cell are set to this cell). */
int sl_gru_create(const sl_recurrent_config *cfg, sl_params *P, const char *prefix, sl_model **out);

int sl_gru_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* h0 (num_layers * num_directions, B, H), or NULL to go back to zeros. */
static inline int sl_gru_set_initial_state(sl_model *m, const float *h0, int B)
{
    return sl_recurrent_set_initial_state(m, h0, NULL, B);
}

#ifdef __cplusplus
}
#endif
#endif
