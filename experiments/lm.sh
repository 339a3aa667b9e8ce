#!/usr/bin/env bash
# experiments/lm.sh — character-level language modelling: validation loss against training
# time and against parameter count for every family (every mixer in the LM wrapper, GPT,
# LLaMA), the n-gram model by order, and a word2vec-initialised embedding beside a random one;
# every configuration the median over seeds at its best learning rate.
EXP_NAME=lm
EXP_TAKES_CORPUS=1
EXP_TAKES_TEXT=1
EXP_HELP="usage: experiments/lm.sh [--full | --smoke] [--corpus FILE] [--text-corpus FILE|none] [options]
  Trains every model on charlm (the built-in corpus or --corpus FILE) at several widths, fits
  n-gram models of each order, trains one mixer with word2vec-initialised embeddings beside a
  random initialisation, and writes results/lm/{lm,curves,ngram,w2v}.csv (lm_runs.csv: every
  run) and lm.png. --mixers may name gpt and llama beside mixers (default: every mixer, gpt
  and llama).
  The text arm trains wider models on natural text (tinyshakespeare by default) and fits the
  n-gram orders on it: results/lm/{text,textcurves,text_ngram}.csv and lm_text.png; the check
  step's neural-against-n-gram claim reads it."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) WIDTHS="16"; T=32; STEPS=20; EVAL=10; L=1; BATCH=8; ORDERS="1 2"; W2V_ITER=1 ;;
quick) WIDTHS="32 64"; T=64; STEPS=1000; EVAL=100; L=2; BATCH=16; ORDERS="1 2 3 4 5"; W2V_ITER=5 ;;
full) WIDTHS="32 64 128 256"; T=128; STEPS=5000; EVAL=250; L=2; BATCH=32; ORDERS="1 2 3 4 5 6 7 8"; W2V_ITER=15 ;;
esac
DMAX=0
for d in $WIDTHS; do [ "$d" -gt "$DMAX" ] && DMAX=$d; done
CORPUS_ARGS=()
[ -n "$CORPUS" ] && CORPUS_ARGS=(--corpus "$CORPUS")
exp_meta task "charlm:seq_len=$T (val_frac 0.1)"
exp_meta widths "$WIDTHS (n_layer $L)"
exp_meta models "lm:mixer=MIXER,d_model=D,n_layer=$L; gpt:n_layer=$L,n_head=4,n_embd=D; llama:dim=D,n_layers=$L,n_heads=4,multiple_of=16"
exp_meta training "steps=$STEPS batch=$BATCH eval_every=$EVAL, $(recipe_schedule "$STEPS"), $(recipe_optim charlm); lr per model: recipe grid or --lrs"
exp_meta ngram "ngram:order=N (method mkn) for N in {$ORDERS}, fitted on the training split"
if [ -n "$MIXERS_OPT" ] && [ "$MIXERS_OPT" != all ]; then
    MODELS=$(exp_mixers | tr '\n' ' ')
else
    MODELS="$(exp_mixers | tr '\n' ' ')$(exp_models | grep -x -e gpt -e llama | tr '\n' ' ')"
fi
if [ -z "$MIXERS_OPT" ] && [ "$SETTING" = quick ] && [ "$ZOO_OPT" = 0 ]; then   # the zoo only with --zoo
    MODELS=$(for m in $MODELS; do case " $EXP_ZOO " in *" $m "*) ;; *) echo "$m" ;; esac; done | tr '\n' ' ')
fi
MIXERS=$(for m in $MODELS; do case $m in gpt | llama) ;; *) echo "$m" ;; esac; done | tr '\n' ' ')
exp_meta models_compared "$MODELS"

LIST=$("$SEQLAB" list --models)
family_of() {   # the family `seqlab list` gives a model
    echo "$LIST" | awk -v m="$1" '/^  [^ ]/ && $1 == m { f = $2; gsub(/[\[\],]/, "", f); print f; exit }'
}

