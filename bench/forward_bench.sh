#!/bin/sh
# bench/forward_bench.sh — `seqlab forward` (inference mode) against PyTorch under no_grad, whole
# processes from start to exit, alternated in the same run (issue #17 item 1).
#
# usage: bench/forward_bench.sh [ROUNDS] [THREADS] > results.csv
#   ROUNDS   default 3; each round runs both programs on both models, the order alternating
#   THREADS  default 1 (both programs get the same count)
# env: SEQLAB (default ./seqlab), PYTHON (default /usr/bin/python3 with python3-torch and numpy;
#      without them the script says so and exits 0), MAMBA_B (default 1).
#
# Models (bench/forward_torch.py is the peer):
#   lstm   lstm:input_size=128,hidden_size=256 against torch.nn.LSTM, B=32, T=2048 (a 33 MB input)
#   mamba  mamba:d_model=256 against mamba_ssm's Mamba on its reference path (selective_scan_ref's
#          formulas: a Python loop over the positions), B=MAMBA_B, L=1024
# The weights come from the peer (safetensors, written once before the timed runs), so the
# outputs are compared too (max_abs_diff, from the untimed first pair of runs).
#
# CSV (stdout): round,model,impl,threads,wall_s,user_s,sys_s,maxrss_kb,forward_s
#   wall_s: the whole process (GNU time %e); forward_s: torch's forward alone (in-process), empty
#   for seqlab. A summary (medians, torch/seqlab ratios, load average) goes to stderr.
set -u
ROUNDS=${1:-3}
THREADS=${2:-1}
SEQLAB=${SEQLAB:-./seqlab}
PYTHON=${PYTHON:-/usr/bin/python3}
MAMBA_B=${MAMBA_B:-1}
here=$(cd "$(dirname "$0")" && pwd)
"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
    { echo "forward_bench: skipped: $PYTHON with torch and numpy is needed for the peer" >&2; exit 0; }
[ -x /usr/bin/time ] || { echo "forward_bench: /usr/bin/time (GNU time) is needed" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sl-fwdbench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$tmp/lstm_x.npy', r.uniform(-1, 1, (32, 2048, 128)).astype(np.float32))
np.save('$tmp/mamba_x.npy', r.uniform(-1, 1, ($MAMBA_B, 1024, 256)).astype(np.float32))
" || exit 1
spec_lstm="lstm:input_size=128,hidden_size=256"
spec_mamba="mamba:d_model=256"

run_torch() {   # model round [W]
    OMP_NUM_THREADS=$THREADS /usr/bin/time -f "TIME %e %U %S %M" "$PYTHON" "$here/forward_torch.py" "$1" "$tmp/$1_x.npy" \
        "$tmp/$1_yt.npy" "${3:--}" --threads "$THREADS" >"$tmp/t.out" 2>"$tmp/t.err" || { cat "$tmp/t.err" >&2; exit 1; }
    set -- "$1" "$2" $(sed -n 's/^TIME //p' "$tmp/t.err") "$(sed -n 's/^forward_s=//p' "$tmp/t.out")"
    echo "$2,$1,torch,$THREADS,$3,$4,$5,$6,$7"
}
run_seqlab() {   # model round
    eval spec=\$spec_$1
    OMP_NUM_THREADS=$THREADS /usr/bin/time -f "TIME %e %U %S %M" "$SEQLAB" forward --model "$spec" --weights "$tmp/$1_w.safetensors" \
        --input "$tmp/$1_x.npy" --output "$tmp/$1_ys.npy" --threads "$THREADS" >"$tmp/s.out" 2>"$tmp/s.err" \
        || { cat "$tmp/s.err" >&2; exit 1; }
    set -- "$1" "$2" $(sed -n 's/^TIME //p' "$tmp/s.err")
    echo "$2,$1,seqlab,$THREADS,$3,$4,$5,$6,"
}

echo "forward_bench: $(uname -n), $(date -u +%FT%TZ), $THREADS thread(s), load before $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# the untimed first pair: the weights, and the outputs compared
for mdl in lstm mamba; do
    run_torch $mdl 0 "$tmp/${mdl}_w.safetensors" >/dev/null
    run_seqlab $mdl 0 >/dev/null
    "$PYTHON" -c "
import numpy as np
a, b = np.load('$tmp/${mdl}_ys.npy'), np.load('$tmp/${mdl}_yt.npy')
print('forward_bench: $mdl: seqlab vs torch outputs %s, max |diff| %.3g (max |y| %.3g)' % (a.shape, abs(a - b).max(), abs(b).max()))
" >&2
done
echo "round,model,impl,threads,wall_s,user_s,sys_s,maxrss_kb,forward_s" | tee "$tmp/csv"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for mdl in lstm mamba; do
        if [ $((r % 2)) -eq 1 ]; then run_torch $mdl $r; run_seqlab $mdl $r; else run_seqlab $mdl $r; run_torch $mdl $r; fi
    done | tee -a "$tmp/csv"
    r=$((r + 1))
done
{
    echo "forward_bench: load after $(cut -d' ' -f1-3 /proc/loadavg)"
    for mdl in lstm mamba; do
        for col in 5 7 8 9; do
            for impl in torch seqlab; do
                awk -F, -v m=$mdl -v i=$impl -v c=$col 'NR > 1 && $2 == m && $3 == i && $c != "" { print $c }' "$tmp/csv" | sort -g |
                    awk '{ v[NR] = $1 } END { print NR ? ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) : "" }' >"$tmp/med.$impl"
            done
            name=$(echo "x x x x wall_s user_s sys_s maxrss_kb forward_s" | cut -d' ' -f$col)
            awk -v m=$mdl -v n=$name -v a="$(cat "$tmp/med.torch")" -v b="$(cat "$tmp/med.seqlab")" \
                'BEGIN { if (b == "") printf "  %-6s %-10s median torch %10.4g\n", m, n, a;
                         else printf "  %-6s %-10s median torch %10.4g  seqlab %10.4g  torch/seqlab %.2f\n", m, n, a, b, (b > 0 ? a / b : 0) }'
        done
    done
} >&2
