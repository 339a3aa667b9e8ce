# mk/core.mk — core/: errors, rng, parameter table, optimizers, grad check, threads, timers
libseqlab_la_SOURCES += core/error.c core/rng.c core/params.c core/params_io.c core/optim.c \
	core/gradcheck.c core/util.c core/checkpoint.c
nobase_seqlabinc_HEADERS += core/error.h core/rng.h core/params.h core/optim.h core/gradcheck.h \
	core/util.h core/checkpoint.h
check_PROGRAMS += t/t-core t/t-optim
TESTS += t/t-core t/t-optim
