# mk/nlp.mk