# models_at D T MODEL... : "label spec family" for each gradient model at width D and length T
models_at() {
    local d=$1 t=$2 m
    shift 2
    for m in "$@"; do
        case $m in
        gpt) echo "gpt gpt:n_layer=$L,n_head=4,n_embd=$d,block_size=$t transformer" ;;
        llama) echo "llama llama:dim=$d,n_layers=$L,n_heads=4,multiple_of=16,max_seq_len=$t transformer" ;;
        *) echo "$m lm:mixer=$m,d_model=$d,n_layer=$L$(recipe_keys "$m" charlm "$t") $(family_of "$m")" ;;
        esac
    done
}
if [ -z "$MIXERS_OPT" ]; then
    for m in $(exp_models); do
        case " $EXP_ZOO " in *" $m "*) [ "$SETTING" = quick ] && [ "$ZOO_OPT" = 0 ] && continue ;; esac   # left out: --zoo
        case $m in lm | seq | gpt | llama | ngram) ;; *)
            echo "$MIXERS" | tr ' ' '\n' | grep -qx "$m" || exp_log "note: model '$m' is neither a mixer nor a known LM; not compared (add a width rule to models_at)" ;;
        esac
    done
fi

LM_HDR="model,family,d_model,n_layer,steps,lr,seed,value,loss,params,train_seconds,status,reason"
CURVE_HDR="model,d_model,lr,seed,step,seconds,val_loss"

# lm_fit DIR ROW LABEL SPEC FAMILY D LR SEED STEPS BATCH EVAL : one run (a FUNC for exp_job); ROW
# gets the lm.csv row, ROW.curve its learning curve
lm_fit() {
    local dir=$1 row=$2 label=$3 spec=$4 fam=$5 d=$6 lr=$7 seed=$8 steps=$9 batch=${10} eval=${11} one
    one="$row.one"
    exp_fit "$dir" "$one" "$label,$fam,$d,$L,$steps" "$lr" "$seed" "$spec" "charlm:seq_len=$T" "$steps" "$batch" \
        "${CORPUS_ARGS[@]}" --eval-every "$eval" || { rm -f "$one"; return 1; }
    {
        cat "$one"
        exp_curve_rows "$label" "$d" "$lr" "$seed" "$dir" | sed 's/^/curve:/'
    } >"$row"
    rm -f "$one"
}

# ngram_fit DIR ROW LOG ORDER TASK BATCH [CORPUS ARGS...] : one n-gram fit on TASK; ROW gets
# "order,val_loss,fit_seconds,ok," or a failed row; 1 (and no row) if a signal interrupted it
ngram_fit() {
    local dir=$1 row=$2 log=$3 n=$4 task=$5 batch=$6 line rc
    shift 6
    exp_train "$dir" "$log" --model "ngram:order=$n" --task "$task" "$@" --batch "$batch"
    rc=$?
    exp_finished $rc || return 1
    # the fit prints "fitted ngram in S s: val_loss V" (count models are scored right after the fit)
    if [ $rc -eq 0 ] && line=$(grep -m1 '^fitted' "$log"); then
        echo "$line" | awk -v n="$n" '{ s = $4; sub(/s:$/, "", s); print n "," $NF "," s ",ok," }' >"$row"
    else
        echo "$n,,,failed,$(exp_failure_reason "$log")" >"$row"
        exp_log "ngram order=$n FAILED (see $log)"
    fi
}
ngram_one() {   # row_file order
    local row=$1 n=$2 log="$OUT/logs/ngram-$2.log"
    exp_log "charlm ngram order=$n"
    ngram_fit "$OUT/runs/ngram-$n" "$row" "$log" "$n" "charlm:seq_len=$T" "$BATCH" "${CORPUS_ARGS[@]}" ||
        echo "$n,,,failed,$(exp_failure_reason "$log")" >"$row"
}

for d in $WIDTHS; do
    while read -r label spec fam; do
        [ -n "$label" ] || continue
        for lr in $(exp_lrs "$label" charlm); do
            for seed in $SEEDS; do
                exp_row_file lm_all
                exp_bg exp_job "$ROW" "$label-d$d-lr$lr-s$seed" lm_fit "$label" "$spec" "$fam" "$d" "$lr" "$seed" "$STEPS" \
                    "$BATCH" "$EVAL"
            done
        done
    done <<MODELS
