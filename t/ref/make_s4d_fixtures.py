#!/usr/bin/python3
"""Regenerate t/data/s4d_* : a reference PyTorch S4D block with random weights, its
state_dict as safetensors, an input (B, T, H) and the output (B, T, H).

The module follows the equations of the minimal s4d.py of the state-spaces repository
(written here from those equations): kernel
    K = 2 Re( einsum('hn,hnl->hl', C * (exp(dt A) - 1) / A, exp(dt A * arange(L))) ),
    A = -exp(log_A_real) + i A_imag, dt = exp(log_dt);
    y = irfft(rfft(u, 2L) * rfft(K, 2L), 2L)[..., :L] + u * D
    y = Conv1d(H, 2H, 1)(GELU(y)) -> GLU(dim=-2)
The torch module works on (B, H, L); seqlab is batch-first (B, T, H), so the script
transposes. Run with Debian's python3 (python3-torch):  /usr/bin/python3 t/ref/make_s4d_fixtures.py
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

H, N, B, L = 8, 16, 2, 64
SPEC = "s4d:d_model=%d,d_state=%d" % (H, N)


class S4DKernel(nn.Module):
    def __init__(self, d_model, N=64, dt_min=0.001, dt_max=0.1):
        super().__init__()
        h = d_model
        log_dt = torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        C = torch.randn(h, N // 2, dtype=torch.cfloat)
        self.C = nn.Parameter(torch.view_as_real(C))
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(h, N // 2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2).float().repeat(h, 1))

    def forward(self, L):
        dt = torch.exp(self.log_dt)                       # (H)
        C = torch.view_as_complex(self.C)                 # (H, N/2)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt.unsqueeze(-1)
        P = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)   # (H, N/2, L)
        C = C * (torch.exp(dtA) - 1.0) / A
        return 2 * torch.einsum('hn,hnl->hl', C, torch.exp(P)).real


class S4D(nn.Module):
    def __init__(self, d_model, d_state=64):
        super().__init__()
        self.h = d_model
        self.D = nn.Parameter(torch.randn(self.h))
        self.kernel = S4DKernel(self.h, N=d_state)
        self.activation = nn.GELU()
        self.output_linear = nn.Sequential(nn.Conv1d(self.h, 2 * self.h, kernel_size=1), nn.GLU(dim=-2))

    def forward(self, u):                                 # (B, H, L)
        L = u.size(-1)
        k = self.kernel(L=L)
        k_f = torch.fft.rfft(k, n=2 * L)
        u_f = torch.fft.rfft(u, n=2 * L)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]
        y = y + u * self.D.unsqueeze(-1)
        y = self.activation(y)
        return self.output_linear(y)


def save_safetensors(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4'))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
    torch.manual_seed(20220601)
    m = S4D(H, d_state=N)
    with torch.no_grad():   # move away from the structured init so every tensor matters
        m.kernel.log_A_real.add_(0.3 * torch.randn(H, N // 2))
        m.kernel.A_imag.add_(0.5 * torch.randn(H, N // 2))
        m.kernel.log_dt.copy_(torch.empty(H).uniform_(math.log(0.01), math.log(0.2)))
    x = torch.randn(B, L, H)
    with torch.no_grad():
        y = m(x.transpose(1, 2)).transpose(1, 2).contiguous()
    save_safetensors(os.path.join(out, "s4d_weights.safetensors"), m.state_dict(), {"spec": SPEC})
    np.save(os.path.join(out, "s4d_input.npy"), x.numpy().astype('<f4'))
    np.save(os.path.join(out, "s4d_output.npy"), y.numpy().astype('<f4'))
    print("wrote", SPEC, "B=%d T=%d" % (B, L), "to", os.path.normpath(out), file=sys.stderr)


if __name__ == "__main__":
    main()
