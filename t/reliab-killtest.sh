#!/bin/sh
# t/reliab-killtest.sh — crash-safe training, bounded: bench/killtest.sh with 20 SIGKILLs at
# random moments (checkpoint writes included) over 12-step runs, each resumed to the end and
# compared bitwise with an uninterrupted run (bench/killtest.sh documents every check; run it
# with its default of 1000 kills for the long version).
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..2"
STEPS=12 sh "$SL_SRCDIR/bench/killtest.sh" 20 7 > "$tmp/csv" 2> "$tmp/err"
rc=$?
sed 's/^/# /' "$tmp/csv"
sed 's/^/# /' "$tmp/err" | head -20
row=$(tail -n 1 "$tmp/csv")
kills=$(echo "$row" | cut -d, -f1) completed=$(echo "$row" | cut -d, -f2) resumes=$(echo "$row" | cut -d, -f3)
if [ "$kills" = 20 ] && [ "${completed:-0}" -ge 1 ] && [ "${resumes:-0}" -ge 1 ]; then
    echo "ok 1 - 20 kills made, $resumes resumes, $completed runs completed"
else
    echo "not ok 1 - the kill loop did not run as planned: $row"
fi
if [ $rc -eq 0 ]; then echo "ok 2 - no truncated file, no temporary left, every completed run identical to the uninterrupted one"
else echo "not ok 2 - killtest found problems (exit $rc): $row"; fi
