# mk/ssm.mk — ssm/: HiPPO operators, S4 (DPLR), S4D, the FFT long convolution
libseqlab_la_SOURCES += ssm/hippo.c ssm/hippo_mixer.c ssm/fftconv.c ssm/ssmblock.c ssm/s4.c ssm/s4d.c
nobase_seqlabinc_HEADERS += ssm/hippo.h ssm/fftconv.h ssm/ssmblock.h ssm/s4.h ssm/s4d.h
check_PROGRAMS += t/t-hippo t/t-s4 t/t-s4d
TESTS += t/t-hippo t/t-s4 t/t-s4d t/hippo-cli.sh t/s4-eval.sh
EXTRA_DIST += t/hippo-cli.sh t/s4-eval.sh t/ref/make_s4d_fixtures.py t/data/s4d_weights.safetensors t/data/s4d_input.npy \
	t/data/s4d_output.npy docs/ssm.md bench/ssm_conv_bench.c bench/ssm_conv_bench.sh bench/ssm_conv_torch.py \
	bench/ssm_conv_results.csv

# `make bench`: the convolution benchmark (not part of make check); plain rule because
# Makefile.am declares no EXTRA_PROGRAMS
bench/ssm_conv_bench$(EXEEXT): $(srcdir)/bench/ssm_conv_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/ssm_conv_bench.c libseqlab.la $(DEPS_LIBS)
.PHONY: bench
bench: bench/ssm_conv_bench$(EXEEXT)
CLEANFILES += bench/ssm_conv_bench$(EXEEXT)
