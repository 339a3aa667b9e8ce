/* t/t-recurrent-fast.c — the packed-panel kernel path of the recurrent engine
 * (seq/recurrent_kernel.h) and the lanes path (seq/recurrent_lanes.h) against the sgemm path
 * and the double-precision reference.
 *
 * The lanes path (LSTM and GRU, B <= 32: batch in the vector lanes, hidden units split across
 * threads) is checked on the same shapes plus its own edges: B = 1, 16 (one lane vector), 17
 * (two, the second mostly padding), 32; H not a multiple of its 3- and 4-unit tiles or of the
 * 12-row backward tiles, and split unevenly between threads; one, two and three threads (the
 * per-step barrier, the exchange of partial dh between threads, the weight-gradient rows
 * split by units). Every LSTM/GRU case with B <= 32 asserts that the lanes path was taken.
 * Where the CPU has AMX (seq/recurrent_amx.h) the lanes path's per-step products run on its
 * tiles by default: every such case then runs twice, on AMX and on AVX-512
 * (sl_recurrent_set_amx(m, 0)), and checks both (the AMX operands' padding: input and hidden
 * widths not multiples of the 32-index chunks or of the 16-row tiles, an odd width, threads
 * with an odd number of 16-unit groups).
 *
 * The kernel path differs from the sgemm path in its per-step products, in projecting the
 * input and making the input gradient inside the time loops, in summing the bias gradients
 * there, in its time-major caches (the GRU's one dG row for both sides) and in the single
 * weight-gradient GEMM over xh; every one of those is checked here on shapes chosen to hit the
 * kernel's edges: H not a multiple of 16 (masked vectors) nor of 64 (backward panels), batch
 * slices that leave 1..7 rows for the last register tile (B = 1, 5, 33), T = 1, I != H, two
 * and three layers, bidirectional, no bias, an initial state, dropout, and sizes above the
 * threading threshold so that the time loops run on two threads. Without AVX-512 both paths
 * are the sgemm path and the tests still run (and compare it with itself and with the
 * reference).
 */
#include "core/error.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "seq/recurrent_amx.h"
#include "seq/recurrent_common.h"
#include "seq/recurrent_kernel.h"
#include "t/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double maxabs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d == d)) return INFINITY;
        m = fmax(m, d);
    }
    return m;
}

/* one forward + backward on the current path: y, dx, all parameter gradients and (with an
 * initial state) dh0 / dc0 into out[] */
typedef struct {
    float *y, *dx, *grad, *dh0, *dc0;
} result;

static int run(sl_model *m, const float *x, const float *dy, int B, int T, int with_h0, int lstm, int dropout_seed, result *res)
{
    size_t nx = (size_t)B * T * m->d_in;
    sl_rng *rng = NULL;
    if (dropout_seed) {
        rng = sl_rng_alloc((unsigned long)dropout_seed);
        sl_model_set_training(m, 1, rng);
    }
    sl_params_zero_grad(m->P);
    memset(res->dx, 0, nx * sizeof(float));
    int rc = sl_model_forward(m, x, NULL, res->y, B, T) || sl_model_backward(m, dy, res->dx);
    memcpy(res->grad, m->P->grad, m->P->total * sizeof(float));
    if (!rc && with_h0) rc = sl_recurrent_initial_state_grad(m, res->dh0, lstm ? res->dc0 : NULL);
    if (rng) {
        sl_model_set_training(m, 0, NULL);
        sl_rng_free(rng);
    }
    return rc;
}

static void result_alloc(result *r, const sl_model *m, int B, int T, size_t nstate)
{
    r->y = malloc((size_t)B * T * m->d_out * sizeof(float));
    r->dx = malloc((size_t)B * T * m->d_in * sizeof(float));
    r->grad = malloc(m->P->total * sizeof(float));
    r->dh0 = calloc(nstate ? nstate : 1, sizeof(float));
    r->dc0 = calloc(nstate ? nstate : 1, sizeof(float));
}

static void result_free(result *r)
{
    free(r->y);
    free(r->dx);
    free(r->grad);
    free(r->dh0);
    free(r->dc0);
}

/* path (lanes or kernel) == sgemm path (forward, every gradient), == double reference
 * (forward, without dropout) */
