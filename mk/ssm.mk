# mk/ssm.mk
