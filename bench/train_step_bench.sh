#!/bin/sh
# bench/train_step_bench.sh — one training step (forward, loss, backward, clipping, AdamW) of
# every mixer in the seq: wrapper at the comparison suite's small shapes, seqlab
# (bench/train_step_bench) against PyTorch CPU (bench/train_step_torch.py), 1 thread each,
# measured in the same run: ROUNDS rounds, each running every mixer's seqlab and torch
# measurement back to back (interleaved, so a change in the machine's load hits both), and the
# median over rounds of each measurement's own median.
#   BUILD=/path/to/build ROUNDS=3 sh bench/train_step_bench.sh [MIXER...]
# Shapes (issue 15's): seq:mixer=M,d_model=32,n_layer=2 on adding:length=100, batch 32, T=100.
# CSV (every round's rows) in bench/results/train_step.csv; the summary table on stdout:
# per mixer, seqlab and torch step times (CPU ms: process CPU time, which a loaded machine
# disturbs far less than wall time; and wall ms) and torch / seqlab.
# Mamba's peers: mamba_ssm is not installable here (CUDA, not in Debian), so `mamba` is its
# reference math in plain PyTorch (selective_scan_ref, t/ref/make_mamba_fixtures.py), whose
# autograd backward is O(L^2); `mamba_steps` is the same math with the scan's exponentials
# formed step by step (the faster plain-PyTorch peer). Both are compared with seqlab's mamba.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-.}
ROUNDS=${ROUNDS:-3}
PY=${PY:-/usr/bin/python3}
B=32 T=100 D=32 L=2
REPS=${REPS:-20}          # seqlab steps per measurement (after 5 warm-up steps)
TORCH_REPS=${TORCH_REPS:-10}
bin="$BUILD/bench/train_step_bench"
[ -x "$bin" ] || { echo "build it first: make -C $BUILD bench" >&2; exit 2; }
"$PY" -c 'import torch' 2>/dev/null || { echo "needs PyTorch: apt-get install python3-torch" >&2; exit 2; }
MIXERS=${*:-"rnn lstm gru hippo s4 s4d mamba mamba2 attention"}
mkdir -p "$here/results"
out="$here/results/train_step.csv"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# $(date -u +%FT%TZ) commit $rev $(uname -m) $(nproc) cpus, load average: $(cut -d' ' -f1-3 /proc/loadavg)" >"$tmp"
echo "# torch peers: mamba_ssm is not installable here; mamba = its selective_scan_ref math in plain PyTorch, mamba_steps = the same with per-step exponentials" >>"$tmp"
echo "round,impl,mixer,task,B,T,params,threads,step_ms,step_cpu_ms,fwd_ms,bwd_ms,opt_ms" >>"$tmp"
r=1
while [ $r -le "$ROUNDS" ]; do
    for m in $MIXERS; do
        row=$("$bin" --model "seq:mixer=$m,d_model=$D,n_layer=$L,d_input=2,d_output=1" --task "adding:length=$T" \
              --batch $B --threads 1 --reps "$REPS" --warmup 5) && echo "$r,$row" >>"$tmp"
        peers=$m
        [ "$m" = mamba ] && peers="mamba mamba_steps"
        for p in $peers; do
            reps=$TORCH_REPS warm=2
            [ "$p" = mamba ] && reps=3 warm=1      # its backward takes seconds per step
            row=$("$PY" "$here/train_step_torch.py" "$p" $B $T $D $L 1 $reps $warm) && echo "$r,$row" >>"$tmp"
        done
    done
    r=$((r + 1))
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$tmp"
cp "$tmp" "$out"
echo "# $out ($ROUNDS rounds; medians over rounds; commit $rev)"
awk -F, '
    function med(s,   a, n, i, j, t) {
        n = split(s, a, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    /^#/ || $1 == "round" { next }
    { k = $2 "," $3; cpu[k] = cpu[k] " " $10; wall[k] = wall[k] " " $9; par[k] = $7
      if ($2 == "seqlab" && !($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
    END {
        printf "%-12s %8s %12s %12s %12s %12s %14s %14s\n", "mixer", "params", "seqlab_cpu", "torch_cpu", "seqlab_wall", "torch_wall", "torch/seqlab_cpu", "torch/seqlab_wall"
        for (i = 1; i <= n; i++) {
            m = order[i]; s = "seqlab," m
            peers = (m == "mamba") ? "mamba mamba_steps" : m
            np = split(peers, pp, " ")
            for (j = 1; j <= np; j++) {
                t = "torch," pp[j]
                if (!(t in cpu)) continue
                sc = med(cpu[s]); tc = med(cpu[t]); sw = med(wall[s]); tw = med(wall[t])
                printf "%-12s %8s %12.2f %12.2f %12.2f %12.2f %14.2f %14.2f\n", (j > 1 ? pp[j] : m), par[s], sc, tc, sw, tw, tc / sc, tw / sw
            }
        }
        print "(ms per training step, 1 thread; cpu = process CPU time)"
    }' "$out"
