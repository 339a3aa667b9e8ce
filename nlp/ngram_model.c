/* nlp/ngram_model.c — n-gram LM behind the sequence interface (see nlp/ngram_model.h). */
#include "nlp/ngram_model.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int method_vals[] = {SL_NGRAM_MKN, SL_NGRAM_KN, SL_NGRAM_ADDK, SL_NGRAM_MLE};
const sl_spec_key sl_ngram_keys[] = {
    SL_KEY_INT(sl_ngram_model_config, order, "order", "3", 1, SL_NGRAM_MAX_ORDER, "n-gram order N (context of N-1 tokens)"),
    SL_KEY_CHOICE(sl_ngram_model_config, method, "method", "mkn", "mkn|kn|addk|mle", method_vals,
                  "mkn (modified Kneser-Ney) | kn | addk | mle"),
    SL_KEY_INT(sl_ngram_model_config, vocab_size, "vocab_size", "256", 1, 16777216, "number of token ids"),
    SL_KEY_DOUBLE(sl_ngram_model_config, k, "k", "1", 1e-12, 1e12, "add-k pseudo-count (method=addk)"),
    SL_KEY_DOUBLE(sl_ngram_model_config, discount, "discount", "0", 0, 0.999999,
                  "kn: fixed discount for every order (0 = estimate n1/(n1+2n2))"),
    SL_KEY_BOOL(sl_ngram_model_config, discount_fallback, "discount_fallback", "1",
                "use D1=0.5 D2=1 D3+=1.5 where a discount cannot be estimated"),
    SL_KEY_END,
};

void sl_ngram_model_config_default(sl_ngram_model_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_ngram_keys, c); /* cannot fail: the table's defaults are valid */
}

typedef struct {
    sl_model base;
    sl_ngram_opts opts;
    int V;
    sl_ngram_lm *lm; /* counts + estimate; NULL before fit */
} ngram_model;

typedef struct {
    int B, n;     /* rows; context length kept (<= order-1) */
    int32_t *ctx; /* (B, order) word ids, oldest first */
    int *len;     /* (B,) */
} ngram_state;

static void nm_destroy(sl_model *m)
{
    ngram_model *g = (ngram_model *)m;
    sl_ngram_free(g->lm);
    free(g);
}

/* y (V,) = ln p(v | ctx) renormalised over the V token ids */
static void nm_row(const ngram_model *g, const int32_t *ctx, int nctx, float *y)
{
    const int V = g->V;
    if (!g->lm || !g->lm->estimated) {
        float u = -logf((float)V);
        for (int v = 0; v < V; v++) y[v] = u;
        return;
    }
    const double ln10 = log(10.0);
    double mx = -INFINITY;
    for (int v = 0; v < V; v++) {
        double l = (double)sl_ngram_score(g->lm, ctx, nctx, v + 3, NULL) * ln10;
        y[v] = (float)l;
        if (l > mx) mx = l;
    }
    double s = 0;
    for (int v = 0; v < V; v++) s += exp((double)y[v] - mx);
    double lse = mx + log(s);
    for (int v = 0; v < V; v++) y[v] = (float)((double)y[v] - lse);
}

static int push(int32_t *ctx, int *len, int cap, int32_t w)
{
    if (cap == 0) return 0;
    if (*len == cap) {
        memmove(ctx, ctx + 1, (size_t)(cap - 1) * sizeof *ctx);
        (*len)--;
    }
    ctx[(*len)++] = w;
    return 0;
}

static int nm_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    ngram_model *g = (ngram_model *)m;
    if (!tok) return sl_error(SL_EINVAL, "ngram: token input required");
    const int cap = g->opts.order - 1, V = g->V;
    for (long i = 0; i < (long)B * T; i++)
        if (tok[i] < 0 || tok[i] >= V) return sl_error(SL_EINVAL, "ngram: token %d out of range [0, %d)", tok[i], V);
    #pragma omp parallel for schedule(dynamic) if (B > 1)
    for (int b = 0; b < B; b++) {
        int32_t ctx[SL_NGRAM_MAX_ORDER];
        int len = 0;
        push(ctx, &len, cap, SL_NGRAM_BOS);
        for (int t = 0; t < T; t++) {
            push(ctx, &len, cap, tok[(size_t)b * T + t] + 3);
            nm_row(g, ctx, len, y + ((size_t)b * T + t) * V);
        }
    }
    return SL_OK;
}

static int nm_backward(sl_model *m, const float *dy, float *dx)
{
    return sl_error(SL_EUNSUPPORTED, "ngram is fitted from counts, it has no backward");
}

static void *nm_state_new(sl_model *m, int B)
{
    ngram_model *g = (ngram_model *)m;
    ngram_state *s = calloc(1, sizeof *s);
    if (s) {
        s->B = B;
        s->n = g->opts.order;
        s->ctx = calloc((size_t)B * (size_t)s->n, sizeof *s->ctx);
        s->len = calloc((size_t)B, sizeof *s->len);
    }
    if (!s || !s->ctx || !s->len) {
        if (s) {
            free(s->ctx);
            free(s->len);
            free(s);
        }
        sl_error(SL_ENOMEM, "ngram: out of memory");
        return NULL;
    }
    for (int b = 0; b < B; b++) push(s->ctx + (size_t)b * s->n, &s->len[b], g->opts.order - 1, SL_NGRAM_BOS);
    return s;
}

