#!/bin/sh
# t/export.sh — seqlab export writes a run's weights by PyTorch state_dict names with a tied
# head written out; seqlab reads the export back to the same outputs; formats that do not fit
# the run are refused. With Debian's python3 and python3-torch: contrib/seqlab_torch.py loads
# the exports of lm:/seq: runs into PyTorch modules with strict=True and matches seqlab's
# outputs (skipped cleanly without torch).
SEQLAB=${SEQLAB:-./seqlab}
: "${SL_SRCDIR:=.}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
expect() { want=$1; needle=$2; shift 2; "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err"; then r=0; else r=1; echo "# got $got: $(head -c 300 "$tmp/err")"; fi
    ok $r "exit $want, '$needle'"; }

# the JSON header of a safetensors file (its length is the first 8 bytes, little-endian)
hdr() { len=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +9 "$1" | head -c "$len"; }
i=0; while [ $i -lt 40 ]; do echo "the quick brown fox $i"; i=$((i+1)); done >"$tmp/text.txt"
common="--steps 3 --batch 4 --eval-batches 1 --threads 1 --no-progress"
"$SEQLAB" train --model lstm:hidden_size=12,num_layers=2 --task charlm --corpus "$tmp/text.txt" --seq-len 16 $common --out "$tmp/lm" >/dev/null 2>&1
"$SEQLAB" train --model seq:mixer=gru,d_model=8,n_layer=2,norm=layernorm --task adding:length=10 $common --out "$tmp/seq" >/dev/null 2>&1
"$SEQLAB" export --run "$tmp/lm" --out "$tmp/lm.st" 2>"$tmp/err"; ok $? "export an lm:mixer=lstm run (state_dict)"
grep -q "tied head written as lm_head.weight" "$tmp/err"; ok $? "  ... the tied head is written out"
hdr "$tmp/lm.st" | grep -q '"lm_head.weight"' && hdr "$tmp/lm.st" | grep -q '"alphabet"' &&
    hdr "$tmp/lm.st" | grep -q '"format":"state_dict"'; ok $? "  ... header: lm_head.weight, alphabet, format"
spec=$(hdr "$tmp/lm.st" | sed -n 's/.*"model":"\([^"]*\)".*/\1/p')
# tokens (2, 6) int32 without python
printf '\223NUMPY\001\000\166\000' >"$tmp/tok.npy"
hdr="{'descr': '<i4', 'fortran_order': False, 'shape': (2, 6), }"; printf '%s' "$hdr" >>"$tmp/tok.npy"
printf "%$((118 - ${#hdr} - 1))s\n" "" >>"$tmp/tok.npy"
for v in 1 2 3 4 5 6 7 8 9 10 11 0; do printf "\\$(printf %03o $v)\\000\\000\\000" >>"$tmp/tok.npy"; done
"$SEQLAB" forward --model "$spec" --weights "$tmp/lm/model.safetensors" --input "$tmp/tok.npy" --output "$tmp/y_run.npy" &&
"$SEQLAB" forward --model "$spec" --weights "$tmp/lm.st" --input "$tmp/tok.npy" --output "$tmp/y_exp.npy" &&
    cmp -s "$tmp/y_run.npy" "$tmp/y_exp.npy"; ok $? "seqlab reads the export back: the same logits as the run's weights"
"$SEQLAB" export --run "$tmp/seq" --out "$tmp/seq.st" 2>/dev/null; ok $? "export a seq:mixer=gru run"
! hdr "$tmp/seq.st" | grep -q 'lm_head'; ok $? "  ... no head is invented for an untied model"
expect 1 "nanoGPT's layout is that of gpt: runs" "$SEQLAB" export --run "$tmp/lm" --format nanogpt --out "$tmp/x.st"
expect 1 "MambaLMHeadModel's layout is that of lm:mixer=mamba" "$SEQLAB" export --run "$tmp/lm" --format mamba_ssm --out "$tmp/x.st"
expect 2 "--format: 'pytorch' is not state_dict, nanogpt, mamba_ssm or hf" "$SEQLAB" export --run "$tmp/lm" --format pytorch --out "$tmp/x.st"
expect 1 "seqlab: error:" "$SEQLAB" export --run "$tmp/none" --out "$tmp/x.st"
[ ! -e "$tmp/x.st" ]; ok $? "no file after a refusal"
"$SEQLAB" train --model gpt:n_layer=1,n_head=2,n_embd=8 --task charlm --corpus "$tmp/text.txt" --seq-len 16 $common --out "$tmp/gpt" >/dev/null 2>&1
"$SEQLAB" export --run "$tmp/gpt" --format nanogpt --out "$tmp/gpt.st" 2>/dev/null && hdr "$tmp/gpt.st" | grep -q '"lm_head.weight"' &&
    hdr "$tmp/gpt.st" | grep -q 'n_embd\\": 8'; ok $? "nanogpt export of a gpt run: lm_head.weight and GPTConfig"
"$SEQLAB" train --model lm:mixer=mamba,d_model=8,n_layer=1 --task charlm --corpus "$tmp/text.txt" --seq-len 16 $common --out "$tmp/mamba" >/dev/null 2>&1
"$SEQLAB" export --run "$tmp/mamba" --format mamba_ssm --out "$tmp/mamba.st" 2>/dev/null && hdr "$tmp/mamba.st" | grep -q '"lm_head.weight"' &&
    hdr "$tmp/mamba.st" | grep -q 'pad_vocab_size_multiple\\": 1'; ok $? "mamba_ssm export of an lm:mixer=mamba run: lm_head.weight and MambaConfig"

PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c "import torch, numpy" 2>/dev/null; then
    out=$("$PY" "$SL_SRCDIR/contrib/seqlab_torch.py" "$tmp/lm.st" "$tmp/tok.npy" "$tmp/y_run.npy" 2>&1); r=$?
    echo "$out" | sed "s/^/# /"; ok $r "PyTorch: the lm:mixer=lstm export loads with strict=True and matches seqlab's logits"
    "$PY" -c "import numpy as np; np.save('$tmp/x.npy', np.random.RandomState(1).randn(3, 10, 2).astype(np.float32))"
    sspec=$(hdr "$tmp/seq.st" | sed -n 's/.*"model":"\([^"]*\)".*/\1/p')
    "$SEQLAB" forward --model "$sspec" --weights "$tmp/seq.st" --input "$tmp/x.npy" --output "$tmp/ys.npy"
    out=$("$PY" "$SL_SRCDIR/contrib/seqlab_torch.py" "$tmp/seq.st" "$tmp/x.npy" "$tmp/ys.npy" 2>&1); r=$?
    echo "$out" | sed "s/^/# /"; ok $r "PyTorch: the seq:mixer=gru (LayerNorm) export loads with strict=True and matches seqlab's outputs"
else
    skip "no python3-torch for /usr/bin/python3"
    skip "no python3-torch for /usr/bin/python3"
fi
echo "1..$n"
[ $fails -eq 0 ]