$(models_at "$d" "$T" $MODELS)
MODELS
done
for m in $MODELS; do exp_meta "lrs_$m" "$(exp_lrs "$m" charlm)"; done
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
W2V_VEC="$OUT/runs/w2v-vectors.txt"
w2v_vectors() {   # trains the character vectors once (seed: the first of --seeds); 0 if they exist
    local chars="$OUT/runs/w2v-chars.txt" log="$OUT/logs/w2v-train.log"
    if ! "$SEQLAB" w2v train --help >/dev/null 2>&1; then
        exp_log "word2vec arm skipped: \`seqlab w2v train\` is not available"
        return 1
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
    if ! "$SEQLAB" w2v train -train "$chars" -output "$W2V_VEC.tmp" -size "$DMAX" -min-count 1 -window 5 -iter "$W2V_ITER" \
        -threads 1 -seed "$SEED" >"$log" 2>&1; then
        exp_log "word2vec training FAILED (see $log)"
        return 1
    fi
    mv "$W2V_VEC.tmp" "$W2V_VEC"
}
# w2v_fit DIR ROW INIT LR SEED SPEC STEPS BATCH EVAL VECSUM : one run of the arm (a FUNC for exp_job)
w2v_fit() {
    local dir=$1 row=$2 init=$3 lr=$4 seed=$5 spec=$6 steps=$7 batch=$8 eval=$9 one extra=()
    one="$row.one"
    [ "$init" = w2v ] && extra=(--init-embeddings "$W2V_VEC")
    exp_fit "$dir" "$one" "$init,$W2V_MIXER,$DMAX" "$lr" "$seed" "$spec" "charlm:seq_len=$T" "$steps" "$batch" \
        "${CORPUS_ARGS[@]}" --eval-every "$eval" "${extra[@]}" || { rm -f "$one"; return 1; }
    {
        cat "$one"
        exp_curve_rows "$W2V_MIXER-$init" "$DMAX" "$lr" "$seed" "$dir" | sed 's/^/curve:/'
    } >"$row"
    rm -f "$one"
}
if [ "$PLOT_ONLY" = 0 ] && w2v_vectors; then
    W2V_SPEC="lm:mixer=$W2V_MIXER,d_model=$DMAX,n_layer=$L$(recipe_keys "$W2V_MIXER" charlm "$T")"
    VECSUM=$(cksum <"$W2V_VEC" | awk '{ print $1 }')
    for init in random w2v; do
        for lr in $(exp_lrs "$W2V_MIXER" charlm); do
            for seed in $SEEDS; do
                exp_row_file w2v_all
                exp_bg exp_job "$ROW" "w2v-$init-lr$lr-s$seed" w2v_fit "$init" "$lr" "$seed" "$W2V_SPEC" "$STEPS" "$BATCH" \
                    "$EVAL" "$VECSUM"
            done
        done
    done
fi

# ---- the text arm: the neural-against-n-gram claim on natural text ----
# The built-in corpus is licence texts that share whole phrases between the training and the
# validation split, where an n-gram model's memory wins (experiments/README.md, section 5); the
# claim is about language, so it is tested on tinyshakespeare (1.1 MB, char-rnn's and nanoGPT's
# character benchmark) with models wide enough for it.
TX_ALL="lstm gru mamba mamba2 gpt llama"
case $SETTING in
smoke) TX_MODELS="lstm"; TX_D=16; TX_T=32; TX_STEPS=20; TX_EVAL=10; TX_BATCH=8; TX_ORDERS="1 2 3" ;;
quick) TX_MODELS="lstm"; TX_D=256; TX_T=128; TX_STEPS=1000; TX_EVAL=250; TX_BATCH=32; TX_ORDERS="3 4 5 6 7 8" ;;
full) TX_MODELS="$TX_ALL"; TX_D=256; TX_T=128; TX_STEPS=5000; TX_EVAL=250; TX_BATCH=32; TX_ORDERS="3 4 5 6 7 8 9" ;;
esac
# --mixers chooses the models of both arms: the text arm takes those of the full setting's text
# models (lstm gru mamba mamba2 gpt llama) that --mixers names, or every model --mixers names
# when it names none of them; the quick default is the LSTM alone (the claim needs one neural
# model; Mamba at d_model 256 costs 2.4x its time per step: `--mixers lstm,mamba` adds it)
if [ -n "$MIXERS_OPT" ]; then
    TX_PICK=$(for m in $TX_ALL; do echo " $MODELS " | grep -q " $m " && echo "$m"; done | tr '\n' ' ')
    TX_MODELS=$(echo ${TX_PICK:-$MODELS})
