# mk/recurrent.mk — the recurrent family: Elman RNN, LSTM, GRU (seq/rnn.c lstm.c gru.c on the
# shared engine seq/recurrent_common.c), their tests, PyTorch fixtures and benchmark.
libseqlab_la_SOURCES += seq/recurrent_common.c seq/rnn.c seq/lstm.c seq/gru.c
nobase_seqlabinc_HEADERS += seq/recurrent_common.h seq/rnn.h seq/lstm.h seq/gru.h
check_PROGRAMS += t/t-recurrent
TESTS += t/t-recurrent
