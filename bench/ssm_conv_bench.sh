#!/bin/sh
# bench/ssm_conv_bench.sh — the SSM convolution benchmark and its PyTorch peer, same machine,
# same run. Run from the build directory:  sh $SRC/bench/ssm_conv_bench.sh [threads]
# Writes bench/results/ssm_conv_t<threads>.csv (seqlab) and ssm_conv_torch_t<threads>.csv.
set -e
T=${1:-2}
SRC=$(cd "$(dirname "$0")/.." && pwd)
make bench/ssm_conv_bench
mkdir -p bench/results
OMP_NUM_THREADS=$T ./bench/ssm_conv_bench --reps 5 --out bench/results/ssm_conv_t$T.csv
cat bench/results/ssm_conv_t$T.csv
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    OMP_NUM_THREADS=$T /usr/bin/python3 "$SRC/bench/ssm_conv_torch.py" --threads "$T" --reps 5 >bench/results/ssm_conv_torch_t$T.csv
    cat bench/results/ssm_conv_torch_t$T.csv
else
    echo "python3-torch not found: PyTorch peer skipped" >&2
fi
