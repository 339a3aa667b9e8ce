#!/bin/sh
# bench/ckpt_bench.sh — gradient checkpointing (issue #21 item 2): peak resident size and step
# time against sequence length and depth, with and without --checkpoint-blocks, one process per
# configuration (bench/ckpt_bench, built by `make bench`), the configurations of one model
# alternated in the same run.
#
# usage: bench/ckpt_bench.sh [STEPS] [THREADS] > bench/ckpt_results.csv
#   STEPS    timed steps per configuration (default 4; one untimed step first)
#   THREADS  default 1
# env: MODELS (default "gpt lstm mamba"), B (default 4), DEPTHS (default "4 8"), LENS
#      (default "256 512 1024"): the depth sweep at T=512, the length sweep at the last depth.
#
# CSV (stdout): ckpt_bench's row (model,n_layer,B,T,K,steps,ms_step,cpu_ms_step,maxrss_kb,
# act_peak_bytes) plus load1 (the one-minute load average when the row ended). A summary goes
# to stderr: per configuration and K, the activation factor act_peak(off) / act_peak(K), the
# resident factor (maxrss(off) - base) / (maxrss(K) - base) with base = maxrss - act_peak at
# K=off (the process without its activations), and the recompute cost cpu_ms(K) / cpu_ms(off) - 1.
set -u
STEPS=${1:-4}
THREADS=${2:-1}
BENCH=${BENCH:-bench/ckpt_bench}
MODELS=${MODELS:-gpt lstm mamba}
B=${B:-4}
DEPTHS=${DEPTHS:-4 8}
LENS=${LENS:-256 512 1024}
[ -x "$BENCH" ] || { echo "ckpt_bench: $BENCH not built (make bench)" >&2; exit 1; }
spec() { # MODEL DEPTH T
    case $1 in
    gpt) echo "gpt:n_layer=$2,n_head=4,n_embd=128,block_size=$3" ;;
    lstm) echo "lm:mixer=lstm,d_model=128,n_layer=$2" ;;
    mamba) echo "lm:mixer=mamba,d_model=128,n_layer=$2" ;;
    esac
}
out=$(mktemp /tmp/sl-ckptbench-XXXXXX)
trap 'rm -f "$out"' EXIT
echo "model,n_layer,B,T,K,steps,ms_step,cpu_ms_step,maxrss_kb,act_peak_bytes,load1"
last=""
for d in $DEPTHS; do last=$d; done
for m in $MODELS; do
    confs=""
    for d in $DEPTHS; do confs="$confs $d:512"; done
    for t in $LENS; do [ "$t" = 512 ] || confs="$confs $last:$t"; done
    for c in $confs; do
        d=${c%:*}; t=${c#*:}
        for k in 0 1 2; do
            sp=$(spec "$m" "$d" "$t")
            row=$("$BENCH" "$sp" "$B" "$t" "$k" "$STEPS" "$THREADS") || exit 1
            # the spec has commas: quoted, as a CSV field
            echo "\"$sp\",${row#"$sp,"},$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
        done
    done
done
# the summary: rows come in threes (K = 0, 1, 2) per configuration
# (fields counted from the end: the quoted spec holds commas)
awk -F, '
{ L = $(NF-9); T = $(NF-7); K = $(NF-6); cpu = $(NF-3); rss = $(NF-2); act = $(NF-1); ld = $NF
  name = $1; gsub(/"/, "", name)
  if (K == 0) { rss0 = rss; act0 = act; cpu0 = cpu; base = rss0 - act0 / 1024 }
  else printf "%s n_layer=%s T=%s K=%s: activations %.2fx smaller (%.1f -> %.1f MiB), resident %.2fx smaller (%.0f -> %.0f MiB, base %.0f MiB), recompute cost %+.0f%% CPU time per step (%.0f -> %.0f ms), load %s\n",
       name, L, T, K, act0 / act, act0 / 1048576, act / 1048576, (rss0 - base) / (rss - base),
       rss0 / 1024, rss / 1024, base / 1024, 100 * (cpu / cpu0 - 1), cpu0, cpu, ld }' "$out" >&2
