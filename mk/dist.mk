# mk/dist.mk — data-parallel training over MPI (lab/dist.c; docs/distributed.md) and gradient
# accumulation. MPI is optional: configure adds its flags to DEPS_CFLAGS/DEPS_LIBS and defines
# HAVE_MPI when it finds it; lab/dist.c builds either way.
libseqlab_la_SOURCES += lab/dist.c
nobase_seqlabinc_HEADERS += lab/dist.h
check_PROGRAMS += t/t-accum
TESTS += t/t-accum
check_PROGRAMS += t/st-cmp
TESTS += t/dist.sh t/sweep-dist.sh
EXTRA_DIST += t/dist.sh t/sweep-dist.sh experiments/dist.sh docs/distributed.md docs/training.md \
	bench/dist_bench.sh bench/dist_model.sh bench/allreduce_bench.c \
	bench/dist_results_steps.csv bench/dist_results_allreduce.csv
