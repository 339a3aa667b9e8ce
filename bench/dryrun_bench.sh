#!/bin/sh
# bench/dryrun_bench.sh — `seqlab train --dry-run` against the peak resident size of the run it
# describes (issue #21 item 6): for several models and shapes, the dry run's total, then the run
# itself (STEPS steps, the final evaluation and checkpoint included) under GNU time (%M, the
# process's peak resident size).
#
# usage: bench/dryrun_bench.sh [STEPS] > bench/dryrun_results.csv
# env: SEQLAB (default ./seqlab), THREADS (default 1).
#
# CSV (stdout): model,B,T,K,params,act_mib,predicted_mib,measured_mib,ratio,within_20pct,load1
#   ratio = predicted / measured.
set -u
STEPS=${1:-3}
SEQLAB=${SEQLAB:-./seqlab}
THREADS=${THREADS:-1}
[ -x /usr/bin/time ] || { echo "dryrun_bench: /usr/bin/time (GNU time) is needed" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sl-drybench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "model,B,T,K,params,act_mib,predicted_mib,measured_mib,ratio,within_20pct,load1"
# model|B|T|K
while IFS='|' read -r model b t k; do
    [ -n "$model" ] || continue
    ck=""; [ "$k" = 0 ] || ck="--checkpoint-blocks $k"
    set -- --model "$model" --task charlm --seq-len "$t" --batch "$b" --threads "$THREADS" $ck
    "$SEQLAB" train "$@" --dry-run >"$tmp/dry" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    pred=$(sed -n 's/^total: \([0-9.]*\) MiB.*/\1/p' "$tmp/dry")
    params=$(sed -n 's/^parameters: \([0-9]*\) .*/\1/p' "$tmp/dry")
    if [ "$k" = 0 ]; then act=$(sed -n 's/^activations: \([0-9.]*\) MiB.*/\1/p' "$tmp/dry")
    else act=$(sed -n "s/^activations --checkpoint-blocks $k: \([0-9.]*\) MiB.*/\1/p" "$tmp/dry"); fi
    rm -rf "$tmp/run"
    /usr/bin/time -f %M -o "$tmp/time" "$SEQLAB" train "$@" --steps "$STEPS" --eval-every 0 --eval-batches 1 \
        --no-progress --out "$tmp/run" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    kb=$(tail -n 1 "$tmp/time")
    echo "$model $b $t $k $params $act $pred $kb $(cut -d' ' -f1 /proc/loadavg)" |
        awk '{ m = $8 / 1024; r = $7 / m; printf "\"%s\",%s,%s,%s,%s,%s,%s,%.2f,%.3f,%d,%s\n", $1, $2, $3, $4, $5, $6, $7, m, r, (r >= 0.8 && r <= 1.2), $9 }'
done <<'CONFS'
lm:mixer=lstm,d_model=128,n_layer=4|8|512|0
lm:mixer=lstm,d_model=128,n_layer=4|8|512|1
lm:mixer=lstm,d_model=128,n_layer=4|8|512|2
lm:mixer=s4d,d_model=128,n_layer=4|8|1024|0
lm:mixer=s4d,d_model=128,n_layer=4|8|1024|1
lm:mixer=s4d,d_model=128,n_layer=4|8|1024|2
lm:mixer=attention,d_model=128,n_layer=4,n_head=4,max_seq_len=512|8|512|0
lm:mixer=attention,d_model=128,n_layer=4,n_head=4,max_seq_len=512|8|512|1
lm:mixer=attention,d_model=128,n_layer=4,n_head=4,max_seq_len=512|8|512|2
lm:mixer=mamba,d_model=128,n_layer=4|8|512|0
lm:mixer=mamba,d_model=128,n_layer=4|8|512|1
lm:mixer=mamba,d_model=128,n_layer=4|8|512|2
lm:mixer=mamba2,d_model=128,n_layer=4|8|512|0
lm:mixer=mamba2,d_model=128,n_layer=4|8|512|1
lm:mixer=mamba2,d_model=128,n_layer=4|8|512|2
gpt:n_layer=6,n_head=4,n_embd=128,block_size=1024|8|1024|0
gpt:n_layer=6,n_head=4,n_embd=128,block_size=1024|8|1024|1
gpt:n_layer=6,n_head=4,n_embd=128,block_size=1024|8|1024|2
llama:n_layers=4,dim=128,n_heads=4,n_kv_heads=2,max_seq_len=512,multiple_of=32|16|512|0
CONFS
