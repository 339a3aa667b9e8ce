#!/bin/sh
# bench/run_scan_bench.sh — the selective scan and the Mamba block, seqlab against the PyTorch
# CPU peers (bench/scan_torch.py), measured in the same run on this machine. CSV on stdout and
# in bench/results/scan.csv; a summary of the ratios on stderr.
#   BUILD=/path/to/build THREADS=2 sh bench/run_scan_bench.sh
# Problem (the issue's): scan B=1, D=1536, L=2048, N=16; block mamba:d_model=768 (D = 1536),
# N=16, B=1 at L=2048 (forward) and L=512 (forward + backward: the reference's backward is
# O(L^2) in PyTorch, see scan_torch.py).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-.}
THREADS=${THREADS:-2}
PY=${PY:-/usr/bin/python3}
bin="$BUILD/bench/scan_bench"
[ -x "$bin" ] || { echo "build it first: make -C $BUILD bench" >&2; exit 2; }
mkdir -p "$here/results"
out="$here/results/scan.csv"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus, load average: $(cut -d' ' -f1-3 /proc/loadavg)" > "$tmp"
"$bin" scan 1 1536 2048 16 "$THREADS" 5 >> "$tmp"
"$bin" block 1 768 2048 16 "$THREADS" 3 | tail -n +2 >> "$tmp"
"$bin" block 1 768 512 16 "$THREADS" 3 | tail -n +2 >> "$tmp"
# the scan forwards are timed 5 times (median, as seqlab's 5): one torch_ref forward took
# 0.20 s to 0.42 s on the same idle machine, depending on the allocator's state
SCAN_TORCH_FWD_REPS=5 "$PY" "$here/scan_torch.py" scan 1 1536 2048 16 "$THREADS" 1 >> "$tmp"
SCAN_TORCH_NO_BACKWARD=1 "$PY" "$here/scan_torch.py" block 1 768 2048 16 "$THREADS" 1 >> "$tmp"
"$PY" "$here/scan_torch.py" block 1 768 512 16 "$THREADS" 1 >> "$tmp"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$tmp"
cp "$tmp" "$out"
cat "$out"
# ratios: peer seconds / seqlab seconds for matching (pass, L)
awk -F, '
    /^#/ || $1 == "impl" { next }
    { key = $2 "," $5; t[$1 "," key] = $8; keys[key] = 1 }
    END {
        for (k in keys) {
            split(k, p, ",")
            if ((("seqlab_fast," k) in t) && (("torch_ref," k) in t))
                printf "scan %s L=%s: torch_ref / seqlab_fast = %.1fx\n", p[1], p[2], t["torch_ref," k] / t["seqlab_fast," k]
            if ((("seqlab_fast," k) in t) && (("torch_steps," k) in t))
                printf "scan %s L=%s: torch_steps / seqlab_fast = %.1fx\n", p[1], p[2], t["torch_steps," k] / t["seqlab_fast," k]
            if ((("seqlab_block," k) in t) && (("torch_block," k) in t))
                printf "block %s L=%s: torch_block / seqlab_block = %.1fx\n", p[1], p[2], t["torch_block," k] / t["seqlab_block," k]
        }
    }' "$out" | sort >&2
