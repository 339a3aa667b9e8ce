#!/bin/sh
# bench/ssm_conv_bench.sh — build and run the SSM convolution benchmark, CSV into
# bench/results/ssm_conv.csv (run from the build directory: sh $SRC/bench/ssm_conv_bench.sh).
set -e
make bench/ssm_conv_bench
mkdir -p bench/results
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ./bench/ssm_conv_bench "$@" --out bench/results/ssm_conv.csv
cat bench/results/ssm_conv.csv
