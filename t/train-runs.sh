#!/bin/sh
# t/train-runs.sh — seqlab train never overwrites a run by accident: an --out (or the default
# run/) that holds a run is refused with how to resume or replace it (--force); --force
# replaces only after the new spec is known good. --resume keeps the recorded LR schedule
# (steps past it at the floor); --resume --extend-schedule makes the cosine decay over the new
# total, exactly as a run planned for that many steps.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
expect() {   # expect STATUS NEEDLE CMD...: exit status and a stderr substring
    want=$1; needle=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err"; then r=0; else r=1; echo "# got $got: $(head -c 300 "$tmp/err")"; fi
    ok $r "exit $want, '$needle'"
}
# lr column of log.csv at steps > FROM: "step lr" lines
lrs() { awk -F, -v from="$2" 'NR > 1 && $1 > from { print $1, $3 }' "$1/log.csv"; }
args="--model lstm:hidden_size=8 --task copy:length=3,delay=2 --batch 4 --eval-every 5 --eval-batches 1 --lr 1e-2 --warmup 2 --threads 1 --no-progress"

"$SEQLAB" train $args --steps 20 --out "$tmp/a" >/dev/null 2>&1; ok $? "a first run into a new --out"
cp "$tmp/a/checkpoint.safetensors" "$tmp/a.ckpt"; cp "$tmp/a/log.csv" "$tmp/a.log"
expect 1 "run directory '$tmp/a' already holds a run (at step 20 of 20): continue it with 'seqlab train --resume $tmp/a --steps N'" \
    "$SEQLAB" train $args --steps 30 --out "$tmp/a"
grep -qF -- "--force" "$tmp/err"; ok $? "  ... the message names --force"
cmp -s "$tmp/a.ckpt" "$tmp/a/checkpoint.safetensors" && cmp -s "$tmp/a.log" "$tmp/a/log.csv"; ok $? "  ... the run is untouched"
# a directory with only one of the run's files is a run too
mkdir "$tmp/b" && echo "step" >"$tmp/b/log.csv"
expect 1 "run directory '$tmp/b' already holds a run:" "$SEQLAB" train $args --steps 5 --out "$tmp/b"
# an existing empty directory is fine
mkdir "$tmp/c"
"$SEQLAB" train $args --steps 5 --out "$tmp/c" >/dev/null 2>&1 && [ -s "$tmp/c/model.safetensors" ]; ok $? "an empty existing directory takes a run"
# the default --out (run/ in the current directory)
(cd "$tmp" && "$SEQLAB" train $args --steps 5 >/dev/null 2>&1); ok $? "a run into the default run/"
(cd "$tmp" && "$SEQLAB" train $args --steps 5 >"$tmp/out" 2>"$tmp/err"); r=$?
[ $r -eq 1 ] && grep -qF "run directory 'run' already holds a run (at step 5 of 5)" "$tmp/err"; ok $? "the default run/ is refused the second time"
# --force: a bad spec does not cost the old run; a good one replaces it
expect 2 "unknown model 'lstmm'" "$SEQLAB" train --model lstmm --task copy --steps 5 --force --out "$tmp/a"
cmp -s "$tmp/a.ckpt" "$tmp/a/checkpoint.safetensors"; ok $? "  ... --force with a bad spec leaves the old run"
"$SEQLAB" train $args --steps 10 --force --out "$tmp/a" >/dev/null 2>&1; ok $? "--force replaces the run"
[ "$(awk -F, 'END { print $1 }' "$tmp/a/log.csv")" = 10 ] && [ "$(grep -c . "$tmp/a/log.csv")" -eq 3 ]; ok $? "  ... log.csv is the new run's alone (header + steps 5, 10)"
expect 2 "--resume takes only" "$SEQLAB" train --resume "$tmp/a" --steps 20 --force
# --resume: the recorded schedule, steps past it at the floor (lr/10 = 0.001)
"$SEQLAB" train $args --steps 20 --force --out "$tmp/a" >/dev/null 2>&1
cp -r "$tmp/a" "$tmp/ext"
"$SEQLAB" train --resume "$tmp/a" --steps 40 --threads 1 >/dev/null 2>&1; ok $? "resume to 40 steps"
[ "$(lrs "$tmp/a" 20 | awk '$2 != 0.001' | wc -l)" -eq 0 ] && [ "$(lrs "$tmp/a" 20 | wc -l)" -eq 4 ]; ok $? "  ... steps 25..40 at the floor lr 0.001"
# --extend-schedule: the lr of the resumed steps is that of a run planned for 40 steps
"$SEQLAB" train --resume "$tmp/ext" --steps 40 --extend-schedule --threads 1 >/dev/null 2>&1; ok $? "resume to 40 steps with --extend-schedule"
"$SEQLAB" train $args --steps 40 --out "$tmp/plan40" >/dev/null 2>&1
lrs "$tmp/ext" 20 >"$tmp/l1"; lrs "$tmp/plan40" 20 >"$tmp/l2"
cmp -s "$tmp/l1" "$tmp/l2" && [ "$(wc -l <"$tmp/l1")" -eq 4 ] && [ "$(awk '$2 > 0.001' "$tmp/l1" | wc -l)" -eq 4 ]
ok $? "  ... steps 25..40 follow the 40-step cosine ($(tr '\n' ' ' <"$tmp/l1"))"
expect 1 "(at step 40 of 40)" "$SEQLAB" train $args --steps 5 --out "$tmp/ext"
expect 2 "--extend-schedule applies to --resume only" "$SEQLAB" train $args --steps 5 --extend-schedule --out "$tmp/d"
expect 2 "--extend-schedule needs --steps" "$SEQLAB" train --resume "$tmp/ext" --extend-schedule --time-budget 100
expect 1 "already decays over 40 steps, more than --steps 30" "$SEQLAB" train --resume "$tmp/ext" --steps 30 --extend-schedule
"$SEQLAB" train $args --steps 5 --schedule constant --out "$tmp/const" >/dev/null 2>&1
expect 1 "constant" "$SEQLAB" train --resume "$tmp/const" --steps 10 --extend-schedule
"$SEQLAB" train --help | grep -q -- "--extend-schedule" && "$SEQLAB" train --help | grep -q "floor"; ok $? "--help says what --resume does to the schedule"
echo "1..$n"
[ $fails -eq 0 ]
