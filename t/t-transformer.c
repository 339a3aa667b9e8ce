/* t/t-transformer.c — GPT and LLaMA-style decoders: nanoGPT logits from PyTorch fixtures
 * (sequence and step mode), checkpoint-name handling, gradients, KV-cache generation equal to
 * recomputing the prefix, init statistics, errors, a tiny learning test.
 * `t-transformer --npy-close A.npy B.npy TOL` compares two float arrays (used by
 * t/gpt-forward.sh) and exits 0 when max |A - B| <= TOL. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "core/npy.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "lab/registry.h"
#include "seq/layers.h"
#include "seq/transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char srcdir[1024];

static const char *data_path(const char *name)
{
    static char buf[4][1200];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/t/data/%s", srcdir, name);
    return buf[k];
}

static int npy_close(const char *a, const char *b, double tol)
{
    sl_npy x = {0}, y = {0};
    if (sl_npy_read(a, &x) || sl_npy_read(b, &y)) {
        fprintf(stderr, "%s\n", sl_errmsg());
        return 2;
    }
    if (x.numel != y.numel || x.dtype != SL_DT_F32 || y.dtype != SL_DT_F32 || x.ndim != y.ndim) {
        fprintf(stderr, "arrays differ in shape or dtype\n");
        return 1;
    }
    for (int i = 0; i < x.ndim; i++)
        if (x.shape[i] != y.shape[i]) {
            fprintf(stderr, "shapes differ\n");
            return 1;
        }
    double d = max_abs_diff(x.data, y.data, x.numel);
    printf("max abs diff %.3e\n", d);
    sl_npy_free(&x);
    sl_npy_free(&y);
    return d <= tol ? 0 : 1;
}

static sl_model *make(const char *spec, uint64_t seed)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, seed, &m)) {
        diag("create '%s': %s", spec, sl_errmsg());
        return NULL;
    }
    return m;
}

/* logits of the fixture model in sequence and step mode vs PyTorch */
static void fixture_case(const char *spec, const char *weights, const char *logits)
{
    sl_model *m = make(spec, 1);
    sl_npy tok = {0}, ref = {0};
    if (!ok(m && sl_npy_read(data_path("gpt_tokens.npy"), &tok) == 0 && sl_npy_read(data_path(logits), &ref) == 0,
            "fixture %s: model and arrays", weights)) {
        diag("%s", sl_errmsg());
        sl_model_free(m);
        return;
    }
    int rc = sl_transformer_load(m, data_path(weights));
    ok(rc == 0, "load %s by nanoGPT names%s%s", weights, rc ? ": " : "", rc ? sl_errmsg() : "");
    const int B = (int)tok.shape[0], T = (int)tok.shape[1], V = m->d_out;
    float *y = malloc((size_t)B * T * V * sizeof(float));
    double d = INFINITY;
    if (!sl_model_forward(m, NULL, tok.data, y, B, T)) d = max_abs_diff(y, ref.data, ref.numel);
    ok(d <= 1e-4, "%s: sequence-mode logits == nanoGPT (max abs diff %.2e)", weights, d);
    d = INFINITY;
    if (!sl_model_run_steps(m, NULL, tok.data, y, B, T)) d = max_abs_diff(y, ref.data, ref.numel);
    ok(d <= 1e-4, "%s: step-mode logits == nanoGPT (max abs diff %.2e)", weights, d);
    /* the naive kernel agrees too */
    free(y);
    sl_npy_free(&tok);
    sl_npy_free(&ref);
    sl_model_free(m);
}