fi
TS_URL=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
TS_SHA=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
ts_ok() { [ "$(sha256sum <"$1" 2>/dev/null | awk '{ print $1 }')" = "$TS_SHA" ]; }
text_corpus() {   # prints the text arm's corpus; 1 = none (the arm is skipped)
    local f d="$RESROOT/data"
    case $TEXT_OPT in none) return 1 ;; ?*) echo "$TEXT_OPT"; return 0 ;; esac
    [ "$SETTING" = smoke ] && return 1
    for f in "${SEQLAB_DATA:+$SEQLAB_DATA/tinyshakespeare.txt}" "$d/tinyshakespeare.txt"; do
        [ -n "$f" ] && [ -r "$f" ] || continue
        if ts_ok "$f"; then
            (cd "$(dirname "$f")" && echo "$(pwd)/$(basename "$f")")
            return 0
        fi
        exp_log "$f is not the tinyshakespeare text (sha256 differs): not used" >&2
    done
    mkdir -p "$d" || return 1
    exp_log "downloading tinyshakespeare from $TS_URL" >&2
    if { command -v curl >/dev/null && curl -fsSL --max-time 120 -o "$d/.ts.part" "$TS_URL"; } ||
        { command -v wget >/dev/null && wget -q -T 120 -O "$d/.ts.part" "$TS_URL"; }; then
        if ts_ok "$d/.ts.part"; then
            mv "$d/.ts.part" "$d/tinyshakespeare.txt"
            (cd "$d" && echo "$(pwd)/tinyshakespeare.txt")
            return 0
        fi
        exp_log "the download is not the tinyshakespeare text (sha256 differs)" >&2
    fi
    rm -f "$d/.ts.part"
    exp_log "no tinyshakespeare (set SEQLAB_DATA to a folder holding tinyshakespeare.txt, or --text-corpus FILE)" >&2
    return 1
}
# arm_fit DIR ROW LABEL SPEC FAMILY LR SEED D STEPS BATCH EVAL TASK [ARGS...] : one run of an arm
# (width D, STEPS steps of BATCH sequences, an evaluation every EVAL) on TASK, its row followed by
# its curve rows (the text and subword arms)
arm_fit() {
    local dir=$1 row=$2 label=$3 spec=$4 fam=$5 lr=$6 seed=$7 d=$8 steps=$9 batch=${10} eval=${11} task=${12} one="$2.one"
    shift 12
    exp_fit "$dir" "$one" "$label,$fam,$d,$L,$steps" "$lr" "$seed" "$spec" "$task" "$steps" \
        "$batch" "$@" --eval-every "$eval" || { rm -f "$one"; return 1; }
    {
        cat "$one"
        exp_curve_rows "$label" "$d" "$lr" "$seed" "$dir" | sed 's/^/curve:/'
    } >"$row"
    rm -f "$one"
}
# arm_queue NAME FIT NGRAM T ORDERS SIGNATURE D STEPS BATCH EVAL MODELS : queue an arm's runs (MODELS
# at width D and seq_len T, every learning rate and seed: FIT with D STEPS BATCH EVAL SIGNATURE,
# which are part of each run's resume signature) and its n-gram fits (NGRAM) as resumable jobs
# NAME-...; their rows go to NAME_all.* and NAME_ngram.*
arm_queue() {
    local name=$1 fit=$2 ng=$3 t=$4 orders=$5 sig=$6 d=$7 steps=$8 batch=$9 eval=${10} models=${11} label spec fam lr seed n
    while read -r label spec fam; do
        [ -n "$label" ] || continue
        for lr in $(exp_lrs "$label" charlm); do
            for seed in $SEEDS; do
                exp_row_file "${name}_all"
                exp_bg exp_job "$ROW" "$name-$label-d$d-lr$lr-s$seed" "$fit" "$label" "$spec" "$fam" "$lr" "$seed" \
                    "$d" "$steps" "$batch" "$eval" "$sig"
            done
        done
    done <<ARMMODELS
$(models_at "$d" "$t" $models)
ARMMODELS
    for n in $orders; do
        exp_row_file "${name}_ngram"
        exp_bg exp_job "$ROW" "$name-ngram-o$n" "$ng" "$n" "$sig"
    done
}
# tx_fit DIR ROW LABEL SPEC FAMILY LR SEED D STEPS BATCH EVAL CORPUS_SUM : one run of the text arm
# (a FUNC for exp_job)
tx_fit() {
    arm_fit "${@:1:11}" "charlm:seq_len=$TX_T" --corpus "$TX_CORPUS"
}
# tx_ngram DIR ROW ORDER CORPUS_SUM : one n-gram fit of the text arm (a FUNC for exp_job)
tx_ngram() {
    ngram_fit "$1" "$2" "$OUT/logs/text-ngram-$3.log" "$3" "charlm:seq_len=$TX_T" "$TX_BATCH" --corpus "$TX_CORPUS"
}
TX_CORPUS=
if [ "$PLOT_ONLY" = 0 ] && TX_CORPUS=$(text_corpus); then
    TX_SUM=$(cksum <"$TX_CORPUS" | awk '{ print $1 "-" $2 }')
    exp_meta text_corpus "$TX_CORPUS ($(wc -c <"$TX_CORPUS") bytes, cksum $TX_SUM; last 10% = validation)"
    exp_meta text_models "$TX_MODELS at d_model $TX_D, n_layer $L, seq_len $TX_T, batch $TX_BATCH, $TX_STEPS steps (eval every $TX_EVAL), $(recipe_schedule "$TX_STEPS"), $(recipe_optim charlm)"
    exp_meta text_ngram "ngram:order=N (mkn) for N in {$TX_ORDERS} on the same training split"
    arm_queue text tx_fit tx_ngram "$TX_T" "$TX_ORDERS" "$TX_SUM" "$TX_D" "$TX_STEPS" "$TX_BATCH" "$TX_EVAL" "$TX_MODELS"
