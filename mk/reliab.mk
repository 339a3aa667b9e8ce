# mk/reliab.mk — reliability tests (issue 19): atomic outputs, hostile inputs, divergence,
# crash-safe training
TESTS += t/reliab-output.sh
EXTRA_DIST += t/reliab-output.sh
