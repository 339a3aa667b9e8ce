#!/usr/bin/python3
"""Fixtures for t/t-hf.c and t/hf-ckpt.sh: small GPT-2 and Llama checkpoints in the Hugging Face
layout (config.json + model.safetensors, or a sharded model.safetensors.index.json) with random
weights, fixed token ids, and the logits that transformers' GPT2LMHeadModel / LlamaForCausalLM
compute on them.

transformers is not installed here, so the two forward passes below are written from its
modeling code (modeling_gpt2.py, modeling_llama.py) in plain torch, float32, eager attention:

GPT-2:  h = wte[ids] + wpe[pos]; per block: h += c_proj(attn(ln_1(h))), h += mlp(ln_2(h)) with
        Conv1D layers (y = x @ W + b, W stored (in, out)), scores / sqrt(head_dim), causal mask,
        softmax; mlp = c_proj(act(c_fc(x))), act gelu_new (the tanh form) or gelu (erf);
        logits = ln_f(h) @ lm_head^T (lm_head = wte when tied).
Llama:  h = embed_tokens[ids]; per layer: h += o_proj(attn(rmsnorm(h))), h += down(silu(gate(x)) *
        up(x)) at x = rmsnorm(h); RoPE as HF applies it: inv_freq = 1 / theta^(arange(0, hd, 2) /
        hd), cos/sin of cat(freqs, freqs), q*cos + rotate_half(q)*sin with rotate_half(x) =
        cat(-x2, x1); GQA by repeat_kv (kv head j serves query heads j*n_rep .. (j+1)*n_rep - 1);
        rmsnorm(x) = weight * x * rsqrt(mean(x^2) + eps); logits = lm_head(norm(h)).

The Llama weights are random in HF's layout (q_proj/k_proj rows already in HF's permuted order).
As a check of that convention, the script also runs Meta's interleaved RoPE (pairs (2j, 2j+1)) on
the rows un-permuted as convert_llama_weights_to_hf.py's permute() defines them (HF row
h*hd + s*hd/2 + j = Meta row h*hd + 2j + s) and asserts the logits agree.

Run with Debian's python3 (python3-torch):  /usr/bin/python3 t/ref/make_hf_ckpt_fixtures.py
Writes t/data/hf-ckpt/{gpt2_tied,gpt2_untied,llama_gqa,llama_tied}/ and tokens.npy (2, 12),
NAME_logits.npy, prompt_ids.txt (the first row) and NAME_greedy.txt (the 8 greedy tokens that
follow it).

--check DIR TOKENS.npy LOGITS.npy: load a checkpoint directory (e.g. one `seqlab export --format
hf` wrote), run the forward above and print the max |difference| from LOGITS (exit 1 above 1e-4).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "hf-ckpt")

# ---- safetensors ------------------------------------------------------------------------------


def write_safetensors(path, tensors):
    """{name: float32 array} in order, metadata {"format": "pt"} as save_pretrained writes."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    dt = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt[t["dtype"]]).reshape(t["shape"]).astype(np.float32)
    return out


