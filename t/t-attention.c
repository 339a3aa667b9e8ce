/* t/t-attention.c — attention kernels (flash vs naive vs a float64 reference, gradients) and
 * the attention mixer (MHA/MQA/GQA/MLA, RoPE, step mode with a KV cache, KV bytes, errors). */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "core/gradcheck.h"
#include "lab/registry.h"
#include "seq/attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* float64 reference: out (B,Hq,T,Dv) */
static void ref_attention(double *out, const float *q, const float *k, const float *v, const sl_attn_shape *s)
{
    const int G = s->Hq / s->Hkv;
    double *sc = malloc((size_t)s->T * sizeof(double));
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->Hq; h++) {
            const int hk = b * s->Hkv + h / G, bh = b * s->Hq + h;
            for (int i = 0; i < s->T; i++) {
                int n = s->causal ? i + 1 : s->T;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < n; j++) {
                    double d = 0.0;
                    for (int c = 0; c < s->Dk; c++)
                        d += (double)q[((size_t)bh * s->T + i) * s->Dk + c] * k[((size_t)hk * s->T + j) * s->Dk + c];
                    sc[j] = d * s->scale;
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < n; j++) {
                    sc[j] = exp(sc[j] - mx);
                    sum += sc[j];
                }
                for (int c = 0; c < s->Dv; c++) {
                    double o = 0.0;
                    for (int j = 0; j < n; j++) o += sc[j] / sum * v[((size_t)hk * s->T + j) * s->Dv + c];
                    out[((size_t)bh * s->T + i) * s->Dv + c] = o;
                }
            }
        }
    free(sc);
}

typedef struct {
    sl_attn_shape s;
    float *q, *k, *v, *out, *lse, *R;
} kctx;

static double flash_loss(void *p)
{
    kctx *c = p;
    sl_attn_flash_forward(c->out, c->lse, c->q, c->k, c->v, &c->s);
    double L = 0.0;
    size_t n = (size_t)c->s.B * c->s.Hq * c->s.T * c->s.Dv;
    for (size_t i = 0; i < n; i++) L += (double)c->out[i] * c->R[i];
    return L;
}

static void kernel_case(int B, int Hq, int Hkv, int T, int Dk, int Dv, int causal)
{
    sl_attn_shape s = {B, Hq, Hkv, T, Dk, Dv, 1.0f / sqrtf((float)Dk), causal};
    const size_t nq = (size_t)B * Hq * T * Dk, nk = (size_t)B * Hkv * T * Dk, nv = (size_t)B * Hkv * T * Dv;
    const size_t no = (size_t)B * Hq * T * Dv;
    float *q = tu_random(nq, 1.0f, 1), *k = tu_random(nk, 1.0f, 2), *v = tu_random(nv, 1.0f, 3);
    float *dout = tu_random(no, 1.0f, 4);
    float *o1 = malloc(no * sizeof(float)), *o2 = malloc(no * sizeof(float));
    float *att = malloc((size_t)B * Hq * T * T * sizeof(float)), *lse = malloc((size_t)B * Hq * T * sizeof(float));
    double *oref = malloc(no * sizeof(double));
    char label[128];
    snprintf(label, sizeof label, "B=%d Hq=%d Hkv=%d T=%d Dk=%d Dv=%d %s", B, Hq, Hkv, T, Dk, Dv, causal ? "causal" : "full");
    sl_attn_naive_forward(o1, att, q, k, v, NULL, &s);
    int rc = sl_attn_flash_forward(o2, lse, q, k, v, &s);
    ref_attention(oref, q, k, v, &s);
    double e1 = 0, e2 = 0;
    for (size_t i = 0; i < no; i++) {
        e1 = fmax(e1, fabs(o1[i] - oref[i]));
        e2 = fmax(e2, fabs(o2[i] - oref[i]));
    }
    ok(e1 < 1e-5, "%s: naive == float64 reference (%.2e)", label, e1);
    ok(rc == 0 && e2 < 1e-5, "%s: flash == float64 reference (%.2e)", label, e2);
    /* backward: flash vs naive */
    float *g[6];
    size_t sz[3] = {nq, nk, nv};
    for (int i = 0; i < 6; i++) g[i] = calloc(sz[i % 3], sizeof(float));
    sl_attn_naive_backward(g[0], g[1], g[2], dout, q, k, v, att, NULL, &s);
    rc = sl_attn_flash_backward(g[3], g[4], g[5], dout, q, k, v, o2, lse, &s);
    const char *nm[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; i++) {
        double e = rc ? INFINITY : max_abs_diff(g[i], g[i + 3], sz[i]);
        ok(e < 2e-5, "%s: flash %s == naive %s (%.2e)", label, nm[i], nm[i], e);
    }
    for (int i = 0; i < 6; i++) free(g[i]);
    free(q);
    free(k);
    free(v);
    free(dout);
    free(o1);
    free(o2);
    free(att);
    free(lse);
    free(oref);
}

