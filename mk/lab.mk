# mk/lab.mk — lab/ (registry, tasks, trainer) and src/ (the seqlab program)
libseqlab_la_SOURCES += lab/registry.c lab/reg_core.c lab/reg_recurrent.c lab/reg_ssm.c \
	lab/reg_mamba.c lab/reg_transformer.c lab/reg_nlp.c lab/tasks.c lab/tasks_synth.c lab/trainer.c lab/sample.c
nobase_seqlabinc_HEADERS += lab/registry.h lab/tasks.h lab/trainer.h lab/sample.h
seqlab_SOURCES += src/main.c src/cli.c src/cmd_list.c src/cmd_train.c src/cmd_forward.c \
	src/cmd_generate.c src/run.c src/cmd_hippo.c src/cmd_ngram.c src/cmd_w2v.c src/cmd_scale.c \
	src/cmd_plot.c
noinst_HEADERS = src/cli.h src/run.h t/testutil.h t/fixture.h
check_PROGRAMS += t/t-tasks t/t-trainer
TESTS += t/t-tasks t/t-trainer t/cli.sh t/resume.sh t/plot.sh t/time-budget.sh
EXTRA_DIST += t/cli.sh t/resume.sh t/npy.sh t/plot.sh t/time-budget.sh
