# mk/cli.mk — tests of the seqlab program's command line (messages, exit codes)
TESTS += t/cli-messages.sh
EXTRA_DIST += t/cli-messages.sh
TESTS += t/train-runs.sh
EXTRA_DIST += t/train-runs.sh
