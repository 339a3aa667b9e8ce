#!/usr/bin/python3
"""bench/conv_torch.py — PyTorch CPU peers of bench/conv_bench.c: the same equations as seqlab's
based, h3 and hyena mixers (the reference modules of t/ref/make_conv_fixtures.py, in float32),
forward and forward+backward (autograd), B=8, T=2048, d_model=256 by default.

Forms: h3 and hyena are the fixture modules (FFT convolutions of length 2T; H3's shift kernel
by FFT as zoology computes it, where the fixture sums it directly, and its Vandermonde kernel
in real arithmetic). Based's
"efficient" peer is written here in chunked form (chunks of 64: the kernel on each chunk's
scores, the state sum phi(k) v^T carried across chunks by a cumulative sum) with the window
attention on blocks of W queries against the 2W keys of their block and the one before; its
"naive" peer is the fixture module (the quadratic T x T form and a fully masked window softmax).

CSV to stdout: impl,mixer,form,pass,B,T,d_model,threads,reps,seconds (best of reps).
Run: /usr/bin/python3 bench/conv_torch.py [--threads 2] [--reps 3] [--naive 0|1]
"""
import argparse
import importlib.util
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('conv_ref', os.path.join(HERE, '..', 't', 'ref', 'make_conv_fixtures.py'))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)
torch.set_default_dtype(torch.float32)   # the fixture script works in float64


