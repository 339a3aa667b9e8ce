# mk/tok.mk — subword tokenizers (issue 23): byte-level BPE (GPT-2), SentencePiece models,
# token shards and the tokens: task; `seqlab tokenizer`. docs/tokenizers.md.
libseqlab_la_SOURCES += nlp/bpe.c nlp/bpe_hf.c nlp/bpe_pretok.c nlp/bpe_unicode.c nlp/bpe_train.c nlp/bpe_hash.h \
	nlp/tokenizer.c nlp/spm.c nlp/spm_trie.c nlp/shards.c lab/tasks_tokens.c
nobase_seqlabinc_HEADERS += nlp/bpe.h nlp/tokenizer.h nlp/spm.h nlp/spm_trie.h nlp/shards.h
seqlab_SOURCES += src/cmd_tokenizer.c
check_PROGRAMS += t/t-tok t/t-spm t/t-shards
TESTS += t/t-tok t/t-spm t/t-shards t/tokenizer-cli.sh t/tokens-task.sh
EXTRA_DIST += t/tokenizer-cli.sh t/tokens-task.sh docs/tokenizers.md bench/tok_bench.sh bench/tok_results.csv \
	t/ref/make_bpe_unicode.py t/ref/make_bpe_fixtures.py t/ref/make_spm_fixtures.sh \
	t/data/tok-corpus.txt t/data/tok-text.txt \
	t/data/tok-gpt2/vocab.json t/data/tok-gpt2/merges.txt t/data/tok-gpt2-text.ids \
	t/data/spm-text.txt \
	t/data/spm-uni.model t/data/spm-uni.ids t/data/spm-uni.dec \
	t/data/spm-bpe.model t/data/spm-bpe.ids t/data/spm-bpe.dec \
	t/data/spm-uni-cf.model t/data/spm-uni-cf.ids t/data/spm-uni-cf.dec \
	t/data/spm-bpe-id.model t/data/spm-bpe-id.ids t/data/spm-bpe-id.dec \
	t/data/spm-llama.model t/data/spm-llama.ids t/data/spm-llama.dec t/ref/make_llama_spm_fixture.sh \
	t/ref/make_hf_fixtures.py t/data/tok-hf/tokenizer.json t/data/tok-hf2/tokenizer.json
