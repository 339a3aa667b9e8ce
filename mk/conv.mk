# mk/conv.mk — the convolution / attention-hybrid mixers of the zoo (issue 20): ssm/based
# (Based), their registry table lab/reg_conv.c, tests, fixtures and the benchmark.
libseqlab_la_SOURCES += ssm/based.c lab/reg_conv.c
nobase_seqlabinc_HEADERS += ssm/based.h
check_PROGRAMS += t/t-based
TESTS += t/t-based
EXTRA_DIST += docs/long-conv.md t/ref/make_conv_fixtures.py \
	t/data/based_weights.safetensors t/data/based_grads.safetensors t/data/based_x.npy t/data/based_y.npy t/data/based_dy.npy
