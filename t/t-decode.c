/* t/t-decode.c — decoding: the GEMV kernels against their double references and across
 * thread counts, the attention-step helpers, the sampler's distributions (chi-square against
 * the exact softmax, top-k and top-p sets), and lab/generate.h's decoder: step mode equal to
 * sequence mode, the sliding window equal to a forward pass over the cropped context (as
 * nanoGPT's generate), context limits and bad input. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "core/gemv.h"
#include "lab/generate.h"
#include "lab/registry.h"
#include "lab/sample.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static float *rnd(size_t n, uint64_t seed) { return tu_random(n, 1.0f, seed); }

/* relative error of a against the double-accumulated reference, scaled by sum |w||x| */
static void gemv_case(int N, int C, int OC, int bias)
{
    float *w = rnd((size_t)OC * C, 1 + C), *x = rnd((size_t)N * C, 2 + OC), *b = bias ? rnd(OC, 3) : NULL;
    float *y = malloc((size_t)N * OC * sizeof(float)), *r = malloc((size_t)N * OC * sizeof(float));
    float *y2 = malloc((size_t)N * OC * sizeof(float));
    sl_gemv_naive(r, x, w, b, N, C, OC);
    omp_set_num_threads(1);
    sl_gemv(y, x, w, b, N, C, OC);
    omp_set_num_threads(2);
    sl_gemv(y2, x, w, b, N, C, OC);
    double worst = 0.0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double mag = bias ? fabs(b[o]) : 0.0;
            for (int k = 0; k < C; k++) mag += fabs((double)w[(size_t)o * C + k] * x[(size_t)n * C + k]);
            double e = fabs((double)y[(size_t)n * OC + o] - r[(size_t)n * OC + o]) / (mag > 0 ? mag : 1.0);
            if (e > worst) worst = e;
        }
    ok(worst < 1e-6, "sl_gemv N=%d C=%d OC=%d%s == double reference (rel %.1e)", N, C, OC, bias ? " +bias" : "", worst);
    ok(memcmp(y, y2, (size_t)N * OC * sizeof(float)) == 0, "sl_gemv N=%d C=%d OC=%d: 1 and 2 threads bitwise equal", N, C, OC);
    free(w);
    free(x);
    free(b);
    free(y);
    free(r);
    free(y2);
}

static void test_kernels(void)
{
    gemv_case(1, 288, 288, 0);  /* large enough to split across threads */
    gemv_case(1, 288, 1001, 1); /* rows not a multiple of 4 */
    gemv_case(4, 33, 7, 1);     /* C: one 32-block plus a scalar tail */
    gemv_case(2, 17, 5, 0);     /* C: a 16-block plus a tail */
    gemv_case(3, 3, 9, 1);      /* C below one vector */
    gemv_case(1, 768, 300, 0);
    /* an unaligned weight pointer (a mapped file's offset) */
    {
        float *w = rnd(1 + 64 * 48, 5), *x = rnd(48, 6), y[64], r[64];
        sl_gemv(y, x, w + 1, NULL, 1, 48, 64);
        sl_gemv_naive(r, x, w + 1, NULL, 1, 48, 64);
        ok(max_abs_diff(y, r, 64) < 1e-5, "sl_gemv on a weight pointer 4 bytes off alignment (max %.1e)", max_abs_diff(y, r, 64));
        free(w);
        free(x);
    }
    /* the attention step's value sum and softmax */
    {
        const int m = 37, n = 53;
        float *p = rnd(m, 7), *V = rnd((size_t)m * n, 8), o[53], r[53];
        sl_gemv_t(o, p, V, m, n);
        sl_gemv_t_naive(r, p, V, m, n);
        ok(max_abs_diff(o, r, n) < 1e-5, "sl_gemv_t (m=%d, n=%d) == double reference (max %.1e)", m, n, max_abs_diff(o, r, n));
        float x[40];
        double want[40], mx = -1e30, sum = 0.0;
        for (int i = 0; i < 40; i++) {
            x[i] = (float)(3.0 * sin(i * 1.3));
            if (x[i] > mx) mx = x[i];
        }
        for (int i = 0; i < 40; i++) {
            want[i] = exp(0.7 * (x[i] - mx));
            sum += want[i];
        }
        double s = sl_softmax_unnorm(x, 40, 0.7f), worst = 0.0;
        for (int i = 0; i < 40; i++) worst = fmax(worst, fabs(x[i] - want[i]));
        ok(worst < 1e-6 && fabs(s - sum) < 1e-5 * sum, "sl_softmax_unnorm == exp(scale (x - max)) (max %.1e, sum %g vs %g)",
           worst, s, sum);
        free(p);
        free(V);
    }
    float t[6] = {1, 5, -2, 5, 0, 3};
    ok(sl_argmax(t, 6) == 1, "sl_argmax: the first of equal maxima");
    float u[5] = {-1, -3, -0.5f, -7, -2};
    ok(sl_argmax(u, 5) == 2, "sl_argmax: all negative");
    float *big = rnd(100000, 9);
    size_t bad = 0;
    ok(sl_all_finite(big, 100000, &bad), "sl_all_finite: finite values pass");
    big[77777] = INFINITY;
    int fin = sl_all_finite(big, 100000, &bad);
    ok(!fin && bad == 77777, "sl_all_finite: inf found at %zu", bad);
    big[77777] = 0.0f;
    big[65536] = NAN;
    fin = sl_all_finite(big, 100000, &bad);
    ok(!fin && bad == 65536, "sl_all_finite: NaN at a block start found at %zu", bad);
    /* the vector loop's tail and an unaligned start (mapped weights sit at any 4-byte offset) */
    big[65536] = 0.0f;
    big[99999] = -INFINITY;
    fin = sl_all_finite(big + 1, 99999, &bad);
    ok(!fin && bad == 99998, "sl_all_finite: -inf in the tail of an unaligned range found at %zu", bad);
    ok(sl_all_finite(big + 1, 99998, &bad), "sl_all_finite: the range before it passes");
    big[99999] = 0.0f;
    big[17] = NAN;
    fin = sl_all_finite(big + 3, 20, &bad);
    ok(!fin && bad == 14, "sl_all_finite: NaN in a 20-value range found at %zu", bad);
    free(big);
}

