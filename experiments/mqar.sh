#!/usr/bin/env bash
# experiments/mqar.sh — multi-query associative recall (Zoology): accuracy against model
# width and the number of key-value pairs, for every mixer.
EXP_NAME=mqar
EXP_HELP="usage: experiments/mqar.sh [--full | --smoke] [options]
  Trains every mixer (lm:mixer=...) on mqar for each (n_kv_pairs, d_model) and writes
  results/mqar/mqar.csv and mqar.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) KVS="2"; WIDTHS="8 16"; T=16; V=16; STEPS=20; L=1; BATCH=8 ;;
quick) KVS="2 4"; WIDTHS="16 32 64"; T=32; V=32; STEPS=400; L=2; BATCH=32 ;;
full) KVS="4 8 16 32 64"; WIDTHS="32 64 128 256"; T=256; V=8192; STEPS=8000; L=2; BATCH=64 ;;
esac
exp_meta task "mqar:seq_len=$T,vocab_size=$V,n_kv_pairs=K for K in {$KVS} (power_a=0.01)"
exp_meta model "lm:mixer=MIXER,d_model=D,n_layer=$L for D in {$WIDTHS}"
exp_meta training "steps=$STEPS batch=$BATCH lr=3e-3 (seqlab train defaults otherwise)"
MIXERS=$(exp_mixers | tr '\n' ' ')
exp_meta mixers "$MIXERS"
HDR="mixer,n_kv_pairs,seq_len,vocab_size,d_model,n_layer,steps,accuracy,loss,params,train_seconds,status,reason"

run_one() {   # row_file mixer n_kv d_model
    local row=$1 mx=$2 kv=$3 d=$4 res
    local dir="$OUT/runs/$mx-kv$kv-d$d" log="$OUT/logs/$mx-kv$kv-d$d.log" model="lm:mixer=$2,d_model=$4,n_layer=$L"
    model="$model$(exp_len_keys "$mx" "$T")"
    exp_log "n_kv_pairs=$kv d_model=$d $mx"
    if exp_train "$dir" "$log" --model "$model" --task "mqar:seq_len=$T,vocab_size=$V,n_kv_pairs=$kv" \
        --steps "$STEPS" --batch "$BATCH" --eval-every 0 --ckpt-every 0 && res=$(exp_eval "$dir"); then
        set -- $res
        echo "$mx,$kv,$T,$V,$d,$L,$STEPS,$1,$2,$3,$(exp_last_seconds "$dir"),ok," >"$row"
    else
        echo "$mx,$kv,$T,$V,$d,$L,$STEPS,,,,,failed,$(exp_failure_reason "$log")" >"$row"
        exp_log "n_kv_pairs=$kv d_model=$d $mx FAILED (see $log)"
    fi
}

for mx in $MIXERS; do
    for kv in $KVS; do
        for d in $WIDTHS; do
            exp_row_file mqar
            exp_bg run_one "$ROW" "$mx" "$kv" "$d"
        done
    done
done
exp_wait
exp_collect mqar "$HDR"
exp_plot mqar.gp "$OUT/mqar.png" data="$OUT/mqar.csv" mixers="$(exp_ok_labels mixer "$OUT/mqar.csv")" kvs="$KVS" \
    seq_len="$T" vocab="$V"