static void compare(const char *what, const char *path, const sl_model *m, const result *fast, const result *slow,
                    const float *yref, size_t nx, size_t ny, size_t nstate, int lstm)
{
    /* float rounding only: the two paths sum in different orders */
    double ys = fmax(1.0, maxabs(slow->y, ny));
    double dyf = maxdiff(fast->y, slow->y, ny) / ys;
    ok(dyf <= 1e-5, "%s: output, %s == sgemm path (max diff %.2e)", what, path, dyf);
    double worst = 0;
    const char *wname = "";
    for (int i = 0; i < m->P->n; i++) {
        const sl_tensor *t = &m->P->t[i];
        double sc = fmax(1e-3, maxabs(slow->grad + t->offset, t->numel));
        double d = maxdiff(fast->grad + t->offset, slow->grad + t->offset, t->numel) / sc;
        if (!(d <= worst)) {
            worst = d;
            wname = t->name;
        }
    }
    ok(worst <= 2e-5, "%s: parameter grads, %s == sgemm path (max diff / max |grad| %.2e, %s)", what, path, worst, wname);
    double dxd = maxdiff(fast->dx, slow->dx, nx) / fmax(1e-3, maxabs(slow->dx, nx));
    ok(dxd <= 2e-5, "%s: input grad, %s == sgemm path (max diff / max |grad| %.2e)", what, path, dxd);
    if (nstate) {
        double d0 = maxdiff(fast->dh0, slow->dh0, nstate) / fmax(1e-3, maxabs(slow->dh0, nstate));
        if (lstm) d0 = fmax(d0, maxdiff(fast->dc0, slow->dc0, nstate) / fmax(1e-3, maxabs(slow->dc0, nstate)));
        ok(d0 <= 2e-5, "%s: initial state grads, %s == sgemm path (max diff / max |grad| %.2e)", what, path, d0);
    }
    if (yref) {
        double dr = maxdiff(fast->y, yref, ny);
        ok(dr <= 1e-5, "%s: %s path output == double reference (max abs diff %.2e)", what, path, dr);
    }
}

static void check(const char *spec, int B, int T, int with_h0, int dropout_seed)
{
    sl_model *m;
    if (sl_model_create(spec, 7, &m)) {
        ok(0, "create %s: %s", spec, sl_errmsg());
        return;
    }
    const sl_recurrent_config *cfg = sl_recurrent_get_config(m);
    const int lstm = cfg->cell == SL_RCELL_LSTM, ndir = cfg->bidirectional ? 2 : 1;
    const size_t nx = (size_t)B * T * m->d_in, ny = (size_t)B * T * m->d_out;
    const size_t nstate = with_h0 ? (size_t)cfg->num_layers * ndir * B * cfg->hidden_size : 0;
    float *x = malloc(nx * sizeof(float)), *dy = malloc(ny * sizeof(float)), *yref = malloc(ny * sizeof(float));
    sl_rng *rng = sl_rng_alloc(11);
    sl_rng_fill_normal(rng, x, nx, 1.0f);
    sl_rng_fill_normal(rng, dy, ny, 1.0f);
    if (with_h0) {
        float *h0 = malloc(nstate * sizeof(float)), *c0 = malloc(nstate * sizeof(float));
        sl_rng_fill_normal(rng, h0, nstate, 0.5f);
        sl_rng_fill_normal(rng, c0, nstate, 0.5f);
        sl_recurrent_set_initial_state(m, h0, lstm ? c0 : NULL, B);
        free(h0);
        free(c0);
    }
    result lanes, avx, fast, slow;
    result_alloc(&lanes, m, B, T, nstate);
    result_alloc(&avx, m, B, T, nstate);
    result_alloc(&fast, m, B, T, nstate);
    result_alloc(&slow, m, B, T, nstate);
    char what[320];
    snprintf(what, sizeof what, "%s B=%d T=%d%s%s (%d threads)", spec, B, T, with_h0 ? " h0" : "", dropout_seed ? " dropout" : "",
             sl_threads_get());

    /* lanes (the default where it applies), kernel, sgemm */
    const int lanes_expected = sl_rk_available() && cfg->cell != SL_RCELL_ELMAN && B <= 32;
    sl_recurrent_set_fast(m, 1);
    int is_fast = sl_recurrent_fast(m);
    int rc = run(m, x, dy, B, T, with_h0, lstm, dropout_seed, &lanes);
    const int took_lanes = sl_recurrent_lanes(m), took_amx = sl_recurrent_amx(m);
    /* the lanes path on AVX-512 alone (where AMX took the first run) */
    const int amx_expected = lanes_expected && sl_amx_available();
    if (amx_expected) {
        sl_recurrent_set_amx(m, 0);
        rc |= run(m, x, dy, B, T, with_h0, lstm, dropout_seed, &avx);
        rc |= sl_recurrent_amx(m); /* set_amx(0) must keep it off */
        sl_recurrent_set_amx(m, 1);
    }
    /* the same call again gives the same bits (fixed work split, fixed summation order) */
    rc |= run(m, x, dy, B, T, with_h0, lstm, dropout_seed, &fast);
    ok(!rc && !memcmp(lanes.y, fast.y, ny * sizeof(float)) && !memcmp(lanes.dx, fast.dx, nx * sizeof(float)) &&
           !memcmp(lanes.grad, fast.grad, m->P->total * sizeof(float)),
       "%s: a second run is bitwise identical", what);
    sl_recurrent_set_lanes(m, 0);
    rc |= run(m, x, dy, B, T, with_h0, lstm, dropout_seed, &fast);
    rc |= sl_recurrent_lanes(m); /* set_lanes(0) must keep it off */
    sl_recurrent_set_lanes(m, 1);
    sl_recurrent_set_fast(m, 0);
    rc |= run(m, x, dy, B, T, with_h0, lstm, dropout_seed, &slow);
    sl_recurrent_set_fast(m, 1);
    ok(took_lanes == lanes_expected, "%s: lanes path %s", what, lanes_expected ? "taken" : "not taken");
    ok(took_amx == amx_expected, "%s: AMX products %s", what, amx_expected ? "used" : "not used");
    if (!ok(!rc, "%s: forward and backward on every path%s", what, is_fast ? "" : " (no AVX-512: all are sgemm)")) {
        diag("%s", sl_errmsg());
    } else {
        if (!dropout_seed) rc = sl_recurrent_forward_ref(m, x, yref, B, T);
        const float *ref = !dropout_seed && !rc ? yref : NULL;
        if (!dropout_seed && rc) ok(0, "%s: reference forward: %s", what, sl_errmsg());
        compare(what, "kernel", m, &fast, &slow, ref, nx, ny, nstate, lstm);
        if (lanes_expected) compare(what, amx_expected ? "lanes (AMX)" : "lanes", m, &lanes, &slow, ref, nx, ny, nstate, lstm);
        if (amx_expected) compare(what, "lanes (AVX-512)", m, &avx, &slow, ref, nx, ny, nstate, lstm);
    }
    result_free(&lanes);
    result_free(&avx);
    result_free(&fast);
    result_free(&slow);
    free(x);
    free(dy);
    free(yref);
    sl_rng_free(rng);
    sl_model_free(m);
}

