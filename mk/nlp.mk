# mk/nlp.mk — nlp/: tokenizers, vocabularies, corpus reader, n-gram LMs + ARPA, word2vec
libseqlab_la_SOURCES += nlp/vocab.c nlp/ngram.c nlp/arpa.c nlp/ngram_bin.c nlp/ngram_model.c \
	nlp/word2vec.c nlp/w2v_io.c nlp/w2v_eval.c
nobase_seqlabinc_HEADERS += nlp/vocab.h nlp/ngram.h nlp/ngram_model.h nlp/word2vec.h
check_PROGRAMS += t/t-ngram t/t-ngram-bin t/t-w2v
TESTS += t/t-ngram t/t-ngram-bin t/t-w2v t/ngram-cli.sh t/w2v-cli.sh
EXTRA_DIST += t/ngram-cli.sh t/w2v-cli.sh \
	t/ref/make_ngram_text.py t/ref/make_ngram_fixtures.sh t/ref/make_w2v_fixtures.py \
	t/data/ngram-train.txt t/data/ngram-test.txt \
	t/data/ngram-kenlm-o3.arpa t/data/ngram-kenlm-o5.arpa \
	t/data/ngram-kenlm-o3.query t/data/ngram-kenlm-o5.query t/data/ngram-kenlm-loads-seqlab.txt \
	t/ref/make_ngram_prune_fixtures.sh t/data/ngram-kenlm-o3-prune01.arpa t/data/ngram-kenlm-o5-prune0112.arpa \
	t/data/ngram-kenlm-prune.txt \
	t/data/w2v-gensim.txt t/data/w2v-gensim.bin t/data/w2v-gensim-reads-seqlab.txt \
	t/data/w2v-questions.txt t/data/w2v-pairs.txt \
	bench/w2v_bench.sh bench/w2v_gensim.py bench/ngram_bench.sh bench/ngram_results.csv bench/ngram_results_runs.csv plots/w2v_pca.gp docs/nlp.md
