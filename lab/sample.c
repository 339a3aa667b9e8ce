/* lab/sample.c — see sample.h. */
#include "lab/sample.h"

#include <math.h>
#include <stdlib.h>

static const float *sort_key;
static int by_desc(const void *a, const void *b)
{
    float x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    if (x != y) return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;   /* ties: lower id first, for determinism */
}

int sl_sample_logits(const float *logits, int V, const sl_sampler *s, sl_rng *rng, float *work, int *idx)
{
    int best = 0;
    for (int v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
    if (s->temperature <= 0.0f) return best;
    for (int v = 0; v < V; v++) { work[v] = logits[v] / s->temperature; idx[v] = v; }
    sort_key = work;   /* qsort has no context argument; sampling runs on one thread */
    qsort(idx, (size_t)V, sizeof(int), by_desc);
    int n = V;
    if (s->top_k > 0 && s->top_k < n) n = s->top_k;
    float mx = work[idx[0]];
    double sum = 0.0;
    float *p = work + V;
    for (int i = 0; i < n; i++) { p[i] = expf(work[idx[i]] - mx); sum += p[i]; }
    if (s->top_p > 0.0f && s->top_p < 1.0f) {
        double acc = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += p[i] / sum;
            if (acc >= s->top_p) { keep = i + 1; break; }
        }
        n = keep;
        sum = 0.0;
        for (int i = 0; i < n; i++) sum += p[i];
    }
    double r = sl_rng_uniform(rng) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += p[i];
        if (r < acc) return idx[i];
    }
    return idx[n - 1];
}
