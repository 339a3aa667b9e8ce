#!/usr/bin/env python3
"""The PyTorch peer of `seqlab forward` in inference mode (bench/forward_bench.sh, issue #17
item 1): one process that loads an .npy input, runs one forward under torch.no_grad() and
saves the output, as `seqlab forward` does, so that whole processes can be timed.

  forward_torch.py lstm  X.npy Y.npy W.safetensors [--threads K] [--hidden H]
  forward_torch.py mamba X.npy Y.npy W.safetensors [--threads K]

lstm:  torch.nn.LSTM(input_size = X.shape[2], hidden_size = H (256), batch_first=True).
mamba: mamba_ssm's Mamba block (d_model = X.shape[2], d_state 16, d_conv 4, expand 2,
       dt_rank ceil(d_model / 16)) on its reference path: in_proj, the causal depthwise conv1d,
       SiLU, x_proj, dt_proj, the selective scan written as mamba_ssm's selective_scan_ref
       defines it (softplus(delta + bias); exp(delta A); a Python loop over the positions
       updating x = dA x + dB u and reading y = C x; + D u; times SiLU(z)), out_proj. Written
       here from those formulas; the parameters are mamba_ssm's names and shapes, initialised
       as mamba_ssm does (A_log = log(1..d_state), D = 1, dt bias from dt in [1e-3, 1e-1]).
The weights are written to W.safetensors (state_dict names; seqlab forward --weights reads
them; "-": not written) before the timed part, so the two outputs can be compared. Prints one line to stdout:
"forward_s=<seconds of the forward alone>".
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().contiguous().numpy().astype(np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def selective_scan_ref(u, delta, A, B, C, D, z, delta_bias):
    """u, delta, z (b, d, l); A (d, n); B, C (b, n, l); D, delta_bias (d)."""
    delta = F.softplus(delta + delta_bias[None, :, None])
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = dA[:, :, i] * x + dBu[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[None, :, None]
    return y * F.silu(z)


class MambaRef(torch.nn.Module):
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__()
        E, R = expand * d_model, math.ceil(d_model / 16)
        self.E, self.R, self.S, self.K = E, R, d_state, d_conv
        self.in_proj = torch.nn.Linear(d_model, 2 * E, bias=False)
        self.conv1d = torch.nn.Conv1d(E, E, d_conv, groups=E, padding=d_conv - 1, bias=True)
        self.x_proj = torch.nn.Linear(E, R + 2 * d_state, bias=False)
        self.dt_proj = torch.nn.Linear(R, E, bias=True)
        dt = torch.exp(torch.rand(E) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = torch.nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32).repeat(E, 1)))
        self.D = torch.nn.Parameter(torch.ones(E))
        self.out_proj = torch.nn.Linear(E, d_model, bias=False)

    def forward(self, h):  # (b, l, d_model)
        L = h.shape[1]
        xz = self.in_proj(h).transpose(1, 2)  # (b, 2E, l)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :L])
        dbl = self.x_proj(x.transpose(1, 2))  # (b, l, R + 2S)
        dt, B, C = torch.split(dbl, [self.R, self.S, self.S], dim=-1)
        dt = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (b, E, l), bias in the scan
        y = selective_scan_ref(x, dt, -torch.exp(self.A_log), B.transpose(1, 2), C.transpose(1, 2), self.D, z,
                               self.dt_proj.bias)
        return self.out_proj(y.transpose(1, 2))


def main():
    args = sys.argv[1:]
    threads, hidden = 1, 256
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        del args[i:i + 2]
    if "--hidden" in args:
        i = args.index("--hidden")
        hidden = int(args[i + 1])
        del args[i:i + 2]
    kind, xin, yout, wout = args
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.load(xin))
    if kind == "lstm":
        model = torch.nn.LSTM(x.shape[2], hidden, batch_first=True)
    else:
        model = MambaRef(x.shape[2])
    if wout != "-":   # "-": timed runs, nothing extra written
        save_safetensors(wout, {k: v for k, v in model.state_dict().items()})
    t0 = time.perf_counter()
    with torch.no_grad():
        y = model(x)
        if kind == "lstm":
            y = y[0]
    t = time.perf_counter() - t0
    np.save(yout, y.numpy())
    print("forward_s=%.4f" % t)


if __name__ == "__main__":
    main()
