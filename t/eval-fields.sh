#!/bin/sh
# t/eval-fields.sh — `seqlab eval` names its fields for the task: a language model reports
# val_loss and ppl (no accuracy count), an accuracy task accuracy and the positions scored,
# an mse task mse; every task run, task, step, metric, value, loss and params.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
# keys JSON: the object's keys in order, one line, space-separated
keys() { sed 's/"[^"]*": *\("[^"]*"\|[-+0-9.eE]*\)/\n&/g' "$1" | sed -n 's/^"\([^"]*\)":.*/\1/p' | tr '\n' ' '; }
i=0; while [ $i -lt 40 ]; do echo "the quick brown fox $i"; i=$((i+1)); done >"$tmp/text.txt"
common="--steps 4 --batch 4 --eval-batches 1 --threads 1 --no-progress"
"$SEQLAB" train --model lstm:hidden_size=8 --task charlm --corpus "$tmp/text.txt" --seq-len 16 $common --out "$tmp/lm" >/dev/null 2>&1
"$SEQLAB" train --model lstm:hidden_size=8 --task copy:length=3,delay=2 $common --out "$tmp/copy" >/dev/null 2>&1
"$SEQLAB" train --model lstm:hidden_size=8 --task adding:length=10 $common --out "$tmp/add" >/dev/null 2>&1
for r in lm copy add; do "$SEQLAB" eval --run "$tmp/$r" --json >"$tmp/$r.json" && "$SEQLAB" eval --run "$tmp/$r" >"$tmp/$r.txt"; ok $? "eval $r"; done
k=$(keys "$tmp/lm.json");   [ "$k" = "run task step metric value loss val_loss ppl params " ]; ok $? "LM fields: $k"
k=$(keys "$tmp/copy.json"); [ "$k" = "run task step metric value accuracy loss accuracy_counted params " ]; ok $? "accuracy fields: $k"
k=$(keys "$tmp/add.json");  [ "$k" = "run task step metric value mse loss params " ]; ok $? "mse fields: $k"
! grep -q accuracy "$tmp/lm.json" "$tmp/lm.txt" "$tmp/add.json"; ok $? "no accuracy field on an LM or an mse task"
grep -q '"metric": "val_loss"' "$tmp/lm.json" && grep -q '^val_loss: ' "$tmp/lm.txt" && grep -q '^ppl: ' "$tmp/lm.txt"; ok $? "LM text output: val_loss, ppl"
v=$(sed 's/.*"value": \([^,]*\),.*/\1/' "$tmp/copy.json"); a=$(sed 's/.*"accuracy": \([^,]*\),.*/\1/' "$tmp/copy.json")
[ -n "$v" ] && [ "$v" = "$a" ]; ok $? "value is the metric ($v = $a)"
grep -q '^accuracy_counted: [1-9]' "$tmp/copy.txt" && grep -q '^mse: ' "$tmp/add.txt"; ok $? "text output names the task's fields"
# a run directory name that needs JSON escaping
mkdir -p "$tmp/q\"d" && cp "$tmp/add/"* "$tmp/q\"d/"
"$SEQLAB" eval --run "$tmp/q\"d" --json | grep -qF '"run": "'"$tmp"'/q\"d"'; ok $? "the run path is a JSON string (quotes escaped)"
echo "1..$n"
[ $fails -eq 0 ]
