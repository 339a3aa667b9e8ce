#!/usr/bin/python3
"""t/ref/make_mamba_fixtures.py — PyTorch fixtures for t/t-mamba.c, t/t-ssd.c, t/mamba-forward.sh.

Reference modules written from the equations of mamba_ssm (state-spaces/mamba):
  MambaRef   = mamba_ssm.modules.mamba_simple.Mamba, forward slow path, with the selective scan of
               selective_scan_ref (dt = softplus(delta + dt_proj.bias), deltaA = exp(dt A),
               deltaB_u = dt B u, y = C.x + D u, y *= silu(z));
  Mamba2Ref  = mamba_ssm.modules.mamba2.Mamba2 without the fused kernels: in_proj -> (z, xBC, dt),
               depthwise causal conv1d + SiLU over xBC, SSD (the chunked "minimal SSD" algorithm),
               RMSNormGated(norm_before_gate=False), out_proj.
Parameter names and shapes are mamba_ssm's, so the saved state_dicts load by name.
Weights are random (not the init) so every term is exercised.

Writes into t/data/ (small):
  mamba_weights.safetensors, mamba_x.npy (B,T,d_model), mamba_y.npy, mamba_dy.npy,
  mamba_grads.safetensors (d sum(y*dy) / d param, plus "input" = d/dx)
  mamba2_* and mamba16_* (d_state 16) likewise; mambalm_weights.safetensors, mambalm_tok.npy (B,T) int64, mambalm_y.npy logits
  (MambaLMHeadModel layout with a tied head).
Run: /usr/bin/python3 t/ref/make_mamba_fixtures.py   (from the top of the tree)
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def save_safetensors(path, tensors):
    """minimal safetensors writer: F32 tensors in the given order, header padded to 8 bytes"""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4'))
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def selective_scan(u, delta, A, B, C, D, z, delta_bias):
    """u, delta, z (b, d, l); A (d, n); B, C (b, n, l); D, delta_bias (d) — selective_scan_ref"""
    delta = F.softplus(delta + delta_bias[..., None])
    dA = torch.exp(torch.einsum('bdl,dn->bdln', delta, A))
    dBu = torch.einsum('bdl,bnl,bdl->bdln', delta, B, u)
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = dA[:, :, i] * x + dBu[:, :, i]
        ys.append(torch.einsum('bdn,bn->bd', x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * F.silu(z)


class MambaRef(nn.Module):
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank='auto'):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == 'auto' else dt_rank
        E = self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * E, bias=False)
        self.conv1d = nn.Conv1d(E, E, d_conv, groups=E, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(E, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, E, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(E, 1))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d_model, bias=False)

    def forward(self, h):                       # h (b, l, d_model)
        L = h.shape[1]
        xz = self.in_proj(h).transpose(1, 2)    # (b, 2E, l)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :L])
        x_dbl = self.x_proj(x.transpose(1, 2))  # (b, l, R + 2N)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ self.dt_proj.weight.t()).transpose(1, 2)   # (b, E, l), bias goes to the scan
        A = -torch.exp(self.A_log)
        y = selective_scan(x, dt, A, B.transpose(1, 2), C.transpose(1, 2), self.D, z, self.dt_proj.bias)
        return self.out_proj(y.transpose(1, 2))


def segsum(x):
    """x (..., T) -> (..., T, T) with out[i, j] = sum_{j < k <= i} x[k] for j <= i, -inf above"""
    T = x.shape[-1]
    xc = torch.cumsum(x, dim=-1)
    out = xc[..., :, None] - xc[..., None, :]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return out.masked_fill(~mask, -torch.inf)


def ssd_chunked(X, A, B, C, Q):
    """minimal SSD: X (b, l, h, p) already multiplied by dt; A (b, l, h) = dt * A_h;
    B, C (b, l, h, n); l a multiple of Q. Returns y (b, l, h, p)."""
    b, l, h, p = X.shape
    c = l // Q
    X, B, C = (t.reshape(b, c, Q, *t.shape[2:]) for t in (X, B, C))
    A = A.reshape(b, c, Q, h).permute(0, 3, 1, 2)                   # (b, h, c, Q)
    Acs = torch.cumsum(A, dim=-1)
    Lm = torch.exp(segsum(A))                                       # (b, h, c, Q, Q)
    Y_diag = torch.einsum('bclhn,bcshn,bhcls,bcshp->bclhp', C, B, Lm, X)
    decay = torch.exp(Acs[..., -1:] - Acs)                          # (b, h, c, Q)
    states = torch.einsum('bclhn,bhcl,bclhp->bchpn', B, decay, X)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    chunk_decay = torch.exp(segsum(F.pad(Acs[..., -1], (1, 0))))    # (b, h, c+1, c+1)
    new_states = torch.einsum('bhzc,bchpn->bzhpn', chunk_decay, states)
    states = new_states[:, :-1]
    Y_off = torch.einsum('bclhn,bchpn,bhcl->bclhp', C, states, torch.exp(Acs))
    return (Y_diag + Y_off).reshape(b, l, h, p)


class Mamba2Ref(nn.Module):
    def __init__(self, d_model, d_state=64, d_conv=4, expand=2, headdim=64, ngroups=1, chunk_size=256):
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.headdim = d_model, d_state, d_conv, headdim
        self.ngroups, self.chunk_size = ngroups, chunk_size
        self.d_inner = expand * d_model
        self.nheads = self.d_inner // headdim
        E, G, N, H = self.d_inner, ngroups, d_state, self.nheads
        self.in_proj = nn.Linear(d_model, 2 * E + 2 * G * N + H, bias=False)
        conv_dim = E + 2 * G * N
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, d_conv, groups=conv_dim, padding=d_conv - 1, bias=True)
        self.dt_bias = nn.Parameter(torch.zeros(H))
        self.A_log = nn.Parameter(torch.log(torch.empty(H).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(H))
        self.norm = nn.Module()
        self.norm.weight = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d_model, bias=False)

    def forward(self, u):                       # u (b, l, d_model)
        b, L, _ = u.shape
        E, G, N, H, P = self.d_inner, self.ngroups, self.d_state, self.nheads, self.headdim
        zxbcdt = self.in_proj(u)
        z, xBC, dt = torch.split(zxbcdt, [E, E + 2 * G * N, H], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :L].transpose(1, 2))
        x, B, C = torch.split(xBC, [E, G * N, G * N], dim=-1)
        dt = F.softplus(dt + self.dt_bias)      # (b, l, h)
        A = -torch.exp(self.A_log)
        x = x.reshape(b, L, H, P)
        B = B.reshape(b, L, G, N).repeat_interleave(H // G, dim=2)
        C = C.reshape(b, L, G, N).repeat_interleave(H // G, dim=2)
        Q = self.chunk_size
        pad = (Q - L % Q) % Q
        padt = lambda t: F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
        y = ssd_chunked(padt(x * dt[..., None]), padt(dt * A), padt(B), padt(C), Q)[:, :L]
        y = y + x * self.D[:, None]
        y = y.reshape(b, L, E)
        # RMSNormGated, norm_before_gate=False, group_size = E / G
        yg = y * F.silu(z)
        yg = yg.reshape(b, L, G, E // G)
        yg = yg * torch.rsqrt(yg.pow(2).mean(-1, keepdim=True) + 1e-5)
        y = yg.reshape(b, L, E) * self.norm.weight
        return self.out_proj(y)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    """mamba_ssm Block with fused_add_norm off: residual += mixer(norm(residual))"""
    def __init__(self, d_model, mixer):
        super().__init__()
        self.mixer = mixer
        self.norm = RMSNorm(d_model)


class Backbone(nn.Module):
    def __init__(self, d_model, n_layer, vocab_size, **mixer_kw):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.layers = nn.ModuleList([Block(d_model, MambaRef(d_model, **mixer_kw)) for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model)


class MambaLMRef(nn.Module):
    """MambaLMHeadModel layout: backbone.{embedding, layers.i.{norm, mixer}, norm_f}, tied lm_head"""
    def __init__(self, d_model, n_layer, vocab_size, **mixer_kw):
        super().__init__()
        self.backbone = Backbone(d_model, n_layer, vocab_size, **mixer_kw)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.backbone.embedding.weight

    def forward(self, tok):
        h = self.backbone.embedding(tok)
        for blk in self.backbone.layers:
            h = h + blk.mixer(blk.norm(h))
        return self.lm_head(self.backbone.norm_f(h))


def randomize(m, g):
    with torch.no_grad():
        for name, p in m.named_parameters():
            last = name.split('.')[-1]
            if last == 'A_log':
                p.copy_(p + 0.3 * torch.rand(p.shape, generator=g))
            elif last == 'D' or name.endswith('norm.weight') or name.endswith('norm_f.weight'):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif name.endswith('dt_proj.bias') or last == 'dt_bias':
                p.copy_(torch.empty(p.shape).uniform_(-4.5, -1.5, generator=g))
            else:
                p.copy_(torch.empty(p.shape).uniform_(-0.5, 0.5, generator=g))


def make(prefix, m, B, T, g):
    randomize(m, g)
    x = torch.randn(B, T, m.d_model, generator=g).requires_grad_(True)
    y = m(x)
    dy = torch.randn(y.shape, generator=g)
    (y * dy).sum().backward()
    save_safetensors(os.path.join(OUT, prefix + '_weights.safetensors'), dict(m.state_dict()))
    grads = {n: p.grad for n, p in m.named_parameters()}
    grads['input'] = x.grad
    save_safetensors(os.path.join(OUT, prefix + '_grads.safetensors'), grads)
    np.save(os.path.join(OUT, prefix + '_x.npy'), x.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_y.npy'), y.detach().numpy().astype('<f4'))
    np.save(os.path.join(OUT, prefix + '_dy.npy'), dy.numpy().astype('<f4'))
    print(prefix, 'y', tuple(y.shape), 'params', sum(p.numel() for p in m.parameters()))


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    # spec: mamba:d_model=16,d_state=8,d_conv=4,expand=2   (dt_rank auto = 1)
    make('mamba', MambaRef(16, d_state=8, d_conv=4, expand=2), 2, 13, g)
    # spec: mamba2:d_model=16,d_state=8,d_conv=4,expand=2,headdim=8,ngroups=2,chunk_size=5
    make('mamba2', Mamba2Ref(16, d_state=8, d_conv=4, expand=2, headdim=8, ngroups=2, chunk_size=5), 2, 13, g)
    # spec: lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11,d_state=8 (token model, tied head;
    # the state_dict holds lm_head.weight too, as MambaLMHeadModel's does)
    lm = MambaLMRef(16, 2, 11, d_state=8)
    randomize(lm, g)
    tok = torch.randint(0, 11, (2, 9), generator=g)
    with torch.no_grad():
        logits = lm(tok)
    save_safetensors(os.path.join(OUT, 'mambalm_weights.safetensors'), dict(lm.state_dict()))
    np.save(os.path.join(OUT, 'mambalm_tok.npy'), tok.numpy().astype('<i8'))
    np.save(os.path.join(OUT, 'mambalm_y.npy'), logits.numpy().astype('<f4'))
    print('mambalm', 'logits', tuple(logits.shape), sorted(lm.state_dict().keys())[:3], '...')
    # spec: mamba:d_model=16,d_state=16,d_conv=4,expand=2 — d_state 16 is Mamba's default and
    # takes the scan's N=16 kernels (the fixtures above use 8); made last, so the generator's
    # stream, and with it every file above, is unchanged
    make('mamba16', MambaRef(16, d_state=16, d_conv=4, expand=2), 2, 13, g)


if __name__ == '__main__':
    main()
