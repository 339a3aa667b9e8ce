/* core/params.c — the parameter table (see params.h). */
#include "core/params.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

sl_params *sl_params_new(void) { return calloc(1, sizeof(sl_params)); }

void sl_params_free(sl_params *P)
{
    if (!P) return;
    free(P->t);
    if (P->map) munmap(P->map, P->bytes);
    else {
        if (P->data && !P->borrowed) munmap(P->data, P->bytes);
        if (P->grad) munmap(P->grad, P->bytes);
    }
    free(P);
}

int sl_params_add(sl_params *P, const char *prefix, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    if (P->data) return sl_error(SL_EINVAL, "parameter table is already allocated");
    if (ndim < 0 || ndim > SL_MAX_DIMS) return sl_error(SL_EINVAL, "bad rank %d", ndim);
    char full[SL_NAME_MAX];
    int len = snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    if (len < 0 || (size_t)len >= sizeof full)
        return sl_error(SL_EINVAL, "parameter name too long: %s%s", prefix ? prefix : "", name);
    if (sl_params_find(P, full) >= 0) return sl_error(SL_EINVAL, "duplicate parameter name '%s'", full);
    int64_t dims[4] = {d0, d1, d2, d3};
    size_t numel = 1;
    for (int k = 0; k < ndim; k++) {
        if (dims[k] <= 0) return sl_error(SL_EINVAL, "parameter '%s' has non-positive dimension %lld", full, (long long)dims[k]);
        numel *= (size_t)dims[k];
    }
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 16;
        sl_tensor *t = realloc(P->t, (size_t)cap * sizeof *t);
        if (!t) return sl_error(SL_ENOMEM, "out of memory declaring '%s'", full);
        P->t = t;
        P->cap = cap;
    }
    sl_tensor *t = &P->t[P->n];
    memset(t, 0, sizeof *t);
    memcpy(t->name, full, (size_t)len + 1);
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++) t->shape[k] = dims[k];
    t->numel = numel;
    /* keep every tensor 16-float (64-byte) aligned inside the block */
    t->offset = (P->total + 15) & ~(size_t)15;
    P->total = t->offset + numel;
    t->lr_scale = 1.0f;
    t->wd_scale = ndim >= 2 ? 1.0f : 0.0f;
    t->trainable = 1;
    return P->n++;
}

int sl_params_alloc(sl_params *P)
{
    if (P->data) return sl_error(SL_EINVAL, "parameter table is already allocated");
    /* anonymous mappings are zero and page-aligned, and a page is only backed once written */
    size_t bytes = ((P->total ? P->total : 1) * sizeof(float) + 4095) & ~(size_t)4095;
    void *d = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *g = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d == MAP_FAILED || g == MAP_FAILED) {
        if (d != MAP_FAILED) munmap(d, bytes);
        if (g != MAP_FAILED) munmap(g, bytes);
        return sl_error(SL_ENOMEM, "cannot allocate %zu parameters", P->total);
    }
    P->data = d;
    P->grad = g;
    P->bytes = bytes;
    return SL_OK;
}

int sl_params_alloc_shared(sl_params *P, const sl_params *src)
{
    if (P->data) return sl_error(SL_EINVAL, "parameter table is already allocated");
    if (!src->data || !src->grad) return sl_error(SL_EINVAL, "the table to share is not allocated for training");
    if (P->n != src->n || P->total != src->total)
        return sl_error(SL_ESHAPE, "shared parameter table: %d tensors (%zu floats) against %d (%zu)", P->n, P->total, src->n,
                        src->total);
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *a = &P->t[i], *b = &src->t[i];
        if (strcmp(a->name, b->name) || a->numel != b->numel || a->offset != b->offset)
            return sl_error(SL_ESHAPE, "shared parameter table: tensor %d is '%s' (%zu floats) against '%s' (%zu)", i, a->name,
                            a->numel, b->name, b->numel);
    }
    void *g = mmap(NULL, src->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED) return sl_error(SL_ENOMEM, "cannot allocate %zu gradients", P->total);
    P->data = src->data;
    P->grad = g;
    P->bytes = src->bytes;
    P->borrowed = 1;
    return SL_OK;
}

int sl_params_map(sl_params *P, void *base, size_t bytes)
{
    if (P->data) return sl_error(SL_EINVAL, "parameter table is already allocated");
    P->map = base;
    P->bytes = bytes;
    P->data = base;
    P->grad = NULL;
    return SL_OK;
}

int sl_params_find(const sl_params *P, const char *name)
{
    for (int i = 0; i < P->n; i++)
        if (strcmp(P->t[i].name, name) == 0) return i;
    return -1;
}

void sl_params_zero_grad(sl_params *P)
{
    if (P->grad) memset(P->grad, 0, P->total * sizeof(float));
}

void sl_params_set_group(sl_params *P, int i, float lr_scale, float wd_scale)
{
    P->t[i].lr_scale = lr_scale;
    P->t[i].wd_scale = wd_scale;
}

void sl_params_set_trainable(sl_params *P, int i, int trainable) { P->t[i].trainable = trainable; }

size_t sl_params_count_trainable(const sl_params *P)
{
    size_t n = 0;
    for (int i = 0; i < P->n; i++)
        if (P->t[i].trainable) n += P->t[i].numel;
    return n;
}

int sl_params_check_finite(const sl_params *P, int what)
{
    const float *base = what ? P->grad : P->data;
    for (int i = 0; i < P->n; i++) {
        const float *x = base + P->t[i].offset;
        for (size_t k = 0; k < P->t[i].numel; k++)
            if (!isfinite(x[k]))
                return sl_error(SL_ENAN, "non-finite %s in '%s' at element %zu", what ? "gradient" : "value", P->t[i].name, k);
    }
    return SL_OK;
}
