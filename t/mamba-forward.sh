#!/bin/sh
# t/mamba-forward.sh — `seqlab forward` on state_dicts of the PyTorch reference modules of
# t/ref/make_mamba_fixtures.py (mamba_ssm Mamba, Mamba2, and a MambaLMHeadModel-layout token
# model with a tied head) reproduces their outputs to <= 1e-4 max abs error, in sequence mode
# and in step mode; weights that do not match the spec are refused with the tensor named.
set -u
: "${SEQLAB:?}" "${SL_SRCDIR:?}"
data="$SL_SRCDIR/t/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
echo "1..8"

result() {   # result GOOD DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

. "$SL_SRCDIR/t/npy.sh"

run() {   # run NAME SPEC INPUT [--step]
    name=$1 spec=$2 input=$3
    shift 3
    mode=${1:-}
    if "$SEQLAB" forward --model "$spec" --weights "$data/${name}_weights.safetensors" --input "$data/$input" \
        --output "$tmp/y.npy" $mode 2> "$tmp/err"; then
        d=$(npy_max_diff "$tmp/y.npy" "$data/${name}_y.npy")
        good=$(awk -v d="$d" 'BEGIN { print (d != "inf" && d + 0 <= 1e-4) ? 1 : 0 }')
        result "$good" "$name ${mode:-sequence}: max abs err vs PyTorch $d"
    else
        result 0 "$name ${mode:-sequence}: seqlab forward failed: $(cat "$tmp/err")"
    fi
}

M1="mamba:d_model=16,d_state=8,d_conv=4,expand=2"
M2="mamba2:d_model=16,d_state=8,d_conv=4,expand=2,headdim=8,ngroups=2,chunk_size=5"
LM="lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11,d_state=8"
run mamba "$M1" mamba_x.npy
run mamba "$M1" mamba_x.npy --step
run mamba2 "$M2" mamba2_x.npy
run mamba2 "$M2" mamba2_x.npy --step
run mambalm "$LM" mambalm_tok.npy
run mambalm "$LM" mambalm_tok.npy --step

# a spec that does not match the weights (d_state 16 vs 8) is refused, naming the tensor
if "$SEQLAB" forward --model "mamba:d_model=16" --weights "$data/mamba_weights.safetensors" \
    --input "$data/mamba_x.npy" --output "$tmp/y.npy" 2> "$tmp/err"; then
    result 0 "mismatched spec accepted"
else
    grep -q "A_log\|x_proj" "$tmp/err"
    result $((1 - $?)) "mismatched spec refused: $(head -c 200 "$tmp/err")"
fi
# a Mamba state_dict is not a Mamba2 one
if "$SEQLAB" forward --model "$M2" --weights "$data/mamba_weights.safetensors" \
    --input "$data/mamba_x.npy" --output "$tmp/y.npy" 2> "$tmp/err"; then
    result 0 "mamba weights accepted by mamba2"
else
    grep -q "seqlab: error" "$tmp/err"
    result $((1 - $?)) "mamba weights refused by mamba2: $(head -c 200 "$tmp/err")"
fi
exit $fail
