# mk/core.mk — core/: errors, rng, parameter table, optimizers, grad check, threads, timers,
# the CPU-feature probe and the fast-math layer
libseqlab_la_SOURCES += core/heap.h core/error.c core/rng.c core/params.c core/params_io.c core/optim.c \
	core/gradcheck.c core/util.c core/checkpoint.c core/cpu.c
nobase_seqlabinc_HEADERS += core/error.h core/rng.h core/params.h core/optim.h core/gradcheck.h \
	core/util.h core/checkpoint.h core/cpu.h core/fastmath.h core/fastmath_body.inc
check_PROGRAMS += t/t-core t/t-optim t/t-fastmath
TESTS += t/t-core t/t-optim t/t-fastmath
