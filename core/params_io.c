/* core/params_io.c — a parameter table to and from safetensors, by name (see params.h).
 *
 * Loading is all-or-nothing: every check (missing, extra, dtype, shape) runs before any value
 * is touched, and values are converted into a scratch block that replaces P->data only when
 * every tensor converted cleanly, so a failed load (say a NaN in the 40th tensor) leaves the
 * model exactly as it was.
 */
#include "core/params.h"
#include "core/error.h"
#include "core/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many names a "missing"/"unexpected" message lists before "... and N more". */
#define LIST_MAX 5

int sl_params_save(const sl_params *P, const char *path, const char *const *meta_kv, int n_meta)
{
    if (!P || !path) return sl_error(SL_EINVAL, "params save: NULL argument");
    if (!P->data) return sl_error(SL_EINVAL, "params save '%s': the parameter table is not allocated", path);
    if (n_meta < 0 || (n_meta > 0 && !meta_kv)) return sl_error(SL_EINVAL, "params save '%s': bad metadata list", path);
    sl_st_writer *w = sl_st_writer_new();
    if (!w) return sl_error(SL_ENOMEM, "out of memory");
    int rc = SL_OK;
    for (int k = 0; k < n_meta && !rc; k++) rc = sl_st_writer_meta(w, meta_kv[2 * k], meta_kv[2 * k + 1]);
    /* borrow the tensors (no copy of the whole model); the table's order is the file's order */
    for (int i = 0; i < P->n && !rc; i++)
        rc = sl_st_writer_add_ref(w, P->t[i].name, SL_DT_F32, P->t[i].ndim, P->t[i].shape, sl_params_data(P, i));
    if (!rc) rc = sl_st_writer_write(w, path);
    sl_st_writer_free(w);
    if (rc && !strstr(sl_errmsg(), path)) return sl_error_wrap(rc, "saving '%s'", path);
    return rc;
}

/* Does name end with one of the NULL-terminated suffixes? */
static int has_ignored_suffix(const char *name, const char *const *ignore)
{
    if (!ignore) return 0;
    size_t n = strlen(name);
    for (int k = 0; ignore[k]; k++) {
        size_t s = strlen(ignore[k]);
        if (s <= n && strcmp(name + n - s, ignore[k]) == 0) return 1;
    }
    return 0;
}

/* Append "'name'" to a comma-separated list in buf, up to LIST_MAX names. */
static void list_add(char *buf, size_t cap, int *count, const char *name)
{
    if (*count < LIST_MAX) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s'%s'", *count ? ", " : "", name);
    }
    (*count)++;
}

static void list_finish(char *buf, size_t cap, int count)
{
    if (count > LIST_MAX) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " and %d more", count - LIST_MAX);
    }
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

int sl_params_load(sl_params *P, const char *path, const char *const *ignore, const char *const *alias)
{
    if (!P || !path) return sl_error(SL_EINVAL, "params load: NULL argument");
    if (!P->data) return sl_error(SL_EINVAL, "params load '%s': the parameter table is not allocated", path);
    sl_safetensors *st = NULL;
    int rc = sl_safetensors_read(path, &st);
    if (rc) return rc;

    const sl_st_tensor **src = calloc(P->n ? (size_t)P->n : 1, sizeof *src); /* file tensor for each P tensor */
    char *used = calloc(st->n ? st->n : 1, 1);                               /* file tensor is consumed */
    float *scratch = NULL;
    char list[1024] = "";
    int count = 0;
    if (!src || !used) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto out;
    }

    /* 1. resolve every P name: directly, or through the alias pairs */
    for (int i = 0; i < P->n; i++) {
        const char *name = P->t[i].name;
        const sl_st_tensor *t = sl_safetensors_find(st, name);
        for (int k = 0; !t && alias && alias[k] && alias[k + 1]; k += 2)
            if (strcmp(alias[k], name) == 0) t = sl_safetensors_find(st, alias[k + 1]);
        if (!t) {
            list_add(list, sizeof list, &count, name);
            continue;
        }
        src[i] = t;
        used[t - st->t] = 1;
    }
    if (count) {
        list_finish(list, sizeof list, count);
        rc = sl_error(SL_ENOTFOUND, "'%s': %d tensor%s missing from the file: %s", path, count, count == 1 ? " is" : "s are",
                      list);
        goto out;
    }
    /* 2. file tensors nobody asked for: an error unless ignored (a renamed layer must not
     * be dropped silently) */
    for (size_t j = 0; j < st->n; j++)
        if (!used[j] && !has_ignored_suffix(st->t[j].name, ignore)) list_add(list, sizeof list, &count, st->t[j].name);
    if (count) {
        list_finish(list, sizeof list, count);
        rc = sl_error(SL_EFORMAT, "'%s': %d unexpected tensor%s in the file (not in the model): %s", path, count,
                      count == 1 ? "" : "s", list);
        goto out;
    }
    /* 3. dtype and exact shape */
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *p = &P->t[i];
        const sl_st_tensor *t = src[i];
        if (!sl_dtype_is_float(t->dtype)) {
            rc = sl_error(SL_EFORMAT, "'%s': tensor '%s' has dtype %s; F32, F64, F16 or BF16 expected", path, t->name,
                          sl_dtype_name(t->dtype));
            goto out;
        }
        int same = t->ndim == p->ndim;
        for (int k = 0; same && k < p->ndim; k++) same = t->shape[k] == p->shape[k];
        if (!same) {
            char a[128], b[128];
            shape_text(a, sizeof a, t->ndim, t->shape);
            shape_text(b, sizeof b, p->ndim, p->shape);
            char via[SL_NAME_MAX + 32] = "";
            if (strcmp(t->name, p->name) != 0) snprintf(via, sizeof via, " (read via alias '%s')", t->name);
            rc = sl_error(SL_ESHAPE, "'%s': tensor '%s' has shape %s in the file, the model expects %s%s", path, p->name, a, b,
                          via);
            goto out;
        }
    }
    /* 4. convert into scratch (finiteness checked), then commit */
    scratch = malloc((P->total ? P->total : 1) * sizeof *scratch);
    if (!scratch) {
        rc = sl_error(SL_ENOMEM, "out of memory (%zu floats)", P->total);
        goto out;
    }
    memcpy(scratch, P->data, P->total * sizeof *scratch);
    for (int i = 0; i < P->n; i++) {
        rc = sl_safetensors_get_f32(st, src[i], scratch + P->t[i].offset, P->t[i].numel);
        if (rc) {
            rc = sl_error_wrap(rc, "'%s'", path);
            goto out;
        }
    }
    memcpy(P->data, scratch, P->total * sizeof *scratch);
out:
    free(scratch);
    free(src);
    free(used);
    sl_safetensors_free(st);
    return rc;
}
