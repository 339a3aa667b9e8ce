# mk/lab.mk — lab/ (registry, tasks, trainer) and src/ (the seqlab program)
libseqlab_la_SOURCES += lab/registry.c lab/reg_core.c lab/reg_recurrent.c lab/reg_ssm.c \
	lab/reg_mamba.c lab/reg_transformer.c lab/reg_nlp.c lab/tasks.c lab/tasks_synth.c lab/trainer.c lab/sample.c lab/pack.c \
	lab/replicas.c
nobase_seqlabinc_HEADERS += lab/registry.h lab/tasks.h lab/trainer.h lab/sample.h lab/pack.h lab/replicas.h
seqlab_SOURCES += src/main.c src/cli.c src/cmd_list.c src/cmd_train.c src/cmd_forward.c \
	src/cmd_generate.c src/run.c src/cmd_hippo.c src/cmd_ngram.c src/cmd_w2v.c src/cmd_scale.c \
	src/cmd_plot.c
noinst_HEADERS = src/cli.h src/run.h t/testutil.h t/fixture.h t/mixer_check.h
check_PROGRAMS += t/t-tasks t/t-trainer t/t-replicas
TESTS += t/t-tasks t/t-trainer t/t-replicas t/cli.sh t/resume.sh t/plot.sh t/time-budget.sh
EXTRA_DIST += t/cli.sh t/resume.sh t/npy.sh t/plot.sh t/time-budget.sh
TESTS += t/resume-complete.sh t/batch-slices.sh
EXTRA_DIST += t/resume-complete.sh t/batch-slices.sh

# `make bench`: bench/train_step_bench, one training step of a small model (not part of make
# check); bench/train_step_bench.sh runs it beside bench/train_step_torch.py in the same run.
EXTRA_DIST += bench/train_step_bench.c bench/train_step_bench.sh bench/train_step_torch.py bench/train_step_results.csv docs/training-speed.md \
	bench/slices_bench.sh bench/slices_results.csv
bench/train_step_bench$(EXEEXT): $(srcdir)/bench/train_step_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/train_step_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/train_step_bench$(EXEEXT)
CLEANFILES += bench/train_step_bench$(EXEEXT)
# `make bench`: bench/pack_bench, packing against padding to the longest (docs/training.md)
EXTRA_DIST += bench/pack_bench.c bench/pack_results.csv
bench/pack_bench$(EXEEXT): $(srcdir)/bench/pack_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/pack_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/pack_bench$(EXEEXT)
CLEANFILES += bench/pack_bench$(EXEEXT)
