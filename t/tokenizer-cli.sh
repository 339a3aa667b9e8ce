#!/bin/sh
# t/tokenizer-cli.sh — `seqlab tokenizer train | encode | decode | info | convert` end to end:
# byte-level BPE training gives the Python reference's vocab.json and merges.txt byte for byte
# (t/ref/make_bpe_fixtures.py), encoding gives GPT-2 encoder.py's ids, SentencePiece models
# give spm_encode's ids and spm_decode's text (t/ref/make_spm_fixtures.sh; spm-llama: a model
# with Llama's tokenizer settings, t/ref/make_llama_spm_fixture.sh), also on 2 and 3
# threads; Hugging Face tokenizer.json files (t/ref/make_hf_fixtures.py) encode as the GPT-2
# files they were made from and round-trip; bad input exits non-zero with a message.
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
# expected exit status, expected text in stderr, description, command...
fails() {
    n=$((n + 1))
    want=$1 msg=$2 desc=$3
    shift 3
    "$@" > "$tmp/fo" 2> "$tmp/fe"
    st=$?
    if [ "$st" -eq "$want" ] && grep -q -- "$msg" "$tmp/fe"; then echo "ok $n - $desc"
    else echo "not ok $n - $desc (status $st)"; sed 's/^/# /' "$tmp/fe" | head -5; fail=1; fi
}
echo "1..49"
S=$SEQLAB
check "tokenizer --help" "$S" tokenizer --help
check "train a byte-level BPE of 600 tokens on the fixture corpus" \
    "$S" tokenizer train --vocab-size 600 --special '<|endoftext|>' --out "$tmp/m.bpe" --gpt2 "$tmp/gpt2" "$d/tok-corpus.txt"
check "its merges.txt is the Python reference's, byte for byte" cmp "$tmp/gpt2/merges.txt" "$d/tok-gpt2/merges.txt"
check "its vocab.json is the Python reference's, byte for byte" cmp "$tmp/gpt2/vocab.json" "$d/tok-gpt2/vocab.json"
check "training from stdin gives the same model" sh -c "'$S' tokenizer train --vocab-size 600 --special '<|endoftext|>' --out '$tmp/m2.bpe' < '$d/tok-corpus.txt' && cmp '$tmp/m.bpe' '$tmp/m2.bpe'"
check "--naive training gives the same model" sh -c "'$S' tokenizer train --naive --vocab-size 600 --special '<|endoftext|>' --out '$tmp/m3.bpe' '$d/tok-corpus.txt' && cmp '$tmp/m.bpe' '$tmp/m3.bpe'"
check "encode the fixture text with the trained model" "$S" tokenizer encode --tokenizer "$tmp/m.bpe" --out "$tmp/ids" "$d/tok-text.txt"
check "... gives GPT-2 encoder.py's ids" cmp "$tmp/ids" "$d/tok-gpt2-text.ids"
check "the reference vocab.json + merges.txt (a directory) encode to the same ids" \
    sh -c "'$S' tokenizer encode --tokenizer '$d/tok-gpt2' '$d/tok-text.txt' | cmp - '$d/tok-gpt2-text.ids'"
