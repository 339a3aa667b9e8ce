#!/usr/bin/python3
"""Fixtures for seqlab's byte-level BPE (t/t-tok, t/tokenizer-cli.sh), from an independent,
naive Python reference. No GPT-2 BPE trainer ships in Debian (Hugging Face tokenizers and
tiktoken are not packaged), so this script is the reference: it is written from GPT-2's
definition, not from seqlab's C code.

  - t/data/tok-corpus.txt   a generated training text: English-like words, contractions,
                            numbers, several scripts, emoji, combining marks, white-space runs
  - t/data/tok-text.txt     a different text of the same kinds, for encoding
  - t/data/tok-gpt2/{vocab.json,merges.txt}
                            BPE trained on the corpus with vocab_size 600, min_frequency 2,
                            special <|endoftext|>: GPT-2's pattern through python3-regex,
                            pair counts recounted from scratch at every merge, ties to the
                            smallest (left id, right id) (byte b = id b, merge k = 256 + k)
  - t/data/tok-gpt2-text.ids  tok-text.txt encoded with those files by GPT-2's encoder.py
                            algorithm (bpe(): merge the lowest-ranked bigram everywhere, repeat)

Run from the top of the tree: /usr/bin/python3 t/ref/make_bpe_fixtures.py
"""
import json
import os
import random

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


WORDS = """the of and to in is was that for it with as his on be at by had not are but from or
have an they which one you were all we her she there would their will when who him been has
more if no out so said what up its about than into them can only other time new some could
these two may first then do any like my now over such our man me even most made after also
did many before must through back years where much your way well down should because each
just those people how too little state good very make world still own see men work long get
here between both life being under never day same another know while last might us great old
year off come since against go came right used take three model token sequence merge pair
count train language corpus shard window""".split()
CONTRACTIONS = ["don't", "it's", "we're", "they've", "I'm", "you'll", "he'd", "can't", "O'Neil", "rock'n'roll", "'tis"]
UNICODE = ["café", "naïve", "Straße", "Ελληνικά", "русский", "язык", "日本語", "中文字", "한국어", "עברית", "العربية",
           "हिन्दी", "🙂", "👍🏽", "∑x²", "½", "٣٤", "e\u0301te\u0301", "Ⅻ", "ﬁne", "𝔘𝔫𝔦", "⁂", "…", "«quote»", "—"]
SPACES = [" ", " ", " ", " ", "  ", "   ", "\t", " \t ", "\u00a0", "\u3000", "\u2009"]


def make_text(rng, n_lines):
    lines = []
    for _ in range(n_lines):
        parts = []
        for _ in range(rng.randint(0, 14)):
            r = rng.random()
            if r < 0.62:
                w = rng.choice(WORDS)
                if rng.random() < 0.15:
                    w = w.capitalize()
                if rng.random() < 0.05:
                    w = w.upper()
            elif r < 0.72:
                w = rng.choice(CONTRACTIONS)
            elif r < 0.82:
                w = rng.choice(["%d" % rng.randint(0, 99999), "%d.%02d" % (rng.randint(0, 99), rng.randint(0, 99)),
                                "1,000", "2026", "3.14159", "x%d" % rng.randint(0, 9), "0x%X" % rng.randint(0, 65535)])
            elif r < 0.92:
                w = rng.choice(UNICODE)
            else:
                w = rng.choice(["!", "?", "...", "(", ")", "--", "\"", "'", "#", "$5", "@home", "a.b", ":-)", "[x]"])
            parts.append(w)
            parts.append(rng.choice(SPACES))
        line = "".join(parts)
        if rng.random() < 0.3:
            line = line.rstrip(" ")
        lines.append(line)
        if rng.random() < 0.08:
            lines.append("")
        if rng.random() < 0.03:
            lines.append("   ")
    return "\n".join(lines) + "\n"


def train(text, vocab_size, min_frequency, specials):
    counts = {}
    for m in PAT.findall(text):
        b = m.encode("utf-8")
        counts[b] = counts.get(b, 0) + 1
    words = [[list(w), c] for w, c in counts.items()]
    merges = []
    toks = [bytes([i]) for i in range(256)]
    while len(toks) + len(specials) < vocab_size:
        pc = {}
        for syms, c in words:
            for a, b in zip(syms, syms[1:]):
                pc[(a, b)] = pc.get((a, b), 0) + c
        if not pc:
            break
        best = min(pc, key=lambda p: (-pc[p], p[0], p[1]))
        if pc[best] < min_frequency:
            break
        z = len(toks)
        toks.append(toks[best[0]] + toks[best[1]])
        merges.append(best)
        for w in words:
            s, out, i = w[0], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(z)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            w[0] = out
    return toks, merges


def gpt2_encode(text, ranks, encoder, b2u):
    """GPT-2's encoder.py: bpe() on the byte-mapped pre-token, then the vocabulary lookup"""
    ids = []
    for tok in PAT.findall(text):
        word = tuple(b2u[b] for b in tok.encode("utf-8"))
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if bigram not in ranks:
                break
            first, second = bigram
            new, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        ids.extend(encoder[w] for w in word)
    return ids


def main():
    rng = random.Random(23)
    corpus = make_text(rng, 900)
    text = make_text(random.Random(2323), 120) + "tail without newline  \u00a0x  \t"
    os.makedirs("t/data/tok-gpt2", exist_ok=True)
    with open("t/data/tok-corpus.txt", "w", encoding="utf-8", newline="") as f:
        f.write(corpus)
    with open("t/data/tok-text.txt", "w", encoding="utf-8", newline="") as f:
        f.write(text)
    specials = ["<|endoftext|>"]
    toks, merges = train(corpus, 600, 2, specials)
    b2u = bytes_to_unicode()
    names = ["".join(b2u[b] for b in t) for t in toks] + specials
    with open("t/data/tok-gpt2/vocab.json", "w", encoding="utf-8") as f:
        f.write("{" + ", ".join("%s: %d" % (json.dumps(s, ensure_ascii=False), i) for i, s in enumerate(names)) + "}\n")
    with open("t/data/tok-gpt2/merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write("%s %s\n" % (names[a], names[b]))
    encoder = {s: i for i, s in enumerate(names)}
    ranks = {(names[a], names[b]): r for r, (a, b) in enumerate(merges)}
    ids = gpt2_encode(text, ranks, encoder, b2u)
    with open("t/data/tok-gpt2-text.ids", "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    print("corpus %d bytes, text %d bytes, %d merges, %d ids" % (len(corpus.encode()), len(text.encode()), len(merges), len(ids)))


if __name__ == "__main__":
    main()
