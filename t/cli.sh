#!/bin/sh
# t/cli.sh — the seqlab program: help, usage errors (exit 2), failures (exit 1, "seqlab: error:"),
# list, forward on .npy in sequence and step mode, train/eval/generate end to end.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
# expect STATUS NEEDLE CMD...: exit status and a stderr substring
expect() {
    want=$1; needle=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err" "$tmp/out"; then r=0; else r=1; echo "# got $got: $(head -c 300 "$tmp/err")"; fi
    ok $r "exit $want, '$needle': $*"
}

"$SEQLAB" --version | grep -q '^seqlab [0-9]'; ok $? "--version"
for c in list train eval forward generate hippo ngram w2v scale export; do
    "$SEQLAB" $c --help >"$tmp/h" 2>&1 && grep -q usage "$tmp/h"; ok $? "$c --help prints usage, exit 0"
done
expect 2 "unknown command" "$SEQLAB" frobnicate
expect 2 "usage" "$SEQLAB"
expect 2 "unknown option" "$SEQLAB" train --model rnn --bogus
expect 2 "--steps" "$SEQLAB" train --model rnn --steps -3
expect 2 "--lr" "$SEQLAB" train --model rnn --lr abc
expect 2 "needs a value" "$SEQLAB" train --model
expect 2 "--model is required" "$SEQLAB" train --task copy
expect 2 "--seq-len does not apply" "$SEQLAB" train --model rnn --task copy --seq-len 10
expect 2 "unknown model 'nosuch'" "$SEQLAB" train --model nosuch --task copy --out "$tmp/x"
expect 2 "valid keys" "$SEQLAB" train --model rnn:hiden_size=3 --task copy --out "$tmp/x"
expect 2 "unknown task" "$SEQLAB" train --model rnn --task nosuch --out "$tmp/x"
expect 1 "corpus" "$SEQLAB" train --model rnn --task charlm --corpus /nonexistent --out "$tmp/x"
expect 2 "--resume needs --steps" "$SEQLAB" train --resume "$tmp/x"
expect 1 "checkpoint" "$SEQLAB" train --resume "$tmp/none" --steps 5
expect 1 "seqlab: error:" "$SEQLAB" eval --run "$tmp/none"
expect 2 "--run is required" "$SEQLAB" eval

"$SEQLAB" list >"$tmp/list"; ok $? "list runs"
grep -q "rnn" "$tmp/list" && grep -q "hidden_size" "$tmp/list" && grep -q "charlm" "$tmp/list"; ok $? "list shows models, their keys and tasks"
"$SEQLAB" list --mixers --names | grep -qx rnn; ok $? "list --mixers --names"

