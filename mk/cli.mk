# mk/cli.mk — tests of the seqlab program's command line (messages, exit codes)
TESTS += t/cli-messages.sh
EXTRA_DIST += t/cli-messages.sh
TESTS += t/train-runs.sh
EXTRA_DIST += t/train-runs.sh

# the public C API: <seqlab/seqlab.h> (installed as $(includedir)/seqlab/seqlab.h) and the
# example program, built and run by make check (t/example.sh)
seqlabtopdir = $(includedir)/seqlab
seqlabtop_HEADERS = include/seqlab/seqlab.h
check_PROGRAMS += examples/train_copy
examples_train_copy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/include
TESTS += t/example.sh
EXTRA_DIST += t/example.sh
TESTS += t/eval-fields.sh
EXTRA_DIST += t/eval-fields.sh

# seqlab export (src/cmd_export.c) and its test
seqlab_SOURCES += src/cmd_export.c
TESTS += t/export.sh
EXTRA_DIST += t/export.sh
EXTRA_DIST += docs/interop.md contrib/seqlab_torch.py
