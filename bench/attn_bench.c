/* bench/attn_bench.c — causal attention kernels, naive (materialised scores) vs flash-style
 * (tiled, online softmax), forward and forward+backward time and memory.
 * One configuration per process, so the peak RSS belongs to that kernel alone:
 *   attn_bench --kernel naive|flash --T 4096 [--B 1] [--H 4] [--D 64] [--reps 3] [--threads 2]
 * prints: seqlab,KERNEL,B,H,T,D,fwd_ms,fwdbwd_ms,peak_rss_mb,workspace_mb
 * workspace_mb = peak RSS minus the RSS once inputs, outputs and gradients are allocated and
 * touched: what the kernel itself needs (naive: the (B,H,T,T) probabilities; flash: O(T)). */
#include "core/util.h"
#include "seq/attention.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *alloc_touch(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
    return p;
}

int main(int argc, char **argv)
{
    const char *kernel = "flash";
    int T = 1024, B = 1, H = 4, D = 64, reps = 3, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kernel")) kernel = argv[i + 1];
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--B")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--H")) H = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--D")) D = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const int naive = !strcmp(kernel, "naive");
    if (!naive && strcmp(kernel, "flash")) {
        fprintf(stderr, "kernel must be naive or flash\n");
        return 2;
    }
    sl_threads_set(threads);
    sl_attn_shape s = {B, H, H, T, D, D, 1.0f / sqrtf((float)D), 1};
    const size_t n = (size_t)B * H * T * D;
    float *q = alloc_touch(n, 1), *k = alloc_touch(n, 2), *v = alloc_touch(n, 3), *dout = alloc_touch(n, 4);
    float *out = alloc_touch(n, 5), *dq = alloc_touch(n, 6), *dk = alloc_touch(n, 7), *dv = alloc_touch(n, 8);
    const size_t base = sl_peak_rss();
    float *aux = NULL; /* naive: probabilities (B,H,T,T); flash: lse (B,H,T) */
    double best_f = 1e30, best_fb = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = sl_now();
        if (naive) {
            if (!aux) aux = malloc((size_t)B * H * T * T * sizeof(float));
            if (!aux) {
                fprintf(stderr, "out of memory for the score matrix\n");
                return 1;
            }
            sl_attn_naive_forward(out, aux, q, k, v, NULL, &s);
        } else {
            if (!aux) aux = malloc((size_t)B * H * T * sizeof(float));
            sl_attn_flash_forward(out, aux, q, k, v, &s);
        }
        double t1 = sl_now();
        if (naive) sl_attn_naive_backward(dq, dk, dv, dout, q, k, v, aux, NULL, &s);
        else sl_attn_flash_backward(dq, dk, dv, dout, q, k, v, out, aux, &s);
        double t2 = sl_now();
        if (t1 - t0 < best_f) best_f = t1 - t0;
        if (t2 - t0 < best_fb) best_fb = t2 - t0;
    }
    const size_t peak = sl_peak_rss();
    printf("seqlab,%s,%d,%d,%d,%d,%.2f,%.2f,%.1f,%.1f\n", kernel, B, H, T, D, 1e3 * best_f, 1e3 * best_fb, peak / 1048576.0,
           (peak - base) / 1048576.0);
    free(q);
    free(k);
    free(v);
    free(dout);
    free(out);
    free(dq);
    free(dk);
    free(dv);
    free(aux);
    return 0;
}
