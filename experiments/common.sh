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
#                                 (under mpirun or a Slurm array, exp_job's runs are spread over
#                                 the ranks: experiments/dist.sh)
#   $SEEDS $LRS_OPT               the seeds of every configuration (--seeds, default 1 2 3) and the
#                                 learning rates given with --lrs (empty: the recipe's grid)
#   exp_job ROW ID FUNC ARGS...   a resumable run: FUNC ARGS... DIR ROW, unless $OUT/runs/ID holds a
#                                 finished run of the same FUNC ARGS (then its rows are reused)
#   exp_aggregate RAW OUT ...     per configuration: the best learning rate by the median over
#                                 seeds, with the median, minimum and maximum over seeds
# Recipes (learning-rate grids, positions, schedules) come from experiments/recipes.sh.
# Every script also accepts the common options printed by exp_usage.

set -u

# the zoo of issue 20 (docs/linear-rnn.md, docs/long-conv.md): in the quick setting only with --zoo
EXP_ZOO="lru retnet gla rwkv based h3 hyena"

exp_usage() {
    printf '%s\n' "$EXP_HELP"
    cat <<EOF
options:
  --full            the full setting (hours); default is the quick setting (minutes on 2 cores)
  --smoke           a tiny setting for tests (seconds)
  --plot-only       redraw the plot from the rows of an earlier run with the same options
  --out DIR         results root (default: results); this experiment writes DIR/$EXP_NAME/
  --seeds LIST      comma-separated seeds; every configuration runs once per seed and
                    is reported as the median with the spread (default 1,2,3)
  --seed S          a single seed (the same as --seeds S)
  --lrs LIST        comma-separated learning rates to sweep instead of the recipe's grid
                    (experiments/recipes.sh); each configuration is reported at its best one
  --fresh           discard the finished runs of an earlier invocation (by default a run
                    whose directory holds a finished run with the same arguments is reused,
                    so an interrupted experiment resumes where it stopped)
  --threads K       threads per seqlab run (default 1: on a shared machine one thread per
                    run is much faster than oversubscribed cores; use --jobs for parallelism)
  --jobs N          independent runs at once (default 1)
  --zoo             in the quick setting, add the linear-RNN and long-convolution zoo
                    ($EXP_ZOO) to mqar and lm (off by default: it doubles
                    their time; --full and --mixers all include it)
  --mixers LIST     comma-separated mixers instead of the default ones: every mixer
                    \`seqlab list\` shows, or in the quick setting the ones the experiment's
                    claims are about (its help says which); --mixers all takes every mixer
EOF
    if [ "${EXP_TAKES_CORPUS:-0}" = 1 ]; then
        echo "  --corpus FILE     text corpus (default: seqlab's built-in, /usr/share/common-licenses/*)"
    fi
    if [ "${EXP_TAKES_TEXT:-0}" = 1 ]; then
        echo "  --text-corpus F   natural-language text of the n-gram claim's arm (default: tinyshakespeare,"
        echo "                    \$SEQLAB_DATA/tinyshakespeare.txt or downloaded once into RESULTS/data;"
        echo "                    'none' skips the arm; the smoke setting runs it only when F is given)"
        echo "  --subword         add the subword arm: a byte-level BPE trained on the text arm's corpus,"
        echo "                    one model of every family and the n-gram on its tokens, losses per byte"
        echo "                    (always in --full)"
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
    SEEDS_OPT=
    LRS_OPT=
    FRESH=0
    ZOO_OPT=0
    SUBWORD_OPT=0
    THREADS=1
    JOBS=1
    MIXERS_OPT=
    CORPUS=
    TEXT_OPT=
    EXP_ARGS="$*"
    while [ $# -gt 0 ]; do
        case "$1" in
        --full) SETTING=full ;;
        --quick) SETTING=quick ;;
        --smoke) SETTING=smoke ;;
        --plot-only) PLOT_ONLY=1 ;;
        --fresh) FRESH=1 ;;
        --zoo) ZOO_OPT=1 ;;
        --subword)
            [ "${EXP_TAKES_TEXT:-0}" = 1 ] || { echo "$EXP_NAME: error: --subword does not apply to this experiment" >&2; exit 2; }
            SUBWORD_OPT=1 ;;
        --out | --seed | --seeds | --lrs | --threads | --jobs | --mixers | --corpus | --text-corpus)
            [ $# -ge 2 ] || { echo "$EXP_NAME: error: option $1 needs a value" >&2; exit 2; }
            case "$1" in
            --out) RESROOT=$2 ;;
            --seed) SEED=$2; SEEDS_OPT=$2 ;;
            --seeds) SEEDS_OPT=$2 ;;
            --lrs) LRS_OPT=$2 ;;
            --threads) THREADS=$2 ;;
            --jobs) JOBS=$2 ;;
            --mixers) MIXERS_OPT=$2 ;;
            --corpus)
                [ "${EXP_TAKES_CORPUS:-0}" = 1 ] || { echo "$EXP_NAME: error: --corpus does not apply to this experiment" >&2; exit 2; }
                CORPUS=$2 ;;
            --text-corpus)
                [ "${EXP_TAKES_TEXT:-0}" = 1 ] || { echo "$EXP_NAME: error: --text-corpus does not apply to this experiment" >&2; exit 2; }
                TEXT_OPT=$2 ;;
            esac
            shift ;;
        -h | --help) exp_usage; exit 0 ;;
        *) echo "$EXP_NAME: error: unknown option '$1'" >&2; exp_usage >&2; exit 2 ;;
        esac
        shift
    done
    case "$SEED" in '' | *[!0-9]*) echo "$EXP_NAME: error: --seed must be a non-negative integer" >&2; exit 2 ;; esac
    SEEDS=$(echo "${SEEDS_OPT:-1,2,3}" | tr ',' ' ')
    [ -n "$(echo "$SEEDS" | tr -d ' ')" ] || { echo "$EXP_NAME: error: --seeds needs at least one seed" >&2; exit 2; }
    for s in $SEEDS; do
        case "$s" in *[!0-9]*) echo "$EXP_NAME: error: --seeds: '$s' is not a non-negative integer" >&2; exit 2 ;; esac
    done
    SEED=${SEEDS%% *}
    LRS_OPT=$(echo "$LRS_OPT" | tr ',' ' ')
    for s in $LRS_OPT; do
        awk -v v="$s" 'BEGIN { exit (v ~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ && v + 0 > 0) ? 0 : 1 }' ||
            { echo "$EXP_NAME: error: --lrs: '$s' is not a positive number" >&2; exit 2; }
    done
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
    if [ -n "$TEXT_OPT" ] && [ "$TEXT_OPT" != none ]; then
        [ -r "$TEXT_OPT" ] || exp_die "cannot read the text corpus $TEXT_OPT"
        case "$TEXT_OPT" in /*) ;; *) TEXT_OPT=$(pwd)/$TEXT_OPT ;; esac
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
    . "$SRCDIR/experiments/dist.sh" && exp_dist_init   # a sweep over ranks (mpirun, Slurm arrays)
    rm -rf "$OUT/rows"
    [ "$FRESH" = 1 ] && rm -rf "$OUT/runs"
    mkdir -p "$OUT/logs" "$OUT/runs" "$OUT/rows" || exp_die "cannot create $OUT"
    : >"$OUT/logs/eval.log"
    : >"$OUT/logs/reused.log"
    SEQLAB_VERSION=$("$SEQLAB" --version 2>/dev/null || echo unknown)
    . "$SRCDIR/experiments/recipes.sh"
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
        echo "seeds: $SEEDS"
        echo "learning_rates: ${LRS_OPT:-per mixer from experiments/recipes.sh}"
        echo "threads_per_run: $THREADS"
        echo "parallel_runs: $JOBS"
        echo "git_commit: $commit"
        echo "git_uncommitted_changes: $dirty"
        echo "seqlab: $SEQLAB"
        echo "seqlab_version: $("$SEQLAB" --version 2>/dev/null || echo unknown)"
        echo "uname: $(uname -a)"
        echo "nproc: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo unknown)"
        echo "cpu: ${cpu:-unknown}"
        echo "omp_num_threads: ${OMP_NUM_THREADS:-unset}"
        # only experiments that read a text have a corpus (the synthetic tasks generate theirs)
        if [ "${EXP_TAKES_CORPUS:-0}" = 1 ]; then echo "corpus: ${CORPUS:-built-in default}"; fi
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
    exp_dist_gather
}

# the mixers to compare, one per line
# In the quick setting an experiment may name the mixers its claims are about (QUICK_MIXERS, set
# by the script; the cost of the default run on 2 cores is what limits it); --mixers all, or any
# other setting, takes every mixer.
exp_mixers() {
    if [ -n "$MIXERS_OPT" ] && [ "$MIXERS_OPT" != all ]; then
        echo "$MIXERS_OPT" | tr ',' '\n' | sed '/^$/d'
    elif [ -z "$MIXERS_OPT" ] && [ "$SETTING" = quick ] && [ -n "${QUICK_MIXERS:-}" ]; then
        "$SEQLAB" list --mixers --names | grep -x -F "$(echo "$QUICK_MIXERS" | tr ' ' '\n')"
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

# exp_train DIR LOG ARGS... : one training run (seed $SEED unless ARGS give --seed); returns
# seqlab's status
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

# ---- sweeps: resumable runs over learning rates x seeds, and their aggregation ----------------

# exp_job ROW ID FUNC ARGS... : one run of a sweep. FUNC is called as FUNC DIR ROW ARGS... with
# DIR = $OUT/runs/ID; it trains into DIR, writes the run's CSV row(s) to ROW and returns 0 when
# the run finished (successfully or with a recorded failure) or non-zero when it was
# interrupted. A finished run leaves DIR/signature (FUNC ARGS and the seqlab version) and then
# DIR/done.csv (its rows); an invocation with the same signature reuses them instead of
# training again, so an interrupted experiment resumes where it stopped (--fresh disables it).
exp_job() {
    local row=$1 id=$2
    shift 2
    local dir="${EXP_RUNS:-$OUT/runs}/$id" sig
    sig=$(printf '%s\n' "$SEQLAB_VERSION" "$@")
    if [ -f "$dir/done.csv" ] && [ -f "$dir/signature" ] && [ "$(cat "$dir/signature")" = "$sig" ]; then
        cp "$dir/done.csv" "$row"
        echo "$id" >>"$OUT/logs/reused.log"
        return 0
    fi
    exp_dist_mine "$row" "$dir" "$sig" || return 0   # another rank's run: its row comes at exp_wait
    rm -f "$dir/done.csv" "$dir/signature"
    local fn=$1
    shift
    "$fn" "$dir" "$row" "$@" || { exp_dist_interrupted "$dir"; return 1; }
    mkdir -p "$dir" && printf '%s\n' "$sig" >"$dir/signature" && cp "$row" "$dir/.done.csv.tmp" &&
        mv "$dir/.done.csv.tmp" "$dir/done.csv"
}

# exp_finished RC : true if a training run that returned RC finished (a failure is a result),
# false if a signal interrupted it (then the run is not recorded as finished)
exp_finished() {
    [ "$1" -le 128 ]
}

# the number of runs an invocation reused from an earlier one
exp_reused_count() {
    awk 'END { print NR }' "$OUT/logs/reused.log" 2>/dev/null
}

# exp_lrs MIXER TASK_KIND : the learning rates to sweep (--lrs, else the recipe's grid)
exp_lrs() {
    if [ -n "$LRS_OPT" ]; then echo "$LRS_OPT"; else recipe_lrs "$1" "$2"; fi
}

# exp_aggregate RAW.csv OUT.csv BY [SUB [SELECT [METRIC [BETTER]]]] [-- SORT-KEYS...]
#   RAW has a header and columns lr, seed, status and METRIC (default: value) among others.
#   BY: the comma-separated columns that identify a configuration (e.g. mixer,d_model).
#   SUB: columns that vary inside one run and share its learning rate (e.g. eval_len), or "".
#   SELECT: col=value, the rows whose median chooses the learning rate (e.g. eval_len=32);
#   "" = the mean over the SUB rows of their medians. BETTER: max (default) or min.
#   For every configuration, the learning rate whose median over seeds is best is chosen (as
#   Zoology reports) and OUT gets BY,SUB,lr,seeds,median,min,max,lrs_tried (only rows with
#   status ok count; a configuration without any is left out). With SORT-KEYS (sort -t,
#   options) the rows are sorted, so that every plotted series is contiguous.
exp_aggregate() {
    local raw=$1 out=$2 pos=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do pos+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    local by=${pos[0]:-} sub=${pos[1]:-} sel=${pos[2]:-} metric=${pos[3]:-value} better=${pos[4]:-max}
    [ -f "$raw" ] || { exp_log "exp_aggregate: no $raw"; return 1; }
    awk -F, -v by="$by" -v subc="$sub" -v sel="$sel" -v metric="$metric" -v better="$better" \
        -f "$SRCDIR/experiments/aggregate.awk" "$raw" >"$out.all" || { rm -f "$out.all"; return 1; }
    {
        head -n 1 "$out.all"
        tail -n +2 "$out.all" | if [ $# -gt 0 ]; then LC_ALL=C sort -t, -s "$@"; else cat; fi
    } >"$out.tmp" && mv "$out.tmp" "$out"
    rm -f "$out.all"
    exp_log "wrote $out"
}

# exp_fit DIR ROW PREFIX LR SEED MODEL TASK STEPS BATCH [TRAIN-ARGS...] : one training run of a
# sweep (a FUNC for exp_job) with the recipe's schedule and optimizer for STEPS steps; ROW gets
# "PREFIX,LR,SEED,value,loss,params,train_seconds,status,reason" (value: the task's metric on
# the validation split; status ok or failed). Returns non-zero only if a signal interrupted it.
exp_fit() {
    local dir=$1 row=$2 prefix=$3 lr=$4 seed=$5 model=$6 task=$7 steps=$8 batch=$9 res rc
    shift 9
    local log
    log="$OUT/logs/$(basename "$dir").log"
    # shellcheck disable=SC2046
    exp_train "$dir" "$log" --model "$model" --task "$task" --steps "$steps" --batch "$batch" --lr "$lr" \
        --seed "$seed" --eval-every 0 --ckpt-every 0 $(recipe_schedule "$steps") $(recipe_optim "$task") "$@"
    rc=$?
    exp_finished $rc || return 1
    if [ $rc -eq 0 ] && res=$(exp_eval "$dir"); then
        set -- $res
        echo "${prefix:+$prefix,}$lr,$seed,$1,$2,$3,$(exp_last_seconds "$dir"),ok," >"$row"
    else
        echo "${prefix:+$prefix,}$lr,$seed,,,,,failed,$(exp_failure_reason "$log")" >"$row"
        exp_log "$prefix lr=$lr seed=$seed FAILED (see $log)"
    fi
    return 0
}

# ---- learning curves of sweeps (lm.sh, quickstart.sh) ----------------------------------------
# exp_curve_rows LABEL D LR SEED DIR : the (lr, seed, step, seconds, val_loss) rows of a run's log with an evaluation
exp_curve_rows() {
    awk -F, -v m="$1" -v d="$2" -v lr="$3" -v s="$4" 'NR > 1 && $5 != "" { print m "," d "," lr "," s "," $1 "," $2 "," $5 }' "$5/log.csv" 2>/dev/null
}

# exp_split_rows NAME HDR CURVE_NAME CURVE_HDR : OUT/NAME_runs.csv and OUT/CURVE_NAME_runs.csv
# from the row files rows/NAME_all.* (result rows, and learning-curve rows prefixed "curve:")
exp_split_rows() {
    local f
    {
        echo "$2"
        for f in "$OUT/rows/$1_all".*; do [ -e "$f" ] && grep -v '^curve:' "$f"; done
    } >"$OUT/$1_runs.csv"
    {
        echo "$4"
        for f in "$OUT/rows/$1_all".*; do [ -e "$f" ] && grep '^curve:' "$f" | sed 's/^curve://'; done
    } >"$OUT/$3_runs.csv"
}
# exp_curve_summary CURVES_RUNS KEYS OUT : the median learning curve over seeds of each
# configuration at its chosen learning rate. CURVES_RUNS: model,d_model,lr,seed,step,seconds,
# val_loss rows; KEYS: a CSV (with a header) of model,d_model,lr, the chosen rates. OUT:
# model,d_model,step,seconds (median),val_loss (median),min,max,seeds.
exp_curve_summary() {
    awk -F, -v OFS=, '
        function med(s,    v, n, i, j, x) { n = split(s, v, " ")
            for (i = 2; i <= n; i++) { x = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            MIN = v[1]; MAX = v[n]; return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
        FNR == 1 { file++; next }
        file == 1 { lr[$1 "," $2] = $3; next }
        ($1 "," $2) in lr && $3 == lr[$1 "," $2] {
            k = $1 "," $2 "," $5
            if (!(k in L)) order[++n] = k
            L[k] = L[k] " " $7; S[k] = S[k] " " $6 }
        END { print "model,d_model,step,seconds,val_loss,min,max,seeds"
            for (i = 1; i <= n; i++) { k = order[i]; sec = med(S[k]); m = med(L[k]); c = split(L[k], tmp, " ")
                print k, sec, m, MIN, MAX, c } }' "$2" "$1" >"$3.tmp" && mv "$3.tmp" "$3"
}

