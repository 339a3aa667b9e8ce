# mk/transformer.mk