/* chi-square of counts against probabilities (cells with p > 0); p-value */
static double chi2_p(const long *cnt, const double *p, int V, long n, int *df)
{
    double x2 = 0.0;
    int k = 0;
    for (int v = 0; v < V; v++) {
        if (p[v] <= 0) continue;
        double e = p[v] * n;
        x2 += (cnt[v] - e) * (cnt[v] - e) / e;
        k++;
    }
    *df = k - 1;
    return k > 1 ? gsl_cdf_chisq_Q(x2, k - 1) : 1.0;
}

static void draw(long *cnt, const float *logits, int V, const sl_sampler *s, long n, uint64_t seed)
{
    sl_rng *rng = sl_rng_alloc(seed);
    float *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc((size_t)V * sizeof(int));
    memset(cnt, 0, (size_t)V * sizeof(long));
    for (long i = 0; i < n; i++) cnt[sl_sample_logits(logits, V, s, rng, work, iw)]++;
    free(work);
    free(iw);
    sl_rng_free(rng);
}

static void test_sampler(void)
{
    enum { V = 7 };
    const float lg[V] = {1.5f, -0.3f, 0.8f, 2.2f, -1.0f, 0.8f, 0.1f};
    const long n = 40000;
    long cnt[V];
    double p[V];
    int df;
    /* temperature: p = softmax(logits / T) */
    const float temps[2] = {0.7f, 1.6f};
    for (int k = 0; k < 2; k++) {
        sl_sampler s = {temps[k], 0, 1.0f};
        double z = 0.0;
        for (int v = 0; v < V; v++) z += p[v] = exp(lg[v] / temps[k]);
        for (int v = 0; v < V; v++) p[v] /= z;
        draw(cnt, lg, V, &s, n, 11 + k);
        double pv = chi2_p(cnt, p, V, n, &df);
        ok(pv > 1e-3, "temperature %.1f: %ld draws match softmax(logits/T) (chi2 p = %.3f, df %d)", temps[k], n, pv, df);
    }
    /* a wrong temperature would be seen: the same draws against softmax(logits * T) */
    {
        sl_sampler s = {0.7f, 0, 1.0f};
        double z = 0.0;
        for (int v = 0; v < V; v++) z += p[v] = exp(lg[v] * 0.7f);
        for (int v = 0; v < V; v++) p[v] /= z;
        draw(cnt, lg, V, &s, n, 11);
        double pv = chi2_p(cnt, p, V, n, &df);
        ok(pv < 1e-6, "the test can fail: the draws do not match softmax(logits * T) (p = %.1e)", pv);
    }
    /* top-k = 3: only tokens 3, 0, and one of the tied 2/5 (the lower id, 2), renormalised */
    {
        sl_sampler s = {1.0f, 3, 1.0f};
        const int keep[3] = {3, 0, 2};
        double z = 0.0;
        for (int v = 0; v < V; v++) p[v] = 0.0;
        for (int i = 0; i < 3; i++) z += p[keep[i]] = exp(lg[keep[i]]);
        for (int v = 0; v < V; v++) p[v] /= z;
        draw(cnt, lg, V, &s, n, 21);
        long out = 0;
        for (int v = 0; v < V; v++)
            if (p[v] == 0.0) out += cnt[v];
        double pv = chi2_p(cnt, p, V, n, &df);
        ok(out == 0 && pv > 1e-3, "top-k 3: only the 3 highest (ties to the lower id), renormalised (outside %ld, p = %.3f)", out,
           pv);
    }
    /* top-p: softmax probs sorted 3 (0.447), 0 (0.222), 2 = 5 (0.110 each, the lower id first),
     * ...: p = 0.7 keeps 3, 0, 2 (cumulative 0.669, then 0.779 >= 0.7) */
    {
        sl_sampler s = {1.0f, 0, 0.7f};
        double q[V], z = 0.0;
        for (int v = 0; v < V; v++) z += q[v] = exp(lg[v]);
        for (int v = 0; v < V; v++) q[v] /= z;
        const int keep[3] = {3, 0, 2};
        double zz = 0.0;
        for (int v = 0; v < V; v++) p[v] = 0.0;
        for (int i = 0; i < 3; i++) zz += p[keep[i]] = q[keep[i]];
        for (int v = 0; v < V; v++) p[v] /= zz;
        draw(cnt, lg, V, &s, n, 31);
        long out = 0;
        for (int v = 0; v < V; v++)
            if (p[v] == 0.0) out += cnt[v];
        double pv = chi2_p(cnt, p, V, n, &df);
        ok(out == 0 && pv > 1e-3, "top-p 0.7: the nucleus {3, 0, 2}, renormalised (outside %ld, p = %.3f)", out, pv);
        sl_sampler s2 = {1.0f, 0, 0.6f};
        draw(cnt, lg, V, &s2, 2000, 32);
        ok(cnt[3] + cnt[0] == 2000 && cnt[0] > 0, "top-p 0.6: only {3, 0} (0.447, then 0.669 >= 0.6)");
        sl_sampler s3 = {1.0f, 0, 0.4f};
        draw(cnt, lg, V, &s3, 500, 33);
        ok(cnt[3] == 500, "top-p 0.4: only the most likely token (0.447 >= 0.4)");
    }
    /* greedy and a large vocabulary (the top-p pre-filter path) */
    {
        const int W = 5000;
        float *big = rnd(W, 41);
        big[1234] = 9.0f;
        sl_sampler g = {0.0f, 0, 1.0f};
        sl_rng *rng = sl_rng_alloc(1);
        float *work = malloc(2 * (size_t)W * sizeof(float));
        int *iw = malloc((size_t)W * sizeof(int));
        ok(sl_sample_logits(big, W, &g, rng, work, iw) == 1234, "temperature 0 is argmax");
        /* top-p over 5000 tokens: every draw is in the exact nucleus */
        sl_sampler s = {1.0f, 0, 0.9f};
        double *q = malloc((size_t)W * sizeof(double)), z = 0.0;
        int *ord = malloc((size_t)W * sizeof(int));
        for (int v = 0; v < W; v++) {
            z += q[v] = exp(big[v]);
            ord[v] = v;
        }
        /* the exact nucleus by a full sort (selection sort on the top part is enough) */
        char *in = calloc((size_t)W, 1);
        double acc = 0.0;
        for (int i = 0; i < W && acc < 0.9; i++) {
            int b = i;
            for (int j = i + 1; j < W; j++)
                if (q[ord[j]] > q[ord[b]] || (q[ord[j]] == q[ord[b]] && ord[j] < ord[b])) b = j;
            int t = ord[i];
            ord[i] = ord[b];
            ord[b] = t;
            acc += q[ord[i]] / z;
            in[ord[i]] = 1;
        }
        int outside = 0;
        for (int i = 0; i < 3000; i++) outside += !in[sl_sample_logits(big, W, &s, rng, work, iw)];
        ok(outside == 0, "top-p 0.9 over 5000 tokens: every draw in the exact nucleus (%d outside)", outside);
        free(q);
        free(ord);
        free(in);
        free(big);
        free(work);
        free(iw);
        sl_rng_free(rng);
    }
}