/* A NaN in one input element reaches exactly the outputs that depend on it, on every path:
 * batch row b from step t on, and no other row (the lanes path's vector exp must not clamp a
 * NaN to a number, nor a padded lane leak into a real one). */
static void check_nan(const char *spec, int B, int T)
{
    sl_model *m;
    if (sl_model_create(spec, 3, &m)) {
        ok(0, "create %s: %s", spec, sl_errmsg());
        return;
    }
    const size_t nx = (size_t)B * T * m->d_in, ny = (size_t)B * T * m->d_out;
    float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float)), *yinf = malloc(ny * sizeof(float));
    sl_rng *rng = sl_rng_alloc(5);
    sl_rng_fill_normal(rng, x, nx, 1.0f);
    const int bn = B / 2, tn = T / 2;
    const size_t at = ((size_t)bn * T + tn) * m->d_in;
    /* paths: lanes (on AMX where the CPU has it), lanes on AVX-512, kernel, sgemm */
    for (int path = 0; path < 4; path++) {
        sl_recurrent_set_fast(m, path < 3);
        sl_recurrent_set_lanes(m, path < 2);
        sl_recurrent_set_amx(m, path == 0);
        x[at] = NAN;
        int rc = sl_model_forward(m, x, NULL, y, B, T), bad = rc != 0;
        const int amx = sl_recurrent_amx(m);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int j = 0; j < m->d_out; j++) {
                    const float v = y[((size_t)b * T + t) * m->d_out + j];
                    bad |= (b == bn && t >= tn) ? !isnan(v) : !isfinite(v);
                }
        const char *name = path == 0   ? (sl_recurrent_lanes(m) ? (amx ? "lanes, AMX" : "lanes") : "kernel (no lanes here)")
                           : path == 1 ? (sl_recurrent_lanes(m) ? "lanes, AVX-512" : "kernel (no lanes here)")
                           : path == 2 ? "kernel"
                                       : "sgemm";
        ok(!bad, "%s B=%d T=%d: a NaN at (b %d, t %d) reaches exactly that row from t on (%s path)", spec, B, T, bn, tn, name);
        /* an infinite input: the same outputs finite or not as on the sgemm path (the AMX
         * operands clamp it to the largest bfloat16: the cells saturate the same way) */
        x[at] = INFINITY;
        rc = sl_model_forward(m, x, NULL, path == 3 ? yinf : y, B, T);
        if (path == 0) {
            sl_recurrent_set_fast(m, 0);
            rc |= sl_model_forward(m, x, NULL, yinf, B, T);
            size_t differ = 0, nonfinite = 0;
            for (size_t i = 0; i < ny; i++) {
                differ += !isfinite(y[i]) != !isfinite(yinf[i]);
                nonfinite += !isfinite(yinf[i]);
            }
            ok(!rc && !differ,
               "%s B=%d T=%d: an inf at (b %d, t %d): the same outputs non-finite (%zu) as on the sgemm path (%s path; %zu "
               "differ)",
               spec, B, T, bn, tn, nonfinite, name, differ);
        }
        x[at] = 0.0f;
    }
    sl_recurrent_set_amx(m, 1);
    sl_rng_free(rng);
    free(x);
    free(y);
    free(yinf);
    sl_model_free(m);
}

