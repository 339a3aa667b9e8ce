#!/bin/sh
# t/ref/make_llama_spm_fixture.sh — a SentencePiece model trained with the settings of Llama
# (1 and 2)'s tokenizer.model, for t/tokenizer-cli.sh: Llama's tokenizer is a SentencePiece BPE
# model, which seqlab reads as any .model. The settings are those in the trainer_spec and
# normalizer_spec of Llama's tokenizer.model: BPE, byte_fallback, split_digits,
# allow_whitespace_only_pieces, max_sentencepiece_length 16, character_coverage 0.99995,
# identity normalisation, add_dummy_prefix, extra white space kept, unk/bos/eos = 0/1/2,
# no pad. 800 pieces instead of 32000 (trained on t/data/tok-corpus.txt). Writes
# t/data/spm-llama.{model,ids,dec}: spm_encode --output_format=id of t/data/spm-text.txt and
# spm_decode of those ids. Run from the top of the tree after t/ref/make_spm_fixtures.sh;
# make check never runs it.
set -e
command -v spm_train > /dev/null || { echo "needs Debian's sentencepiece package (apt-get install sentencepiece)" >&2; exit 1; }
d=t/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
spm_train --input="$d/tok-corpus.txt" --model_prefix="$tmp/llama" --num_threads=1 --minloglevel=2 \
    --model_type=bpe --vocab_size=800 --byte_fallback=true --split_digits=true --allow_whitespace_only_pieces=true \
    --max_sentencepiece_length=16 --character_coverage=0.99995 --normalization_rule_name=identity \
    --add_dummy_prefix=true --remove_extra_whitespaces=false --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
    --hard_vocab_limit=false > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
cp "$tmp/llama.model" "$d/spm-llama.model"
spm_encode --model="$d/spm-llama.model" --output_format=id < "$d/spm-text.txt" > "$d/spm-llama.ids"
spm_decode --model="$d/spm-llama.model" --input_format=id < "$d/spm-llama.ids" > "$d/spm-llama.dec"
echo "spm-llama: $(wc -l < "$d/spm-llama.ids") lines, $(wc -w < "$d/spm-llama.ids") ids"
