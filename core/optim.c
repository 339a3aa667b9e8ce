/* core/optim.c — SGD/AdamW, schedules, clipping (see optim.h). */
#include "core/optim.h"
#include "core/error.h"
#include "core/cpu.h"
#include "core/fastmath.h"
#include "core/util.h"

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
    if (!o->m || !o->v) {
        sl_optim_free(o);
        return NULL;
    }
    return o;
}

void sl_optim_free(sl_optim *o)
{
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o);
}

/* AdamW on n elements. The scalar loop does not vectorise (sqrtf keeps its errno path at -O2),
 * so on CPUs with AVX-512 the same operations run 16 at a time with intrinsics, in the same
 * order and without fused multiply-adds: with the default build (x86-64 baseline, where the
 * compiler cannot contract into FMAs) both paths give bitwise the same values. */
static void adamw_scalar(float *p, const float *g, float *m, float *v, size_t n, float lr, float wd, float b1, float b2,
                         float eps, float bc1, float bc2)
{
    const float lrwd = lr * wd, c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        p[i] -= lrwd * p[i];
        m[i] = b1 * m[i] + c1 * g[i];
        v[i] = b2 * v[i] + c2 * g[i] * g[i];
        float mhat = m[i] / bc1, vhat = v[i] / bc2;
        p[i] -= lr * mhat / (sqrtf(vhat) + eps);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static void adamw_avx512(float *p, const float *g, float *m, float *v, size_t n, float lr,
                                                            float wd, float b1, float b2, float eps, float bc1, float bc2)
{
    const __m512 vlrwd = _mm512_set1_ps(lr * wd), vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2);
    const __m512 vc1 = _mm512_set1_ps(1.0f - b1), vc2 = _mm512_set1_ps(1.0f - b2), vlr = _mm512_set1_ps(lr);
    const __m512 veps = _mm512_set1_ps(eps), vbc1 = _mm512_set1_ps(bc1), vbc2 = _mm512_set1_ps(bc2);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 P = _mm512_loadu_ps(p + i), G = _mm512_loadu_ps(g + i);
        __m512 M = _mm512_loadu_ps(m + i), V = _mm512_loadu_ps(v + i);
        P = _mm512_sub_ps(P, _mm512_mul_ps(vlrwd, P));
        M = _mm512_add_ps(_mm512_mul_ps(vb1, M), _mm512_mul_ps(vc1, G));
        V = _mm512_add_ps(_mm512_mul_ps(vb2, V), _mm512_mul_ps(_mm512_mul_ps(vc2, G), G));
        __m512 mh = _mm512_div_ps(M, vbc1), vh = _mm512_div_ps(V, vbc2);
        P = _mm512_sub_ps(P, _mm512_div_ps(_mm512_mul_ps(vlr, mh), _mm512_add_ps(_mm512_sqrt_ps(vh), veps)));
        _mm512_storeu_ps(p + i, P);
        _mm512_storeu_ps(m + i, M);
        _mm512_storeu_ps(v + i, V);
    }
    adamw_scalar(p + i, g + i, m + i, v + i, n - i, lr, wd, b1, b2, eps, bc1, bc2);
}
#endif

static void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, float lr, float wd, float b1, float b2,
                         float eps, float bc1, float bc2)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (sl_cpu_has(SL_CPU_AVX512F)) {
        adamw_avx512(p, g, m, v, n, lr, wd, b1, b2, eps, bc1, bc2);
        return;
    }
#endif
    adamw_scalar(p, g, m, v, n, lr, wd, b1, b2, eps, bc1, bc2);
}

/* chunks of OPT_CHUNK floats: the unit of work for the threads (element-wise, so any split
 * gives the same values; the norm's partial sums are per chunk, so its value does not depend on
 * the thread count either) */
#define OPT_CHUNK 16384

static void adamw_tensor(const sl_optim *o, float *p, const float *g, float *m, float *v, size_t n, float lr, float wd, float bc1,
                         float bc2)
{
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const long nc = (long)((n + OPT_CHUNK - 1) / OPT_CHUNK);
    #pragma omp for schedule(static) nowait
    for (long c = 0; c < nc; c++) {
        const size_t i0 = (size_t)c * OPT_CHUNK, k = n - i0 < OPT_CHUNK ? n - i0 : OPT_CHUNK;
        adamw_kernel(p + i0, g + i0, m + i0, v + i0, k, lr, wd, b1, b2, eps, bc1, bc2);
    }
}

