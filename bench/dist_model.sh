#!/bin/bash
# bench/dist_model.sh — the cost model of a data-parallel step (docs/distributed.md) and its
# predictions at 8, 64 and 512 ranks:
#   t(K) = t_c + t_ar(K, n),   t_ar(K, n) = 2 log2(K) alpha + 2 (K-1)/K n / beta + (K-1)/K n / gamma
# (Rabenseifner's allreduce; nothing overlapped), E = t_c / (t_c + t_ar).
#   weak: each rank keeps the batch below (t_c as given);
#   strong: a global batch (GLOBAL, default the batch) split over K ranks: t_c / batch * GLOBAL / K
#   (compute proportional to the sequences; impossible past K = GLOBAL).
# Inputs (environment): ALPHA (s), BETA (bytes/s), GAMMA (bytes/s), and MODELS, lines of
#   name params t_c_ms batch [GLOBAL]
# The defaults are docs/distributed.md's: a 100 Gb/s network (alpha 5 us, beta 12.5 GB/s), the
# sum rate gamma seen on this machine (2.2 GB/s), and the per-step CPU times measured here.
set -u
ALPHA=${ALPHA:-5e-6} BETA=${BETA:-12.5e9} GAMMA=${GAMMA:-2.2e9}
MODELS=${MODELS:-"nanogpt 804096 66.0 12
mamba_lm 892928 462.0 32
exp_gpt 1629440 600.0 32
gpt2_124M 124439808 1813 8 512"}
echo "model,params,grad_MB,K,t_c_ms,t_ar_ms,E_weak,t_c_strong_ms,E_strong"
echo "$MODELS" | awk -v A="$ALPHA" -v Bw="$BETA" -v G="$GAMMA" '
NF >= 4 {
    nb = 4 * $2; tc = $3 * 1e-3; g = NF > 4 ? $5 : $4
    split("8 64 512", Ks, " ")
    for (i = 1; i <= 3; i++) {
        K = Ks[i]
        t = 2 * log(K) / log(2) * A + 2 * (K - 1) / K * nb / Bw + (K - 1) / K * nb / G
        if (K <= g) { ts = tc / $4 * g / K; s = sprintf("%.2f,%.3f", ts * 1e3, ts / (ts + t)) } else s = ",n/a (batch " g " < K)"
        printf "%s,%d,%.1f,%d,%.1f,%.2f,%.3f,%s\n", $1, $2, nb / 1e6, K, tc * 1e3, t * 1e3, tc / (tc + t), s
    }
}'
