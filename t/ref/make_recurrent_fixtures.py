#!/usr/bin/python3
"""Regenerate the PyTorch fixtures of the recurrent family (t/data/recurrent_*).

Run with Debian's python3-torch:  /usr/bin/python3 t/ref/make_recurrent_fixtures.py [OUTDIR]

For each case: a torch.nn.RNN / LSTM / GRU (batch_first=True) with seeded default init, its
state_dict as safetensors (float32, torch's names): recurrent_NAME.safetensors; the input
x (B, T, I) and the output y (torch's `output`, the last layer's h at every t) as .npy;
when the case has one, the initial state h0 (and c0 for LSTM) and the final state h_n (c_n) as
.npy; and the gradients of
the scalar loss
    L = sum_k y.flatten()[k] * cos(k)
in recurrent_NAME_grad.safetensors: every parameter's under its own name, and "x", "h0",
"c0" for the inputs'. t/t-recurrent.c loads the weights, runs sequence and step mode and
backward, and compares. Files are small on purpose (a few hundred KB in total).
"""
import json
import os
import struct
import sys

import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")

# name, module, kwargs, B, T, initial state
CASES = [
    ("rnn_tanh", "RNN", dict(input_size=5, hidden_size=7, num_layers=2), 3, 9, False),
    ("rnn_relu_bidir", "RNN", dict(input_size=5, hidden_size=7, num_layers=2, nonlinearity="relu", bidirectional=True), 3, 9, False),
    ("rnn_nobias", "RNN", dict(input_size=5, hidden_size=7, bias=False), 3, 9, False),
    ("rnn_relu_bidir_nobias", "RNN", dict(input_size=3, hidden_size=4, nonlinearity="relu", bidirectional=True, bias=False), 3, 6, False),
    ("rnn_h0", "RNN", dict(input_size=5, hidden_size=7, num_layers=2), 2, 8, True),
    ("lstm", "LSTM", dict(input_size=7, hidden_size=13, num_layers=2), 3, 11, False),
    ("lstm_bidir", "LSTM", dict(input_size=5, hidden_size=6, num_layers=2, bidirectional=True), 3, 9, False),
    ("lstm_nobias", "LSTM", dict(input_size=5, hidden_size=6, bias=False), 3, 9, False),
    ("lstm_h0", "LSTM", dict(input_size=5, hidden_size=6, num_layers=2), 2, 8, True),
    ("lstm_long", "LSTM", dict(input_size=3, hidden_size=8), 2, 512, False),
    ("gru", "GRU", dict(input_size=7, hidden_size=13, num_layers=2), 3, 11, False),
    ("gru_bidir", "GRU", dict(input_size=5, hidden_size=6, num_layers=2, bidirectional=True), 3, 9, False),
    ("gru_nobias", "GRU", dict(input_size=5, hidden_size=6, bias=False), 3, 9, False),
    ("gru_h0", "GRU", dict(input_size=5, hidden_size=6, num_layers=2, bidirectional=True), 2, 8, True),
    ("gru_long", "GRU", dict(input_size=3, hidden_size=8), 2, 512, False),
]


def save_safetensors(path, tensors):
    """Minimal safetensors writer: 8-byte header length, JSON header, raw little-endian data."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def npy(name, t):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, kind, kw, B, T, with_h0) in enumerate(CASES):
        torch.manual_seed(1000 + i)
        mod = getattr(torch.nn, kind)(batch_first=True, **kw).float()
        I, H = kw["input_size"], kw["hidden_size"]
        D = 2 if kw.get("bidirectional") else 1
        LD = kw.get("num_layers", 1) * D
        x = torch.randn(B, T, I, requires_grad=True)
        args = ()
        h0 = c0 = None
        if with_h0:
            h0 = (0.5 * torch.randn(LD, B, H)).requires_grad_(True)
            if kind == "LSTM":
                c0 = (0.5 * torch.randn(LD, B, H)).requires_grad_(True)
                args = ((h0, c0),)
            else:
                args = (h0,)
        y, state = mod(x, *args)
        w = torch.cos(torch.arange(y.numel(), dtype=torch.float64)).float().reshape(y.shape)
        (y * w).sum().backward()
        pre = "recurrent_" + name
        save_safetensors(os.path.join(OUT, pre + ".safetensors"),
                         {k: v.detach().numpy() for k, v in mod.state_dict().items()})
        npy(pre + "_x.npy", x)
        npy(pre + "_y.npy", y)
        grads = {pname: p.grad.numpy() for pname, p in mod.named_parameters()}
        grads["x"] = x.grad.numpy()
        if with_h0:
            npy(pre + "_h0.npy", h0)
            grads["h0"] = h0.grad.numpy()
            npy(pre + "_hn.npy", state[0] if kind == "LSTM" else state)
            if c0 is not None:
                npy(pre + "_c0.npy", c0)
                npy(pre + "_cn.npy", state[1])
                grads["c0"] = c0.grad.numpy()
        save_safetensors(os.path.join(OUT, pre + "_grad.safetensors"), grads)
        print(name, "B=%d T=%d" % (B, T), "params:", ", ".join(k for k, _ in mod.named_parameters()))


if __name__ == "__main__":
    main()
