#!/bin/sh
# t/experiment.sh — one tiny experiment end to end (experiments/memory.sh --smoke): its CSVs,
# meta.txt and PNG are produced, a mixer that fails is recorded as failed and the script goes
# on; the scripts find ./seqlab; `seqlab scale` writes its CSV; the synthetic tasks train.
# Environment (from make check): SEQLAB, SL_SRCDIR, GNUPLOT (empty: skip the PNG checks).
SEQLAB=${SEQLAB:-./seqlab}
SL_SRCDIR=${SL_SRCDIR:-.}
case $SEQLAB in /*) ;; *) SEQLAB=$(pwd)/$SEQLAB ;; esac
case $SL_SRCDIR in /*) ;; *) SL_SRCDIR=$(pwd)/$SL_SRCDIR ;; esac
if [ ! -x "$SEQLAB" ] || ! command -v bash >/dev/null 2>&1; then
    echo "1..0 # SKIP needs the seqlab program and bash"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sl-experiment.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "1..30"
n=0
check() {   # check DESCRIPTION COMMAND...
    n=$((n + 1))
    d=$1
    shift
    if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi
}
skip() {
    n=$((n + 1))
    echo "ok $n # SKIP $1"
}
csv_rows() { [ -f "$1" ] && [ "$(awk 'END { print NR }' "$1")" -ge "$2" ]; }
is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -c | tr -d ' \n')" = '211PNG\r\n032\n' ]; }

# 1-8: the memory experiment, smoke setting, one real mixer and one that does not exist
cd "$tmp" || exit 1
SEQLAB=$SEQLAB GNUPLOT=${GNUPLOT-} bash "$SL_SRCDIR/experiments/memory.sh" --smoke --mixers rnn,no_such_mixer \
    --out "$tmp/res" --jobs 2 >"$tmp/memory.log" 2>&1
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/memory.log"
check "memory.sh --smoke exits 0 although a mixer fails" [ $rc -eq 0 ]
M=$tmp/res/memory
check "copy_runs.csv: header and 12 rows (2 gaps x 2 mixers x 3 seeds)" csv_rows "$M/copy_runs.csv" 13
check "adding_runs.csv: header and 6 rows" csv_rows "$M/adding_runs.csv" 7
check "rnn runs are ok with a metric in [0, 1], one per seed" \
    awk -F, '$1 == "rnn" { k++; s[$9] = 1; if ($14 != "ok" || $10 == "" || $10 < 0 || $10 > 1) bad = 1 } END { exit (k == 6 && !bad && (1 in s) && (2 in s) && (3 in s)) ? 0 : 1 }' "$M/copy_runs.csv"
check "the missing mixer is recorded as failed with a reason, and left out of copy.csv" \
    sh -c 'awk -F, '"'"'$1 == "no_such_mixer" { k++; if ($14 != "failed" || $15 == "") bad = 1 } END { exit (k == 6 && !bad) ? 0 : 1 }'"'"' "$1" &&
           ! grep -q "^no_such_mixer," "$2" && [ "$(grep -c "^rnn,.*,3,[0-9.e-]*,[0-9.e-]*,[0-9.e-]*,1$" "$2")" = 2 ]' sh "$M/copy_runs.csv" "$M/copy.csv"
check "meta.txt records seeds, commit, machine and configuration, and no corpus (synthetic tasks)" \
    sh -c 'for k in "seeds: 1 2 3" git_commit: uname: nproc: cpu: copy_task: training: "setting: smoke" lrs_rnn:; do grep -q "^$k" "$1" || exit 1; done; ! grep -q "^corpus:" "$1"' sh "$M/meta.txt"
if [ -n "${GNUPLOT-}" ]; then
    check "memory.png is a PNG" is_png "$M/memory.png"
else
    skip "GNUPLOT is empty: no plot"
fi
SEQLAB=$SEQLAB bash "$SL_SRCDIR/experiments/memory.sh" --bogus-flag >/dev/null 2>&1
check "an unknown option is a usage error (exit 2)" [ $? -eq 2 ]

# 9-11: run from a directory holding ./seqlab (no SEQLAB), the scaling experiment
mkdir -p "$tmp/build" && ln -s "$SEQLAB" "$tmp/build/seqlab" && cd "$tmp/build" || exit 1
(unset SEQLAB; GNUPLOT=${GNUPLOT-} bash "$SL_SRCDIR/experiments/scaling.sh" --smoke --mixers rnn --seeds 1 >"$tmp/scaling.log" 2>&1)
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/scaling.log"
check "scaling.sh finds ./seqlab and exits 0" [ $rc -eq 0 ]
check "scaling.csv: forward and forward_backward at 2 lengths, ok" \
    awk -F, 'NR > 1 && $1 == "rnn" && $16 == "ok" && $9 > 0 && $11 > 0 && $13 > 0 { k++ } END { exit k == 4 ? 0 : 1 }' "$tmp/build/results/scaling/scaling.csv"
if [ -n "${GNUPLOT-}" ]; then
    check "scaling.png is a PNG" is_png "$tmp/build/results/scaling/scaling.png"
else
    skip "GNUPLOT is empty: no plot"
fi

# 12-13: seqlab scale itself
"$SEQLAB" scale --model gru --seq-len 8,16 --d-model 8 --reps 1 --backward --threads 1 --out "$tmp/s.csv" 2>/dev/null
check "seqlab scale --backward writes 4 ok rows" \
    awk -F, 'NR > 1 && $16 == "ok" { k++ } END { exit (k == 4 && NR == 5) ? 0 : 1 }' "$tmp/s.csv"
"$SEQLAB" scale --model gru --seq-len 8,x >/dev/null 2>&1
check "seqlab scale: a bad --seq-len is a usage error (exit 2)" [ $? -eq 2 ]

# 14-17: the synthetic tasks train and evaluate through the CLI
for task in "selcopy:seq_len=12,n_tokens=3" "induction:seq_len=12" "mqar:seq_len=16,vocab_size=16,n_kv_pairs=2"; do
    name=${task%%:*}
    "$SEQLAB" train --no-progress --threads 1 --model lm:mixer=gru,d_model=8,n_layer=1 --task "$task" --steps 3 --batch 4 \
        --out "$tmp/run-$name" >/dev/null 2>&1 &&
        "$SEQLAB" eval --run "$tmp/run-$name" --json >"$tmp/$name.json" 2>/dev/null
    check "$name trains and evaluates (accuracy)" grep -q '"metric": "accuracy"' "$tmp/$name.json"
done
"$SEQLAB" eval --run "$tmp/run-induction" --task induction:seq_len=48 --json >"$tmp/long.json" 2>/dev/null
check "induction evaluates at a longer seq_len than trained (one scored position per sequence)" grep -q '"accuracy_counted": 32[,}]' "$tmp/long.json"

# 18: the README's quick start line 2 (smoke setting, one seed): every family on the char LM
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT= bash "$SL_SRCDIR/experiments/quickstart.sh" --smoke --seeds 1 --out "$tmp/qs" \
    >"$tmp/qs.log" 2>&1) || sed 's/^/# /' "$tmp/qs.log"
check "quickstart.sh --smoke: lstm, s4d, mamba, gpt rows and an n-gram loss" \
    sh -c '[ "$(awk -F, '"'"'NR > 1 && $8 == 1 && $9 != "" { print $1 }'"'"' "$1" | sort | tr "\n" " ")" = "gpt lstm mamba s4d " ] &&
           grep -q "^ngram_val_loss: [0-9]" "$2"' sh "$tmp/qs/quickstart/quickstart.csv" "$tmp/qs/quickstart/meta.txt"

# 19: lm.sh --mixers takes gpt and llama beside mixers
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT= bash "$SL_SRCDIR/experiments/lm.sh" --smoke --seeds 1 --mixers rnn,gpt,llama \
    --out "$tmp/lmres" >"$tmp/lm.log" 2>&1) || sed 's/^/# /' "$tmp/lm.log"
check "lm.sh --mixers rnn,gpt,llama trains the three (ok rows in lm_runs.csv)" \
    [ "$(awk -F, 'NR > 1 && $12 == "ok" { print $1 }' "$tmp/lmres/lm/lm_runs.csv" 2>/dev/null | sort -u | tr '\n' ' ')" = "gpt llama rnn " ]

# 20-21: lm.sh's text arm (the neural-against-n-gram claim on natural text) on a small text, and
# its errors: a text corpus that cannot be read; 22-24: the subword arm (--subword) of the same run
cat "$SL_SRCDIR/README.md" "$SL_SRCDIR/experiments/README.md" >"$tmp/text.txt"
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT= bash "$SL_SRCDIR/experiments/lm.sh" --smoke --seeds 1,2 --mixers rnn \
    --text-corpus "$tmp/text.txt" --subword --out "$tmp/lmtext" --jobs 2 >"$tmp/lmtext.log" 2>&1) || sed 's/^/# /' "$tmp/lmtext.log"
T=$tmp/lmtext/lm
check "lm.sh --text-corpus: text_runs.csv has both seeds' rnn runs, text.csv their median, text_ngram.csv orders 1-3 fitted" \
    sh -c '[ "$(awk -F, '"'"'NR > 1 && $1 == "rnn" && $3 == 16 && $12 == "ok" { k++ } END { print k + 0 }'"'"' "$1/text_runs.csv")" = 2 ] &&
           awk -F, '"'"'NR == 2 && $1 == "rnn" && $8 == 2 && $9 > 0 { f = 1 } END { exit f ? 0 : 1 }'"'"' "$1/text.csv" &&
           [ "$(awk -F, '"'"'NR > 1 && $4 == "ok" && $2 > 0 { printf "%s ", $1 }'"'"' "$1/text_ngram.csv")" = "1 2 3 " ] &&
           grep -q "^text_corpus: .*text.txt" "$1/meta.txt"' sh "$T"
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT= bash "$SL_SRCDIR/experiments/lm.sh" --smoke --seeds 1 --mixers rnn \
    --text-corpus "$tmp/no-such-file.txt" --out "$tmp/lmbad" >"$tmp/lmbad.log" 2>&1)
rc=$?
check "lm.sh --text-corpus with an unreadable file: exit 1 and a message naming it" \
    sh -c '[ "$1" -eq 1 ] && grep -q "cannot read the text corpus .*no-such-file.txt" "$2"' sh $rc "$tmp/lmbad.log"
S=$tmp/lmtext/lm/subword
# the split is charlm's (the first floor(0.9 n) bytes train), the BPE was trained on the training
# part only, and the validation shard holds the validation text alone (document token + its tokens)
nb=$(wc -c <"$tmp/text.txt"); nt=$(awk -v n="$nb" 'BEGIN { printf "%d", 0.9 * n }')
check "lm.sh --subword: the split is charlm's, the BPE (300 tokens) is trained on the training part, the validation shard encodes the validation text alone" \
    sh -c '[ "$(wc -c <"$1/train.txt")" = "$2" ] && [ "$(($(wc -c <"$1/val.txt") + $2))" = "$3" ] &&
           "$4" tokenizer info --tokenizer "$1/tok.bpe" | grep -q "300" &&
           v=$("$4" tokenizer encode --tokenizer "$1/tok.bpe" "$1/val.txt" | wc -w) &&
           [ "$(od -An -t d4 -j 8 -N 4 "$1/data/c_val_000000.bin" | tr -d " ")" = "$((v + 1))" ]' sh "$S" "$nt" "$nb" "$SEQLAB"
# nats per byte = loss per token x (validation tokens / validation bytes), recomputed here
tpb=$(awk -v t="$(od -An -t d4 -j 8 -N 4 "$S/data/c_val_000000.bin" | tr -d ' ')" -v b="$(wc -c <"$S/val.txt")" 'BEGIN { print (t - 1) / b }')
check "lm.sh --subword: bytes.csv has both arms' rnn and n-gram rows, the BPE rows scaled by the validation tokens per byte ($tpb)" \
    sh -c 'awk -F, -v r="$2" '"'"'
        function near(a, b) { return (a - b < 1e-4 * (1 + b) && b - a < 1e-4 * (1 + b)) }
        NR > 1 { k[$1 "," $2]++
                 if ($1 == "char" && ($6 != 1 || !near($7, $5))) bad++
                 if ($1 == "bpe" && (!near($6, r) || !near($7, $5 * r))) bad++ }
        END { exit (!bad && k["char,rnn"] && k["bpe,rnn"] && k["bpe,1-gram"] && k["bpe,3-gram"] && k["char,3-gram"]) ? 0 : 1 }'"'"' "$1" &&
           [ "$(awk -F, '"'"'NR > 1 && $1 == "rnn" && $12 == "ok"'"'"' "$3" | wc -l)" = 2 ]' sh "$tmp/lmtext/lm/bytes.csv" "$tpb" "$tmp/lmtext/lm/subword_runs.csv"
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT= bash "$SL_SRCDIR/experiments/mqar.sh" --smoke --subword --out "$tmp/mqbad" >"$tmp/mqbad.log" 2>&1)
rc=$?
check "--subword on an experiment without a text arm: exit 2 and a message" \
    sh -c '[ "$1" -eq 2 ] && grep -q "subword does not apply" "$2"' sh $rc "$tmp/mqbad.log"

# 25-30: the subword arm comparing every family (issue 23 item 3): one model of each family
# (recurrent lstm and gru, ssm s4d, mamba and mamba2, transformer gpt) and the n-gram on the
# same BPE tokens, two seeds, in the smoke setting; then the same command again resumes
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT=${GNUPLOT-} bash "$SL_SRCDIR/experiments/lm.sh" --smoke --seeds 1,2 \
    --mixers lstm,gru,s4d,mamba,mamba2,gpt --text-corpus "$tmp/text.txt" --subword --out "$tmp/lmsw" --jobs 2 \
    >"$tmp/lmsw.log" 2>&1) || sed 's/^/# /' "$tmp/lmsw.log"
W=$tmp/lmsw/lm
check "lm.sh --subword: subword_runs.csv has both seeds of lstm, gru, s4d, mamba, mamba2, gpt ok (families recurrent, ssm, mamba, transformer), subword.csv their medians" \
    sh -c '[ "$(awk -F, '"'"'NR > 1 && $12 == "ok" && $9 > 0 && $5 == 20 { print $1 ":" $2 }'"'"' "$1/subword_runs.csv" | sort | uniq -c |
              awk '"'"'$1 == 2 { printf "%s ", $2 }'"'"')" = "gpt:transformer gru:recurrent lstm:recurrent mamba2:mamba mamba:mamba s4d:ssm " ] &&
           [ "$(awk -F, '"'"'NR > 1 && $8 == 2 && $10 <= $9 && $9 <= $11 { printf "%s ", $1 }'"'"' "$1/subword.csv")" = "gpt gru lstm mamba mamba2 s4d " ]' sh "$W"
tpb=$(awk -v t="$(od -An -t d4 -j 8 -N 4 "$W/subword/data/c_val_000000.bin" | tr -d ' ')" -v b="$(wc -c <"$W/subword/val.txt")" 'BEGIN { print (t - 1) / b }')
check "lm.sh --subword: bytes.csv gives each family's nats/token (subword.csv's median) and nats/byte (x $tpb), steps and seeds, and the n-gram orders 1-3" \
    sh -c 'awk -F, -v r="$2" '"'"'
        function near(a, b) { return (a - b < 1e-4 * (1 + b) && b - a < 1e-4 * (1 + b)) }
        FNR == 1 { f++; next }
        f == 1 { med[$1] = $9; next }
        $1 == "bpe" && $2 !~ /gram$/ { k++; if (!near($5, med[$2]) || !near($7, $5 * r) || $8 > $7 || $7 > $9 || $10 != 20 || $11 != 2 || $3 != 16) bad++ }
        $1 == "bpe" && $2 ~ /gram$/ { g++; if (!near($7, $5 * r)) bad++ }
        END { exit (!bad && k == 6 && g == 3) ? 0 : 1 }'"'"' "$1/subword.csv" "$1/bytes.csv"' sh "$W" "$tpb"
check "lm.sh --subword: bytecurves.csv has each family's BPE curve at steps 10 and 20 over 2 seeds, per byte (subwordcurves.csv x $tpb)" \
    sh -c 'awk -F, -v r="$2" '"'"'
        function near(a, b) { return (a - b < 1e-4 * (1 + b) && b - a < 1e-4 * (1 + b)) }
        FNR == 1 { f++; next }
        f == 1 { v[$1 "-bpe," $3] = $5; next }
        $1 ~ /-bpe$/ { k++; if (!($1 "," $3 in v) || !near($5, v[$1 "," $3] * r) || $8 != 2 || ($3 != 10 && $3 != 20)) bad++ }
        END { exit (!bad && k == 12) ? 0 : 1 }'"'"' "$1/subwordcurves.csv" "$1/bytecurves.csv"' sh "$W" "$tpb"
check "lm.sh --subword: each run's resume signature holds its width, steps, batch and evaluation interval (16 20 8 10)" \
    sh -c 'for f in "$1"/runs/subword-*-d16-*/signature; do
               [ "$(sed -n "8,11p" "$f" | tr "\n" " ")" = "16 20 8 10 " ] || exit 1; k=$((k + 1)); done; [ "$k" = 12 ]' sh "$W"
cp "$W/bytes.csv" "$tmp/bytes1.csv"
(cd "$tmp" && SEQLAB=$SEQLAB GNUPLOT= bash "$SL_SRCDIR/experiments/lm.sh" --smoke --seeds 1,2 \
    --mixers lstm,gru,s4d,mamba,mamba2,gpt --text-corpus "$tmp/text.txt" --subword --out "$tmp/lmsw" --jobs 2 \
    >"$tmp/lmsw2.log" 2>&1) || sed 's/^/# /' "$tmp/lmsw2.log"
check "lm.sh --subword again: the 12 subword runs and 3 n-gram fits are reused and bytes.csv is the same" \
    sh -c '[ "$(grep -c "^subword-" "$1/logs/reused.log")" = 15 ] && cmp -s "$1/bytes.csv" "$2"' sh "$W" "$tmp/bytes1.csv"
if [ -n "${GNUPLOT-}" ]; then
    check "lm.sh --subword: lm_subword.png is a PNG" is_png "$W/lm_subword.png"
else
    skip "GNUPLOT is empty: no plot"
fi
