/* lab/replicas.c — see replicas.h. */
#include "lab/replicas.h"
#include "core/error.h"
#include "lab/registry.h"
#include "seq/spec.h"

#include <stdlib.h>
#include <string.h>

struct sl_replicas {
    sl_model *m;    /* slice 0 */
    int k;          /* slices */
    sl_model **rep; /* (k-1,) slices 1..k-1, each owning its table (borrowed data, own grad) */
    int B, T;       /* the last forward's batch */
};

/* 1 if a key of m's canonical spec named like "dropout" holds a non-zero value */
static int spec_has_dropout(const char *spec)
{
    sl_spec *s;
    if (sl_spec_parse(spec, &s)) return 1; /* cannot tell: say yes */
    int on = 0;
    for (int i = 0; i < s->n && !on; i++)
        if (strstr(s->keys[i], "dropout") && strtod(s->vals[i], NULL) != 0.0) on = 1;
    sl_spec_free(s);
    return on;
}

int sl_replicas_ok(const sl_model *m)
{
    return m->spec && (m->caps & SL_CAP_GRAD) && m->P && m->P->data && m->P->grad && !m->P->borrowed && !m->doc_pos && !m->ckpt &&
           !(m->training && spec_has_dropout(m->spec));
}

void sl_replicas_free(sl_replicas *r)
{
    if (!r) return;
    for (int s = 0; s < r->k - 1; s++)
        if (r->rep[s]) sl_model_free(r->rep[s]);
    free(r->rep);
    free(r);
}

int sl_replicas_k(const sl_replicas *r) { return r->k; }

int sl_replicas_alloc(sl_model *m, int k, sl_replicas **out)
{
    *out = NULL;
    if (k < 2) return sl_error(SL_EINVAL, "replicas: %d slices (need >= 2)", k);
    if (!sl_replicas_ok(m)) return sl_error(SL_EUNSUPPORTED, "%s: its batch cannot be split over replicas here", m->vt->kind);
    sl_replicas *r = calloc(1, sizeof *r);
    if (!r || !(r->rep = calloc((size_t)k - 1, sizeof *r->rep))) {
        free(r);
        return sl_error(SL_ENOMEM, "replicas: out of memory");
    }
    r->m = m;
    r->k = k;
    int rc = SL_OK;
    for (int s = 0; s < k - 1 && !rc; s++) {
        sl_params *P = sl_params_new();
        if (!P) {
            rc = sl_error(SL_ENOMEM, "replicas: out of memory");
            break;
        }
        sl_model *c = NULL;
        if ((rc = sl_model_create_in(m->spec, P, "", &c)) || (rc = sl_params_alloc_shared(P, m->P))) {
            if (c) sl_model_free(c);
            sl_params_free(P);
            break;
        }
        c->owns_params = 1;
        c->max_len = m->max_len;
        r->rep[s] = c;
    }
    if (rc) {
        sl_replicas_free(r); /* frees the replicas made so far (rep[s] NULL after them) */
        return rc;
    }
    *out = r;
    return SL_OK;
}

static sl_model *slice_model(sl_replicas *r, int s) { return s ? r->rep[s - 1] : r->m; }

int sl_replicas_forward(sl_replicas *r, const float *x, const int32_t *tok, float *y, int B, int T)
{
    const int k = r->k;
    sl_model *m = r->m;
    if (B < k || T <= 0) return sl_error(SL_ESHAPE, "%s: %d sequences of length %d cannot make %d slices", m->vt->kind, B, T, k);
    if (!sl_replicas_ok(m)) return sl_error(SL_EUNSUPPORTED, "%s: its batch cannot be split over replicas here", m->vt->kind);
    for (int s = 1; s < k; s++) {
        sl_model_set_training(r->rep[s - 1], m->training, m->rng);
        sl_model_set_inference(r->rep[s - 1], m->inference);
    }
    int rc[k];
    const size_t din = (size_t)T * m->d_in, dout = (size_t)T * m->d_out;
    #pragma omp parallel for num_threads(k) schedule(static, 1)
    for (int s = 0; s < k; s++) {
        const int b0 = (int)((long)B * s / k), b1 = (int)((long)B * (s + 1) / k);
        rc[s] = sl_model_forward(slice_model(r, s), x ? x + b0 * din : NULL, tok ? tok + (size_t)b0 * T : NULL, y + b0 * dout,
                                 b1 - b0, T);
    }
    r->B = B;
    r->T = T;
    for (int s = 0; s < k; s++)
        if (rc[s]) return rc[s];
    return SL_OK;
}

int sl_replicas_backward(sl_replicas *r, const float *dy, float *dx)
{
    const int k = r->k, B = r->B, T = r->T;
    sl_model *m = r->m;
    if (!B) return sl_error(SL_EINVAL, "%s: backward before a sliced forward", m->vt->kind);
    int rc[k];
    const size_t din = (size_t)T * m->d_in, dout = (size_t)T * m->d_out;
    #pragma omp parallel for num_threads(k) schedule(static, 1)
    for (int s = 0; s < k; s++) {
        const int b0 = (int)((long)B * s / k);
        rc[s] = sl_model_backward(slice_model(r, s), dy + b0 * dout, dx ? dx + b0 * din : NULL);
    }
    for (int s = 0; s < k; s++)
        if (rc[s]) return rc[s];
    /* the replicas' gradients into the model's, in slice order, then zeroed */
    float *g = m->P->grad;
    const size_t n = m->P->total;
    for (int s = 1; s < k; s++) {
        float *gs = r->rep[s - 1]->P->grad;
        for (size_t i = 0; i < n; i++) g[i] += gs[i];
        memset(gs, 0, n * sizeof *gs);
    }
    return SL_OK;
}
