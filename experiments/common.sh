# experiments/common.sh — shared by the experiment scripts (sourced, not run).
# shellcheck shell=bash disable=SC2034
#
# A script sets EXP_NAME and EXP_HELP (and EXP_TAKES_CORPUS=1 if --corpus applies), sources
# this file, calls `exp_init "$@"`, then uses:
#   $SEQLAB                       the seqlab program ($SEQLAB, else ./seqlab, else ../seqlab)
#   $SRCDIR                       the source tree (plots/, experiments/)
#   $OUT                          results/NAME (the CSVs, meta.txt, logs/, runs/, the PNGs)
#   $SETTING                      smoke | quick | full
#   $SEED $THREADS                from --seed / --threads
#   exp_mixers                    the mixers to compare: `seqlab list --mixers --names` or --mixers
#   exp_meta KEY VALUE            add a configuration line to meta.txt
#   exp_train DIR LOG ARGS...     seqlab train into DIR (log in LOG); status of seqlab
#   exp_eval DIR [TASK]           prints `value loss params` of the trained run (seqlab eval --json)
#   exp_last_seconds DIR          training seconds from DIR/log.csv
#   exp_plot SCRIPT.gp OUT.png [gnuplot -e assignments]
#   exp_row_file CSV              ROW = a new numbered row file for results CSV (so parallel runs
#                                 keep their order); exp_collect CSV HEADER joins them
#   exp_bg FUNC ARGS...           run FUNC in the background, at most --jobs at once; exp_wait
# Every script also accepts the common options printed by exp_usage.

set -u