static void kernel_gradcheck(int causal)
{
    sl_attn_shape s = {1, 4, 2, 70, 6, 5, 1.0f / sqrtf(6.0f), causal};
    const size_t nq = 4 * 70 * 6, nk = 2 * 70 * 6, nv = 2 * 70 * 5, no = 4 * 70 * 5;
    kctx c = {s,
              tu_random(nq, 1.0f, 11),
              tu_random(nk, 1.0f, 12),
              tu_random(nv, 1.0f, 13),
              malloc(no * sizeof(float)),
              malloc(4 * 70 * sizeof(float)),
              tu_random(no, 1.0f, 14)};
    float *dq = calloc(nq, sizeof(float)), *dk = calloc(nk, sizeof(float)), *dv = calloc(nv, sizeof(float));
    flash_loss(&c);
    sl_attn_flash_backward(dq, dk, dv, c.R, c.q, c.k, c.v, c.out, c.lse, &c.s);
    float *xs[3] = {c.q, c.k, c.v}, *gs[3] = {dq, dk, dv};
    size_t ns[3] = {nq, nk, nv};
    const char *nm[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        sl_gradcheck_result r;
        int rc = sl_gradcheck(xs[i], gs[i], ns[i], flash_loss, &c, 1e-2, 150, 1e-3, &r);
        ok(rc == 0 && r.max_rel < 2e-2, "flash %s: gradient of %s vs central differences (max rel %.2e over %zu)",
           causal ? "causal" : "full", nm[i], r.max_rel, r.checked);
    }
    free(c.q);
    free(c.k);
    free(c.v);
    free(c.out);
    free(c.lse);
    free(c.R);
    free(dq);
    free(dk);
    free(dv);
}

static sl_model *make(const char *spec)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, 42, &m)) {
        diag("create '%s': %s", spec, sl_errmsg());
        return NULL;
    }
    return m;
}

static void mixer_case(const char *spec, int gradcheck)
{
    sl_model *m = make(spec);
    if (!ok(m != NULL, "create %s", spec)) return;
    const int B = 2, T = 9, C = m->d_in;
    float *x = tu_random((size_t)B * T * C, 1.0f, 7);
    if (gradcheck) check_model_grads(m, spec, x, NULL, B, T, gradcheck == 2 ? 1e-3 : 1e-2, 2e-2, 24);
    if (m->caps & SL_CAP_STEP) check_step_equals_seq(m, spec, x, NULL, B, T, 2e-5);
    free(x);
    sl_model_free(m);
}

static void kernel_swap(const char *flash_spec, const char *naive_spec)
{
    sl_model *a = make(flash_spec), *b = make(naive_spec);
    if (!ok(a && b, "create flash/naive pair")) {
        sl_model_free(a);
        sl_model_free(b);
        return;
    }
    const int B = 2, T = 77, C = a->d_in;
    float *x = tu_random((size_t)B * T * C, 1.0f, 8), *dy = tu_random((size_t)B * T * C, 1.0f, 9);
    float *y1 = malloc((size_t)B * T * C * sizeof(float)), *y2 = malloc((size_t)B * T * C * sizeof(float));
    float *dx1 = calloc((size_t)B * T * C, sizeof(float)), *dx2 = calloc((size_t)B * T * C, sizeof(float));
    int rc = sl_model_forward(a, x, NULL, y1, B, T) || sl_model_backward(a, dy, dx1) || sl_model_forward(b, x, NULL, y2, B, T) ||
             sl_model_backward(b, dy, dx2);
    ok(!rc && max_abs_diff(y1, y2, (size_t)B * T * C) < 1e-5, "%s: flash output == naive output", flash_spec);
    ok(!rc && max_abs_diff(dx1, dx2, (size_t)B * T * C) < 1e-4, "%s: flash dx == naive dx", flash_spec);
    ok(!rc && max_abs_diff(a->P->grad, b->P->grad, a->P->total) < 1e-4, "%s: flash param grads == naive", flash_spec);
    free(x);
    free(dy);
    free(y1);
    free(y2);
    free(dx1);
    free(dx2);
    sl_model_free(a);
    sl_model_free(b);
}

