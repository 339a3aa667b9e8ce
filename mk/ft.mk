# mk/ft.mk — fine-tuning and post-training (issue 22): --init-from (lab/finetune), LoRA
# (seq/lora, `seqlab lora`), their tests and docs/finetune.md.
libseqlab_la_SOURCES += lab/finetune.c lab/dpo.c
nobase_seqlabinc_HEADERS += lab/finetune.h lab/dpo.h
TESTS += t/finetune.sh
EXTRA_DIST += docs/finetune.md t/finetune.sh
libseqlab_la_SOURCES += seq/lora.c
nobase_seqlabinc_HEADERS += seq/lora.h
seqlab_SOURCES += src/cmd_lora.c
check_PROGRAMS += t/t-lora
TESTS += t/t-lora
check_PROGRAMS += t/t-dpo
TESTS += t/t-dpo t/lora-learn.sh
EXTRA_DIST += t/lora-learn.sh
