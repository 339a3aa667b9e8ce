# mk/recurrent.mk — the recurrent family: Elman RNN, LSTM, GRU (seq/rnn.c lstm.c gru.c on the
# shared engine seq/recurrent_common.c and its per-step kernel seq/recurrent_kernel.c), their
# tests, PyTorch fixtures and benchmark.
libseqlab_la_SOURCES += seq/recurrent_common.c seq/recurrent_kernel.c seq/recurrent_lanes.c seq/recurrent_amx.c seq/rnn.c seq/lstm.c seq/gru.c
nobase_seqlabinc_HEADERS += seq/recurrent_cell.h seq/recurrent_common.h seq/recurrent_kernel.h seq/recurrent_lanes.h seq/recurrent_amx.h seq/rnn.h seq/lstm.h seq/gru.h
check_PROGRAMS += t/t-recurrent t/t-recurrent-fast
TESTS += t/t-recurrent t/t-recurrent-fast t/recurrent-forward.sh t/recurrent-learn.sh
EXTRA_DIST += docs/recurrent.md t/ref/make_recurrent_fixtures.py t/recurrent-forward.sh t/recurrent-learn.sh \
	bench/rnn_bench.c bench/rnn_torch.py bench/run_rnn_bench.sh
EXTRA_DIST += \
	t/data/recurrent_gru.safetensors \
	t/data/recurrent_gru_bidir.safetensors \
	t/data/recurrent_gru_bidir_grad.safetensors \
	t/data/recurrent_gru_bidir_x.npy \
	t/data/recurrent_gru_bidir_y.npy \
	t/data/recurrent_gru_grad.safetensors \
	t/data/recurrent_gru_h0.safetensors \
	t/data/recurrent_gru_h0_grad.safetensors \
	t/data/recurrent_gru_h0_h0.npy \
	t/data/recurrent_gru_h0_hn.npy \
	t/data/recurrent_gru_h0_x.npy \
	t/data/recurrent_gru_h0_y.npy \
	t/data/recurrent_gru_long.safetensors \
	t/data/recurrent_gru_long_grad.safetensors \
	t/data/recurrent_gru_long_x.npy \
	t/data/recurrent_gru_long_y.npy \
	t/data/recurrent_gru_nobias.safetensors \
	t/data/recurrent_gru_nobias_grad.safetensors \
	t/data/recurrent_gru_nobias_x.npy \
	t/data/recurrent_gru_nobias_y.npy \
	t/data/recurrent_gru_x.npy \
	t/data/recurrent_gru_y.npy \
	t/data/recurrent_lstm.safetensors \
	t/data/recurrent_lstm_bidir.safetensors \
	t/data/recurrent_lstm_bidir_grad.safetensors \
	t/data/recurrent_lstm_bidir_x.npy \
	t/data/recurrent_lstm_bidir_y.npy \
	t/data/recurrent_lstm_grad.safetensors \
	t/data/recurrent_lstm_h0.safetensors \
	t/data/recurrent_lstm_h0_c0.npy \
	t/data/recurrent_lstm_h0_cn.npy \
	t/data/recurrent_lstm_h0_grad.safetensors \
	t/data/recurrent_lstm_h0_h0.npy \
	t/data/recurrent_lstm_h0_hn.npy \
	t/data/recurrent_lstm_h0_x.npy \
	t/data/recurrent_lstm_h0_y.npy \
	t/data/recurrent_lstm_long.safetensors \
	t/data/recurrent_lstm_long_grad.safetensors \
	t/data/recurrent_lstm_long_x.npy \
	t/data/recurrent_lstm_long_y.npy \
	t/data/recurrent_lstm_nobias.safetensors \
	t/data/recurrent_lstm_nobias_grad.safetensors \
	t/data/recurrent_lstm_nobias_x.npy \
	t/data/recurrent_lstm_nobias_y.npy \
	t/data/recurrent_lstm_x.npy \
	t/data/recurrent_lstm_y.npy \
	t/data/recurrent_rnn_h0.safetensors \
	t/data/recurrent_rnn_h0_grad.safetensors \
	t/data/recurrent_rnn_h0_h0.npy \
	t/data/recurrent_rnn_h0_hn.npy \
	t/data/recurrent_rnn_h0_x.npy \
	t/data/recurrent_rnn_h0_y.npy \
	t/data/recurrent_rnn_nobias.safetensors \
	t/data/recurrent_rnn_nobias_grad.safetensors \
	t/data/recurrent_rnn_nobias_x.npy \
	t/data/recurrent_rnn_nobias_y.npy \
	t/data/recurrent_rnn_relu_bidir.safetensors \
	t/data/recurrent_rnn_relu_bidir_grad.safetensors \
	t/data/recurrent_rnn_relu_bidir_nobias.safetensors \
	t/data/recurrent_rnn_relu_bidir_nobias_grad.safetensors \
	t/data/recurrent_rnn_relu_bidir_nobias_x.npy \
	t/data/recurrent_rnn_relu_bidir_nobias_y.npy \
	t/data/recurrent_rnn_relu_bidir_x.npy \
	t/data/recurrent_rnn_relu_bidir_y.npy \
	t/data/recurrent_rnn_tanh.safetensors \
	t/data/recurrent_rnn_tanh_grad.safetensors \
	t/data/recurrent_rnn_tanh_x.npy \
	t/data/recurrent_rnn_tanh_y.npy

# `make bench`: bench/rnn_bench (not part of make check); plain rule, as Makefile.am declares
# no EXTRA_PROGRAMS. bench/run_rnn_bench.sh runs it against torch.nn in the same run.
bench/rnn_bench$(EXEEXT): $(srcdir)/bench/rnn_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/rnn_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/rnn_bench$(EXEEXT)
CLEANFILES += bench/rnn_bench$(EXEEXT)