/* checkpoint variants written from the fixture: an untied head, a missing head, no buffers */
static void checkpoint_names(void)
{
    const char *spec = "gpt:n_layer=2,n_head=4,n_embd=32,block_size=16,vocab_size=40,bias=1";
    sl_safetensors *st = NULL;
    if (!ok(sl_safetensors_read(data_path("gpt_bias1.safetensors"), &st) == 0, "read fixture safetensors")) return;
    char tmp1[] = "/tmp/sl-tf-XXXXXX", tmp2[] = "/tmp/sl-tf-XXXXXX";
    int f1 = mkstemp(tmp1), f2 = mkstemp(tmp2);
    close(f1);
    close(f2);
    /* file 1: lm_head.weight perturbed (an untied checkpoint); file 2: no lm_head, no buffers */
    sl_st_writer *w1 = sl_st_writer_new(), *w2 = sl_st_writer_new();
    for (size_t i = 0; i < st->n; i++) {
        const sl_st_tensor *t = &st->t[i];
        float *v = malloc(t->numel * sizeof(float));
        sl_safetensors_get_f32(st, t, v, t->numel);
        int is_head = !strcmp(t->name, "lm_head.weight"),
            is_buf = strlen(t->name) > 10 && !strcmp(t->name + strlen(t->name) - 10, ".attn.bias");
        if (is_head) v[3] += 0.5f;
        sl_st_writer_add(w1, t->name, SL_DT_F32, t->ndim, t->shape, v);
        if (!is_head && !is_buf) sl_st_writer_add(w2, t->name, SL_DT_F32, t->ndim, t->shape, v);
        free(v);
    }
    ok(sl_st_writer_write(w1, tmp1) == 0 && sl_st_writer_write(w2, tmp2) == 0, "write variants");
    sl_st_writer_free(w1);
    sl_st_writer_free(w2);
    sl_model *m = make(spec, 1);
    if (m) {
        ok(sl_params_load(m->P, data_path("gpt_bias1.safetensors"), NULL, NULL) != 0, "a plain load rejects the mask buffers: %s",
           sl_errmsg());
        ok(sl_transformer_load(m, tmp1) == SL_EFORMAT, "tied model + different lm_head.weight: %s", sl_errmsg());
        int rc = sl_transformer_load(m, tmp2);
        ok(rc == 0, "no buffers, no head: loads (tied)%s%s", rc ? ": " : "", rc ? sl_errmsg() : "");
        sl_model_free(m);
    }
    char untied[256];
    snprintf(untied, sizeof untied, "%s,tie=0", spec);
    m = make(untied, 1);
    if (m) {
        int rc = sl_transformer_load(m, tmp1);
        int ih = sl_params_find(m->P, "lm_head.weight"), ie = sl_params_find(m->P, "transformer.wte.weight");
        ok(rc == 0 && ih >= 0 && sl_params_data(m->P, ih)[3] != sl_params_data(m->P, ie)[3], "untied model reads its own head");
        rc = sl_transformer_load(m, tmp2);
        if (rc) diag("%s", sl_errmsg());
        ok(rc == 0 && memcmp(sl_params_data(m->P, ih), sl_params_data(m->P, ie), m->P->t[ih].numel * sizeof(float)) == 0,
           "untied model + file without head: head copied from wte");
        sl_model_free(m);
    }
    unlink(tmp1);
    unlink(tmp2);
    sl_safetensors_free(st);
}

static int32_t *rand_tokens(int n, int V, uint64_t seed)
{
    int32_t *t = malloc((size_t)n * sizeof(int32_t));
    sl_rng *r = sl_rng_alloc(seed);
    for (int i = 0; i < n; i++) t[i] = (int32_t)sl_rng_int(r, (unsigned long)V);
    sl_rng_free(r);
    return t;
}

/* perturb the init so every tensor matters (gains != 1, biases != 0) */
static void jitter(sl_model *m, uint64_t seed)
{
    sl_rng *r = sl_rng_alloc(seed);
    for (size_t i = 0; i < m->P->total; i++) m->P->data[i] += (float)sl_rng_normal(r, 0.05);
    sl_rng_free(r);
}

static void grad_case(const char *spec, double h)
{
    sl_model *m = make(spec, 3);
    if (!ok(m != NULL, "create %s", spec)) return;
    jitter(m, 4);
    const int B = 2, T = 7;
    int32_t *tok = rand_tokens(B * T, m->d_in, 5);
    check_model_grads(m, spec, NULL, tok, B, T, h, 3e-2, 12);
    check_step_equals_seq(m, spec, NULL, tok, B, T, 2e-5);
    free(tok);
    sl_model_free(m);
}

/* backward through dropout (embedding, attention probabilities, attention and MLP outputs)
 * against finite differences under one fixed mask: training mode, rng reseeded per forward */
static void dropout_grad_case(const char *spec)
{
    sl_model *m = make(spec, 3);
    if (!ok(m != NULL, "create %s", spec)) return;
    jitter(m, 4);
    const int B = 2, T = 7;
    int32_t *tok = rand_tokens(B * T, m->d_in, 5);
    sl_rng *rng = sl_rng_alloc(1);
    float *y0 = malloc((size_t)B * T * m->d_out * sizeof(float)), *y1 = malloc((size_t)B * T * m->d_out * sizeof(float));
    sl_model_forward(m, NULL, tok, y0, B, T);
    sl_model_set_training(m, 1, rng);
    sl_rng_seed(rng, 8);
    sl_model_forward(m, NULL, tok, y1, B, T);
    ok(max_abs_diff(y0, y1, (size_t)B * T * m->d_out) > 1e-3, "%s: dropout changes the training forward", spec);
    char label[300];
    snprintf(label, sizeof label, "%s (training, fixed dropout mask)", spec);
    check_model_grads_rng(m, label, NULL, tok, B, T, 1e-2, 3e-2, 12, rng, 8);
    sl_model_set_training(m, 0, NULL);
    free(y0);
    free(y1);
    free(tok);
    sl_rng_free(rng);
    sl_model_free(m);
}

