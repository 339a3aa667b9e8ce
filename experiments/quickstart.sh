#!/usr/bin/env bash
# experiments/quickstart.sh — a short comparison of every family on one task: an LSTM
# (recurrent), S4D (state-space), Mamba (selective state-space) and a GPT (transformer), each
# trained as a character language model on the default corpus (/usr/share/common-licenses/*,
# or --corpus FILE) with three seeds, beside a 5-gram model (n-gram); their validation-loss
# curves are drawn in one figure. A few minutes on 2 cores with --jobs 2.
EXP_NAME=quickstart
EXP_TAKES_CORPUS=1
EXP_HELP="usage: experiments/quickstart.sh [--corpus FILE] [--smoke] [options]
  Trains lstm, s4d, mamba (lm:mixer=..., d_model 64, 2 layers) and gpt (n_embd 64, 2 layers)
  on charlm for every seed, fits a 5-gram model, and writes results/quickstart/quickstart.csv
  (per model: median, min, max validation loss over seeds), curves.csv and quickstart.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) D=16; T=32; STEPS=20; EVAL=10; BATCH=8; ORDER=2 ;;
*) D=64; T=64; STEPS=300; EVAL=25; BATCH=16; ORDER=5 ;;
esac
CORPUS_ARGS=()
[ -n "$CORPUS" ] && CORPUS_ARGS=(--corpus "$CORPUS")
MODELS="lstm lm:mixer=lstm,d_model=$D,n_layer=2 recurrent
s4d lm:mixer=s4d,d_model=$D,n_layer=2 ssm
mamba lm:mixer=mamba,d_model=$D,n_layer=2 mamba
gpt gpt:n_layer=2,n_head=4,n_embd=$D,block_size=$T transformer"
exp_meta task "charlm:seq_len=$T"
exp_meta models "$(echo "$MODELS" | awk '{ printf "%s; ", $2 }')ngram:order=$ORDER"
exp_meta training "steps=$STEPS batch=$BATCH eval_every=$EVAL, $(recipe_schedule "$STEPS"), $(recipe_optim charlm); lr: the recipe's"
HDR="model,family,d_model,n_layer,steps,lr,seed,value,loss,params,train_seconds,status,reason"
CURVE_HDR="model,d_model,lr,seed,step,seconds,val_loss"

qs_fit() {   # DIR ROW LABEL SPEC FAMILY LR SEED STEPS : one run; ROW gets its row and its curve
    local dir=$1 row=$2 label=$3 spec=$4 fam=$5 lr=$6 seed=$7 steps=$8 one="$2.one"
    exp_fit "$dir" "$one" "$label,$fam,$D,2,$steps" "$lr" "$seed" "$spec" "charlm:seq_len=$T" "$steps" "$BATCH" \
        "${CORPUS_ARGS[@]}" --eval-every "$EVAL" || { rm -f "$one"; return 1; }
    { cat "$one"; exp_curve_rows "$label" "$D" "$lr" "$seed" "$dir" | sed 's/^/curve:/'; } >"$row"
    rm -f "$one"
}

while read -r label spec fam; do
    for lr in $(exp_lrs "$label" charlm); do
        for seed in $SEEDS; do
            exp_row_file qs_all
            exp_bg exp_job "$ROW" "$label-lr$lr-s$seed" qs_fit "$label" "$spec" "$fam" "$lr" "$seed" "$STEPS"
        done
    done
done <<<"$MODELS"
NGRAM=
if [ "$PLOT_ONLY" = 0 ]; then
    exp_log "charlm ngram order=$ORDER"
    if exp_train "$OUT/runs/ngram" "$OUT/logs/ngram.log" --model "ngram:order=$ORDER" --task "charlm:seq_len=$T" \
        "${CORPUS_ARGS[@]}" --batch "$BATCH"; then
        NGRAM=$(awk '/^fitted/ { print $NF; exit }' "$OUT/logs/ngram.log")
    fi
    exp_meta ngram_val_loss "${NGRAM:-failed (see logs/ngram.log)}"
else
    NGRAM=$(sed -n 's/^ngram_val_loss: \([0-9.]*\)$/\1/p' "$OUT/meta.txt" | tail -n 1)
fi
exp_wait
exp_split_rows qs "$HDR" curves "$CURVE_HDR"
exp_aggregate "$OUT/qs_runs.csv" "$OUT/quickstart.csv" model,family,d_model,n_layer,steps,params "" "" value min
awk -F, -v OFS=, 'NR == 1 { print "model,d_model,lr"; next } { print $1, $3, $7 }' "$OUT/quickstart.csv" >"$OUT/.keys.csv"
exp_curve_summary "$OUT/curves_runs.csv" "$OUT/.keys.csv" "$OUT/curves.csv"
rm -f "$OUT/.keys.csv"
exp_plot quickstart.gp "$OUT/quickstart.png" curves="$OUT/curves.csv" summary="$OUT/quickstart.csv" \
    models="$(exp_ok_labels model "$OUT/qs_runs.csv")" ngram="${NGRAM:-}" ngram_order="$ORDER" seeds="$(echo $SEEDS | wc -w)"
column -s, -t "$OUT/quickstart.csv" >&2 2>/dev/null || cat "$OUT/quickstart.csv" >&2
[ -n "$GP" ] && echo "plot: $OUT/quickstart.png"
exit 0
