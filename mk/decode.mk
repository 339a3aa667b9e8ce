# mk/decode.mk — inference and decoding (issue #17): the decoding GEMV kernel, generation
# benchmarks, docs/decoding.md
libseqlab_la_SOURCES += core/gemv.c lab/generate.c lab/speculative.c lab/constrain.c lab/constrain_json.c
nobase_seqlabinc_HEADERS += core/gemv.h lab/generate.h lab/speculative.h lab/constrain.h
EXTRA_DIST += docs/decoding.md
check_PROGRAMS += t/t-decode
TESTS += t/t-decode
TESTS += t/generate.sh t/constrain-cli.sh
EXTRA_DIST += t/generate.sh t/constrain-cli.sh
EXTRA_DIST += bench/generate_bench.sh bench/generate_families.sh bench/make_llama2c_random.py
check_PROGRAMS += t/t-prefill
TESTS += t/t-prefill
check_PROGRAMS += t/t-speculative t/t-constrain
TESTS += t/t-speculative t/t-constrain
check_PROGRAMS += t/t-infer
TESTS += t/t-infer
# `make bench`: bench/prefill_bench and bench/spec_bench (not part of make check)
EXTRA_DIST += bench/prefill_bench.c bench/spec_bench.sh bench/forward_bench.sh bench/forward_torch.py bench/forward_results.csv
bench/prefill_bench$(EXEEXT): $(srcdir)/bench/prefill_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/prefill_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/prefill_bench$(EXEEXT)
CLEANFILES += bench/prefill_bench$(EXEEXT)
