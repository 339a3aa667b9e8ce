#!/usr/bin/env bash
# experiments/memory.sh — long-range memory: the copying memory problem (accuracy) and the
# adding problem (MSE) against the gap length, for every trainable mixer; every configuration
# the median over seeds at its best learning rate.
EXP_NAME=memory
EXP_HELP="usage: experiments/memory.sh [--full | --smoke] [options]
  Trains every mixer (lm:/seq: wrapper; in the quick setting rnn, lstm, gru, s4, s4d, mamba and
  attention, the ones the claims name) on copy:delay=GAP and adding:length=T for a range of
  gaps, learning rates and seeds, and writes results/memory/{copy,adding}_runs.csv (every run),
  {copy,adding}.csv (per configuration: best learning rate, median, minimum and maximum over
  seeds) and memory.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) GAPS="5 10"; LENGTHS="10"; STEPS=20; ADD_STEPS=20; D=16; L=1; BATCH=8; COPY_LEN=3; SYMS=4 ;;
quick) GAPS="10 50"; LENGTHS="100"; STEPS=3000; ADD_STEPS=4000; D=32; L=2; BATCH=16; COPY_LEN=5; SYMS=4
    QUICK_MIXERS="rnn lstm gru s4 s4d mamba attention" ;;
full) GAPS="25 50 100 200 500 1000"; LENGTHS="100 200 500 1000"; STEPS=10000; ADD_STEPS=10000; D=64; L=2; BATCH=32; COPY_LEN=10; SYMS=8 ;;
esac
exp_meta copy_task "copy:length=$COPY_LEN,n_symbols=$SYMS,delay=GAP for GAP in {$GAPS}"
exp_meta adding_task "adding:length=T for T in {$LENGTHS}"
exp_meta model "lm:/seq:mixer=MIXER,d_model=$D,n_layer=$L plus the recipe's keys"
exp_meta training "copy: steps=$STEPS ($(recipe_schedule "$STEPS")), adding: steps=$ADD_STEPS ($(recipe_schedule "$ADD_STEPS")); batch=$BATCH, $(recipe_optim copy); lr per mixer: recipe grid or --lrs"

HDR="mixer,gap,seq_len,steps,d_model,n_layer,metric,lr,seed,value,loss,params,train_seconds,status,reason"
MIXERS=$(exp_mixers | tr '\n' ' ')
exp_meta mixers "$MIXERS"
T_MAX=0
for g in $GAPS; do [ $((2 * COPY_LEN + g)) -gt "$T_MAX" ] && T_MAX=$((2 * COPY_LEN + g)); done
for T in $LENGTHS; do [ "$T" -gt "$T_MAX" ] && T_MAX=$T; done

for mx in $MIXERS; do
    exp_meta "lrs_$mx" "$(exp_lrs "$mx" copy)"
    # the wrapper is named explicitly (lm: token task, seq: real task) so that d_model reaches
    # mixers whose own width key is also called d_model
    for lr in $(exp_lrs "$mx" copy); do
        for seed in $SEEDS; do
            for g in $GAPS; do
                T=$((2 * COPY_LEN + g))
                exp_row_file copy_runs
                exp_bg exp_job "$ROW" "copy-$mx-$g-lr$lr-s$seed" exp_fit "$mx,$g,$T,$STEPS,$D,$L,accuracy" "$lr" "$seed" \
                    "lm:mixer=$mx,d_model=$D,n_layer=$L$(recipe_keys "$mx" copy "$T_MAX")" \
                    "copy:length=$COPY_LEN,n_symbols=$SYMS,delay=$g" "$STEPS" "$BATCH"
            done
        done
    done
    exp_meta "lrs_adding_$mx" "$(exp_lrs "$mx" adding)"
    for lr in $(exp_lrs "$mx" adding); do
        for seed in $SEEDS; do
            for T in $LENGTHS; do
                exp_row_file adding_runs
                exp_bg exp_job "$ROW" "adding-$mx-$T-lr$lr-s$seed" exp_fit "$mx,$T,$T,$ADD_STEPS,$D,$L,mse" "$lr" "$seed" \
                    "seq:mixer=$mx,d_model=$D,n_layer=$L$(recipe_keys "$mx" adding "$T_MAX")" "adding:length=$T" "$ADD_STEPS" "$BATCH"
            done
        done
    done
done
exp_wait
exp_collect copy_runs "$HDR"
exp_collect adding_runs "$HDR"
exp_meta reused_runs "$(exp_reused_count) finished runs of an earlier invocation reused"
exp_aggregate "$OUT/copy_runs.csv" "$OUT/copy.csv" mixer,gap,seq_len,steps,d_model,n_layer,metric "" "" value max -- -k1,1 -k2,2n
exp_aggregate "$OUT/adding_runs.csv" "$OUT/adding.csv" mixer,gap,seq_len,steps,d_model,n_layer,metric "" "" value min -- -k1,1 -k2,2n
exp_plot memory.gp "$OUT/memory.png" copy="$OUT/copy.csv" adding="$OUT/adding.csv" \
    mixers="$(exp_ok_labels mixer "$OUT/copy_runs.csv" "$OUT/adding_runs.csv")" \
    chance="$(awk -v s="$SYMS" 'BEGIN { print 1 / s }')" seeds="$(echo $SEEDS | wc -w)"