exp_usage() {
    printf '%s\n' "$EXP_HELP"
    cat <<EOF
options:
  --full            the full setting (hours); default is the quick setting (minutes on 2 cores)
  --smoke           a tiny setting for tests (seconds)
  --plot-only       redraw the plot from the rows of an earlier run with the same options
  --out DIR         results root (default: results); this experiment writes DIR/$EXP_NAME/
  --seed S          seed of every run (default 1)
  --threads K       threads per seqlab run (default 1: on a shared machine one thread per
                    run is much faster than oversubscribed cores; use --jobs for parallelism)
  --jobs N          independent runs at once (default 1)
  --mixers LIST     comma-separated mixers instead of every mixer \`seqlab list\` shows
EOF
    if [ "${EXP_TAKES_CORPUS:-0}" = 1 ]; then
        echo "  --corpus FILE     text corpus (default: seqlab's built-in, /usr/share/common-licenses/*)"
    fi
    cat <<EOF
environment: SEQLAB (the seqlab program), GNUPLOT (gnuplot; empty = skip the plots),
  EXP_GIT_DIR (the git tree whose commit meta.txt records; default: this source tree)
EOF
}

exp_die() {
    echo "$EXP_NAME: error: $*" >&2
    exit 1
}

exp_log() {
    echo "[$EXP_NAME $(date -u +%H:%M:%S)] $*" >&2
}

exp_init() {
    SETTING=quick
    PLOT_ONLY=0
    RESROOT=results
    SEED=1
    THREADS=1
    JOBS=1
    MIXERS_OPT=
    CORPUS=
    EXP_ARGS="$*"
    while [ $# -gt 0 ]; do
        case "$1" in
        --full) SETTING=full ;;
        --quick) SETTING=quick ;;
        --smoke) SETTING=smoke ;;
        --plot-only) PLOT_ONLY=1 ;;
        --out | --seed | --threads | --jobs | --mixers | --corpus)
            [ $# -ge 2 ] || { echo "$EXP_NAME: error: option $1 needs a value" >&2; exit 2; }
            case "$1" in
            --out) RESROOT=$2 ;;
            --seed) SEED=$2 ;;
            --threads) THREADS=$2 ;;
            --jobs) JOBS=$2 ;;
            --mixers) MIXERS_OPT=$2 ;;
            --corpus)
                [ "${EXP_TAKES_CORPUS:-0}" = 1 ] || { echo "$EXP_NAME: error: --corpus does not apply to this experiment" >&2; exit 2; }
                CORPUS=$2 ;;
            esac
            shift ;;
        -h | --help) exp_usage; exit 0 ;;
        *) echo "$EXP_NAME: error: unknown option '$1'" >&2; exp_usage >&2; exit 2 ;;
        esac
        shift
    done
    case "$SEED" in '' | *[!0-9]*) echo "$EXP_NAME: error: --seed must be a non-negative integer" >&2; exit 2 ;; esac
    case "$THREADS" in '' | 0 | *[!0-9]*) echo "$EXP_NAME: error: --threads must be a positive integer" >&2; exit 2 ;; esac
    case "$JOBS" in '' | 0 | *[!0-9]*) echo "$EXP_NAME: error: --jobs must be a positive integer" >&2; exit 2 ;; esac

    SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
    if [ -n "${SEQLAB:-}" ]; then
        :
    elif [ -x ./seqlab ]; then
        SEQLAB=$(pwd)/seqlab
    elif [ -x "$SRCDIR/seqlab" ]; then
        SEQLAB=$SRCDIR/seqlab
    else
        exp_die "cannot find the seqlab program: set SEQLAB=/path/to/seqlab or run from the build directory"
    fi
    case "$SEQLAB" in /*) ;; *) SEQLAB=$(pwd)/$SEQLAB ;; esac
    [ -x "$SEQLAB" ] || exp_die "SEQLAB=$SEQLAB is not an executable"
    "$SEQLAB" list --mixers --names >/dev/null 2>&1 || exp_die "$SEQLAB does not run (\`seqlab list\` failed)"
    if [ -n "$CORPUS" ]; then
        [ -r "$CORPUS" ] || exp_die "cannot read the corpus $CORPUS"
        case "$CORPUS" in /*) ;; *) CORPUS=$(pwd)/$CORPUS ;; esac
    fi
    if [ "${GNUPLOT+set}" = set ]; then
        GP=$GNUPLOT
    else
        GP=$(command -v gnuplot 2>/dev/null || true)
    fi
    OUT=$RESROOT/$EXP_NAME
    THREAD_ARGS="--threads $THREADS"
    ROW_INDEX=0
    if [ "$PLOT_ONLY" = 1 ]; then
        [ -d "$OUT/rows" ] || exp_die "--plot-only: no earlier run in $OUT (no $OUT/rows)"
        echo "replotted: $(date -u +%Y-%m-%dT%H:%M:%SZ) with $0 $EXP_ARGS" >>"$OUT/meta.txt"
        return 0
    fi
    rm -rf "$OUT/rows"
    mkdir -p "$OUT/logs" "$OUT/runs" "$OUT/rows" || exp_die "cannot create $OUT"
    : >"$OUT/logs/eval.log"
    exp_write_meta
}

# the machine, the code and the configuration, so a result can be reproduced
exp_write_meta() {
    local commit dirty cpu
    local gitdir=${EXP_GIT_DIR:-$SRCDIR}   # where the sources came from (a copy may set it)
    commit=$(git -C "$gitdir" rev-parse HEAD 2>/dev/null || echo unknown)
    dirty=unknown
    if [ "$commit" != unknown ]; then
        if git -C "$gitdir" diff-index --quiet HEAD -- 2>/dev/null; then dirty=no; else dirty=yes; fi
    fi
    cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
    {
        echo "experiment: $EXP_NAME"
        echo "setting: $SETTING"
        echo "command: $0 $EXP_ARGS"
        echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "seed: $SEED"
        echo "threads_per_run: $THREADS"
        echo "parallel_runs: $JOBS"
        echo "git_commit: $commit"
        echo "git_uncommitted_changes: $dirty"
        echo "seqlab: $SEQLAB"
        echo "seqlab_version: $("$SEQLAB" --version 2>/dev/null || echo unknown)"
        echo "uname: $(uname -a)"
        echo "nproc: $(nproc 2>/dev/null || echo unknown)"
        echo "cpu: ${cpu:-unknown}"
        echo "omp_num_threads: ${OMP_NUM_THREADS:-unset}"
        echo "corpus: ${CORPUS:-built-in default}"
    } >"$OUT/meta.txt"
}

exp_meta() {
    [ "$PLOT_ONLY" = 1 ] && return 0
    printf '%s: %s\n' "$1" "$2" >>"$OUT/meta.txt"
}

# ROW = a new row file for the results CSV $1 (rows are joined in creation order); call it
# directly, not in $(...), so the counter advances
exp_row_file() {
    ROW_INDEX=$((ROW_INDEX + 1))
    ROW=$(printf '%s/rows/%s.%05d' "$OUT" "$1" "$ROW_INDEX")
}

# exp_collect CSV HEADER [SORT-KEYS...] : OUT/CSV.csv = HEADER + the row files, atomically;
# with sort keys (`sort -t, -s` options, e.g. -k1,1 -k2,2n) the rows are sorted so that every
# plotted series is contiguous (gnuplot breaks a line at each filtered-out row)
exp_collect() {
    local name=$1 hdr=$2 f
    shift 2
    {
        echo "$hdr"
        for f in "$OUT/rows/$name".*; do
            [ -e "$f" ] && cat "$f"
        done | if [ $# -gt 0 ]; then LC_ALL=C sort -t, -s "$@"; else cat; fi
    } >"$OUT/.$name.csv.tmp" && mv "$OUT/.$name.csv.tmp" "$OUT/$name.csv"
    exp_log "wrote $OUT/$name.csv"
}

# exp_bg FUNC ARGS... : at most --jobs runs at once (nothing with --plot-only)
exp_bg() {
    [ "$PLOT_ONLY" = 1 ] && return 0
    if [ "$JOBS" -le 1 ]; then
        "$@"
        return 0
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n 2>/dev/null || true
    done
    "$@" &
}

exp_wait() {
    wait
}

# the mixers to compare, one per line
exp_mixers() {
    if [ -n "$MIXERS_OPT" ]; then
        echo "$MIXERS_OPT" | tr ',' '\n' | sed '/^$/d'
    else
        "$SEQLAB" list --mixers --names
    fi
}

# the values of column KEY (by header name) in rows of CSV whose status is ok, unique, in order
exp_ok_values() {
    awk -F, -v key="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) { if ($i == key) k = i; if ($i == "status") s = i } next }
        k && s && $s == "ok" && !seen[$k]++ { printf "%s ", $k }' "$1"
}

# the labels (column KEY) with at least one ok row in any of the CSVs: exp_ok_labels KEY CSV...
exp_ok_labels() {
    local key=$1 f
    shift
    for f in "$@"; do exp_ok_values "$f" "$key"; done | tr ' ' '\n' | awk 'NF && !s[$0]++' | tr '\n' ' '
}

# the models `seqlab list` shows, one per line
exp_models() {
    "$SEQLAB" list --models --names
}

# keys of a model entry (from `seqlab list --models`)
exp_model_has_key() {
    "$SEQLAB" list --models | awk -v m="$1" -v k="$2" '
        /^  [^ ]/ { cur = $1 }
        /^      [^ ]/ { if (cur == m && $1 == k) found = 1 }
        END { exit found ? 0 : 1 }'
}

# ",key=T" for every length-limit key the model has (attention's max_seq_len, S4's l_max,
# GPT's block_size), so sequences up to T fit: exp_len_keys MODEL T
exp_len_keys() {
    "$SEQLAB" list --models | awk -v m="$1" -v t="$2" '
        /^  [^ ]/ { cur = $1 }
        /^      [^ ]/ { if (cur == m && ($1 == "max_seq_len" || $1 == "l_max" || $1 == "block_size")) printf ",%s=%s", $1, t }'
}

# exp_train DIR LOG ARGS... : one training run; returns seqlab's status
exp_train() {
    local dir=$1 log=$2
    shift 2
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$SEQLAB" train --no-progress --seed "$SEED" $THREAD_ARGS --out "$dir" "$@" >"$log" 2>&1
    local rc=$?
    if [ $rc -gt 128 ]; then
        echo "seqlab train was killed by signal $((rc - 128))" >>"$log"
    elif [ $rc -ne 0 ]; then
        echo "seqlab train exited with status $rc" >>"$log"
    fi
    return $rc
}

# exp_eval DIR [TASK] : prints "value loss params" (or fails)
exp_eval() {
    local json
    if [ $# -ge 2 ]; then
        json=$("$SEQLAB" eval --run "$1" --task "$2" --json 2>>"$OUT/logs/eval.log") || return 1
    else
        json=$("$SEQLAB" eval --run "$1" --json 2>>"$OUT/logs/eval.log") || return 1
    fi
    echo "$json" | awk '{
        v = $0; sub(/.*"value": */, "", v); sub(/[,}].*/, "", v)
        l = $0; sub(/.*"loss": */, "", l); sub(/[,}].*/, "", l)
        p = $0; sub(/.*"params": */, "", p); sub(/[,}].*/, "", p)
        print v, l, p }'
}

# training seconds at the last row of DIR/log.csv
exp_last_seconds() {
    awk -F, 'NR > 1 && $2 != "" { s = $2 } END { print (s == "" ? "" : s) }' "$1/log.csv" 2>/dev/null
}

# the first line of a log that reads like an error (else its last line), CSV-safe
exp_failure_reason() {
    local r
    r=$(grep -m1 -E 'error|killed by signal' "$1" 2>/dev/null)
    [ -n "$r" ] || r=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1)
    r=$(printf '%s' "$r" | sed 's/^seqlab: error: //' | tr ',"\r' ";' " | cut -c1-160)
    echo "${r:-unknown failure}"
}

# exp_plot SCRIPT.gp OUT.png [VAR=VALUE ...] : run a plot script of plots/ (skip without gnuplot)
exp_plot() {
    local gp=$1 png=$2 assigns="" a
    shift 2
    if [ -z "$GP" ]; then
        exp_log "gnuplot not found (GNUPLOT is empty): skipping the plot $png"
        return 0
    fi
    for a in "$@"; do
        assigns="$assigns${a%%=*}='${a#*=}'; "
    done
    if ! "$GP" -e "${assigns}outfile='$png'" "$SRCDIR/plots/$gp" 2>"$OUT/logs/gnuplot-$(basename "$png" .png).log"; then
        exp_log "gnuplot failed on plots/$gp (see $OUT/logs/gnuplot-$(basename "$png" .png).log)"
        return 1
    fi
    exp_log "wrote $png"
}
