/* core/checkpoint.c — see checkpoint.h. */
#include "core/checkpoint.h"
#include "core/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_checkpoint_write(const char *path, const sl_params *P, const sl_optim *o, const sl_rng *rng, long step, double seconds,
                        const char *const *meta_kv, int n_meta)
{
    sl_st_writer *w = sl_st_writer_new();
    if (!w) return sl_error(SL_ENOMEM, "out of memory");
    int rc = SL_OK;
    for (int i = 0; i < P->n && !rc; i++) {
        const sl_tensor *t = &P->t[i];
        rc = sl_st_writer_add(w, t->name, SL_DT_F32, t->ndim, t->shape, P->data + t->offset);
    }
    unsigned char *rs = NULL;
    if (!rc && o) {
        int64_t n = (int64_t)o->n, one = 1, tt = o->t;
        if (!(rc = sl_st_writer_add(w, "__optim__.m", SL_DT_F32, 1, &n, o->m)))
            if (!(rc = sl_st_writer_add(w, "__optim__.v", SL_DT_F32, 1, &n, o->v)))
                rc = sl_st_writer_add(w, "__optim__.t", SL_DT_I64, 1, &one, &tt);
    }
    if (!rc && rng) {
        int64_t n = (int64_t)sl_rng_state_size(rng);
        rs = malloc((size_t)n);
        if (!rs) rc = sl_error(SL_ENOMEM, "out of memory");
        else {
            sl_rng_state_save(rng, rs);
            rc = sl_st_writer_add(w, "__rng__", SL_DT_U8, 1, &n, rs);
        }
    }
    char buf[64];
    if (!rc) {
        snprintf(buf, sizeof buf, "%ld", step);
        rc = sl_st_writer_meta(w, "step", buf);
    }
    if (!rc) {
        snprintf(buf, sizeof buf, "%.17g", seconds);
        rc = sl_st_writer_meta(w, "seconds", buf);
    }
    for (int i = 0; i < n_meta && !rc; i++) rc = sl_st_writer_meta(w, meta_kv[2 * i], meta_kv[2 * i + 1]);
    if (!rc) rc = sl_st_writer_write(w, path);
    free(rs);
    sl_st_writer_free(w);
    return rc;
}

int sl_checkpoint_open(const char *path, sl_safetensors **st)
{
    int rc = sl_safetensors_read(path, st);
    if (rc) return sl_error_wrap(rc, "checkpoint %s", path);
    return SL_OK;
}

int sl_checkpoint_meta_double(const sl_safetensors *st, const char *key, double lo, double hi, double *v)
{
    const char *s = sl_safetensors_meta(st, key);
    if (!s) return sl_error(SL_EFORMAT, "checkpoint has no '%s' metadata", key);
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || !isfinite(x))
        return sl_error(SL_EFORMAT, "checkpoint metadata '%s' = '%.64s' is not a finite number", key, s);
    if (!(x >= lo && x <= hi))
        return sl_error(SL_EFORMAT, "checkpoint metadata '%s' = '%.64s' is outside [%g, %g]", key, s, lo, hi);
    *v = x;
    return SL_OK;
}

int sl_checkpoint_meta_long(const sl_safetensors *st, const char *key, long lo, long hi, long *v)
{
    double x;
    int rc = sl_checkpoint_meta_double(st, key, (double)lo, (double)hi, &x);
    if (rc) return rc;
    /* (double)hi may round up past hi (LONG_MAX): compare again after the conversion bound */
    if (x != floor(x) || x >= 9223372036854775808.0 || x < -9223372036854775808.0 || (long)x > hi || (long)x < lo)
        return sl_error(SL_EFORMAT, "checkpoint metadata '%s' = '%.64s' is not a whole number in [%ld, %ld]", key,
                        sl_safetensors_meta(st, key), lo, hi);
    *v = (long)x;
    return SL_OK;
}

int sl_checkpoint_restore(const sl_safetensors *st, sl_params *P, sl_optim *o, sl_rng *rng, long *step, double *seconds)
{
    int rc;
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *t = &P->t[i];
        const sl_st_tensor *s = sl_safetensors_find(st, t->name);
        if (!s) return sl_error(SL_EFORMAT, "checkpoint lacks tensor '%s' (was it written by another model?)", t->name);
        int same = s->ndim == t->ndim;
        for (int k = 0; same && k < t->ndim; k++) same = s->shape[k] == t->shape[k];
        if (!same) return sl_error(SL_ESHAPE, "checkpoint tensor '%s' has another shape than the model's", t->name);
        if ((rc = sl_safetensors_get_f32(st, s, P->data + t->offset, t->numel))) return rc;
    }
    if (o) {
        const sl_st_tensor *m = sl_safetensors_find(st, "__optim__.m"), *v = sl_safetensors_find(st, "__optim__.v"),
                           *tt = sl_safetensors_find(st, "__optim__.t");
        if (!m || !v || !tt) return sl_error(SL_EFORMAT, "checkpoint has no optimizer state");
        if (m->numel != o->n || v->numel != o->n || tt->numel != 1 || tt->dtype != SL_DT_I64)
            return sl_error(SL_ESHAPE, "checkpoint optimizer state does not fit this model");
        if ((rc = sl_safetensors_get_f32(st, m, o->m, o->n)) || (rc = sl_safetensors_get_f32(st, v, o->v, o->n))) return rc;
        int64_t t;
        memcpy(&t, st->data + tt->begin, sizeof t);
        if (t < 0) return sl_error(SL_EFORMAT, "checkpoint optimizer step is negative");
        o->t = (long)t;
    }
    if (rng) {
        const sl_st_tensor *r = sl_safetensors_find(st, "__rng__");
        if (!r || r->dtype != SL_DT_U8) return sl_error(SL_EFORMAT, "checkpoint has no RNG state");
        if ((rc = sl_rng_state_load(rng, st->data + r->begin, r->numel))) return rc;
    }
    if (step && (rc = sl_checkpoint_meta_long(st, "step", 0, 1L << 40, step))) return rc;
    if (seconds) {
        *seconds = 0.0;
        if (sl_safetensors_meta(st, "seconds") && (rc = sl_checkpoint_meta_double(st, "seconds", 0.0, 1e12, seconds))) return rc;
    }
    return SL_OK;
}
