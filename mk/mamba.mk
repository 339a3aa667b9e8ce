# mk/mamba.mk — ssm/scan (selective scan), ssm/mamba (Mamba block), ssm/ssd (Mamba-2 / SSD)
libseqlab_la_SOURCES += ssm/scan.c ssm/mamba.c ssm/ssd.c
nobase_seqlabinc_HEADERS += ssm/scan.h ssm/mamba.h ssm/ssd.h
check_PROGRAMS += t/t-scan t/t-mamba
TESTS += t/t-scan t/t-mamba
EXTRA_DIST += t/ref/make_mamba_fixtures.py \
	t/data/mamba_weights.safetensors t/data/mamba_grads.safetensors t/data/mamba_x.npy t/data/mamba_y.npy t/data/mamba_dy.npy \
	t/data/mamba2_weights.safetensors t/data/mamba2_grads.safetensors t/data/mamba2_x.npy t/data/mamba2_y.npy t/data/mamba2_dy.npy
