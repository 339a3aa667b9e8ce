#!/bin/sh
# bench/attn_bench.sh — flash vs naive causal attention (seqlab) beside PyTorch's attention, in
# the same run, T = 512 ... 8192. Run from the build directory after `make bench`:
#   sh $SRC/bench/attn_bench.sh [OUT.csv]
# Each configuration is its own process (peak RSS per kernel). B=1, H=4, D=64, 2 threads.
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-attn_bench.csv}
py=/usr/bin/python3
H=${H:-4}; D=${D:-64}; THREADS=${THREADS:-2}; REPS=${REPS:-3}
bin=${ATTN_BIN:-./bench/attn_bench}
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}; export OMP_WAIT_POLICY   # see nanogpt_bench.sh
echo "impl,kernel,B,H,T,D,fwd_ms,fwdbwd_ms,peak_rss_mb,workspace_mb" | tee "$out"
for T in 512 1024 2048 4096 8192; do
    "$bin" --kernel flash --T $T --H $H --D $D --reps $REPS --threads $THREADS | tee -a "$out"
    "$bin" --kernel naive --T $T --H $H --D $D --reps $REPS --threads $THREADS | tee -a "$out"
    $py "$src/bench/attn_torch.py" --mode sdpa --T $T --H $H --D $D --reps $REPS --threads $THREADS | tee -a "$out"
done
