#!/bin/sh
# t/gpt-forward.sh — `seqlab forward` reproduces nanoGPT's logits (fixtures from
# t/ref/make_gpt_fixtures.py) in sequence and step mode, to 1e-4.
d="$SL_SRCDIR/t/data"
cmp="$SL_BUILDDIR/t/t-transformer"
if [ ! -x "$SEQLAB" ]; then echo "1..0 # SKIP seqlab not built"; exit 0; fi
# the fixtures are committed: a missing one is a failure, not a skip
for f in gpt_bias1.safetensors gpt_bias0.safetensors gpt_tokens.npy gpt_bias1_logits.npy gpt_bias0_logits.npy; do
    if [ ! -f "$d/$f" ]; then echo "1..1"; echo "not ok 1 - committed fixture t/data/$f is missing"; exit 1; fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sl-gptfwd.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..8"
n=0
res() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; sed 's/^/# /' "$tmp/err"; fi; }
s1="gpt:n_layer=2,n_head=4,n_embd=32,block_size=16,vocab_size=40,bias=1"
s0="gpt:n_layer=1,n_head=2,n_embd=16,block_size=16,vocab_size=40,bias=0"
for mode in seq step; do
    flag=; [ $mode = step ] && flag=--step
    "$SEQLAB" forward --model "$s1" --weights "$d/gpt_bias1.safetensors" --input "$d/gpt_tokens.npy" \
        --output "$tmp/y1.npy" $flag >"$tmp/err" 2>&1 &&
        "$cmp" --npy-close "$tmp/y1.npy" "$d/gpt_bias1_logits.npy" 1e-4 >>"$tmp/err" 2>&1
    res $? "nanoGPT bias=1 (mask buffers, tied lm_head in the file): $mode-mode logits within 1e-4"
    "$SEQLAB" forward --model "$s0" --weights "$d/gpt_bias0.safetensors" --input "$d/gpt_tokens.npy" \
        --output "$tmp/y0.npy" $flag >"$tmp/err" 2>&1 &&
        "$cmp" --npy-close "$tmp/y0.npy" "$d/gpt_bias0_logits.npy" 1e-4 >>"$tmp/err" 2>&1
    res $? "nanoGPT bias=0: $mode-mode logits within 1e-4"
done
# wrong architecture for the weights: a clear error, non-zero exit
if "$SEQLAB" forward --model "$s0" --weights "$d/gpt_bias1.safetensors" --input "$d/gpt_tokens.npy" \
    --output "$tmp/y.npy" >"$tmp/err" 2>&1; then res 1 "mismatched weights rejected"; else
    grep -q "error" "$tmp/err"; res $? "mismatched weights rejected with a message"; fi
"$SEQLAB" forward --model "$s0" --seed 1 --input "$d/gpt_tokens.npy" --output "$tmp/y.npy" >"$tmp/err" 2>&1
res $? "random init (--seed) runs"
# tokens beyond the vocabulary (the fixture's tokens reach 37; vocab_size=5): an error that
# names the token, exit 1, and no output file
rm -f "$tmp/y.npy"
"$SEQLAB" forward --model "gpt:n_layer=1,n_head=2,n_embd=16,block_size=16,vocab_size=5,bias=0" --seed 1 \
    --input "$d/gpt_tokens.npy" --output "$tmp/y.npy" >"$tmp/err" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "seqlab: error:.*token [0-9]* .*outside \[0, 5)" "$tmp/err"
res $? "tokens beyond the vocabulary: exit 1 (got $rc) and a message naming the token"
[ ! -e "$tmp/y.npy" ]; res $? "no output file after the out-of-vocabulary error"