/* greedy generation: logits from the KV cache vs a full forward over the growing prefix */
static void cached_generation(const char *spec)
{
    sl_model *m = make(spec, 9);
    if (!m) {
        ok(0, "create %s", spec);
        return;
    }
    jitter(m, 10);
    const int V = m->d_out, steps = 12;
    int32_t seq[64] = {3};
    float *y = malloc((size_t)steps * V * sizeof(float)), *yc = malloc((size_t)V * sizeof(float));
    void *st = sl_model_state_new(m, 1);
    double worst = 0.0;
    int rc = st ? 0 : -1;
    for (int t = 0; t < steps && !rc; t++) {
        rc = sl_model_step(m, st, NULL, &seq[t], yc);
        if (!rc) rc = sl_model_forward(m, NULL, seq, y, 1, t + 1);
        if (rc) break;
        double d = max_abs_diff(yc, y + (size_t)t * V, V);
        if (d > worst) worst = d;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (yc[v] > yc[best]) best = v;
        seq[t + 1] = best;
    }
    ok(!rc && worst <= 2e-5, "%s: cached generation == recomputing the prefix (%d tokens, max diff %.2e)", spec, steps, worst);
    sl_model_state_free(m, st);
    free(y);
    free(yc);
    sl_model_free(m);
}

static double stddev(const float *x, size_t n)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    return sqrt(s2 / n - (s / n) * (s / n));
}

static void init_stats(void)
{
    sl_model *m = make("gpt:n_layer=3,n_head=4,n_embd=96,block_size=32,vocab_size=100,bias=1", 5);
    if (!m) return;
    const sl_params *P = m->P;
    int a = sl_params_find(P, "transformer.h.1.attn.c_attn.weight"), p = sl_params_find(P, "transformer.h.1.attn.c_proj.weight");
    int mp = sl_params_find(P, "transformer.h.2.mlp.c_proj.weight"), b = sl_params_find(P, "transformer.h.0.mlp.c_fc.bias");
    int ln = sl_params_find(P, "transformer.h.0.ln_1.weight"), e = sl_params_find(P, "transformer.wpe.weight");
    double want = 0.02 / sqrt(6.0);
    ok(a >= 0 && fabs(stddev(sl_params_data(P, a), P->t[a].numel) - 0.02) < 0.002, "init: c_attn std 0.02");
    ok(p >= 0 && fabs(stddev(sl_params_data(P, p), P->t[p].numel) - want) < 0.1 * want, "init: attn c_proj std 0.02/sqrt(2L)");
    ok(mp >= 0 && fabs(stddev(sl_params_data(P, mp), P->t[mp].numel) - want) < 0.1 * want, "init: mlp c_proj std 0.02/sqrt(2L)");
    ok(e >= 0 && fabs(stddev(sl_params_data(P, e), P->t[e].numel) - 0.02) < 0.003, "init: wpe std 0.02");
    ok(b >= 0 && sl_params_data(P, b)[0] == 0.0f && ln >= 0 && sl_params_data(P, ln)[5] == 1.0f,
       "init: biases 0, LayerNorm gains 1");
    ok(sl_params_find(P, "lm_head.weight") < 0, "tied: no lm_head.weight tensor");
    sl_model_free(m);
    m = make("llama:dim=64,n_layers=2,n_heads=4,n_kv_heads=2,vocab_size=50,multiple_of=32,max_seq_len=16", 5);
    if (m) {
        int w1 = sl_params_find(m->P, "layers.1.feed_forward.w1.weight"),
            kk = sl_params_find(m->P, "layers.0.attention.wk.weight");
        ok(w1 >= 0 && m->P->t[w1].shape[0] == 192 && kk >= 0 && m->P->t[kk].shape[0] == 32,
           "llama: hidden_dim by llama2.c's rule (192) and GQA wk (32 x 64)");
        sl_model_free(m);
    }
}

static void gelu_fast(void)
{
    const size_t n = 200001;
    float *x = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *da = calloc(n, sizeof(float)), *db = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = -10.0f + 20.0f * (float)i / (float)(n - 1);
        g[i] = 1.0f + 0.001f * (float)(i % 7);
    }
    sl_act_forward(SL_ACT_GELU, a, x, n);
    sl_gelu_fast_forward(b, x, n);
    sl_act_backward(SL_ACT_GELU, da, g, x, n);
    sl_gelu_fast_backward(db, g, x, n);
    double e1 = max_abs_diff(a, b, n), e2 = max_abs_diff(da, db, n);
    ok(e1 < 3e-6, "fast GELU forward == erf reference on [-10, 10] (max abs diff %.2e)", e1);
    ok(e2 < 3e-6, "fast GELU backward == reference (max abs diff %.2e)", e2);
    free(x);
    free(a);
    free(b);
    free(da);
    free(db);
    free(g);
}

/* The batch-sliced path (sl_transformer_set_slices) against the per-operation reference path
 * on odd shapes: logits, parameter gradients (with private per-slice gradients summed back),
 * accumulation over two backward calls, and central differences through the sliced path. */
