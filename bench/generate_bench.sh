#!/bin/sh
# bench/generate_bench.sh — `seqlab generate --llama2c` against llama2.c's run.c on the same
# checkpoint, timed alternately in the same run (issue #17 item 2).
#
# usage: bench/generate_bench.sh LLAMA2C_CHECKOUT [ROUNDS] > results.csv
#   LLAMA2C_CHECKOUT  a karpathy/llama2.c checkout outside this tree (run.c, tokenizer.bin);
#                     without one the script says so and exits 0 (skip). run.c is built into a
#                     temporary directory as its README says: gcc -Ofast -fopenmp -march=native
#                     run.c -lm. The checkout's commit is printed to stderr.
#   ROUNDS            default 5; each round runs both programs at 1 and at 2 threads, in
#                     alternating order (run.c first in odd rounds).
# env: SEQLAB (default ./seqlab), PYTHON (default /usr/bin/python3, with numpy: makes the
#      checkpoint with bench/make_llama2c_random.py). When SEQLAB is libtool's wrapper script
#      (./seqlab in the build tree, a bash script that sets the library path and execs
#      .libs/seqlab: about 0.09 s of bash per run on this machine) the script runs .libs/seqlab
#      with LD_LIBRARY_PATH set instead, as an installed seqlab runs.
#
# The checkpoint: random weights of the stories15M shape (dim 288, 6 layers, 6 heads, vocab
# 32000, seq_len 256, 60.8 MB). Both programs decode greedily (temperature 0) from the prompt
# "Once upon a time" through all 256 positions (run.c -n 256; seqlab --tokens 257 - prompt
# tokens, so both run 256 forward passes) and must print the same text.
#
# CSV (stdout): round,threads,impl,positions,wall_s,tok_per_s_wall,tok_per_s_self,maxrss_kb,same_text,load1,cpu_s,tok_per_cpu_s
#   tok_per_s_wall = positions / wall seconds of the whole process (load included);
#   tok_per_s_self = the program's own rate: run.c's "achieved tok/s" (from the end of the first
#   forward pass to the end), seqlab's --stats rate (positions / seconds inside the model);
#   maxrss_kb = peak resident set (GNU time %M); same_text = seqlab printed run.c's text;
#   load1 = the 1-minute load average just before the run (/proc/loadavg); cpu_s = user + system
#   seconds of the whole process (GNU time %U + %S) and tok_per_cpu_s = positions / cpu_s: on a
#   loaded machine the wall times measure the scheduler, the CPU times much less so (at 2 threads
#   they include the time the threads spend waiting for each other).
# A summary with medians and seqlab/run.c ratios goes to stderr.
set -u
L2C=${1:-}
ROUNDS=${2:-5}
SEQLAB=${SEQLAB:-./seqlab}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$SEQLAB" ] && head -c 400 "$SEQLAB" | grep -q 'temporary wrapper script'; then
    d=$(cd "$(dirname "$SEQLAB")" && pwd)
    SEQLAB=$d/.libs/seqlab
    LD_LIBRARY_PATH=$d/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LD_LIBRARY_PATH
    echo "generate_bench: libtool wrapper bypassed: $SEQLAB with LD_LIBRARY_PATH=$d/.libs" >&2
fi
if [ -z "$L2C" ] || [ ! -f "$L2C/run.c" ] || [ ! -f "$L2C/tokenizer.bin" ]; then
    echo "generate_bench: skipped: give the path of a karpathy/llama2.c checkout (run.c, tokenizer.bin) built outside this tree" >&2
    exit 0
fi
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "generate_bench: skipped: $PYTHON with numpy is needed to write the random checkpoint" >&2
    exit 0
