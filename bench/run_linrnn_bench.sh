#!/bin/sh
# bench/run_linrnn_bench.sh — the linear-RNN mixers (lru, retnet, gla, rwkv): each one's
# efficient sequence form against its recurrent form (and retnet's parallel form, and step
# mode) in seqlab, and against a PyTorch CPU implementation of the same equations and the same
# algorithm (bench/linrnn_torch.py), same machine, same run, same thread count:
# B=8 T=2048 d_model=256 by default, forward and forward+backward.
#
#   [THREADS=2] bench/run_linrnn_bench.sh [BUILDDIR] [extra linrnn_bench / linrnn_torch.py options...]
#
# Writes bench/results/linrnn.csv in the build dir with every row, the load average before and
# after, and the ratios (> 1: seqlab's efficient form faster): torch / seqlab_efficient and
# seqlab_recurrent / seqlab_efficient (and seqlab_parallel, seqlab_step / seqlab_efficient), and prints
# it. Needs /usr/bin/python3 with python3-torch; run `make bench` first.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
[ $# -gt 0 ] && shift
threads=${THREADS:-2}
bench="$build/bench/linrnn_bench"
[ -x "$bench" ] || { echo "run_linrnn_bench.sh: $bench not built (make bench)" >&2; exit 1; }
mkdir -p "$build/bench/results"
out="$build/bench/results/linrnn.csv"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OMP_NUM_THREADS=$threads "$bench" --threads "$threads" "$@" > "$tmp/seqlab.csv"
/usr/bin/python3 "$here/linrnn_torch.py" --check > "$tmp/check.txt"   # the peers' chunked forms == their recurrences
/usr/bin/python3 "$here/linrnn_torch.py" --threads "$threads" "$@" > "$tmp/torch.csv"
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load average before: $load0, after: $load1"
    sed 's/^/# torch peers: /' "$tmp/check.txt"
    cat "$tmp/seqlab.csv" "$tmp/torch.csv"
    echo
    echo "mixer,T,B,d_model,threads,torch_over_seqlab_fwd,torch_over_seqlab_fwdbwd,recurrent_over_efficient_fwd,recurrent_over_efficient_fwdbwd,parallel_over_efficient_fwd,step_over_efficient_fwd"
    awk -F, '$1 == "impl" || NF < 9 { next }
        { key = $1 "/" $3; f[$2, key] = $8; b[$2, key] = $9
          if ($1 == "seqlab" && $3 == "efficient") { order[++n] = $2; shape[$2] = $4 "," $5 "," $6 "," $7 } }
        function r(num, den) { return (num == "" || den == "" || den == 0) ? "" : sprintf("%.2f", num / den) }
        END { for (i = 1; i <= n; i++) { m = order[i]; c = "seqlab/efficient"
                  printf "%s,%s,%s,%s,%s,%s,%s,%s\n", m, shape[m], r(f[m, "torch/efficient"], f[m, c]), r(b[m, "torch/efficient"], b[m, c]),
                         r(f[m, "seqlab/recurrent"], f[m, c]), r(b[m, "seqlab/recurrent"], b[m, c]),
                         r(f[m, "seqlab/parallel"], f[m, c]), r(f[m, "seqlab/step"], f[m, c]) } }' \
        "$tmp/seqlab.csv" "$tmp/torch.csv"
} > "$out"
cat "$out"
