#!/usr/bin/python3
"""Fixtures for t/t-transformer.c and t/gpt-forward.sh: a small GPT with nanoGPT's architecture,
initialisation and state_dict names, random init, its logits on fixed tokens.

The model below is written from nanoGPT's model.py description (GPTConfig keys; pre-norm blocks
ln_1 -> attn (c_attn, c_proj) -> ln_2 -> mlp (c_fc, GELU, c_proj); learned wte/wpe; tied lm_head;
N(0, 0.02) init with c_proj.weight N(0, 0.02/sqrt(2 n_layer)); the causal mask buffer attn.bias
that nanoGPT registers when PyTorch has no flash attention, as is the case for torch 1.13).

Run with Debian's python3 (python3-torch):  /usr/bin/python3 t/ref/make_gpt_fixtures.py
Writes t/data/gpt_bias1.safetensors, gpt_bias0.safetensors, gpt_tokens.npy, gpt_bias1_logits.npy,
gpt_bias0_logits.npy.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.n_embd = cfg["n_head"], cfg["n_embd"]
        self.c_attn = nn.Linear(cfg["n_embd"], 3 * cfg["n_embd"], bias=cfg["bias"])
        self.c_proj = nn.Linear(cfg["n_embd"], cfg["n_embd"], bias=cfg["bias"])
        bs = cfg["block_size"]
        self.register_buffer("bias", torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg["n_embd"], 4 * cfg["n_embd"], bias=cfg["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg["n_embd"], cfg["n_embd"], bias=cfg["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg["n_embd"], cfg["bias"])
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg["n_embd"], cfg["bias"])
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg["vocab_size"], cfg["n_embd"]),
            wpe=nn.Embedding(cfg["block_size"], cfg["n_embd"]),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])]),
            ln_f=LayerNorm(cfg["n_embd"], cfg["bias"]),
        ))
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg["n_layer"]))
        # random non-trivial biases and norm gains, so the test sees every tensor
        with torch.no_grad():
            for pn, p in self.named_parameters():
                if pn.endswith(".bias") or "ln_" in pn:
                    p.add_(0.1 * torch.randn_like(p))

    def _init(self, mod):
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, 0.0, 0.02)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.Embedding):
            nn.init.normal_(mod.weight, 0.0, 0.02)

    def forward(self, idx):
        T = idx.shape[1]
        pos = torch.arange(T)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for blk in self.transformer.h:
            x = blk(x)
        return self.lm_head(self.transformer.ln_f(x))


def save_safetensors(path, tensors):
    """Minimal safetensors writer: {name: float32 array}, header padded to 8 bytes."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make(tag, cfg, tokens, keep_buffers, keep_head):
    model = GPT(cfg).eval()
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("attn.bias") and not keep_buffers:
            continue
        if k == "lm_head.weight" and not keep_head:
            continue
        out[k] = v.numpy()
    save_safetensors(os.path.join(DATA, "gpt_%s.safetensors" % tag), out)
    with torch.no_grad():
        logits = model(torch.from_numpy(tokens).long()).numpy().astype(np.float32)
    np.save(os.path.join(DATA, "gpt_%s_logits.npy" % tag), logits)


def main():
    torch.manual_seed(1234)
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, 40, size=(2, 16)).astype(np.int32)
    np.save(os.path.join(DATA, "gpt_tokens.npy"), tokens)
    # like a nanoGPT state_dict: mask buffers and the tied lm_head.weight present
    make("bias1", dict(n_layer=2, n_head=4, n_embd=32, block_size=16, vocab_size=40, bias=True), tokens, True, True)
    # like safetensors' save_model: no buffers, the shared head stored once
    make("bias0", dict(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=40, bias=False), tokens, False, False)


if __name__ == "__main__":
    main()
