#!/bin/sh
# bench/slices_bench.sh — batch slices on replicas (lab/replicas.h) against the kernels' own
# threading, end to end through the CLI: `seqlab train --threads 2` with --batch-slices any and
# native, alternating in the same run, for each model. CSV on stdout:
#   model,mode,rep,wall_s,cpu_s,load1
# usage: [SEQLAB=./seqlab] [REPS=3] [STEPS=30] sh bench/slices_bench.sh [MODEL...]
SEQLAB=${SEQLAB:-./seqlab}
lt=$(dirname "$SEQLAB")/.libs
if [ -x "$lt/seqlab" ] && [ "$(head -c 2 "$SEQLAB")" = "#!" ]; then   # bypass libtool's wrapper
    LD_LIBRARY_PATH="$lt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    SEQLAB="$lt/seqlab"
fi
REPS=${REPS:-3}
STEPS=${STEPS:-30}
models=${*:-lm:mixer=mamba,d_model=64,n_layer=2 lm:mixer=lstm,d_model=64,n_layer=2 lm:mixer=s4d,d_model=64,n_layer=2 lm:mixer=mamba2,d_model=64,n_layer=2}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "model,mode,rep,wall_s,cpu_s,load1"
for r in $(seq "$REPS"); do
    for m in $models; do
        for mode in any native; do
            rm -rf "$tmp/run"
            /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$SEQLAB" train --model "$m" --task charlm --seq-len 64 --batch 32 \
                --steps "$STEPS" --eval-every 0 --eval-batches 1 --threads 2 --batch-slices $mode --no-progress \
                --out "$tmp/run" >/dev/null 2>"$tmp/e" || { cat "$tmp/e" >&2; exit 1; }
            read -r w u s < "$tmp/t"
            echo "\"$m\",$mode,$r,$w,$(echo "$u + $s" | bc),$(cut -d' ' -f1 /proc/loadavg)"
        done
    done
done
