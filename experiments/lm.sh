#!/usr/bin/env bash
# experiments/lm.sh — character-level language modelling: validation loss against training
# time and against parameter count for every family (every mixer in the LM wrapper, GPT,
# LLaMA), the n-gram model by order, and a word2vec-initialised embedding beside a random one.
EXP_NAME=lm
EXP_TAKES_CORPUS=1
EXP_HELP="usage: experiments/lm.sh [--full | --smoke] [--corpus FILE] [options]
  Trains every model on charlm (the built-in corpus or --corpus FILE) at several widths, fits
  n-gram models of each order, trains one mixer with word2vec-initialised embeddings beside a
  random initialisation, and writes results/lm/{lm,curves,ngram,w2v}.csv and lm.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) WIDTHS="16"; T=32; STEPS=20; EVAL=10; L=1; BATCH=8; ORDERS="1 2"; W2V_ITER=1 ;;
quick) WIDTHS="32 64"; T=64; STEPS=300; EVAL=50; L=2; BATCH=16; ORDERS="1 2 3 4 5"; W2V_ITER=5 ;;
full) WIDTHS="32 64 128 256"; T=128; STEPS=5000; EVAL=250; L=2; BATCH=32; ORDERS="1 2 3 4 5 6 7 8"; W2V_ITER=15 ;;
esac
DMAX=0
for d in $WIDTHS; do [ "$d" -gt "$DMAX" ] && DMAX=$d; done
CORPUS_ARGS=()
[ -n "$CORPUS" ] && CORPUS_ARGS=(--corpus "$CORPUS")
exp_meta task "charlm:seq_len=$T (val_frac 0.1)"
exp_meta widths "$WIDTHS (n_layer $L)"
exp_meta models "lm:mixer=MIXER,d_model=D,n_layer=$L; gpt:n_layer=$L,n_head=4,n_embd=D; llama:dim=D,n_layers=$L,n_heads=4,multiple_of=16"
exp_meta training "steps=$STEPS batch=$BATCH eval_every=$EVAL lr=3e-3 (seqlab train defaults otherwise)"
exp_meta ngram "ngram:order=N (method mkn) for N in {$ORDERS}, fitted on the training split"
MIXERS=$(exp_mixers | tr '\n' ' ')
exp_meta mixers "$MIXERS"

LIST=$("$SEQLAB" list --models)
family_of() {   # the family `seqlab list` gives a model
    echo "$LIST" | awk -v m="$1" '/^  [^ ]/ && $1 == m { f = $2; gsub(/[\[\],]/, "", f); print f; exit }'
}

# "label spec family" for every gradient model at width d
models_at() {
    local d=$1 mx m
    for mx in $MIXERS; do
        echo "$mx lm:mixer=$mx,d_model=$d,n_layer=$L$(exp_len_keys "$mx" "$T") $(family_of "$mx")"
    done
    if [ -z "$MIXERS_OPT" ]; then
        for m in $(exp_models); do
            case $m in
            gpt) echo "gpt gpt:n_layer=$L,n_head=4,n_embd=$d transformer" ;;
            llama) echo "llama llama:dim=$d,n_layers=$L,n_heads=4,multiple_of=16 transformer" ;;
            esac
        done
    fi
}
if [ -z "$MIXERS_OPT" ]; then
    for m in $(exp_models); do
        case $m in lm | seq | gpt | llama | ngram) ;; *)
            echo "$MIXERS" | tr ' ' '\n' | grep -qx "$m" || exp_log "note: model '$m' is neither a mixer nor a known LM; not compared (add a width rule to models_at)" ;;
        esac
    done
fi

LM_HDR="model,family,d_model,n_layer,steps,params,val_loss,train_seconds,status,reason"
CURVE_HDR="model,d_model,step,seconds,val_loss"

# the (step, seconds, val_loss) rows of a run's log with an evaluation
curve_rows() {   # label d run_dir
    awk -F, -v m="$1" -v d="$2" 'NR > 1 && $5 != "" { print m "," d "," $1 "," $2 "," $5 }' "$3/log.csv" 2>/dev/null
}

lm_one() {   # row_file curve_file label spec family d
    local row=$1 crow=$2 label=$3 spec=$4 fam=$5 d=$6 res
    local dir="$OUT/runs/$label-d$d" log="$OUT/logs/$label-d$d.log"
    exp_log "charlm $label d=$d"
    if exp_train "$dir" "$log" --model "$spec" --task "charlm:seq_len=$T" "${CORPUS_ARGS[@]}" --steps "$STEPS" \
        --batch "$BATCH" --eval-every "$EVAL" --ckpt-every 0 && res=$(exp_eval "$dir"); then
        set -- $res
        echo "$label,$fam,$d,$L,$STEPS,$3,$1,$(exp_last_seconds "$dir"),ok," >"$row"
        curve_rows "$label" "$d" "$dir" >"$crow"
    else
        echo "$label,$fam,$d,$L,$STEPS,,,,failed,$(exp_failure_reason "$log")" >"$row"
        : >"$crow"
        exp_log "charlm $label d=$d FAILED (see $log)"
    fi
}

ngram_one() {   # row_file order
    local row=$1 n=$2 dir="$OUT/runs/ngram-$2" log="$OUT/logs/ngram-$2.log" line
    exp_log "charlm ngram order=$n"
    # the fit prints "fitted ngram in S s: val_loss V" (count models are scored right after the fit)
    if exp_train "$dir" "$log" --model "ngram:order=$n" --task "charlm:seq_len=$T" "${CORPUS_ARGS[@]}" --batch "$BATCH" &&
        line=$(grep -m1 '^fitted' "$log"); then
        echo "$line" | awk -v n="$n" '{ s = $4; sub(/s:$/, "", s); print n "," $NF "," s ",ok," }' >"$row"
    else
        echo "$n,,,failed,$(exp_failure_reason "$log")" >"$row"
        exp_log "ngram order=$n FAILED (see $log)"
    fi
}

