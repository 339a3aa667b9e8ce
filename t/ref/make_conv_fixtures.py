#!/usr/bin/python3
"""t/ref/make_conv_fixtures.py — PyTorch fixtures for t/t-based.c, t/t-h3.c, t/t-hyena.c.

Reference modules written here from the equations of the papers and of zoology's mixers
(HazyResearch/zoology: zoology/mixers/based.py with the taylor_exp feature map, slide_attn.py,
h3/h3.py, hyena.py), in float64, with zoology's parameter names so the saved state_dicts load
by name into seqlab:
  BasedRef  = Based (num_heads == num_key_value_heads, quadratic view) + SlidingAttn on the same
              input, outputs summed (seqlab's `based` mixer, ssm/based.h).
Weights are random (not the init) so every term is exercised.

Writes into t/data/ (small): PREFIX_weights.safetensors, PREFIX_x.npy (B,T,d_model),
PREFIX_y.npy, PREFIX_dy.npy, PREFIX_grads.safetensors (d sum(y*dy) / d param, "input" = d/dx)
for PREFIX = based.
Run: /usr/bin/python3 t/ref/make_conv_fixtures.py   (from the top of the tree)
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
torch.set_default_dtype(torch.float64)


def save_safetensors(path, tensors):
    """minimal safetensors writer: F32 tensors in the given order, header padded to 8 bytes"""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4'))
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class SlidingAttnRef(nn.Module):
    """one head of width d_model; query t sees keys t-W+1..t"""
    def __init__(self, d_model, window):
        super().__init__()
        self.window = window
        self.Wqkv = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        T, C = x.shape[1], x.shape[2]
        q, k, v = self.Wqkv(x).split(C, dim=-1)
        s = q @ k.transpose(-1, -2) / math.sqrt(C)
        i = torch.arange(T)
        keep = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - self.window)
        s = s.masked_fill(~keep, float('-inf'))
        return self.out_proj(torch.softmax(s, dim=-1) @ v)


class BasedRef(nn.Module):
    def __init__(self, d_model, feature_dim, num_heads, window, eps=1e-12):
        super().__init__()
        self.d_model, self.F, self.H, self.eps = d_model, feature_dim, num_heads, eps
        self.proj_q = nn.Linear(d_model, feature_dim * num_heads, bias=False)
        self.proj_k = nn.Linear(d_model, feature_dim * num_heads, bias=False)
        self.proj_v = nn.Linear(d_model, d_model, bias=False)
        self.proj_o = nn.Linear(d_model, d_model, bias=False)
        self.window_attn = SlidingAttnRef(d_model, window) if window > 0 else None

    def phi(self, x):
        """2nd-order Taylor features: [1, x / F^(1/4), vec(x x^T) / (sqrt 2 sqrt F)]"""
        x2 = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(start_dim=-2) / math.sqrt(2)
        return torch.cat([torch.ones_like(x[..., :1]), x / self.F ** 0.25, x2 / math.sqrt(self.F)], dim=-1)

    def forward(self, x):
        B, T, C = x.shape
        q = self.proj_q(x).view(B, T, self.H, self.F).transpose(1, 2)
        k = self.proj_k(x).view(B, T, self.H, self.F).transpose(1, 2)
        v = self.proj_v(x).view(B, T, self.H, C // self.H).transpose(1, 2)
        q, k = self.phi(q), self.phi(k)
        A = torch.tril(q @ k.transpose(-1, -2))               # (B, H, T, T) causal kernel
        y = (A @ v) / (A.sum(-1, keepdim=True) + self.eps)
        y = self.proj_o(y.transpose(1, 2).reshape(B, T, C))
        if self.window_attn is not None:
            y = y + self.window_attn(x)
        return y


def randomize(m, g):
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(torch.empty(p.shape).uniform_(-0.5, 0.5, generator=g))


def make(prefix, m, B, T, g, randomize_fn=randomize):
    randomize_fn(m, g)
    with torch.no_grad():   # values float32 can hold exactly, so only seqlab's arithmetic differs
        for p in m.parameters():
            p.copy_(p.float().double())
    x = torch.randn(B, T, m.d_model, generator=g).float().double().requires_grad_(True)
    y = m(x)
    dy = torch.randn(y.shape, generator=g)
    (y * dy).sum().backward()
    save_safetensors(os.path.join(OUT, prefix + '_weights.safetensors'), dict(m.state_dict()))
    grads = {n: p.grad for n, p in m.named_parameters()}
    grads['input'] = x.grad
    save_safetensors(os.path.join(OUT, prefix + '_grads.safetensors'), grads)
    np.save(os.path.join(OUT, prefix + '_x.npy'), x.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_y.npy'), y.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_dy.npy'), dy.numpy().astype('<f4'))
    print(prefix, 'y', tuple(y.shape), 'params', sum(p.numel() for p in m.parameters()))


def main():
    g = torch.Generator().manual_seed(20)
    make('based', BasedRef(8, 3, 2, 4), 2, 11, g)


if __name__ == '__main__':
    main()
