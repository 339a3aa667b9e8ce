#!/bin/sh
# bench/run_rnn_bench.sh — seqlab's rnn/lstm/gru against torch.nn.RNN/LSTM/GRU, same machine,
# same run, same thread count: T=256 B=32 I=128 H=256 by default, forward and forward+backward.
#
#   [THREADS=2] bench/run_rnn_bench.sh [BUILDDIR] [extra rnn_bench / rnn_torch.py options...]
#
# Writes bench/results/rnn.csv (rnn-tK.csv for THREADS=K != 2) in the build dir with both
# implementations' rows, the machine's load average before and after, and the ratios
# torch_ms / seqlab_ms (> 1: seqlab faster), and prints it. The last two ratio columns compare
# the least process CPU time of a repetition instead of the median wall time: with THREADS=1 on
# a loaded machine they are the steadier figure (descheduled time does not count); with more
# threads CPU time also counts threads that spin while waiting, so read the wall-time ratios.
# On CPUs with AMX the LSTM / GRU rows come twice: "lstm" with the lanes path's per-step
# products on AMX tiles (the default), "lstm_avx512" with them on AVX-512 (rnn_bench --amx 0).
# Needs /usr/bin/python3 with python3-torch; run `make bench` first.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
[ $# -gt 0 ] && shift
threads=${THREADS:-2}
bench="$build/bench/rnn_bench"
[ -x "$bench" ] || { echo "run_rnn_bench.sh: $bench not built (make bench)" >&2; exit 1; }
mkdir -p "$build/bench/results"
out="$build/bench/results/rnn.csv"
[ "$threads" = 2 ] || out="$build/bench/results/rnn-t$threads.csv"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OMP_NUM_THREADS=$threads "$bench" --threads $threads "$@" > "$tmp/seqlab.csv"
# on CPUs with AMX, the lanes path once more with its products on AVX-512 (rows seqlab_avx512)
if grep -q amx_bf16 /proc/cpuinfo 2>/dev/null; then
    OMP_NUM_THREADS=$threads "$bench" --threads $threads --amx 0 "$@" | tail -n +2 >> "$tmp/seqlab.csv"
fi
/usr/bin/python3 "$here/rnn_torch.py" --threads $threads "$@" > "$tmp/torch.csv"
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load average before: $load0, after: $load1"
    cat "$tmp/seqlab.csv"
    tail -n +2 "$tmp/torch.csv"
    echo
    echo "model,T,B,I,H,threads,fwd_ratio_vs_torch,fwd_ratio_vs_torch_nograd,fwdbwd_ratio_vs_torch,fwd_cpu_ratio,fwdbwd_cpu_ratio"
    awk -F, 'FNR == 1 { next }
        $1 == "seqlab" || $1 == "seqlab_avx512" { key = $1 == "seqlab" ? $2 : $2 "_avx512"; base[key] = $2; sf[key] = $8; sb[key] = $9; scf[key] = $10; scb[key] = $11
                         shape[key] = $3 "," $4 "," $5 "," $6 "," $7; order[++n] = key }
        $1 == "torch" { tf[$2] = $8; tb[$2] = $9; tcf[$2] = $10; tcb[$2] = $11 }
        $1 == "torch_nograd" { tn[$2] = $8 }
        END { for (i = 1; i <= n; i++) { k = order[i]
                  m = base[k]
                  printf "%s,%s,%.2f,%.2f,%.2f,%.2f,%.2f\n", k, shape[k], tf[m] / sf[k], tn[m] / sf[k], tb[m] / sb[k],
                         tcf[m] / scf[k], tcb[m] / scb[k] } }' \
        "$tmp/seqlab.csv" "$tmp/torch.csv"
} > "$out"
cat "$out"
