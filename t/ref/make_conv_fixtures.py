#!/usr/bin/python3
"""t/ref/make_conv_fixtures.py — PyTorch fixtures for t/t-based.c, t/t-h3.c, t/t-hyena.c.

Reference modules written here from the equations of the papers and of zoology's mixers
(HazyResearch/zoology: zoology/mixers/based.py with the taylor_exp feature map, slide_attn.py,
h3/h3.py, hyena.py), in float64, with zoology's parameter names so the saved state_dicts load
by name into seqlab:
  BasedRef  = Based (num_heads == num_key_value_heads, quadratic view) + SlidingAttn on the same
              input, outputs summed (seqlab's `based` mixer, ssm/based.h);
  H3Ref     = H3 with the shift kernel (k[j] = sum_m B[m] C[m+j]) on k, the S4D kernel (bilinear,
              C' = B C, A = -exp(inv_A_real) + i A_imag) on k v per head, q contracted over d1,
              output channel d2 H + h (ssm/h3.h), convolutions by FFT of length 2T;
  HyenaRef  = Hyena of order 2, one head: in_proj, short depthwise Conv1d (padding K-1, cut to T),
              v * x1, implicit filter (positional features z -> Linear/Sin MLP with one shared Sin
              frequency -> Linear without bias, times exp(-t |deltas|) + shift), FFT convolution
              + filter_fn.bias * v, * x2, out_proj (ssm/hyena.h). Its weights are saved from
              named_parameters and buffers, so the shared Sin frequency appears once (zoology's
              state_dict repeats it under implicit_filter.3.freq, .5.freq, ...).
Weights are random (not the init) so every term is exercised.

Writes into t/data/ (small): PREFIX_weights.safetensors, PREFIX_x.npy (B,T,d_model),
PREFIX_y.npy, PREFIX_dy.npy, PREFIX_grads.safetensors (d sum(y*dy) / d param, zero for buffers,
"input" = d/dx)
for PREFIX = based, h3, hyena.
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


def causal_conv(u, K):
    """u (B, T, C), K (C, T): y[b, t, c] = sum_j K[c, j] u[b, t - j, c], by FFT of length 2T"""
    T = u.shape[1]
    y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * T) * torch.fft.rfft(K, n=2 * T), n=2 * T)[..., :T]
    return y.transpose(1, 2)


class P(nn.Module):
    """a named holder of tensors, for zoology's nested state_dict names"""
    def __init__(self, **tensors):
        super().__init__()
        for n, t in tensors.items():
            setattr(self, n, nn.Parameter(t))


class H3Ref(nn.Module):
    def __init__(self, d_model, d_state, head_dim):
        super().__init__()
        C, N, hd = d_model, d_state, head_dim
        H, N2 = C // hd, d_state // 2
        self.d_model, self.N, self.hd, self.H = C, N, hd, H
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.ssm_k_kernel = nn.Module()
        self.ssm_k_kernel.kernel = P(B=torch.zeros(C, N), C=torch.zeros(1, C, N))
        self.ssm_k_D = nn.Parameter(torch.zeros(C))
        self.kernel = nn.Module()
        self.kernel.kernel = P(C=torch.zeros(1, H, N2, 2), log_dt=torch.zeros(H), B=torch.zeros(H, N2, 2),
                               inv_A_real=torch.zeros(H, N2), A_imag=torch.zeros(H, N2))
        self.D = nn.Parameter(torch.zeros(H))
        self.output_linear = nn.Linear(C, C)

    def diag_terms(self):
        """Cb = C' dt / (1 - dt A/2) and log(Ab), Ab = (1 + dt A/2) / (1 - dt A/2), (H, N/2) complex"""
        dk = self.kernel.kernel
        dt = torch.exp(dk.log_dt)[:, None]
        A = -torch.exp(dk.inv_A_real) + 1j * dk.A_imag
        Cc = torch.view_as_complex(dk.C[0].contiguous()) * torch.view_as_complex(dk.B.contiguous())
        dtA = A * dt
        return Cc * dt / (1 - dtA / 2), torch.log((1 + dtA / 2) / (1 - dtA / 2))

    def diag_kernel(self, T):
        """Kd[h, l] = 2 Re sum_n Cb[h, n] Ab[h, n]^l"""
        Cb, logz = self.diag_terms()
        return 2 * (Cb[..., None] * torch.exp(logz[..., None] * torch.arange(T))).sum(1).real

    def shift_kernel(self, T):
        """Ks[c, j] = sum_m B[c, m] C[c, m + j] for j < N, zero beyond (C, T)"""
        sk, N, C = self.ssm_k_kernel.kernel, self.N, self.d_model
        return torch.stack([(sk.B[:, :N - j] * sk.C[0][:, j:]).sum(-1) if j < N else torch.zeros(C) for j in range(T)], -1)

    def forward(self, x):
        Bt, T, C = x.shape
        H, hd, N = self.H, self.hd, self.N
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        k = causal_conv(k, self.shift_kernel(T)) + self.ssm_k_D * k
        Kd = self.diag_kernel(T)                                                                  # (H, T)
        kv = k.view(Bt, T, H, hd, 1) * v.view(Bt, T, H, 1, hd)                                    # (B, T, H, d1, d2)
        Kr = Kd[:, None, None, :].expand(H, hd, hd, T).reshape(H * hd * hd, T)
        s = causal_conv(kv.reshape(Bt, T, -1), Kr).view(Bt, T, H, hd, hd) + self.D.view(1, 1, H, 1, 1) * kv
        o = (q.view(Bt, T, H, hd, 1) * s).sum(3)                                                   # (B, T, H, d2)
        return self.output_linear(o.transpose(2, 3).reshape(Bt, T, C))                             # channel d2 H + h