elif [ "$PLOT_ONLY" = 0 ]; then
    exp_log "the text arm is skipped: no natural-text corpus"
    exp_meta text_corpus "none: the text arm was skipped"
fi

# ---- the subword arm (issue 23): every family and the n-gram on BPE tokens ----
# With --subword (always in --full) the text arm's corpus is split as charlm splits it (the
# first 90% of the bytes train, the rest validates), a byte-level BPE is trained on the
# training part alone, both parts become token shards, and one model of every family (seq_len
# half the characters') and the n-gram orders train on the tokens. Losses are reported per
# token and per byte (x validation tokens / validation bytes), so the two arms compare:
# subword.csv, subword_ngram.csv, bytes.csv and lm_subword.png.
# The quick setting compares the families at a small shape that fits ~10 minutes of 2 cores
# (d_model 128, batch 16 x 64 tokens, 500 steps: 6 models x 3 seeds took 1 285 s of training in
# session 12; experiments/README.md, section 5); the full one at the text arm's width, batch and steps.
# --mixers picks from SW_ALL as it picks the text arm's models from TX_ALL.
SW_ALL="lstm gru s4d mamba mamba2 gpt llama"
case $SETTING in
smoke) SW_VOCAB=300; SW_ORDERS="1 2 3"; SW_MODELS="lstm"; SW_D=$TX_D; SW_STEPS=$TX_STEPS; SW_EVAL=$TX_EVAL; SW_BATCH=$TX_BATCH ;;
quick) SW_VOCAB=2048; SW_ORDERS="2 3 4 5"; SW_MODELS="lstm gru s4d mamba mamba2 gpt"; SW_D=128; SW_STEPS=500; SW_EVAL=100; SW_BATCH=16 ;;
full) SW_VOCAB=4096; SW_ORDERS="2 3 4 5 6"; SW_MODELS="$SW_ALL"; SW_D=$TX_D; SW_STEPS=$TX_STEPS; SW_EVAL=$TX_EVAL; SW_BATCH=$TX_BATCH; SUBWORD_OPT=1 ;;
esac
if [ -n "$MIXERS_OPT" ]; then
    SW_PICK=$(for m in $SW_ALL; do echo " $MODELS " | grep -q " $m " && echo "$m"; done | tr '\n' ' ')
    SW_MODELS=$(echo ${SW_PICK:-$MODELS})
