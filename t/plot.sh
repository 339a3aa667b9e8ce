#!/bin/sh
# t/plot.sh — `seqlab plot RUN_DIR...`: usage and input errors, missing or failing gnuplot, and
# (where gnuplot exists) a figure of two real runs labelled with their specs and parameter counts.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
expect() {
    want=$1; needle=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err" "$tmp/out"; then r=0; else r=1; echo "# got $got: $(head -c 300 "$tmp/err")"; fi
    ok $r "exit $want, '$needle': $*"
}

"$SEQLAB" plot --help | grep -q "usage: seqlab plot"; ok $? "plot --help"
expect 2 "at least one RUN_DIR" "$SEQLAB" plot
expect 2 "--x" "$SEQLAB" plot --x time "$tmp"
expect 2 ".png or .svg" "$SEQLAB" plot --out "$tmp/p.jpg" "$tmp"
expect 2 "unknown option" "$SEQLAB" plot --bogus "$tmp"
expect 1 "no such run directory" "$SEQLAB" plot --out "$tmp/p.png" "$tmp/nosuch"
: >"$tmp/file"
expect 1 "not a run directory" "$SEQLAB" plot --out "$tmp/p.png" "$tmp/file"
mkdir "$tmp/empty"
expect 1 "log.csv" "$SEQLAB" plot --out "$tmp/p.png" "$tmp/empty"

# two small real runs (a few seconds in all)
args="--task adding:length=20 --batch 8 --steps 30 --eval-every 10 --threads 1 --no-progress"
"$SEQLAB" train --model lstm:hidden_size=8 $args --out "$tmp/lstm" >/dev/null 2>&1; ok $? "train an LSTM run"
"$SEQLAB" train --model mamba:d_model=8,n_layer=1 $args --out "$tmp/mamba" >/dev/null 2>&1; ok $? "train a Mamba run"
# a run that has logged but not yet evaluated
mkdir "$tmp/noval"; cp "$tmp/lstm/checkpoint.safetensors" "$tmp/noval/"
head -1 "$tmp/lstm/log.csv" >"$tmp/noval/log.csv"; echo "10,0.1,0.003,0.5,,,100" >>"$tmp/noval/log.csv"
expect 1 "no validation rows" "$SEQLAB" plot --out "$tmp/p.png" "$tmp/noval"
mkdir "$tmp/badlog"; cp "$tmp/lstm/checkpoint.safetensors" "$tmp/badlog/"
printf 'step,seconds,lr,train_loss,val_loss,val_metric,tokens_per_s\n10,0.1,0.003,0.5,zz,1,100\n' >"$tmp/badlog/log.csv"
expect 1 "log.csv:2" "$SEQLAB" plot --out "$tmp/p.png" "$tmp/badlog"
mkdir "$tmp/nockpt"; cp "$tmp/lstm/log.csv" "$tmp/nockpt/"
expect 1 "checkpoint" "$SEQLAB" plot --out "$tmp/p.png" "$tmp/nockpt"

# gnuplot missing, or failing: an error, and no picture (an existing one is left as it was)
expect 1 "gnuplot not found" env SEQLAB_GNUPLOT=/nonexistent/gnuplot "$SEQLAB" plot --out "$tmp/p.png" "$tmp/lstm"
expect 1 "gnuplot not found" env PATH=/nonexistent "$SEQLAB" plot --out "$tmp/p.png" "$tmp/lstm"
[ ! -e "$tmp/p.png" ]; ok $? "no picture without gnuplot"
echo keep >"$tmp/old.png"
expect 1 "gnuplot failed" env SEQLAB_GNUPLOT=false "$SEQLAB" plot --out "$tmp/old.png" "$tmp/lstm"
[ "$(cat "$tmp/old.png")" = keep ] && [ -z "$(ls "$tmp" | grep 'old.png.tmp')" ]; ok $? "a failed plot leaves the old file and no temporary"
mkdir "$tmp/dir.png"
expect 1 "not a regular file" "$SEQLAB" plot --out "$tmp/dir.png" "$tmp/lstm"

if command -v gnuplot >/dev/null 2>&1; then
    "$SEQLAB" plot "$tmp/lstm" "$tmp/mamba" --out "$tmp/runs.png" >"$tmp/out" 2>"$tmp/err"; ok $? "plot two runs to PNG"
    [ "$(head -c 4 "$tmp/runs.png" | od -An -c | tr -d ' ')" = '211PNG' ]; ok $? "the output is a PNG"
    "$SEQLAB" plot "$tmp/lstm" "$tmp/mamba" --out "$tmp/runs.svg" --log-y >/dev/null 2>&1; ok $? "plot two runs to SVG"
    # the labels: each run's spec and its parameter count as seqlab eval reports it
    for r in lstm mamba; do
        spec=$(head -c 2000 "$tmp/$r/checkpoint.safetensors" | grep -ao '"model":"[^"]*"' | head -1 | sed 's/"model":"//; s/"$//')
        p=$("$SEQLAB" eval --run "$tmp/$r" | sed -n 's/^params: //p')
        grep -qF "$spec ($p params)" "$tmp/runs.svg"; [ -n "$spec" ] && [ -n "$p" ]; ok $? "$r: spec '$spec', $p params"
        grep -qF "$spec ($p params)" "$tmp/runs.svg"; ok $? "$r labelled with both"
    done
    grep -q '>step<' "$tmp/runs.svg" && grep -q '>seconds<' "$tmp/runs.svg"; ok $? "panels against step and seconds"
    "$SEQLAB" plot "$tmp/lstm" "$tmp/lstm" --x seconds --out "$tmp/same.svg" >/dev/null 2>&1 &&
        grep -qF "[$tmp/lstm]" "$tmp/same.svg" && ! grep -q '>step<' "$tmp/same.svg"; ok $? "--x seconds; equal specs are told apart by their directory"
else
    for i in 1 2 3 4 5 6 7 8 9; do skip "gnuplot is not installed"; done
fi
echo "1..$n"