fi
[ -x /usr/bin/time ] || { echo "generate_bench: /usr/bin/time (GNU time) is needed" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sl-genbench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
commit=$(git -C "$L2C" rev-parse HEAD 2>/dev/null || echo unknown)
echo "generate_bench: llama2.c checkout $L2C, commit $commit; seqlab $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)" >&2
gcc -Ofast -fopenmp -march=native "$L2C/run.c" -lm -o "$tmp/run" || { echo "generate_bench: building run.c failed" >&2; exit 1; }
"$PYTHON" "$here/make_llama2c_random.py" "$tmp/s15.bin" || exit 1
TOK="$L2C/tokenizer.bin"
PROMPT="Once upon a time"
# the prompt's tokens (with BOS), from seqlab's --stats; this run also warms the page cache
"$SEQLAB" generate --llama2c "$tmp/s15.bin" --tokenizer "$TOK" --prompt "$PROMPT" --tokens 1 --temperature 0 --stats \
    >"$tmp/warm.out" 2>"$tmp/warm" || { cat "$tmp/warm" >&2; exit 1; }
np=$(sed -n 's/.*stats: prompt \([0-9]*\) tokens.*/\1/p' "$tmp/warm")
[ -n "$np" ] || { echo "generate_bench: no --stats line from seqlab" >&2; exit 1; }
NGEN=$((257 - np))
POS=256

load1() { cut -d' ' -f1 /proc/loadavg; }
run_runc() {   # threads round
    ld=$(load1)
    OMP_NUM_THREADS=$1 /usr/bin/time -f "TIME %e %M %U %S" "$tmp/run" "$tmp/s15.bin" -z "$TOK" -t 0 -n $POS -i "$PROMPT" \
        >"$tmp/runc.out" 2>"$tmp/runc.err" || { cat "$tmp/runc.err" >&2; exit 1; }
    set -- "$1" "$2" $(sed -n 's/^TIME //p' "$tmp/runc.err") "$(sed -n 's/^achieved tok\/s: //p' "$tmp/runc.err")"
    awk -v r="$2" -v t="$1" -v p=$POS -v w="$3" -v m="$4" -v s="$7" -v ld="$ld" -v c="$5" -v c2="$6" \
        'BEGIN { printf "%d,%d,run.c,%d,%.3f,%.1f,%.1f,%d,1,%s,%.3f,%.1f\n", r, t, p, w, p / w, s, m, ld, c + c2, p / (c + c2) }'
}
run_seqlab() {   # threads round
    ld=$(load1)
    OMP_NUM_THREADS=$1 /usr/bin/time -f "TIME %e %M %U %S" "$SEQLAB" generate --llama2c "$tmp/s15.bin" --tokenizer "$TOK" \
        --prompt "$PROMPT" --tokens $NGEN --temperature 0 --threads "$1" --stats >"$tmp/sl.out" 2>"$tmp/sl.err" \
        || { cat "$tmp/sl.err" >&2; exit 1; }
    same=0
    cmp -s "$tmp/sl.out" "$tmp/runc.ref" && same=1
    set -- "$1" "$2" $(sed -n 's/^TIME //p' "$tmp/sl.err") \
        "$(sed -n 's/.* positions in [0-9.]* s (\([0-9.]*\) tok\/s).*/\1/p' "$tmp/sl.err")" $same
    awk -v r="$2" -v t="$1" -v p=$POS -v w="$3" -v m="$4" -v s="$7" -v same="$8" -v ld="$ld" -v c="$5" -v c2="$6" \
        'BEGIN { printf "%d,%d,seqlab,%d,%.3f,%.1f,%.1f,%d,%d,%s,%.3f,%.1f\n", r, t, p, w, p / w, s, m, same, ld, c + c2, p / (c + c2) }'
}

# run.c's text is the reference for every seqlab run
OMP_NUM_THREADS=1 "$tmp/run" "$tmp/s15.bin" -z "$TOK" -t 0 -n $POS -i "$PROMPT" >"$tmp/runc.ref" 2>"$tmp/runc.ref.err"
echo "round,threads,impl,positions,wall_s,tok_per_s_wall,tok_per_s_self,maxrss_kb,same_text,load1,cpu_s,tok_per_cpu_s" | tee "$tmp/csv"
r=1
while [ $r -le "$ROUNDS" ]; do
    for t in 1 2; do
        if [ $((r % 2)) -eq 1 ]; then run_runc $t $r; run_seqlab $t $r; else run_seqlab $t $r; run_runc $t $r; fi
    done | tee -a "$tmp/csv"
    r=$((r + 1))
done
# summary: medians per (impl, threads) and the ratios
{
    echo "generate_bench: $ROUNDS rounds, $(uname -n), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
    for t in 1 2; do
        for col in 6 7 12 8; do
            for impl in run.c seqlab; do
                awk -F, -v t=$t -v i=$impl -v c=$col 'NR > 1 && $2 == t && $3 == i { print $c }' "$tmp/csv" | sort -g |
                    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' >"$tmp/med.$impl"
            done
            name=$(echo "x x x x x tok_per_s_wall tok_per_s_self maxrss_kb x x x tok_per_cpu_s" | cut -d' ' -f$col)
            awk -v t=$t -v n=$name -v a="$(cat "$tmp/med.run.c")" -v b="$(cat "$tmp/med.seqlab")" \
                'BEGIN { printf "  threads %d  %-15s median run.c %10.1f  seqlab %10.1f  seqlab/run.c %.2f\n", t, n, a, b, b / a }'
        done
    done
    awk -F, 'NR > 1 && $3 == "seqlab" { n++; s += $9 } END { printf "  seqlab printed run.c'"'"'s text in %d of %d runs\n", s, n }' "$tmp/csv"
} >&2
