#!/bin/sh
# bench/run_conv_bench.sh — based, h3, hyena: seqlab's efficient form against its recurrent
# (step) form and against the PyTorch CPU peer of the same equations (bench/conv_torch.py), in
# the same run (the direct-sum forms: conv_bench --naive 1). OMP_WAIT_POLICY=PASSIVE because
# the machine is shared: spinning OpenMP barriers cost the step loop most of its time there.
# Run from the build directory:
#     sh $SRC/bench/run_conv_bench.sh [threads] [reps]
# Writes bench/results/conv_t<threads>.csv (both implementations' rows) and
# bench/results/conv_ratios_t<threads>.csv (each time over seqlab's efficient form of the same
# mixer and pass).
set -e
TH=${1:-2}
REPS=${2:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
make bench/conv_bench
mkdir -p bench/results
raw=bench/results/conv_t$TH.csv
OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$TH ./bench/conv_bench --reps "$REPS" --out "$raw.seqlab"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$TH /usr/bin/python3 "$SRC/bench/conv_torch.py" --threads "$TH" --reps "$REPS" >"$raw.torch"
else
    echo "python3-torch not found: PyTorch peer skipped" >&2
    echo "impl,mixer,form,pass,B,T,d_model,threads,reps,seconds" >"$raw.torch"
fi
{ cat "$raw.seqlab"; tail -n +2 "$raw.torch"; } >"$raw"
rm -f "$raw.seqlab" "$raw.torch"
awk -F, 'NR == 1 { next }
    { key = $2 "," $4; row[NR] = $0; k[NR] = key; s[NR] = $10
      if ($1 == "seqlab" && $3 == "efficient") base[key] = $10 }
    END { print "impl,mixer,form,pass,seconds,over_seqlab_efficient"
          for (i = 2; i <= NR; i++) { split(row[i], f, ",")
              printf "%s,%s,%s,%s,%s,%.3g\n", f[1], f[2], f[3], f[4], f[10], base[k[i]] ? s[i] / base[k[i]] : 0 } }' \
    "$raw" >bench/results/conv_ratios_t$TH.csv
cat bench/results/conv_ratios_t$TH.csv
