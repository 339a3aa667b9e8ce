# mk/mamba.mk
