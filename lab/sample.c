/* lab/sample.c — see sample.h.
 *
 * Cost: greedy is one argmax. Otherwise no full sort of the vocabulary: top-k keeps a min-heap
 * of k candidates (O(V log k)) and sorts only those; top-p first drops every token whose
 * probability is below (1 - top_p) / (n - 1) — together they hold less than 1 - top_p of the
 * mass and each is below every kept token, so the nucleus (the smallest prefix by descending
 * probability with mass >= top_p) lies among the kept ones (llama2.c's run.c does the same) —
 * and sorts the survivors. Without either filter the draw walks the tokens in id order. */
#include "lab/sample.h"
#include "core/gemv.h"

#include <math.h>
#include <stdlib.h>

static const float *sort_key;
static int by_desc(const void *a, const void *b)
{
    float x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    if (x != y) return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b; /* ties: lower id first, for determinism */
}

/* a ranks below b: smaller value, or equal value and larger id */
static int below(const float *z, int a, int b) { return z[a] < z[b] || (z[a] == z[b] && a > b); }

static void sift_down(int *h, int n, int i, const float *z)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && below(z, h[l], h[m])) m = l;
        if (r < n && below(z, h[r], h[m])) m = r;
        if (m == i) return;
        int t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* idx[0..k) = the k highest of z (a min-heap over V, then sorted descending) */
static void top_k(int *idx, const float *z, int V, int k)
{
    for (int i = 0; i < k; i++) idx[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(idx, k, i, z);
    for (int v = k; v < V; v++)
        if (below(z, idx[0], v)) {
            idx[0] = v;
            sift_down(idx, k, 0, z);
        }
    sort_key = z; /* qsort has no context argument; sampling runs on one thread */
    qsort(idx, (size_t)k, sizeof(int), by_desc);
}

/* the sampler's candidates: idx[0..n) with unnormalised weights p[0..n) summing to *sum
 * (temperature > 0) */
static int filter(const float *logits, int V, const sl_sampler *s, float *work, int *idx, double *sum_out)
{
    const int best = sl_argmax(logits, V);
    float *z = work, *p = work + V;
    for (int v = 0; v < V; v++) z[v] = logits[v] / s->temperature;
    const float mx = z[best];
    int n = V, sorted = 0;
    if (s->top_k > 0 && s->top_k < V) {
        top_k(idx, z, V, s->top_k);
        n = s->top_k;
        sorted = 1;
    } else {
        for (int v = 0; v < V; v++) idx[v] = v;
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        p[i] = expf(z[idx[i]] - mx);
        sum += p[i];
    }
    if (s->top_p > 0.0f && s->top_p < 1.0f && n > 1) {
        if (!sorted) {
            /* keep the tokens that can be in the nucleus, then order them */
            const double cut = (1.0 - s->top_p) / (n - 1) * sum;
            int m = 0;
            for (int i = 0; i < n; i++)
                if (p[i] >= cut) idx[m++] = idx[i];
            sort_key = z;
            qsort(idx, (size_t)m, sizeof(int), by_desc);
            for (int i = 0; i < m; i++) p[i] = expf(z[idx[i]] - mx);
            n = m;
        }
        double acc = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += p[i] / sum;
            if (acc >= s->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        sum = 0.0;
        for (int i = 0; i < n; i++) sum += p[i];
    }
    *sum_out = sum;
    return n;
}

int sl_sample_logits(const float *logits, int V, const sl_sampler *s, sl_rng *rng, float *work, int *idx)
{
    if (s->temperature <= 0.0f) return sl_argmax(logits, V);
    double sum;
    const int n = filter(logits, V, s, work, idx, &sum);
    const float *p = work + V;
    double r = sl_rng_uniform(rng) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += p[i];
        if (r < acc) return idx[i];
    }
    return idx[n - 1];
}

void sl_sample_probs(const float *logits, int V, const sl_sampler *s, float *probs, float *work, int *idx)
{
    for (int v = 0; v < V; v++) probs[v] = 0.0f;
    if (s->temperature <= 0.0f) {
        probs[sl_argmax(logits, V)] = 1.0f;
        return;
    }
    double sum;
    const int n = filter(logits, V, s, work, idx, &sum);
    const float *p = work + V;
    for (int i = 0; i < n; i++) probs[idx[i]] = (float)(p[i] / sum);
}

int sl_sample_from_probs(const float *probs, int V, sl_rng *rng)
{
    double sum = 0.0;
    int last = -1;
    for (int v = 0; v < V; v++)
        if (probs[v] > 0.0f) {
            sum += probs[v];
            last = v;
        }
    if (last < 0) return sl_argmax(probs, V);
    double r = sl_rng_uniform(rng) * sum, acc = 0.0;
    for (int v = 0; v < V; v++) {
        acc += probs[v];
        if (probs[v] > 0.0f && r < acc) return v;
    }
    return last;
}
