#!/usr/bin/env bash
# experiments/memory.sh — long-range memory: the copying memory problem (accuracy) and the
# adding problem (MSE) against the gap length, for every trainable mixer.
EXP_NAME=memory
EXP_HELP="usage: experiments/memory.sh [--full | --smoke] [options]
  Trains every mixer (lm:/seq: wrapper) on copy:delay=GAP and adding:length=T for a range of
  gaps and writes results/memory/{copy,adding}.csv and memory.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) GAPS="5 10"; LENGTHS="10"; STEPS=20; D=16; L=1; BATCH=8; COPY_LEN=3; SYMS=4 ;;
quick) GAPS="10 30 100"; LENGTHS="20 50 100"; STEPS=300; D=32; L=1; BATCH=16; COPY_LEN=5; SYMS=4 ;;
full) GAPS="25 50 100 200 500 1000"; LENGTHS="50 100 200 500 1000"; STEPS=3000; D=64; L=2; BATCH=32; COPY_LEN=10; SYMS=8 ;;
esac
exp_meta copy_task "copy:length=$COPY_LEN,n_symbols=$SYMS,delay=GAP for GAP in {$GAPS}"
exp_meta adding_task "adding:length=T for T in {$LENGTHS}"
exp_meta model "lm:/seq:mixer=MIXER,d_model=$D,n_layer=$L"
exp_meta training "steps=$STEPS batch=$BATCH lr=3e-3 (seqlab train defaults otherwise)"

HDR="mixer,gap,seq_len,steps,d_model,n_layer,metric,value,loss,params,train_seconds,status,reason"
MIXERS=$(exp_mixers | tr '\n' ' ')
exp_meta mixers "$MIXERS"
T_MAX=0
for g in $GAPS; do [ $((2 * COPY_LEN + g)) -gt "$T_MAX" ] && T_MAX=$((2 * COPY_LEN + g)); done
for T in $LENGTHS; do [ "$T" -gt "$T_MAX" ] && T_MAX=$T; done

run_one() {   # row_file task_kind gap seq_len task_spec mixer
    local csv=$1 kind=$2 gap=$3 T=$4 task=$5 mx=$6
    local dir="$OUT/runs/$kind-$mx-$gap" log="$OUT/logs/$kind-$mx-$gap.log" res secs metric
    metric=accuracy
    [ "$kind" = adding ] && metric=mse
    # the wrapper is named explicitly (lm: token task, seq: real task) so that d_model reaches
    # mixers whose own width key is also called d_model
    local model="lm:mixer=$mx,d_model=$D,n_layer=$L"
    [ "$kind" = adding ] && model="seq:mixer=$mx,d_model=$D,n_layer=$L"
    # mixers with a length limit (attention's max_seq_len) get the longest sequence
    model="$model$(exp_len_keys "$mx" "$T_MAX")"
    exp_log "$kind gap=$gap $mx"
    if exp_train "$dir" "$log" --model "$model" --task "$task" --steps "$STEPS" --batch "$BATCH" \
        --eval-every 0 --ckpt-every 0 && res=$(exp_eval "$dir"); then
        set -- $res
        secs=$(exp_last_seconds "$dir")
        echo "$mx,$gap,$T,$STEPS,$D,$L,$metric,$1,$2,$3,$secs,ok," >"$csv"
    else
        echo "$mx,$gap,$T,$STEPS,$D,$L,$metric,,,,,failed,$(exp_failure_reason "$log")" >"$csv"
        exp_log "$kind gap=$gap $mx FAILED (see $log)"
    fi
}

for mx in $MIXERS; do
    for g in $GAPS; do
        exp_row_file copy
        exp_bg run_one "$ROW" copy "$g" $((2 * COPY_LEN + g)) "copy:length=$COPY_LEN,n_symbols=$SYMS,delay=$g" "$mx"
    done
    for T in $LENGTHS; do
        exp_row_file adding
        exp_bg run_one "$ROW" adding "$T" "$T" "adding:length=$T" "$mx"
    done
done
exp_wait
exp_collect copy "$HDR"
exp_collect adding "$HDR"
exp_plot memory.gp "$OUT/memory.png" copy="$OUT/copy.csv" adding="$OUT/adding.csv" \
    mixers="$(exp_ok_labels mixer "$OUT/copy.csv" "$OUT/adding.csv")" \
    chance="$(awk -v s="$SYMS" 'BEGIN { print 1 / s }')"
