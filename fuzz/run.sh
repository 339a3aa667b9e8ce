#!/bin/sh
# fuzz/run.sh — run the libFuzzer harnesses of a --enable-fuzzing build (docs/reliability.md).
#
#   fuzz/run.sh [-b BUILDDIR] [-o OUTDIR] [-t SECONDS] [-r RUNS] [-s SEED] [NAME...]
#
# For each harness NAME (default: all) runs BUILDDIR/fuzz/fuzz-NAME under nice -n 19 on the
# working corpus OUTDIR/NAME (started from, and merged with, the committed seeds
# fuzz/corpus/NAME and the reproducers of fixed findings, t/data/fuzz/NAME) with its dictionary fuzz/dict/NAME.dict when there is one, until SECONDS
# (default 60) have passed or RUNS executions (default unlimited) were made; -s fixes
# libFuzzer's random seed (with -r, the same inputs every run: CI's smoke test). Limits: 2 GB of
# memory, 25 s per input (generous: on a loaded machine a descheduled process must not look
# like a hang). Crashes, leaks, timeouts and out-of-memory inputs go to OUTDIR/NAME-findings/
# (crash-*, leak-*, timeout-*, oom-*), inputs slower than 25 s there as slow-unit-* (counted
# apart: rerun them alone to see whether they are slow); each run's log to OUTDIR/NAME.log.
# Prints one CSV line per harness:
#   harness,seconds,execs,execs_per_s,edges,features,corpus,findings,slow
# (edges = libFuzzer's "cov", the covered edges of the instrumented code) and exits 1 if any
# harness found something.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=.
out=fuzz-out
secs=60
runs=-1
seed=0
while getopts b:o:t:r:s: opt; do
    case $opt in
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    t) secs=$OPTARG ;;
    r) runs=$OPTARG ;;
    s) seed=$OPTARG ;;
    *) echo "usage: fuzz/run.sh [-b BUILDDIR] [-o OUTDIR] [-t SECONDS] [-r RUNS] [-s SEED] [NAME...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
names=${*:-safetensors npy json spec arpa w2v_text w2v_bin llama2c llama2c_tok checkpoint corpus bpe bpe_gpt2 tok_hf spm shards regex json_schema}
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
echo "harness,seconds,execs,execs_per_s,edges,features,corpus,findings,slow"
bad=0
for h in $names; do
    prog="$build/fuzz/fuzz-$(echo "$h" | tr _ -)"
    [ -x "$prog" ] || { echo "fuzz/run.sh: $prog not built (./configure --enable-fuzzing && make fuzz)" >&2; exit 2; }
    prog="$(cd "$(dirname "$prog")" && pwd)/$(basename "$prog")"
    mkdir -p "$out/$h" "$out/$h-findings"
    dict=
    [ -f "$src/fuzz/dict/$h.dict" ] && dict="-dict=$src/fuzz/dict/$h.dict"
    t0=$(date +%s)
    # the first corpus directory receives new inputs; the seeds and the reproducers of fixed
    # findings (t/data/fuzz/NAME) are read only
    regs=
    [ -d "$src/t/data/fuzz/$h" ] && regs="$src/t/data/fuzz/$h"
    # shellcheck disable=SC2086
    (cd "$out/$h-findings" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        nice -n 19 "$prog" $dict -max_total_time="$secs" -runs="$runs" -seed="$seed" \
        -rss_limit_mb=2048 -timeout=25 -report_slow_units=25 -print_final_stats=1 -artifact_prefix="$out/$h-findings/" \
        "$out/$h" "$src/fuzz/corpus/$h" $regs) >"$out/$h.log" 2>&1
    rc=$?
    t1=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$out/$h.log" | tail -1)
    edges=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')
    found=$(find "$out/$h-findings" -type f ! -name 'slow-unit-*' | wc -l)
    slow=$(find "$out/$h-findings" -type f -name 'slow-unit-*' | wc -l)
    [ $rc -ne 0 ] && [ "$found" -eq 0 ] && found=1   # died without an artifact: see the log
    [ "$found" -gt 0 ] && bad=1
    el=$((t1 - t0)); [ $el -gt 0 ] || el=1
    echo "$h,$el,${execs:-0},$(( ${execs:-0} / el )),${edges:-},${ft:-},${corp:-},$found,$slow"
done
exit $bad
