#!/usr/bin/python3
"""PyTorch peer of bench/attn_bench.c: causal attention forward and forward+backward time and
memory for one configuration per process.

Uses F.scaled_dot_product_attention(q, k, v, is_causal=True) when PyTorch has it (>= 2.0);
Debian's torch 1.13 has only its forerunner F._scaled_dot_product_attention (need_attn_weights
=False, is_causal=True), which on the CPU is the "math" path (materialised scores). The
"eager" mode is the textbook softmax(q k^T / sqrt(d) + mask) v, as nanoGPT's slow path.
usage: attn_torch.py --T 4096 [--B 1] [--H 4] [--D 64] [--reps 3] [--threads 2] [--mode sdpa|eager]
prints: pytorch,MODE,B,H,T,D,fwd_ms,fwdbwd_ms,peak_rss_mb,workspace_mb
"""
import argparse
import math
import resource
import time

import torch
import torch.nn.functional as F


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    for k, v in (("T", 1024), ("B", 1), ("H", 4), ("D", 64), ("reps", 3), ("threads", 2)):
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--mode", default="sdpa")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    shape = (a.B, a.H, a.T, a.D)
    q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))
    dout = torch.randn(shape)
    # touch the gradient buffers once (so they count in the baseline, as in attn_bench.c)
    for t in (q, k, v):
        t.grad = torch.zeros(shape)
    base = rss_mb()

    if a.mode == "sdpa":
        if hasattr(F, "scaled_dot_product_attention"):
            def attn(q, k, v):
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            def attn(q, k, v):
                return F._scaled_dot_product_attention(q, k, v, None, 0.0, False, True)[0]
    else:
        mask = torch.ones(a.T, a.T, dtype=torch.bool).tril()

        def attn(q, k, v):
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(a.D))
            s = s.masked_fill(~mask, float("-inf"))
            return F.softmax(s, dim=-1) @ v

    best_f = best_fb = 1e30
    for _ in range(a.reps):
        t0 = time.perf_counter()
        out = attn(q, k, v)
        t1 = time.perf_counter()
        out.backward(dout)
        t2 = time.perf_counter()
        best_f, best_fb = min(best_f, t1 - t0), min(best_fb, t2 - t0)
        del out
    peak = rss_mb()
    print("pytorch,%s,%d,%d,%d,%d,%.2f,%.2f,%.1f,%.1f" % (a.mode, a.B, a.H, a.T, a.D, 1e3 * best_f, 1e3 * best_fb, peak,
                                                         peak - base), flush=True)


if __name__ == "__main__":
    main()
