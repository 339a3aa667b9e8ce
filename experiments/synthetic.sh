#!/usr/bin/env bash
# experiments/synthetic.sh — the Mamba paper's synthetic tasks: selective copying and
# induction heads; induction heads is also evaluated on sequences longer than in training.
EXP_NAME=synthetic
EXP_HELP="usage: experiments/synthetic.sh [--full | --smoke] [options]
  Trains every mixer (lm:mixer=...) on selcopy and on induction, evaluates induction at
  longer lengths, and writes results/synthetic/{selcopy,induction}.csv and synthetic.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) SC_LENS="16"; SC_N=2; SC_V=4; IND_TRAIN=16; IND_EVAL="16 32"; IND_V=4; STEPS=20; D=16; L=1; BATCH=8 ;;
quick) SC_LENS="32 64"; SC_N=4; SC_V=4; IND_TRAIN=32; IND_EVAL="32 64 128 256 512"; IND_V=8; STEPS=400; D=32; L=2; BATCH=32 ;;
full) SC_LENS="256 1024 4096"; SC_N=16; SC_V=16; IND_TRAIN=256; IND_EVAL="256 512 1024 2048 4096 8192 16384"; IND_V=16; STEPS=4000; D=64; L=2; BATCH=32 ;;
esac
IND_MAX=0
for e in $IND_EVAL; do [ "$e" -gt "$IND_MAX" ] && IND_MAX=$e; done
exp_meta selcopy_task "selcopy:seq_len=T,n_tokens=$SC_N,vocab_size=$SC_V for T in {$SC_LENS}"
exp_meta induction_task "induction:seq_len=$IND_TRAIN,vocab_size=$IND_V; evaluated at seq_len in {$IND_EVAL}"
exp_meta model "lm:mixer=MIXER,d_model=$D,n_layer=$L (length limits such as max_seq_len, l_max = $IND_MAX)"
exp_meta training "steps=$STEPS batch=$BATCH lr=3e-3 (seqlab train defaults otherwise)"
MIXERS=$(exp_mixers | tr '\n' ' ')
exp_meta mixers "$MIXERS"

SC_HDR="mixer,seq_len,n_tokens,steps,d_model,n_layer,accuracy,loss,params,train_seconds,status,reason"
IND_HDR="mixer,train_len,eval_len,steps,d_model,n_layer,accuracy,loss,params,train_seconds,status,reason"

model_for() {   # a mixer's model spec; mixers with a length limit get the longest evaluation length
    echo "lm:mixer=$1,d_model=$D,n_layer=$L$(exp_len_keys "$1" "$IND_MAX")"
}

selcopy_one() {   # row_file mixer T
    local row=$1 mx=$2 T=$3 res
    local dir="$OUT/runs/selcopy-$mx-$T" log="$OUT/logs/selcopy-$mx-$T.log"
    exp_log "selcopy T=$T $mx"
    if exp_train "$dir" "$log" --model "$(model_for "$mx")" --task "selcopy:seq_len=$T,n_tokens=$SC_N,vocab_size=$SC_V" \
        --steps "$STEPS" --batch "$BATCH" --eval-every 0 --ckpt-every 0 && res=$(exp_eval "$dir"); then
        set -- $res
        echo "$mx,$T,$SC_N,$STEPS,$D,$L,$1,$2,$3,$(exp_last_seconds "$dir"),ok," >"$row"
    else
        echo "$mx,$T,$SC_N,$STEPS,$D,$L,,,,,failed,$(exp_failure_reason "$log")" >"$row"
        exp_log "selcopy T=$T $mx FAILED (see $log)"
    fi
}

induction_one() {   # row_file mixer : train at IND_TRAIN, evaluate at every IND_EVAL length
    local row=$1 mx=$2 res secs E
    local dir="$OUT/runs/induction-$mx" log="$OUT/logs/induction-$mx.log"
    exp_log "induction T=$IND_TRAIN $mx"
    : >"$row"
    if exp_train "$dir" "$log" --model "$(model_for "$mx")" --task "induction:seq_len=$IND_TRAIN,vocab_size=$IND_V" \
        --steps "$STEPS" --batch "$BATCH" --eval-every 0 --ckpt-every 0; then
        secs=$(exp_last_seconds "$dir")
        for E in $IND_EVAL; do
            if res=$(exp_eval "$dir" "induction:seq_len=$E,vocab_size=$IND_V"); then
                set -- $res
                echo "$mx,$IND_TRAIN,$E,$STEPS,$D,$L,$1,$2,$3,$secs,ok," >>"$row"
            else
                echo "$mx,$IND_TRAIN,$E,$STEPS,$D,$L,,,,$secs,failed,evaluation at seq_len=$E failed (logs/eval.log)" >>"$row"
                exp_log "induction eval at $E for $mx FAILED"
            fi
        done
    else
        for E in $IND_EVAL; do
            echo "$mx,$IND_TRAIN,$E,$STEPS,$D,$L,,,,,failed,$(exp_failure_reason "$log")" >>"$row"
        done
        exp_log "induction $mx FAILED (see $log)"
    fi
}

for mx in $MIXERS; do
    for T in $SC_LENS; do
        exp_row_file selcopy
        exp_bg selcopy_one "$ROW" "$mx" "$T"
    done
    exp_row_file induction
    exp_bg induction_one "$ROW" "$mx"
done
exp_wait
exp_collect selcopy "$SC_HDR"
exp_collect induction "$IND_HDR"
exp_plot synthetic.gp "$OUT/synthetic.png" selcopy="$OUT/selcopy.csv" induction="$OUT/induction.csv" \
    mixers="$(exp_ok_labels mixer "$OUT/selcopy.csv" "$OUT/induction.csv")" \
    sc_chance="$(awk -v v="$SC_V" 'BEGIN { print 1 / v }')" ind_chance="$(awk -v v="$IND_V" 'BEGIN { print 1 / v }')" \
    train_len="$IND_TRAIN"
