#!/usr/bin/python3
"""nanoGPT's CPU recipe on tinyshakespeare (characters), re-implemented in PyTorch from the
description of nanoGPT's model.py / train.py (nanoGPT itself is not downloadable here):

  python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
         --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000
         --lr_decay_iters=2000 --dropout=0.0   (bias=False, lr 1e-3, min_lr 1e-4, warmup 100,
         beta1 0.9, beta2 0.99, weight_decay 0.1 on >=2-D tensors, grad_clip 1.0)

Data: the file's characters, sorted unique -> ids; first 90 % train, last 10 % validation.
Batches: random offsets, x = data[i:i+T], y = data[i+1:i+1+T]. Model: GPT with learned
positions, pre-LayerNorm blocks (no bias), causal self-attention (manual softmax path: torch
1.13 has no scaled_dot_product_attention, as nanoGPT's "slow attention"), GELU MLP 4x, tied
head, N(0,0.02) init with c_proj.weight N(0, 0.02/sqrt(2 n_layer)).
Trains max_iters steps, then estimates the losses on eval_iters batches (as estimate_loss).
Prints one CSV line: impl,iters,train_loss,val_loss,wall_s,ms_per_iter,peak_rss_mb
"""
import argparse
import math
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head, self.n_embd = c.n_head, c.n_embd
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.attn_dropout = nn.Dropout(c.dropout)
        self.resid_dropout = nn.Dropout(c.dropout)
        bs = c.block_size
        self.register_buffer("bias", torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c.n_embd, c.bias)
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c.n_embd, c.bias)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd), wpe=nn.Embedding(c.block_size, c.n_embd),
            drop=nn.Dropout(c.dropout), h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]),
            ln_f=LayerNorm(c.n_embd, c.bias)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.n_layer))

    def _init(self, m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, idx, targets):
        T = idx.size(1)
        pos = torch.arange(0, T, dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for b in self.transformer.h:
            x = b(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def configure_optimizers(self, wd, lr, betas):
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        nodecay = [p for p in params if p.dim() < 2]
        return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": nodecay, "weight_decay": 0.0}],
                                 lr=lr, betas=betas)


class Cfg:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--eval_iters", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = np.array([stoi[ch] for ch in text], dtype=np.int64)
    n = int(0.9 * len(data))
    train, val = torch.from_numpy(data[:n]), torch.from_numpy(data[n:])

    c = Cfg()
    c.n_layer, c.n_head, c.n_embd, c.block_size, c.bias, c.dropout, c.vocab_size = 4, 4, 128, 64, False, 0.0, len(chars)
    batch, T = 12, c.block_size
    lr, min_lr, warmup, decay_iters = 1e-3, 1e-4, 100, 2000

    def get_batch(d):
        ix = torch.randint(len(d) - T, (batch,))
        x = torch.stack([d[i:i + T] for i in ix])
        y = torch.stack([d[i + 1:i + 1 + T] for i in ix])
        return x, y

    def get_lr(it):
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        if it > decay_iters:
            return min_lr
        r = (it - warmup) / (decay_iters - warmup)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * r)) * (lr - min_lr)

    model = GPT(c)
    opt = model.configure_optimizers(0.1, lr, (0.9, 0.99))
    t0 = time.perf_counter()
    x, y = get_batch(train)
    for it in range(a.iters):
        for g in opt.param_groups:
            g["lr"] = get_lr(it)
        loss = model(x, y)
        x, y = get_batch(train)   # prefetch, as train.py does
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    wall = time.perf_counter() - t0
    model.eval()
    out = {}
    with torch.no_grad():
        for name, d in (("train", train), ("val", val)):
            out[name] = float(np.mean([model(*get_batch(d)).item() for _ in range(a.eval_iters)]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("pytorch,%d,%.4f,%.4f,%.2f,%.2f,%.1f" % (a.iters, out["train"], out["val"], wall, 1000 * wall / a.iters, rss),
          flush=True)


if __name__ == "__main__":
    main()
