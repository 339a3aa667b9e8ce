# mk/experiments.mk
