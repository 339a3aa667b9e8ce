#!/bin/sh
# t/hf-ckpt.sh — Hugging Face GPT-2 / Llama checkpoints through the CLI (docs/checkpoints.md):
# `seqlab forward --hf` reproduces transformers' logits (fixtures from
# t/ref/make_hf_ckpt_fixtures.py, PyTorch) within 1e-5 in sequence and step mode; `seqlab
# generate --hf --temperature 0` gives the fixtures' greedy tokens; `seqlab export --hf` writes
# the checkpoint again bitwise and by seqlab's names; gpt and llama runs export to the layout and
# read back to the same logits (and, with /usr/bin/python3 and torch, the script's PyTorch
# forward agrees with seqlab on them); bad input exits non-zero with a message.
d="$SL_SRCDIR/t/data/hf-ckpt"
close="$SL_BUILDDIR/t/t-transformer --npy-close"
stcmp="$SL_BUILDDIR/t/st-cmp"
if [ ! -x "$SEQLAB" ]; then echo "1..0 # SKIP seqlab not built"; exit 0; fi
for f in tokens.npy prompt_ids.txt gpt2_tied/config.json llama_gqa/model.safetensors.index.json; do
    if [ ! -f "$d/$f" ]; then echo "1..1"; echo "not ok 1 - committed fixture t/data/hf-ckpt/$f is missing"; exit 1; fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sl-hfckpt.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); sed 's/^/# /' "$tmp/err" 2>/dev/null | head -5; fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
expect() { want=$1; needle=$2; shift 2; "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err"; then r=0; else r=1; echo "# got $got: $(head -c 300 "$tmp/err")"; fi
    ok $r "exit $want, '$needle'"; }

for c in gpt2_tied gpt2_untied llama_gqa llama_tied; do
    for mode in seq step; do
        flag=; [ $mode = step ] && flag=--step
        "$SEQLAB" forward --hf "$d/$c" --input "$d/tokens.npy" --output "$tmp/y.npy" $flag >"$tmp/err" 2>&1 &&
            $close "$tmp/y.npy" "$d/${c}_logits.npy" 1e-5 >>"$tmp/err" 2>&1
        ok $? "forward --hf $c: $mode-mode logits within 1e-5 of transformers'"
    done
    "$SEQLAB" generate --hf "$d/$c" --prompt-ids "$(cat "$d/prompt_ids.txt")" --tokens 8 --temperature 0 >"$tmp/g" 2>"$tmp/err" &&
        cmp -s "$tmp/g" "$d/${c}_greedy.txt"
    ok $? "generate --hf $c --temperature 0: the 8 greedy tokens of transformers' generate ($(cat "$d/${c}_greedy.txt"))"
done

# export --hf: the same files again (bitwise), and by seqlab's names
for c in gpt2_untied llama_tied; do
    "$SEQLAB" export --hf "$d/$c" --format hf --out "$tmp/$c" 2>"$tmp/err" &&
        "$stcmp" "$d/$c/model.safetensors" "$tmp/$c/model.safetensors" >"$tmp/cmp" 2>>"$tmp/err" &&
        "$stcmp" "$tmp/$c/model.safetensors" "$d/$c/model.safetensors" >>"$tmp/cmp" 2>>"$tmp/err" &&
        [ "$(grep -c 'bitwise 1' "$tmp/cmp")" -eq 2 ]
    ok $? "export --hf $c --format hf: the same tensors, bitwise ($(head -1 "$tmp/cmp"))"
done
"$SEQLAB" export --hf "$d/llama_gqa" --format state_dict --out "$tmp/gqa.safetensors" 2>"$tmp/err"; r=$?
spec=$(sed -n 's/.*(\(llama:[^)]*\))$/\1/p' "$tmp/err")
[ $r -eq 0 ] && [ -n "$spec" ] &&
    "$SEQLAB" forward --model "$spec" --weights "$tmp/gqa.safetensors" --input "$d/tokens.npy" --output "$tmp/y.npy" 2>"$tmp/err" &&
    $close "$tmp/y.npy" "$d/llama_gqa_logits.npy" 1e-5 >>"$tmp/err" 2>&1
ok $? "export --hf llama_gqa --format state_dict: forward --model SPEC --weights gives transformers' logits"

