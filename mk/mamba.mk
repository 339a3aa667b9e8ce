# mk/mamba.mk — ssm/scan (selective scan), ssm/mamba (Mamba block), ssm/ssd (the SSD algorithm),
# ssm/mamba2 (the Mamba2 block)
libseqlab_la_SOURCES += ssm/scan.c ssm/mamba.c ssm/ssd.c ssm/mamba2.c
nobase_seqlabinc_HEADERS += ssm/scan.h ssm/mamba.h ssm/ssd.h ssm/mamba2.h
check_PROGRAMS += t/t-scan t/t-mamba t/t-ssd
TESTS += t/t-scan t/t-mamba t/t-ssd t/mamba-forward.sh
EXTRA_DIST += t/mamba-forward.sh t/ref/make_mamba_fixtures.py \
	t/data/mambalm_weights.safetensors t/data/mambalm_tok.npy t/data/mambalm_y.npy \
	t/data/mamba_weights.safetensors t/data/mamba_grads.safetensors t/data/mamba_x.npy t/data/mamba_y.npy t/data/mamba_dy.npy \
	t/data/mamba2_weights.safetensors t/data/mamba2_grads.safetensors t/data/mamba2_x.npy t/data/mamba2_y.npy t/data/mamba2_dy.npy \
	t/data/mamba16_weights.safetensors t/data/mamba16_grads.safetensors t/data/mamba16_x.npy t/data/mamba16_y.npy t/data/mamba16_dy.npy
EXTRA_DIST += bench/scan_bench.c bench/scan_torch.py bench/run_scan_bench.sh docs/mamba.md

# `make bench`: bench/scan_bench (not part of make check); plain rule as in mk/ssm.mk.
# bench/run_scan_bench.sh runs it against the PyTorch peers (bench/scan_torch.py) in the same run.
bench/scan_bench$(EXEEXT): $(srcdir)/bench/scan_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/scan_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/scan_bench$(EXEEXT)
CLEANFILES += bench/scan_bench$(EXEEXT)
