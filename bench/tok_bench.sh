#!/bin/sh
# bench/tok_bench.sh — tokenizer throughput, seqlab against SentencePiece (Debian's spm_train /
# spm_encode) in the same run, on 1 and 2 threads. CSV on stdout:
#   tool,task,model,vocab,threads,bytes,seconds,cpu_seconds,mb_per_s,ratio,cpu_ratio
# seconds is wall time, cpu_seconds user + system time (the better figure on a loaded
# machine, for one thread); ratio = seqlab's wall-time MB/s over sentencepiece's for the same
# task, model and thread count, cpu_ratio the same from CPU time. For seqlab's byte-level BPE
# the peer is spm's BPE of the same size, a different algorithm on the same text.
# Threads: spm_train --num_threads=K; seqlab encode --threads K. spm_encode 0.1.97 has no
# thread option (one thread always), so its 2-thread row is its only mode; seqlab's BPE
# training is one thread, so its 2-thread row is the same program as its 1-thread row.
#   bench/tok_bench.sh [CORPUS] [COPIES] [VOCAB]
# CORPUS defaults to ../shared/data/tinyshakespeare.txt, repeated COPIES times (default 4)
# for encoding; training reads CORPUS once. Best wall time of 2 runs (TOK_BENCH_RUNS).
set -e
: "${SEQLAB:=./seqlab}"
: "${TOK_BENCH_RUNS:=2}"
corpus=${1:-${SL_SHARED_DATA:-../shared/data}/tinyshakespeare.txt}
copies=${2:-4}
vocab=${3:-4000}
command -v spm_train > /dev/null || { echo "needs Debian's sentencepiece (apt-get install sentencepiece)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
test -r "$corpus" || { echo "no corpus $corpus" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
: > "$tmp/text"
while [ $i -lt "$copies" ]; do cat "$corpus" >> "$tmp/text"; i=$((i + 1)); done
cbytes=$(wc -c < "$corpus")
tbytes=$(wc -c < "$tmp/text")
best() { # threads command...: "wall cpu" of the run with the best wall time
    th=$1
    shift
    b=""
    r=0
    while [ $r -lt "$TOK_BENCH_RUNS" ]; do
        OMP_NUM_THREADS=$th /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" > "$tmp/o" 2> "$tmp/e" || { cat "$tmp/e" >&2; exit 1; }
        b=$(awk -v b="$b" '{ w = $1; c = $2 + $3 } END { split(b, x, " "); if (b == "" || w < x[1]) print w, c; else print b }' "$tmp/t")
        r=$((r + 1))
    done
    echo "$b"
}
row() { # tool task model threads bytes "wall cpu" "peer_wall peer_cpu"
    echo "$1 $2 $3 $4 $5 $6 $7" | awk -v v="$vocab" '{
        w = $6; c = $7; r = ($8 == "") ? 1 : $8 / w; rc = ($8 == "") ? 1 : $9 / c
        printf "%s,%s,%s,%s,%s,%s,%.2f,%.2f,%.3f,%.3f,%.3f\n", $1, $2, $3, v, $4, $5, w, c, $5 / w / 1e6, r, rc }'
}
echo "tool,task,model,vocab,threads,bytes,seconds,cpu_seconds,mb_per_s,ratio,cpu_ratio"
for th in 1 2; do
    # training
    ts_bpe=$(best $th "$SEQLAB" tokenizer train --vocab-size "$vocab" --special '<|endoftext|>' --out "$tmp/s.bpe" "$corpus")
    tp_bpe=$(best $th spm_train --input="$corpus" --model_prefix="$tmp/spbpe" --model_type=bpe --vocab_size="$vocab" --num_threads=$th --minloglevel=2)
    tp_uni=$(best $th spm_train --input="$corpus" --model_prefix="$tmp/spuni" --model_type=unigram --vocab_size="$vocab" --num_threads=$th --minloglevel=2)
    row seqlab train byte-level-bpe $th "$cbytes" "$ts_bpe" "$tp_bpe"
    row sentencepiece train bpe $th "$cbytes" "$tp_bpe"
    row sentencepiece train unigram $th "$cbytes" "$tp_uni"
    # encoding: the same SentencePiece models, line by line, ids out
    for m in bpe uni; do
        tp=$(best $th spm_encode --model="$tmp/sp$m.model" --output_format=id --input="$tmp/text")
        cp "$tmp/o" "$tmp/spm.ids"
        ts=$(best $th "$SEQLAB" tokenizer encode --threads $th --lines --tokenizer "$tmp/sp$m.model" "$tmp/text")
        cmp -s "$tmp/o" "$tmp/spm.ids" || { echo "seqlab's ids differ from spm_encode's for the $m model" >&2; exit 1; }
        name=$([ $m = uni ] && echo unigram || echo bpe)
        row seqlab encode "spm-$name" $th "$tbytes" "$ts" "$tp"
        row sentencepiece encode "spm-$name" $th "$tbytes" "$tp"
    done
    ts=$(best $th "$SEQLAB" tokenizer encode --threads $th --tokenizer "$tmp/s.bpe" "$tmp/text")
    tp=$(best $th spm_encode --model="$tmp/spbpe.model" --output_format=id --input="$tmp/text")
    row seqlab encode byte-level-bpe $th "$tbytes" "$ts" "$tp"
done
