/* core/optim.c — SGD/AdamW, schedules, clipping (see optim.h). */
#include "core/optim.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sl_optim_config sl_optim_defaults(sl_opt_kind kind)
{
    sl_optim_config c = {0};
    c.kind = kind;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.momentum = kind == SL_OPT_SGD ? 0.9f : 0.0f;
    c.weight_decay = kind == SL_OPT_ADAMW ? 0.01f : 0.0f;
    return c;
}

sl_optim *sl_optim_alloc(const sl_optim_config *cfg, size_t n)
{
    sl_optim *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->cfg = *cfg;
    o->n = n;
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) { sl_optim_free(o); return NULL; }
    return o;
}

void sl_optim_free(sl_optim *o)
{
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o);
}

static void adamw_tensor(const sl_optim *o, float *p, const float *g, float *m, float *v, size_t n,
                         float lr, float wd, float bc1, float bc2)
{
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    #pragma omp parallel for simd if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        p[i] -= lr * wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        float mhat = m[i] / bc1, vhat = v[i] / bc2;
        p[i] -= lr * mhat / (sqrtf(vhat) + eps);
    }
}

static void sgd_tensor(const sl_optim *o, float *p, const float *g, float *buf, size_t n, float lr,
                       float wd, int first)
{
    const float mu = o->cfg.momentum;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (mu != 0.0f) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = o->cfg.nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

int sl_optim_step(sl_optim *o, sl_params *P, float lr)
{
    if (o->n != P->total) return sl_error(SL_ESHAPE, "optimizer sized for %zu parameters, table has %zu", o->n, P->total);
    o->t++;
    float bc1 = 1.0f - powf(o->cfg.beta1, (float)o->t);
    float bc2 = 1.0f - powf(o->cfg.beta2, (float)o->t);
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *t = &P->t[i];
        if (!t->trainable) continue;
        float *p = P->data + t->offset, *g = P->grad + t->offset;
        float tlr = lr * t->lr_scale, wd = o->cfg.weight_decay * t->wd_scale;
        if (o->cfg.kind == SL_OPT_ADAMW)
            adamw_tensor(o, p, g, o->m + t->offset, o->v + t->offset, t->numel, tlr, wd, bc1, bc2);
        else
            sgd_tensor(o, p, g, o->m + t->offset, t->numel, tlr, wd, o->t == 1);
    }
    return SL_OK;
}

float sl_schedule_lr(const sl_schedule *s, long step)
{
    if (!s->cosine) return s->lr;
    if (step < s->warmup) return s->lr * (float)(step + 1) / (float)(s->warmup + 1);
    if (step > s->decay_steps) return s->min_lr;
    double span = (double)(s->decay_steps - s->warmup);
    double ratio = span > 0 ? (double)(step - s->warmup) / span : 1.0;
    double coeff = 0.5 * (1.0 + cos(M_PI * ratio));
    return (float)(s->min_lr + coeff * (s->lr - s->min_lr));
}

double sl_clip_grad_norm(sl_params *P, double max_norm)
{
    double ss = 0.0;
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *t = &P->t[i];
        if (!t->trainable) continue;
        const float *g = P->grad + t->offset;
        for (size_t k = 0; k < t->numel; k++) ss += (double)g[k] * g[k];
    }
    double norm = sqrt(ss);
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            for (int i = 0; i < P->n; i++) {
                const sl_tensor *t = &P->t[i];
                if (!t->trainable) continue;
                float *g = P->grad + t->offset;
                for (size_t k = 0; k < t->numel; k++) g[k] = (float)(g[k] * coef);
            }
        }
    }
    return norm;
}
