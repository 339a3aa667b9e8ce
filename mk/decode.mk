# mk/decode.mk — inference and decoding (issue #17): the decoding GEMV kernel, generation
# benchmarks, docs/decoding.md
libseqlab_la_SOURCES += core/gemv.c lab/generate.c
nobase_seqlabinc_HEADERS += core/gemv.h lab/generate.h
EXTRA_DIST += docs/decoding.md
check_PROGRAMS += t/t-decode
TESTS += t/t-decode
TESTS += t/generate.sh
EXTRA_DIST += t/generate.sh
EXTRA_DIST += bench/generate_bench.sh bench/generate_families.sh bench/make_llama2c_random.py