# forward: tokens and real input, sequence and step mode agree; bad inputs are refused
python_free_npy() { # write a tiny .npy of int32 tokens (2,5) with printf, no python needed
    printf '\223NUMPY\001\000\166\000' >"$1"
    hdr="{'descr': '<i4', 'fortran_order': False, 'shape': (2, 5), }"
    printf '%s' "$hdr" >>"$1"
    pad=$((118 - ${#hdr} - 1)); printf "%${pad}s\n" "" >>"$1"
    printf '\001\000\000\000\002\000\000\000\003\000\000\000\000\000\000\000\004\000\000\000' >>"$1"
    printf '\004\000\000\000\003\000\000\000\002\000\000\000\001\000\000\000\000\000\000\000' >>"$1"
}
python_free_npy "$tmp/tok.npy"
"$SEQLAB" forward --model lm:mixer=rnn,d_model=8,n_layer=2,vocab_size=5 --input "$tmp/tok.npy" --output "$tmp/y1.npy"; ok $? "forward (sequence mode) on tokens"
"$SEQLAB" forward --model lm:mixer=rnn,d_model=8,n_layer=2,vocab_size=5 --input "$tmp/tok.npy" --output "$tmp/y2.npy" --step; ok $? "forward --step on tokens"
[ -s "$tmp/y1.npy" ] && [ "$(wc -c <"$tmp/y1.npy")" -eq $((128 + 2*5*5*4)) ]; ok $? "output is (2,5,5) float32"
# the two modes agree value by value (t-transformer --npy-close compares float arrays); a
# second model of another seed must not, so the comparison can fail
cmpnpy="${SL_BUILDDIR:-.}/t/t-transformer"
"$cmpnpy" --npy-close "$tmp/y1.npy" "$tmp/y2.npy" 1e-5 >"$tmp/cmp" 2>&1; ok $? "sequence and step mode outputs agree ($(cat "$tmp/cmp"))"
"$SEQLAB" forward --model lm:mixer=rnn,d_model=8,n_layer=2,vocab_size=5 --seed 7 --input "$tmp/tok.npy" --output "$tmp/y4.npy"
"$cmpnpy" --npy-close "$tmp/y1.npy" "$tmp/y4.npy" 1e-3 >"$tmp/cmp" 2>&1; [ $? -eq 1 ]; ok $? "another seed's output differs ($(cat "$tmp/cmp"))"
expect 1 "outside" "$SEQLAB" forward --model lm:mixer=rnn,d_model=8,vocab_size=3 --input "$tmp/tok.npy" --output "$tmp/y3.npy"
[ ! -e "$tmp/y3.npy" ]; ok $? "no output file after a failure"
expect 1 "takes real input" "$SEQLAB" forward --model rnn:input_size=4 --input "$tmp/tok.npy" --output "$tmp/y3.npy"
printf 'not an npy file' >"$tmp/bad.npy"
expect 1 "bad.npy" "$SEQLAB" forward --model lm:vocab_size=5 --input "$tmp/bad.npy" --output "$tmp/y3.npy"
expect 1 "seqlab: error:" "$SEQLAB" forward --model lm:vocab_size=5 --weights "$tmp/bad.npy" --input "$tmp/tok.npy" --output "$tmp/y3.npy"
expect 2 "not both" "$SEQLAB" forward --model lm:vocab_size=5 --weights w --seed 3 --input a --output b

# train / eval / generate on a small text
i=0; while [ $i -lt 60 ]; do echo "the quick brown fox jumps over the lazy dog $i"; i=$((i+1)); done >"$tmp/text.txt"
"$SEQLAB" train --model rnn:hidden_size=16 --task charlm --corpus "$tmp/text.txt" --seq-len 16 --steps 30 --batch 4 \
    --eval-every 10 --out "$tmp/run" >"$tmp/train.out" 2>&1; ok $? "train on a text file"
[ -s "$tmp/run/log.csv" ] && [ -s "$tmp/run/model.safetensors" ] && [ -s "$tmp/run/checkpoint.safetensors" ]; ok $? "log.csv, model.safetensors, checkpoint.safetensors"
[ "$(grep -c . "$tmp/run/log.csv")" -eq 4 ]; ok $? "log has header + 3 rows"
"$SEQLAB" eval --run "$tmp/run" --json >"$tmp/eval.json"; ok $? "eval --json"
grep -q '"metric": "val_loss"' "$tmp/eval.json" && grep -q '"step": 30' "$tmp/eval.json"; ok $? "eval reports metric and step"
"$SEQLAB" generate --run "$tmp/run" --prompt "the " --tokens 20 --seed 3 >"$tmp/gen1"; ok $? "generate"
"$SEQLAB" generate --run "$tmp/run" --prompt "the " --tokens 20 --seed 3 >"$tmp/gen2"
cmp -s "$tmp/gen1" "$tmp/gen2" && [ "$(head -c 4 "$tmp/gen1")" = "the " ] && [ "$(wc -c <"$tmp/gen1")" -eq 25 ]; ok $? "generation is seeded and continues the prompt"
"$SEQLAB" generate --run "$tmp/run" --prompt "the " --tokens 20 --temperature 0 >"$tmp/g0"; ok $? "greedy generation"
expect 1 "alphabet" "$SEQLAB" generate --run "$tmp/run" --prompt "ZZZ" --tokens 5
expect 2 "--top-p" "$SEQLAB" generate --run "$tmp/run" --prompt "the" --tokens 5 --top-p 2
# a count-based model goes through the same train/eval/generate path (fitted, re-fitted on load)
"$SEQLAB" list --names | grep -qx ngram; ok $? "ngram is a listed model"
{
    "$SEQLAB" train --model ngram:order=3 --task charlm --corpus "$tmp/text.txt" --seq-len 16 --out "$tmp/ng" >"$tmp/ng.out" 2>&1; ok $? "train fits an n-gram model"
    fit=$(sed -n 's/.*val_loss \([0-9.]*\).*/\1/p' "$tmp/ng.out")
    ev=$("$SEQLAB" eval --run "$tmp/ng" | sed -n 's/^val_loss: //p')
    [ -n "$fit" ] && [ "$fit" = "$ev" ]; ok $? "eval of the saved n-gram run equals the fitted one ($fit vs $ev)"
    "$SEQLAB" generate --run "$tmp/ng" --prompt "the " --tokens 10 --seed 1 >"$tmp/ng.gen"; ok $? "generate from an n-gram run"
}
# llama2.c checkpoints generate through the same program (committed fixtures: missing fails)
d=${SL_SRCDIR:-.}/t/data
[ -f "$d/llama2c_shared.bin" ] && [ -f "$d/llama2c_tok.bin" ]; ok $? "llama2.c fixtures present"
{
    "$SEQLAB" generate --llama2c "$d/llama2c_shared.bin" --tokenizer "$d/llama2c_tok.bin" --prompt "hello" --tokens 8 --seed 2 >"$tmp/l1"; ok $? "generate from a llama2.c checkpoint"
    "$SEQLAB" generate --llama2c "$d/llama2c_shared.bin" --tokenizer "$d/llama2c_tok.bin" --prompt "hello" --tokens 8 --seed 2 >"$tmp/l2"
    cmp -s "$tmp/l1" "$tmp/l2" && [ "$(head -c 5 "$tmp/l1")" = "hello" ]; ok $? "llama2.c generation is seeded and starts with the prompt"
    expect 1 "--tokenizer" "$SEQLAB" generate --llama2c "$d/llama2c_shared.bin" --tokenizer "$d/llama2c_shared.bin" --prompt hi --tokens 3
    expect 2 "go together" "$SEQLAB" generate --llama2c "$d/llama2c_shared.bin" --prompt hi --tokens 3
}
echo "1..$n"
[ $fails -eq 0 ]
