/* t/t-replicas.c — batch slices on replicas (lab/replicas.h), issue #16 item 4: for every
 * registered mixer, bare on real input and inside the LM wrapper on tokens, and for the
 * transformers, a forward + backward split into k = 2 and 3 slices equals the unsliced pass:
 * outputs, input gradients (real input) and parameter gradients within 1e-5 of max|ref| + 1
 * (only the order of the batch sums differs). Then the weights change and the pass is compared
 * again (the replicas must read the model's weights, not a copy), the replicas' own gradient
 * blocks must be zero after backward, and sl_replicas_ok must refuse dropout while training,
 * packed rows and checkpointing. */
#include "lab/replicas.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <stdio.h>
#include <string.h>

enum { B = 5, T = 7, W = 16, V = 11 };

/* max |a - b| / (1 + max |b|); non-finite entries give INFINITY */
static double rel1(const float *a, const float *b, size_t n)
{
    double d = 0.0, mx = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        d = fmax(d, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    return d / (1.0 + mx);
}

/* one pass, sliced into k (k = 1: the model's own forward/backward); y, dx, g out */
static int pass(sl_model *m, sl_replicas *r, const float *x, const int32_t *tok, const float *dy, float *y, float *dx, float *g)
{
    const size_t nx = x ? (size_t)B * T * m->d_in : 0;
    if (dx) memset(dx, 0, nx * sizeof *dx);
    sl_params_zero_grad(m->P);
    int rc = r ? sl_replicas_forward(r, x, tok, y, B, T) : sl_model_forward(m, x, tok, y, B, T);
    if (!rc) rc = r ? sl_replicas_backward(r, dy, dx) : sl_model_backward(m, dy, dx);
    if (!rc) memcpy(g, m->P->grad, m->P->total * sizeof *g);
    return rc;
}

static void check(const char *label, const char *spec, int real)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, 3, &m)) {
        ok(0, "%s: %s", label, sl_errmsg());
        return;
    }
    sl_model_set_training(m, 1, NULL);
    const size_t nx = real ? (size_t)B * T * m->d_in : 0, ny = (size_t)B * T * m->d_out, np = m->P->total;
    float *x = real ? tu_random(nx, 1.0f, 5) : NULL;
    int32_t tok[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((7 * i + 3) % V);
    float *dy = tu_random(ny, 1.0f, 6);
    float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float));
    float *dx0 = real ? malloc(nx * sizeof(float)) : NULL, *dx1 = real ? malloc(nx * sizeof(float)) : NULL;
    float *g0 = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    const int32_t *tk = real ? NULL : tok;
    for (int k = 2; k <= 3; k++) {
        sl_replicas *r = NULL;
        int rc = sl_replicas_alloc(m, k, &r);
        if (rc) {
            ok(0, "%s k=%d: %s", label, k, sl_errmsg());
            continue;
        }
        for (int round = 0; round < 2; round++) {
            if (round) /* new weights: the replicas must see them */
                for (size_t i = 0; i < np; i++) m->P->data[i] *= 0.9f;
            rc = pass(m, NULL, x, tk, dy, y0, dx0, g0);
            if (!rc) rc = pass(m, r, x, tk, dy, y1, dx1, g1);
            if (rc) {
                ok(0, "%s k=%d: %s", label, k, sl_errmsg());
                break;
            }
            double ey = rel1(y1, y0, ny), eg = rel1(g1, g0, np), ex = real ? rel1(dx1, dx0, nx) : 0.0;
            ok(ey <= 1e-5 && eg <= 1e-5 && ex <= 1e-5, "%s k=%d%s: y %.2g, grads %.2g, dx %.2g (<= 1e-5)", label, k,
               round ? " after a weight change" : "", ey, eg, ex);
        }
        /* the replicas' gradient blocks are zero between passes */
        sl_replicas_free(r);
    }
    free(x);
    free(dy);
    free(y0);
    free(y1);
    free(dx0);
    free(dx1);
    free(g0);
    free(g1);
    sl_model_free(m);
}

/* the replicas' gradients are summed into the model's and zeroed: a second backward-only
 * accumulation equals twice the first */
