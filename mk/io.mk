# mk/io.mk — core/ file formats: JSON, safetensors, .npy, atomic file I/O
libseqlab_la_SOURCES += core/fileio.c core/json.c core/dtype.c core/safetensors.c core/npy.c
nobase_seqlabinc_HEADERS += core/fileio.h core/json.h core/dtype.h core/safetensors.h core/npy.h
# t/t-io: JSON, dtypes, safetensors, .npy, atomic writes, params save/load (core/params_io.c,
# listed in mk/core.mk), and the reference files made by t/ref/make_io_fixtures.py
check_PROGRAMS += t/t-io
TESTS += t/t-io
EXTRA_DIST += t/ref/make_io_fixtures.py t/data/io_ref.safetensors t/data/io_ref.npy t/data/io_ref_v2.npy
