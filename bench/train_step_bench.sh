#!/bin/sh
# bench/train_step_bench.sh — one training step (forward, loss, backward, clipping, AdamW) of
# every mixer in the seq: wrapper at the comparison suite's small shapes, seqlab
# (bench/train_step_bench) against PyTorch CPU (bench/train_step_torch.py), 1 thread each,
# measured in the same run: ROUNDS rounds, each running every mixer's seqlab and torch
# measurement back to back (interleaved, so a change in the machine's load hits both), and the
# median over rounds of each measurement's own median.
#   BUILD=/path/to/build ROUNDS=3 sh bench/train_step_bench.sh [MIXER...]
# BASE=/path/to/other/build adds that build's bench/train_step_bench (an older commit, say) to
# every round as impl seqlab_base, so a before/after comparison is measured in the same run too.
# TORCH_MAMBA_REF=0 skips the slow selective_scan_ref peer (seconds per step); TORCH=0 skips
# every PyTorch peer (seqlab and seqlab_base only; no PyTorch needed). THREADS=k runs every
# measurement on k threads (default 1; the trainer's batch slices split the batch over them).
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
BASE=${BASE:-}
ROUNDS=${ROUNDS:-3}
PY=${PY:-/usr/bin/python3}
B=32 T=100 D=32 L=2
REPS=${REPS:-20}          # seqlab steps per measurement (after 5 warm-up steps)
TORCH_REPS=${TORCH_REPS:-10}
TORCH_MAMBA_REF=${TORCH_MAMBA_REF:-1}
TORCH=${TORCH:-1}
THREADS=${THREADS:-1}
bin="$BUILD/bench/train_step_bench"
[ -x "$bin" ] || { echo "build it first: make -C $BUILD bench" >&2; exit 2; }
[ -z "$BASE" ] || [ -x "$BASE/bench/train_step_bench" ] || { echo "BASE=$BASE has no bench/train_step_bench" >&2; exit 2; }
[ "$TORCH" = 0 ] || "$PY" -c 'import torch' 2>/dev/null || { echo "needs PyTorch: apt-get install python3-torch" >&2; exit 2; }
MIXERS=${*:-"rnn lstm gru hippo s4 s4d mamba mamba2 attention"}
mkdir -p "$here/results"
out="$here/results/train_step.csv"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# $(date -u +%FT%TZ) commit $rev${BASE:+, base $BASE} $(uname -m) $(nproc) cpus, load average: $(cut -d' ' -f1-3 /proc/loadavg)" >"$tmp"
echo "# torch peers: mamba_ssm is not installable here; mamba = its selective_scan_ref math in plain PyTorch, mamba_steps = the same with per-step exponentials" >>"$tmp"
echo "round,impl,mixer,task,B,T,params,threads,step_ms,step_cpu_ms,fwd_ms,bwd_ms,opt_ms" >>"$tmp"
r=1
while [ $r -le "$ROUNDS" ]; do
    for m in $MIXERS; do
        spec="seq:mixer=$m,d_model=$D,n_layer=$L,d_input=2,d_output=1"
        row=$("$bin" --model "$spec" --task "adding:length=$T" --batch $B --threads "$THREADS" --reps "$REPS" --warmup 5) &&
            echo "$r,$row" >>"$tmp"
        if [ -n "$BASE" ]; then
            row=$("$BASE/bench/train_step_bench" --model "$spec" --task "adding:length=$T" --batch $B --threads "$THREADS" \
                  --reps "$REPS" --warmup 5) && echo "$r,seqlab_base,${row#seqlab,}" >>"$tmp"
        fi
        peers=$m
        [ "$TORCH" = 0 ] && peers=
        if [ "$m" = mamba ] && [ "$TORCH" != 0 ]; then
            peers=mamba_steps
            [ "$TORCH_MAMBA_REF" = 1 ] && peers="mamba mamba_steps"
        fi
        for p in $peers; do
            reps=$TORCH_REPS warm=2
            [ "$p" = mamba ] && reps=2 warm=1      # its backward takes seconds per step
            row=$("$PY" "$here/train_step_torch.py" "$p" $B $T $D $L "$THREADS" $reps $warm) && echo "$r,$row" >>"$tmp"
        done
    done
    r=$((r + 1))
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$tmp"
cp "$tmp" "$out"
echo "# $out ($ROUNDS rounds; commit $rev${BASE:+; base = $BASE})"
awk -F, '
    function med(s,   a, n, i, j, t) {
        n = split(s, a, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function f(k, arr) { return (k in arr) ? sprintf("%.2f", med(arr[k])) : "-" }
    /^#/ || $1 == "round" { next }
    { k = $2 "," $3; cpu[k] = cpu[k] " " $10; wall[k] = wall[k] " " $9; par[k] = $7
      if ($2 == "seqlab" && !($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
    END {
        printf "%-18s %7s %9s %9s %9s %9s %9s %9s %11s %12s\n", "mixer/torch peer", "params", "base_cpu", "cpu", "torch_cpu",
               "base_wall", "wall", "torch_wall", "base/seqlab", "torch/seqlab"
        for (i = 1; i <= n; i++) {
            m = order[i]; s = "seqlab," m; b = "seqlab_base," m
            peers = (m == "mamba" && ("torch,mamba_steps" in cpu)) ? "mamba mamba_steps" : m
            np = split(peers, pp, " ")
            for (j = 1; j <= np; j++) {
                t = "torch," pp[j]
                if (np > 1 && !(t in cpu)) continue
                br = (b in cpu) ? sprintf("%.2f", med(cpu[b]) / med(cpu[s])) : "-"
                tr = (t in cpu) ? sprintf("%.2f", med(cpu[t]) / med(cpu[s])) : "-"
                printf "%-18s %7s %9s %9s %9s %9s %9s %9s %11s %12s\n", (pp[j] == m ? m : m "/" pp[j]), par[s], f(b, cpu), f(s, cpu),
                       f(t, cpu), f(b, wall), f(s, wall), f(t, wall), br, tr
            }
        }
        print "(ms per training step, " th " thread(s), medians over rounds; cpu = process CPU time; the ratios are of CPU times)"
    }' th="$THREADS" "$out"
