#!/bin/sh
# bench/killtest.sh — crash-safe training under SIGKILL. Trains a small run uninterrupted
# (the reference), then trains the same run again while killing `seqlab train` with SIGKILL
# at random moments (uniform over the reference's wall time, so inside checkpoint writes too:
# the run checkpoints every step), resuming after each kill (or restarting with --force when
# no checkpoint exists yet), until KILLS kills have been made; each time a run completes it is
# compared with the reference and a new one starts. After every kill: checkpoint.safetensors,
# if present, must load (seqlab eval), model.safetensors must not exist unless it equals the
# reference's, and log.csv must hold whole lines only. Each completed run: model.safetensors
# bitwise identical to the reference's, log.csv's deterministic columns (step, lr, train_loss,
# val_loss, val_metric; not seconds or tokens/s) identical, so no step is missing or doubled.
#
# usage: [STEPS=30] SEQLAB=./seqlab sh bench/killtest.sh [KILLS] [SEED]   (default 1000 kills, seed 1)
# CSV on stdout: kills,completed_runs,resumes,restarts,bad_checkpoints,bad_models,partial_logs,
#                leftover_temps,mismatched_runs,seconds
# Exit status 0 iff every check passed. t/reliab-killtest.sh runs it with a few dozen kills.
SEQLAB=${SEQLAB:-./seqlab}
# an uninstalled build's seqlab is libtool's wrapper script, whose start-up (~0.5 s of shell)
# would dwarf the run: use the binary it wraps, with the library beside it
lt=$(dirname "$SEQLAB")/.libs
if [ -x "$lt/seqlab" ] && [ "$(head -c 2 "$SEQLAB")" = "#!" ]; then
    LD_LIBRARY_PATH="$lt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    SEQLAB="$lt/seqlab"
fi
KILLS=${1:-1000}
STEPS=${STEPS:-30}
x=${2:-1}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 400); do echo "the cat sat on the mat and the dog ate the log $i"; done > "$tmp/corpus.txt"
ARGS="--model gpt:n_layer=1,n_embd=16,n_head=2 --task charlm:corpus=$tmp/corpus.txt,seq_len=16 --batch 4 --steps $STEPS
      --ckpt-every 1 --eval-every 1 --eval-batches 1 --threads 1 --seed 3 --no-progress"
now_ms() { date +%s%3N; }
rand() { x=$(( (x * 1103515245 + 12345) % 2147483648 )); r=$(( x / 65536 % $1 )); }   # sets r (no subshell)
cols() { cut -d, -f1,3,4,5,6 "$1"; }

t0=$(now_ms)
"$SEQLAB" train $ARGS --out "$tmp/ref" > "$tmp/ref.out" 2> "$tmp/ref.err" || { cat "$tmp/ref.err" >&2; exit 1; }
ref_ms=$(( $(now_ms) - t0 ))
[ $ref_ms -gt 0 ] || ref_ms=1
cols "$tmp/ref/log.csv" > "$tmp/ref.cols"

kills=0 completed=0 resumes=0 restarts=0 bad_ckpt=0 bad_model=0 partial=0 temps=0 mismatch=0
start=$(now_ms)
run="$tmp/run"
rm -rf "$run"
while [ $kills -lt $KILLS ]; do
    if [ -e "$run/checkpoint.safetensors" ]; then
        "$SEQLAB" train --resume "$run" --steps $STEPS --threads 1 --no-progress > "$tmp/out" 2> "$tmp/err" &
        pid=$!
        resumes=$((resumes + 1))
    else
        "$SEQLAB" train $ARGS --force --out "$run" > "$tmp/out" 2> "$tmp/err" &
        pid=$!
        restarts=$((restarts + 1))
    fi
    rand $((ref_ms * 12 / 10 + 1))
    sleep "$(printf '%d.%03d' $((r / 1000)) $((r % 1000)))"
    kill -9 $pid 2> "$tmp/kill.err" && kills=$((kills + 1))
    { wait $pid; } 2> "$tmp/wait.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 137 ]; then
        echo "run failed with exit $rc: $(cat "$tmp/err")" >&2
        mismatch=$((mismatch + 1))
        rm -rf "$run"
        continue
    fi
    # integrity after every stop
    if [ -e "$run/checkpoint.safetensors" ] && ! "$SEQLAB" eval --run "$run" --batches 1 > "$tmp/eout" 2> "$tmp/eerr"; then
        bad_ckpt=$((bad_ckpt + 1)); echo "bad checkpoint: $(cat "$tmp/eerr")" >&2
    fi
    if [ -e "$run/model.safetensors" ] && ! cmp -s "$run/model.safetensors" "$tmp/ref/model.safetensors"; then
        bad_model=$((bad_model + 1)); echo "model.safetensors differs from the reference (exit $rc)" >&2
    fi
    if [ -s "$run/log.csv" ] && [ "$(tail -c 1 "$run/log.csv" | od -An -c | tr -d ' ')" != '\n' ]; then
        partial=$((partial + 1)); echo "log.csv ends in a partial line" >&2
    fi
    if [ $rc -eq 0 ]; then
        # a completed run: identical to the reference; the next cycle starts afresh
        completed=$((completed + 1))
        if ! cmp -s "$run/model.safetensors" "$tmp/ref/model.safetensors" || ! cols "$run/log.csv" | cmp -s - "$tmp/ref.cols"; then
            mismatch=$((mismatch + 1)); echo "completed run $completed differs from the reference" >&2
            cols "$run/log.csv" | diff - "$tmp/ref.cols" | head -5 >&2
        fi
        n_tmp=$(find "$run" -name '.*.tmp.*' | wc -l)
        temps=$((temps + n_tmp))
        rm -rf "$run"
    fi
done
echo "kills,completed_runs,resumes,restarts,bad_checkpoints,bad_models,partial_logs,leftover_temps,mismatched_runs,seconds"
echo "$kills,$completed,$resumes,$restarts,$bad_ckpt,$bad_model,$partial,$temps,$mismatch,$(( ($(now_ms) - start) / 1000 ))"
[ $bad_ckpt -eq 0 ] && [ $bad_model -eq 0 ] && [ $partial -eq 0 ] && [ $temps -eq 0 ] && [ $mismatch -eq 0 ]