static void kv_bytes(void)
{
    sl_attn_config c;
    sl_attn_config_default(&c, 512, 8); /* hd 64 */
    ok(sl_attn_kv_bytes_per_token(&c) == 2 * 8 * 64 * 4, "KV bytes/token MHA 8 heads x 64: %zu", sl_attn_kv_bytes_per_token(&c));
    c.n_kv_head = 2;
    ok(sl_attn_kv_bytes_per_token(&c) == 2 * 2 * 64 * 4, "KV bytes/token GQA 2 kv heads: %zu", sl_attn_kv_bytes_per_token(&c));
    c.n_kv_head = 1;
    ok(sl_attn_kv_bytes_per_token(&c) == 2 * 1 * 64 * 4, "KV bytes/token MQA: %zu", sl_attn_kv_bytes_per_token(&c));
    c.n_kv_head = 0;
    c.kv_lora_rank = 128;
    c.qk_nope_head_dim = 64;
    c.qk_rope_head_dim = 32;
    c.v_head_dim = 64;
    ok(sl_attn_kv_bytes_per_token(&c) == (128 + 32) * 4, "KV bytes/token MLA r=128 dr=32: %zu", sl_attn_kv_bytes_per_token(&c));
    /* the state really holds that: a step state of B sequences allocates max_seq_len * B *
     * (bytes per token) of KV cache, for MHA, GQA, MQA and MLA */
    const char *specs[] = {
        "attention:d_model=32,n_head=4,max_seq_len=24", "attention:d_model=32,n_head=4,n_kv_head=2,max_seq_len=24",
        "attention:d_model=32,n_head=4,n_kv_head=1,max_seq_len=24",
        "attention:d_model=32,n_head=4,max_seq_len=24,kv_lora_rank=8,qk_nope_head_dim=8,qk_rope_head_dim=4,v_head_dim=8"};
    const size_t per_token[] = {2 * 4 * 8 * 4, 2 * 2 * 8 * 4, 2 * 1 * 8 * 4, (8 + 4) * 4};
    for (int i = 0; i < 4; i++) {
        sl_model *m = make(specs[i]);
        void *st = m ? sl_model_state_new(m, 3) : NULL;
        size_t got = st ? sl_attn_state_kv_bytes(st) : 0;
        ok(got == 3 * 24 * per_token[i], "%s: a 3-sequence state holds 3 x 24 x %zu bytes of KV cache (%zu)", specs[i],
           per_token[i], got);
        if (st) sl_model_state_free(m, st);
        sl_model_free(m);
    }
}

static void errors(void)
{
    sl_model *m = NULL;
    ok(sl_model_create("attention:d_model=16,n_head=4,n_kv_head=3", 1, &m) == SL_EINVAL && !m,
       "n_kv_head not dividing n_head is an error: %s", sl_errmsg());
    ok(sl_model_create("attention:d_model=18,n_head=4", 1, &m) == SL_EINVAL, "d_model not a multiple of n_head: %s", sl_errmsg());
    ok(sl_model_create("attention:d_model=10,n_head=2,rope=1", 1, &m) == SL_EINVAL, "odd head dim with RoPE: %s", sl_errmsg());
    ok(sl_model_create("attention:d_model=16,n_head=4,kernel=fast", 1, &m) == SL_EINVAL, "unknown kernel: %s", sl_errmsg());
    ok(sl_model_create("attention:d_model=16,n_head=4,heads=4", 1, &m) != 0, "unknown key: %s", sl_errmsg());
    m = make("attention:d_model=8,n_head=2,rope=1,max_seq_len=4");
    if (m) {
        float x[2 * 5 * 8] = {0}, y[2 * 5 * 8];
        ok(sl_model_forward(m, x, NULL, y, 2, 5) == SL_ESHAPE, "T > max_seq_len with RoPE: %s", sl_errmsg());
        void *st = sl_model_state_new(m, 1);
        int rc = 0;
        for (int t = 0; t < 4 && !rc; t++) rc = sl_model_step(m, st, x, NULL, y);
        ok(rc == 0 && sl_model_step(m, st, x, NULL, y) == SL_ESHAPE, "KV cache full after max_seq_len steps: %s", sl_errmsg());
        ok(sl_model_state_reset(m, st) == 0 && sl_attn_state_pos(st) == 0 && sl_model_step(m, st, x, NULL, y) == 0,
           "state reset empties the cache");
        sl_model_state_free(m, st);
        sl_model_free(m);
    }
    m = make("attention:d_model=8,n_head=2,causal=0");
    if (m) {
        ok(!(m->caps & SL_CAP_STEP) && sl_model_state_new(m, 1) == NULL, "bidirectional attention has no step mode");
        sl_model_free(m);
    }
    sl_attn_shape s = {1, 3, 2, 4, 4, 4, 1.0f, 1};
    ok(sl_attn_shape_check(&s) == SL_ESHAPE, "kernel shape check: %s", sl_errmsg());
}

