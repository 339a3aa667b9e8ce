# mk/transformer.mk — the transformer family: attention kernels and mixer, GPT/LLaMA decoders,
# llama2.c checkpoint reader, their tests, fixtures and benchmarks.
libseqlab_la_SOURCES += seq/attention.c seq/transformer.c
nobase_seqlabinc_HEADERS += seq/attention.h seq/transformer.h
check_PROGRAMS += t/t-attention t/t-transformer
TESTS += t/t-attention t/t-transformer
EXTRA_DIST += docs/transformer.md
