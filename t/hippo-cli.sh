#!/bin/sh
# t/hippo-cli.sh — the ssm family from the command line: `seqlab hippo` (help, usage errors
# (exit 2), failures (exit 1), the CSV, the reconstruction error falling as N grows) and
# `seqlab forward` on the PyTorch S4D fixture (t/ref/make_s4d_fixtures.py) in sequence and
# step mode (max abs difference <= 1e-4, compared without Python).
SEQLAB=${SEQLAB:-./seqlab}
if [ ! -x "$SEQLAB" ]; then echo "1..0 # SKIP seqlab not built"; exit 0; fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
check() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }
echo "1..15"

"$SEQLAB" hippo --help >"$tmp/help" 2>&1; rc=$?
grep -q "usage: seqlab hippo" "$tmp/help"; check $(( rc != 0 || $? != 0 )) "--help prints usage, exit 0"

"$SEQLAB" hippo --out "$tmp/a.csv" --bogus 1 2>"$tmp/err"; rc=$?
grep -q "usage:" "$tmp/err"; check $(( rc != 2 || $? != 0 )) "unknown flag: usage on stderr, exit 2 (got $rc)"

"$SEQLAB" hippo --out "$tmp/a.csv" --N abc 2>/dev/null; rc=$?
check $(( rc != 2 )) "non-numeric --N: exit 2 (got $rc)"

"$SEQLAB" hippo --out "$tmp/a.csv" --measure nope 2>/dev/null; rc=$?
check $(( rc != 2 )) "unknown measure: exit 2 (got $rc)"

"$SEQLAB" hippo --out "$tmp/a.csv" --discretization zoh 2>/dev/null; rc=$?
check $(( rc != 2 )) "legs with zoh: exit 2 (got $rc)"

"$SEQLAB" hippo 2>/dev/null; rc=$?
check $(( rc != 2 )) "missing --out: exit 2 (got $rc)"

"$SEQLAB" hippo --out "$tmp/no/such/dir/a.csv" >/dev/null 2>"$tmp/err"; rc=$?
grep -q "seqlab: error:" "$tmp/err"; check $(( rc != 1 || $? != 0 )) "unwritable output: error message, exit 1 (got $rc)"

"$SEQLAB" hippo --out "$tmp/s.csv" --N 8 --length 500 >"$tmp/o8"; rc8=$?
"$SEQLAB" hippo --out "$tmp/l.csv" --N 32 --length 500 >"$tmp/o32"; rc32=$?
lines=$(wc -l <"$tmp/l.csv")
head -1 "$tmp/l.csv" | grep -q "^t,signal,online,online_err,final,final_err$"
check $(( rc8 != 0 || rc32 != 0 || $? != 0 || lines != 501 )) "CSV with header and 500 rows (got $lines lines)"

e8=$(sed -n 's/.*final RMSE \([^ ]*\) .*/\1/p' "$tmp/o8")
e32=$(sed -n 's/.*final RMSE \([^ ]*\) .*/\1/p' "$tmp/o32")
# both values must parse as positive numbers: empty strings compare as strings in awk
awk -v a="$e8" -v b="$e32" 'BEGIN { num = "^[0-9.]+([eE][-+]?[0-9]+)?$"; exit !(a ~ num && b ~ num && b + 0 > 0 && b + 0 < (a + 0) / 10) }'
check $? "legs final RMSE falls with N: $e8 (N=8) -> $e32 (N=32)"

# the CSV's error column is consistent with its signal and reconstruction columns
awk -F, 'NR > 1 { d = $5 - $2 - $6; if (d < 0) d = -d; if (d > 1e-6) bad = 1 } END { exit bad }' "$tmp/l.csv"
check $? "final_err = final - signal in every row"

ls -a "$tmp" | grep -q "\.tmp\." ; check $(( $? == 0 )) "no temporary files left behind"
. "${SL_SRCDIR:-.}/t/npy.sh"
D=${SL_SRCDIR:-.}/t/data
# the S4D fixture is committed: a missing file fails instead of skipping
[ -f "$D/s4d_weights.safetensors" ] && [ -f "$D/s4d_input.npy" ] && [ -f "$D/s4d_output.npy" ]
check $(( $? != 0 )) "S4D fixture files present"
{
    for mode in seq step; do
        flag=; [ $mode = step ] && flag=--step
        "$SEQLAB" forward --model s4d:d_model=8,d_state=16 --weights "$D/s4d_weights.safetensors" --input "$D/s4d_input.npy" \
            --output "$tmp/y_$mode.npy" $flag >/dev/null 2>"$tmp/err"; rc=$?
        npy_values "$tmp/y_$mode.npy" >"$tmp/a" 2>/dev/null
        npy_values "$D/s4d_output.npy" >"$tmp/b"
        d=$(paste "$tmp/a" "$tmp/b" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ } END { if (n != 1024) m = 1e9; printf "%.3g", m }')
        awk -v d="$d" 'BEGIN { exit !(d <= 1e-4) }'
        check $(( rc != 0 || $? != 0 )) "seqlab forward ($mode mode) == PyTorch S4D fixture (max abs diff $d)"
    done
    # the comparison can fail: other weights (from a seed) must not match
    "$SEQLAB" forward --model s4d:d_model=8,d_state=16 --seed 3 --input "$D/s4d_input.npy" --output "$tmp/y_r.npy" >/dev/null 2>&1
    npy_values "$tmp/y_r.npy" >"$tmp/a"
    d=$(paste "$tmp/a" "$tmp/b" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g", m }')
    awk -v d="$d" 'BEGIN { exit !(d > 1e-2) }'
    check $? "randomly initialised weights differ from the fixture (max abs diff $d)"
}
exit $(( fails != 0 ))