static void sliced_case(const char *spec, int B, int T, int slices)
{
    sl_model *m = make(spec, 21);
    if (!ok(m != NULL, "create %s", spec)) return;
    jitter(m, 22);
    const size_t ny = (size_t)B * T * m->d_out, np = m->P->total;
    int32_t *tok = rand_tokens(B * T, m->d_in, 23);
    float *dy = tu_random(ny, 1.0f, 24);
    float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float));
    float *g0 = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    sl_transformer_set_slices(m, -1);
    sl_params_zero_grad(m->P);
    int rc = sl_model_forward(m, NULL, tok, y0, B, T) || sl_model_backward(m, dy, NULL);
    memcpy(g0, m->P->grad, np * sizeof(float));
    sl_transformer_set_slices(m, slices);
    sl_params_zero_grad(m->P);
    rc |= sl_model_forward(m, NULL, tok, y1, B, T) || sl_model_backward(m, dy, NULL);
    memcpy(g1, m->P->grad, np * sizeof(float));
    double ey = tu_rel_diff_max(y1, y0, ny), eg = tu_rel_diff_max(g1, g0, np);
    ok(!rc && ey < 1e-5, "%s B=%d T=%d: %d slices, logits == reference path (rel %.2e)", spec, B, T, slices, ey);
    ok(!rc && eg < 1e-5, "%s B=%d T=%d: %d slices, gradients == reference path (rel %.2e)", spec, B, T, slices, eg);
    /* backward accumulates: a second forward/backward doubles the gradients */
    rc = sl_model_forward(m, NULL, tok, y1, B, T) || sl_model_backward(m, dy, NULL);
    for (size_t i = 0; i < np; i++) g1[i] *= 2.0f;
    double ea = tu_rel_diff_max(m->P->grad, g1, np);
    ok(!rc && ea < 1e-6, "%s: sliced backward accumulates into P->grad (rel %.2e)", spec, ea);
    free(tok);
    free(dy);
    free(y0);
    free(y1);
    free(g0);
    free(g1);
    sl_model_free(m);
}

/* seq/model.h's generic batch slices: sl_model_forward_slices / sl_model_backward_slices with
 * k slices against sl_model_forward / sl_model_backward on the same model (the attention mixer
 * on real input, with dx; a transformer on tokens, its per-operation path as the reference):
 * outputs, input and parameter gradients. */
static void generic_slices(const char *spec, int B, int T, int k)
{
    sl_model *m = make(spec, 51);
    if (!ok(m != NULL, "create %s", spec)) return;
    jitter(m, 52);
    const int tokin = (m->caps & SL_CAP_TOKEN_IN) != 0;
    if (tokin) sl_transformer_set_slices(m, -1);
    const size_t nx = (size_t)B * T * m->d_in, ny = (size_t)B * T * m->d_out, np = m->P->total;
    int32_t *tok = tokin ? rand_tokens(B * T, m->d_in, 53) : NULL;
    float *x = tokin ? NULL : tu_random(nx, 1.0f, 54), *dy = tu_random(ny, 1.0f, 55);
    float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float));
    float *g0 = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    float *dx0 = tokin ? NULL : calloc(nx, sizeof(float)), *dx1 = tokin ? NULL : calloc(nx, sizeof(float));
    sl_buf gpriv = {0};
    sl_params_zero_grad(m->P);
    int rc = sl_model_forward(m, x, tok, y0, B, T) || sl_model_backward(m, dy, dx0);
    memcpy(g0, m->P->grad, np * sizeof(float));
    sl_params_zero_grad(m->P);
    ok(sl_model_slice_ok(m), "%s: has batch slices", spec);
    rc |= sl_model_forward_slices(m, x, tok, y1, B, T, k) || sl_model_backward_slices(m, dy, dx1, B, k, &gpriv);
    memcpy(g1, m->P->grad, np * sizeof(float));
    double ey = tu_rel_diff_max(y1, y0, ny), eg = tu_rel_diff_max(g1, g0, np), ex = tokin ? 0.0 : tu_rel_diff_max(dx1, dx0, nx);
    ok(!rc && ey < 1e-5 && eg < 1e-5 && ex < 1e-5,
       "%s B=%d T=%d: sl_model_*_slices with %d slices == the full batch (y rel %.2e, grads %.2e, dx %.2e)", spec, B, T, k, ey,
       eg, ex);
    double gz = 0.0;
    for (size_t i = 0; i < gpriv.n; i++) gz = fmax(gz, fabs(gpriv.p[i]));
    ok(gz == 0.0, "%s: private gradients are zero again after the reduction", spec);
    if (!tokin) { /* the per-operation backward refuses the caches of a sliced forward */
        rc = sl_model_forward_slices(m, x, tok, y1, B, T, k);
        int brc = sl_model_backward(m, dy, dx1);
        ok(!rc && brc == SL_EINVAL && strstr(sl_errmsg(), "sl_model_backward_slices"),
           "%s: backward after a sliced forward is refused (%s)", spec, sl_errmsg());
    }
    free(tok);
    free(x);
    free(dy);
    free(y0);
    free(y1);
    free(g0);
    free(g1);
    free(dx0);
    free(dx1);
    sl_buf_free(&gpriv);
    sl_model_free(m);
}

