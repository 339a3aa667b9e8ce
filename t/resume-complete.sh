#!/bin/sh
# t/resume-complete.sh — `seqlab train --resume` of a run that has nothing left to train (at its
# last step, or at --stop-after) says so, exits 0 and leaves the run's files as they were;
# --steps below the run's step is an error (exit 1), and a larger --steps still continues.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..11"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# the run directory's files, with their contents' sums and modification times to the nanosecond
snap() { (cd "$1" && for f in *; do printf '%s %s %s\n' "$f" "$(cksum <"$f")" "$(stat -c %y "$f")"; done) }
args="--model lstm:hidden_size=8 --task copy:length=3,delay=2 --batch 4 --eval-every 3 --eval-batches 1 --threads 1 --no-progress"
$SEQLAB train $args --steps 6 --out "$tmp/a" >"$tmp/o0" 2>&1; ok $? "a 6-step run"
snap "$tmp/a" >"$tmp/s0"
sleep 0.05 # a rewrite would show in the modification times
$SEQLAB train --resume "$tmp/a" --steps 6 --no-progress >"$tmp/o1" 2>"$tmp/e1"; rc=$?
ok $rc "resuming the finished run exits 0"
grep -q "is already complete: at step 6 of 6" "$tmp/o1"; ok $? "it says the run is complete (at step 6 of 6)"
! grep -q "train_loss" "$tmp/o1"; ok $? "and prints no step's losses"
snap "$tmp/a" >"$tmp/s1"
cmp -s "$tmp/s0" "$tmp/s1"; rc=$?
ok $rc "no file of the run touched"
[ $rc = 0 ] || diff "$tmp/s0" "$tmp/s1" | sed 's/^/# /'
# a budgeted resume without --steps goes to the recorded length: the same
$SEQLAB train --resume "$tmp/a" --time-budget 1000 --no-progress >"$tmp/o2" 2>&1 && grep -q "already complete: at step 6 of 6" "$tmp/o2"
ok $? "--time-budget without --steps: complete too"
# killed between the last checkpoint and the model's write: no model.safetensors, or an older
# one; the resume writes it from the checkpoint (the same bytes) and trains nothing
cp "$tmp/a/model.safetensors" "$tmp/model0"
rm "$tmp/a/model.safetensors"
$SEQLAB train --resume "$tmp/a" --steps 6 --no-progress >"$tmp/o6" 2>&1 && grep -q "at step 6 of 6; model.safetensors written from the checkpoint" "$tmp/o6" &&
    cmp -s "$tmp/model0" "$tmp/a/model.safetensors"
ok $? "no model.safetensors: written from the checkpoint, the same bytes"
touch -d "@1000000000" "$tmp/a/model.safetensors"
$SEQLAB train --resume "$tmp/a" --steps 6 --no-progress >"$tmp/o7" 2>&1 && grep -q "model.safetensors written from the checkpoint" "$tmp/o7" &&
    [ "$(stat -c %Y "$tmp/a/model.safetensors")" != 1000000000 ] && cmp -s "$tmp/model0" "$tmp/a/model.safetensors"
ok $? "a model.safetensors older than the checkpoint: written again"
snap "$tmp/a" >"$tmp/s0"
# --stop-after at or below the run's step: nothing to train either
$SEQLAB train --resume "$tmp/a" --steps 9 --stop-after 4 --no-progress >"$tmp/o3" 2>&1 && grep -q "at step 6 of 9, at or past --stop-after 4: nothing to train" "$tmp/o3" &&
    snap "$tmp/a" | cmp -s "$tmp/s0" -
ok $? "--stop-after 4 on a run at step 6: exit 0, nothing touched"
# fewer steps than done: an error
$SEQLAB train --resume "$tmp/a" --steps 5 --no-progress >"$tmp/o4" 2>"$tmp/e4"; rc=$?
[ $rc = 1 ] && grep -q "already at step 6, past --steps 5" "$tmp/e4" && snap "$tmp/a" | cmp -s "$tmp/s0" -
ok $? "--steps 5 on a run at step 6: exit 1 with the reason, nothing touched"
# more steps: trains on to step 8
$SEQLAB train --resume "$tmp/a" --steps 8 --no-progress >"$tmp/o5" 2>&1 && grep -q "^step 8 " "$tmp/o5"
ok $? "--steps 8 continues the run to step 8"
