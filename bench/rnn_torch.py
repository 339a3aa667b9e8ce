#!/usr/bin/python3
"""bench/rnn_torch.py — the PyTorch peer of bench/rnn_bench.c: torch.nn.RNN / LSTM / GRU
(batch_first=True, float32, CPU) forward and forward+backward, median of N repetitions.

    /usr/bin/python3 bench/rnn_torch.py [--threads 2] [--T 256] [--B 32] [--I 128] [--H 256] [--reps 5]

CSV on stdout, same columns as rnn_bench: impl,model,T,B,I,H,threads,fwd_ms,fwdbwd_ms,fwd_cpu_ms,
fwdbwd_cpu_ms (median wall time; least process CPU time, time.process_time, over the repetitions).
`fwd_ms` is a training-mode forward (autograd recording, as seqlab's forward always caches
for backward); a second row, impl torch_nograd, times the forward under torch.no_grad()."""
import argparse
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    for k, v in (("T", 256), ("B", 32), ("I", 128), ("H", 256), ("reps", 5)):
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--models", default="rnn,lstm,gru")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print("impl,model,T,B,I,H,threads,fwd_ms,fwdbwd_ms,fwd_cpu_ms,fwdbwd_cpu_ms")
    for name in a.models.split(","):
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
        mod = cls(a.I, a.H, batch_first=True)
        x = torch.randn(a.B, a.T, a.I, requires_grad=True)
        dy = torch.randn(a.B, a.T, a.H)
        y, _ = mod(x)                  # warm-up
        y.backward(dy)
        tf, tb, tn, cf, cb = [], [], [], [], []
        for _ in range(a.reps):
            c0, t0 = time.process_time(), time.perf_counter()
            y, _ = mod(x)
            t1, c1 = time.perf_counter(), time.process_time()
            del y
            mod.zero_grad()
            x.grad = None
            c2, t2 = time.process_time(), time.perf_counter()
            y, _ = mod(x)
            y.backward(dy)
            t3, c3 = time.perf_counter(), time.process_time()
            cf.append((c1 - c0) * 1e3)
            cb.append((c3 - c2) * 1e3)
            with torch.no_grad():
                t4 = time.perf_counter()
                mod(x)
                t5 = time.perf_counter()
            tf.append((t1 - t0) * 1e3)
            tb.append((t3 - t2) * 1e3)
            tn.append((t5 - t4) * 1e3)
        row = "%s,%s,%d,%d,%d,%d,%d,%.2f,%s"
        print(row % ("torch", name, a.T, a.B, a.I, a.H, a.threads, statistics.median(tf),
                     "%.2f,%.2f,%.2f" % (statistics.median(tb), min(cf), min(cb))))
        print(row % ("torch_nograd", name, a.T, a.B, a.I, a.H, a.threads, statistics.median(tn), ",,"))


if __name__ == "__main__":
    main()