class Sin(nn.Module):
    def __init__(self, dim, w):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class HyenaRef(nn.Module):
    def __init__(self, d_model, l_max, filter_order, short_filter_order=3, emb_dim=3, num_inner_mlps=2, w=1.0,
                 fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2, shift=0.0):
        super().__init__()
        C, L, M, E = d_model, l_max, filter_order, emb_dim
        self.d_model, self.shift = C, shift
        self.in_proj, self.out_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.short_filter = nn.Conv1d(3 * C, 3 * C, short_filter_order, groups=3 * C, padding=short_filter_order - 1)
        f = nn.Module()
        f.bias = nn.Parameter(torch.randn(C))
        f.pos_emb = nn.Module()
        t = torch.linspace(0, 1, L)[None, :, None]
        bands = (E - 1) // 2
        wl = 2 * math.pi * torch.linspace(0, L - 1, L)[None, :, None] / L
        fr = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.exp(-1j * fr * wl)
        f.pos_emb.z = nn.Parameter(torch.cat([t, z.real, z.imag], dim=-1))
        f.pos_emb.register_buffer('t', t)
        act = Sin(M, w)
        layers = [nn.Linear(E, M), act]
        for _ in range(num_inner_mlps):
            layers += [nn.Linear(M, M), act]
        layers.append(nn.Linear(M, C, bias=False))
        f.implicit_filter = nn.Sequential(*layers)
        f.modulation = nn.Module()
        f.modulation.register_buffer('deltas', torch.linspace(math.log(target) / slow_decay_pct,
                                                              math.log(target) / fast_decay_pct, C)[None, None])
        self.filter_fn = f

    def forward(self, x):
        Bt, T, C = x.shape
        u = self.in_proj(x).transpose(1, 2)
        uc = self.short_filter(u)[..., :T]
        x1, x2, v = uc.split(C, dim=1)
        v = v * x1
        f = self.filter_fn
        h = f.implicit_filter(f.pos_emb.z[:, :T]) * (torch.exp(-f.pos_emb.t[:, :T] * f.modulation.deltas.abs()) + self.shift)
        k = h[0].transpose(0, 1)                                                   # (C, T)
        y = causal_conv(v.transpose(1, 2), k).transpose(1, 2) + v * f.bias[:, None]
        return self.out_proj((y * x2).transpose(1, 2))


def randomize_hyena(m, g):
    randomize(m, g)
    with torch.no_grad():
        fq = m.filter_fn.implicit_filter[1].freq
        fq.copy_(torch.empty(fq.shape).uniform_(0.5, 2.0, generator=g))


def randomize_h3(m, g):
    randomize(m, g)
    with torch.no_grad():
        kk = m.kernel.kernel
        kk.log_dt.copy_(torch.empty(kk.log_dt.shape).uniform_(math.log(0.05), math.log(0.5), generator=g))
        kk.inv_A_real.copy_(torch.empty(kk.inv_A_real.shape).uniform_(-1.5, 0.0, generator=g))
        kk.A_imag.copy_(torch.empty(kk.A_imag.shape).uniform_(0.0, 4.0, generator=g))


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
    named = dict(m.named_parameters())
    named.update(dict(m.named_buffers()))
    save_safetensors(os.path.join(OUT, prefix + '_weights.safetensors'), named)
    grads = {n: p.grad for n, p in m.named_parameters()}
    grads.update({n: torch.zeros_like(b) for n, b in m.named_buffers()})   # fixed tensors: zero gradient
    grads['input'] = x.grad
    save_safetensors(os.path.join(OUT, prefix + '_grads.safetensors'), grads)
    np.save(os.path.join(OUT, prefix + '_x.npy'), x.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_y.npy'), y.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_dy.npy'), dy.numpy().astype('<f4'))
    print(prefix, 'y', tuple(y.shape), 'params', sum(p.numel() for p in m.parameters()))


def main():
    g = torch.Generator().manual_seed(20)
    make('based', BasedRef(8, 3, 2, 4), 2, 11, g)
    make('h3', H3Ref(8, 6, 2), 2, 12, g, randomize_h3)
    make('hyena', HyenaRef(6, 16, 8, emb_dim=5, num_inner_mlps=1), 2, 10, g, randomize_hyena)


if __name__ == '__main__':
    main()
