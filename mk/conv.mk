# mk/conv.mk — the convolution / attention-hybrid mixers of the zoo (issue 20): ssm/based
# (Based), ssm/h3 (H3), ssm/hyena (Hyena), their registry table lab/reg_conv.c, tests, fixtures and the benchmark.
libseqlab_la_SOURCES += ssm/based.c ssm/h3.c ssm/hyena.c lab/reg_conv.c
nobase_seqlabinc_HEADERS += ssm/based.h ssm/h3.h ssm/hyena.h
check_PROGRAMS += t/t-based t/t-h3 t/t-hyena
TESTS += t/t-based t/t-h3 t/t-hyena
EXTRA_DIST += docs/long-conv.md t/ref/make_conv_fixtures.py \
	t/data/based_weights.safetensors t/data/based_grads.safetensors t/data/based_x.npy t/data/based_y.npy t/data/based_dy.npy \
	t/data/h3_weights.safetensors t/data/h3_grads.safetensors t/data/h3_x.npy t/data/h3_y.npy t/data/h3_dy.npy \
	t/data/hyena_weights.safetensors t/data/hyena_grads.safetensors t/data/hyena_x.npy t/data/hyena_y.npy t/data/hyena_dy.npy
EXTRA_DIST += bench/conv_bench.c bench/conv_torch.py bench/run_conv_bench.sh bench/conv_results.csv

# `make bench`: bench/conv_bench (not part of make check); plain rule as in mk/ssm.mk.
# bench/run_conv_bench.sh runs it against the PyTorch peers (bench/conv_torch.py) in the same run.
bench/conv_bench$(EXEEXT): $(srcdir)/bench/conv_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/conv_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/conv_bench$(EXEEXT)
CLEANFILES += bench/conv_bench$(EXEEXT)