check "... and through the path of vocab.json" \
    sh -c "'$S' tokenizer encode --tokenizer '$d/tok-gpt2/vocab.json' < '$d/tok-text.txt' | cmp - '$d/tok-gpt2-text.ids'"
{ cat "$d/tok-text.txt"; echo; } > "$tmp/text-nl"
check "decode gives the text back" sh -c "'$S' tokenizer decode --tokenizer '$tmp/m.bpe' '$tmp/ids' | cmp - '$tmp/text-nl'"
# a text of ~200 kB encoded in 64-byte chunks (cut at newlines before non-space) == in one piece
i=0; : > "$tmp/big"; while [ $i -lt 36 ]; do cat "$d/tok-text.txt" >> "$tmp/big"; echo >> "$tmp/big"; i=$((i + 1)); done
"$S" tokenizer encode --tokenizer "$tmp/m.bpe" --out "$tmp/big.ids" "$tmp/big" 2> /dev/null
check "encoding in 64-byte chunks gives the ids of the whole text" sh -c "SEQLAB_TOK_CHUNK=64 '$S' tokenizer encode --tokenizer '$tmp/m.bpe' '$tmp/big' | cmp - '$tmp/big.ids'"
check "convert to GPT-2 files gives the files train wrote" sh -c "'$S' tokenizer convert --tokenizer '$tmp/m.bpe' --gpt2 '$tmp/conv' && cmp '$tmp/conv/merges.txt' '$tmp/gpt2/merges.txt' && cmp '$tmp/conv/vocab.json' '$tmp/gpt2/vocab.json'"
check "convert GPT-2 files back to seqlab-bpe gives the trained file" sh -c "'$S' tokenizer convert --tokenizer '$d/tok-gpt2' --out '$tmp/back.bpe' && cmp '$tmp/back.bpe' '$tmp/m.bpe'"
check "info names the kind, size and special token" sh -c "'$S' tokenizer info --tokenizer '$tmp/m.bpe' --pieces 3 > '$tmp/info' && grep -q '^vocab_size: 600' '$tmp/info' && grep -q '599=<|endoftext|>' '$tmp/info' && grep -q '^document_token: 599' '$tmp/info'"
for m in uni bpe uni-cf bpe-id llama; do
    check "spm-$m.model: encode --lines gives spm_encode's ids" sh -c "'$S' tokenizer encode --lines --tokenizer '$d/spm-$m.model' '$d/spm-text.txt' | cmp - '$d/spm-$m.ids'"
    check "spm-$m.model: decode gives spm_decode's text" sh -c "'$S' tokenizer decode --tokenizer '$d/spm-$m.model' '$d/spm-$m.ids' | cmp - '$d/spm-$m.dec'"
done
# threads: the ids do not depend on --threads (blocks of 4096 bytes: many parts per block)
i=0; : > "$tmp/spmbig"; while [ $i -lt 12 ]; do cat "$d/spm-text.txt" >> "$tmp/spmbig"; i=$((i + 1)); done
"$S" tokenizer encode --threads 1 --lines --tokenizer "$d/spm-uni.model" --out "$tmp/spmbig.1" "$tmp/spmbig" 2> /dev/null
check "spm-uni.model: --threads 2 gives the ids of --threads 1" sh -c "SEQLAB_TOK_CHUNK=4096 '$S' tokenizer encode --threads 2 --lines --tokenizer '$d/spm-uni.model' '$tmp/spmbig' | cmp - '$tmp/spmbig.1'"
check "spm-uni.model: --threads 3 gives the ids of --threads 1" sh -c "'$S' tokenizer encode --threads 3 --lines --tokenizer '$d/spm-uni.model' '$tmp/spmbig' | cmp - '$tmp/spmbig.1'"
check "byte-level BPE: --threads 2 gives the ids of the whole text" sh -c "'$S' tokenizer encode --threads 2 --tokenizer '$tmp/m.bpe' '$tmp/big' | cmp - '$tmp/big.ids'"
check "byte-level BPE: --threads 3 in 4096-byte blocks gives the same ids" sh -c "SEQLAB_TOK_CHUNK=4096 '$S' tokenizer encode --threads 3 --tokenizer '$tmp/m.bpe' '$tmp/big' | cmp - '$tmp/big.ids'"
"$S" tokenizer encode --threads 1 --lines --tokenizer "$tmp/m.bpe" --out "$tmp/big.lines" "$tmp/big" 2> /dev/null
check "byte-level BPE --lines: --threads 2 gives the ids of --threads 1" sh -c "'$S' tokenizer encode --threads 2 --lines --tokenizer '$tmp/m.bpe' '$tmp/big' | cmp - '$tmp/big.lines'"
# Hugging Face tokenizer.json
check "tokenizer.json (merges as strings) encodes to GPT-2 encoder.py's ids" \
    sh -c "'$S' tokenizer encode --tokenizer '$d/tok-hf/tokenizer.json' '$d/tok-text.txt' | cmp - '$d/tok-gpt2-text.ids'"
check "tokenizer.json (merges as pairs, <|endoftext|> only added; a directory) encodes the same" \
    sh -c "'$S' tokenizer encode --tokenizer '$d/tok-hf2' '$d/tok-text.txt' | cmp - '$d/tok-gpt2-text.ids'"
check "tokenizer.json converts to the seqlab-bpe file trained here" sh -c "'$S' tokenizer convert --tokenizer '$d/tok-hf2/tokenizer.json' --out '$tmp/hf.bpe' && cmp '$tmp/hf.bpe' '$tmp/m.bpe'"
check "convert --hf writes a tokenizer.json that reads back as the same model" \
    sh -c "mkdir -p '$tmp/hfout' && '$S' tokenizer convert --tokenizer '$tmp/m.bpe' --hf '$tmp/hfout/tokenizer.json' && '$S' tokenizer convert --tokenizer '$tmp/hfout/tokenizer.json' --out '$tmp/hf2.bpe' && cmp '$tmp/hf2.bpe' '$tmp/m.bpe'"