/* logits of the last position of a forward pass over tok[0..T) */
static float *last_logits(sl_model *m, const int32_t *tok, int T)
{
    float *y = malloc((size_t)T * m->d_out * sizeof(float)), *l = malloc((size_t)m->d_out * sizeof(float));
    if (sl_model_forward(m, NULL, tok, y, 1, T)) {
        free(y);
        free(l);
        return NULL;
    }
    memcpy(l, y + (size_t)(T - 1) * m->d_out, (size_t)m->d_out * sizeof(float));
    free(y);
    return l;
}

static void decoder_case(const char *spec, int max_len, int total)
{
    sl_model *m = NULL;
    int rc = sl_model_create(spec, 5, &m);
    if (!ok(rc == 0, "create %s%s%s", spec, rc ? ": " : "", rc ? sl_errmsg() : "")) return;
    ok(m->max_len == max_len, "%s: max_len %d (want %d)", spec, m->max_len, max_len);
    const int V = m->d_out;
    int32_t *tok = malloc((size_t)total * sizeof(int32_t));
    for (int i = 0; i < total; i++) tok[i] = (i * 7 + 3) % m->d_in;
    sl_decoder *d = NULL;
    rc = sl_decoder_new(m, 1, &d);
    if (!ok(rc == 0, "%s: decoder", spec)) {
        sl_model_free(m);
        free(tok);
        return;
    }
    double worst_in = 0.0, worst_win = 0.0;
    int fed = 0, bad = 0, slid = 0;
    /* the prompt as one feed of 3, then one token at a time */
    for (int i = 0; i < total && !bad; i += (i == 0 ? 3 : 1)) {
        int k = i == 0 ? 3 : 1;
        if (sl_decoder_feed(d, tok + i, k)) {
            bad = 1;
            break;
        }
        fed = i + k;
        int T = max_len && fed > max_len ? max_len : fed;
        float *ref = last_logits(m, tok + fed - T, T);
        if (!ref) {
            bad = 1;
            break;
        }
        double e = max_abs_diff(sl_decoder_logits(d), ref, V);
        if (max_len && fed > max_len) {
            slid = 1;
            worst_win = fmax(worst_win, e);
        } else worst_in = fmax(worst_in, e);
        free(ref);
    }
    ok(!bad && fed == total, "%s: fed %d tokens%s%s", spec, fed, bad ? ": " : "", bad ? sl_errmsg() : "");
    ok(worst_in < 1e-4, "%s: step-mode logits == forward over the context (max %.1e)", spec, worst_in);
    if (max_len) {
        ok(slid && sl_decoder_sliding(d) && worst_win == 0.0,
           "%s: past %d tokens the logits are a forward pass over the last %d tokens, bitwise (max %.1e)", spec, max_len, max_len,
           worst_win);
    }
    long pos;
    sl_decoder_stats(d, &pos, NULL);
    ok(pos >= total, "%s: %ld model positions counted", spec, pos);
    int32_t badtok = m->d_in;
    rc = sl_decoder_feed(d, &badtok, 1);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "outside the vocabulary"), "%s: a token outside the vocabulary: %s", spec,
       sl_errmsg());
    sl_decoder_free(d);
    /* without sliding: the context is a hard limit */
    if (max_len) {
        rc = sl_decoder_new(m, 0, &d);
        ok(rc == 0 && sl_decoder_room(d) == max_len, "%s: no-slide decoder has room for %d", spec, max_len);
        rc = sl_decoder_feed(d, tok, max_len);
        ok(rc == 0 && sl_decoder_room(d) == 0, "%s: %d tokens fill it", spec, max_len);
        rc = sl_decoder_feed(d, tok, 1);
        ok(rc == SL_ESHAPE && strstr(sl_errmsg(), "context full"), "%s: one more is refused: %s", spec, sl_errmsg());
        sl_decoder_free(d);
    }
    free(tok);
    sl_model_free(m);
}

int main(void)
{
    test_kernels();
    test_sampler();
    omp_set_num_threads(2);
    decoder_case("gpt:vocab_size=11,n_layer=2,n_head=2,n_embd=16,block_size=8", 8, 14);
    decoder_case("llama:vocab_size=11,n_layers=1,n_heads=2,dim=16,max_seq_len=6", 6, 11);
    decoder_case("lm:mixer=lstm,d_model=12,n_layer=2,vocab_size=9", 0, 12);
    decoder_case("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=9", 0, 10);
    decoder_case("lm:mixer=attention,d_model=16,n_head=2,n_layer=1,vocab_size=9,max_position_embeddings=5", 5, 9);
    {
        sl_model *m = NULL;
        sl_decoder *d = NULL;
        sl_model_create("lstm:input_size=3,hidden_size=4", 1, &m);
        int rc = sl_decoder_new(m, 1, &d);
        ok(rc == SL_EINVAL && d == NULL, "a real-valued model is refused: %s", sl_errmsg());
        sl_model_free(m);
    }
    return done_testing();
}
