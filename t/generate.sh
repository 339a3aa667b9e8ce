#!/bin/sh
# t/generate.sh — `seqlab generate` (issue #17): the llama2.c mode stops at seq_len with a note,
# as run.c does (also from an empty prompt); a GPT run continues past its block size with a
# sliding window; --threads gives the same greedy text at 1 and 2 threads; --stats; speculative
# decoding with --draft (greedy text equal to plain greedy, the note at a full context); bad input.
SEQLAB=${SEQLAB:-./seqlab}
d=${SL_SRCDIR:-.}/t/data
tmp=$(mktemp -d /tmp/sl-gen-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
echo "1..32"
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# expect CODE PATTERN CMD...: exit code and a message on stderr
expect() {
    want=$1; pat=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$tmp/err"; then ok 0 "exit $want, '$pat': $(head -1 "$tmp/err")"
    else ok 1 "expected exit $want and '$pat', got $rc: $(head -2 "$tmp/err" | tr '\n' ' ')"; fi
}
L2C="--llama2c $d/llama2c_shared.bin --tokenizer $d/llama2c_tok.bin"

# llama2.c: seq_len 16. The prompt (with BOS) and every token but the last sampled take a
# position, so a greedy run asked for 40 tokens stops after 17 - prompt tokens, with a note.
$SEQLAB generate $L2C --prompt "hello" --tokens 40 --temperature 0 --stats >"$tmp/l" 2>"$tmp/le"; rc=$?
p=$(sed -n 's/.*stats: prompt \([0-9]*\) tokens, generated \([0-9]*\),.*/\1/p' "$tmp/le")
g=$(sed -n 's/.*stats: prompt \([0-9]*\) tokens, generated \([0-9]*\),.*/\2/p' "$tmp/le")
[ $rc -eq 0 ] && grep -q "note: stopped after $g tokens: the context is full (seq_len 16" "$tmp/le" && [ -n "$p" ] && [ $((p + g)) -eq 17 ]
ok $? "llama2.c: 40 tokens asked, stops at seq_len 16 with a note (prompt $p + generated $g = 17), exit $rc"
# (sampled: this tiny model's greedy choice after BOS is BOS itself, which ends generation)
$SEQLAB generate $L2C --prompt "" --tokens 100 --seed 1 --stats >"$tmp/e" 2>"$tmp/ee"; rc=$?
[ $rc -eq 0 ] && grep -q "prompt 1 tokens, generated 16," "$tmp/ee" && grep -q "note: stopped after 16 tokens" "$tmp/ee"
ok $? "llama2.c: empty prompt (BOS only) generates 16 tokens to seq_len, exit $rc ($(grep stats "$tmp/ee" | cut -c1-60))"
$SEQLAB generate $L2C --prompt "hello" --tokens 5 --temperature 0 >"$tmp/l5" 2>"$tmp/l5e"
[ ! -s "$tmp/l5e" ] && [ "$(head -c 5 "$tmp/l5")" = "hello" ]; ok $? "llama2.c: within the context no note"
# the same greedy text at 1 and 2 threads (the kernels do not depend on the thread count)
$SEQLAB generate $L2C --prompt "hello" --tokens 12 --temperature 0 --threads 1 >"$tmp/t1" 2>/dev/null
$SEQLAB generate $L2C --prompt "hello" --tokens 12 --temperature 0 --threads 2 >"$tmp/t2" 2>/dev/null
[ -s "$tmp/t1" ] && cmp -s "$tmp/t1" "$tmp/t2"; ok $? "llama2.c: --threads 1 and 2 give the same greedy text"
long=$(printf 'hello world %.0s' 1 2 3 4 5 6 7 8)
expect 1 "do not fit the checkpoint's context of 16" $SEQLAB generate $L2C --prompt "$long" --tokens 3
expect 2 "--threads" $SEQLAB generate $L2C --prompt hi --tokens 3 --threads 0
expect 2 "--threads" $SEQLAB generate $L2C --prompt hi --tokens 3 --threads two
expect 2 "--stats" $SEQLAB generate $L2C --prompt hi --tokens 3 --stats=1

# a GPT run with block size 16 (set from --seq-len), asked for 60 tokens: a sliding window
i=0; while [ $i -lt 40 ]; do echo "the quick brown fox jumps over the lazy dog $i"; i=$((i+1)); done >"$tmp/text.txt"
$SEQLAB train --model gpt:n_layer=1,n_head=2,n_embd=16 --task charlm --corpus "$tmp/text.txt" --seq-len 16 --steps 3 \
    --batch 2 --eval-every 3 --out "$tmp/gpt" >"$tmp/train.out" 2>&1; ok $? "train a GPT with block size 16"
$SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 60 --seed 4 --stats >"$tmp/g" 2>"$tmp/ge"; rc=$?
[ $rc -eq 0 ] && [ "$(head -c 4 "$tmp/g")" = "the " ] && [ "$(wc -c <"$tmp/g")" -eq 65 ] && grep -q "sliding window" "$tmp/ge"
ok $? "GPT (block 16): 60 tokens past the block size through a sliding window, exit $rc ($(wc -c <"$tmp/g") bytes)"
$SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 60 --seed 4 >"$tmp/g2" 2>/dev/null
cmp -s "$tmp/g" "$tmp/g2"; ok $? "GPT: the sliding-window generation is seeded"
# a prompt longer than the block: the window starts inside it
$SEQLAB generate --run "$tmp/gpt" --prompt "the quick brown fox jumps over" --tokens 5 --temperature 0 >"$tmp/g3" 2>"$tmp/g3e"
[ $? -eq 0 ] && [ "$(wc -c <"$tmp/g3")" -eq 36 ]; ok $? "GPT: a 30-character prompt over a 16-position block"
$SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 20 --temperature 0 --threads 1 >"$tmp/g4" 2>/dev/null
$SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 20 --temperature 0 --threads 2 >"$tmp/g5" 2>/dev/null
[ -s "$tmp/g4" ] && cmp -s "$tmp/g4" "$tmp/g5"; ok $? "GPT: --threads 1 and 2 give the same greedy text"
expect 2 "must not be empty" $SEQLAB generate --run "$tmp/gpt" --prompt "" --tokens 3
expect 1 "alphabet" $SEQLAB generate --run "$tmp/gpt" --prompt "ZZZ" --tokens 3

# speculative decoding: an n-gram run of the same alphabet drafts for the GPT (block 16)
$SEQLAB train --model ngram:order=3 --task charlm --corpus "$tmp/text.txt" --seq-len 16 --steps 1 --batch 2 \
    --out "$tmp/ng" >"$tmp/ngt.out" 2>&1; ok $? "fit a 3-gram run on the same text"
$SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 12 --temperature 0 >"$tmp/p1" 2>"$tmp/p1e"
$SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --speculate 3 --prompt "the " --tokens 12 --temperature 0 --stats \
    >"$tmp/s1" 2>"$tmp/s1e"; rc=$?
[ $rc -eq 0 ] && [ -s "$tmp/s1" ] && cmp -s "$tmp/p1" "$tmp/s1" && grep -q "proposals accepted" "$tmp/s1e"
ok $? "--draft ngram --speculate 3: greedy text == plain greedy, exit $rc ($(grep -o '[0-9]* of [0-9]* proposals accepted' "$tmp/s1e"))"
$SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --speculate 4 --prompt "the " --tokens 60 --seed 2 >"$tmp/s2" 2>"$tmp/s2e"; rc=$?
[ $rc -eq 0 ] && grep -q "note: stopped after 13 tokens: the context is full" "$tmp/s2e" && [ "$(wc -c <"$tmp/s2")" -eq 18 ]
ok $? "--draft: sampling stops at the 16-position context with a note (4 + 13 characters), exit $rc"
i=0; while [ $i -lt 40 ]; do echo "abc cab bca $i"; i=$((i+1)); done >"$tmp/other.txt"
$SEQLAB train --model ngram:order=2 --task charlm --corpus "$tmp/other.txt" --seq-len 16 --steps 1 --batch 2 \
    --out "$tmp/ng2" >"$tmp/ng2t.out" 2>&1; ok $? "fit a 2-gram run on another alphabet"
expect 1 "vocabulary" $SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng2" --prompt "the " --tokens 3
expect 2 "needs a --draft" $SEQLAB generate --run "$tmp/gpt" --speculate 3 --prompt "the " --tokens 3
expect 2 "--speculate" $SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --speculate 0 --prompt "the " --tokens 3
expect 2 "--draft works with --run" $SEQLAB generate $L2C --draft "$tmp/ng" --prompt hi --tokens 3
expect 1 "$tmp/nope" $SEQLAB generate --run "$tmp/gpt" --draft "$tmp/nope" --prompt "the " --tokens 3

# --regex: constrained generation
$SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 12 --regex '(fox|dog)( [a-z]+)?' --seed 3 >"$tmp/r1" 2>"$tmp/r1e"; rc=$?
out=$(cut -c5- "$tmp/r1")
echo "$out" | grep -Eqx '(fox|dog)( [a-z]+)?' && [ $rc -eq 0 ]
ok $? "--regex '(fox|dog)( [a-z]+)?': the generated text '$out' matches, exit $rc"
good=0; s=1
while [ $s -le 20 ]; do
    $SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 8 --regex '[0-9]+ [a-z]{2,4}' --seed $s >"$tmp/r2" 2>"$tmp/r2e"
    cut -c5- "$tmp/r2" | grep -Eqx '[0-9]+ [a-z]{2,4}' && good=$((good + 1)); s=$((s + 1))
done
[ $good -eq 20 ]; ok $? "--regex '[0-9]+ [a-z]{2,4}' with 8 tokens: $good of 20 seeds match"
$SEQLAB generate $L2C --prompt "hello" --tokens 10 --regex '[a-z ]{3,8}' --seed 2 >"$tmp/r3" 2>"$tmp/r3e"; rc=$?
[ $rc -eq 0 ] && [ "$(head -c 5 "$tmp/r3")" = "hello" ] && head -1 "$tmp/r3" | cut -c6- | grep -Eqx '[a-z ]{3,8}'
ok $? "--regex '[a-z ]{3,8}' with the llama2.c tokenizer (multi-character pieces): '$(head -1 "$tmp/r3")', exit $rc"
expect 1 "anchor" $SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 5 --regex '^fox'
expect 1 "matches no text" $SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 5 --regex 'a[^\s\S]'
expect 1 "no token of the vocabulary" $SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 5 --regex 'Z+'
expect 1 "needs 9 tokens" $SEQLAB generate --run "$tmp/gpt" --prompt "the " --tokens 5 --regex 'the brown'
expect 2 "not both" $SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --prompt "the " --tokens 5 --regex "a" --json-schema "$tmp/nope.json"
