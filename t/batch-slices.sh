#!/bin/sh
# t/batch-slices.sh — `seqlab train --batch-slices any|native` (lab/replicas.h, issue #16 item 4):
# with 2 threads a model without slices of its own (Mamba, LSTM inside lm:) splits its batch over
# a replica; two such runs give the same weights bit for bit, and they stay within float
# rounding of the kernels' own threading (native); a stopped run resumes to the same weights; a
# bad value exits 2 with a message.
SEQLAB=${SEQLAB:-./seqlab}
BUILD=${SL_BUILDDIR:-.}
CMP=$BUILD/t/st-cmp
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
echo "1..8"
TR="$SEQLAB train --task charlm --seq-len 32 --batch 6 --steps 4 --eval-every 0 --eval-batches 1 --threads 2 --no-progress"
for mix in mamba lstm; do
    M=lm:mixer=$mix,d_model=32,n_layer=2
    $TR --model $M --out "$tmp/$mix-a" >"$tmp/o" 2>"$tmp/e" &&
        $TR --model $M --out "$tmp/$mix-b" >"$tmp/o" 2>>"$tmp/e" &&
        $TR --model $M --out "$tmp/$mix-n" --batch-slices native >"$tmp/o" 2>>"$tmp/e"
    rc=$?
    r=$($CMP "$tmp/$mix-a/model.safetensors" "$tmp/$mix-b/model.safetensors" 2>&1)
    ok "$([ $rc = 0 ] && echo "$r" | grep -q 'bitwise 1'; echo $?)" "$mix, 2 threads, sliced on a replica twice: the same weights ($r)"
    r=$($CMP "$tmp/$mix-a/model.safetensors" "$tmp/$mix-n/model.safetensors" 2>&1)
    rel=$(echo "$r" | sed -n 's/.*max_rel \([^ ]*\).*/\1/p')
    ok "$(awk -v r="$rel" 'BEGIN { exit !(r != "" && r + 0 <= 1e-4) }'; echo $?)" "$mix: any == native within 1e-4 after 4 steps ($r)"
done
# stopped at 2, resumed with the flag: the same weights as 4 steps straight
M=lm:mixer=mamba,d_model=32,n_layer=2
$TR --model $M --out "$tmp/r" --stop-after 2 >"$tmp/o" 2>"$tmp/e" &&
    $SEQLAB train --resume "$tmp/r" --steps 4 --threads 2 --batch-slices any --no-progress >"$tmp/o" 2>>"$tmp/e"
rc=$?
r=$($CMP "$tmp/mamba-a/model.safetensors" "$tmp/r/model.safetensors" 2>&1)
ok "$([ $rc = 0 ] && echo "$r" | grep -q 'bitwise 1'; echo $?)" "mamba stopped at 2 and resumed to 4 == 4 steps straight ($r)"
# the dry run counts the replica's gradient block: any > native by the parameter bytes
$TR --model $M --dry-run >"$tmp/da" 2>&1 && $TR --model $M --dry-run --batch-slices native >"$tmp/dn" 2>&1
rc=$?
ba=$(sed -n 's/^buffers: \([0-9.]*\).*/\1/p' "$tmp/da" | head -n 1)
bn=$(sed -n 's/^buffers: \([0-9.]*\).*/\1/p' "$tmp/dn" | head -n 1)
ok "$([ $rc = 0 ] && awk -v a="$ba" -v b="$bn" 'BEGIN { exit !(a != "" && a + 0 > b + 0) }'; echo $?)" "dry run: the replica's gradients counted (buffers $ba > $bn)"
$TR --model $M --out "$tmp/bad" --batch-slices some >"$tmp/o" 2>"$tmp/e"
ok "$([ $? = 2 ] && grep -q -- "--batch-slices: 'some' is not any or native" "$tmp/e" && [ ! -e "$tmp/bad" ]; echo $?)" "a bad value exits 2: $(head -n 1 "$tmp/e")"
# one thread: nothing to split, the flag changes nothing
$SEQLAB train --task charlm --seq-len 32 --batch 6 --steps 2 --eval-every 0 --eval-batches 1 --threads 1 --no-progress --model $M --out "$tmp/o1" >"$tmp/o" 2>"$tmp/e" &&
    $SEQLAB train --task charlm --seq-len 32 --batch 6 --steps 2 --eval-every 0 --eval-batches 1 --threads 1 --no-progress --model $M --out "$tmp/o2" --batch-slices native >"$tmp/o" 2>>"$tmp/e"
rc=$?
r=$($CMP "$tmp/o1/model.safetensors" "$tmp/o2/model.safetensors" 2>&1)
ok "$([ $rc = 0 ] && echo "$r" | grep -q 'bitwise 1'; echo $?)" "one thread: any == native bit for bit ($r)"