static void sliced_grads(const char *spec, int slices)
{
    sl_model *m = make(spec, 31);
    if (!ok(m != NULL, "create %s", spec)) return;
    jitter(m, 32);
    sl_transformer_set_slices(m, slices);
    const int B = 3, T = 5;
    int32_t *tok = rand_tokens(B * T, m->d_in, 33);
    char label[300];
    snprintf(label, sizeof label, "%s (%d slices)", spec, slices);
    check_model_grads(m, label, NULL, tok, B, T, 1.5e-2, 3e-2, 8);
    free(tok);
    sl_model_free(m);
}

/* LayerNorm fast path vs the double-accumulating reference (seq/layers.c) on odd sizes */
static void layernorm_fast(void)
{
    const int N = 37, C = 45;
    float *x = tu_random((size_t)N * C, 2.0f, 41), *w = tu_random(C, 1.0f, 42), *b = tu_random(C, 1.0f, 43);
    float *g = tu_random((size_t)N * C, 1.0f, 44);
    for (int i = 0; i < N * C; i++) x[i] += 3.0f; /* a mean far from 0 */
    float *o0 = malloc((size_t)N * C * sizeof(float)), *o1 = malloc((size_t)N * C * sizeof(float));
    float st0[2 * 37], st1[2 * 37];
    float *dx0 = calloc((size_t)N * C, sizeof(float)), *dx1 = calloc((size_t)N * C, sizeof(float));
    float dw0[45] = {0}, dw1[45] = {0}, db0[45] = {0}, db1[45] = {0};
    double e = 0.0;
    for (int variant = 0; variant < 2; variant++) { /* with and without bias */
        const float *bb = variant ? NULL : b;
        sl_layernorm_forward(o0, st0, st0 + N, x, w, bb, N, C, 1e-5f);
        sl_layernorm_fast_forward(o1, st1, st1 + N, x, w, bb, N, C, 1e-5f);
        double e1 = max_abs_diff(o0, o1, (size_t)N * C), e2 = max_abs_diff(st0, st1, 2 * N) / 3.0;
        ok(e1 < 2e-5 && e2 < 2e-6, "fast LayerNorm forward == reference (bias %d; out %.2e, stats %.2e)", !variant, e1, e2);
        sl_layernorm_backward(dx0, dw0, variant ? NULL : db0, g, x, w, st0, st0 + N, N, C);
        sl_layernorm_fast_backward(dx1, dw1, variant ? NULL : db1, g, x, w, st0, st0 + N, N, C);
        e = max_abs_diff(dx0, dx1, (size_t)N * C);
        double ew = max_abs_diff(dw0, dw1, C) / (1 + fabs(dw0[0])), eb = max_abs_diff(db0, db1, C);
        ok(e < 2e-5 && ew < 2e-5 && eb < 2e-5, "fast LayerNorm backward == reference (bias %d; dx %.2e, dw %.2e, db %.2e)",
           !variant, e, ew, eb);
    }
    /* GELU backward, written vs accumulated */
    float *a0 = malloc((size_t)N * C * sizeof(float)), *a1 = malloc((size_t)N * C * sizeof(float));
    for (int i = 0; i < N * C; i++) a0[i] = a1[i] = 0.5f;
    sl_gelu_fast_backward(a0, g, x, (size_t)N * C);
    sl_gelu_fast_backward_set(a1, g, x, (size_t)N * C);
    for (int i = 0; i < N * C; i++) a1[i] += 0.5f;
    e = max_abs_diff(a0, a1, (size_t)N * C);
    ok(e < 1e-6, "GELU backward: written + 0.5 == accumulated onto 0.5 (%.2e)", e);
    free(x);
    free(w);
    free(b);
    free(g);
    free(o0);
    free(o1);
    free(dx0);
    free(dx1);
    free(a0);
    free(a1);
}

static void kv_table(void)
{
    sl_transformer_config c = {0};
    c.style = SL_TF_GPT;
    c.d_model = 768;
    c.n_layer = 12;
    c.n_head = 12;
    c.max_seq_len = 1024;
    c.vocab_size = 50304;
    c.hidden_dim = 3072;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    ok(sl_transformer_kv_bytes_per_token(&c) == (size_t)12 * 2 * 768 * 4, "GPT-2 small MHA: %zu KV bytes/token",
       sl_transformer_kv_bytes_per_token(&c));
    c.n_kv_head = 4;
    ok(sl_transformer_kv_bytes_per_token(&c) == (size_t)12 * 2 * 4 * 64 * 4, "GQA 4 kv heads: %zu",
       sl_transformer_kv_bytes_per_token(&c));
    c.n_kv_head = 1;
    ok(sl_transformer_kv_bytes_per_token(&c) == (size_t)12 * 2 * 64 * 4, "MQA: %zu", sl_transformer_kv_bytes_per_token(&c));
    c.n_kv_head = 0;
    c.kv_lora_rank = 256;
    c.qk_rope_head_dim = 32;
    c.qk_nope_head_dim = 64;
    c.v_head_dim = 64;
    ok(sl_transformer_kv_bytes_per_token(&c) == (size_t)12 * (256 + 32) * 4, "MLA r=256 dr=32: %zu",
       sl_transformer_kv_bytes_per_token(&c));
}

