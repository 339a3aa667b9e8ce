#!/usr/bin/python3
"""Fixtures for t/t-llama2c.c: tiny random llama2.c-format checkpoints (legacy .bin layout, as
llama2.c's export.py legacy_export writes them), a tokenizer.bin (as its tokenizer.py export
writes: int32 max_token_length, then per token float32 score, int32 length, bytes), and the
logits of the same model in a PyTorch re-implementation of llama2.c's model.py (RMSNorm, RoPE
on interleaved pairs via precomputed cos/sin, repeat_kv for GQA, SwiGLU FeedForward w2(silu(w1 x)
* w3 x), tied output head unless unshared).

Run with Debian's python3:  /usr/bin/python3 t/ref/make_llama2c_fixtures.py
"""
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def freqs(dim, end, theta=10000.0):
    f = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    t = torch.arange(end, device=f.device)
    a = torch.outer(t, f).float()
    return torch.cos(a), torch.sin(a)


def rotary(xq, xk, cos, sin):
    def rot(x):
        xr, xi = x.float().reshape(x.shape[:-1] + (-1, 2)).unbind(-1)
        c = cos.view(1, cos.shape[0], 1, cos.shape[1])
        s = sin.view(1, sin.shape[0], 1, sin.shape[1])
        o_r = xr * c - xi * s
        o_i = xr * s + xi * c
        return torch.stack([o_r, o_i], dim=-1).flatten(3)
    return rot(xq).type_as(xq), rot(xk).type_as(xk)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.n_heads, self.n_kv = a["n_heads"], a["n_kv_heads"]
        self.hd = a["dim"] // a["n_heads"]
        self.wq = nn.Linear(a["dim"], self.n_heads * self.hd, bias=False)
        self.wk = nn.Linear(a["dim"], self.n_kv * self.hd, bias=False)
        self.wv = nn.Linear(a["dim"], self.n_kv * self.hd, bias=False)
        self.wo = nn.Linear(self.n_heads * self.hd, a["dim"], bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.hd)
        k = self.wk(x).view(B, T, self.n_kv, self.hd)
        v = self.wv(x).view(B, T, self.n_kv, self.hd)
        q, k = rotary(q, k, cos, sin)
        rep = self.n_heads // self.n_kv
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(2, 3) / math.sqrt(self.hd)
        s = s + torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        o = F.softmax(s.float(), dim=-1).type_as(q) @ v
        return self.wo(o.transpose(1, 2).contiguous().view(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.attention = Attention(a)
        self.feed_forward = FeedForward(a["dim"], a["hidden_dim"])
        self.attention_norm = RMSNorm(a["dim"], 1e-5)
        self.ffn_norm = RMSNorm(a["dim"], 1e-5)

    def forward(self, x, cos, sin):
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, a, shared):
        super().__init__()
        self.a = a
        self.tok_embeddings = nn.Embedding(a["vocab_size"], a["dim"])
        self.layers = nn.ModuleList([Block(a) for _ in range(a["n_layers"])])
        self.norm = RMSNorm(a["dim"], 1e-5)
        self.output = nn.Linear(a["dim"], a["vocab_size"], bias=False)
        if shared:
            self.tok_embeddings.weight = self.output.weight
        cos, sin = freqs(a["dim"] // a["n_heads"], a["max_seq_len"])
        self.register_buffer("freqs_cos", cos, persistent=False)
        self.register_buffer("freqs_sin", sin, persistent=False)
        for pn, p in self.named_parameters():
            nn.init.normal_(p, 0.0, 0.02)
            if pn.endswith("w3.weight") or pn.endswith("wo.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * a["n_layers"]))
            if "norm" in pn:
                with torch.no_grad():
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))

    def forward(self, tok):
        T = tok.shape[1]
        h = self.tok_embeddings(tok)
        for layer in self.layers:
            h = layer(h, self.freqs_cos[:T], self.freqs_sin[:T])
        return self.output(self.norm(h))


def legacy_export(model, path, shared):
    a = model.a
    V = a["vocab_size"] if shared else -a["vocab_size"]
    with open(path, "wb") as f:
        f.write(struct.pack("iiiiiii", a["dim"], a["hidden_dim"], a["n_layers"], a["n_heads"], a["n_kv_heads"], V,
                            a["max_seq_len"]))

        def w(t):
            f.write(t.detach().cpu().view(-1).numpy().astype("<f4").tobytes())
        w(model.tok_embeddings.weight)
        for name in ["attention_norm", "attention.wq", "attention.wk", "attention.wv", "attention.wo", "ffn_norm",
                     "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"]:
            for layer in model.layers:
                mod = layer
                for part in name.split("."):
                    mod = getattr(mod, part)
                w(mod.weight)
        w(model.norm.weight)
        w(model.freqs_cos[: a["max_seq_len"]])
        w(model.freqs_sin[: a["max_seq_len"]])
        if not shared:
            w(model.output.weight)


def tokenizer(path, V):
    """<unk> <s> </s>, 256 byte tokens <0x00>..<0xFF>, then merged pieces with rising scores."""
    pieces = ["<unk>", "\n<s>\n", "\n</s>\n"] + ["<0x%02X>" % b for b in range(256)]
    scores = [0.0] * len(pieces)
    merges = [" ", "e", "t", "h", "a", "o", "n", "s", "l", "w", "r", "d", "i", "!",
              "th", "he", " t", " th", " the", "in", " a", "an", "er", "ll", "llo", "ello", " h", " he", " hello", "é",
              " w", "or", "ld", " wor", " world"]
    for i, m in enumerate(merges):
        pieces.append(m)
        scores.append(-100.0 + i if len(m) == 1 else -50.0 + i)
    assert len(pieces) == V, len(pieces)
    data = [p.encode("utf-8") for p in pieces]
    with open(path, "wb") as f:
        f.write(struct.pack("i", max(len(b) for b in data)))
        for b, s in zip(data, scores):
            f.write(struct.pack("fi", s, len(b)))
            f.write(b)
    return pieces, scores


ENCODE_TEXTS = ["hello world!", "the zebra", "h\u00e9llo\nthere"]


def encode(pieces, scores, text, bos, eos):
    """run.c's encode, in Python (an independent check of the C port)."""
    ids = {p: i for i, p in enumerate(pieces)}
    out = [1] if bos else []
    if text:
        out.append(ids[" "])
    for ch in text:
        if ch in ids:
            out.append(ids[ch])
        else:
            out.extend(b + 3 for b in ch.encode("utf-8"))
    while True:
        best, bi, bid = -1e10, -1, -1
        for i in range(len(out) - 1):
            m = pieces[out[i]] + pieces[out[i + 1]]
            if m in ids and scores[ids[m]] > best:
                best, bi, bid = scores[ids[m]], i, ids[m]
        if bi < 0:
            break
        out[bi:bi + 2] = [bid]
    if eos:
        out.append(2)
    return out


def main():
    torch.manual_seed(42)
    V = 294
    pieces, scores = tokenizer(os.path.join(DATA, "llama2c_tok.bin"), V)
    enc = [encode(pieces, scores, t, True, False) for t in ENCODE_TEXTS]
    arr = np.full((len(enc), max(len(e) for e in enc)), -1, dtype=np.int32)
    for i, e in enumerate(enc):
        arr[i, :len(e)] = e
    np.save(os.path.join(DATA, "llama2c_encode.npy"), arr)
    print("encodings:", enc)
    tok = np.random.default_rng(3).integers(0, V, size=(2, 12)).astype(np.int32)
    np.save(os.path.join(DATA, "llama2c_tokens.npy"), tok)
    for tag, shared, a in [
        ("shared", True, dict(dim=16, hidden_dim=48, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=V, max_seq_len=16)),
        ("unshared", False, dict(dim=8, hidden_dim=24, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=V, max_seq_len=16)),
    ]:
        model = Transformer(a, shared).eval()
        legacy_export(model, os.path.join(DATA, "llama2c_%s.bin" % tag), shared)
        with torch.no_grad():
            y = model(torch.from_numpy(tok).long()).numpy().astype(np.float32)
        np.save(os.path.join(DATA, "llama2c_%s_logits.npy" % tag), y)
        if tag == "shared":
            greedy(model, pieces, scores, "hello", "llama2c_greedy.npy")
    # a third checkpoint for greedy generation: untied, every weight but the norms 10x larger
    # (std 0.2), so attention and the MLP move the logits. In the two above the residual stream
    # is the token's embedding almost alone: the tied model repeats one token at once ("hello":
    # 53 fourteen times) and halving every attention output changes none of the greedy tokens.
    # Here 10% off wo changes 4 of the 12 generated tokens (11 distinct ids).
    torch.manual_seed(7)
    a = dict(dim=16, hidden_dim=48, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=V, max_seq_len=16)
    model = Transformer(a, False).eval()
    with torch.no_grad():
        for pn, p in model.named_parameters():
            if "norm" not in pn:
                p.mul_(10.0)
    legacy_export(model, os.path.join(DATA, "llama2c_gen.bin"), False)
    greedy(model, pieces, scores, "hello world!", "llama2c_gen_greedy.npy")


def greedy(model, pieces, scores, prompt, out):
    """greedy generation to 16 tokens, each step a full forward of the prefix: the tokens
    t/t-llama2c.c must reproduce in step mode"""
    seq = encode(pieces, scores, prompt, True, False)
    margins = []
    with torch.no_grad():
        while len(seq) < 16:
            logits = model(torch.tensor([seq]).long())[0, -1]
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            seq.append(int(torch.argmax(logits)))
    print(out, "smallest top-2 logit margin:", min(margins))
    np.save(os.path.join(DATA, out), np.array(seq, dtype=np.int32))
    print(out, "greedy:", seq)

if __name__ == "__main__":
    main()
