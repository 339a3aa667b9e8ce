/* lab/reg_recurrent.c — registry entries of the recurrent family (rnn, lstm, gru). */
#include "lab/registry.h"
#include "seq/gru.h"
#include "seq/lstm.h"
#include "seq/rnn.h"

const sl_model_entry sl_models_recurrent[] = {
    {.name = "rnn",
     .family = "recurrent",
     .help = "Elman RNN, torch.nn.RNN: h = tanh|relu(W_ih x + b_ih + W_hh h + b_hh); multi-layer, bidirectional",
     .keys = sl_rnn_keys,
     .is_mixer = 1,
     .width_key = "input_size",
     .out_key = "hidden_size",
     .create = sl_rnn_create_spec},
    {.name = "lstm",
     .family = "recurrent",
     .help = "LSTM, torch.nn.LSTM (gates i,f,g,o); multi-layer, bidirectional, dropout between layers",
     .keys = sl_lstm_keys,
     .is_mixer = 1,
     .width_key = "input_size",
     .out_key = "hidden_size",
     .create = sl_lstm_create_spec},
    {.name = "gru",
     .family = "recurrent",
     .help = "GRU, torch.nn.GRU (gates r,z,n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn))); multi-layer, bidirectional",
     .keys = sl_gru_keys,
     .is_mixer = 1,
     .width_key = "input_size",
     .out_key = "hidden_size",
     .create = sl_gru_create_spec},
    {0},
};
