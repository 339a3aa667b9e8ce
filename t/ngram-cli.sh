#!/bin/sh
# t/ngram-cli.sh — `seqlab ngram build | query` end to end, against the KenLM fixtures.
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
status_is() { # expected status, command...
    want=$1
    shift
    "$@" > "$tmp/o2" 2> "$tmp/e2"
    test $? -eq "$want"
}
echo "1..21"
check "ngram --help" "$SEQLAB" ngram --help
check "ngram build --help" "$SEQLAB" ngram build --help
check "build order 5 mkn to a file" "$SEQLAB" ngram build --order 5 --discount-fallback --text "$d/ngram-train.txt" --arpa "$tmp/m5.arpa"
cp "$tmp/err" "$tmp/build.err"
check "build reports memory per n-gram" grep -q "bytes/n-gram" "$tmp/build.err"
check "build from stdin to stdout" sh -c "'$SEQLAB' ngram build --order 2 --method kn --quiet < '$d/ngram-train.txt' | grep -q '^\\\\2-grams:'"
# query of lmplz's ARPA: the summary equals KenLM query's, line for line
"$SEQLAB" ngram query --arpa "$d/ngram-kenlm-o5.arpa" --text "$d/ngram-test.txt" > "$tmp/q5" 2> "$tmp/qerr"
tail -4 "$tmp/q5" > "$tmp/a"; tail -4 "$d/ngram-kenlm-o5.query" > "$tmp/b"
check "query of lmplz's order-5 ARPA prints KenLM's summary exactly" cmp -s "$tmp/a" "$tmp/b"
check "query word and line output equals KenLM's" cmp -s "$tmp/q5" "$d/ngram-kenlm-o5.query"
check "query -v summary: 4 lines" sh -c "'$SEQLAB' ngram query --arpa '$tmp/m5.arpa' -v summary < '$d/ngram-test.txt' | grep -c . | grep -qx 4"
check "build without --order: usage, exit 2" status_is 2 "$SEQLAB" ngram build --text "$d/ngram-train.txt"
check "bad --method: exit 2" status_is 2 "$SEQLAB" ngram build --order 3 --method foo
check "missing ARPA: exit 1 with seqlab: error" sh -c "'$SEQLAB' ngram query --arpa '$tmp/none.arpa' < /dev/null 2>&1 >/dev/null | grep -q '^seqlab: error:'; test \$? -eq 0"
printf '\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n-x\tb\n\n\\end\\\n' > "$tmp/bad.arpa"
check "malformed ARPA: error names the line" sh -c "'$SEQLAB' ngram query --arpa '$tmp/bad.arpa' < /dev/null 2>&1 | grep -q 'bad.arpa:6:'"
# binary models
check "build --binary writes ARPA and binary" "$SEQLAB" ngram build --order 5 --discount-fallback --quiet --text "$d/ngram-train.txt" --arpa "$tmp/b5.arpa" --binary "$tmp/b5.bin"
check "binarize lmplz's ARPA" "$SEQLAB" ngram binarize --arpa "$d/ngram-kenlm-o5.arpa" --out "$tmp/k5.bin"
"$SEQLAB" ngram query --model "$tmp/k5.bin" --text "$d/ngram-test.txt" > "$tmp/qb" 2> "$tmp/qerr"
check "query of the binarized lmplz model prints KenLM query's output byte for byte" cmp -s "$tmp/qb" "$d/ngram-kenlm-o5.query"
"$SEQLAB" ngram query --arpa "$tmp/b5.arpa" --text "$d/ngram-test.txt" > "$tmp/qa" 2> "$tmp/qerr"
"$SEQLAB" ngram query --model "$tmp/b5.bin" --text "$d/ngram-test.txt" > "$tmp/qb" 2> "$tmp/qerr"
check "query: binary model == its ARPA, byte for byte" cmp -s "$tmp/qa" "$tmp/qb"
head -c 5000 "$tmp/b5.bin" > "$tmp/cut.bin"
check "truncated binary: exit 1" status_is 1 "$SEQLAB" ngram query --model "$tmp/cut.bin" --text "$d/ngram-test.txt"
check "truncated binary: the error names the file and says truncated" grep -q 'cut.bin: .*truncated' "$tmp/e2"
check "binarize without --out: usage, exit 2" status_is 2 "$SEQLAB" ngram binarize --arpa "$tmp/b5.arpa"
# pruning
head -5 "$d/ngram-kenlm-o3-prune01.arpa" > "$tmp/kp"
check "build --prune 0 1: lmplz's pruned n-gram counts" sh -c "'$SEQLAB' ngram build --order 3 --prune 0 1 --discount-fallback --quiet --text '$d/ngram-train.txt' | head -5 | cmp -s - '$tmp/kp'"
check "decreasing --prune thresholds: exit 1" status_is 1 "$SEQLAB" ngram build --order 3 --prune 0 2 1 --text "$d/ngram-train.txt" --arpa "$tmp/p.arpa"
exit $fail
