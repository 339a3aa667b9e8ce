#!/bin/sh
# bench/spec_bench.sh — speculative decoding (issue #17 item 4): acceptance rate and speed-up of
# `seqlab generate --draft D --speculate K` against plain `seqlab generate` with the same target,
# in the same run, alternating.
#
# usage: bench/spec_bench.sh [ROUNDS] > spec.csv
# env: SEQLAB (default ./seqlab), CORPUS (default /work/shared/data/tinyshakespeare.txt),
#      BUDGET (training seconds per network, default 90), K (default 4), TOKENS (default 200),
#      THREADS (default 1)
#
# Trains on the corpus (charlm, one thread, --time-budget BUDGET each):
#   gpt        gpt:n_layer=4,n_head=4,n_embd=128,block_size=256   the GPT target
#   gpt_small  gpt:n_layer=1,n_head=2,n_embd=32,block_size=256    a small GPT draft
#   mamba      lm:mixer=mamba,d_model=128,n_layer=4               the Mamba target
#   ngram      ngram:order=6                                      an n-gram draft (fitted)
# then for each (target, draft) pair generates TOKENS tokens after a fixed prompt, greedy
# (temperature 0: the speculative text must equal the plain text, column same_text) and sampled
# (temperature 0.8, top-k 0). Rates: tokens / wall seconds of the process (load included), and
# tokens / seconds inside the models (--stats).
# CSV: round,target,draft,k,temperature,mode,tokens,wall_s,model_s,wall_tok_s,model_tok_s,acceptance,tokens_per_pass,same_text
# stderr: per (target, draft, temperature) the median speed-ups (plain wall / spec wall, plain
# model time / spec model time) and the median acceptance.
set -u
ROUNDS=${1:-3}
SEQLAB=${SEQLAB:-./seqlab}
CORPUS=${CORPUS:-/work/shared/data/tinyshakespeare.txt}
BUDGET=${BUDGET:-90}
K=${K:-4}
TOKENS=${TOKENS:-200}
THREADS=${THREADS:-1}
[ -r "$CORPUS" ] || { echo "spec_bench: no corpus at $CORPUS (set CORPUS)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sl-specb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$THREADS
MODELS="gpt:gpt:n_layer=4,n_head=4,n_embd=128,block_size=256
gpt_small:gpt:n_layer=1,n_head=2,n_embd=32,block_size=256
mamba:lm:mixer=mamba,d_model=128,n_layer=4
ngram:ngram:order=6"
echo "$MODELS" | while IFS=: read -r name spec; do
    "$SEQLAB" train --model "$spec" --task charlm --corpus "$CORPUS" --seq-len 128 --steps 100000 --batch 16 \
        --time-budget "$BUDGET" --eval-every 0 --eval-batches 2 --threads 1 --out "$tmp/$name" >"$tmp/$name.train" 2>&1 ||
        { cat "$tmp/$name.train" >&2; exit 1; }
    echo "spec_bench: trained $name: $(tail -1 "$tmp/$name.train")" >&2
done || exit 1
PROMPT="ROMEO:
"
now() { date +%s.%N; }
# run OUT ERR ARGS...: prints wall seconds
run() {
    out=$1; err=$2; shift 2
    t0=$(now)
    "$SEQLAB" generate "$@" --prompt "$PROMPT" --tokens "$TOKENS" --threads "$THREADS" --stats >"$out" 2>"$err" ||
        { cat "$err" >&2; exit 1; }
    t1=$(now)
    echo "$t0 $t1" | awk '{ printf "%.4f", $2 - $1 }'
}
echo "round,target,draft,k,temperature,mode,tokens,wall_s,model_s,wall_tok_s,model_tok_s,acceptance,tokens_per_pass,same_text"
PAIRS="gpt ngram
gpt gpt_small
mamba ngram
mamba gpt_small"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    echo "$PAIRS" | while read -r tgt dr; do
        for temp in 0 0.8; do
            w=$(run "$tmp/p.out" "$tmp/p.err" --run "$tmp/$tgt" --temperature $temp --seed $r) || exit 1
            ms=$(sed -n 's/.* model positions in \([0-9.]*\) s.*/\1/p' "$tmp/p.err")
            echo "$r,$tgt,-,0,$temp,plain,$TOKENS,$w,$ms,$(awk -v n="$TOKENS" -v w="$w" 'BEGIN{printf "%.1f", n/w}'),$(awk -v n="$TOKENS" -v w="$ms" 'BEGIN{printf "%.1f", n/w}'),,1,"
            w=$(run "$tmp/s.out" "$tmp/s.err" --run "$tmp/$tgt" --draft "$tmp/$dr" --speculate "$K" --temperature $temp --seed $r) || exit 1
            set -- $(sed -n 's/.*accepted (\([0-9.]*\)), \([0-9.]*\) tokens per target pass; target [0-9]* positions in \([0-9.]*\) s, draft [0-9]* positions in \([0-9.]*\) s.*/\1 \2 \3 \4/p' "$tmp/s.err")
            ms=$(awk -v a="$3" -v b="$4" 'BEGIN{printf "%.4f", a + b}')
            same=; [ "$temp" = 0 ] && { cmp -s "$tmp/p.out" "$tmp/s.out" && same=1 || same=0; }
            echo "$r,$tgt,$dr,$K,$temp,spec,$TOKENS,$w,$ms,$(awk -v n="$TOKENS" -v w="$w" 'BEGIN{printf "%.1f", n/w}'),$(awk -v n="$TOKENS" -v w="$ms" 'BEGIN{printf "%.1f", n/w}'),$1,$2,$same"
        done
    done || exit 1
    r=$((r + 1))
done >"$tmp/csv" || exit 1
cat "$tmp/csv"
# medians per (target, draft, temperature): plain rows pair with the spec rows of the same round
awk -F, 'NR > 1 && $6 == "plain" { pw[$1 "," $2 "," $5] = $8; pm[$1 "," $2 "," $5] = $9 }
NR > 1 && $6 == "spec" { key = $2 "+" $3 " T=" $5; n[key]++; w[key, n[key]] = pw[$1 "," $2 "," $5] / $8;
    m[key, n[key]] = pm[$1 "," $2 "," $5] / $9; a[key, n[key]] = $12 }
function med(arr, key, c,   i, j, t, v) { for (i = 1; i <= c; i++) v[i] = arr[key, i];
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2 }
END { for (k in n) printf "spec_bench: %s: speed-up %.2fx wall, %.2fx model time, acceptance %.3f (median of %d)\n",
    k, med(w, k, n[k]), med(m, k, n[k]), med(a, k, n[k]), n[k] > "/dev/stderr" }' "$tmp/csv"