/* The AMX product alone (seq/recurrent_amx.h) against a product in double: two 16-row left
 * operands and NV lane halves over nq chunks, rows converted with sl_amx_rows_to_b (an odd
 * row count: the last pair's second row must read as zeros). Kept to float32 rounding: the
 * error is measured against sum |a b| per output: 7e-8 to 9e-8 here, and 1.2e-6 to 1.9e-6
 * with one of the six part products (a2 b0) left out, which the model-level comparisons
 * below do not notice. */
static void check_amx_product(int NV, int nq, int two)
{
    const int K = 32 * nq, rows = K - 3, L = 16 * NV; /* rows odd; one whole pair after it */
    sl_rng *rng = sl_rng_alloc(11);
    float *a = malloc((size_t)2 * 16 * K * sizeof(float)), *bt = aligned_alloc(64, (size_t)K * L * sizeof(float));
    float *c = aligned_alloc(64, (size_t)2 * 16 * L * sizeof(float)), blk[16 * 32];
    uint16_t *ap = aligned_alloc(64, (size_t)2 * nq * SL_AMX_CHUNK * sizeof(uint16_t));
    uint16_t *bp = aligned_alloc(64, (size_t)nq * NV * SL_AMX_CHUNK * sizeof(uint16_t));
    sl_rng_fill_normal(rng, a, (size_t)2 * 16 * K, 1.0f);
    sl_rng_fill_normal(rng, bt, (size_t)K * L, 1.0f);
    for (int k = rows; k < K; k++)
        for (int l = 0; l < L; l++) bt[(size_t)k * L + l] = k == rows ? 1e30f : 0.0f; /* must not be read */
    for (int m = 0; m < 2; m++)
        for (int q = 0; q < nq; q++) {
            for (int i = 0; i < 16; i++)
                for (int kk = 0; kk < 32; kk++) blk[i * 32 + kk] = a[((size_t)m * 16 + i) * K + 32 * q + kk];
            sl_amx_pack_a(ap + ((size_t)m * nq + q) * SL_AMX_CHUNK, blk);
        }
    memset(bp, 0xff, (size_t)nq * NV * SL_AMX_CHUNK * sizeof(uint16_t)); /* NaN where unwritten */
    sl_amx_rows_to_b(bp, NV, 0, bt, (size_t)L, rows);
    float z[2 * 32] __attribute__((aligned(64))) = {0}; /* the pair past the rows: zeros */
    sl_amx_rows_to_b(bp, NV, rows + 1, z, (size_t)L, K - rows - 1);
    sl_amx_tiles_on();
    sl_amx_pair(ap, two ? ap + (size_t)nq * SL_AMX_CHUNK : NULL, bp, nq, NV, c, c + (size_t)16 * L, (size_t)L);
    sl_amx_tiles_off();
    double worst = 0;
    for (int m = 0; m < 1 + two; m++)
        for (int i = 0; i < 16; i++)
            for (int l = 0; l < L; l++) {
                double ref = 0, mag = 0;
                for (int k = 0; k < rows; k++) {
                    const double p = (double)a[((size_t)m * 16 + i) * K + k] * bt[(size_t)k * L + l];
                    ref += p;
                    mag += fabs(p);
                }
                const double e = fabs((double)c[((size_t)m * 16 + i) * L + l] - ref) / mag;
                worst = e == e && e > worst ? e : (e == e ? worst : INFINITY);
            }
    ok(worst <= 4e-7, "AMX product, NV=%d, %d chunks, %s: max |error| / sum |a b| = %.2e (float32: a few 6e-8)", NV, nq,
       two ? "two tiles" : "one tile", worst);
    free(a);
    free(bt);
    free(c);
    free(ap);
    free(bp);
    sl_rng_free(rng);
}

