#!/usr/bin/python3
"""bench/scan_torch.py — the PyTorch CPU peer for bench/scan_bench.c.

A plain PyTorch implementation of mamba_ssm's reference selective scan (selective_scan_ref
semantics: dt = softplus(delta + bias), deltaA = exp(dt A), deltaB_u = dt B u, a Python loop
over time, y = C.x + D u, y *= silu(z)), and of the Mamba block (t/ref/make_mamba_fixtures.py),
timed forward and forward+backward with torch.set_num_threads(THREADS). CSV to stdout, same
columns as scan_bench.

usage: scan_torch.py [B D L N threads reps]   (no warm-up run: one rep takes minutes)
"""
import sys
import time

import torch
import torch.nn.functional as F


def selective_scan(u, delta, A, Bm, Cm, D, z, delta_bias):
    """u, delta, z: (b, l, d); A: (d, n); Bm, Cm: (b, l, n); D, delta_bias: (d)."""
    dt = F.softplus(delta + delta_bias)                      # (b, l, d)
    dA = torch.exp(torch.einsum('bld,dn->bldn', dt, A))       # (b, l, d, n)
    dBu = torch.einsum('bld,bln,bld->bldn', dt, Bm, u)        # (b, l, d, n)
    x = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        x = dA[:, t] * x + dBu[:, t]
        ys.append(torch.einsum('bdn,bn->bd', x, Cm[:, t]))
    y = torch.stack(ys, dim=1) + u * D
    return y * F.silu(z)


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    a = [int(x) for x in sys.argv[1:]]
    B, D, L, N, th, reps = (a + [1, 1536, 2048, 16, 2, 1][len(a):])[:6]
    torch.set_num_threads(th)
    torch.manual_seed(0)
    u = torch.randn(B, L, D)
    delta = torch.randn(B, L, D)
    z = torch.randn(B, L, D)
    Bm = torch.randn(B, L, N)
    Cm = torch.randn(B, L, N)
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(D, 1)
    Dv = torch.ones(D)
    bias = torch.empty(D).uniform_(-4, -2)
    upd = B * D * L * N
    tf, tb = [], []
    for i in range(reps):
        args = [t.clone().requires_grad_(True) for t in (u, delta, A, Bm, Cm, Dv, z, bias)]
        t0 = time.perf_counter()
        y = selective_scan(*args)
        t1 = time.perf_counter()
        y.backward(torch.ones_like(y))
        t2 = time.perf_counter()
        if True:
            tf.append(t1 - t0)
            tb.append(t2 - t1)
    mf, mb = median(tf), median(tb)
    print(f"torch_ref,forward,{B},{D},{L},{N},{th},{mf:.6f},{upd / mf:.4g}")
    print(f"torch_ref,backward,{B},{D},{L},{N},{th},{mb:.6f},{upd / mb:.4g}")


if __name__ == '__main__':
    main()