static void nm_state_free(sl_model *m, void *state)
{
    ngram_state *s = state;
    if (!s) return;
    free(s->ctx);
    free(s->len);
    free(s);
}

static int nm_state_reset(sl_model *m, void *state)
{
    ngram_model *g = (ngram_model *)m;
    ngram_state *s = state;
    for (int b = 0; b < s->B; b++) {
        s->len[b] = 0;
        push(s->ctx + (size_t)b * s->n, &s->len[b], g->opts.order - 1, SL_NGRAM_BOS);
    }
    return SL_OK;
}

static int nm_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *y)
{
    ngram_model *g = (ngram_model *)m;
    ngram_state *s = state;
    if (!tok) return sl_error(SL_EINVAL, "ngram: token input required");
    for (int b = 0; b < s->B; b++) {
        if (tok[b] < 0 || tok[b] >= g->V) return sl_error(SL_EINVAL, "ngram: token %d out of range [0, %d)", tok[b], g->V);
        int32_t *ctx = s->ctx + (size_t)b * s->n;
        push(ctx, &s->len[b], g->opts.order - 1, tok[b] + 3);
        nm_row(g, ctx, s->len[b], y + (size_t)b * g->V);
    }
    return SL_OK;
}

static int nm_fit(sl_model *m, const int32_t *tok, size_t n)
{
    ngram_model *g = (ngram_model *)m;
    int rc;
    if (!g->lm) {
        if ((rc = sl_ngram_alloc(g->opts.order, &g->lm))) return rc;
        char w[16];
        for (int v = 0; v < g->V; v++) { /* token v is word "v", id v + 3 */
            snprintf(w, sizeof w, "%d", v);
            if ((rc = sl_vocab_add(g->lm->vocab, w, strlen(w), 0, NULL))) return rc;
        }
    }
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return sl_error(SL_ENOMEM, "ngram fit: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < 0 || tok[i] >= g->V) {
            free(ids);
            return sl_error(SL_EINVAL, "ngram fit: token %d at %zu out of range [0, %d)", tok[i], i, g->V);
        }
        ids[i] = tok[i] + 3;
    }
    rc = sl_ngram_count_sentence(g->lm, ids, n, 1);
    free(ids);
    if (!rc) rc = sl_ngram_estimate(g->lm, &g->opts);
    return rc;
}

/* snapshot for speculative decoding (issue #17 item 4) */
static int nm_state_copy(sl_model *base_, void *dst, const void *src)
{
    (void)base_;
    ngram_state *d = dst;
    const ngram_state *s = src;
    if (d->B != s->B || d->n != s->n) return sl_error(SL_ESHAPE, "ngram: state copy between different shapes");
    memcpy(d->ctx, s->ctx, (size_t)s->B * s->n * sizeof *s->ctx);
    memcpy(d->len, s->len, (size_t)s->B * sizeof *s->len);
    return SL_OK;
}

static const sl_model_vt ngram_vt = {
    .kind = "ngram",
    .destroy = nm_destroy,
    .forward = nm_forward,
    .backward = nm_backward,
    .state_new = nm_state_new,
    .state_free = nm_state_free,
    .state_reset = nm_state_reset,
    .state_copy = nm_state_copy,
    .step = nm_step,
    .fit = nm_fit,
};

int sl_ngram_model_create(const sl_ngram_opts *o, int vocab_size, sl_params *P, sl_model **out)
{
    *out = NULL;
    if (o->order < 1 || o->order > SL_NGRAM_MAX_ORDER)
        return sl_error(SL_EINVAL, "ngram: order %d out of range [1, %d]", o->order, SL_NGRAM_MAX_ORDER);
    if (vocab_size < 1) return sl_error(SL_EINVAL, "ngram: vocab_size must be >= 1");
    ngram_model *g = calloc(1, sizeof *g);
    if (!g) return sl_error(SL_ENOMEM, "ngram: out of memory");
    g->base.vt = &ngram_vt;
    g->base.caps = SL_CAP_FIT | SL_CAP_STEP | SL_CAP_TOKEN_IN | SL_CAP_TOKEN_OUT;
    g->base.d_in = vocab_size;
    g->base.d_out = vocab_size;
    g->base.P = P;
    g->opts = *o;
    g->V = vocab_size;
    *out = &g->base;
    return SL_OK;
}

int sl_ngram_model_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    (void)prefix;
    sl_ngram_model_config c;
    sl_ngram_model_config_default(&c);
    int rc = sl_spec_read(s, sl_ngram_keys, &c);
    if (rc) return rc;
    sl_ngram_opts o;
    sl_ngram_opts_default(&o, c.order);
    o.method = (sl_ngram_method)c.method;
    o.k = c.k;
    o.discount = c.discount;
    o.discount_fallback = c.discount_fallback;
    return sl_ngram_model_create(&o, c.vocab_size, P, out);
}

const sl_ngram_lm *sl_ngram_model_lm(const sl_model *m)
{
    if (!m || !m->vt || strcmp(m->vt->kind, "ngram")) return NULL;
    return ((const ngram_model *)m)->lm;
}
