#!/usr/bin/python3
"""bench/scan_torch.py — the PyTorch CPU peer for bench/scan_bench.c.

A plain PyTorch implementation of mamba_ssm's reference selective scan (selective_scan_ref
semantics: dt = softplus(delta + bias), deltaA = exp(dt A), deltaB_u = dt B u, a Python loop
over time, y = C.x + D u, y *= silu(z)), and of the Mamba block (t/ref/make_mamba_fixtures.py),
timed forward and forward+backward with torch.set_num_threads(THREADS). CSV to stdout, same
columns as scan_bench (wall seconds and process CPU seconds).

Two peers for the scan:
  torch_ref    the reference as mamba_ssm writes it (deltaA and deltaB_u materialised as
               (b, l, d, n) tensors, then the loop). Its backward is slow: autograd turns every
               deltaA[:, t] into a full-size gradient tensor, so backward costs O(L^2 D N).
  torch_steps  the same equations with exp(dt A) and dt B u computed inside the loop, one
               step at a time (backward O(L D N)): the faster plain-PyTorch peer.
usage: scan_torch.py scan|block [B D|d_model L N threads reps]   (no warm-up run)
  SCAN_TORCH_FWD_REPS=K times the scan forwards K times (median) whatever reps says;
  SCAN_TORCH_NO_BACKWARD=1 skips the backward passes; torch_ref's backward (O(L^2 D N), tens of
  minutes at L = 2048) runs only with SCAN_TORCH_REF_BACKWARD=1.
"""
import os
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


def selective_scan_steps(u, delta, A, Bm, Cm, D, z, delta_bias):
    dt = F.softplus(delta + delta_bias)
    x = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        d = dt[:, t, :, None]
        x = torch.exp(d * A) * x + d * Bm[:, t, None, :] * u[:, t, :, None]
        ys.append(torch.einsum('bdn,bn->bd', x, Cm[:, t]))
    y = torch.stack(ys, dim=1) + u * D
    return y * F.silu(z)


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def timed(fn, args, reps, backward):
    ts, cs = [], []
    for i in range(reps):
        if backward:
            leaves = [t.clone().requires_grad_(True) for t in args]
            y = fn(*leaves)
            t0, c0 = time.perf_counter(), time.process_time()
            y.backward(torch.ones_like(y))
        else:
            with torch.no_grad():
                t0, c0 = time.perf_counter(), time.process_time()
                fn(*args)
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return median(ts), median(cs)


def row(name, p, B, D, L, N, th, t):
    sec, cpu = t
    print(f"{name},{p},{B},{D},{L},{N},{th},{sec:.6f},{B * D * L * N / sec:.4g},{cpu:.6f}", flush=True)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else 'scan'
    a = [int(x) for x in sys.argv[2:]]
    B, D, L, N, th, reps = (a + [1, 1536, 2048, 16, 2, 1][len(a):])[:6]
    torch.set_num_threads(th)
    torch.manual_seed(0)
    nobwd = bool(os.environ.get('SCAN_TORCH_NO_BACKWARD'))
    if what == 'block':
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 't', 'ref'))
        from make_mamba_fixtures import MambaRef
        m = MambaRef(D, d_state=N)
        x = torch.randn(B, L, D)
        row('torch_block', 'forward', B, 2 * D, L, N, th, timed(m, [x], reps, False))
        if not nobwd:
            ts, cs = [], []
            for i in range(reps):
                y = m(x.clone().requires_grad_(True))
                t0, c0 = time.perf_counter(), time.process_time()
                y.backward(torch.ones_like(y))
                ts.append(time.perf_counter() - t0)
                cs.append(time.process_time() - c0)
            row('torch_block', 'backward', B, 2 * D, L, N, th, (median(ts), median(cs)))
        return
    u, delta, z = torch.randn(B, L, D), torch.randn(B, L, D), torch.randn(B, L, D)
    Bm, Cm = torch.randn(B, L, N), torch.randn(B, L, N)
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(D, 1)
    Dv = torch.ones(D)
    bias = torch.empty(D).uniform_(-4, -2)
    args = [u, delta, A, Bm, Cm, Dv, z, bias]
    fwd_reps = int(os.environ.get('SCAN_TORCH_FWD_REPS', reps))
    for name, fn in (('torch_steps', selective_scan_steps), ('torch_ref', selective_scan)):
        row(name, 'forward', B, D, L, N, th, timed(fn, args, fwd_reps, False))
        if not nobwd and (name != 'torch_ref' or os.environ.get('SCAN_TORCH_REF_BACKWARD')):
            row(name, 'backward', B, D, L, N, th, timed(fn, args, reps, True))


if __name__ == '__main__':
    main()
