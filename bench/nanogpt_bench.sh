#!/bin/sh
# bench/nanogpt_bench.sh — nanoGPT's CPU recipe on tinyshakespeare: seqlab (bench/nanogpt_bench)
# and the PyTorch re-implementation (bench/nanogpt_torch.py), in the same run, same protocol.
# Run from the build directory after `make bench`:
#   sh $SRC/bench/nanogpt_bench.sh [DATA] [OUT.csv]
# ITERS (2000), THREADS (2) from the environment. Both runs take minutes.
src=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$src/../shared/data/tinyshakespeare.txt}
out=${2:-nanogpt_bench.csv}
bin=${BENCH_BIN:-./bench/nanogpt_bench}
ITERS=${ITERS:-2000}; THREADS=${THREADS:-2}
# Threads sleep at barriers instead of spinning (both runs): on a machine shared with other jobs,
# spinning OpenMP threads waste most of their time slices (measured: 70 % of cycles in libgomp).
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}; export OMP_WAIT_POLICY
if [ ! -f "$data" ]; then echo "no data file $data" >&2; exit 1; fi
echo "impl,iters,train_loss,val_loss,wall_s,ms_per_iter,peak_rss_mb" | tee "$out"
# the machine's load before and after each run (other jobs change the wall times), on stderr
echo "load before seqlab: $(cat /proc/loadavg 2>/dev/null) (OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $THREADS threads)" >&2
OMP_NUM_THREADS=$THREADS "$bin" --data "$data" --iters "$ITERS" --threads "$THREADS" | tee -a "$out"
echo "load before pytorch: $(cat /proc/loadavg 2>/dev/null)" >&2
OMP_NUM_THREADS=$THREADS /usr/bin/python3 "$src/bench/nanogpt_torch.py" --data "$data" --iters "$ITERS" --threads "$THREADS" | tee -a "$out"
echo "load after: $(cat /proc/loadavg 2>/dev/null)" >&2