fi
SW_T=$((TX_T / 2))
SWD=$OUT/subword
# sw_fit DIR ROW LABEL SPEC FAMILY LR SEED D STEPS BATCH EVAL SIGNATURE : one run of the subword
# arm (a FUNC for exp_job)
sw_fit() {
    arm_fit "${@:1:11}" "tokens:data=$SWD/data/c,seq_len=$SW_T"
}
# sw_ngram DIR ROW ORDER SIGNATURE : one n-gram fit on the training tokens (a FUNC for exp_job)
sw_ngram() {
    ngram_fit "$1" "$2" "$OUT/logs/subword-ngram-$3.log" "$3" "tokens:data=$SWD/data/c,seq_len=$SW_T,fit_tokens=$SW_TRAIN_TOKENS" \
        "$TX_BATCH"
}
# sw_prepare CORPUS : the split, the tokenizer and the shards in $SWD, unless they exist for the
# same corpus and vocabulary; sets SW_SIG, SW_TRAIN_TOKENS and SW_TPB (validation tokens per byte)
sw_prepare() {
    local c=$1 n nt sig info
    sig="$(cksum <"$c" | awk '{ print $1 "-" $2 }')-v$SW_VOCAB"
    if [ "$(cat "$SWD/signature" 2>/dev/null)" != "$sig" ]; then
        rm -rf "$SWD" && mkdir -p "$SWD/data" || return 1
        n=$(wc -c <"$c")
        nt=$(awk -v n="$n" 'BEGIN { printf "%d", 0.9 * n }')   # charlm's split (val_frac 0.1)
        head -c "$nt" "$c" >"$SWD/train.txt" && tail -c +"$((nt + 1))" "$c" >"$SWD/val.txt" || return 1
        exp_log "subword arm: training a byte-level BPE of $SW_VOCAB tokens on $nt bytes"
        "$SEQLAB" tokenizer train --vocab-size "$SW_VOCAB" --special '<|endoftext|>' --out "$SWD/tok.bpe" \
            "$SWD/train.txt" >"$OUT/logs/subword-tokenizer.log" 2>&1 || return 1
        # the validation text is the first document, so it alone fills the validation shard
        "$SEQLAB" tokenizer encode --tokenizer "$SWD/tok.bpe" --shards "$SWD/data/c" --val-tokens 1 \
            "$SWD/val.txt" "$SWD/train.txt" >>"$OUT/logs/subword-tokenizer.log" 2>&1 || return 1
        echo "$sig" >"$SWD/signature"
    fi
    SW_SIG=$sig
    # token counts from the shards' headers (int32 [2]); each shard's first token is a document token
    SW_TRAIN_TOKENS=$(od -An -t d4 -j 8 -N 4 "$SWD/data/c_train_000000.bin" | tr -d ' ')
    info=$(od -An -t d4 -j 8 -N 4 "$SWD/data/c_val_000000.bin" | tr -d ' ')
    SW_TPB=$(awk -v t="$info" -v b="$(wc -c <"$SWD/val.txt")" 'BEGIN { printf "%.6f", (t - 1) / b }')
    [ -n "$SW_TRAIN_TOKENS" ] && [ "$SW_TRAIN_TOKENS" -gt 0 ]
}
if [ "$PLOT_ONLY" = 0 ] && [ "$SUBWORD_OPT" = 1 ] && [ -n "$TX_CORPUS" ]; then
    if sw_prepare "$TX_CORPUS"; then
        exp_meta subword "byte-level BPE of $SW_VOCAB tokens trained on the text arm's training split ($SW_TRAIN_TOKENS training tokens; $SW_TPB validation tokens per byte); $SW_MODELS at d_model $SW_D, n_layer $L, seq_len $SW_T tokens, batch $SW_BATCH, $SW_STEPS steps (eval every $SW_EVAL), $(recipe_schedule "$SW_STEPS"), $(recipe_optim charlm); n-gram orders {$SW_ORDERS} on the training tokens"
        echo "$SW_TPB" >"$SWD/tokens_per_byte"
        arm_queue subword sw_fit sw_ngram "$SW_T" "$SW_ORDERS" "$SW_SIG" "$SW_D" "$SW_STEPS" "$SW_BATCH" "$SW_EVAL" "$SW_MODELS"
    else
        exp_die "subword arm: could not train the tokenizer or write the shards (see $OUT/logs/subword-tokenizer.log)"
    fi
elif [ "$PLOT_ONLY" = 0 ] && [ "$SUBWORD_OPT" = 1 ]; then
    exp_log "the subword arm is skipped: no natural-text corpus"
fi
exp_wait

