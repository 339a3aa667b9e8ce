#!/usr/bin/python3
"""Hugging Face tokenizer.json fixtures for seqlab's byte-level BPE (t/tokenizer-cli.sh).

Neither `tokenizers` nor `transformers` is packaged in Debian, so the files are written here
from the format as the tokenizers library serialises a GPT-2 tokenizer (its documentation and
the tokenizer.json of the `gpt2` model on the Hub: top-level version / truncation / padding /
added_tokens / normalizer / pre_tokenizer / post_processor / decoder / model; model of type
"BPE" with vocab {token: id} and merges), from the vocabulary and merges that
t/ref/make_bpe_fixtures.py made (t/data/tok-gpt2). Two layouts:

  - t/data/tok-hf/tokenizer.json    merges as "a b" strings (tokenizers < 0.20, GPT-2's file),
                                    <|endoftext|> in model.vocab and in added_tokens
  - t/data/tok-hf2/tokenizer.json   merges as ["a", "b"] pairs (tokenizers >= 0.20),
                                    <|endoftext|> only in added_tokens (id 599, after the vocab),
                                    the ByteLevel pre-tokenizer inside a Sequence

Both must encode t/data/tok-text.txt to t/data/tok-gpt2-text.ids.

Run from the top of the tree: /usr/bin/python3 t/ref/make_hf_fixtures.py
"""
import json

with open("t/data/tok-gpt2/vocab.json", encoding="utf-8") as f:
    vocab = json.load(f)
with open("t/data/tok-gpt2/merges.txt", encoding="utf-8") as f:
    merges = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]

EOT = "<|endoftext|>"
added = [{"id": vocab[EOT], "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": True, "special": True}]
byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}


def model(v, m):
    return {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": v, "merges": m}


def write(path, pre, v, m):
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
           "normalizer": None, "pre_tokenizer": pre,
           "post_processor": dict(byte_level, add_prefix_space=True, trim_offsets=False),
           "decoder": dict(byte_level, add_prefix_space=True),
           "model": model(v, m)}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=2)
        f.write("\n")


write("t/data/tok-hf/tokenizer.json", byte_level, vocab, merges)
v2 = {k: i for k, i in vocab.items() if k != EOT}
write("t/data/tok-hf2/tokenizer.json", {"type": "Sequence", "pretokenizers": [byte_level]}, v2,
      [m.split(" ") for m in merges])
