#!/bin/sh
# t/reliab-diverge.sh — divergence in every family (the linear-RNN zoo included): plain SGD at learning rate 100 without
# clipping drives each model to a non-finite loss, gradient or parameter within a few dozen
# steps (no test hook: the run really diverges). The run must stop with exit 1 and a message
# naming the step and the first non-finite tensor; the checkpoint of the step before must be
# kept, finite (eval reads and evaluates it) and at that step; no model.safetensors; log.csv
# without rows past it. A run that diverges before its first checkpoint leaves no directory.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
TASK=induction:seq_len=16,vocab_size=8
COMMON="--optimizer sgd --lr 100 --clip 0 --steps 60 --batch 4 --eval-every 1000 --eval-batches 1 --no-progress"
set -- "lm:mixer=rnn,d_model=16,n_layer=1" "lm:mixer=lstm,d_model=16,n_layer=1" "lm:mixer=gru,d_model=16,n_layer=1" \
    "lm:mixer=hippo,d_model=16,n_layer=1" "lm:mixer=s4,d_model=16,n_layer=1" "lm:mixer=s4d,d_model=16,n_layer=1" \
    "lm:mixer=mamba,d_model=16,n_layer=1" "lm:mixer=mamba2,d_model=16,n_layer=1,headdim=8" \
    "lm:mixer=attention,d_model=16,n_layer=1" "gpt:n_layer=1,n_embd=16,n_head=2" "llama:dim=16,n_layers=1,n_heads=2" \
    "lm:mixer=lru,d_model=16,n_layer=1" "lm:mixer=retnet,d_model=16,n_layer=1" "lm:mixer=gla,d_model=16,n_layer=1" \
    "lm:mixer=rwkv,d_model=16,n_layer=1" "lm:mixer=based,d_model=16,n_layer=1" "lm:mixer=h3,d_model=16,n_layer=1" \
    "lm:mixer=hyena,d_model=16,n_layer=1"
echo "1..$(($# + 2))"
for spec in "$@"; do
    run="$tmp/run"
    rm -rf "$run"
    "$SEQLAB" train --model "$spec" --task $TASK $COMMON --ckpt-every 1 --out "$run" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    msg=$(cat "$tmp/err")
    N=$(sed -n 's/.*diverged at step \([0-9]*\):.*/\1/p' "$tmp/err")
    why=""
    [ $rc -eq 1 ] || why="$why exit $rc;"
    [ -n "$N" ] || why="$why no 'diverged at step N';"
    echo "$msg" | grep -q "'[A-Za-z_.0-9]*'\|the model's output\|the loss itself" || why="$why no tensor named;"
    if [ -n "$N" ]; then
        K=$((N - 1))
        echo "$msg" | grep -q "last good checkpoint (step $K) is kept" || why="$why kept step is not $K;"
        # the kept checkpoint loads and is at step K: resuming it to --steps K-1 is refused so
        "$SEQLAB" train --resume "$run" --steps $((K - 1)) > "$tmp/rout" 2> "$tmp/rerr"
        grep -q "already at step $K," "$tmp/rerr" || why="$why checkpoint is not at step $K: $(cat "$tmp/rerr");"
        # its parameters are finite; evaluating them on other batches may still overflow
        # (weights a step away from diverging), which eval must then report, not hide
        if ! "$SEQLAB" eval --run "$run" --json > "$tmp/eval" 2> "$tmp/eerr"; then
            grep -q "not finite" "$tmp/eerr" || why="$why eval of the kept checkpoint failed: $(cat "$tmp/eerr");"
        fi
        last=$(tail -n 1 "$run/log.csv" | cut -d, -f1)
        [ "$last" = step ] || [ "$last" -le $K ] || why="$why log.csv has step $last > $K;"
    fi
    [ ! -e "$run/model.safetensors" ] || why="$why model.safetensors written;"
    if [ -z "$why" ]; then ok "$spec: ${msg#seqlab: error: train: }"; else nok "$spec:$why"; echo "# $msg"; fi
done
# diverging before the first checkpoint: nothing kept, and the directory the run made is gone
rm -rf "$tmp/early"
"$SEQLAB" train --model "lm:mixer=rnn,d_model=16,n_layer=1" --task $TASK $COMMON --ckpt-every 1000 --out "$tmp/early" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "before any checkpoint was written" "$tmp/err" && ! grep -q "last good checkpoint" "$tmp/err" && [ ! -e "$tmp/early" ]; then
    ok "divergence before any checkpoint: says so, leaves no directory"
else
    nok "divergence before any checkpoint (exit $rc, dir $(ls -A "$tmp/early" 2>&1 | tr '\n' ' '))"; sed 's/^/# /' "$tmp/err"
fi
# the same into a directory that existed before: the directory stays, the run's log goes
mkdir "$tmp/pre"
"$SEQLAB" train --model "lm:mixer=rnn,d_model=16,n_layer=1" --task $TASK $COMMON --ckpt-every 1000 --out "$tmp/pre" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ -d "$tmp/pre" ] && [ -z "$(ls -A "$tmp/pre")" ]; then ok "  into an existing directory: it stays, empty"; else nok "  into an existing directory (exit $rc): $(ls -A "$tmp/pre" | tr '\n' ' ')"; fi
exit $fail
