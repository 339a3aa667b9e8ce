#!/bin/sh
# bench/generate_families.sh — step-mode generation speed of a GPT, a Mamba LM and an LSTM LM
# of about the same parameter count (issue #17 item 2), at 1 and 2 threads, in the same run.
#
# usage: bench/generate_families.sh [ROUNDS] > results.csv
# env: SEQLAB (default ./seqlab; libtool's wrapper script is bypassed as in generate_bench.sh)
#
# Each model is trained for one step on a small generated text (random weights in effect; the
# speed does not depend on them) and then generates 256 tokens greedily after a 4-character
# prompt with `seqlab generate --stats` (the rate is positions / seconds inside the model, after
# loading). Models (d_model 512, character vocabulary):
#   gpt    gpt:n_layer=4,n_head=8,n_embd=512,block_size=512   (12.6M in the blocks)
#   mamba  lm:mixer=mamba,d_model=512,n_layer=7               (11.8M)
#   lstm   lm:mixer=lstm,d_model=512,n_layer=6                (12.6M)
# CSV: round,threads,model,params,positions,seconds,tok_per_s,load1 (1-minute load average before the run)
set -u
ROUNDS=${1:-3}
SEQLAB=${SEQLAB:-./seqlab}
if [ -f "$SEQLAB" ] && head -c 400 "$SEQLAB" | grep -q 'temporary wrapper script'; then
    d=$(cd "$(dirname "$SEQLAB")" && pwd)
    SEQLAB=$d/.libs/seqlab
    LD_LIBRARY_PATH=$d/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LD_LIBRARY_PATH
fi
tmp=$(mktemp -d /tmp/sl-genfam-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
i=0; while [ $i -lt 300 ]; do echo "the quick brown fox jumps over the lazy dog $i"; i=$((i+1)); done >"$tmp/text.txt"
MODELS="gpt:gpt:n_layer=4,n_head=8,n_embd=512,block_size=512
mamba:lm:mixer=mamba,d_model=512,n_layer=7
lstm:lm:mixer=lstm,d_model=512,n_layer=6"
echo "$MODELS" | while IFS=: read -r name spec; do
    "$SEQLAB" train --model "$spec" --task charlm --corpus "$tmp/text.txt" --seq-len 32 --steps 1 --batch 1 \
        --eval-batches 1 --out "$tmp/$name" >"$tmp/$name.train" 2>&1 || { cat "$tmp/$name.train" >&2; exit 1; }
done || exit 1
# trainable parameters: the model file's float32 tensors (bytes / 4, tied heads stored once)
params() { awk 'BEGIN { RS = "\"data_offsets\":\\[" } NR > 1 { split($0, a, /[],]/); n += a[2] - a[1] } END { printf "%d", n / 4 }' "$1"; }
echo "round,threads,model,params,positions,seconds,tok_per_s,load1"
r=1
while [ $r -le "$ROUNDS" ]; do
    for t in 1 2; do
        for name in gpt mamba lstm; do
            ld=$(cut -d' ' -f1 /proc/loadavg)
            OMP_NUM_THREADS=$t "$SEQLAB" generate --run "$tmp/$name" --prompt "the " --tokens 256 --temperature 0 --threads $t \
                --stats >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
            set -- $(sed -n 's/.*generated [0-9]*, \([0-9]*\) model positions in \([0-9.]*\) s (\([0-9.]*\) tok\/s).*/\1 \2 \3/p' "$tmp/err")
            echo "$r,$t,$name,$(params "$tmp/$name/model.safetensors"),$1,$2,$3,$ld"
        done
    done
    r=$((r + 1))
done
