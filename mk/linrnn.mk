# mk/linrnn.mk — the linear-RNN mixers (docs/linear-rnn.md): ssm/lru (Linear Recurrent Unit)
libseqlab_la_SOURCES += ssm/lru.c lab/reg_linrnn.c
nobase_seqlabinc_HEADERS += ssm/lru.h
check_PROGRAMS += t/t-lru
TESTS += t/t-lru
EXTRA_DIST += docs/linear-rnn.md t/ref/make_linrnn_fixtures.py \
	t/data/lru_weights.safetensors t/data/lru_grads.safetensors t/data/lru_x.npy t/data/lru_y.npy t/data/lru_dy.npy
