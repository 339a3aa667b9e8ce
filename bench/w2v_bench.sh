#!/bin/sh
# bench/w2v_bench.sh — seqlab word2vec vs gensim (Debian python3-gensim), same run, same corpus,
# same hyper-parameters: skip-gram (or CBOW with W2V_CBOW=1), 100-d, window 5, negative 5,
# 5 epochs, min-count 5, sample 1e-3, alpha 0.025, 2 threads. Reports training words/s (corpus
# words x epochs / seconds of training, vocabulary building excluded for both) and analogy
# accuracy on questions-words.txt (restricted to the 30000 most frequent words,
# case-insensitive), each model scored by seqlab's evaluator (3CosAdd, 3CosMul) and by
# gensim's evaluate_word_analogies (3CosAdd).
#
# Also reports CPU seconds of training (all threads) and words per CPU-second: on a shared,
# loaded machine wall-clock rates say more about the load than about the code.
#
# usage: SEQLAB=/path/to/build/seqlab sh bench/w2v_bench.sh [corpus.txt]
# Without a corpus argument it builds one from text every Debian machine here has (see
# make_corpus below); the corpus is cached in $W2V_WORK (default /tmp/seqlab-w2v-bench).
# CSV goes to stdout and bench/results/w2v.csv.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SEQLAB=${SEQLAB:-$here/../seqlab}
PY=${PYTHON:-/usr/bin/python3}
work=${W2V_WORK:-/tmp/seqlab-w2v-bench}
words=${W2V_WORDS:-10000000}
threads=${W2V_THREADS:-2}
iter=${W2V_ITER:-5}
cbow=${W2V_CBOW:-0}
questions=${W2V_QUESTIONS:-$here/../../shared/data/questions-words.txt}
mkdir -p "$work" "$here/results"

# The corpus: tinyshakespeare, the license texts, vim's help files, the plain-text files under
# /usr/share/doc (README*, *.txt, *.md, copyright, and the gzipped changelogs/NEWS), Perl's
# pod documentation; lower-cased, everything but a-z turned into spaces, empty lines dropped,
# every 4th line kept (for variety), cut to about $words words.
make_corpus() {
    {
        cat "$here/../../shared/data/tinyshakespeare.txt" 2>/dev/null || true
        cat /usr/share/common-licenses/*
        find /usr/share/vim -name '*.txt' -path '*doc*' | LC_ALL=C sort | xargs cat
        find /usr/share/doc -type f \( -name '*.md' -o -name '*.txt' -o -name 'README*' -o -name copyright \) \
            ! -name '*.gz' | LC_ALL=C sort | xargs cat
        find /usr/share/doc -type f -name '*.gz' | LC_ALL=C sort | xargs zcat 2>/dev/null || true
        find /usr/share/perl /usr/lib/x86_64-linux-gnu/perl -name '*.pod' 2>/dev/null | LC_ALL=C sort | xargs cat
    } 2>/dev/null | tr 'A-Z' 'a-z' | tr -c 'a-z\n' ' ' | tr -s ' ' | sed 's/^ //; /^ *$/d' |
        awk 'NR % 4 == 1' | awk -v max="$words" '{ n += NF; print; if (n >= max) exit }'
}

corpus=${1:-$work/corpus.txt}
if [ $# -eq 0 ] && [ ! -s "$corpus" ]; then
    echo "building the corpus in $corpus ..." >&2
    make_corpus > "$corpus"
fi
nw=$(wc -w < "$corpus")
sum=$(md5sum < "$corpus" | cut -c1-12)
echo "corpus: $corpus, $nw words, $(wc -l < "$corpus") lines, md5 $sum" >&2
[ -r "$questions" ] || { echo "questions file $questions not found" >&2; exit 1; }

sv="$work/seqlab.bin"
gv="$work/gensim.bin"
"$SEQLAB" w2v train -train "$corpus" -output "$sv" -binary 1 -cbow "$cbow" -size 100 -window 5 -negative 5 \
    -hs 0 -iter "$iter" -min-count 5 -sample 1e-3 -alpha 0.025 -threads "$threads" 2> "$work/seqlab.log"
cat "$work/seqlab.log" >&2
s_train=$(sed -n 's/.*threads: \([0-9.]*\) s training.*/\1/p' "$work/seqlab.log")
s_cpu=$(sed -n 's/.*words\/s, \([0-9.]*\) s CPU.*/\1/p' "$work/seqlab.log")
"$PY" "$here/w2v_gensim.py" --corpus "$corpus" --questions "$questions" --sg $((1 - cbow)) --iter "$iter" \
    --threads "$threads" --mode "${GENSIM_MODE:-corpus_file}" --save "$gv" --eval-other "$sv" > "$work/gensim.csv"
g_train=$(sed -n '2p' "$work/gensim.csv" | cut -d, -f2)
g_acc=$(sed -n '2p' "$work/gensim.csv" | cut -d, -f6)
g_cpu=$(sed -n '2p' "$work/gensim.csv" | cut -d, -f8)
s_acc_g=$(sed -n '3p' "$work/gensim.csv" | cut -d, -f6)
"$SEQLAB" w2v eval --vectors "$sv" --questions "$questions" > "$work/seqlab-eval.csv"
"$SEQLAB" w2v eval --vectors "$gv" --questions "$questions" > "$work/gensim-eval.csv"
s_add=$(grep '^total,' "$work/seqlab-eval.csv" | cut -d, -f5)
s_mul=$(grep '^total,' "$work/seqlab-eval.csv" | cut -d, -f7)
g_add=$(grep '^total,' "$work/gensim-eval.csv" | cut -d, -f5)
g_mul=$(grep '^total,' "$work/gensim-eval.csv" | cut -d, -f7)
s_n=$(grep '^total,' "$work/seqlab-eval.csv" | cut -d, -f2)   # questions with all 4 words in the
g_n=$(grep '^total,' "$work/gensim-eval.csv" | cut -d, -f2)   # model's 30000 most frequent
arch=$([ "$cbow" = 1 ] && echo cbow || echo skipgram)
{
    echo "tool,arch,corpus_words,epochs,threads,train_s,words_per_s,train_cpu_s,words_per_cpu_s,analogy_3cosadd,analogy_3cosmul,analogy_gensim_eval,questions_answered"
    awk -v t="$s_train" -v c="$s_cpu" -v n="$nw" -v e="$iter" -v th="$threads" -v a="$arch" -v x="$s_add" -v m="$s_mul" -v g="$s_acc_g" -v q="$s_n" \
        'BEGIN { printf "seqlab,%s,%d,%d,%d,%.3f,%.0f,%.3f,%.0f,%s,%s,%s,%s\n", a, n, e, th, t, n * e / t, c, n * e / c, x, m, g, q }'
    awk -v t="$g_train" -v c="$g_cpu" -v n="$nw" -v e="$iter" -v th="$threads" -v a="$arch" -v x="$g_add" -v m="$g_mul" -v g="$g_acc" -v q="$g_n" \
        'BEGIN { printf "gensim,%s,%d,%d,%d,%.3f,%.0f,%.3f,%.0f,%s,%s,%s,%s\n", a, n, e, th, t, n * e / t, c, n * e / c, x, m, g, q }'
    awk -v s="$s_train" -v g="$g_train" -v sc="$s_cpu" -v gc="$g_cpu" \
        'BEGIN { printf "# speed ratio seqlab/gensim: %.2f (wall clock), %.2f (CPU time)\n", g / s, gc / sc }'
    echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$here/results/w2v.csv"
