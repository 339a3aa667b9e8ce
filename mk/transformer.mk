# mk/transformer.mk — the transformer family: attention kernels and mixer, GPT/LLaMA decoders,
# llama2.c checkpoint reader, their tests, fixtures and benchmarks.
libseqlab_la_SOURCES += seq/attention_naive.c seq/attention_flash.c seq/attention.c seq/transformer.c seq/llama2c.c
nobase_seqlabinc_HEADERS += seq/attention_kernels.h seq/attention.h seq/transformer.h seq/llama2c.h
check_PROGRAMS += t/t-attention t/t-transformer t/t-llama2c
TESTS += t/t-attention t/t-transformer t/t-llama2c t/gpt-forward.sh
EXTRA_DIST += docs/transformer.md t/gpt-forward.sh t/ref/make_gpt_fixtures.py t/ref/make_llama2c_fixtures.py \
	t/data/gpt_bias1.safetensors t/data/gpt_bias1_logits.npy t/data/gpt_bias0.safetensors \
	t/data/gpt_bias0_logits.npy t/data/gpt_tokens.npy t/data/llama2c_shared.bin t/data/llama2c_shared_logits.npy \
	t/data/llama2c_unshared.bin t/data/llama2c_unshared_logits.npy t/data/llama2c_tok.bin \
	t/data/llama2c_tokens.npy t/data/llama2c_encode.npy t/data/llama2c_greedy.npy t/data/llama2c_gen.bin t/data/llama2c_gen_greedy.npy \
	bench/attn_torch.py bench/nanogpt_torch.py bench/nanogpt_bench.sh

# `make bench`: bench/nanogpt_bench and bench/attn_bench (not part of make check); plain rules,
# as Makefile.am declares no EXTRA_PROGRAMS. bench/nanogpt_bench.sh runs nanogpt_bench beside
# bench/nanogpt_torch.py; bench/attn_bench.sh runs attn_bench beside bench/attn_torch.py.
bench/nanogpt_bench$(EXEEXT): $(srcdir)/bench/nanogpt_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/nanogpt_bench.c libseqlab.la $(DEPS_LIBS)
bench/attn_bench$(EXEEXT): $(srcdir)/bench/attn_bench.c libseqlab.la
	$(AM_V_CCLD)mkdir -p bench && $(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	  $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/bench/attn_bench.c libseqlab.la $(DEPS_LIBS)
bench: bench/nanogpt_bench$(EXEEXT) bench/attn_bench$(EXEEXT)
CLEANFILES += bench/nanogpt_bench$(EXEEXT) bench/attn_bench$(EXEEXT)
EXTRA_DIST += bench/nanogpt_bench.c bench/attn_bench.c bench/attn_bench.sh
