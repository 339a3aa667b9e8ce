#!/usr/bin/python3
"""bench/train_step_torch.py — the PyTorch CPU peer of bench/train_step_bench.c: one training
step (forward, MSE loss, backward, global-norm clipping, AdamW) of the seq: wrapper around each
mixer, at the same shapes, with torch.set_num_threads(THREADS).

The wrapper is seqlab's seq:mixer=..: in_proj Linear(d_input, C) -> n_layer x
[h + mixer(RMSNorm(h))] -> RMSNorm -> Linear(C, d_output). The mixers, at seqlab's defaults:
  rnn, lstm, gru  torch.nn.RNN / LSTM / GRU (hidden_size = C)
  hippo           fixed HiPPO-LegS memory per channel (N = 32) with a learnable read-out
                  y = C c + D u; the per-step bilinear transitions precomputed as dense
                  (T, N, N) matrices, as the HiPPO reference code's HiPPOScale does
  s4              the S4 block: DPLR kernel by the Cauchy kernel and the Woodbury identity at
                  the bilinear transform's roots of unity (S4's SSKernelNPLR form, C~ a free
                  parameter), kernel length l_max = 1024 as seqlab's default, FFT convolution,
                  GELU, Conv1d(H, 2H, 1), GLU
  s4d             s4d.py's minimal S4D (t/ref/make_s4d_fixtures.py), d_state 64
  mamba           mamba_ssm's Mamba in plain PyTorch (t/ref/make_mamba_fixtures.py MambaRef):
                  the scan is selective_scan_ref's math. mamba_ssm itself is not installable
                  here (no CUDA build, not packaged by Debian), so this is its reference path,
                  not its fused CUDA kernels. Its autograd backward is O(L^2 D N) (every
                  deltaA[:, t] slice becomes a full-size gradient), so a second peer,
  mamba_steps     the same Mamba with the scan's exp(dt A), dt B u formed inside the time loop
                  (bench/scan_torch.py's torch_steps), is the fairer plain-PyTorch figure.
  mamba2          mamba_ssm's Mamba2 in plain PyTorch (Mamba2Ref: the minimal chunked SSD,
                  chunk 256, headdim 64)
  attention       causal multi-head self-attention (4 heads, no biases), softmax attention
                  written out (torch 1.13 has no scaled_dot_product_attention)

usage: train_step_torch.py MIXER [B T d_model n_layer threads reps warmup]
CSV row on stdout, the columns of train_step_bench: impl,mixer,task,B,T,params,threads,step_ms,
step_cpu_ms,fwd_ms,bwd_ms,opt_ms (median over reps after warmup steps).
"""
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 't', 'ref'))
from make_mamba_fixtures import MambaRef, Mamba2Ref  # noqa: E402
import make_mamba_fixtures  # noqa: E402
from make_s4d_fixtures import S4D  # noqa: E402