static void errors(void)
{
    sl_model *m = NULL;
    ok(sl_model_create("gpt:n_layer=1,n_head=3,n_embd=16,block_size=8,vocab_size=10", 1, &m) == SL_EINVAL,
       "n_embd not divisible by n_head: %s", sl_errmsg());
    ok(sl_model_create("gpt:n_layer=1,n_head=2,n_embd=16,block_size=8,vocab_size=10,pos=absolute", 1, &m) == SL_EINVAL,
       "bad pos: %s", sl_errmsg());
    ok(sl_model_create("llama:dim=16,n_layers=1,n_heads=4,n_kv_heads=3,vocab_size=10,max_seq_len=8", 1, &m) == SL_EINVAL,
       "n_kv_heads not dividing n_heads: %s", sl_errmsg());
    ok(sl_model_create("gpt:n_layer=1,n_head=2,n_embd=16,block_size=8,vocab_size=10,n_layers=2", 1, &m) != 0,
       "llama key on gpt: %s", sl_errmsg());
    m = make("gpt:n_layer=1,n_head=2,n_embd=16,block_size=8,vocab_size=10", 1);
    if (m) {
        int32_t tok[9] = {0};
        float *y = malloc(9 * 10 * sizeof(float));
        ok(sl_model_forward(m, NULL, tok, y, 1, 9) == SL_ESHAPE, "T > block_size: %s", sl_errmsg());
        tok[0] = 10;
        ok(sl_model_forward(m, NULL, tok, y, 1, 2) == SL_EINVAL, "token outside the vocabulary: %s", sl_errmsg());
        tok[0] = 1;
        void *st = sl_model_state_new(m, 1);
        int rc = 0;
        for (int t = 0; t < 8 && !rc; t++) rc = sl_model_step(m, st, NULL, tok, y);
        ok(rc == 0 && sl_model_step(m, st, NULL, tok, y) == SL_ESHAPE, "step past block_size: %s", sl_errmsg());
        tok[0] = -1;
        sl_model_state_reset(m, st);
        ok(sl_model_step(m, st, NULL, tok, y) == SL_EINVAL, "step with a bad token: %s", sl_errmsg());
        sl_model_state_free(m, st);
        free(y);
        sl_model_free(m);
    }
}

static void wrapper_case(void)
{
    const char *spec = "lm:mixer=attention,d_model=16,n_layer=2,vocab_size=11,n_head=4,n_kv_head=2,rope=1,max_seq_len=32";
    sl_model *m = make(spec, 2);
    if (!ok(m != NULL, "lm:mixer=attention builds")) return;
    int32_t *tok = rand_tokens(2 * 10, 11, 3);
    check_step_equals_seq(m, spec, NULL, tok, 2, 10, 2e-5);
    free(tok);
    sl_model_free(m);
}

static void dropout_case(void)
{
    sl_model *m = make("gpt:n_layer=2,n_head=2,n_embd=16,block_size=16,vocab_size=12,dropout=0.2", 1);
    if (!m) return;
    const int B = 2, T = 12, n = B * T * 12;
    int32_t *tok = rand_tokens(B * T, 12, 4);
    float *y0 = malloc(n * sizeof(float)), *y1 = malloc(n * sizeof(float)), *dy = tu_random(n, 1.0f, 3);
    sl_rng *rng = sl_rng_alloc(1);
    sl_model_forward(m, NULL, tok, y0, B, T);
    sl_model_set_training(m, 1, rng);
    int rc = sl_model_forward(m, NULL, tok, y1, B, T) || sl_model_backward(m, dy, NULL);
    ok(!rc && max_abs_diff(y0, y1, n) > 1e-4, "dropout changes training outputs; backward runs");
    sl_model_set_training(m, 0, NULL);
    sl_model_forward(m, NULL, tok, y1, B, T);
    ok(max_abs_diff(y0, y1, n) == 0.0, "eval mode: no dropout");
    sl_rng_free(rng);
    free(tok);
    free(y0);
    free(y1);
    free(dy);
    sl_model_free(m);
}

