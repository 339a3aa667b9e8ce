# mk/recurrent.mk
