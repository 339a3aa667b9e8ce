#!/bin/sh
# experiments/quickstart.sh — the default experiment: train the Elman RNN as a character
# language model on the default corpus (/usr/share/common-licenses/*, or --corpus FILE)
# and draw its learning curve with gnuplot.
#   experiments/quickstart.sh [--corpus FILE] [--steps N] [--out DIR]
# Writes DIR/log.csv, DIR/model.safetensors, DIR/checkpoint.safetensors, DIR/meta.txt and
# DIR/learning_curve.png (default DIR: results/quickstart).
set -e
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SEQLAB=${SEQLAB:-}
if [ -z "$SEQLAB" ]; then
    for c in "$PWD/seqlab" "$top/seqlab"; do [ -x "$c" ] && SEQLAB=$c && break; done
fi
[ -n "$SEQLAB" ] || { echo "quickstart: no seqlab binary; build first (./configure && make) or set SEQLAB" >&2; exit 1; }
out=results/quickstart; steps=600; corpus=
while [ $# -gt 0 ]; do
    case $1 in
    --corpus) corpus=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
set -- --model rnn:hidden_size=128,n_layer=1 --task charlm --steps "$steps" --batch 32 --seq-len 64 \
       --lr 3e-3 --eval-every 50 --seed 1 --out "$out" --force   # the script owns its results dir
[ -n "$corpus" ] && set -- "$@" --corpus "$corpus"
{
    echo "experiment: quickstart (Elman RNN char-LM)"
    echo "command: seqlab train $*"
    echo "seqlab: $("$SEQLAB" --version)"
    echo "commit: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/meta.txt"
"$SEQLAB" train "$@"
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "csv='$out/log.csv'; png='$out/learning_curve.png'; name='Elman RNN (128) char-LM'" "$top/plots/learning_curve.gp"
    echo "plot: $out/learning_curve.png"
else
    echo "quickstart: gnuplot not found, plot skipped (apt-get install -y gnuplot-nox)" >&2
fi
