#!/bin/sh
# t/time-budget.sh — `seqlab train --time-budget S`: the run ends at a step boundary once its
# seconds reach S, with its final evaluation, log row, checkpoint and model; the budget is
# recorded in the run, so --resume refuses a spent budget and continues under a larger one.
# (No speed is asserted: only what the budget does to the run.)
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
expect() {
    want=$1; needle=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err" "$tmp/out"; then r=0; else r=1; echo "# got $got: $(head -c 300 "$tmp/err")"; fi
    ok $r "exit $want, '$needle': $*"
}
lastrow() { tail -1 "$1/log.csv"; }
ckpt_meta() { head -c 3000 "$1/checkpoint.safetensors" | grep -ao "\"$2\":\"[^\"]*\"" | head -1 | sed "s/\"$2\":\"//; s/\"\$//"; }

args="--model lstm:hidden_size=8 --task copy:length=3,delay=4 --batch 4 --eval-every 1000000 --threads 1 --no-progress"
expect 2 "--time-budget" "$SEQLAB" train $args --time-budget 0 --out "$tmp/x"
expect 2 "--time-budget" "$SEQLAB" train $args --time-budget abc --out "$tmp/x"
"$SEQLAB" train --help | grep -q -- "--time-budget"; ok $? "--help documents --time-budget"

# a budget well below what 10^9 steps take: the run ends on the budget
"$SEQLAB" train $args --steps 1000000000 --time-budget 0.3 --out "$tmp/a" >"$tmp/out" 2>"$tmp/err"; ok $? "budgeted run exits 0"
grep -q "time budget 0.3s reached" "$tmp/out"; ok $? "it says the budget ended it"
step=$(lastrow "$tmp/a" | cut -d, -f1); secs=$(lastrow "$tmp/a" | cut -d, -f2); val=$(lastrow "$tmp/a" | cut -d, -f5)
[ "$step" -gt 0 ] && [ "$step" -lt 1000000000 ]; ok $? "ended at step $step, before --steps"
awk -v s="$secs" 'BEGIN { exit !(s >= 0.3) }'; ok $? "its last row's seconds ($secs) reach the budget"
[ -n "$val" ]; ok $? "the last row has the final evaluation ($val)"
[ -s "$tmp/a/model.safetensors" ]; ok $? "model.safetensors written"
[ "$(ckpt_meta "$tmp/a" step)" = "$step" ]; ok $? "the checkpoint is at the last step"
[ "$(ckpt_meta "$tmp/a" time_budget)" = "0.3" ]; ok $? "the budget is recorded in the run"
ckpt_meta "$tmp/a" model_canonical | grep -q '^lm:mixer=lstm,d_model=[0-9]*,.*,hidden_size=8,'
ok $? "the checkpoint records the model's canonical spec (lab/registry.h)"
"$SEQLAB" eval --run "$tmp/a" | grep -q "^step: $step\$"; ok $? "eval reads the budgeted run"

# resuming: the recorded budget is spent; a larger one continues
cp "$tmp/a/log.csv" "$tmp/log0"
expect 1 "time budget" "$SEQLAB" train --resume "$tmp/a" --steps 1000000000 --threads 1
cmp -s "$tmp/log0" "$tmp/a/log.csv"; ok $? "a refused resume leaves the log as it was"
"$SEQLAB" train --resume "$tmp/a" --time-budget 0.6 --threads 1 >"$tmp/out" 2>&1; ok $? "resume with a larger budget (no --steps: the run's own length)"
step2=$(lastrow "$tmp/a" | cut -d, -f1)
[ "$step2" -gt "$step" ]; ok $? "it continued from step $step to $step2"
[ "$(ckpt_meta "$tmp/a" time_budget)" = "0.6" ]; ok $? "the new budget is recorded"

# --steps still ends a run first when it comes first
"$SEQLAB" train $args --steps 25 --time-budget 1000 --out "$tmp/b" >"$tmp/out" 2>&1; ok $? "steps within a large budget"
[ "$(lastrow "$tmp/b" | cut -d, -f1)" = 25 ] && ! grep -q "budget" "$tmp/out"; ok $? "--steps 25 ends it at 25"
# without --steps: no step limit, constant LR after warmup (no cosine over an unknown length)
"$SEQLAB" train $args --warmup 2 --time-budget 0.2 --out "$tmp/c" >/dev/null 2>&1; ok $? "budget without --steps"
[ "$(ckpt_meta "$tmp/c" cosine)" = 0 ] && [ "$(lastrow "$tmp/c" | cut -d, -f3)" = 0.003 ]; ok $? "its LR stays at --lr"
echo "1..$n"
