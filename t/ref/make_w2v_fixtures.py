#!/usr/bin/python3
"""t/ref/make_w2v_fixtures.py — word2vec format interop with gensim (Debian python3-gensim).

Without arguments: writes t/data/w2v-gensim.txt and t/data/w2v-gensim.bin with gensim's
save_word2vec_format (text and binary), 6 words x 4 dims, value(i, j) = (i + 1) / 8 - j / 16
(exact in float32), one UTF-8 word; t/t-w2v checks seqlab reads them to the bit.

With SEQLAB set (a built seqlab): also trains seqlab on a small text, writes its text and binary
vectors, loads both with gensim's load_word2vec_format and records what gensim read (vocabulary
size, dimension, first word, max |text - binary|) in t/data/w2v-gensim-reads-seqlab.txt.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gensim.models import KeyedVectors

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data")
WORDS = ["the", "king", "queen", "café", "man", "woman"]


def write_gensim():
    kv = KeyedVectors(vector_size=4)
    vec = np.array([[(i + 1) / 8.0 - j / 16.0 for j in range(4)] for i in range(len(WORDS))], dtype=np.float32)
    kv.add_vectors(WORDS, vec)
    kv.save_word2vec_format(os.path.join(data, "w2v-gensim.txt"), binary=False)
    kv.save_word2vec_format(os.path.join(data, "w2v-gensim.bin"), binary=True)


def read_seqlab(seqlab):
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, "c.txt")
        with open(corpus, "w") as f:
            for i in range(300):
                f.write("the king and the queen met a man and a woman in the café number %d\n" % (i % 7))
        log = []
        kvs = {}
        for binary in (0, 1):
            out = os.path.join(d, "v%d" % binary)
            subprocess.run([seqlab, "w2v", "train", "-train", corpus, "-output", out, "-size", "12", "-iter", "2",
                            "-threads", "1", "-min-count", "1", "-binary", str(binary)], check=True,
                           stderr=subprocess.DEVNULL)
            kv = KeyedVectors.load_word2vec_format(out, binary=bool(binary))
            kvs[binary] = kv
            log.append("binary=%d: gensim loaded %d words x %d dims, first word %r, 'café' present: %s" % (
                binary, len(kv.index_to_key), kv.vector_size, kv.index_to_key[0], "café" in kv.key_to_index))
        diff = max(float(np.max(np.abs(kvs[0][w] - kvs[1][w]))) for w in kvs[1].index_to_key)
        log.append("max |text - binary| over all vectors: %.2e (text has 6 decimals)" % diff)
    with open(os.path.join(data, "w2v-gensim-reads-seqlab.txt"), "w") as f:
        f.write("# gensim %s load_word2vec_format on files written by seqlab w2v train "
                "(t/ref/make_w2v_fixtures.py)\n" % __import__("gensim").__version__)
        f.write("\n".join(log) + "\n")


def main():
    write_gensim()
    seqlab = os.environ.get("SEQLAB")
    if seqlab:
        read_seqlab(seqlab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
