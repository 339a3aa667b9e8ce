#!/bin/bash
# bench/dist_bench.sh — data-parallel training on this machine (docs/distributed.md): time per
# step of one process (1 and 2 threads) and of `mpirun -np 2` (1 thread per rank, same global
# batch) for the nanoGPT CPU recipe's GPT and for the Mamba LM and GPT of the experiments' text arm
# (experiments/lm.sh, --full), with
# the share of a step spent in the gradient allreduce; then one MPI_Allreduce alone against its
# size (bench/allreduce_bench.c, both the rank-ordered sum seqlab uses and MPI_SUM), from which
# the cost model's latency and bandwidth are fitted. Run from the build directory:
#   bash $SRC/bench/dist_bench.sh [OUT_PREFIX]      (default dist_bench: OUT_PREFIX_steps.csv,
#                                                    OUT_PREFIX_allreduce.csv)
# STEPS (50), DATA (../shared/data/tinyshakespeare.txt, else the built-in licence corpus).
# The machine's load is written beside every row: other jobs change the wall times.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
SEQLAB=${SEQLAB:-./seqlab}
out=${1:-dist_bench}
STEPS=${STEPS:-50}
DATA=${DATA:-$src/../shared/data/tinyshakespeare.txt}
corpus=()
[ -f "$DATA" ] && corpus=(--corpus "$DATA")
MPIRUN=$(command -v mpirun) || { echo "dist_bench: mpirun not found" >&2; exit 1; }
MPI=("$MPIRUN" --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# name | model | task | batch
CONFIGS=(
    "nanogpt|gpt:n_layer=4,n_head=4,n_embd=128,block_size=64,bias=0|charlm:seq_len=64|12"
    "mamba_lm|lm:mixer=mamba,d_model=256,n_layer=2|charlm:seq_len=128|32"
    "exp_gpt|gpt:n_layer=2,n_head=4,n_embd=256|charlm:seq_len=128|32"
)
echo "model,params,ranks,threads_per_rank,batch,seq_len,steps,ms_per_step,allreduce_ms_per_step,wait_ms_per_step,allreduce_share,load1_before,load1_after" >"${out}_steps.csv"
for c in "${CONFIGS[@]}"; do
    IFS='|' read -r name model task batch <<<"$c"
    T=${task##*=}
    for mode in "1 1" "1 2" "2 1"; do
        set -- $mode
        K=$1 th=$2 dir=$tmp/$name-$K-$th
        args=(train --model "$model" --task "$task" "${corpus[@]}" --batch "$batch" --steps "$STEPS" --eval-every 0
            --eval-batches 1 --ckpt-every 0 --no-progress --threads "$th" --out "$dir")
        l0=$(cut -d' ' -f1 /proc/loadavg)
        if [ "$K" = 1 ]; then
            line=$(OMP_NUM_THREADS=$th "$SEQLAB" "${args[@]}" 2>&1 | tail -n 1)
        else
            line=$(OMP_NUM_THREADS=$th "${MPI[@]}" -np "$K" "$SEQLAB" "${args[@]}" 2>&1 | grep '^step' | tail -n 1)
        fi
        l1=$(cut -d' ' -f1 /proc/loadavg)
        params=$("$SEQLAB" eval --run "$dir" --batches 1 2>/dev/null | sed -n 's/^params: //p')
        # ms per step between the log rows (every 10 steps) of steps 10 and STEPS-10 (the last row
        # includes the final evaluation)
        ms=$(awk -F, -v a=10 -v b=$((STEPS - 10)) '$1 == a { s0 = $2 } $1 == b { s1 = $2 } END { printf "%.2f", 1000 * (s1 - s0) / (b - a) }' "$dir/log.csv")
        ar=$(echo "$line" | sed -n 's/.*allreduce \([0-9.]*\)s.*/\1/p')
        wt=$(echo "$line" | sed -n 's/.*waiting \([0-9.]*\)s.*/\1/p')
        awk -v n="$name" -v p="$params" -v K="$K" -v th="$th" -v B="$batch" -v T="$T" -v S="$STEPS" -v ms="$ms" \
            -v ar="${ar:-0}" -v wt="${wt:-0}" -v l0="$l0" -v l1="$l1" \
            'BEGIN { a = 1000 * ar / S; w = 1000 * wt / S; printf "%s,%s,%d,%d,%d,%d,%d,%s,%.3f,%.3f,%.4f,%s,%s\n", n, p, K, th, B, T, S, ms, a, w, a / ms, l0, l1 }' |
            tee -a "${out}_steps.csv"
    done
done

# one allreduce alone, 1 float to 4M floats (16 MB), 2 ranks
if command -v mpicc >/dev/null; then
    mpicc -O2 -o "$tmp/allreduce_bench" "$src/bench/allreduce_bench.c" &&
        "${MPI[@]}" -np 2 "$tmp/allreduce_bench" $((1 << 22)) >"${out}_allreduce.csv"
    echo "load after the allreduce bench: $(cat /proc/loadavg)" >&2
fi
