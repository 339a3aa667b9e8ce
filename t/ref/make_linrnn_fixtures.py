#!/usr/bin/python3
"""t/ref/make_linrnn_fixtures.py — PyTorch fixtures for the linear-RNN mixers (t/t-lru.c, ...).

Reference modules written from the papers' equations with the parameter names of their public
code (docs/linear-rnn.md):
  LRURef = the LRU layer of Orvieto et al. 2023, appendix A (nu_log, theta_log, gamma_log, B_re,
           B_im, C_re, C_im, D), run as the plain complex recurrence in float64.
  RetNetRef = torchscale's MultiScaleRetention (q_proj k_proj v_proj g_proj out_proj, k scaled by
           d_k^-0.5, theta_shift rotation, decay log(1 - 2^(-5-h)), RMSNorm group norm without
           weights, swish gate) in its parallel form; torchscale's detached per-row rescalings
           of the score matrix are left out (they cancel in the group norm up to its eps).
  GLARef = fla's GatedLinearAttention (q_proj k_proj v_proj g_proj gk_proj.0/1 o_proj g_norm),
           log alpha = logsigmoid(gk) / gate_logit_normalizer, run as the plain recurrence
           S_t = diag(alpha_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t / sqrt(d_k).
  RWKVRef = RWKV-4's time mix and channel mix with BlinkDL's RWKV-LM names (att.time_decay,
           att.time_first, att.time_mix_k/v/r, att.key/value/receptance/output, ln2, ffn.time_mix_k/r,
           ffn.key/receptance/value), the WKV computed from its definition (sums of exponentials in
           float64), y = att(x) + ffn(ln2(x + att(x))) as seqlab's rwkv mixer (docs/linear-rnn.md).
The modules run in float64 (the fixtures are then stored as float32), with random weights (not
the init) so every term is exercised. Each fixture is PREFIX_weights.safetensors (state_dict),
PREFIX_x.npy (B, T, d_model), PREFIX_y.npy, PREFIX_dy.npy and PREFIX_grads.safetensors
(d sum(y * dy) / d param, plus "input" = d/dx), read by t/fixture.h.
Run: /usr/bin/python3 t/ref/make_linrnn_fixtures.py [NAME ...]   (from the top of the tree)
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


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


class LRURef(nn.Module):
    """x_t = lambda x_{t-1} + gamma (B u_t), y_t = Re(C x_t) + D u_t, lambda = exp(-e^nu + i e^theta)"""

    def __init__(self, d_model, d_hidden):
        super().__init__()
        self.d_model = d_model
        N, H = d_hidden, d_model
        self.nu_log = nn.Parameter(torch.zeros(N))
        self.theta_log = nn.Parameter(torch.zeros(N))
        self.gamma_log = nn.Parameter(torch.zeros(N))
        self.B_re = nn.Parameter(torch.zeros(N, H))
        self.B_im = nn.Parameter(torch.zeros(N, H))
        self.C_re = nn.Parameter(torch.zeros(H, N))
        self.C_im = nn.Parameter(torch.zeros(H, N))
        self.D = nn.Parameter(torch.zeros(H))

    def forward(self, u):                      # u (b, t, H)
        lam = torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))
        Bn = torch.complex(self.B_re, self.B_im) * torch.exp(self.gamma_log)[:, None]
        C = torch.complex(self.C_re, self.C_im)
        Bu = torch.einsum('nh,bth->btn', Bn, u.to(Bn.dtype))
        x = torch.zeros(u.shape[0], lam.shape[0], dtype=Bn.dtype)
        ys = []
        for t in range(u.shape[1]):
            x = lam * x + Bu[:, t]
            ys.append((x @ C.T).real)
        return torch.stack(ys, 1) + u * self.D


def rms(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class RetNetRef(nn.Module):
    def __init__(self, d_model, num_heads, value_dim=0, eps=1e-6):
        super().__init__()
        self.d_model, self.H, self.eps = d_model, num_heads, eps
        V = value_dim or 2 * d_model
        self.K, self.Vh = d_model // num_heads, V // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, V, bias=False)
        self.g_proj = nn.Linear(d_model, V, bias=False)
        self.out_proj = nn.Linear(V, d_model, bias=False)

    def forward(self, x):                       # x (b, t, d_model)
        b, T, _ = x.shape
        H, K = self.H, self.K
        q = self.q_proj(x).view(b, T, H, K).transpose(1, 2)
        k = (self.k_proj(x) * K ** -0.5).view(b, T, H, K).transpose(1, 2)
        v = self.v_proj(x).view(b, T, H, self.Vh).transpose(1, 2)
        angle = 1.0 / (10000 ** torch.linspace(0, 1, K // 2, dtype=x.dtype))
        angle = angle.unsqueeze(-1).repeat(1, 2).flatten()
        idx = torch.arange(T, dtype=x.dtype)
        sin, cos = torch.sin(idx[:, None] * angle[None, :]), torch.cos(idx[:, None] * angle[None, :])

        def theta_shift(z):
            rot = torch.stack((-z[..., 1::2], z[..., ::2]), dim=-1).flatten(-2)
            return z * cos + rot * sin

        qr, kr = theta_shift(q), theta_shift(k)
        decay = torch.log(1 - 2 ** (-5 - torch.arange(H, dtype=x.dtype)))
        dist = idx[:, None] - idx[None, :]
        mask = torch.where(dist >= 0, torch.exp(dist.clamp(min=0)[None] * decay[:, None, None]), torch.zeros(()))
        o = ((qr @ kr.transpose(-1, -2)) * mask) @ v          # (b, H, T, Vh)
        o = rms(o.transpose(1, 2), self.eps).reshape(b, T, H * self.Vh)
        return self.out_proj(F.silu(self.g_proj(x)) * o)


class GLARef(nn.Module):
    def __init__(self, d_model, num_heads, expand_k=0.5, expand_v=1.0, gate_low_rank_dim=16, gate_logit_normalizer=16,
                 eps=1e-5):
        super().__init__()
        self.d_model, self.H, self.eps, self.norm = d_model, num_heads, eps, gate_logit_normalizer
        KD, VD = int(d_model * expand_k), int(d_model * expand_v)
        self.K, self.Vh = KD // num_heads, VD // num_heads
        self.q_proj = nn.Linear(d_model, KD, bias=False)
        self.k_proj = nn.Linear(d_model, KD, bias=False)
        self.v_proj = nn.Linear(d_model, VD, bias=False)
        self.g_proj = nn.Linear(d_model, VD, bias=False)
        self.gk_proj = nn.Sequential(nn.Linear(d_model, gate_low_rank_dim, bias=False),
                                     nn.Linear(gate_low_rank_dim, KD, bias=True))
        self.o_proj = nn.Linear(VD, d_model, bias=False)
        self.g_norm = nn.Module()
        self.g_norm.weight = nn.Parameter(torch.ones(self.Vh))

    def forward(self, x):
        b, T, _ = x.shape
        H, K, V = self.H, self.K, self.Vh
        q = self.q_proj(x).view(b, T, H, K) * K ** -0.5
        k = self.k_proj(x).view(b, T, H, K)
        v = self.v_proj(x).view(b, T, H, V)
        gk = (F.logsigmoid(self.gk_proj(x)) / self.norm).view(b, T, H, K)
        S = x.new_zeros(b, H, K, V)
        os_ = []
        for t in range(T):
            S = torch.exp(gk[:, t])[..., None] * S + k[:, t, :, :, None] * v[:, t, :, None, :]
            os_.append(torch.einsum('bhk,bhkv->bhv', q[:, t], S))
        o = rms(torch.stack(os_, 1), self.eps) * self.g_norm.weight
        return self.o_proj(o.reshape(b, T, H * V) * F.silu(self.g_proj(x)))


def shift(x):
    return F.pad(x, (0, 0, 1, -1))


class TimeMix(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.time_decay = nn.Parameter(torch.zeros(C))
        self.time_first = nn.Parameter(torch.zeros(C))
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_v = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, C))
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)

    def forward(self, x):
        xx = shift(x)
        k = self.key(x * self.time_mix_k + xx * (1 - self.time_mix_k))
        v = self.value(x * self.time_mix_v + xx * (1 - self.time_mix_v))
        r = self.receptance(x * self.time_mix_r + xx * (1 - self.time_mix_r))
        w = -torch.exp(self.time_decay)
        T = x.shape[1]
        ys = []
        for t in range(T):                      # the definition: sums over i < t, then the bonus term
            e = torch.exp(self.time_first + k[:, t])
            num, den = e * v[:, t], e
            for i in range(t):
                ei = torch.exp((t - 1 - i) * w + k[:, i])
                num, den = num + ei * v[:, i], den + ei
            ys.append(num / den)
        return self.output(torch.sigmoid(r) * torch.stack(ys, 1))


class ChannelMix(nn.Module):
    def __init__(self, C, F_):
        super().__init__()
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, C))
        self.key = nn.Linear(C, F_, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(F_, C, bias=False)

    def forward(self, x):
        xx = shift(x)
        k = torch.square(torch.relu(self.key(x * self.time_mix_k + xx * (1 - self.time_mix_k))))
        return torch.sigmoid(self.receptance(x * self.time_mix_r + xx * (1 - self.time_mix_r))) * self.value(k)


class RWKVRef(nn.Module):
    def __init__(self, C, F_):
        super().__init__()
        self.d_model = C
        self.att = TimeMix(C)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        self.ffn = ChannelMix(C, F_)

    def forward(self, x):
        a = self.att(x)
        return a + self.ffn(self.ln2(x + a))


def randomize(m, g, lo=-0.5, hi=0.5):
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n == 'g_norm.weight':
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(0.5, 1.5, generator=g))
            elif n.endswith('time_mix_k') or n.endswith('time_mix_v') or n.endswith('time_mix_r'):
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(0.1, 0.9, generator=g))
            elif n == 'att.time_decay':
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(-3.0, 1.0, generator=g))
            elif n == 'att.time_first':
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(-1.0, 1.0, generator=g))
            elif n == 'ln2.weight':
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(0.5, 1.5, generator=g))
            elif n == 'gk_proj.1.bias':
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(-3.0, 3.0, generator=g))
            else:
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(lo, hi, generator=g))


def randomize_lru(m, g):
    with torch.no_grad():
        N = m.nu_log.shape[0]
        r = torch.empty(N, dtype=torch.float64).uniform_(0.5, 0.95, generator=g)
        m.nu_log.copy_(torch.log(-torch.log(r)))
        m.theta_log.copy_(torch.log(torch.empty(N, dtype=torch.float64).uniform_(0.1, 3.0, generator=g)))
        m.gamma_log.copy_(torch.empty(N, dtype=torch.float64).uniform_(-1.0, 0.0, generator=g))
        for p in (m.B_re, m.B_im, m.C_re, m.C_im, m.D):
            p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(-0.5, 0.5, generator=g))


def make(prefix, m, B, T, g):
    """float64 forward/backward of m on random x, dy; everything stored as float32"""
    x = torch.randn(B, T, m.d_model, generator=g, dtype=torch.float64)
    # the fixture's inputs are what the C side reads: round weights and x to float32 first
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.float().double())
    x = x.float().double().requires_grad_(True)
    y = m(x)
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64).float().double()
    (y * dy).sum().backward()
    save_safetensors(os.path.join(OUT, prefix + '_weights.safetensors'), dict(m.state_dict()))
    grads = {n: p.grad for n, p in m.named_parameters()}
    grads['input'] = x.grad
    save_safetensors(os.path.join(OUT, prefix + '_grads.safetensors'), grads)
    np.save(os.path.join(OUT, prefix + '_x.npy'), x.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_y.npy'), y.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_dy.npy'), dy.numpy().astype('<f4'))
    print(prefix, 'y', tuple(y.shape), 'params', sum(p.numel() for p in m.parameters()))


def fixture_lru():
    g = torch.Generator().manual_seed(2001)
    m = LRURef(6, 5).double()
    randomize_lru(m, g)
    make('lru', m, 2, 11, g)


def fixture_retnet():
    g = torch.Generator().manual_seed(2002)
    m = RetNetRef(8, 2).double()
    randomize(m, g)
    make('retnet', m, 2, 13, g)


def fixture_gla():
    g = torch.Generator().manual_seed(2003)
    m = GLARef(8, 2, expand_k=1.0, expand_v=1.0, gate_low_rank_dim=3, gate_logit_normalizer=2).double()
    randomize(m, g)
    make('gla', m, 2, 13, g)


def fixture_rwkv():
    g = torch.Generator().manual_seed(2004)
    m = RWKVRef(6, 10).double()
    randomize(m, g, -0.8, 0.8)
    make('rwkv', m, 2, 13, g)


FIXTURES = {'lru': fixture_lru, 'retnet': fixture_retnet, 'gla': fixture_gla, 'rwkv': fixture_rwkv}


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    names = sys.argv[1:] or list(FIXTURES)
    for n in names:
        FIXTURES[n]()


if __name__ == '__main__':
    main()
