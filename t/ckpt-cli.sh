#!/bin/sh
# t/ckpt-cli.sh — `seqlab train --checkpoint-blocks K` and `--dry-run` (issue #21 items 2 and 6,
# docs/training.md): a bad K exits 2 with a message; a run with K trains the weights of the run
# without, bit for bit, records K and keeps it on --resume; the dry run's numbers are
# consistent (activations grow with B and T, shrink with K; the parameter count is the model's)
# and it writes nothing.
SEQLAB=${SEQLAB:-./seqlab}
BUILD=${SL_BUILDDIR:-.}
CMP=$BUILD/t/st-cmp
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
LM=lm:mixer=lstm,d_model=32,n_layer=4
TR="$SEQLAB train --task charlm --seq-len 32 --batch 4 --eval-every 0 --eval-batches 1 --threads 1 --no-progress"

# bad K: exit 2, the message names the flag and the range
$TR --model $LM --steps 1 --out "$tmp/bad" --checkpoint-blocks 0 >"$tmp/o" 2>"$tmp/e"
ok "$([ $? = 2 ] && grep -q -- '--checkpoint-blocks' "$tmp/e" && [ ! -e "$tmp/bad" ]; echo $?)" "--checkpoint-blocks 0 exits 2: $(head -n 1 "$tmp/e")"
$TR --model $LM --steps 1 --out "$tmp/bad" --checkpoint-blocks -2 >"$tmp/o" 2>"$tmp/e"
ok "$([ $? = 2 ] && grep -q -- '--checkpoint-blocks' "$tmp/e"; echo $?)" "--checkpoint-blocks -2 exits 2: $(head -n 1 "$tmp/e")"
$TR --model $LM --steps 1 --out "$tmp/bad" --checkpoint-blocks 5 >"$tmp/o" 2>"$tmp/e"
ok "$([ $? = 2 ] && grep -q 'K must be in \[1, 4\]' "$tmp/e" && [ ! -e "$tmp/bad" ]; echo $?)" "K=5 > n_layer=4 exits 2: $(head -n 1 "$tmp/e")"
$TR --model ngram:order=3 --steps 1 --out "$tmp/bad" --checkpoint-blocks 1 >"$tmp/o" 2>"$tmp/e"
ok "$([ $? = 2 ] && grep -q 'no gradient checkpointing' "$tmp/e"; echo $?)" "a model without blocks exits 2: $(head -n 1 "$tmp/e")"

# the same weights, K recorded and kept on resume
$TR --model $LM --steps 3 --out "$tmp/a" >/dev/null 2>"$tmp/e" &&
    $TR --model $LM --steps 3 --out "$tmp/b" --checkpoint-blocks 2 >/dev/null 2>>"$tmp/e" &&
    $TR --model $LM --steps 3 --stop-after 2 --out "$tmp/c" --checkpoint-blocks 1 >/dev/null 2>>"$tmp/e"
rc=$?
r=$($CMP "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" 2>&1)
ok "$([ $rc = 0 ] && echo "$r" | grep -q 'bitwise 1'; echo $?)" "3 steps with K=2 == without: $r"
ok "$(grep -aq '"checkpoint_blocks":"2"' "$tmp/b/checkpoint.safetensors" && ! grep -aq checkpoint_blocks "$tmp/a/checkpoint.safetensors"; echo $?)" \
    "checkpoint_blocks recorded in the run's metadata (only when on)"
$SEQLAB train --resume "$tmp/c" --steps 3 --threads 1 --no-progress >/dev/null 2>>"$tmp/e"
rc=$?
r=$($CMP "$tmp/a/model.safetensors" "$tmp/c/model.safetensors" 2>&1)
ok "$([ $rc = 0 ] && echo "$r" | grep -q 'bitwise 1' && grep -aq '"checkpoint_blocks":"1"' "$tmp/c/checkpoint.safetensors"; echo $?)" \
    "K=1 stopped at 2 and resumed to 3 == 3 steps without, K kept: $r"
$SEQLAB train --resume "$tmp/c" --steps 4 --checkpoint-blocks 2 >/dev/null 2>"$tmp/e2"
ok "$([ $? = 2 ]; echo $?)" "--resume does not take --checkpoint-blocks (the run's is kept): $(head -n 1 "$tmp/e2")"