static void dropout_case(const char *spec)
{
    sl_model *m = make(spec);
    if (!m) return;
    const int B = 2, T = 10, N = B * T * 16;
    float *x = tu_random(N, 1.0f, 5), *y0 = malloc(N * sizeof(float)), *y1 = malloc(N * sizeof(float));
    sl_rng *rng = sl_rng_alloc(3);
    sl_model_forward(m, x, NULL, y0, B, T);
    sl_model_set_training(m, 1, rng);
    sl_model_forward(m, x, NULL, y1, B, T);
    int zeros = 0;
    for (int i = 0; i < N; i++) zeros += y1[i] == 0.0f;
    ok(max_abs_diff(y0, y1, N) > 1e-3 && zeros > N / 10, "dropout active in training (%d zeros of %d)", zeros, N);
    float *dy = tu_random(N, 1.0f, 6), *dx = calloc(N, sizeof(float));
    ok(sl_model_backward(m, dy, dx) == 0, "backward through dropout");
    /* the backward through dropout against finite differences under one fixed mask, on both
     * places dropout acts (attention probabilities and the output) */
    char label[200];
    snprintf(label, sizeof label, "%s (fixed mask)", spec);
    check_model_grads_rng(m, label, x, NULL, B, T, 1e-2, 3e-2, 24, rng, 99);
    sl_model_set_training(m, 0, NULL);
    sl_model_forward(m, x, NULL, y1, B, T);
    ok(max_abs_diff(y0, y1, N) == 0.0, "eval mode is deterministic again");
    free(x);
    free(y0);
    free(y1);
    free(dy);
    free(dx);
    sl_rng_free(rng);
    sl_model_free(m);
}

int main(void)
{
    /* kernels: odd sizes cross tile boundaries (tiles are 64) */
    kernel_case(2, 4, 4, 100, 8, 8, 1);
    kernel_case(1, 4, 2, 130, 16, 12, 1); /* GQA, Dk != Dv */
    kernel_case(2, 3, 1, 64, 8, 8, 1);    /* MQA, exactly one tile */
    kernel_case(1, 2, 2, 150, 8, 8, 0);   /* bidirectional */
    kernel_case(1, 2, 1, 1, 4, 4, 1);     /* T = 1 */
    kernel_case(4, 8, 4, 100, 8, 8, 1);   /* B*Hkv = 16: fused single-pass backward */
    kernel_case(2, 8, 8, 70, 8, 6, 0);    /* fused, bidirectional */
    kernel_gradcheck(1);
    kernel_gradcheck(0);

    mixer_case("attention:d_model=16,n_head=4", 1);
    mixer_case("attention:d_model=16,n_head=4,bias=1,kernel=naive", 1);
    mixer_case("attention:d_model=16,n_head=4,n_kv_head=2,rope=1,names=llama", 1);
    mixer_case("attention:d_model=16,n_head=4,n_kv_head=1,rope=1,bias=1,names=llama", 1);
    mixer_case("attention:d_model=16,n_head=4,kv_lora_rank=6,qk_nope_head_dim=4,qk_rope_head_dim=2,v_head_dim=3,rope=1", 2);
    mixer_case(
        "attention:d_model=16,n_head=2,kv_lora_rank=5,q_lora_rank=7,qk_nope_head_dim=3,qk_rope_head_dim=4,v_head_dim=5,rope=1",
        2);
    mixer_case("attention:d_model=16,n_head=2,kv_lora_rank=5,qk_nope_head_dim=3,qk_rope_head_dim=0,v_head_dim=5", 0);
    mixer_case("attention:d_model=16,n_head=4,causal=0", 1);
    kernel_swap("attention:d_model=16,n_head=4,n_kv_head=2,rope=1",
                "attention:d_model=16,n_head=4,n_kv_head=2,rope=1,kernel=naive");
    kernel_swap(
        "attention:d_model=16,n_head=2,kv_lora_rank=6,qk_nope_head_dim=4,qk_rope_head_dim=2,v_head_dim=3,rope=1",
        "attention:d_model=16,n_head=2,kv_lora_rank=6,qk_nope_head_dim=4,qk_rope_head_dim=2,v_head_dim=3,rope=1,kernel=naive");
    kv_bytes();
    errors();
    dropout_case("attention:d_model=16,n_head=4,dropout=0.3");
    dropout_case("attention:d_model=16,n_head=4,dropout=0.3,kernel=naive"); /* dropout on the probabilities too */
    return done_testing();
}
