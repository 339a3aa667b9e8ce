# mk/nlp.mk — nlp/: tokenizers, vocabularies, corpus reader, n-gram LMs + ARPA, word2vec
libseqlab_la_SOURCES += nlp/vocab.c nlp/ngram.c nlp/arpa.c nlp/ngram_model.c \
	nlp/word2vec.c nlp/w2v_io.c nlp/w2v_eval.c
nobase_seqlabinc_HEADERS += nlp/vocab.h nlp/ngram.h nlp/ngram_model.h nlp/word2vec.h
EXTRA_DIST += t/ref/make_ngram_text.py t/data/ngram-train.txt t/data/ngram-test.txt
check_PROGRAMS += t/t-ngram
TESTS += t/t-ngram
EXTRA_DIST += t/ref/make_ngram_fixtures.sh t/data/ngram-kenlm-o3.arpa t/data/ngram-kenlm-o5.arpa \
	t/data/ngram-kenlm-o3.query t/data/ngram-kenlm-o5.query t/data/ngram-kenlm-loads-seqlab.log
TESTS += t/ngram-cli.sh
EXTRA_DIST += t/ngram-cli.sh
