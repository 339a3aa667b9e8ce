#!/usr/bin/env bash
# experiments/scaling.sh — forward and forward+backward time and peak memory against sequence
# length for every mixer (quadratic and flash attention, recurrent scans, FFT convolutions,
# selective scans), through `seqlab scale`.
EXP_NAME=scaling
EXP_HELP="usage: experiments/scaling.sh [--full | --smoke] [options]
  Runs \`seqlab scale --backward\` for every mixer (attention twice: kernel=naive and
  kernel=flash) and writes results/scaling/scaling.csv and scaling.png."
. "$(dirname "$0")/common.sh"
exp_init "$@"

case $SETTING in
smoke) LENS="64,128"; D=16; B=1; REPS=1; MEM=2048; TLIM=60 ;;
quick) LENS="256,512,1024,2048,4096"; D=64; B=1; REPS=2; MEM=4096; TLIM=120 ;;
full) LENS="256,512,1024,2048,4096,8192,16384"; D=64; B=1; REPS=3; MEM=8192; TLIM=1800 ;;
esac
exp_meta lengths "$LENS"
exp_meta measure "seqlab scale --backward --batch $B --d-model $D --reps $REPS --threads $THREADS --mem-limit $MEM --time-limit $TLIM"
exp_meta timing "one warm-up pass, then the mean and the minimum of --reps passes, wall clock and process CPU time; each (length, pass) in a fresh child process"
MIXERS=$(exp_mixers | tr '\n' ' ')
exp_meta mixers "$MIXERS"
HDR="label,seq_len,batch,d_model,threads,pass,reps,time_mean_s,time_min_s,cpu_mean_s,cpu_min_s,tokens_per_s,peak_rss_mb,base_rss_mb,params,status,reason,spec"

# the variants of a mixer worth timing separately: "label spec" lines
variants() {
    case $1 in
    attention) echo "attention-naive attention:kernel=naive"; echo "attention-flash attention:kernel=flash" ;;
    *) echo "$1 $1" ;;
    esac
}

run_one() {   # row_file label spec
    local row=$1 label=$2 spec=$3 csv="$OUT/runs/$2.csv" log="$OUT/logs/$2.log"
    exp_log "scale $label ($spec) at $LENS"
    # shellcheck disable=SC2086
    "$SEQLAB" scale --model "$spec" --label "$label" --seq-len "$LENS" --batch "$B" --d-model "$D" --reps "$REPS" \
        --backward $THREAD_ARGS --seed "$SEED" --mem-limit "$MEM" --time-limit "$TLIM" --out "$csv" >"$log" 2>&1
    if [ -s "$csv" ]; then
        tail -n +2 "$csv" >"$row"
        grep -q ',failed,' "$row" && exp_log "scale $label: some lengths failed (see $csv)"
    else
        local n
        for n in $(echo "$LENS" | tr ',' ' '); do
            echo "$label,$n,$B,$D,$THREADS,forward,$REPS,,,,,,,,,failed,$(exp_failure_reason "$log"),\"$spec\""
        done >"$row"
        exp_log "scale $label FAILED (see $log)"
    fi
}

for mx in $MIXERS; do
    while read -r label spec; do
        exp_row_file scaling
        exp_bg run_one "$ROW" "$label" "$spec"
    done <<VARIANTS
$(variants "$mx")
VARIANTS
done
exp_wait
exp_collect scaling "$HDR" -k1,1 -k6,6 -k2,2n
# one thread per run: CPU time is the robust measure on a shared machine; else wall clock
TIMECOL=wall
[ "$THREADS" = 1 ] && TIMECOL=cpu
exp_meta plotted_time "$TIMECOL (fastest of the timed passes)"
exp_plot scaling.gp "$OUT/scaling.png" data="$OUT/scaling.csv" labels="$(exp_ok_labels label "$OUT/scaling.csv")" \
    d_model="$D" batch="$B" timecol="$TIMECOL"
