#!/usr/bin/python3
"""bench/linrnn_torch.py — PyTorch CPU peers of seqlab's linear-RNN mixers for
bench/run_linrnn_bench.sh: the same equations in the same chunked algorithms as ssm/lru.c and
ssm/linattn.c (docs/linear-rnn.md), written with torch tensor operations and autograd.

  lru     v = gamma B u (complex matmul); scan inside chunks of 64 (a loop over the 64 rows,
          vectorised over batch, chunks and modes), chunk-end states carried across chunks,
          lambda^(j+1) times the carry added; y = Re(C h) + D u
  retnet  q k v g projections, rotation, chunkwise retention (chunk 64): intra-chunk
          (Q K^T (.) D) V, the state carried across chunks; RMS group norm, swish gate, out_proj
  gla     q k v g and the low-rank gate projections, chunkwise GLA (chunk 16) with the gates'
          cumulative sums in log space inside each chunk (exp of differences, masked), the
          state carried across chunks; g_norm, swish gate, o_proj
  rwkv    RWKV-4 time mix (token shift, key/value/receptance, the WKV recurrence in the safe
          (aa, bb, pp) form: a loop over t vectorised over batch and channels), ln2, channel mix

  /usr/bin/python3 bench/linrnn_torch.py [--threads K] [--T 2048] [--B 8] [--d 256] [--reps N] [--mixers lru,retnet,gla,rwkv]

CSV on stdout (no header): torch,MIXER,efficient,T,B,d_model,threads,fwd_ms,fwdbwd_ms — fwd under
torch.no_grad(), fwd+bwd with autograd; median wall time of N repetitions after a warm-up.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F


def lru_params(D, N, g):
    r = torch.empty(N).uniform_(0.5, 0.99, generator=g)
    return {
        'nu_log': torch.log(-torch.log(r)), 'theta_log': torch.log(torch.empty(N).uniform_(0.01, 6.28, generator=g)),
        'gamma_log': torch.log(torch.sqrt(1 - r * r)),
        'B_re': torch.randn(N, D, generator=g) / math.sqrt(2 * D), 'B_im': torch.randn(N, D, generator=g) / math.sqrt(2 * D),
        'C_re': torch.randn(D, N, generator=g) / math.sqrt(N), 'C_im': torch.randn(D, N, generator=g) / math.sqrt(N),
        'D': torch.randn(D, generator=g)}


def lru_forward(p, u, L=64):
    Bsz, T, D = u.shape
    lam = torch.exp(torch.complex(-torch.exp(p['nu_log']), torch.exp(p['theta_log'])))
    Bn = torch.complex(p['B_re'], p['B_im']) * torch.exp(p['gamma_log'])[:, None]
    C = torch.complex(p['C_re'], p['C_im'])
    N = lam.shape[0]
    v = u.to(Bn.dtype) @ Bn.T                              # (B, T, N)
    NC = T // L
    v = v.view(Bsz, NC, L, N)
    h = torch.zeros(Bsz, NC, N, dtype=v.dtype)
    hs = []
    for j in range(L):
        h = lam * h + v[:, :, j]
        hs.append(h)
    H = torch.stack(hs, 2)                                 # (B, NC, L, N)
    lamL = lam ** L
    E = torch.zeros(Bsz, N, dtype=v.dtype)
    carries = []
    for c in range(NC):
        carries.append(E)
        E = H[:, c, -1] + lamL * E
    Cin = torch.stack(carries, 1)                          # (B, NC, N)
    pw = lam[None, :] ** torch.arange(1, L + 1, dtype=u.dtype)[:, None]   # (L, N)
    H = H + pw[None, None] * Cin[:, :, None]
    return (H.reshape(Bsz, T, N) @ C.T).real + u * p['D']


def linear(D_out, D_in, g):
    return torch.empty(D_out, D_in).uniform_(-1, 1, generator=g) / math.sqrt(D_in)


def rms(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def retnet_params(D, H, g):
    V = 2 * D
    return {'H': H, 'q': linear(D, D, g), 'k': linear(D, D, g), 'v': linear(V, D, g), 'g': linear(V, D, g), 'o': linear(D, V, g)}


def retnet_forward(p, x, C=64):
    Bsz, T, D = x.shape
    H = p['H']
    K, V = D // H, 2 * D // H
    q = (x @ p['q'].T).view(Bsz, T, H, K).transpose(1, 2)
    k = (x @ p['k'].T * K ** -0.5).view(Bsz, T, H, K).transpose(1, 2)
    v = (x @ p['v'].T).view(Bsz, T, H, V).transpose(1, 2)
    angle = 1.0 / (10000 ** torch.linspace(0, 1, K // 2, dtype=x.dtype))
    angle = angle.unsqueeze(-1).repeat(1, 2).flatten()
    idx = torch.arange(T, dtype=x.dtype)
    sin, cos = torch.sin(idx[:, None] * angle), torch.cos(idx[:, None] * angle)

    def rot(z):
        return z * cos + torch.stack((-z[..., 1::2], z[..., ::2]), dim=-1).flatten(-2) * sin

    q, k = rot(q), rot(k)
    NC = T // C
    qc, kc, vc = q.view(Bsz, H, NC, C, K), k.view(Bsz, H, NC, C, K), v.view(Bsz, H, NC, C, V)
    logg = torch.log(1 - 2 ** (-5 - torch.arange(H, dtype=x.dtype)))                # (H)
    j = torch.arange(C, dtype=x.dtype)
    dist = j[:, None] - j[None, :]
    Dm = torch.where(dist >= 0, torch.exp(dist.clamp(min=0)[None] * logg[:, None, None]), torch.zeros(()))  # (H, C, C)
    inner = ((qc @ kc.transpose(-1, -2)) * Dm[None, :, None]) @ vc
    vdec = torch.exp((C - 1 - j)[None, :] * logg[:, None])                            # (H, C)
    kv = kc.transpose(-1, -2) @ (vc * vdec[None, :, None, :, None])                  # (B, H, NC, K, V)
    gC = torch.exp(C * logg)[None, :, None, None]
    S = torch.zeros(Bsz, H, K, V)
    prev = []
    for c in range(NC):
        prev.append(S)
        S = gC * S + kv[:, :, c]
    Sp = torch.stack(prev, 2)                                                         # (B, H, NC, K, V)
    qdec = torch.exp((j + 1)[None, :] * logg[:, None])                                # (H, C)
    cross = (qc * qdec[None, :, None, :, None]) @ Sp
    o = (inner + cross).view(Bsz, H, T, V).transpose(1, 2)
    o = rms(o, 1e-6).reshape(Bsz, T, H * V)
    return (F.silu(x @ p['g'].T) * o) @ p['o'].T


def gla_params(D, H, g):
    KD, VD, R = D // 2, D, 16
    return {'H': H, 'q': linear(KD, D, g), 'k': linear(KD, D, g), 'v': linear(VD, D, g), 'g': linear(VD, D, g),
            'g0': linear(R, D, g), 'g1': linear(KD, R, g), 'g1b': torch.zeros(KD), 'o': linear(D, VD, g),
            'n': torch.ones(VD // H)}


def gla_forward(p, x, C=16):
    Bsz, T, D = x.shape
    H = p['H']
    KD, VD = p['q'].shape[0], p['v'].shape[0]
    K, V = KD // H, VD // H
    q = (x @ p['q'].T).view(Bsz, T, H, K).transpose(1, 2) * K ** -0.5
    k = (x @ p['k'].T).view(Bsz, T, H, K).transpose(1, 2)
    v = (x @ p['v'].T).view(Bsz, T, H, V).transpose(1, 2)
    gk = F.logsigmoid((x @ p['g0'].T) @ p['g1'].T + p['g1b']) / 16
    gk = gk.view(Bsz, T, H, K).transpose(1, 2)
    NC = T // C
    qc, kc, vc = q.reshape(Bsz, H, NC, C, K), k.reshape(Bsz, H, NC, C, K), v.reshape(Bsz, H, NC, C, V)
    Gl = gk.reshape(Bsz, H, NC, C, K).cumsum(-2)
    mask = torch.tril(torch.ones(C, C, dtype=torch.bool))
    diff = (Gl[..., :, None, :] - Gl[..., None, :, :]).masked_fill(~mask[..., None], -float('inf'))
    A = torch.einsum('bhnjd,bhnid,bhnjid->bhnji', qc, kc, torch.exp(diff))
    inner = A @ vc
    Ge = Gl[..., -1:, :]                                                              # (B, H, NC, 1, K)
    Qe, Ke = qc * torch.exp(Gl), kc * torch.exp(Ge - Gl)
    kv = Ke.transpose(-1, -2) @ vc                                                    # (B, H, NC, K, V)
    S = torch.zeros(Bsz, H, K, V)
    prev = []
    for c in range(NC):
        prev.append(S)
        S = torch.exp(Ge[:, :, c, 0])[..., None] * S + kv[:, :, c]
    cross = Qe @ torch.stack(prev, 2)
    o = (inner + cross).reshape(Bsz, H, T, V).transpose(1, 2)
    o = (rms(o, 1e-5) * p['n']).reshape(Bsz, T, VD)
    return (o * F.silu(x @ p['g'].T)) @ p['o'].T


def lru_recurrent(p, u):
    lam = torch.exp(torch.complex(-torch.exp(p['nu_log']), torch.exp(p['theta_log'])))
    Bn = torch.complex(p['B_re'], p['B_im']) * torch.exp(p['gamma_log'])[:, None]
    v = u.to(Bn.dtype) @ Bn.T
    h = torch.zeros(u.shape[0], lam.shape[0], dtype=v.dtype)
    hs = []
    for t in range(u.shape[1]):
        h = lam * h + v[:, t]
        hs.append(h)
    return (torch.stack(hs, 1) @ torch.complex(p['C_re'], p['C_im']).T).real + u * p['D']


def check():
    """the chunked peers against the plain recurrence (lru), chunk = T (retnet: one chunk is the
    parallel form) and a one-step chunk (gla: chunk 1 is the recurrence), in float64"""
    torch.set_default_dtype(torch.float64)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 128, 32, generator=g)
    p = lru_params(32, 16, g)
    print('check lru chunk 64 vs recurrence: max abs %.2e' % (lru_forward(p, x) - lru_recurrent(p, x)).abs().max())
    p = retnet_params(32, 4, g)
    print('check retnet chunk 64 vs 128: max abs %.2e' % (retnet_forward(p, x) - retnet_forward(p, x, C=128)).abs().max())
    p = gla_params(32, 4, g)
    p['g1b'] = torch.empty(16).uniform_(-4, 4, generator=g)
    print('check gla chunk 16 vs 1: max abs %.2e' % (gla_forward(p, x) - gla_forward(p, x, C=1)).abs().max())
    p = rwkv_params(32, g)
    x = x[:, :48]
    print('check rwkv safe WKV vs its definition: max abs %.2e' % (rwkv_forward(p, x) - rwkv_forward(p, x, naive=True)).abs().max())


def rwkv_params(C, g):
    F_ = 4 * C
    c = torch.arange(C) / C
    return {'td': -5 + 8 * (torch.arange(C) / (C - 1)) ** 0.7, 'tf': torch.full((C,), math.log(0.3)),
            'amk': c.clone(), 'amv': c + 0.0, 'amr': c ** 0.5, 'k': linear(C, C, g), 'v': linear(C, C, g), 'r': linear(C, C, g),
            'o': linear(C, C, g), 'lw': torch.ones(C), 'lb': torch.zeros(C), 'fmk': c.clone(), 'fmr': c.clone(),
            'fk': linear(F_, C, g), 'fr': linear(C, C, g), 'fv': linear(C, F_, g)}


def rwkv_forward(p, x, naive=False):
    xx = F.pad(x, (0, 0, 1, -1))
    k = (xx + p['amk'] * (x - xx)) @ p['k'].T
    v = (xx + p['amv'] * (x - xx)) @ p['v'].T
    r = (xx + p['amr'] * (x - xx)) @ p['r'].T
    w, u = -torch.exp(p['td']), p['tf']
    aa = torch.zeros(x.shape[0], x.shape[2])
    bb = torch.zeros_like(aa)
    pp = torch.full_like(aa, -1e38)
    ys = []
    for t in range(x.shape[1]):
        kt, vt = k[:, t], v[:, t]
        if naive:                               # the definition, sums of exponentials
            e = torch.exp(u + kt)
            num, den = e * vt, e
            for i in range(t):
                ei = torch.exp((t - 1 - i) * w + k[:, i])
                num, den = num + ei * v[:, i], den + ei
            ys.append(num / den)
            continue
        ww = u + kt
        q = torch.maximum(pp, ww)
        e1, e2 = torch.exp(pp - q), torch.exp(ww - q)
        ys.append((e1 * aa + e2 * vt) / (e1 * bb + e2))
        ww = pp + w
        q = torch.maximum(ww, kt)
        e1, e2 = torch.exp(ww - q), torch.exp(kt - q)
        aa, bb, pp = e1 * aa + e2 * vt, e1 * bb + e2, q
    a = (torch.sigmoid(r) * torch.stack(ys, 1)) @ p['o'].T
    n = F.layer_norm(x + a, (x.shape[2],), p['lw'], p['lb'], 1e-5)
    nn_ = F.pad(n, (0, 0, 1, -1))
    kk = torch.square(torch.relu((nn_ + p['fmk'] * (n - nn_)) @ p['fk'].T))
    return a + torch.sigmoid((nn_ + p['fmr'] * (n - nn_)) @ p['fr'].T) * (kk @ p['fv'].T)


MIXERS = {'lru': (lambda D, g: lru_params(D, D, g), lru_forward),
          'retnet': (lambda D, g: retnet_params(D, 4, g), retnet_forward),
          'gla': (lambda D, g: gla_params(D, 4, g), gla_forward),
          'rwkv': (rwkv_params, rwkv_forward)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--T', type=int, default=2048)
    ap.add_argument('--B', type=int, default=8)
    ap.add_argument('--d', type=int, default=256)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--mixers', default='lru,retnet,gla,rwkv')
    ap.add_argument('--check', action='store_true', help='compare the chunked peers with their recurrences and exit')
    a = ap.parse_args()
    if a.check:
        check()
        return
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(1)
    for name in a.mixers.split(','):
        make, fwd = MIXERS[name]
        p = make(a.d, g)
        for t in p.values():
            if isinstance(t, torch.Tensor):
                t.requires_grad_(True)
        x = torch.randn(a.B, a.T, a.d, generator=g)
        dy = torch.randn(a.B, a.T, a.d, generator=g)
        xg = x.clone().requires_grad_(True)

        def run_fwd():
            with torch.no_grad():
                fwd(p, x)

        def run_fb():
            for t in p.values():
                if isinstance(t, torch.Tensor):
                    t.grad = None
            xg.grad = None
            fwd(p, xg).backward(dy)

        run_fwd()
        run_fb()
        tf, tb = [], []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            run_fwd()
            tf.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            run_fb()
            tb.append((time.perf_counter() - t0) * 1e3)
        print(f'torch,{name},efficient,{a.T},{a.B},{a.d},{a.threads},{statistics.median(tf):.2f},{statistics.median(tb):.2f}', flush=True)


if __name__ == '__main__':
    main()
