#!/bin/sh
# bench/tok_bench.sh — tokenizer throughput, seqlab against SentencePiece (Debian's spm_train /
# spm_encode) in the same run, one thread each (OMP_NUM_THREADS=1, --num_threads=1). CSV on
# stdout: tool,task,model,vocab,bytes,seconds,mb_per_s,ratio (ratio = seqlab's MB/s over
# sentencepiece's for the same task and model; for seqlab's byte-level BPE the peer is
# spm's BPE of the same size, a different algorithm on the same text).
#   bench/tok_bench.sh [CORPUS] [COPIES] [VOCAB]
# CORPUS defaults to ../shared/data/tinyshakespeare.txt, repeated COPIES times (default 4)
# for encoding; training reads CORPUS once. Wall time by `date +%s.%N`, best of 2 runs.
set -e
: "${SEQLAB:=./seqlab}"
corpus=${1:-${SL_SHARED_DATA:-../shared/data}/tinyshakespeare.txt}
copies=${2:-4}
vocab=${3:-4000}
command -v spm_train > /dev/null || { echo "needs Debian's sentencepiece (apt-get install sentencepiece)" >&2; exit 1; }
test -r "$corpus" || { echo "no corpus $corpus" >&2; exit 1; }
export OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
: > "$tmp/text"
while [ $i -lt "$copies" ]; do cat "$corpus" >> "$tmp/text"; i=$((i + 1)); done
cbytes=$(wc -c < "$corpus")
tbytes=$(wc -c < "$tmp/text")
now() { date +%s.%N; }
best() { # command...: the best wall time of 2 runs
    b=""
    for r in 1 2; do
        t0=$(now)
        "$@" > "$tmp/o" 2> "$tmp/e" || { cat "$tmp/e" >&2; exit 1; }
        t1=$(now)
        b=$(echo "$t0 $t1 $b" | awk '{ d = $2 - $1; if ($3 == "" || d < $3) print d; else print $3 }')
    done
    echo "$b"
}
row() { # tool task model vocab bytes seconds ratio
    echo "$1,$2,$3,$4,$5,$6,$(echo "$5 $6" | awk '{ printf "%.3f", $1 / $2 / 1e6 }'),$7"
}
echo "tool,task,model,vocab,bytes,seconds,mb_per_s,ratio"
# training
ts_bpe=$(best "$SEQLAB" tokenizer train --vocab-size "$vocab" --special '<|endoftext|>' --out "$tmp/s.bpe" "$corpus")
tp_bpe=$(best spm_train --input="$corpus" --model_prefix="$tmp/spbpe" --model_type=bpe --vocab_size="$vocab" --num_threads=1 --minloglevel=2)
tp_uni=$(best spm_train --input="$corpus" --model_prefix="$tmp/spuni" --model_type=unigram --vocab_size="$vocab" --num_threads=1 --minloglevel=2)
r=$(echo "$tp_bpe $ts_bpe" | awk '{ printf "%.3f", $1 / $2 }')
row seqlab train byte-level-bpe "$vocab" "$cbytes" "$ts_bpe" "$r"
row sentencepiece train bpe "$vocab" "$cbytes" "$tp_bpe" 1
row sentencepiece train unigram "$vocab" "$cbytes" "$tp_uni" 1
# encoding: the same SentencePiece models, line by line, ids out
for m in bpe uni; do
    tp=$(best spm_encode --model="$tmp/sp$m.model" --output_format=id --input="$tmp/text")
    cp "$tmp/o" "$tmp/spm.ids"
    ts=$(best "$SEQLAB" tokenizer encode --lines --tokenizer "$tmp/sp$m.model" "$tmp/text")
    cmp -s "$tmp/o" "$tmp/spm.ids" || { echo "seqlab's ids differ from spm_encode's for the $m model" >&2; exit 1; }
    r=$(echo "$tp $ts" | awk '{ printf "%.3f", $1 / $2 }')
    name=$([ $m = uni ] && echo unigram || echo bpe)
    row seqlab encode "spm-$name" "$vocab" "$tbytes" "$ts" "$r"
    row sentencepiece encode "spm-$name" "$vocab" "$tbytes" "$tp" 1
done
ts=$(best "$SEQLAB" tokenizer encode --tokenizer "$tmp/s.bpe" "$tmp/text")
tp=$(best spm_encode --model="$tmp/spbpe.model" --output_format=id --input="$tmp/text")
r=$(echo "$tp $ts" | awk '{ printf "%.3f", $1 / $2 }')
row seqlab encode byte-level-bpe "$vocab" "$tbytes" "$ts" "$r"
