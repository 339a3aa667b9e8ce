# mk/fuzz.mk — the fuzz harnesses (issue 19; docs/reliability.md, "Fuzzing").
#
# fuzz/NAME.c defines LLVMFuzzerTestOneInput for one input format. Configured with
# --enable-fuzzing (clang, coverage + ASan + UBSan on the whole library) the programs
# fuzz/fuzz-NAME link libFuzzer's main: `make fuzz` builds them. In every other build they
# link fuzz/driver.c, a main that runs the files it is given once each, and make check runs
# them over the seed corpora and the crash reproducers (t/fuzz-corpus.sh), so every finding
# stays a regression case of the ordinary (and the sanitizer) build.
FUZZ_PROGS = \
	fuzz/fuzz-safetensors \
	fuzz/fuzz-npy \
	fuzz/fuzz-json \
	fuzz/fuzz-spec \
	fuzz/fuzz-arpa \
	fuzz/fuzz-w2v-text \
	fuzz/fuzz-w2v-bin \
	fuzz/fuzz-llama2c \
	fuzz/fuzz-llama2c-tok \
	fuzz/fuzz-checkpoint \
	fuzz/fuzz-corpus \
	fuzz/fuzz-bpe \
	fuzz/fuzz-bpe-gpt2 \
	fuzz/fuzz-tok-hf \
	fuzz/fuzz-spm \
	fuzz/fuzz-shards \
	fuzz/fuzz-regex \
	fuzz/fuzz-json-schema

check_PROGRAMS += $(FUZZ_PROGS)
FUZZ_LD = -no-install $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
fuzz_fuzz_safetensors_SOURCES = fuzz/safetensors.c fuzz/fuzz.h
fuzz_fuzz_safetensors_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_npy_SOURCES = fuzz/npy.c fuzz/fuzz.h
fuzz_fuzz_npy_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_json_SOURCES = fuzz/json.c fuzz/fuzz.h
fuzz_fuzz_json_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_spec_SOURCES = fuzz/spec.c fuzz/fuzz.h fuzz/small_model.h
fuzz_fuzz_spec_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_arpa_SOURCES = fuzz/arpa.c fuzz/fuzz.h
fuzz_fuzz_arpa_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_w2v_text_SOURCES = fuzz/w2v_text.c fuzz/fuzz.h
fuzz_fuzz_w2v_text_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_w2v_bin_SOURCES = fuzz/w2v_bin.c fuzz/fuzz.h
fuzz_fuzz_w2v_bin_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_llama2c_SOURCES = fuzz/llama2c.c fuzz/fuzz.h
fuzz_fuzz_llama2c_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_llama2c_tok_SOURCES = fuzz/llama2c_tok.c fuzz/fuzz.h
fuzz_fuzz_llama2c_tok_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_checkpoint_SOURCES = fuzz/checkpoint.c fuzz/fuzz.h fuzz/small_model.h
fuzz_fuzz_checkpoint_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_corpus_SOURCES = fuzz/corpus.c fuzz/fuzz.h
fuzz_fuzz_corpus_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_bpe_SOURCES = fuzz/bpe.c fuzz/fuzz.h fuzz/tok_common.h
fuzz_fuzz_bpe_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_bpe_gpt2_SOURCES = fuzz/bpe_gpt2.c fuzz/fuzz.h fuzz/tok_common.h
fuzz_fuzz_bpe_gpt2_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_tok_hf_SOURCES = fuzz/tok_hf.c fuzz/fuzz.h fuzz/tok_common.h
fuzz_fuzz_tok_hf_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_spm_SOURCES = fuzz/spm.c fuzz/fuzz.h
fuzz_fuzz_spm_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_shards_SOURCES = fuzz/shards.c fuzz/fuzz.h
fuzz_fuzz_shards_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_regex_SOURCES = fuzz/regex.c fuzz/fuzz.h fuzz/constrain_common.h
fuzz_fuzz_regex_LDFLAGS = $(FUZZ_LD)
fuzz_fuzz_json_schema_SOURCES = fuzz/json_schema.c fuzz/fuzz.h fuzz/constrain_common.h
fuzz_fuzz_json_schema_LDFLAGS = $(FUZZ_LD)
if !FUZZING
fuzz_fuzz_safetensors_SOURCES += fuzz/driver.c
fuzz_fuzz_npy_SOURCES += fuzz/driver.c
fuzz_fuzz_json_SOURCES += fuzz/driver.c
fuzz_fuzz_spec_SOURCES += fuzz/driver.c
fuzz_fuzz_arpa_SOURCES += fuzz/driver.c
fuzz_fuzz_w2v_text_SOURCES += fuzz/driver.c
fuzz_fuzz_w2v_bin_SOURCES += fuzz/driver.c
fuzz_fuzz_llama2c_SOURCES += fuzz/driver.c
fuzz_fuzz_llama2c_tok_SOURCES += fuzz/driver.c
fuzz_fuzz_checkpoint_SOURCES += fuzz/driver.c
fuzz_fuzz_corpus_SOURCES += fuzz/driver.c
fuzz_fuzz_bpe_SOURCES += fuzz/driver.c
fuzz_fuzz_bpe_gpt2_SOURCES += fuzz/driver.c
fuzz_fuzz_tok_hf_SOURCES += fuzz/driver.c
fuzz_fuzz_spm_SOURCES += fuzz/driver.c
fuzz_fuzz_shards_SOURCES += fuzz/driver.c
fuzz_fuzz_regex_SOURCES += fuzz/driver.c
fuzz_fuzz_json_schema_SOURCES += fuzz/driver.c
endif
TESTS += t/fuzz-corpus.sh
EXTRA_DIST += t/fuzz-corpus.sh fuzz/corpus fuzz/dict fuzz/run.sh fuzz/make-seeds.sh t/data/fuzz

.PHONY: fuzz
fuzz: $(FUZZ_PROGS)
