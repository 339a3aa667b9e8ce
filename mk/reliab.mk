# mk/reliab.mk — reliability tests (issue 19): atomic outputs, hostile inputs, divergence,
# crash-safe training
TESTS += t/reliab-output.sh t/reliab-bombs.sh t/reliab-diverge.sh t/reliab-killtest.sh
EXTRA_DIST += docs/reliability.md t/reliab-output.sh t/reliab-bombs.sh t/reliab-diverge.sh t/reliab-killtest.sh bench/killtest.sh

# `make bench`: bench/llama2c_encode_bench (prompt encoding against run.c's quadratic loop)
bench/llama2c_encode_bench$(EXEEXT): $(srcdir)/bench/llama2c_encode_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/llama2c_encode_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/llama2c_encode_bench$(EXEEXT)
CLEANFILES += bench/llama2c_encode_bench$(EXEEXT)
EXTRA_DIST += bench/llama2c_encode_bench.c
check_PROGRAMS += t/t-reliab
TESTS += t/t-reliab