class BasedChunked(ref.BasedRef):
    """BasedRef's parameters and equations, chunked linear attention and block-banded window"""
    chunk = 64

    def linear_attention(self, q, k, v):
        B, H, T, F = q.shape
        L = self.chunk
        n = T // L
        q, k, v = q.view(B, H, n, L, F), k.view(B, H, n, L, F), v.view(B, H, n, L, -1)
        s = q @ k.transpose(-1, -2) / math.sqrt(F)
        A = torch.tril(1 + s + s * s / 2)                                   # kernel inside the chunk
        pq, pk = self.phi(q), self.phi(k)                                   # (B, H, n, L, D)
        kv = pk.transpose(-1, -2) @ v                                       # (B, H, n, D, Dv)
        S = torch.cumsum(kv, 2) - kv                                        # states before each chunk
        zk = pk.sum(-2)
        z = torch.cumsum(zk, 2) - zk
        num = A @ v + pq @ S
        den = A.sum(-1) + (pq * z.unsqueeze(-2)).sum(-1) + self.eps
        return (num / den.unsqueeze(-1)).view(B, H, T, -1)

    def window(self, x):
        wa = self.window_attn
        B, T, C = x.shape
        W = wa.window
        q, k, v = wa.Wqkv(x).split(C, dim=-1)
        nb = T // W
        qb = q.view(B, nb, W, C)
        pad = lambda t: torch.cat([torch.zeros(B, 1, W, C), t.view(B, nb, W, C)], 1)
        kb, vb = pad(k), pad(v)
        kk = torch.cat([kb[:, :-1], kb[:, 1:]], 2)                           # (B, nb, 2W, C)
        vv = torch.cat([vb[:, :-1], vb[:, 1:]], 2)
        s = qb @ kk.transpose(-1, -2) / math.sqrt(C)                         # (B, nb, W, 2W)
        i = torch.arange(W)[:, None] + W
        j = torch.arange(2 * W)[None, :]
        keep = (j <= i) & (j > i - W)
        first = torch.zeros(nb, 1, 2 * W, dtype=torch.bool)
        first[0, 0, :W] = True                                               # no block before the first
        s = s.masked_fill(~keep | first, float('-inf'))
        return wa.out_proj((torch.softmax(s, -1) @ vv).view(B, T, C))

    def forward(self, x):
        B, T, C = x.shape
        q = self.proj_q(x).view(B, T, self.H, self.F).transpose(1, 2)
        k = self.proj_k(x).view(B, T, self.H, self.F).transpose(1, 2)
        v = self.proj_v(x).view(B, T, self.H, C // self.H).transpose(1, 2)
        y = self.proj_o(self.linear_attention(q, k, v).transpose(1, 2).reshape(B, T, C))
        return y + self.window(x)


class H3Fast(ref.H3Ref):
    """H3Ref with the shift kernel as zoology computes it, irfft(conj(rfft(B)) rfft(C))[:N] padded,
    and the Vandermonde kernel in real arithmetic (torch's complex exp and products on the
    (H, N/2, T) array took seconds): 2 exp(l a) (Re Cb cos(l b) - Im Cb sin(l b)), log Ab = a + i b"""
    def diag_kernel(self, T):
        Cb, logz = self.diag_terms()
        l = torch.arange(T, dtype=torch.float32)
        a, b = logz.real[..., None] * l, logz.imag[..., None] * l
        return 2 * (torch.exp(a) * (Cb.real[..., None] * torch.cos(b) - Cb.imag[..., None] * torch.sin(b))).sum(1)

    def shift_kernel(self, T):
        sk, N = self.ssm_k_kernel.kernel, self.N
        k = torch.fft.irfft(torch.fft.rfft(sk.B, n=2 * N).conj() * torch.fft.rfft(sk.C[0], n=2 * N), n=2 * N)[..., :min(N, T)]
        return torch.nn.functional.pad(k, (0, T - k.shape[-1]))


def init_h3(m, g):
    """seqlab's (and zoology's) H3 initialisation: nn.Linear kept, S4D-Lin A = -1/2 + i pi n, B = 1,
    C complex normal, log dt in [log 0.001, log 0.1], shift B = e_1, C_s, D, ssm_k_D random"""
    with torch.no_grad():
        kk, N2 = m.kernel.kernel, m.N // 2
        kk.log_dt.copy_(torch.empty(kk.log_dt.shape).uniform_(math.log(1e-3), math.log(0.1), generator=g))
        kk.inv_A_real.fill_(math.log(0.5))
        kk.A_imag.copy_(math.pi * torch.arange(N2, dtype=torch.float32).expand_as(kk.A_imag))
        kk.B.zero_()
        kk.B[..., 0] = 1
        kk.C.normal_(0, math.sqrt(0.5), generator=g)
        sk = m.ssm_k_kernel.kernel
        sk.B.zero_()
        sk.B[:, 0] = 1
        sk.C.uniform_(-1 / math.sqrt(m.N), 1 / math.sqrt(m.N), generator=g)
        m.ssm_k_D.normal_(generator=g)
        m.D.normal_(generator=g)


def bench(m, x, bwd, reps):
    best = math.inf
    for r in range(reps + 1):            # the first run warms up
        m.zero_grad(set_to_none=True)
        xx = x.detach().requires_grad_(bool(bwd))
        t = time.perf_counter()
        y = m(xx)
        if bwd:
            y.backward(torch.ones_like(y))
        dt = time.perf_counter() - t
        if r:
            best = min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--naive', type=int, default=0)
    ap.add_argument('--B', type=int, default=8)
    ap.add_argument('--T', type=int, default=2048)
    ap.add_argument('--d_model', type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)   # the decaying SSM kernels reach float32's denormals
    torch.manual_seed(0)
    B, T, C = a.B, a.T, a.d_model
    x = torch.randn(B, T, C)
    print('impl,mixer,form,pass,B,T,d_model,threads,reps,seconds')
    rows = [('based', 'efficient', lambda: BasedChunked(C, 16, 1, 64)),
            ('based', 'naive', lambda: ref.BasedRef(C, 16, 1, 64)),
            ('h3', 'efficient', lambda: H3Fast(C, 64, 1)),
            ('hyena', 'efficient', lambda: ref.HyenaRef(C, T, 64))]
    for name, form, make in rows:
        if form == 'naive' and not a.naive:
            continue
        m = make()
        if name == 'h3':
            init_h3(m, torch.Generator().manual_seed(1))
        for bwd in (0, 1):
            reps = a.reps if form == 'efficient' else 1
            s = bench(m, x, bwd, reps)
            print(f'torch,{name},{form},{"fwd+bwd" if bwd else "fwd"},{B},{T},{C},{a.threads},{reps},{s:.6g}', flush=True)
        print(f'conv_torch: {name} {form} done', file=sys.stderr)


if __name__ == '__main__':
    main()