exp_split_rows lm "$LM_HDR" curves "$CURVE_HDR"
exp_split_rows w2v "init,mixer,d_model,lr,seed,value,loss,params,train_seconds,status,reason" w2vcurves "$CURVE_HDR"
exp_collect ngram "order,val_loss,fit_seconds,status,reason"
exp_split_rows text "$LM_HDR" textcurves "$CURVE_HDR"
exp_collect text_ngram "order,val_loss,fit_seconds,status,reason"
exp_aggregate "$OUT/text_runs.csv" "$OUT/text.csv" model,family,d_model,n_layer,steps,params "" "" value min -- -k1,1
awk -F, -v OFS=, 'NR == 1 { print "model,d_model,lr"; next } { print $1, $3, $7 }' "$OUT/text.csv" >"$OUT/.txkeys.csv"
exp_curve_summary "$OUT/textcurves_runs.csv" "$OUT/.txkeys.csv" "$OUT/textcurves.csv"
rm -f "$OUT/.txkeys.csv"
if ls "$OUT/rows/subword_all".* >/dev/null 2>&1 || ls "$OUT/rows/subword_ngram".* >/dev/null 2>&1; then
    exp_split_rows subword "$LM_HDR" subwordcurves "$CURVE_HDR"
    exp_collect subword_ngram "order,val_loss,fit_seconds,status,reason"
    exp_aggregate "$OUT/subword_runs.csv" "$OUT/subword.csv" model,family,d_model,n_layer,steps,params "" "" value min -- -k1,1
    awk -F, -v OFS=, 'NR == 1 { print "model,d_model,lr"; next } { print $1, $3, $7 }' "$OUT/subword.csv" >"$OUT/.swkeys.csv"
    exp_curve_summary "$OUT/subwordcurves_runs.csv" "$OUT/.swkeys.csv" "$OUT/subwordcurves.csv"
    rm -f "$OUT/.swkeys.csv"
    # bytes.csv: both arms in nats per byte (charlm's tokens are bytes; the subword arm's loss per
    # token times the validation text's tokens per byte); bytecurves.csv: the curves so scaled
    TPB=$(cat "$OUT/subword/tokens_per_byte" 2>/dev/null || echo 0)
    {
        echo "arm,model,d_model,params,per_unit,units_per_byte,nats_per_byte,min_per_byte,max_per_byte,steps,seeds"
        awk -F, -v OFS=, 'NR > 1 { print "char", $1, $3, $6, $9, 1, $9, $10, $11, $5, $8 }' "$OUT/text.csv" 2>/dev/null
        awk -F, -v OFS=, -v r="$TPB" 'NR > 1 { print "bpe", $1, $3, $6, $9, r, $9 * r, $10 * r, $11 * r, $5, $8 }' "$OUT/subword.csv"
        awk -F, -v OFS=, 'NR > 1 && $4 == "ok" { print "char", $1 "-gram", "", "", $2, 1, $2, $2, $2, "", "" }' "$OUT/text_ngram.csv" 2>/dev/null
        awk -F, -v OFS=, -v r="$TPB" 'NR > 1 && $4 == "ok" { print "bpe", $1 "-gram", "", "", $2, r, $2 * r, $2 * r, $2 * r, "", "" }' "$OUT/subword_ngram.csv"
    } >"$OUT/bytes.csv"
    {
        echo "model,d_model,step,seconds,val_loss,min,max,seeds"
        awk -F, -v OFS=, 'NR > 1 { $1 = $1 "-char"; print }' "$OUT/textcurves.csv" 2>/dev/null
        awk -F, -v OFS=, -v r="$TPB" 'NR > 1 { $1 = $1 "-bpe"; $5 *= r; $6 *= r; $7 *= r; print }' "$OUT/subwordcurves.csv"
    } >"$OUT/bytecurves.csv"
    exp_log "wrote $OUT/subword.csv, $OUT/subword_ngram.csv, $OUT/bytes.csv"
