#!/bin/sh
# t/tokens-task.sh — text -> shards with `seqlab tokenizer encode --shards`, then a model trained
# and evaluated on the tokens: task, streamed from those shards; a shard whose header lies
# stops the run with a message.
d="$SL_SRCDIR/t/data"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
check() {
    n=$((n + 1))
    desc=$1
    shift
    if "$@" > "$tmp/out" 2> "$tmp/err"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; sed 's/^/# /' "$tmp/err" | head -5; fail=1; fi
}
fails() {
    n=$((n + 1))
    want=$1 msg=$2 desc=$3
    shift 3
    "$@" > "$tmp/fo" 2> "$tmp/fe"
    st=$?
    if [ "$st" -eq "$want" ] && grep -q -- "$msg" "$tmp/fe"; then echo "ok $n - $desc"
    else echo "not ok $n - $desc (status $st)"; sed 's/^/# /' "$tmp/fe" | head -5; fail=1; fi
}
echo "1..9"
S=$SEQLAB
check "encode the corpus into shards, one document per line, 2000 validation tokens" \
    "$S" tokenizer encode --tokenizer "$d/tok-gpt2" --shards "$tmp/c" --docs line --val-tokens 2000 --shard-tokens 5000 "$d/tok-corpus.txt"
cp "$tmp/err" "$tmp/enc.err"
check "it reports 859 documents in 4 training shards and a validation shard" grep -q "859 documents, .* tokens .* in 4 training shards and a validation shard of 80 documents" "$tmp/enc.err"
check "the shards exist" test -s "$tmp/c_val_000000.bin" -a -s "$tmp/c_train_000000.bin" -a -s "$tmp/c_train_000003.bin"
check "train a GRU LM on tokens:data=PREFIX for 40 steps" \
    "$S" train --no-progress --model gru:hidden_size=32 --task "tokens:data=$tmp/c,seq_len=32" --steps 40 --batch 8 --lr 1e-2 --eval-every 20 --out "$tmp/run"
# the loss starts near log(600) = 6.40 and must fall well below it in 40 steps
check "its validation loss falls below 5.5 nats/token (log 600 = 6.40)" \
    awk -F, 'NR > 1 && $5 != "" { last = $5 } END { exit !(last != "" && last + 0 < 5.5) }' "$tmp/run/log.csv"
check "seqlab eval on the run's task" sh -c "'$S' eval --run '$tmp/run' --json > '$tmp/eval.json'"
check "... names the validation loss" grep -q '"val_loss"' "$tmp/eval.json"
head -c 3000 "$tmp/c_train_000001.bin" > "$tmp/c_train_000001.cut" && mv "$tmp/c_train_000001.cut" "$tmp/c_train_000001.bin"
fails 1 "the header says 5000 tokens" "a training shard cut short: the header lies, the run refuses" \
    "$S" train --no-progress --model gru:hidden_size=8 --task "tokens:data=$tmp/c,seq_len=16" --steps 2 --out "$tmp/run2"
fails 1 "no training shard matches" "a prefix without shards (exit 1, not a spec error)" \
    "$S" train --no-progress --model gru:hidden_size=8 --task "tokens:data=$tmp/none,seq_len=16" --steps 2 --out "$tmp/run3"
exit $fail
