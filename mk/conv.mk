# mk/conv.mk — the convolution / attention-hybrid mixers of the zoo (issue 20): ssm/based
# (Based), ssm/h3 (H3), ssm/hyena (Hyena), their registry table lab/reg_conv.c, tests, fixtures and the benchmark.
libseqlab_la_SOURCES += ssm/based.c ssm/h3.c ssm/hyena.c lab/reg_conv.c
nobase_seqlabinc_HEADERS += ssm/based.h ssm/h3.h ssm/hyena.h
check_PROGRAMS += t/t-based t/t-h3 t/t-hyena
TESTS += t/t-based t/t-h3 t/t-hyena
EXTRA_DIST += docs/long-conv.md t/ref/make_conv_fixtures.py \
	t/data/based_weights.safetensors t/data/based_grads.safetensors t/data/based_x.npy t/data/based_y.npy t/data/based_dy.npy \
	t/data/h3_weights.safetensors t/data/h3_grads.safetensors t/data/h3_x.npy t/data/h3_y.npy t/data/h3_dy.npy \
	t/data/hyena_weights.safetensors t/data/hyena_grads.safetensors t/data/hyena_x.npy t/data/hyena_y.npy t/data/hyena_dy.npy
