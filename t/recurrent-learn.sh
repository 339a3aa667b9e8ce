#!/bin/sh
# t/recurrent-learn.sh — learning tests of the recurrent mixers through `seqlab train`:
#   * copying memory with a gap of 10 blanks (copy:delay=10,length=5): the LSTM and the GRU
#     learn it (accuracy >= 0.9) while the Elman RNN, trained the same way for as many steps,
#     stays near chance (1/8) — the vanishing-gradient gap that gating closes;
#   * the adding problem at T = 200: the LSTM's validation MSE ends far below the 0.167 of
#     always answering 1 (<= 0.05);
#   * token models lm:mixer=lstm / gru on charlm (a small repetitive text): the validation loss
#     falls far below the uniform ln(38) = 3.6 nats (<= 0.5), and greedy `seqlab generate`,
#     which runs the mixer in step mode, continues a prompt with the text it learnt.
# When a model gets there is chaotic (seed, BLAS kernels), so training runs in chunks
# (--stop-after, then --resume) and stops as soon as the target is met, up to a step cap;
# typically a few hundred steps. One thread each: deterministic, robust on a busy machine.
set -u
: "${SEQLAB:?}"
if ! "$SEQLAB" list 2>/dev/null | grep -q '^ *adding '; then
    echo "1..0 # SKIP seqlab train / the copy and adding tasks are not available"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
echo "1..8"

report() {   # report OK DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

# compare VALUE OP LIMIT -> 1 or 0 (awk, so non-numbers fail)
compare() {
    awk -v v="$1" -v op="$2" -v lim="$3" 'BEGIN {
        if (v !~ /^[-+0-9.eE]+$/) { print 0; exit }
        print ((op == "ge" && v + 0 >= lim) || (op == "le" && v + 0 <= lim)) ? 1 : 0 }'
}

evaluate() {   # evaluate DIR -> the validation metric of `seqlab eval --json`
    "$SEQLAB" eval --run "$1" --json 2> "$1.err" | sed -n 's/.*"value": *\([-+0-9.eE]*\).*/\1/p'
}

# train NAME MODEL TASK CAP CHUNK BATCH LR SCHEDULE OP LIMIT
# Trains in chunks of CHUNK steps (the LR schedule spans CAP) until the metric satisfies
# OP LIMIT or CAP steps are done; prints "METRIC STEPS".
train() {
    name=$1 model=$2 task=$3 cap=$4 chunk=$5 batch=$6 lr=$7 schedule=$8 op=$9 lim=${10}
    dir=$tmp/$name
    if ! "$SEQLAB" train --no-progress --threads 1 --model "$model" --task "$task" --steps "$cap" \
        --stop-after "$chunk" --batch "$batch" --lr "$lr" --schedule "$schedule" --eval-every 0 \
        --ckpt-every 0 --out "$dir" > "$dir.log" 2>&1; then
        sed 's/^/# /' "$dir.log" >&2
        echo "nan 0"
        return
    fi
    steps=$chunk
    while :; do
        v=$(evaluate "$dir")
        if [ "$(compare "$v" "$op" "$lim")" -eq 1 ] || [ "$steps" -ge "$cap" ]; then break; fi
        steps=$((steps + chunk))
        [ "$steps" -gt "$cap" ] && steps=$cap
        if ! "$SEQLAB" train --resume "$dir" --steps "$steps" --threads 1 --no-progress >> "$dir.log" 2>&1; then
            sed 's/^/# /' "$dir.log" >&2
            v=nan
            break
        fi
    done
    echo "$v $steps"
}

copy="copy:delay=10,length=5"
set -- $(train copy-lstm "lstm:hidden_size=64" "$copy" 2000 250 32 5e-3 cosine ge 0.9)
report "$(compare "$1" ge 0.9)" "lstm learns $copy: accuracy $1 after $2 steps (>= 0.9)"
ls=$2
set -- $(train copy-gru "gru:hidden_size=64" "$copy" 2000 250 32 5e-3 cosine ge 0.9)
report "$(compare "$1" ge 0.9)" "gru learns $copy: accuracy $1 after $2 steps (>= 0.9)"
[ "$2" -gt "$ls" ] && ls=$2
set -- $(train copy-rnn "rnn:hidden_size=64" "$copy" "$ls" "$ls" 32 5e-3 cosine ge 2)
report "$(compare "$1" le 0.4)" "the Elman rnn fails $copy: accuracy $1 after $2 steps (<= 0.4, chance 0.125)"

set -- $(train adding-lstm "seq:mixer=lstm,d_model=64,n_layer=1" "adding:length=200" 2000 200 32 2e-3 constant le 0.05)
report "$(compare "$1" le 0.05)" "lstm solves adding:length=200: validation MSE $1 after $2 steps (<= 0.05; always 1 gives 0.167)"

i=0
while [ $i -lt 60 ]; do echo "the quick brown fox jumps over the lazy dog $i"; i=$((i + 1)); done > "$tmp/text.txt"
for mixer in lstm gru; do
    model="lm:mixer=$mixer,d_model=32,n_layer=1" dir=$tmp/charlm-$mixer
    "$SEQLAB" train --no-progress --threads 1 --model "$model" --task charlm --corpus "$tmp/text.txt" --seq-len 32 \
        --steps 300 --batch 16 --lr 1e-2 --schedule cosine --eval-every 0 --ckpt-every 0 --out "$dir" > "$dir.log" 2>&1 ||
        sed 's/^/# /' "$dir.log" >&2
    v=$(evaluate "$dir")
    report "$(compare "$v" le 0.5)" "$model learns charlm: validation loss $v nats after 300 steps (<= 0.5; uniform 3.6)"
    g=$("$SEQLAB" generate --run "$dir" --prompt "the quick " --tokens 30 --temperature 0 2> "$dir.gen.err")
    case $g in
    "the quick brown fox jumps over the lazy"*) report 1 "$model generates (step mode, greedy): '$g'" ;;
    *) report 0 "$model generates (step mode, greedy): '$g', expected the text's continuation" ;;
    esac
done
exit $fail
