# mk/mamba.mk — ssm/scan (selective scan), ssm/mamba (Mamba block), ssm/ssd (Mamba-2 / SSD)
libseqlab_la_SOURCES += ssm/scan.c
nobase_seqlabinc_HEADERS += ssm/scan.h
check_PROGRAMS += t/t-scan
TESTS += t/t-scan
