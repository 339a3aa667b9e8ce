# mk/seq.mk — seq/: the sequence interface, spec strings, shared layers, the LM wrapper
libseqlab_la_SOURCES += seq/model.c seq/spec.c seq/layers.c seq/lm.c
nobase_seqlabinc_HEADERS += seq/model.h seq/spec.h seq/layers.h seq/lm.h
check_PROGRAMS += t/t-layers t/t-spec t/t-lm t/t-config
TESTS += t/t-layers t/t-spec t/t-lm t/t-config
check_PROGRAMS += t/t-pack
TESTS += t/t-pack
