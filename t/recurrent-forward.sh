#!/bin/sh
# t/recurrent-forward.sh — `seqlab forward` on torch.nn.RNN / LSTM / GRU state_dicts saved as
# safetensors (t/data/recurrent_*, made by t/ref/make_recurrent_fixtures.py) reproduces torch's
# output to <= 1e-5 max abs error, in sequence mode and in step mode; a bidirectional model
# refuses step mode with a clear message; a spec that does not match the weights is refused.
set -u
: "${SEQLAB:?}" "${SL_SRCDIR:?}"
data="$SL_SRCDIR/t/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
echo "1..17"

report() {   # report OK DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

. "$SL_SRCDIR/t/npy.sh"

check() {   # check NAME SPEC [--step]
    name=$1 spec=$2
    shift 2
    mode=${1:-}
    if "$SEQLAB" forward --model "$spec" --weights "$data/recurrent_$name.safetensors" \
        --input "$data/recurrent_${name}_x.npy" --output "$tmp/y.npy" $mode 2> "$tmp/err"; then
        d=$(npy_max_diff "$tmp/y.npy" "$data/recurrent_${name}_y.npy")
        good=$(awk -v d="$d" 'BEGIN { print (d != "inf" && d + 0 <= 1e-5) ? 1 : 0 }')
        report "$good" "$name ${mode:-sequence}: max abs err vs torch $d"
    else
        report 0 "$name ${mode:-sequence}: seqlab forward failed: $(cat "$tmp/err")"
    fi
}

check rnn_tanh "rnn:input_size=5,hidden_size=7,num_layers=2"
check rnn_tanh "rnn:input_size=5,hidden_size=7,num_layers=2" --step
check rnn_relu_bidir "rnn:input_size=5,hidden_size=7,num_layers=2,nonlinearity=relu,bidirectional=1"
check rnn_nobias "rnn:input_size=5,hidden_size=7,bias=0" --step
check lstm "lstm:input_size=7,hidden_size=13,num_layers=2"
check lstm "lstm:input_size=7,hidden_size=13,num_layers=2" --step
check lstm_long "lstm:input_size=3,hidden_size=8"
check lstm_long "lstm:input_size=3,hidden_size=8" --step
check lstm_bidir "lstm:input_size=5,hidden_size=6,num_layers=2,bidirectional=1"
check gru "gru:input_size=7,hidden_size=13,num_layers=2"
check gru "gru:input_size=7,hidden_size=13,num_layers=2" --step
check gru_long "gru:input_size=3,hidden_size=8"
check gru_long "gru:input_size=3,hidden_size=8" --step
check gru_bidir "gru:input_size=5,hidden_size=6,num_layers=2,bidirectional=1"

# step mode of a bidirectional model: a clear refusal
if "$SEQLAB" forward --model "gru:input_size=5,hidden_size=6,num_layers=2,bidirectional=1" \
    --weights "$data/recurrent_gru_bidir.safetensors" --input "$data/recurrent_gru_bidir_x.npy" \
    --output "$tmp/y.npy" --step 2> "$tmp/err"; then
    report 0 "bidirectional --step refused"
else
    grep -q bidirectional "$tmp/err"; report $((1 - $?)) "bidirectional --step refused: $(head -1 "$tmp/err")"
fi

# weights that do not match the spec: refused, naming the tensor
if "$SEQLAB" forward --model "lstm:input_size=7,hidden_size=12,num_layers=2" \
    --weights "$data/recurrent_lstm.safetensors" --input "$data/recurrent_lstm_x.npy" \
    --output "$tmp/y.npy" 2> "$tmp/err"; then
    report 0 "mismatched hidden_size refused"
else
    grep -q weight_ "$tmp/err"; report $((1 - $?)) "mismatched hidden_size refused: $(head -1 "$tmp/err")"
fi
# input of the wrong width: refused
if "$SEQLAB" forward --model "lstm:input_size=6,hidden_size=13,num_layers=2" \
    --input "$data/recurrent_lstm_x.npy" --output "$tmp/y.npy" 2> "$tmp/err"; then
    report 0 "input width mismatch refused"
else
    report 1 "input width mismatch refused: $(head -1 "$tmp/err")"
fi
exit $fail