# the JSON header of a safetensors file (its length is the first 8 bytes, little-endian)
hdr() { len=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +9 "$1" | head -c "$len"; }
# runs: export --format hf, read back by forward --hf to the run's logits
i=0; while [ $i -lt 40 ]; do echo "the quick brown fox $i"; i=$((i+1)); done >"$tmp/text.txt"
common="--steps 3 --batch 4 --eval-batches 1 --threads 1 --no-progress --task charlm --corpus $tmp/text.txt --seq-len 8"
printf '\223NUMPY\001\000\166\000' >"$tmp/tok.npy"   # tokens (2, 6) int32 without python
hdr="{'descr': '<i4', 'fortran_order': False, 'shape': (2, 6), }"; printf '%s' "$hdr" >>"$tmp/tok.npy"
printf "%$((118 - ${#hdr} - 1))s\n" "" >>"$tmp/tok.npy"
for v in 1 2 3 4 5 6 7 8 9 10 11 0; do printf "\\$(printf %03o $v)\\000\\000\\000" >>"$tmp/tok.npy"; done
for spec in "gpt:n_layer=2,n_head=2,n_embd=8,block_size=8,bias=0,tie=0" "gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,gelu=tanh" \
            "llama:dim=8,n_layers=2,n_heads=2,n_kv_heads=1,multiple_of=4,max_seq_len=8"; do
    name=$(echo "$spec" | tr ':,=' '___')
    "$SEQLAB" train --model "$spec" $common --out "$tmp/run_$name" >"$tmp/err" 2>&1 &&
        "$SEQLAB" export --run "$tmp/run_$name" --format hf --out "$tmp/hf_$name" 2>>"$tmp/err" &&
        full=$(hdr "$tmp/run_$name/model.safetensors" | sed -n 's/.*"model_canonical":"\([^"]*\)".*/\1/p') &&
        "$SEQLAB" forward --model "$full" --weights "$tmp/run_$name/model.safetensors" --input "$tmp/tok.npy" --output "$tmp/y_run.npy" 2>>"$tmp/err" &&
        "$SEQLAB" forward --hf "$tmp/hf_$name" --input "$tmp/tok.npy" --output "$tmp/y_hf_$name.npy" 2>>"$tmp/err" &&
        $close "$tmp/y_run.npy" "$tmp/y_hf_$name.npy" 0 >>"$tmp/err" 2>&1
    ok $? "export --run ($spec) --format hf, forward --hf: the run's logits exactly"
done
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c "import torch, numpy" 2>/dev/null; then
    for spec in "gpt:n_layer=2,n_head=2,n_embd=8,block_size=8,bias=0,tie=0" "gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,gelu=tanh" \
                "llama:dim=8,n_layers=2,n_heads=2,n_kv_heads=1,multiple_of=4,max_seq_len=8"; do
        name=$(echo "$spec" | tr ':,=' '___')
        "$PY" "$SL_SRCDIR/t/ref/make_hf_ckpt_fixtures.py" --check "$tmp/hf_$name" "$tmp/tok.npy" "$tmp/y_hf_$name.npy" >"$tmp/err" 2>&1
        ok $? "PyTorch (the fixture script's transformers forward) on the export of $spec: $(cat "$tmp/err" | tail -1)"
    done
else
    skip "no python3-torch for /usr/bin/python3"; skip "no python3-torch"; skip "no python3-torch"
fi

# bad input
expect 1 "seqlab: error: --hf: " "$SEQLAB" forward --hf "$tmp/none" --input "$d/tokens.npy" --output "$tmp/y.npy"
mkdir "$tmp/bad"; sed 's/"rope_scaling": null/"rope_scaling": {"type": "linear", "factor": 2.0}/' "$d/llama_tied/config.json" >"$tmp/bad/config.json"
cp "$d/llama_tied/model.safetensors" "$tmp/bad/"
rm -f "$tmp/y.npy"
expect 1 "rope_scaling (linear) is not supported" "$SEQLAB" forward --hf "$tmp/bad" --input "$d/tokens.npy" --output "$tmp/y.npy"
[ ! -e "$tmp/y.npy" ]; ok $? "no output after a refused checkpoint"
expect 2 "--hf gives the model and its weights" "$SEQLAB" forward --hf "$d/gpt2_tied" --model gpt --input "$d/tokens.npy" --output "$tmp/y.npy"
expect 1 "prompt token 99 is outside the model's vocabulary [0, 48)" "$SEQLAB" generate --hf "$d/gpt2_tied" --prompt-ids 1,99 --tokens 2
expect 2 "--prompt-ids: '1,x' is not a comma-separated list" "$SEQLAB" generate --hf "$d/gpt2_tied" --prompt-ids 1,x --tokens 2
expect 1 "--hf (its tokenizer" "$SEQLAB" generate --hf "$d/gpt2_tied" --prompt "hello" --tokens 2
"$SEQLAB" train --model lstm:hidden_size=8 $common --out "$tmp/lstm" >/dev/null 2>&1
expect 1 "only gpt and llama models have a Hugging Face layout" "$SEQLAB" export --run "$tmp/lstm" --format hf --out "$tmp/x"
"$SEQLAB" train --model "gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,pos=rope" $common --out "$tmp/gptrope" >/dev/null 2>&1
expect 1 "GPT-2 has learned positions" "$SEQLAB" export --run "$tmp/gptrope" --format hf --out "$tmp/x"
[ ! -e "$tmp/x" ]; ok $? "nothing written after a refused export"
expect 2 "--hf exports --format hf or state_dict" "$SEQLAB" export --hf "$d/gpt2_tied" --format nanogpt --out "$tmp/x"
echo "1..$n"
[ $fails -eq 0 ]