def selective_scan_steps(u, delta, A, B, C, D, z, delta_bias):
    """selective_scan_ref's equations with exp(dt A) and dt B u formed inside the time loop
    (bench/scan_torch.py's torch_steps): autograd then keeps O(L D N), not O(L^2 D N)"""
    delta = F.softplus(delta + delta_bias[..., None])                 # (b, d, l)
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        d = delta[:, :, i, None]
        x = torch.exp(d * A) * x + d * B[:, None, :, i] * u[:, :, i, None]
        ys.append(torch.einsum('bdn,bn->bd', x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * F.silu(z)


class MambaSteps(MambaRef):
    def forward(self, h):
        saved = make_mamba_fixtures.selective_scan
        make_mamba_fixtures.selective_scan = selective_scan_steps
        try:
            return super().forward(h)
        finally:
            make_mamba_fixtures.selective_scan = saved


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class RNNMixer(nn.Module):
    def __init__(self, cls, C):
        super().__init__()
        self.rnn = cls(C, C, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def legs_transitions(N, T):
    """HiPPO-LegS bilinear steps k = 1..T: c_k = Ad_k c_{k-1} + Bd_k u_k (float64 -> float32)"""
    q = torch.arange(N, dtype=torch.float64)
    r = torch.sqrt(2 * q + 1)
    A = -torch.tril(r[:, None] * r[None, :], -1) - torch.diag(q + 1)   # A_nk: -r_n r_k (n > k), -(n+1) (n = k)
    B = r.clone()
    I = torch.eye(N, dtype=torch.float64)
    Ad, Bd = [], []
    for k in range(1, T + 1):
        Ak, Bk = A / k, B / k
        lhs = I - Ak / 2
        Ad.append(torch.linalg.solve(lhs, I + Ak / 2))
        Bd.append(torch.linalg.solve(lhs, Bk))
    return torch.stack(Ad).float(), torch.stack(Bd).float()


class HippoMixer(nn.Module):
    def __init__(self, H, N=32, T=100):
        super().__init__()
        Ad, Bd = legs_transitions(N, T)
        self.register_buffer('Ad', Ad)            # (T, N, N) frozen
        self.register_buffer('Bd', Bd)            # (T, N)
        self.C = nn.Parameter(torch.randn(H, N) / math.sqrt(N))
        self.D = nn.Parameter(torch.ones(H))

    def forward(self, u):                         # (b, l, H)
        b, L, H = u.shape
        c = u.new_zeros(b, H, self.Ad.shape[-1])
        ys = []
        for t in range(L):
            c = c @ self.Ad[t].t() + u[:, t, :, None] * self.Bd[t]
            ys.append((c * self.C).sum(-1))
        return torch.stack(ys, 1) + u * self.D


class S4Block(nn.Module):
    """S4 (DPLR) kernel by Cauchy + Woodbury at the roots of unity, as S4's SSKernelNPLR"""
    def __init__(self, H, N=64, l_max=1024):
        super().__init__()
        N2 = N // 2
        self.L = l_max
        self.log_dt = nn.Parameter(torch.rand(H) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N2).float().repeat(H, 1))
        self.B = nn.Parameter(torch.view_as_real(torch.randn(H, N2, dtype=torch.cfloat)))
        self.P = nn.Parameter(torch.view_as_real(torch.randn(H, N2, dtype=torch.cfloat) * 0.1))
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, N2, dtype=torch.cfloat)))
        self.D = nn.Parameter(torch.randn(H))
        self.out = nn.Conv1d(H, 2 * H, 1)

    def kernel(self):
        L = self.L
        dt = torch.exp(self.log_dt)[:, None, None]                        # (H, 1, 1)
        A = (-torch.exp(self.log_A_real) + 1j * self.A_imag)[:, :, None]  # (H, N2, 1)
        B, P, C = (torch.view_as_complex(t)[:, :, None] for t in (self.B, self.P, self.C))
        omega = torch.exp(-2j * math.pi * torch.arange(L // 2 + 1) / L)   # (L/2+1)
        z = 2.0 / dt * (1 - omega) / (1 + omega)                           # (H, 1, L/2+1)
        den = z - A                                                        # (H, N2, L/2+1)
        k00 = (C * B / den).sum(1)
        k01 = (C * P.conj() / den).sum(1)
        k10 = (P * B / den).sum(1)
        k11 = (P * P.conj() / den).sum(1)
        kf = 2.0 / (1 + omega) * (k00 - k01 * k10 / (1 + k11))
        return torch.fft.irfft(kf, n=L)                                    # (H, L)

    def forward(self, x):                          # (b, l, H)
        u = x.transpose(1, 2)
        L = u.shape[-1]
        k = self.kernel()[:, :L]
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        y = F.gelu(y + u * self.D[:, None])
        return F.glu(self.out(y), dim=-2).transpose(1, 2)


class S4DMixer(nn.Module):
    def __init__(self, H):
        super().__init__()
        self.s4d = S4D(H, d_state=64)

    def forward(self, x):
        return self.s4d(x.transpose(1, 2)).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, C, n_head=4):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.c_proj = nn.Linear(C, C, bias=False)

    def forward(self, x):
        b, L, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(b, L, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        mask = torch.ones(L, L, dtype=torch.bool).tril()
        att = F.softmax(att.masked_fill(~mask, float('-inf')), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, L, C)
        return self.c_proj(y)


def make_mixer(name, C, T):
    return {
        'rnn': lambda: RNNMixer(nn.RNN, C), 'lstm': lambda: RNNMixer(nn.LSTM, C), 'gru': lambda: RNNMixer(nn.GRU, C),
        'hippo': lambda: HippoMixer(C, 32, T), 's4': lambda: S4Block(C), 's4d': lambda: S4DMixer(C),
        'mamba': lambda: MambaRef(C), 'mamba_steps': lambda: MambaSteps(C), 'mamba2': lambda: Mamba2Ref(C), 'attention': lambda: Attention(C),
    }[name]()


class Seq(nn.Module):
    def __init__(self, mixer, C, n_layer, T, d_in=2, d_out=1):
        super().__init__()
        self.in_proj = nn.Linear(d_in, C)
        self.mixers = nn.ModuleList([make_mixer(mixer, C, T) for _ in range(n_layer)])
        self.norms = nn.ModuleList([RMSNorm(C) for _ in range(n_layer)])
        self.norm_f = RMSNorm(C)
        self.head = nn.Linear(C, d_out)

    def forward(self, x):
        h = self.in_proj(x)
        for n, m in zip(self.norms, self.mixers):
            h = h + m(n(h))
        return self.head(self.norm_f(h))


def adding_batch(B, T, g):
    """the adding problem: values U(0,1), two marked positions, target their sum at the end"""
    x = torch.zeros(B, T, 2)
    x[:, :, 0] = torch.rand(B, T, generator=g)
    for b in range(B):
        i = int(torch.randint(0, T // 2, (1,), generator=g))
        j = int(torch.randint(T // 2, T, (1,), generator=g))
        x[b, i, 1] = x[b, j, 1] = 1.0
    return x, (x[:, :, 0] * x[:, :, 1]).sum(1, keepdim=True)


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def main():
    name = sys.argv[1]
    a = [int(x) for x in sys.argv[2:]]
    B, T, C, L, th, reps, warm = (a + [32, 100, 32, 2, 1, 30, 5][len(a):])[:7]
    torch.set_num_threads(th)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    model = Seq(name, C, L, T)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    ts, cs, tf, tb, to = [], [], [], [], []
    for i in range(warm + reps):
        w0, c0 = time.perf_counter(), time.process_time()
        x, tgt = adding_batch(B, T, g)
        opt.zero_grad(set_to_none=False)
        y = model(x)
        loss = F.mse_loss(y[:, -1], tgt)
        w1 = time.perf_counter()
        loss.backward()
        w2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        w3, c3 = time.perf_counter(), time.process_time()
        if i >= warm:
            ts.append(w3 - w0); cs.append(c3 - c0); tf.append(w1 - w0); tb.append(w2 - w1); to.append(w3 - w2)
    print(f"torch,{name},adding:length={T},{B},{T},{params},{th},{1e3 * median(ts):.4f},{1e3 * median(cs):.4f},"
          f"{1e3 * median(tf):.4f},{1e3 * median(tb):.4f},{1e3 * median(to):.4f}", flush=True)


if __name__ == '__main__':
    main()
