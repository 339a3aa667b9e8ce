#!/bin/sh
# t/w2v-cli.sh — `seqlab w2v train | similar | analogy | eval | pca` end to end.
d="$SL_SRCDIR/t/data"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
check() { # description, then a command whose status decides
    n=$((n + 1))
    desc=$1
    shift
    if "$@" > "$tmp/out" 2> "$tmp/err"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; sed 's/^/# /' "$tmp/err" | head -5; fail=1; fi
}
status_is() { want=$1; shift; "$@" > "$tmp/o2" 2> "$tmp/e2"; test $? -eq "$want"; }
S="$SEQLAB"
train="$S w2v train -train $d/ngram-train.txt -size 10 -window 3 -iter 2 -min-count 1 -threads 1"
echo "1..16"
check "w2v --help" "$S" w2v --help
check "w2v train --help" sh -c "'$S' w2v train --help | grep -q -- '-negative'"
check "train skip-gram, text output" $train -cbow 0 -output "$tmp/v.txt"
cp "$tmp/err" "$tmp/train.err"
check "summary line on stderr" grep -q "words/s" "$tmp/train.err"
check "text file header: vocabulary and 10 dims" sh -c "head -1 '$tmp/v.txt' | grep -qE '^[0-9]+ 10\$'"
check "train CBOW + hs, binary output" $train -cbow 1 -hs 1 -negative 0 -binary 1 -output "$tmp/v.bin"
check "similar: 3 neighbours" sh -c "'$S' w2v similar --vectors '$tmp/v.bin' -k 3 cat | grep -vc '^#' | grep -qx 3"
check "analogy: 2 answers" sh -c "'$S' w2v analogy --vectors '$tmp/v.txt' -k 2 cat dog bird | grep -c . | grep -qx 2"
"$S" w2v eval --vectors "$tmp/v.txt" --questions "$d/w2v-questions.txt" --pairs "$d/w2v-pairs.txt" > "$tmp/eval.csv" 2> "$tmp/eval.err"
check "eval: sections, total, 1 skipped question" sh -c "grep -q '^animals,3,0,' '$tmp/eval.csv' && grep -q '^gram-test,1,1,' '$tmp/eval.csv' && grep -q '^total,4,1,' '$tmp/eval.csv'"
check "eval: word pairs, Spearman" sh -c "grep -A1 '^pairs_used' '$tmp/eval.csv' | grep -q '^5,1,'"
check "pca: CSV of 4 words" sh -c "'$S' w2v pca --vectors '$tmp/v.bin' --words cat,dog,river,house --out '$tmp/p.csv' && test \$(wc -l < '$tmp/p.csv') -eq 5"
check "gensim's files load" sh -c "'$S' w2v similar --vectors '$d/w2v-gensim.bin' -k 1 king | grep -q queen && '$S' w2v similar --vectors '$d/w2v-gensim.txt' -k 1 king | grep -q queen"
check "bad flag: exit 2" status_is 2 "$S" w2v train -train "$d/ngram-train.txt" -output "$tmp/x" -frobnicate 1
check "bad value: exit 2" status_is 2 "$S" w2v train -train "$d/ngram-train.txt" -output "$tmp/x" -size abc
check "unknown word: exit 1" status_is 1 "$S" w2v similar --vectors "$tmp/v.bin" nosuchwordatall
printf '2 3\na 1 2 3\nb 1 x 3\n' > "$tmp/bad.txt"
check "malformed vectors: error names the line" sh -c "'$S' w2v similar --vectors '$tmp/bad.txt' a 2>&1 | grep -q 'bad.txt:3:'"
exit $fail
