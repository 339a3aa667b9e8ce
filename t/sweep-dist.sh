#!/bin/bash
# t/sweep-dist.sh — a sweep spread over ranks (experiments/dist.sh): `mpirun -np 2` of
# experiments/sweep.sh gives the runs and summary of one machine, each rank training whole runs
# (2 of the 4 each), and a second invocation reuses every run; a Slurm-array-like split
# (EXP_RANK/EXP_RANKS, tasks run one after the other without waiting) followed by one plain
# invocation reuses all 4 runs and gives the same results. The mpirun part skips without mpirun.
# Environment (from make check): SEQLAB, SL_SRCDIR.
SEQLAB=${SEQLAB:-./seqlab}
SL_SRCDIR=${SL_SRCDIR:-.}
case $SEQLAB in /*) ;; *) SEQLAB=$(pwd)/$SEQLAB ;; esac
case $SL_SRCDIR in /*) ;; *) SL_SRCDIR=$(pwd)/$SL_SRCDIR ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sl-sweepd.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1
n=0
check() { # check DESCRIPTION COMMAND...
    n=$((n + 1))
    d=$1
    shift
    if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi
}
SW="$SL_SRCDIR/experiments/sweep.sh"
GRID=(--name sw --model 'lm:mixer={mixer},d_model=8,n_layer=1' --task 'mqar:seq_len=16,vocab_size=16,n_kv_pairs=2'
    --grid mixer=gru,rnn --lrs 1e-2 --seeds 1,2 --batch 4 --steps 4)
sweep() { SEQLAB=$SEQLAB GNUPLOT= bash "$SW" "${GRID[@]}" "$@"; }
nocols() { cut -d, -f1-6,8- "$1"; } # runs.csv without train_seconds
reused() { awk 'END { print NR }' "$1/sw/logs/reused.log" 2>/dev/null; }
trained() { ls "$1/sw/logs" | grep -c 'lr.*-s[0-9]*\.log$'; }

# the reference: one machine
sweep --out "$tmp/one" >"$tmp/one.log" 2>&1
check "one machine: sweep.sh exits 0 with 4 runs" [ "$(tail -n +2 "$tmp/one/sw/runs.csv" | grep -c ',ok,')" = 4 ]

if MPIRUN=$(command -v mpirun); then
    MPI=("$MPIRUN" --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1)
    [ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
    SEQLAB=$SEQLAB GNUPLOT= timeout 600 "${MPI[@]}" -np 2 bash "$SW" "${GRID[@]}" --out "$tmp/two" >"$tmp/two.log" 2>&1
    rc=$?
    [ $rc = 0 ] || sed 's/^/# /' "$tmp/two.log" | tail -20
    check "mpirun -np 2: exits 0, rank 0 writes runs.csv" [ $rc = 0 -a -f "$tmp/two/sw/runs.csv" ]
    nocols "$tmp/one/sw/runs.csv" >"$tmp/r1"; nocols "$tmp/two/sw/runs.csv" >"$tmp/r2"
    check "... the same runs as one machine (all but the seconds)" cmp -s "$tmp/r1" "$tmp/r2"
    cut -d, -f1-3,5- "$tmp/one/sw/summary.csv" >"$tmp/a"; cut -d, -f1-3,5- "$tmp/two/sw/summary.csv" >"$tmp/b"
    check "... and the same summary" cmp -s "$tmp/a" "$tmp/b"
    t0=$(trained "$tmp/two") t1=$(trained "$tmp/two/.ranks/1")
    check "each rank trained whole runs, 2 each (rank 0: $t0, rank 1: $t1)" [ "$t0" = 2 -a "$t1" = 2 ]
    SEQLAB=$SEQLAB GNUPLOT= timeout 600 "${MPI[@]}" -np 2 bash "$SW" "${GRID[@]}" --out "$tmp/two" >"$tmp/two2.log" 2>&1
    r0=$(reused "$tmp/two") r1=$(reused "$tmp/two/.ranks/1")
    check "a second mpirun reuses all 4 runs on both ranks ($r0, $r1)" [ "$r0" = 4 -a "$r1" = 4 ]
    nocols "$tmp/two/sw/runs.csv" >"$tmp/r3"
    check "... with the same runs.csv" cmp -s "$tmp/r2" "$tmp/r3"
    SEQLAB=$SEQLAB GNUPLOT= timeout 600 "${MPI[@]}" -np 2 bash "$SW" "${GRID[@]}" --out "$tmp/two" --fresh >"$tmp/fr.log" 2>&1
    check "--fresh under ranks is refused (it would delete the other ranks' runs)" grep -q "fresh with 2 ranks" "$tmp/fr.log"
else
    for i in 1 2 3 4 5 6 7; do n=$((n + 1)); echo "ok $n # SKIP mpirun not found"; done
fi

# a job array: each task its share, no waiting; then one plain invocation gathers
EXP_RANKS=2 EXP_RANK=1 EXP_RANK_WAIT=0 sweep --out "$tmp/arr" >"$tmp/arr1.log" 2>&1
EXP_RANKS=2 EXP_RANK=0 EXP_RANK_WAIT=0 sweep --out "$tmp/arr" >"$tmp/arr0.log" 2>&1
check "array tasks write no results of their own into results/sw" [ ! -f "$tmp/arr/sw/runs.csv" ]
sweep --out "$tmp/arr" >"$tmp/arr.log" 2>&1
check "the gathering invocation reuses all 4 runs the tasks trained ($(reused "$tmp/arr"))" [ "$(reused "$tmp/arr")" = 4 ]
nocols "$tmp/one/sw/runs.csv" >"$tmp/a"; nocols "$tmp/arr/sw/runs.csv" >"$tmp/b"
check "... and reports the runs of one machine" cmp -s "$tmp/a" "$tmp/b"
echo "1..$n"
