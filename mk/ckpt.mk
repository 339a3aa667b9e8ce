# mk/ckpt.mk — gradient checkpointing and memory accounting (issue #21 items 2 and 6;
# docs/training.md): the tests, and `make bench`'s bench/ckpt_bench (memory and time with and
# without checkpointing; a command's peak resident size) run by bench/ckpt_bench.sh and
# bench/dryrun_bench.sh
check_PROGRAMS += t/t-ckpt
TESTS += t/t-ckpt t/ckpt-cli.sh
EXTRA_DIST += t/ckpt-cli.sh bench/ckpt_bench.c bench/ckpt_bench.sh bench/dryrun_bench.sh bench/ckpt_results.csv bench/dryrun_results.csv
bench/ckpt_bench$(EXEEXT): $(srcdir)/bench/ckpt_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/ckpt_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/ckpt_bench$(EXEEXT)
CLEANFILES += bench/ckpt_bench$(EXEEXT)
