#!/bin/bash
# bench/dist_model.sh — the cost model of a data-parallel step (docs/distributed.md), fitted to
# bench/dist_bench.sh's figures, and its predictions:
#   bash $SRC/bench/dist_model.sh [PREFIX]      (reads PREFIX_steps.csv, PREFIX_allreduce.csv)
# Model: t(K) = t_c(b) + t_ar(K, n), the step of a rank = its compute on its b sequences plus
# the allreduce of the n gradient bytes (nothing overlapped), with Rabenseifner's allreduce
# (reduce-scatter by recursive halving, allgather by recursive doubling):
#   t_ar(K, n) = 2 log2(K) alpha + 2 (K-1)/K n / beta + (K-1)/K n / gamma
# alpha: latency per message, beta: link bandwidth, gamma: the rate of the local float sums.
# Here (2 ranks on one machine, shared memory) a line a + bytes/r is fitted to the allreduce
# bench's times for 16 KB..16 MB, and the K = 2 step predicted as t_c/2 + a + n/r is checked
# against its measurement. For a cluster: alpha = 5 us and beta = 12.5 GB/s (100 Gb/s), and
# gamma = r (this machine's whole allreduce rate, copies included: conservative); weak scaling (each rank keeps the recipe's batch) and
# strong scaling (the recipe's global batch split over K ranks; impossible past K = batch).
set -u
p=${1:-dist_bench}
awk -F, -v ALPHA=5e-6 -v BETA=12.5e9 '
FNR == 1 { f++; next }
f == 1 && $1 == "ordered" && $4 >= 16384 { # the line t = a + bytes * s through the allreduce bench
    x = $4; y = $5 * 1e-6; n++; sx += x; sy += y; sxx += x * x; sxy += x * y }
f == 2 { key = $1 "," $3 "," $4; ms[key] = $8; ar[key] = $9; P[$1] = $2; B[$1] = $5; T[$1] = $6 }
END {
    s = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - s * sx) / n
    printf "# this machine, 2 ranks, shared memory: allreduce = %.1f us + bytes / %.2f GB/s\n", a * 1e6, 1e-9 / s
    # gamma: the whole local allreduce rate (copies and sums) is taken for the sum rate alone,
    # which overstates the cost of the sums (a conservative prediction)
    gamma = 1 / s
    printf "model,params,grad_MB,batch,t1_ms,t2_measured_ms,t2_model_ms,allreduce_measured_ms,allreduce_model_ms\n"
    for (m in P) {
        nb = 4 * P[m]; t1 = ms[m ",1,1"]; t2 = ms[m ",2,1"]
        arm = (a + nb * s) * 1e3
        printf "%s,%d,%.1f,%d,%.2f,%.2f,%.2f,%.3f,%.3f\n", m, P[m], nb / 1e6, B[m], t1, t2, t1 / 2 + arm, ar[m ",2,1"], arm
    }
    print ""
    print "# predictions on a 100 Gb/s network (alpha 5 us, beta 12.5 GB/s); E = t_c / (t_c + t_ar)"
    print "model,params,K,t_c_ms_weak,t_ar_ms,E_weak,t_c_ms_strong,E_strong"
    # measured models: t_c per rank = the one-thread step (weak: the recipe batch per rank)
    for (m in P) { nb = 4 * P[m]; tc = ms[m ",1,1"] * 1e-3; pred(m, P[m], nb, tc, B[m]) }
    # GPT-2 124M: compute from the nanoGPT run flop rate, 6 N + 12 L T C flops per token
    # (nanoGPT estimate_mfu), per rank a node of 64 such cores, 8 sequences of 1024 per rank (weak);
    # strong: 512 sequences of 1024 (the 0.5M-token batch of GPT-2) split over K
    if ("nanogpt" in P) {
        N = P["nanogpt"]; F = (6 * N + 12 * 4 * 64 * 128) * B["nanogpt"] * 64; R = F / (ms["nanogpt,1,1"] * 1e-3)
        printf "# nanoGPT recipe: %.2f GFLOP/s on one core (one thread)\n", R * 1e-9
        N2 = 124439808; F2 = (6 * N2 + 12 * 12 * 1024 * 768) * 1024
        tc2 = 8 * F2 / (64 * R)
        pred2("gpt2_124M", N2, 4 * N2, tc2, F2 / (64 * R), 512)
    }
}
function tar(K, nb) { return 2 * log(K) / log(2) * ALPHA + 2 * (K - 1) / K * nb / BETA + (K - 1) / K * nb / gamma }
function pred(m, np, nb, tc, b,   i, K, t, ts) {
    split("8 64 512", Ks, " ")
    for (i = 1; i <= 3; i++) {
        K = Ks[i]; t = tar(K, nb)
        if (K <= b) { ts = tc / K; es = sprintf("%.3f", ts / (ts + t)); ts = sprintf("%.3f", ts * 1e3) } else { es = "n/a (batch " b " < K)"; ts = "" }
        printf "%s,%d,%d,%.2f,%.3f,%.3f,%s,%s\n", m, np, K, tc * 1e3, t * 1e3, tc / (tc + t), ts, es
    }
}
function pred2(m, np, nb, tc, tseq, bglob,   i, K, t, ts) {
    split("8 64 512", Ks, " ")
    for (i = 1; i <= 3; i++) {
        K = Ks[i]; t = tar(K, nb); ts = tseq * bglob / K
        printf "%s,%d,%d,%.1f,%.1f,%.3f,%.1f,%.3f\n", m, np, K, tc * 1e3, t * 1e3, tc / (tc + t), ts * 1e3, ts / (ts + t)
    }
}' "${p}_allreduce.csv" "${p}_steps.csv"