int main(void)
{
    if (sl_amx_available()) {
        check_amx_product(2, 3, 1);
        check_amx_product(1, 2, 1);
        check_amx_product(2, 1, 0);
        check_amx_product(1, 4, 0);
    } else {
        diag("this CPU (or kernel) has no AMX: the lanes path's products run on AVX-512 only");
    }
    if (!sl_rk_available()) diag("this CPU has no AVX-512F: the kernel and lanes paths fall back to sgemm");
    /* serial (small) and threaded (above the threading threshold) shapes */
    for (int threads = 1; threads <= 3; threads++) {
        sl_threads_set(threads);
        check("lstm:input_size=7,hidden_size=17", 5, 9, 0, 0);
        check("lstm:input_size=7,hidden_size=17", 1, 6, 1, 0);
        check("gru:input_size=7,hidden_size=17", 5, 9, 0, 0);
        check("gru:input_size=7,hidden_size=17", 1, 6, 1, 0);
        check("rnn:input_size=7,hidden_size=17", 5, 9, 1, 0);
        check("rnn:input_size=5,hidden_size=70,nonlinearity=relu,bidirectional=1", 3, 7, 1, 0);
        check("lstm:input_size=5,hidden_size=33,num_layers=2,bidirectional=1,bias=0", 4, 7, 1, 0);
        check("gru:input_size=5,hidden_size=33,num_layers=2,bidirectional=1", 4, 7, 1, 0);
        check("lstm:input_size=5,hidden_size=20,bidirectional=1", 3, 1, 1, 0); /* T = 1 */
        check("gru:input_size=5,hidden_size=20,num_layers=2", 2, 1, 0, 0);
        check("lstm:input_size=6,hidden_size=20,num_layers=3,dropout=0.3", 3, 8, 0, 5);
        check("gru:input_size=6,hidden_size=20,num_layers=2,dropout=0.3,bias=0", 3, 8, 1, 5);
        /* above par_ok (T*B*GH*H >= 5e7): batch slices on two threads, tiles of 1..7 rows */
        check("lstm:input_size=40,hidden_size=100", 33, 40, 1, 0);
        check("gru:input_size=130,hidden_size=100", 33, 48, 0, 0);
        check("rnn:input_size=24,hidden_size=150", 33, 64, 1, 0);
        check("lstm:input_size=24,hidden_size=72,num_layers=2", 33, 36, 0, 0);
        check("gru:input_size=24,hidden_size=72,bidirectional=1", 33, 48, 1, 0);
        check("lstm:input_size=24,hidden_size=72,num_layers=2,bidirectional=1,dropout=0.2", 21, 40, 0, 3);
        /* the lanes path's edges, above the threading threshold: one lane vector (B <= 16), two
         * (17: mostly padding; 32: full), H not a multiple of 3, 4 or 12 and split unevenly */
        check("lstm:input_size=40,hidden_size=100", 32, 40, 1, 0);
        check("lstm:input_size=33,hidden_size=75", 16, 150, 1, 0);
        check("gru:input_size=130,hidden_size=100", 17, 100, 1, 0);
        check("gru:input_size=9,hidden_size=75", 16, 200, 0, 0);
        check("lstm:input_size=24,hidden_size=71,num_layers=2,bidirectional=1,dropout=0.2", 32, 100, 1, 3);
        check("gru:input_size=24,hidden_size=71,num_layers=2,bidirectional=1,dropout=0.2", 31, 120, 1, 3);
        check("lstm:input_size=3,hidden_size=130", 1, 400, 1, 0);
        check("lstm:input_size=1,hidden_size=1", 3, 5, 1, 0); /* one unit: one thread, one tile */
        check("gru:input_size=1,hidden_size=1,num_layers=2", 32, 3, 1, 0);
    }
    sl_threads_set(2);
    /* outputs and input gradients of 4 MB or more: the lanes path writes them non-temporally
     * (where a whole aligned line is written; the bidirectional output's rows interleave the
     * directions' halves) */
    check("lstm:input_size=128,hidden_size=128", 32, 300, 0, 0);
    check("gru:input_size=170,hidden_size=100,bidirectional=1", 24, 260, 1, 0);
    check_nan("lstm:input_size=6,hidden_size=20", 5, 7);
    check_nan("gru:input_size=6,hidden_size=20", 17, 7);
    check_nan("lstm:input_size=40,hidden_size=100", 32, 40); /* threaded */
    return done_testing();
}
