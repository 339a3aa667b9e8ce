#!/bin/sh
# t/resume.sh — `seqlab train --resume DIR --steps N` continues a run bit-identically.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..4"
args="--model lstm:hidden_size=16 --task copy:length=3,delay=4 --batch 8 --eval-every 10 --ckpt-every 15 --lr 3e-3 --threads 2"
$SEQLAB train $args --steps 40 --out "$tmp/a" >/dev/null 2>&1 && echo "ok 1 - 40 steps straight" || echo "not ok 1 - 40 steps straight"
# the same 40-step run, interrupted after step 15 (checkpoint written), then resumed
$SEQLAB train $args --steps 40 --stop-after 15 --out "$tmp/b" >/dev/null 2>&1
$SEQLAB train --resume "$tmp/b" --steps 40 >/dev/null 2>&1 && echo "ok 2 - resumed to 40" || echo "not ok 2 - resumed to 40"
if cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"; then echo "ok 3 - weights bit-identical"; else echo "not ok 3 - weights bit-identical"; fi
# the logs agree apart from the timing columns
cut -d, -f1,3,4,5,6 "$tmp/a/log.csv" >"$tmp/la"; cut -d, -f1,3,4,5,6 "$tmp/b/log.csv" >"$tmp/lb"
if cmp -s "$tmp/la" "$tmp/lb"; then echo "ok 4 - logs agree"; else echo "not ok 4 - logs agree"; diff "$tmp/la" "$tmp/lb" | head -5 | sed 's/^/# /'; fi