# the dry run: numbers
dry() { $SEQLAB train --task charlm --threads 1 --dry-run --out "$tmp/dry" "$@"; }
act() { sed -n "s/^activations$1: \([0-9.]*\) MiB.*/\1/p" "$2"; }
# the scaling on gpt (every cache is rows of the batch); the K choices on an LSTM wrapper (its
# lanes workspaces have parts that do not grow with B: weight panels, per-thread buffers)
G=gpt:n_layer=4,n_head=2,n_embd=32,block_size=128
M=lm:mixer=lstm,d_model=64,n_layer=4
dry --model $G --seq-len 64 --batch 4 >"$tmp/g1" 2>"$tmp/e" && dry --model $G --seq-len 64 --batch 8 >"$tmp/d2" 2>>"$tmp/e" &&
    dry --model $G --seq-len 128 --batch 4 >"$tmp/d3" 2>>"$tmp/e" && dry --model $M --seq-len 64 --batch 4 >"$tmp/d1" 2>>"$tmp/e" &&
    dry --model $M --seq-len 64 --batch 4 --checkpoint-blocks 2 >"$tmp/d4" 2>>"$tmp/e"
rc=$?
[ $rc = 0 ] || cat "$tmp/e" | sed 's/^/# /'
g1=$(act "" "$tmp/g1"); a2=$(act "" "$tmp/d2"); a3=$(act "" "$tmp/d3"); a1=$(act "" "$tmp/d1")
k1=$(act " --checkpoint-blocks 1" "$tmp/d1"); k2=$(act " --checkpoint-blocks 2" "$tmp/d1"); k3=$(act " --checkpoint-blocks 3" "$tmp/d1")
ok "$([ $rc = 0 ] && awk -v a="$g1" -v b="$a2" 'BEGIN { r = b / a; exit !(r >= 1.8 && r <= 2.05) }'; echo $?)" \
    "gpt: activations scale with B: $g1 MiB at B=4, $a2 MiB at B=8"
ok "$([ $rc = 0 ] && awk -v a="$g1" -v b="$a3" 'BEGIN { r = b / a; exit !(r >= 1.8 && r <= 2.2) }'; echo $?)" \
    "gpt: activations scale with T: $g1 MiB at T=64, $a3 MiB at T=128"
ok "$([ $rc = 0 ] && awk -v a="$a1" -v x="$k1" -v y="$k2" -v z="$k3" 'BEGIN { exit !(x < y && y < z && z < a) }'; echo $?)" \
    "activations shrink with K: $k1 < $k2 < $k3 < $a1 MiB (K=1, 2, 3, none)"
t4=$(sed -n 's/^total: \([0-9.]*\) MiB.*checkpoint-blocks 2)$/\1/p' "$tmp/d4"); t1=$(sed -n 's/^total: \([0-9.]*\) MiB.*no checkpointing)$/\1/p' "$tmp/d1")
ok "$([ -n "$t4" ] && [ -n "$t1" ] && awk -v a="$t1" -v b="$t4" 'BEGIN { exit !(b < a) }' && [ "$(act " --checkpoint-blocks 2" "$tmp/d4")" = "$k2" ]; echo $?)" \
    "with --checkpoint-blocks 2 the total uses K=2's activations: $t4 < $t1 MiB"
ok "$([ ! -e "$tmp/dry" ]; echo $?)" "the dry run writes no run directory"
$TR --model $M --seq-len 64 --steps 1 --out "$tmp/p" >/dev/null 2>>"$tmp/e"
p_eval=$($SEQLAB eval --run "$tmp/p" --json | sed 's/.*"params": \([0-9]*\).*/\1/')
p_dry=$(sed -n 's/^parameters: \([0-9]*\) .*/\1/p' "$tmp/d1")
ok "$([ -n "$p_dry" ] && [ "$p_dry" = "$p_eval" ]; echo $?)" "parameters $p_dry = the trained model's count $p_eval"
dry --model gpt:n_layer=3,n_head=2,n_embd=32,block_size=64 --seq-len 64 --batch 4 >"$tmp/d5" 2>"$tmp/e"
rc=$?
g0=$(act "" "$tmp/d5"); g1=$(act " --checkpoint-blocks 1" "$tmp/d5")
ok "$([ $rc = 0 ] && [ -n "$g1" ] && awk -v a="$g0" -v x="$g1" 'BEGIN { exit !(x < a) }'; echo $?)" "gpt: activations $g1 MiB with K=1 < $g0 MiB"
echo "1..$n"
