#!/bin/sh
# t/ref/make_spm_fixtures.sh — SentencePiece fixtures for t/t-spm and t/tokenizer-cli.sh, made
# with Debian's sentencepiece package (spm_train, spm_encode, spm_decode; 0.1.97 in Debian 12).
# Run from the top of the tree after t/ref/make_bpe_fixtures.py (it trains on that script's
# t/data/tok-corpus.txt). make check never runs it.
#
# Models (t/data/spm-NAME.model), each with the ids spm_encode --output_format=id gives for
# t/data/spm-text.txt (t/data/spm-NAME.ids, one line per text line) and spm_decode's text of
# those ids (t/data/spm-NAME.dec):
#   uni       unigram, 700 pieces (256 of them bytes), byte_fallback, nmt_nfkc (the defaults otherwise)
#   bpe       BPE, 700 pieces (256 of them bytes), byte_fallback, nmt_nfkc
#   uni-cf    unigram, 300 pieces, no byte fallback (unknown runs become one <unk>),
#             character_coverage 0.98, nmt_nfkc_cf (case folding), user symbols "<sep>" "foo",
#             split_digits
#   bpe-id    BPE, 300 pieces, identity normalisation, no dummy prefix, extra white space kept,
#             user symbol "<sep>"
set -e
command -v spm_train > /dev/null || { echo "needs Debian's sentencepiece package (apt-get install sentencepiece)" >&2; exit 1; }
d=t/data
corpus=$d/tok-corpus.txt
test -f "$corpus" || { echo "run t/ref/make_bpe_fixtures.py first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the text: the BPE fixture text, then lines that stress normalisation and unknown characters
{
    cat "$d/tok-text.txt"
    printf '\n'
    printf '  leading and trailing spaces   \n'
    printf 'runs   of    spaces\tand\t\ttabs\n'
    printf 'Fullwidth ＡＢＣ１２３ and ligature ﬁne, circled ① ② and ½ ㎏\n'
    printf 'Thai ภาษาไทย, Georgian ქართული, Armenian Հայերեն\n'
    printf 'rare emoji 🦜🪐 and symbols ⌘ ⏏ ♞ ✓\n'
    printf 'digits 1234567890 0.5 1e-9 42nd\n'
    printf 'user symbols foo<sep>bar foofoo <sep><sep>\n'
    printf 'CAPITALS Mixed CaSe ÉCOLE Ǆ\n'
    printf '\n'
    printf '   \n'
    printf 'invalid UTF-8: \377 and \300\200 and \355\240\200 end\n'
    printf 'combining e\314\201 and zero width\342\200\213joiner\n'
    printf 'control \001 char and DEL \177 and NBSP\302\240here\n'
} > $d/spm-text.txt

common="--input=$corpus --model_type=MODEL --num_threads=1 --minloglevel=2 --seed_sentencepiece_size=50000"
train() { # name, then spm_train flags
    name=$1
    shift
    spm_train --input="$corpus" --model_prefix="$tmp/$name" --num_threads=1 --minloglevel=2 "$@" > "$tmp/$name.log" 2>&1 ||
        { cat "$tmp/$name.log" >&2; exit 1; }
    cp "$tmp/$name.model" "$d/spm-$name.model"
    spm_encode --model="$d/spm-$name.model" --output_format=id < $d/spm-text.txt > "$d/spm-$name.ids"
    spm_decode --model="$d/spm-$name.model" --input_format=id < "$d/spm-$name.ids" > "$d/spm-$name.dec"
    echo "spm-$name: $(wc -l < "$d/spm-$name.ids") lines, $(wc -w < "$d/spm-$name.ids") ids"
}
train uni --model_type=unigram --vocab_size=700 --byte_fallback=true --hard_vocab_limit=false
train bpe --model_type=bpe --vocab_size=700 --byte_fallback=true --hard_vocab_limit=false
train uni-cf --model_type=unigram --vocab_size=300 --character_coverage=0.98 --normalization_rule_name=nmt_nfkc_cf \
    --user_defined_symbols='<sep>,foo' --split_digits=true --hard_vocab_limit=false
train bpe-id --model_type=bpe --vocab_size=300 --normalization_rule_name=identity --add_dummy_prefix=false \
    --remove_extra_whitespaces=false --user_defined_symbols='<sep>' --hard_vocab_limit=false
