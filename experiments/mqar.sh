#!/usr/bin/env bash
# experiments/mqar.sh — multi-query associative recall (Zoology, Arora et al. 2023): accuracy
# against model width and the number of key-value pairs, for every mixer, each configuration
# the median over seeds at its best learning rate.
EXP_NAME=mqar
EXP_HELP="usage: experiments/mqar.sh [--full | --smoke] [options]
  Trains every mixer (lm:mixer=...; in the quick setting s4d, mamba and attention: a
  time-invariant convolution, a selective SSM and attention) on mqar for each (n_kv_pairs, d_model), learning rate and
  seed, and writes results/mqar/mqar_runs.csv (every run), mqar.csv (per configuration: the
  best learning rate, the median, minimum and maximum over seeds) and mqar.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) KVS="2"; WIDTHS="8 16"; T=16; V=16; STEPS=20; L=1; BATCH=8 ;;
quick) KVS="2 8"; WIDTHS="64 128"; T=32; V=32; STEPS=3000; L=2; BATCH=32
    QUICK_MIXERS="s4d mamba attention"
    # with --zoo, the linear-RNN and long-convolution zoo of Zoology's figure 2 (and Based), at
    # the smallest width only: the width where Zoology separates them from attention
    [ "$ZOO_OPT" = 1 ] && { ZOO_MIXERS=$EXP_ZOO; ZOO_WIDTHS="64"; } ;;
full) KVS="4 8 16 32 64"; WIDTHS="64 128 256 512"; T=256; V=8192; STEPS=20000; L=2; BATCH=64 ;;
esac
exp_meta task "mqar:seq_len=$T,vocab_size=$V,n_kv_pairs=K for K in {$KVS} (power_a=0.01)"
exp_meta model "lm:mixer=MIXER,d_model=D,n_layer=$L for D in {$WIDTHS}, plus the recipe's keys (experiments/recipes.sh)"
exp_meta training "steps=$STEPS batch=$BATCH, $(recipe_schedule "$STEPS"), $(recipe_optim mqar); lr per mixer: recipe grid or --lrs"
MIXERS=$(exp_mixers | tr '\n' ' ')
ZOO=
if [ -z "$MIXERS_OPT" ] && [ -n "${ZOO_MIXERS:-}" ]; then
    ZOO=$("$SEQLAB" list --mixers --names | grep -x -F "$(echo "$ZOO_MIXERS" | tr ' ' '\n')" | tr '\n' ' ')
    MIXERS="$MIXERS$ZOO"
    exp_meta zoo "$ZOO at d_model {$ZOO_WIDTHS} only"
fi
exp_meta mixers "$MIXERS"
is_zoo() { case " $ZOO " in *" $1 "*) return 0 ;; esac; return 1; }
RUN_HDR="mixer,n_kv_pairs,seq_len,vocab_size,d_model,n_layer,steps,lr,seed,value,loss,params,train_seconds,status,reason"

for mx in $MIXERS; do
    exp_meta "lrs_$mx" "$(exp_lrs "$mx" mqar)"
    ws=$WIDTHS
    is_zoo "$mx" && ws=$ZOO_WIDTHS
    for kv in $KVS; do
        for d in $ws; do
            model="lm:mixer=$mx,d_model=$d,n_layer=$L$(recipe_keys "$mx" mqar "$T")"
            for lr in $(exp_lrs "$mx" mqar); do
                for seed in $SEEDS; do
                    exp_row_file mqar_runs
                    exp_bg exp_job "$ROW" "$mx-kv$kv-d$d-lr$lr-s$seed" exp_fit "$mx,$kv,$T,$V,$d,$L,$STEPS" "$lr" "$seed" \
                        "$model" "mqar:seq_len=$T,vocab_size=$V,n_kv_pairs=$kv" "$STEPS" "$BATCH"
                done
            done
        done
    done
done
exp_wait
exp_collect mqar_runs "$RUN_HDR"
exp_meta reused_runs "$(exp_reused_count) finished runs of an earlier invocation reused"
exp_aggregate "$OUT/mqar_runs.csv" "$OUT/mqar.csv" mixer,n_kv_pairs,seq_len,vocab_size,d_model,n_layer,steps "" "" value max \
    -- -k1,1 -k2,2n -k5,5n
OKM=$(exp_ok_labels mixer "$OUT/mqar_runs.csv")
MAIN=; ZP=
for m in $OKM; do is_zoo "$m" || MAIN="$MAIN$m "; done
if [ -n "$ZOO" ]; then   # the zoo panel: attention, Mamba and S4D beside the zoo mixers, at the zoo's width
    for m in attention mamba s4d; do echo " $OKM " | grep -q " $m " && ZP="$ZP$m "; done
    for m in $OKM; do is_zoo "$m" && ZP="$ZP$m "; done
fi
exp_plot mqar.gp "$OUT/mqar.png" data="$OUT/mqar.csv" mixers="$MAIN" zoo="$ZP" zoo_width="${ZOO_WIDTHS:-}" kvs="$KVS" \
    seq_len="$T" vocab="$V" seeds="$(echo $SEEDS | wc -w)"