for d in $WIDTHS; do
    while read -r label spec fam; do
        [ -n "$label" ] || continue
        exp_row_file lm
        r=$ROW
        exp_row_file curves
        exp_bg lm_one "$r" "$ROW" "$label" "$spec" "$fam" "$d"
    done <<MODELS
$(models_at "$d")
MODELS
done
if exp_models | grep -qx ngram; then
    for n in $ORDERS; do
        exp_row_file ngram
        exp_bg ngram_one "$ROW" "$n"
    done
else
    exp_log "no ngram model in \`seqlab list\`: skipping the n-gram arm"
fi

# ---- word2vec-initialised embeddings beside random ones (one mixer, the widest size) ----
W2V_MIXER=$(echo "$MIXERS" | tr ' ' '\n' | grep -x lstm || echo "$MIXERS" | awk '{ print $1 }')
w2v_arm() {   # row_file curve_file
    local row=$1 crow=$2
    local vec="$OUT/runs/w2v-vectors.txt" chars="$OUT/runs/w2v-chars.txt" log="$OUT/logs/w2v-train.log"
    local spec="lm:mixer=$W2V_MIXER,d_model=$DMAX,n_layer=$L$(exp_len_keys "$W2V_MIXER" "$T")" init res dir
    : >"$1"
    : >"$2"
    if ! "$SEQLAB" w2v train --help >/dev/null 2>&1; then
        exp_log "word2vec arm skipped: \`seqlab w2v train\` is not available"
        echo "w2v,$W2V_MIXER,$DMAX,,,skipped,seqlab w2v train is not available" >"$1"
        return 0
    fi
    # the training split (first 90%) of the same corpus, one character per word; whitespace
    # characters cannot be words for word2vec, so their rows keep the random initialisation
    if [ -n "$CORPUS" ]; then
        cat "$CORPUS"
    else
        local f
        for f in $(ls /usr/share/common-licenses | LC_ALL=C sort); do
            [ -f "/usr/share/common-licenses/$f" ] && cat "/usr/share/common-licenses/$f"
        done
    fi >"$chars.raw"
    head -c $(($(wc -c <"$chars.raw") * 9 / 10)) "$chars.raw" | LC_ALL=C sed 's/./& /g' >"$chars"
    rm -f "$chars.raw"
    exp_log "word2vec on characters (size $DMAX)"
    if ! "$SEQLAB" w2v train -train "$chars" -output "$vec" -size "$DMAX" -min-count 1 -window 5 -iter "$W2V_ITER" \
        -threads 1 -seed "$SEED" >"$log" 2>&1; then
        echo "w2v,$W2V_MIXER,$DMAX,,,failed,$(exp_failure_reason "$log")" >>"$row"
        exp_log "word2vec training FAILED (see $log)"
        return 0
    fi
    for init in random w2v; do
        dir="$OUT/runs/w2v-$init"
        local extra=()
        [ "$init" = w2v ] && extra=(--init-embeddings "$vec")
        exp_log "charlm $W2V_MIXER d=$DMAX, $init embeddings"
        if exp_train "$dir" "$OUT/logs/w2v-$init.log" --model "$spec" --task "charlm:seq_len=$T" "${CORPUS_ARGS[@]}" \
            --steps "$STEPS" --batch "$BATCH" --eval-every "$EVAL" --ckpt-every 0 "${extra[@]}" && res=$(exp_eval "$dir"); then
            set -- $res
            echo "$init,$W2V_MIXER,$DMAX,$1,$(exp_last_seconds "$dir"),ok," >>"$row"
            curve_rows "$W2V_MIXER-$init" "$DMAX" "$dir" >>"$crow"
        else
            echo "$init,$W2V_MIXER,$DMAX,,,failed,$(exp_failure_reason "$OUT/logs/w2v-$init.log")" >>"$row"
            exp_log "charlm $W2V_MIXER with $init embeddings FAILED (see $OUT/logs/w2v-$init.log)"
        fi
    done
}
exp_row_file w2v
W2V_ROW=$ROW
exp_row_file w2vcurves
exp_bg w2v_arm "$W2V_ROW" "$ROW"
exp_wait

exp_collect lm "$LM_HDR" -k1,1 -k3,3n
exp_collect curves "$CURVE_HDR"
exp_collect ngram "order,val_loss,fit_seconds,status,reason"
exp_collect w2vcurves "$CURVE_HDR"
exp_collect w2v "init,mixer,d_model,val_loss,train_seconds,status,reason"
exp_meta w2v_arm "lm:mixer=$W2V_MIXER,d_model=$DMAX: embeddings random vs from seqlab w2v train (-size $DMAX -min-count 1 -window 5 -iter $W2V_ITER) on the training split split into characters"

NG_ORDERS=$(awk -F, 'NR > 1 && $4 == "ok" { printf "%s ", $1 }' "$OUT/ngram.csv")
NG_LOSSES=$(awk -F, 'NR > 1 && $4 == "ok" { printf "%s ", $2 }' "$OUT/ngram.csv")
exp_plot lm.gp "$OUT/lm.png" lm="$OUT/lm.csv" curves="$OUT/curves.csv" w2vcurves="$OUT/w2vcurves.csv" \
    models="$(exp_ok_labels model "$OUT/lm.csv")" dmax="$DMAX" ng_orders="$NG_ORDERS" ng_losses="$NG_LOSSES" \
    w2v_labels="$(awk -F, 'NR > 1 && $6 == "ok" { printf "%s-%s ", $2, $1 }' "$OUT/w2v.csv")"
