#!/usr/bin/env bash
# experiments/sweep.sh — a grid of training runs: learning rate x seed x any spec or task key,
# as parallel jobs, resumable, each configuration reported at its best learning rate with the
# median and spread over seeds. The experiment scripts use the same machinery (common.sh).
EXP_NAME=sweep
EXP_HELP="usage: experiments/sweep.sh --model SPEC --task SPEC [--grid KEY=V1,V2,...]... [--name NAME]
         [--steps N] [--batch B] [--better max|min] [--no-recipe] [common options] [-- TRAIN-ARGS...]
  Trains SPEC on TASK once per point of the grid, learning rate (--lrs, else the recipe's grid
  for the point's mixer) and seed (--seeds, default 1,2,3). {KEY} in SPEC or TASK is replaced
  by the grid's value of KEY, e.g.
    experiments/sweep.sh --name recall --model 'lm:mixer={mixer},d_model={d}' \\
        --task 'mqar:seq_len=32,vocab_size=32,n_kv_pairs={kv}' --grid mixer=attention,mamba \\
        --grid d=32,64 --grid kv=2,4 --lrs 1e-3,3e-3 --steps 1500 --jobs 2
  Writes RESULTS/NAME/runs.csv (one row per run: the grid keys, lr, seed, value, loss, params,
  train_seconds, status, reason) and RESULTS/NAME/summary.csv (per grid point: the learning rate
  whose median over seeds is best, the number of seeds, median, min, max). Runs finished by an
  earlier invocation with the same arguments are reused (an interrupted sweep resumes; --fresh
  starts over). Unless --no-recipe, a grid key named mixer adds the recipe's spec keys for that
  mixer (experiments/recipes.sh: positions for attention, ...) and its learning-rate grid.
  TRAIN-ARGS go to every seqlab train (e.g. --weight-decay 0); the schedule is the recipe's.
  --better: whether a higher (default for accuracy tasks) or lower value is better; default from
  the task's metric (accuracy: max; mse, val_loss: min)."
SWEEP_NAME=sweep
MODEL_T=
TASK_T=
GRID=()
STEPS=1000
BATCH=32
BETTER=
RECIPE=1
TRAIN_EXTRA=()
COMMON=()
while [ $# -gt 0 ]; do
    case "$1" in
    --name | --model | --task | --grid | --steps | --batch | --better)
        [ $# -ge 2 ] || { echo "sweep: error: option $1 needs a value" >&2; exit 2; }
        case "$1" in
        --name) SWEEP_NAME=$2 ;;
        --model) MODEL_T=$2 ;;
        --task) TASK_T=$2 ;;
        --grid) GRID+=("$2") ;;
        --steps) STEPS=$2 ;;
        --batch) BATCH=$2 ;;
        --better) BETTER=$2 ;;
        esac
        shift 2 ;;
    --no-recipe) RECIPE=0; shift ;;
    --) shift; TRAIN_EXTRA=("$@"); break ;;
    *) COMMON+=("$1"); shift ;;
    esac
