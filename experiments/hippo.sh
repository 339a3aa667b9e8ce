#!/usr/bin/env bash
# experiments/hippo.sh — HiPPO online function approximation (Gu et al. 2020): reconstruction
# error of a signal memorised online by LegS / LegT / LagT / FouT, against the number of
# coefficients N and against time, through `seqlab hippo`.
EXP_NAME=hippo
EXP_HELP="usage: experiments/hippo.sh [--full | --smoke] [options]
  Runs \`seqlab hippo\` for every measure and N and writes results/hippo/errors.csv (RMSE vs N),
  results/hippo/time.csv (error vs time at one N, with the reconstructions) and hippo.png.
  (--mixers and --jobs do not apply: there is no training here.)"
. "$(dirname "$0")/common.sh"
exp_init "$@"

if [ "$PLOT_ONLY" = 0 ] && ! "$SEQLAB" hippo --help >/dev/null 2>&1; then
    exp_die "\`seqlab hippo\` is not available in $SEQLAB ($("$SEQLAB" hippo --help 2>&1 | head -n 1)); this experiment needs it"
fi

MEASURES="legs legt lagt fout"
case $SETTING in
smoke) NS="4 16"; NSEL=16; LEN=200; SIGNALS="random"; DISCS="bilinear" ;;
quick) NS="4 8 16 32 64"; NSEL=32; LEN=1000; SIGNALS="random sines"; DISCS="bilinear" ;;
full) NS="2 4 8 16 32 64 128 256"; NSEL=64; LEN=10000; SIGNALS="random sines chirp bump step"; DISCS="bilinear forward backward zoh" ;;
esac
theta_of() {   # window / time scale as a fraction of the signal
    case $1 in lagt) echo 0.05 ;; *) echo 1 ;; esac
}
n_of() {   # FouT takes an odd N (a constant plus cos/sin pairs)
    case $1 in fout) echo $(($2 % 2 ? $2 : $2 + 1)) ;; *) echo "$2" ;; esac
}
exp_meta measures "$MEASURES (theta: lagt 0.05, others 1; FouT uses N+1 when N is even)"
exp_meta N "$NS (error-vs-time and reconstruction at N=$NSEL)"
exp_meta signals "$SIGNALS (length $LEN samples on (0,1], seed $SEED)"
exp_meta discretizations "$DISCS (zoh is not defined for the time-varying legs)"

# errors.csv: one row per (signal, discretization, measure, N) from seqlab hippo's summary line
ERR_HDR="measure,N,discretization,signal,length,theta,lr,seed,online_rmse,final_rmse,covered_points,status,reason"
for sig in $SIGNALS; do
    for disc in $DISCS; do
        for m in $MEASURES; do
            for n0 in $NS; do
                n=$(n_of "$m" "$n0")
                th=$(theta_of "$m")
                for seed in $SEEDS; do
                    exp_row_file errors_runs
                    [ "$PLOT_ONLY" = 1 ] && continue
                    id="$sig-$disc-$m-$n-s$seed"
                    log="$OUT/logs/$id.log"
                    pre="$m,$n,$disc,$sig,$LEN,$th,-,$seed"
                    if "$SEQLAB" hippo --measure "$m" --N "$n" --discretization "$disc" --signal "$sig" --length "$LEN" \
                        --theta "$th" --seed "$seed" --out "$OUT/runs/$id.csv" >"$log" 2>&1; then
                        awk -v pre="$pre" '/online RMSE/ {
                            s = $0; sub(/.*online RMSE /, "", s); split(s, a, /[, ]+/); on = a[1]
                            s = $0; sub(/.*final RMSE /, "", s); split(s, b, /[, ]+/); fi = b[1]
                            s = $0; sub(/.* over /, "", s); split(s, c, / /); pts = c[1]
                            print pre "," on "," fi "," pts ",ok," }' "$log" >"$ROW"
                        [ -s "$ROW" ] || echo "$pre,,,,failed,no summary line in the output" >"$ROW"
                    else
                        echo "$pre,,,,failed,$(exp_failure_reason "$log")" >"$ROW"
                        exp_log "$sig $disc $m N=$n seed $seed FAILED (see $log)"
                    fi
                done
            done
        done
    done
done
exp_collect errors_runs "$ERR_HDR"
# per (measure, N, discretization, signal): the median, minimum and maximum over the signal
# seeds of the final reconstruction RMSE (lr is "-": nothing is trained)
exp_aggregate "$OUT/errors_runs.csv" "$OUT/errors.csv" measure,N,discretization,signal,length,theta "" "" final_rmse min

# time.csv: the first signal and discretization at N=NSEL: error and reconstruction per time
SIG1=${SIGNALS%% *}
DISC1=${DISCS%% *}
for m in $MEASURES; do
    n=$(n_of "$m" "$NSEL")
    f="$OUT/runs/$SIG1-$DISC1-$m-$n-s$SEED.csv"
    exp_row_file time
    [ "$PLOT_ONLY" = 1 ] && continue
    if [ ! -s "$f" ]; then
        th=$(theta_of "$m")
        "$SEQLAB" hippo --measure "$m" --N "$n" --discretization "$DISC1" --signal "$SIG1" --length "$LEN" \
            --theta "$th" --seed "$SEED" --out "$f" >"$OUT/logs/time-$m.log" 2>&1 || { exp_log "$m at N=$n FAILED"; continue; }
    fi
    awk -F, -v m="$m" -v n="$n" 'NR > 1 { print m "," n "," $1 "," $2 "," $3 "," $4 "," $5 "," $6 }' "$f" >"$ROW"
done
exp_collect time "measure,N,t,signal,online,online_err,final,final_err"

exp_plot hippo.gp "$OUT/hippo.png" errors="$OUT/errors.csv" timefile="$OUT/time.csv" \
    measures="$(exp_ok_labels measure "$OUT/errors_runs.csv")" signal="$SIG1" disc="$DISC1" nsel="$NSEL" \
    seeds="$(echo $SEEDS | wc -w)" seed1="$SEED"
