#!/bin/sh
# t/reliab-bombs.sh — tiny files that claim huge sizes: each reader checks the claim against
# the file's size before allocating. Every command runs in a subshell under `ulimit -v` (virtual
# memory 1 GiB, far below what the claims would allocate), must exit 1 with a message that
# names the claim, and must not die of a signal or report "out of memory".
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
LIMIT_KB=1048576
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
# bounded DESC PHRASE CMD... : exit 1 under the memory limit, stderr has PHRASE, no "out of memory"
bounded() {
    desc=$1 phrase=$2
    shift 2
    ( ulimit -v $LIMIT_KB && exec "$@" ) > "$tmp/out" 2> "$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "$phrase" "$tmp/err" && ! grep -qi "out of memory" "$tmp/err"; then
        ok "$desc"
    else
        nok "$desc (exit $rc)"
        sed 's/^/# /' "$tmp/err" | head -5
    fi
}
# le32 N: four little-endian bytes of N (0 <= N < 2^31), as octal escapes for printf
le32() { printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
echo "1..7"
# a sanitizer build reserves terabytes of address space for its shadow memory and cannot start
# under any ulimit -v: there the checks run without the limit (messages and exit codes only)
if ! ( ulimit -v $LIMIT_KB && exec "$SEQLAB" list ) > "$tmp/out" 2> "$tmp/err"; then
    echo "# seqlab does not start under ulimit -v $LIMIT_KB (sanitizer build?): running without the memory limit"
    LIMIT_KB=unlimited
fi

# word2vec: a 20-byte file whose header claims 50,000,000 vectors of 20 values (4 GB of floats)
printf '50000000 20\nab 1 2\n' > "$tmp/w2v.txt"
bounded "word2vec text header 50000000 x 20 in 20 bytes" "claims 50000000 vectors" "$SEQLAB" w2v similar --vectors "$tmp/w2v.txt" ab
printf '50000000 20\nab \001\002\003\004' > "$tmp/w2v.bin"
bounded "word2vec binary header 50000000 x 20" "claims 50000000 vectors" "$SEQLAB" w2v similar --vectors "$tmp/w2v.bin" ab

# ARPA: counts of 10^9 1-grams and 2-grams in a 60-byte file
printf '\\data\\\nngram 1=1000000000\nngram 2=1000000000\n\n\\1-grams:\n-1\ta\n\n\\end\\\n' > "$tmp/bomb.arpa"
bounded "ARPA counts of 10^9 in a tiny file" "counts need at least" "$SEQLAB" ngram query --arpa "$tmp/bomb.arpa" --text "$tmp/w2v.txt"

# llama2.c: seq_len 4M in a 1024-layer checkpoint whose file holds the one RoPE table it
# implies (34 MB): the model would need 32 GB of RoPE tables and 64 GB of KV cache. generate
# builds it for prompt + tokens only.
dim=8 hidden=8 layers=1024 heads=4 kv=1 vocab=4 seq=4194304
hs=$((dim / heads))
floats=$((vocab * dim + layers * dim + layers * dim * dim + 2 * layers * kv * hs * dim + layers * dim * dim + layers * dim \
    + 3 * layers * hidden * dim + dim + 2 * seq * (hs / 2)))
{ for v in $dim $hidden $layers $heads $kv $vocab $seq; do printf "$(le32 $v)"; done; } > "$tmp/huge.bin"
truncate -s $((28 + 4 * floats)) "$tmp/huge.bin"
# tokenizer: <unk> <s> </s> a  (max_token_length 5, scores 0)
{ printf "$(le32 5)"; for p in '<unk>' '<s>' '</s>' 'a'; do printf "$(le32 0)$(le32 ${#p})%s" "$p"; done; } > "$tmp/tok.bin"
( ulimit -v $LIMIT_KB && exec "$SEQLAB" generate --llama2c "$tmp/huge.bin" --tokenizer "$tmp/tok.bin" --prompt a --tokens 3 --temperature 0 ) \
    > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -eq 0 ]; then ok "llama2.c seq_len 4M x 1024 layers: generate runs in 1 GiB"; else nok "llama2.c seq_len 4M: generate (exit $rc)"; sed 's/^/# /' "$tmp/err" | head -3; fi
# the same header in a file cut short: refused by the size check before anything is allocated
truncate -s 1000 "$tmp/huge.bin"
bounded "llama2.c header implying 34 MB in a 1000-byte file" "implies" "$SEQLAB" generate --llama2c "$tmp/huge.bin" --tokenizer "$tmp/tok.bin" --prompt a --tokens 3
# a tokenizer for vocab_size 2^24 that holds four tokens
dim=8 hidden=8 layers=1 heads=4 kv=1 vocab=16777216 seq=2
printf '' > "$tmp/tok-small.bin"
{ for v in $dim $hidden $layers $heads $kv $vocab $seq; do printf "$(le32 $v)"; done; } > "$tmp/wide.bin"
hs=$((dim / heads))
floats=$((vocab * dim + layers * dim + layers * dim * dim + 2 * layers * kv * hs * dim + layers * dim * dim + layers * dim \
    + 3 * layers * hidden * dim + dim + 2 * seq * (hs / 2)))
truncate -s $((28 + 4 * floats)) "$tmp/wide.bin"
( ulimit -v $LIMIT_KB && exec "$SEQLAB" generate --llama2c "$tmp/wide.bin" --tokenizer "$tmp/tok.bin" --prompt a --tokens 1 ) > "$tmp/out" 2> "$tmp/err"
rc=$?
test $rc -eq 1 && grep -q "cannot hold 16777216 tokens" "$tmp/err" && ok "tokenizer.bin of 4 tokens for vocab_size 2^24: refused before allocating" \
    || { nok "tokenizer.bin for vocab_size 2^24 (exit $rc)"; sed 's/^/# /' "$tmp/err" | head -3; }
rm -f "$tmp/wide.bin" "$tmp/huge.bin"
# and the readers still accept the real thing under the same limit
printf '2 3\nab 1 2 3\ncd 4 5 6\n' > "$tmp/ok.txt"
( ulimit -v $LIMIT_KB && exec "$SEQLAB" w2v similar --vectors "$tmp/ok.txt" ab ) > "$tmp/out" 2> "$tmp/err"
test $? -eq 0 && grep -q cd "$tmp/out" && ok "a well-formed 2 x 3 word2vec file still reads under the limit" || { nok "well-formed word2vec"; sed 's/^/# /' "$tmp/err"; }
exit $fail
