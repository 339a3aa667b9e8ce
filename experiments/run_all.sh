#!/usr/bin/env bash
# experiments/run_all.sh — the whole comparison suite: every experiment in turn (quick by
# default), each writing results/NAME/*.csv, meta.txt and its PNG. A failing experiment is
# reported and the others still run; the exit status is 1 if any failed.
set -u
usage() {
    cat <<EOF2
usage: experiments/run_all.sh [--full | --smoke] [--zoo] [--subword] [--corpus FILE] [--text-corpus FILE|none] [options of every experiment]
  Runs hippo, synthetic, memory, mqar, lm and scaling (experiments/NAME.sh) with the same
  options (--out, --seed, --threads, --jobs, --mixers, --zoo; --corpus, --text-corpus and --subword go to lm
  only: lm's text arm uses tinyshakespeare, from \$SEQLAB_DATA or downloaded) and writes a
  summary to RESULTS/run_all.txt. --only a,b runs only those experiments. At the end the check
  step (experiments/check.sh) compares the results with the published findings and writes
  RESULTS/check.txt.
EOF2
}
HERE=$(cd "$(dirname "$0")" && pwd)
EXPS="hippo synthetic memory mqar lm scaling"
ARGS=()
CORPUS_ARGS=()
RESROOT=results
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --corpus) [ $# -ge 2 ] || { echo "run_all: error: --corpus needs a value" >&2; exit 2; }; CORPUS_ARGS=(--corpus "$2"); shift ;;
    --subword) CORPUS_ARGS+=(--subword) ;;
    --text-corpus) [ $# -ge 2 ] || { echo "run_all: error: --text-corpus needs a value" >&2; exit 2; }; CORPUS_ARGS+=(--text-corpus "$2"); shift ;;
    --only) [ $# -ge 2 ] || { echo "run_all: error: --only needs a value" >&2; exit 2; }; EXPS=$(echo "$2" | tr ',' ' '); shift ;;
    --out) [ $# -ge 2 ] || { echo "run_all: error: --out needs a value" >&2; exit 2; }; RESROOT=$2; ARGS+=(--out "$2"); shift ;;
    --seed | --seeds | --lrs | --threads | --jobs | --mixers)
        [ $# -ge 2 ] || { echo "run_all: error: $1 needs a value" >&2; exit 2; }; ARGS+=("$1" "$2"); shift ;;
    --full | --quick | --smoke | --plot-only | --fresh | --zoo) ARGS+=("$1") ;;
    *) echo "run_all: error: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for e in $EXPS; do
    [ -f "$HERE/$e.sh" ] || { echo "run_all: error: no experiment '$e' (experiments/$e.sh)" >&2; exit 2; }
done
mkdir -p "$RESROOT" || exit 1
SUMMARY=$RESROOT/run_all.txt
: >"$SUMMARY"
failed=0
t_all=$(date +%s)
for e in $EXPS; do
    t0=$(date +%s)
    echo "=== $e ($(date -u +%H:%M:%S))" >&2
    extra=()
    [ "$e" = lm ] && extra=("${CORPUS_ARGS[@]}")
    if bash "$HERE/$e.sh" "${ARGS[@]}" "${extra[@]}"; then
        status=ok
    else
        status="FAILED (exit $?)"
        failed=1
    fi
    line=$(printf '%-10s %-16s %6ds  %s' "$e" "$status" $(($(date +%s) - t0)) "$RESROOT/$e/")
    echo "$line" >>"$SUMMARY"
    echo "=== $line" >&2
done
echo "total $(($(date +%s) - t_all))s" >>"$SUMMARY"
echo >&2
cat "$SUMMARY" >&2
echo >&2
bash "$HERE/check.sh" --out "$RESROOT" | tee "$RESROOT/check.txt" >&2
exit $failed
