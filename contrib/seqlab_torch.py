#!/usr/bin/python3
"""contrib/seqlab_torch.py — a seqlab run in PyTorch (docs/interop.md).

    seqlab export --run RUN --out w.safetensors                 # state_dict layout
    seqlab forward --model SPEC --weights w.safetensors --input tok.npy --output y.npy
    /usr/bin/python3 contrib/seqlab_torch.py w.safetensors tok.npy y.npy
    /usr/bin/python3 contrib/seqlab_torch.py --spec w.safetensors   # prints SPEC

Reads the safetensors file with the standard library and numpy only (load_safetensors), builds
the PyTorch module that the spec in its metadata describes (lm: or seq: around rnn, lstm or gru
mixers, or a bare rnn/lstm/gru), loads the weights with load_state_dict(strict=True), runs it on
the tokens (or real inputs) and compares its outputs with seqlab's. Exit status 0 when the
largest absolute difference is at most 1e-4.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64,
          "BF16": None}


def load_safetensors(path):
    """{name: numpy array}, {metadata} from a .safetensors file (stdlib + numpy)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in header.items():
        dt = DTYPES[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype=dt).reshape(t["shape"])
    return out, meta


def parse_spec(spec):
    """'lm:mixer=lstm,d_model=32' -> ('lm', {'mixer': 'lstm', 'd_model': '32'})"""
    name, _, rest = spec.partition(":")
    kv = dict(item.split("=", 1) for item in rest.split(",")) if rest else {}
    return name, kv


def build(spec):
    import torch
    import torch.nn as nn

    name, kv = parse_spec(spec)

    class RMSNorm(nn.Module):  # y = x / sqrt(mean(x^2) + eps) * weight (torch 1.13 has none)
        def __init__(self, d, eps):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def recurrent(kind, kv, input_size):
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        args = dict(input_size=input_size, hidden_size=int(kv.get("hidden_size", input_size)),
                    num_layers=int(kv.get("num_layers", 1)), bias=kv.get("bias", "1") in ("1", "true"),
                    batch_first=True, bidirectional=kv.get("bidirectional", "0") in ("1", "true"))
        if kind == "rnn":
            args["nonlinearity"] = kv.get("nonlinearity", "tanh")
        return cls(**args)

    class Mixer(nn.Module):  # the torch.nn recurrent module's output sequence alone
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    if name in ("rnn", "lstm", "gru"):
        m = Mixer(recurrent(name, kv, int(kv.get("input_size", 1))))
        return m, (lambda sd: {"rnn." + k: v for k, v in sd.items()}), False

    if name not in ("lm", "seq"):
        raise SystemExit(f"seqlab_torch.py: model '{name}' is not covered here (lm:, seq:, rnn, lstm, gru); "
                         "see docs/interop.md for the module it corresponds to")
    mixer = kv.get("mixer", "rnn")
    if mixer not in ("rnn", "lstm", "gru"):
        raise SystemExit(f"seqlab_torch.py: mixer '{mixer}' is not covered here (rnn, lstm, gru)")
    C, L = int(kv.get("d_model", 64)), int(kv.get("n_layer", 2))
    eps = float(kv.get("norm_eps", 1e-5))
    layer = kv.get("norm", "rmsnorm")
    mk = {k: v for k, v in kv.items() if k not in ("mixer", "d_model", "n_layer", "norm", "norm_eps", "vocab_size",
                                                    "tie_embeddings", "d_input", "d_output")}
    mk.setdefault("hidden_size", str(C))

    def norm():
        return RMSNorm(C, eps) if layer == "rmsnorm" else nn.LayerNorm(C, eps=eps)

    class Block(nn.Module):  # h + proj?(mixer(norm(h)))
        def __init__(self):
            super().__init__()
            self.norm = norm()
            self.mixer = recurrent(mixer, mk, C)
            out = self.mixer.hidden_size * (2 if self.mixer.bidirectional else 1)
            self.proj = nn.Linear(out, C, bias=False) if out != C else None

        def forward(self, h):
            y = self.mixer(self.norm(h))[0]
            return h + (self.proj(y) if self.proj is not None else y)

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            if name == "lm":
                self.embedding = nn.Embedding(int(kv.get("vocab_size", 256)), C)
            else:
                self.in_proj = nn.Linear(int(kv.get("d_input", 1)), C)
            self.layers = nn.ModuleList(Block() for _ in range(L))
            self.norm_f = norm()

    class Model(nn.Module):  # MambaLMHeadModel's layout around torch.nn recurrent mixers
        def __init__(self):
            super().__init__()
            self.backbone = Backbone()
            if name == "lm":
                V = int(kv.get("vocab_size", 256))
                self.lm_head = nn.Linear(C, V, bias=False)
                if kv.get("tie_embeddings", "1") in ("1", "true"):
                    self.lm_head.weight = self.backbone.embedding.weight
            else:
                self.head = nn.Linear(C, int(kv.get("d_output", 1)))

        def forward(self, x):
            bb = self.backbone
            h = bb.embedding(x) if name == "lm" else bb.in_proj(x)
            for blk in bb.layers:
                h = blk(h)
            h = bb.norm_f(h)
            return self.lm_head(h) if name == "lm" else self.head(h)

    return Model(), (lambda sd: sd), name == "lm"


def main(argv):
    if len(argv) == 3 and argv[1] == "--spec":   # the model spec in a file's metadata
        print(load_safetensors(argv[2])[1]["model"])
        return 0
    import torch
    if len(argv) != 4:
        raise SystemExit(__doc__)
    tensors, meta = load_safetensors(argv[1])
    model, rename, tokens = build(meta["model"])
    sd = {k: torch.from_numpy(v.copy()) for k, v in rename(tensors).items()}
    model.load_state_dict(sd, strict=True)
    x = np.load(argv[2])
    want = np.load(argv[3])
    with torch.no_grad():
        xt = torch.from_numpy(x.astype(np.int64)) if tokens else torch.from_numpy(x.astype(np.float32))
        got = model(xt).numpy()
    diff = float(np.abs(got - want).max())
    print(f"{meta['model']}: {len(sd)} tensors loaded with strict=True; max |torch - seqlab| = {diff:.3g}")
    return 0 if diff <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
