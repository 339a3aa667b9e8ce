# experiments/dist.sh — a sweep spread over ranks (sourced by common.sh; docs/distributed.md).
# shellcheck shell=bash
#
# A script runs as rank R of K when it is started by mpirun (Open MPI's OMPI_COMM_WORLD_RANK and
# _SIZE), as a task of a Slurm job array (SLURM_ARRAY_TASK_ID, _MIN and _COUNT), or with
# EXP_RANK=R EXP_RANKS=K. Rank R trains the whole runs of the sweep (exp_job) whose row number is
# R modulo K, into the one runs directory RESULTS/NAME/runs that every rank shares (so RESULTS must
# be on a shared file system), and reuses the runs already finished there, as one machine does.
#   - waiting (the default under mpirun, or EXP_RANK_WAIT=1): at exp_wait every rank waits for the
#     other ranks' runs and takes their rows as it takes a reused run's, so rank 0 writes
#     RESULTS/NAME exactly as one machine would; ranks > 0 write their copy under RESULTS/.ranks/R/.
#   - not waiting (the default in a job array, whose tasks need not run at once; EXP_RANK_WAIT=0):
#     every task writes only its share's partial results, under RESULTS/.ranks/R/. One run of the
#     same command without ranks afterwards reuses every finished run and writes RESULTS/NAME.
# Work a script does outside exp_job (a fit without a learning-rate grid, a timing) is done by
# every rank. seqlab itself runs as a single process under a rank: the launcher's variables are
# removed from the environment, so it does not take itself for a rank of a data-parallel run.

DIST_RANK=0
DIST_RANKS=1

# exp_dist_init : called by exp_init once OUT is known (before it writes anything)
exp_dist_init() {
    local r=0 k=1 wait=1 token=manual v
    if [ -n "${EXP_RANKS:-}" ]; then
        r=${EXP_RANK:-0} k=$EXP_RANKS token=${EXP_RANK_TOKEN:-manual}
    elif [ -n "${OMPI_COMM_WORLD_SIZE:-}" ]; then
        r=${OMPI_COMM_WORLD_RANK:-0} k=$OMPI_COMM_WORLD_SIZE token=${OMPI_MCA_ess_base_jobid:-mpirun}
    elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
        r=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0})) k=${SLURM_ARRAY_TASK_COUNT:-1} wait=0
        token=${SLURM_ARRAY_JOB_ID:-array}
    fi
    for v in $(compgen -e); do
        case "$v" in OMPI_* | PMIX_* | PMI_*) unset "$v" ;; esac
    done
    case "$r$k" in *[!0-9]*) exp_die "rank $r of $k: not numbers" ;; esac
    [ "$k" -ge 1 ] && [ "$r" -lt "$k" ] || exp_die "rank $r of $k: the rank must be below the number of ranks"
    DIST_RANK=$r DIST_RANKS=$k DIST_TOKEN=$token DIST_WAIT=${EXP_RANK_WAIT:-$wait}
    [ "$k" -gt 1 ] || return 0
    [ "$FRESH" = 1 ] && exp_die "--fresh with $k ranks would delete runs the other ranks are writing: remove $OUT/runs before starting them"
    EXP_RUNS=$OUT/runs
    mkdir -p "$EXP_RUNS" || exp_die "cannot create $EXP_RUNS"
    if [ "$r" != 0 ] || [ "$DIST_WAIT" = 0 ]; then
        OUT=$RESROOT/.ranks/$r/$EXP_NAME
        GP=
    fi
    DIST_PENDING=$OUT/.pending
    rm -rf "$DIST_PENDING"
    mkdir -p "$DIST_PENDING" || exp_die "cannot create $DIST_PENDING"
    exp_log "rank $r of $k (runs in $EXP_RUNS; $([ "$DIST_WAIT" = 1 ] && echo "waits for the other ranks" || echo "its share only"))"
}

# exp_dist_mine ROW DIR SIG : true when this rank trains the run; otherwise the run is noted, so
# that exp_dist_gather takes its row once its rank has finished it
exp_dist_mine() {
    [ "$DIST_RANKS" -gt 1 ] || return 0
    local n=${1##*.}
    if [ $((10#$n % DIST_RANKS)) = "$DIST_RANK" ]; then
        rm -f "$2/interrupted"
        return 0
    fi
    if [ "$DIST_WAIT" = 1 ]; then
        printf '%s\n%s\n' "$1" "$2" >"$DIST_PENDING/$n.run"
        printf '%s\n' "$3" >"$DIST_PENDING/$n.sig"
    fi
    return 1
}

# exp_dist_interrupted DIR : this rank's run in DIR did not finish; the waiting ranks go on
exp_dist_interrupted() {
    [ "$DIST_RANKS" -gt 1 ] && mkdir -p "$1" && printf '%s\n' "$DIST_TOKEN" >"$1/interrupted"
    return 0
}

# exp_dist_gather : (exp_wait) the rows of the other ranks' runs, once each is finished
exp_dist_gather() {
    [ "$DIST_RANKS" -gt 1 ] && [ "$DIST_WAIT" = 1 ] || return 0
    local p row dir waited=0
    for p in "$DIST_PENDING"/*.run; do
        [ -e "$p" ] || continue
        row=$(sed -n 1p "$p") dir=$(sed -n 2p "$p")
        until [ -f "$dir/done.csv" ] && cmp -s "$dir/signature" "${p%.run}.sig"; do
            if [ -f "$dir/interrupted" ] && [ "$(cat "$dir/interrupted")" = "$DIST_TOKEN" ]; then
                exp_log "rank $DIST_RANK: the run in $dir was interrupted on its rank"
                break
            fi
            [ $((waited % 60)) = 0 ] && exp_log "rank $DIST_RANK: waiting for $dir"
            sleep 1
            waited=$((waited + 1))
        done
        [ -f "$dir/done.csv" ] && cmp -s "$dir/signature" "${p%.run}.sig" && cp "$dir/done.csv" "$row"
        rm -f "$p" "${p%.run}.sig"
    done
}