fi
exp_meta reused_runs "$(exp_reused_count) finished runs of an earlier invocation reused"
exp_meta w2v_arm "lm:mixer=$W2V_MIXER,d_model=$DMAX: embeddings random vs from seqlab w2v train (-size $DMAX -min-count 1 -window 5 -iter $W2V_ITER, seed $SEED) on the training split split into characters"
exp_aggregate "$OUT/lm_runs.csv" "$OUT/lm.csv" model,family,d_model,n_layer,steps,params "" "" value min -- -k1,1 -k3,3n
exp_aggregate "$OUT/w2v_runs.csv" "$OUT/w2v.csv" init,mixer,d_model "" "" value min
# curve keys: (model, d_model) -> the chosen lr (lm.csv columns 1, 3, 7)
awk -F, -v OFS=, 'NR == 1 { print "model,d_model,lr"; next } { print $1, $3, $7 }' "$OUT/lm.csv" >"$OUT/.lmkeys.csv"
exp_curve_summary "$OUT/curves_runs.csv" "$OUT/.lmkeys.csv" "$OUT/curves.csv"
awk -F, -v OFS=, -v mx="$W2V_MIXER" 'NR == 1 { print "model,d_model,lr"; next } { print mx "-" $1, $3, $4 }' "$OUT/w2v.csv" >"$OUT/.w2vkeys.csv"
exp_curve_summary "$OUT/w2vcurves_runs.csv" "$OUT/.w2vkeys.csv" "$OUT/w2vcurves.csv"
rm -f "$OUT/.lmkeys.csv" "$OUT/.w2vkeys.csv"

NG_ORDERS=$(awk -F, 'NR > 1 && $4 == "ok" { printf "%s ", $1 }' "$OUT/ngram.csv")
NG_LOSSES=$(awk -F, 'NR > 1 && $4 == "ok" { printf "%s ", $2 }' "$OUT/ngram.csv")
exp_plot lm.gp "$OUT/lm.png" lm="$OUT/lm.csv" curves="$OUT/curves.csv" w2vcurves="$OUT/w2vcurves.csv" \
    models="$(exp_ok_labels model "$OUT/lm_runs.csv")" dmax="$DMAX" ng_orders="$NG_ORDERS" ng_losses="$NG_LOSSES" \
    w2v_labels="$(awk -F, -v mx="$W2V_MIXER" 'NR > 1 { printf "%s-%s ", mx, $1 }' "$OUT/w2v.csv" 2>/dev/null)" \
    seeds="$(echo $SEEDS | wc -w)"
TX_LABELS=$(exp_ok_labels model "$OUT/text_runs.csv")
if [ -n "$TX_LABELS" ]; then
    exp_plot lm_text.gp "$OUT/lm_text.png" curves="$OUT/textcurves.csv" models="$TX_LABELS" seeds="$(echo $SEEDS | wc -w)" \
        ng_orders="$(awk -F, 'NR > 1 && $4 == "ok" { printf "%s ", $1 }' "$OUT/text_ngram.csv")" \
        ng_losses="$(awk -F, 'NR > 1 && $4 == "ok" { printf "%s ", $2 }' "$OUT/text_ngram.csv")" \
        corpus="$(sed -n 's/^text_corpus: \([^ ]*\).*/\1/p' "$OUT/meta.txt" | tail -n 1 | xargs -r basename)"
fi
if [ -s "$OUT/bytes.csv" ]; then
    # series: the curves' labels (MODEL-char, MODEL-bpe); colors: one per base model; titles: with the width
    exp_plot lm_subword.gp "$OUT/lm_subword.png" curves="$OUT/bytecurves.csv" seeds="$(echo $SEEDS | wc -w)" \
        series="$(awk -F, 'NR > 1 && !s[$1]++ { printf "%s ", $1 }' "$OUT/bytecurves.csv")" \
        colors="$(awk -F, 'NR > 1 && !s[$1]++ { b = $1; sub(/-(char|bpe)$/, "", b); if (!c[b]) c[b] = ++n; printf "%d ", c[b] }' "$OUT/bytecurves.csv")" \
        titles="$(awk -F, 'NR > 1 && !s[$1]++ { b = $1; a = b; sub(/-(char|bpe)$/, "", b); sub(/.*-/, "", a)
            printf "%s-d%s-%s ", b, $2, (a == "char" ? "chars" : "BPE") }' "$OUT/bytecurves.csv")" \
        ng_char="$(awk -F, 'NR > 1 && $1 == "char" && $2 ~ /gram$/ { if (b == "" || $7 < b) b = $7 } END { print b }' "$OUT/bytes.csv")" \
        ng_bpe="$(awk -F, 'NR > 1 && $1 == "bpe" && $2 ~ /gram$/ { if (b == "" || $7 < b) b = $7 } END { print b }' "$OUT/bytes.csv")" \
        vocab="$SW_VOCAB"
fi
