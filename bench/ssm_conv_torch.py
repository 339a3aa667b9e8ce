#!/usr/bin/python3
"""bench/ssm_conv_torch.py — the PyTorch peer of bench/ssm_conv_bench.c: the reference S4D
block of t/ref/make_s4d_fixtures.py (same equations as the minimal s4d.py: Vandermonde
kernel, rfft/irfft convolution at 2L, GELU, Conv1d, GLU) in eval mode, forward only, B = 1,
H = 32, N = 64, best of --reps, on --threads threads. CSV to stdout.
Run with Debian's python3:  /usr/bin/python3 bench/ssm_conv_torch.py --threads 2
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "ref"))
from make_s4d_fixtures import S4D  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--H", type=int, default=32)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--lmin", type=int, default=256)
    ap.add_argument("--lmax", type=int, default=16384)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = S4D(a.H, d_state=a.N).eval()
    print("L,B,H,N,threads,torch_s4d_seq_s,torch_kernel_s")
    L = a.lmin
    while L <= a.lmax:
        u = torch.randn(1, a.H, L)
        with torch.no_grad():
            m(u)
            best = best_k = float("inf")
            for _ in range(a.reps):
                t = time.perf_counter()
                m(u)
                best = min(best, time.perf_counter() - t)
                t = time.perf_counter()
                m.kernel(L=L)
                best_k = min(best_k, time.perf_counter() - t)
        print("%d,1,%d,%d,%d,%.6g,%.6g" % (L, a.H, a.N, a.threads, best, best_k), flush=True)
        L *= 2


if __name__ == "__main__":
    main()