/* a tiny GPT learns a periodic sequence (next token = (t*3 + 1) mod 7 pattern) */
static void learning(void)
{
    sl_model *m = make("gpt:n_layer=1,n_head=2,n_embd=32,block_size=16,vocab_size=8,bias=0", 11);
    if (!m) return;
    const int B = 4, T = 16, V = 8, N = B * T;
    int32_t tok[4 * 16], tgt[4 * 16];
    float *y = malloc((size_t)N * V * sizeof(float)), *probs = malloc((size_t)N * V * sizeof(float)),
          *dy = malloc((size_t)N * V * sizeof(float));
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    oc.weight_decay = 0.0f;
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_rng *r = sl_rng_alloc(2);
    double first = 0, last = 0;
    for (int it = 0; it < 150; it++) {
        for (int b = 0; b < B; b++) {
            int off = (int)sl_rng_int(r, 7);
            for (int t = 0; t <= T; t++) {
                int v = ((off + t) * 3 + 1) % 7;
                if (t < T) tok[b * T + t] = v;
                if (t > 0) tgt[b * T + t - 1] = v;
            }
        }
        int cnt;
        sl_params_zero_grad(m->P);
        sl_model_forward(m, NULL, tok, y, B, T);
        double loss = sl_xent_forward(probs, y, tgt, N, V, &cnt);
        memset(dy, 0, (size_t)N * V * sizeof(float));
        sl_xent_backward(dy, probs, tgt, N, V, 1.0f / cnt);
        sl_model_backward(m, dy, NULL);
        sl_optim_step(o, m->P, 3e-3f);
        if (it == 0) first = loss;
        last = loss;
    }
    ok(last < 0.1 && first > 1.5, "tiny GPT learns a periodic sequence (loss %.3f -> %.4f)", first, last);
    sl_optim_free(o);
    sl_rng_free(r);
    free(y);
    free(probs);
    free(dy);
    sl_model_free(m);
}

/* a tiny GPT learns a task that needs attention: each sequence is 8 random tokens followed by
 * the same 8 again, so the second half is predictable only by attending 7 positions back.
 * Every position is trained; the first half is unpredictable (ln 8 = 2.08 nats) unless the
 * causal mask leaks the next token, which a leaking model learns to copy instead. After
 * training, greedy next-token predictions on the second half of fresh sequences, in step mode
 * (KV cache, which never sees the future), must be right, and the training loss must stay
 * near its floor of 7/15 ln 8: a model that reads the future through a broken mask goes far
 * below it, one that cannot attend far enough stays above. */