def read_checkpoint(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    if os.path.exists(os.path.join(d, "model.safetensors")):
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    else:
        idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
        w = {}
        for f in sorted(set(idx["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, f)))
    return cfg, {k: torch.from_numpy(v.copy()) for k, v in w.items()}


# ---- GPT-2 (modeling_gpt2.py) -------------------------------------------------------------------


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(cfg, w, ids):
    pre = "transformer." if "transformer.wte.weight" in w else ""
    W = lambda n: w[pre + n]
    C, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = gelu_new if cfg.get("activation_function", "gelu_new") == "gelu_new" else torch.nn.functional.gelu
    B, T = ids.shape
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), W(p + ".weight"), W(p + ".bias"), eps)
    conv1d = lambda x, p: x @ W(p + ".weight") + W(p + ".bias")  # Conv1D: weight (in, out)
    h = W("wte.weight")[ids] + W("wpe.weight")[torch.arange(T)]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layer"]):
        p = "h.%d." % l
        q, k, v = conv1d(ln(h, p + "ln_1"), p + "attn.c_attn").split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = q @ k.transpose(-1, -2) / (v.size(-1) ** 0.5)
        att = torch.where(mask, att, torch.tensor(torch.finfo(att.dtype).min))
        y = (torch.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        h = h + conv1d(y, p + "attn.c_proj")
        h = h + conv1d(act(conv1d(ln(h, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    h = ln(h, "ln_f")
    head = w["lm_head.weight"] if "lm_head.weight" in w else W("wte.weight")
    return h @ head.T


# ---- Llama (modeling_llama.py) ------------------------------------------------------------------


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_interleaved(x, cos, sin):
    """Meta's RoPE: pairs (2j, 2j+1) rotated by angle j (cos, sin: (T, hd/2))."""
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


def llama_forward(cfg, w, ids, meta=False):
    """meta=False: HF's computation on HF's weights. meta=True: Meta's interleaved RoPE on the
    q/k rows un-permuted (the self-check of the permutation convention)."""
    pre = "model." if "model.embed_tokens.weight" in w else ""
    W = lambda n: w[pre + n]
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    hd, eps, theta = C // H, cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)
    B, T = ids.shape
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = (inv_freq[None, :, None] @ torch.arange(T)[None, None, :].float()).transpose(1, 2)[0]  # (T, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def rms(x, p):
        v = x.pow(2).mean(-1, keepdim=True)
        return W(p + ".weight") * (x * torch.rsqrt(v + eps))

    def unpermute(m, nh):  # HF rows -> Meta rows
        return m.view(nh, 2, hd // 2, C).transpose(1, 2).reshape(nh * hd, C)

    h = W("embed_tokens.weight")[ids]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["num_hidden_layers"]):
        p = "layers.%d." % l
        x = rms(h, p + "input_layernorm")
        wq, wk = W(p + "self_attn.q_proj.weight"), W(p + "self_attn.k_proj.weight")
        if meta:
            wq, wk = unpermute(wq, H), unpermute(wk, Hkv)
        q = (x @ wq.T).view(B, T, H, hd).transpose(1, 2)
        k = (x @ wk.T).view(B, T, Hkv, hd).transpose(1, 2)
        v = (x @ W(p + "self_attn.v_proj.weight").T).view(B, T, Hkv, hd).transpose(1, 2)
        if meta:
            q, k = rope_interleaved(q, cos[:, : hd // 2], sin[:, : hd // 2]), rope_interleaved(k, cos[:, : hd // 2], sin[:, : hd // 2])
        else:
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = H // Hkv  # repeat_kv
        k = k[:, :, None].expand(B, Hkv, rep, T, hd).reshape(B, H, T, hd)
        v = v[:, :, None].expand(B, Hkv, rep, T, hd).reshape(B, H, T, hd)
        att = (q @ k.transpose(2, 3)) * hd ** -0.5
        att = att + torch.where(mask, 0.0, torch.finfo(att.dtype).min)
        y = (torch.softmax(att, dim=-1, dtype=torch.float32) @ v).transpose(1, 2).reshape(B, T, C)
        h = h + y @ W(p + "self_attn.o_proj.weight").T
        x = rms(h, p + "post_attention_layernorm")
        g = torch.nn.functional.silu(x @ W(p + "mlp.gate_proj.weight").T) * (x @ W(p + "mlp.up_proj.weight").T)
        h = h + g @ W(p + "mlp.down_proj.weight").T
    h = rms(h, "norm")
    head = w["lm_head.weight"] if "lm_head.weight" in w else W("embed_tokens.weight")
    return h @ head.T


def forward(cfg, w, ids):
    return gpt2_forward(cfg, w, ids) if cfg["model_type"] == "gpt2" else llama_forward(cfg, w, ids)


def greedy(cfg, w, prompt, n):
    """transformers' generate(do_sample=False): the whole sequence again for each token. Each
    choice must win by 1e-3, so float rounding cannot change it in another implementation."""
    ids = list(prompt)
    for _ in range(n):
        top = forward(cfg, w, torch.tensor([ids]))[0, -1].topk(2)
        assert float(top.values[0] - top.values[1]) > 1e-3, "greedy choice too close to call"
        ids.append(int(top.indices[0]))
    return np.array(ids[len(prompt):], dtype=np.int32)


# ---- the fixtures -------------------------------------------------------------------------------


def rnd(*shape, sd=0.2):
    return torch.randn(*shape) * sd


def gpt2_weights(cfg, bare, buffers):
    C, V, L, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_layer"], cfg["n_positions"]
    F = cfg.get("n_inner") or 4 * C
    pre = "" if bare else "transformer."
    w = {pre + "wte.weight": rnd(V, C), pre + "wpe.weight": rnd(P, C)}
    for l in range(L):
        p = pre + "h.%d." % l
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = 1 + rnd(C), rnd(C)
        if buffers:  # as the hub's gpt2 file has them: not weights
            w[p + "attn.bias"] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
            w[p + "attn.masked_bias"] = torch.tensor(-1e4)
        w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"] = rnd(C, 3 * C), rnd(3 * C)
        w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"] = rnd(C, C), rnd(C)
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = 1 + rnd(C), rnd(C)
        w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"] = rnd(C, F), rnd(F)
        w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"] = rnd(F, C), rnd(C)
    w[pre + "ln_f.weight"], w[pre + "ln_f.bias"] = 1 + rnd(C), rnd(C)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(V, C)
    return w


def llama_weights(cfg):
    C, V, L, F = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    kv = Hkv * (C // H)
    w = {"model.embed_tokens.weight": rnd(V, C)}
    for l in range(L):
        p = "model.layers.%d." % l
        w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"] = rnd(C, C), rnd(kv, C)
        w[p + "self_attn.v_proj.weight"], w[p + "self_attn.o_proj.weight"] = rnd(kv, C), rnd(C, C)
        w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"] = rnd(F, C), rnd(F, C)
        w[p + "mlp.down_proj.weight"] = rnd(C, F)
        w[p + "input_layernorm.weight"], w[p + "post_attention_layernorm.weight"] = 1 + rnd(C), 1 + rnd(C)
    w["model.norm.weight"] = 1 + rnd(C)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(V, C)
    return w


def save(name, cfg, w, shards=1):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    names = list(w)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), {k: w[k].numpy() for k in names})
        return
    per = (len(names) + shards - 1) // shards
    wmap = {}
    for s in range(shards):
        fn = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
        part = names[s * per:(s + 1) * per]
        write_safetensors(os.path.join(d, fn), {k: w[k].numpy() for k in part})
        wmap.update({k: fn for k in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(4 * w[k].numel() for k in names)}, "weight_map": wmap}, f, indent=2)
        f.write("\n")


def make(name, cfg, w, ids, shards=1):
    save(name, cfg, w, shards)
    cfg2, w2 = read_checkpoint(os.path.join(OUT, name))  # what the files hold
    with torch.no_grad():
        logits = forward(cfg2, w2, ids)
        if cfg2["model_type"] == "llama":
            meta = llama_forward(cfg2, w2, ids, meta=True)
            err = (meta - logits).abs().max().item()
            assert err < 1e-5, "HF rotate_half on permuted rows != Meta interleaved RoPE: %g" % err
            print("%s: HF RoPE vs Meta RoPE on un-permuted rows: max |diff| %.2e" % (name, err))
        np.save(os.path.join(OUT, name + "_logits.npy"), logits.numpy().astype(np.float32))
        with open(os.path.join(OUT, name + "_greedy.txt"), "w") as f:  # as seqlab generate --prompt-ids prints them
            f.write(" ".join(str(t) for t in greedy(cfg2, w2, ids[0].tolist(), 8)) + "\n")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--check":
        cfg, w = read_checkpoint(sys.argv[2])
        ids = torch.from_numpy(np.load(sys.argv[3]).astype(np.int64))
        with torch.no_grad():
            err = float(np.abs(forward(cfg, w, ids).numpy() - np.load(sys.argv[4])).max())
        print("max |torch - seqlab| = %.3g" % err)
        return 0 if err <= 1e-4 else 1
    torch.manual_seed(2026)
    os.makedirs(OUT, exist_ok=True)
    ids = torch.from_numpy(np.random.default_rng(11).integers(0, 40, size=(2, 12)))
    np.save(os.path.join(OUT, "tokens.npy"), ids.numpy().astype(np.int32))
    with open(os.path.join(OUT, "prompt_ids.txt"), "w") as f:  # the first row, for --prompt-ids
        f.write(",".join(str(int(t)) for t in ids[0]) + "\n")
    gpt = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=48, n_positions=24, n_ctx=24, n_embd=16,
               n_layer=2, n_head=2, n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5,
               tie_word_embeddings=True, scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False)
    # the hub's gpt2 file: GPT2Model names (no "transformer."), the mask buffers, tied head absent
    make("gpt2_tied", gpt, gpt2_weights(gpt, bare=True, buffers=True), ids)
    gpt = dict(gpt, n_layer=1, n_head=4, n_inner=24, activation_function="gelu", tie_word_embeddings=False)
    make("gpt2_untied", gpt, gpt2_weights(gpt, bare=False, buffers=False), ids)
    llama = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=56, hidden_size=32,
                 intermediate_size=40, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 hidden_act="silu", max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=10000.0,
                 rope_scaling=None, attention_bias=False, mlp_bias=False, tie_word_embeddings=False)
    make("llama_gqa", llama, llama_weights(llama), ids, shards=2)  # GQA, untied head, two shards
    llama = dict(llama, hidden_size=16, intermediate_size=24, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=2, rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True)
    make("llama_tied", llama, llama_weights(llama), ids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
