# mk/linrnn.mk — the linear-RNN mixers (docs/linear-rnn.md): ssm/lru (Linear Recurrent Unit),
# ssm/linattn (the chunkwise gated linear-attention core), ssm/retnet (multi-scale retention),
# ssm/gla (gated linear attention), ssm/rwkv (RWKV-4)
libseqlab_la_SOURCES += ssm/lru.c ssm/linattn.c ssm/retnet.c ssm/gla.c ssm/rwkv.c lab/reg_linrnn.c
nobase_seqlabinc_HEADERS += ssm/lru.h ssm/linattn.h ssm/retnet.h ssm/gla.h ssm/rwkv.h
check_PROGRAMS += t/t-lru t/t-retnet t/t-gla t/t-rwkv
TESTS += t/t-lru t/t-retnet t/t-gla t/t-rwkv
EXTRA_DIST += docs/linear-rnn.md t/ref/make_linrnn_fixtures.py t/linattn_util.h \
	t/data/lru_weights.safetensors t/data/lru_grads.safetensors t/data/lru_x.npy t/data/lru_y.npy t/data/lru_dy.npy \
	t/data/retnet_weights.safetensors t/data/retnet_grads.safetensors t/data/retnet_x.npy t/data/retnet_y.npy t/data/retnet_dy.npy \
	t/data/gla_weights.safetensors t/data/gla_grads.safetensors t/data/gla_x.npy t/data/gla_y.npy t/data/gla_dy.npy \
	t/data/rwkv_weights.safetensors t/data/rwkv_grads.safetensors t/data/rwkv_x.npy t/data/rwkv_y.npy t/data/rwkv_dy.npy
EXTRA_DIST += bench/linrnn_bench.c bench/linrnn_torch.py bench/run_linrnn_bench.sh

# `make bench`: bench/linrnn_bench (not part of make check); plain rule as in mk/mamba.mk.
# bench/run_linrnn_bench.sh runs it against the PyTorch peers (bench/linrnn_torch.py) in the same run.
bench/linrnn_bench$(EXEEXT): $(srcdir)/bench/linrnn_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/linrnn_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/linrnn_bench$(EXEEXT)
CLEANFILES += bench/linrnn_bench$(EXEEXT)