static void sgd_tensor(const sl_optim *o, float *p, const float *g, float *buf, size_t n, float lr, float wd, int first)
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
    if (o->cfg.kind == SL_OPT_ADAMW) {
        /* one parallel region for all tensors (orphaned omp for inside adamw_tensor) */
        #pragma omp parallel if (P->total > 65536)
        for (int i = 0; i < P->n; i++) {
            const sl_tensor *t = &P->t[i];
            if (!t->trainable) continue;
            adamw_tensor(o, P->data + t->offset, P->grad + t->offset, o->m + t->offset, o->v + t->offset, t->numel,
                         lr * t->lr_scale, o->cfg.weight_decay * t->wd_scale, bc1, bc2);
        }
        return SL_OK;
    }
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *t = &P->t[i];
        if (!t->trainable) continue;
        float *p = P->data + t->offset, *g = P->grad + t->offset;
        float tlr = lr * t->lr_scale, wd = o->cfg.weight_decay * t->wd_scale;
        sgd_tensor(o, p, g, o->m + t->offset, t->numel, tlr, wd, o->t == 1);
    }
    return SL_OK;
}

float sl_schedule_lr(const sl_schedule *s, long step)
{
    if (!s->cosine) return s->lr;
    /* differences in double: warmup and decay_steps may be any long (they come from files),
     * and step - warmup or decay_steps - warmup would overflow a long */
    if (step < s->warmup) return s->lr * (float)((double)step + 1.0) / (float)((double)s->warmup + 1.0);
    if (step > s->decay_steps) return s->min_lr;
    double span = (double)s->decay_steps - (double)s->warmup;
    double ratio = span > 0 ? ((double)step - (double)s->warmup) / span : 1.0;
    double coeff = 0.5 * (1.0 + cos(M_PI * ratio));
    return (float)(s->min_lr + coeff * (s->lr - s->min_lr));
}

SL_CLONES static double sumsq_kernel(const float *g, size_t n)
{
    double ss = 0.0;
    #pragma omp simd reduction(+:ss)
    for (size_t k = 0; k < n; k++) ss += (double)g[k] * g[k];
    return ss;
}

SL_CLONES static void scale_kernel(float *g, size_t n, double coef)
{
    #pragma omp simd
    for (size_t k = 0; k < n; k++) g[k] = (float)(g[k] * coef);
}

double sl_clip_grad_norm(sl_params *P, double max_norm)
{
    /* per tensor, per chunk of OPT_CHUNK: partial sums of squares in double, added in order */
    size_t nchunk = 0;
    for (int i = 0; i < P->n; i++)
        if (P->t[i].trainable) nchunk += (P->t[i].numel + OPT_CHUNK - 1) / OPT_CHUNK;
    double part_stack[64], *part = nchunk <= 64 ? part_stack : malloc(nchunk * sizeof(double));
    double ss = 0.0;
    const int par = P->total > 65536;
    if (part) {
        #pragma omp parallel if (par)
        {
            size_t base = 0;
            for (int i = 0; i < P->n; i++) {
                const sl_tensor *t = &P->t[i];
                if (!t->trainable) continue;
                const float *g = P->grad + t->offset;
                const long nc = (long)((t->numel + OPT_CHUNK - 1) / OPT_CHUNK);
                #pragma omp for schedule(static) nowait
                for (long c = 0; c < nc; c++) {
                    const size_t i0 = (size_t)c * OPT_CHUNK, k = t->numel - i0 < OPT_CHUNK ? t->numel - i0 : OPT_CHUNK;
                    part[base + (size_t)c] = sumsq_kernel(g + i0, k);
                }
                base += (size_t)nc;
            }
        }
        for (size_t c = 0; c < nchunk; c++) ss += part[c];
        if (part != part_stack) free(part);
    } else { /* no memory for the partial sums: one thread */
        for (int i = 0; i < P->n; i++)
            if (P->t[i].trainable) ss += sumsq_kernel(P->grad + P->t[i].offset, P->t[i].numel);
    }
    double norm = sqrt(ss);
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            #pragma omp parallel if (par)
            for (int i = 0; i < P->n; i++) {
                const sl_tensor *t = &P->t[i];
                if (!t->trainable) continue;
                float *g = P->grad + t->offset;
                const long nc = (long)((t->numel + OPT_CHUNK - 1) / OPT_CHUNK);
                #pragma omp for schedule(static) nowait
                for (long c = 0; c < nc; c++) {
                    const size_t i0 = (size_t)c * OPT_CHUNK, k = t->numel - i0 < OPT_CHUNK ? t->numel - i0 : OPT_CHUNK;
                    scale_kernel(g + i0, k, coef);
                }
            }
        }
    }
    return norm;
}
