#!/usr/bin/env python3
"""A random-weight llama2.c checkpoint (legacy .bin, export.py's legacy_export layout) of the
stories15M shape: dim 288, hidden_dim 768, 6 layers, 6 heads (6 kv heads), vocab 32000,
seq_len 256, shared classifier. Weights N(0, 0.02) as llama2.c's init, norm gains 1, the RoPE
tables as llama2.c's precompute_freqs_cis. Seeded: the same bytes every time (numpy only).

usage: make_llama2c_random.py OUT.bin [SEED]"""
import struct
import sys

import numpy as np

D, F, L, H, KV, V, S = 288, 768, 6, 6, 6, 32000, 256


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    hs = D // H
    with open(out, "wb") as f:
        f.write(struct.pack("7i", D, F, L, H, KV, V, S))

        def w(*shape):
            f.write((rng.standard_normal(shape) * 0.02).astype(np.float32).tobytes())

        w(V, D)                                        # tok_embeddings
        f.write(np.ones((L, D), np.float32).tobytes())  # attention_norm
        w(L, D, D); w(L, KV * hs, D); w(L, KV * hs, D); w(L, D, D)   # wq wk wv wo
        f.write(np.ones((L, D), np.float32).tobytes())  # ffn_norm
        w(L, F, D); w(L, D, F); w(L, F, D)             # w1 w2 w3
        f.write(np.ones((D,), np.float32).tobytes())    # norm
        freqs = 1.0 / (10000.0 ** (np.arange(0, hs, 2)[: hs // 2].astype(np.float32) / hs))
        fr = np.outer(np.arange(S, dtype=np.float32), freqs)
        f.write(np.cos(fr).astype(np.float32).tobytes())
        f.write(np.sin(fr).astype(np.float32).tobytes())


if __name__ == "__main__":
    main()