done
EXP_NAME=$SWEEP_NAME
. "$(dirname "$0")/common.sh"
exp_init "${COMMON[@]}"
usage_err() { echo "sweep: error: $*" >&2; exit 2; }
[ -n "$MODEL_T" ] || usage_err "--model is required"
[ -n "$TASK_T" ] || usage_err "--task is required"
case "$STEPS" in '' | 0 | *[!0-9]*) usage_err "--steps must be a positive integer" ;; esac
case "$BATCH" in '' | 0 | *[!0-9]*) usage_err "--batch must be a positive integer" ;; esac
case "$SWEEP_NAME" in '' | */* | .*) usage_err "--name must be a plain name" ;; esac
case "$BETTER" in '' | max | min) ;; *) usage_err "--better must be max or min" ;; esac
if [ -z "$BETTER" ]; then
    case "${TASK_T%%:*}" in adding | charlm) BETTER=min ;; *) BETTER=max ;; esac
fi

# the grid: KEYS (in order) and one line per point, values comma-separated
KEYS=()
POINTS=("")
for g in "${GRID[@]}"; do
    case "$g" in *=*) ;; *) usage_err "--grid takes KEY=V1,V2,... (got '$g')" ;; esac
    k=${g%%=*}
    vals=${g#*=}
    case "$k" in '' | *[!A-Za-z0-9_]*) usage_err "--grid key '$k' must be a plain name" ;; esac
    case "$k" in lr | seed | value | loss | params | train_seconds | status | reason)
        usage_err "--grid key '$k' is a column of the results (use --lrs / --seeds for lr and seed)" ;; esac
    [ -n "$vals" ] || usage_err "--grid $k has no values"
    case "$vals" in *[[:space:]\"]*) usage_err "--grid $k: values cannot hold spaces or quotes" ;; esac
    KEYS+=("$k")
    new=()
    for p in "${POINTS[@]}"; do
        for v in $(echo "$vals" | tr ',' ' '); do new+=("${p:+$p;}$v"); done
    done
    POINTS=("${new[@]}")
done
fill() {   # fill TEMPLATE "v1;v2;..." : TEMPLATE with {KEY} replaced
    local s=$1 i=0 v
    IFS=';' read -r -a v <<<"$2"
    for k in "${KEYS[@]}"; do
        s=${s//\{$k\}/${v[$i]}}
        i=$((i + 1))
    done
    echo "$s"
}
left=$(fill "$MODEL_T $TASK_T" "$(printf '%s' "${POINTS[0]}")")
case "$left" in *\{*\}*) usage_err "a {KEY} in --model or --task has no --grid: $left" ;; esac

exp_meta model "$MODEL_T"
exp_meta task "$TASK_T"
exp_meta grid "${GRID[*]:-none}"
exp_meta training "steps=$STEPS batch=$BATCH, $(recipe_schedule "$STEPS"), $(recipe_optim "${TASK_T%%:*}") ${TRAIN_EXTRA[*]}"
HDR=$(IFS=,; echo "${KEYS[*]:+${KEYS[*]},}lr,seed,value,loss,params,train_seconds,status,reason")
BY=$(IFS=,; echo "${KEYS[*]}")
T_OF_TASK=$(echo "$TASK_T" | sed -n 's/.*seq_len=\([0-9{][^,]*\).*/\1/p')

n=0
for p in "${POINTS[@]}"; do
    model=$(fill "$MODEL_T" "$p")
    task=$(fill "$TASK_T" "$p")
    mixer=
    i=0
    IFS=';' read -r -a pv <<<"$p"
    for k in "${KEYS[@]}"; do
        [ "$k" = mixer ] && mixer=${pv[$i]}
        i=$((i + 1))
    done
    if [ "$RECIPE" = 1 ] && [ -n "$mixer" ]; then
        T=$(fill "${T_OF_TASK:-1024}" "$p")
        case "$T" in '' | *[!0-9]*) T=1024 ;; esac
        model="$model$(recipe_keys "$mixer" "${task%%:*}" "$T")"
        lrs=$(exp_lrs "$mixer" "${task%%:*}")
    else
        lrs=${LRS_OPT:-3e-3}
    fi
    prefix=$(echo "$p" | tr ';' ',')
    id=$(echo "$p" | tr ';,=:/' '_____')
    for lr in $lrs; do
        for seed in $SEEDS; do
            exp_row_file runs
            exp_bg exp_job "$ROW" "${id:+$id-}lr$lr-s$seed" exp_fit "$prefix" "$lr" "$seed" "$model" "$task" "$STEPS" "$BATCH" \
                "${TRAIN_EXTRA[@]}"
            n=$((n + 1))
        done
    done
done
exp_wait
exp_collect runs "$HDR"
exp_meta runs "$n ($(exp_reused_count) reused from an earlier invocation)"
exp_aggregate "$OUT/runs.csv" "$OUT/summary.csv" "$BY" "" "" value "$BETTER"
column -s, -t "$OUT/summary.csv" 2>/dev/null || cat "$OUT/summary.csv"