static void learning_induction(void)
{
    sl_model *m = make(getenv("SL_INDUCTION_SPEC") ? getenv("SL_INDUCTION_SPEC")
                                                   : "gpt:n_layer=1,n_head=2,n_embd=32,block_size=16,vocab_size=8,bias=0",
                       11);
    if (!m) {
        ok(0, "induction: create");
        return;
    }
    const int B = 16, T = 16, V = 8, N = B * T, H = T / 2;
    int32_t tok[16 * 16], tgt[16 * 16];
    float *y = malloc((size_t)N * V * sizeof(float)), *probs = malloc((size_t)N * V * sizeof(float)),
          *dy = malloc((size_t)N * V * sizeof(float));
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    oc.weight_decay = 0.0f;
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_rng *r = sl_rng_alloc(5);
    double first = 0, last = 0;
    const int steps = getenv("SL_INDUCTION_STEPS") ? atoi(getenv("SL_INDUCTION_STEPS")) : 300;
    for (int it = 0; it <= steps; it++) {
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < H; t++) tok[b * T + t] = tok[b * T + t + H] = (int32_t)sl_rng_int(r, (unsigned long)V);
            for (int t = 0; t < T; t++) tgt[b * T + t] = t < T - 1 ? tok[b * T + t + 1] : -1;
        }
        if (it == steps) break; /* the last batch is the held-out one */
        int cnt;
        sl_params_zero_grad(m->P);
        sl_model_forward(m, NULL, tok, y, B, T);
        double loss = sl_xent_forward(probs, y, tgt, N, V, &cnt);
        memset(dy, 0, (size_t)N * V * sizeof(float));
        sl_xent_backward(dy, probs, tgt, N, V, 1.0f / cnt);
        sl_model_backward(m, dy, NULL);
        sl_optim_step(o, m->P, 1e-2f);
        if (it == 0) first = loss;
        last = loss;
    }
    int right = 0, total = 0;
    if (sl_model_run_steps(m, NULL, tok, y, B, T) == 0)
        for (int i = 0; i < N; i++) {
            if (tgt[i] < 0 || i % T < H - 1) continue; /* the predictable half */
            int best = 0;
            for (int v = 1; v < V; v++)
                if (y[(size_t)i * V + v] > y[(size_t)i * V + best]) best = v;
            right += best == tgt[i];
            total++;
        }
    /* the loss over all positions: 7/15 of them unpredictable, so ~0.97 at best; far below
     * that, the model is reading the future */
    ok(first > 1.8 && last < 1.2 && last > 0.8 && right >= 0.95 * total,
       "tiny GPT learns a task that needs attention (repeat a random half: loss %.3f -> %.3f; step-mode greedy %d of %d right on "
       "new sequences)",
       first, last, right, total);
    sl_optim_free(o);
    sl_rng_free(r);
    free(y);
    free(probs);
    free(dy);
    sl_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--induction")) {
        learning_induction();
        return done_testing();
    }
    if (argc == 5 && !strcmp(argv[1], "--npy-close")) return npy_close(argv[2], argv[3], atof(argv[4]));
    const char *s = getenv("SL_SRCDIR");
    snprintf(srcdir, sizeof srcdir, "%s", s ? s : ".");
    fixture_case("gpt:n_layer=2,n_head=4,n_embd=32,block_size=16,vocab_size=40,bias=1", "gpt_bias1.safetensors",
                 "gpt_bias1_logits.npy");
    fixture_case("gpt:n_layer=1,n_head=2,n_embd=16,block_size=16,vocab_size=40,bias=0", "gpt_bias0.safetensors",
                 "gpt_bias0_logits.npy");
    fixture_case("gpt:n_layer=1,n_head=2,n_embd=16,block_size=16,vocab_size=40,bias=0,kernel=naive", "gpt_bias0.safetensors",
                 "gpt_bias0_logits.npy");
    checkpoint_names();
    grad_case("gpt:n_layer=2,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=1", 1e-2);
    grad_case("gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=0,tie=0,norm=rmsnorm,pos=sinusoidal,mlp=swiglu",
              1e-2);
    grad_case("llama:dim=8,n_layers=2,n_heads=2,n_kv_heads=1,vocab_size=6,multiple_of=4,max_seq_len=8", 1e-2);
    grad_case("llama:dim=8,n_layers=1,n_heads=2,vocab_size=6,multiple_of=4,max_seq_len=8,kv_lora_rank=4,qk_nope_head_dim=2,"
              "qk_rope_head_dim=2,v_head_dim=3",
              1e-2);
    dropout_grad_case("gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=1,dropout=0.2,kernel=naive");
    dropout_grad_case("llama:dim=8,n_layers=1,n_heads=2,n_kv_heads=1,vocab_size=6,multiple_of=4,max_seq_len=8,dropout=0.2");
    cached_generation("gpt:n_layer=2,n_head=4,n_embd=32,block_size=16,vocab_size=20");
    cached_generation("llama:dim=32,n_layers=2,n_heads=4,n_kv_heads=2,vocab_size=20,multiple_of=16,max_seq_len=16");
    cached_generation("llama:dim=32,n_layers=2,n_heads=4,n_kv_heads=1,vocab_size=20,multiple_of=16,max_seq_len=16,pos=learned");
    cached_generation("llama:dim=32,n_layers=2,n_heads=4,vocab_size=20,multiple_of=16,max_seq_len=16,kv_lora_rank=8,"
                      "q_lora_rank=12,qk_nope_head_dim=8,qk_rope_head_dim=4,v_head_dim=8");
    init_stats();
    kv_table();
    gelu_fast();
    layernorm_fast();
    sliced_case("gpt:n_layer=2,n_head=3,n_embd=24,block_size=16,vocab_size=11,bias=1", 5, 7, 3);
    sliced_case("gpt:n_layer=2,n_head=3,n_embd=24,block_size=16,vocab_size=11,bias=0,kernel=naive", 5, 7, 2);
    sliced_case("gpt:n_layer=1,n_head=2,n_embd=16,block_size=80,vocab_size=9,bias=0", 3, 70, 3); /* > 1 flash tile */
    sliced_case("llama:dim=24,n_layers=2,n_heads=4,n_kv_heads=2,vocab_size=13,multiple_of=8,max_seq_len=16", 4, 9, 4);
    sliced_case("gpt:n_layer=1,n_head=2,n_embd=12,block_size=16,vocab_size=7,bias=1,tie=0,norm=rmsnorm,pos=sinusoidal,"
                "mlp=swiglu",
                3, 6, 2);
    /* 4 sequences x 4 key/value heads per slice: the fused flash backward, over 2 tiles */
    sliced_case("gpt:n_layer=1,n_head=4,n_embd=16,block_size=80,vocab_size=9,bias=1", 8, 67, 2);
    sliced_case("llama:dim=32,n_layers=1,n_heads=8,n_kv_heads=4,vocab_size=13,multiple_of=8,max_seq_len=80", 8, 67, 2);
    sliced_case("gpt:n_layer=2,n_head=3,n_embd=24,block_size=16,vocab_size=11,bias=1", 2, 5, 5); /* slices > B */
    sliced_case("gpt:n_layer=2,n_head=3,n_embd=24,block_size=16,vocab_size=11,bias=1", 5, 7, 0); /* automatic */
    generic_slices("attention:d_model=16,n_head=4,n_kv_head=2,rope=1,max_seq_len=16", 5, 9, 3);
    generic_slices("attention:d_model=12,n_head=3,bias=1,kernel=naive,names=llama", 4, 7, 4);
    generic_slices("attention:d_model=12,n_head=2,causal=0", 3, 6, 1);
    generic_slices("gpt:n_layer=2,n_head=2,n_embd=16,block_size=16,vocab_size=9,bias=1", 5, 8, 2);
    generic_slices("llama:dim=16,n_layers=1,n_heads=4,n_kv_heads=2,vocab_size=9,multiple_of=8,max_seq_len=16", 6, 5, 6);
    sliced_grads("gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=1", 3);
    sliced_grads("llama:dim=8,n_layers=1,n_heads=2,n_kv_heads=1,vocab_size=6,multiple_of=4,max_seq_len=8", 2);
    errors();
    wrapper_case();
    dropout_case();
    learning();
    learning_induction();
    return done_testing();
}