check "... with GPT-2's ByteLevel fields, <|endoftext|> as an added token and merges as strings" \
    sh -c "grep -q '\"type\": \"ByteLevel\"' '$tmp/hfout/tokenizer.json' && grep -q '\"content\": \"<|endoftext|>\"' '$tmp/hfout/tokenizer.json' && grep -q '\"Ġ Ġ\"' '$tmp/hfout/tokenizer.json'"
sed 's/"byte_fallback": false/"byte_fallback": true/' "$d/tok-hf/tokenizer.json" > "$tmp/llama-tokenizer.json"
fails 1 "byte_fallback is true: a SentencePiece-style BPE" "a Llama-style tokenizer.json (byte fallback) is refused by name" "$S" tokenizer info --tokenizer "$tmp/llama-tokenizer.json"
sed 's/"Ġ Ġ"/"Ġ zz"/' "$d/tok-hf/tokenizer.json" > "$tmp/badm-tokenizer.json"
fails 1 "model.merges\[0\]: unknown token" "a tokenizer.json merge naming an unknown token" "$S" tokenizer info --tokenizer "$tmp/badm-tokenizer.json"
sed 's/"type": "BPE"/"type": "WordPiece"/' "$d/tok-hf/tokenizer.json" > "$tmp/wp-tokenizer.json"
fails 1 "model.type is not \"BPE\"" "a WordPiece tokenizer.json is refused" "$S" tokenizer info --tokenizer "$tmp/wp-tokenizer.json"
head -c 5000 "$d/tok-hf/tokenizer.json" > "$tmp/cut-tokenizer.json"
fails 1 "tokenizer.json" "a truncated tokenizer.json" "$S" tokenizer info --tokenizer "$tmp/cut-tokenizer.json"
printf 'fine\nab\377cd\n' > "$tmp/bad.txt"
fails 1 "not valid UTF-8 at byte offset 7" "text that is not UTF-8: error with the byte offset" "$S" tokenizer encode --tokenizer "$tmp/m.bpe" "$tmp/bad.txt"
fails 1 "line 2: text is not valid UTF-8 at byte offset 2" "... with --lines: the line and offset" "$S" tokenizer encode --lines --tokenizer "$tmp/m.bpe" "$tmp/bad.txt"
mkdir "$tmp/badm"
cp "$d/tok-gpt2/vocab.json" "$tmp/badm/vocab.json"
{ head -5 "$d/tok-gpt2/merges.txt"; echo "Ġq zz"; } > "$tmp/badm/merges.txt"
fails 1 "merges.txt line 6: unknown token" "merges.txt naming an unknown token" "$S" tokenizer info --tokenizer "$tmp/badm"
head -c 1000 "$d/spm-uni.model" > "$tmp/cut.model"
fails 1 "SentencePiece model: length-delimited field runs past" "a truncated .model" "$S" tokenizer info --tokenizer "$tmp/cut.model"
echo "1 2 x" > "$tmp/badids"
fails 1 "line 1 column 5: expected a token id" "decode of a non-number" "$S" tokenizer decode --tokenizer "$tmp/m.bpe" "$tmp/badids"
echo "1 600" > "$tmp/badids2"
fails 1 "expected a token id in \[0, 600)" "decode of an id past the vocabulary" "$S" tokenizer decode --tokenizer "$tmp/m.bpe" "$tmp/badids2"
fails 2 "unknown argument '--vocab'" "an unknown flag is a usage error" "$S" tokenizer train --vocab 300 --out "$tmp/x.bpe"
fails 2 "no room for the 256 bytes" "a vocabulary too small for the bytes and specials" "$S" tokenizer train --vocab-size 257 --special a --special b --out "$tmp/x.bpe" "$d/tok-corpus.txt"
fails 1 "cannot open tokenizer" "a missing tokenizer file" "$S" tokenizer encode --tokenizer "$tmp/nope.bpe" "$d/tok-text.txt"
fails 2 "unknown subcommand 'encdoe' (did you mean 'encode'?)" "a misspelt subcommand" "$S" tokenizer encdoe
exit $fail