static void check_accumulates(void)
{
    sl_model *m = NULL;
    if (sl_model_create("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=11", 2, &m)) {
        ok(0, "accumulate: %s", sl_errmsg());
        return;
    }
    int32_t tok[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(i % V);
    const size_t ny = (size_t)B * T * m->d_out, np = m->P->total;
    float *dy = tu_random(ny, 1.0f, 8), *y = malloc(ny * sizeof(float)), *g1 = malloc(np * sizeof(float));
    sl_replicas *r = NULL;
    int rc = sl_replicas_alloc(m, 2, &r);
    sl_params_zero_grad(m->P);
    if (!rc) rc = sl_replicas_forward(r, NULL, tok, y, B, T);
    if (!rc) rc = sl_replicas_backward(r, dy, NULL);
    if (!rc) memcpy(g1, m->P->grad, np * sizeof *g1);
    if (!rc) rc = sl_replicas_forward(r, NULL, tok, y, B, T);
    if (!rc) rc = sl_replicas_backward(r, dy, NULL);
    double e = 0.0;
    for (size_t i = 0; i < np && !rc; i++) e = fmax(e, fabs(m->P->grad[i] - 2.0 * g1[i]));
    ok(!rc && e <= 1e-5, "two sliced passes accumulate twice the gradient (%.2g): the replicas' blocks were zeroed", e);
    sl_replicas_free(r);
    free(dy);
    free(y);
    free(g1);
    sl_model_free(m);
}

static void check_refusals(void)
{
    sl_model *m = NULL;
    sl_replicas *r = NULL;
    if (!sl_model_create("gpt:n_layer=1,n_head=2,n_embd=16,block_size=16,vocab_size=11,dropout=0.1", 1, &m)) {
        sl_rng *rng = sl_rng_alloc(1);
        sl_model_set_training(m, 1, rng);
        ok(!sl_replicas_ok(m) && sl_replicas_alloc(m, 2, &r) == SL_EUNSUPPORTED && !r, "dropout while training: refused (%s)",
           sl_errmsg());
        sl_model_set_training(m, 0, NULL);
        ok(sl_replicas_ok(m), "the same model in evaluation mode: accepted");
        sl_rng_free(rng);
        sl_model_free(m);
    }
    if (!sl_model_create("lm:mixer=lstm,d_model=16,n_layer=2,vocab_size=11", 1, &m)) {
        int32_t pos[B * T];
        for (int i = 0; i < B * T; i++) pos[i] = i % T % 4;
        ok(!sl_model_set_docs(m, pos) && !sl_replicas_ok(m), "packed rows: refused");
        sl_model_set_docs(m, NULL);
        ok(!sl_model_set_checkpoint(m, 1) && !sl_replicas_ok(m), "checkpointing: refused");
        sl_model_set_checkpoint(m, 0);
        ok(sl_replicas_ok(m) && sl_replicas_alloc(m, 1, &r) == SL_EINVAL, "k = 1: refused");
        sl_model_free(m);
    }
}

int main(void)
{
    char spec[256], label[128];
    for (int i = 0; sl_registry_entry(i); i++) {
        const sl_model_entry *e = sl_registry_entry(i);
        if (!e->is_mixer) continue;
        tu_mixer_spec_bare(spec, sizeof spec, e, W);
        snprintf(label, sizeof label, "%s (bare, real input)", e->name);
        check(label, spec, 1);
        tu_mixer_spec_lm(spec, sizeof spec, e, W, V);
        snprintf(label, sizeof label, "lm:mixer=%s", e->name);
        check(label, spec, 0);
    }
    check("gpt", "gpt:n_layer=2,n_head=2,n_embd=16,block_size=32,vocab_size=11", 0);
    check("llama", "llama:n_layers=2,n_heads=4,n_kv_heads=2,dim=16,max_seq_len=32,vocab_size=11", 0);
    check("lstm, 2 layers, bidirectional", "lstm:input_size=6,hidden_size=8,num_layers=2,bidirectional=1", 1);
    check_accumulates();
    check_refusals();
    return done_testing();
}
