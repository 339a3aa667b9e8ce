/* seq/lora.c — LoRA adapters on any rank-2 tensor of a model, in weight form (see lora.h). */
#include "seq/lora.h"
#include "core/error.h"
#include "core/safetensors.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEFT_PREFIX "base_model.model."

/* ---- configuration ---------------------------------------------------------------------- */

int sl_lora_config_parse(const char *s, sl_lora_config *c)
{
    memset(c, 0, sizeof *c);
    c->r = 8;
    c->alpha = 8.0f;
    if (!s || !*s) return sl_error(SL_EINVAL, "--lora: empty; give r=R,alpha=A,dropout=P,targets=PATTERN[|PATTERN...]");
    char buf[2048];
    if (strlen(s) >= sizeof buf) return sl_error(SL_EINVAL, "--lora: longer than %zu characters", sizeof buf - 1);
    snprintf(buf, sizeof buf, "%s", s);
    int have_targets = 0;
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return sl_error(SL_EINVAL, "--lora: '%s' is not key=value (keys: r, alpha, dropout, targets)", kv);
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        char *end;
        errno = 0;
        if (!strcmp(k, "r")) {
            long r = strtol(v, &end, 10);
            if (end == v || *end || errno || r < 1 || r > 65536)
                return sl_error(SL_EINVAL, "--lora: r='%s' is not an integer in [1, 65536]", v);
            c->r = (int)r;
        } else if (!strcmp(k, "alpha")) {
            double a = strtod(v, &end);
            if (end == v || *end || !isfinite(a) || a <= 0 || a > 1e6)
                return sl_error(SL_EINVAL, "--lora: alpha='%s' is not a number in (0, 1e6]", v);
            c->alpha = (float)a;
        } else if (!strcmp(k, "dropout")) {
            double p = strtod(v, &end);
            if (end == v || *end || !(p >= 0 && p < 1)) return sl_error(SL_EINVAL, "--lora: dropout='%s' is not in [0, 1)", v);
            if (p != 0)
                return sl_error(SL_EUNSUPPORTED,
                                "--lora: dropout=%s: the adapters act on the weights (docs/finetune.md), "
                                "so dropout on their input alone cannot be applied; only dropout=0 is supported",
                                v);
            c->dropout = (float)p;
        } else if (!strcmp(k, "targets")) {
            if (!*v) return sl_error(SL_EINVAL, "--lora: targets is empty");
            if (strlen(v) >= sizeof c->targets)
                return sl_error(SL_EINVAL, "--lora: targets longer than %zu characters", sizeof c->targets - 1);
            for (const char *p = v; *p; p++)
                if (p[0] == '|' && (p == v || p[1] == '|' || p[1] == '\0'))
                    return sl_error(SL_EINVAL, "--lora: targets='%s' has an empty pattern", v);
            snprintf(c->targets, sizeof c->targets, "%s", v);
            have_targets = 1;
        } else {
            return sl_error(SL_EINVAL, "--lora: unknown key '%s' (keys: r, alpha, dropout, targets)", k);
        }
    }
    if (!have_targets) return sl_error(SL_EINVAL, "--lora: targets=PATTERN[|PATTERN...] is required (the tensors to adapt)");
    return SL_OK;
}

void sl_lora_config_format(const sl_lora_config *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "r=%d,alpha=%.9g,dropout=%.9g,targets=%s", c->r, c->alpha, c->dropout, c->targets);
}

/* one pattern (len bytes) against a name */
static int match_one(const char *pat, size_t len, const char *name)
{
    char p[1024];
    if (len >= sizeof p) return 0;
    memcpy(p, pat, len);
    p[len] = '\0';
    if (strpbrk(p, "*?[")) return fnmatch(p, name, 0) == 0;
    /* whole dot-separated components: ".p." inside ".name." */
    size_t nl = strlen(name);
    for (const char *h = strstr(name, p); h; h = strstr(h + 1, p)) {
        int left = h == name || h[-1] == '.';
        int right = (size_t)(h - name) + len == nl || h[len] == '.';
        if (left && right) return 1;
    }
    return 0;
}

int sl_lora_match(const char *targets, const char *name)
{
    for (const char *p = targets; *p;) {
        size_t len = strcspn(p, "|");
        if (len && match_one(p, len, name)) return 1;
        p += len;
        if (*p == '|') p++;
    }
    return 0;
}

void sl_lora_names(const char *name, char *a, char *b, size_t cap)
{
    size_t n = strlen(name);
    int w = n > 7 && !strcmp(name + n - 7, ".weight");
    int keep = (int)(w ? n - 7 : n);
    snprintf(a, cap, PEFT_PREFIX "%.*s.lora_A.weight", keep, name);
    snprintf(b, cap, PEFT_PREFIX "%.*s.lora_B.weight", keep, name);
}

int sl_lora_target_of(const sl_params *P, const char *adapter_name, int *which)
{
    static const char *const suf[2] = {".lora_A.weight", ".lora_B.weight"};
    const size_t pl = strlen(PEFT_PREFIX), n = strlen(adapter_name);
    if (n <= pl || strncmp(adapter_name, PEFT_PREFIX, pl)) return -1;
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(suf[k]);
        if (n <= pl + sl || strcmp(adapter_name + n - sl, suf[k])) continue;
        char mod[SL_NAME_MAX + 16];
        size_t ml = n - pl - sl;
        if (ml + 8 >= sizeof mod) return -1;
        memcpy(mod, adapter_name + pl, ml);
        mod[ml] = '\0';
        *which = k;
        int i = sl_params_find(P, mod); /* a tensor named like the module (weight_ih_l0) */
        if (i >= 0) return i;
        strcat(mod, ".weight");
        return sl_params_find(P, mod);
    }
    return -1;
}

/* ---- the wrapper model ------------------------------------------------------------------ */

typedef struct {
    sl_model base;
    sl_model *inner; /* the frozen base model (owned) */
    sl_lora_config cfg;
    float scale;    /* alpha / r */
    int n;          /* targets */
    int *tgt;       /* (n) base tensor index */
    int *ia, *ib;   /* (n) adapter indices in base.P */
    size_t *w0_off; /* (n) offset into w0 */
    float *w0;      /* the targets' frozen values, concatenated */
} lora_model;

static const sl_model_vt lora_vt;

int sl_lora_is(const sl_model *m) { return m && m->vt == &lora_vt; }
sl_model *sl_lora_base(const sl_model *m) { return ((const lora_model *)m)->inner; }
const sl_lora_config *sl_lora_get_config(const sl_model *m) { return &((const lora_model *)m)->cfg; }
int sl_lora_n_targets(const sl_model *m) { return ((const lora_model *)m)->n; }
int sl_lora_target(const sl_model *m, int k) { return ((const lora_model *)m)->tgt[k]; }

const float *sl_lora_base_data(const sl_model *m, int i)
{
    const lora_model *L = (const lora_model *)m;
    for (int k = 0; k < L->n; k++)
        if (L->tgt[k] == i) return L->w0 + L->w0_off[k];
    return sl_params_data(L->inner->P, i);
}

void sl_lora_materialize(sl_model *m)
{
    lora_model *L = (lora_model *)m;
    const sl_params *Q = L->inner->P;
    for (int k = 0; k < L->n; k++) {
        const sl_tensor *t = &Q->t[L->tgt[k]];
        const int NO = (int)t->shape[0], NI = (int)t->shape[1], r = L->cfg.r;
        float *W = sl_params_data(Q, L->tgt[k]);         // (NO, NI)
        const float *A = sl_params_data(m->P, L->ia[k]); // (r, NI)
        const float *B = sl_params_data(m->P, L->ib[k]); // (NO, r)
        memcpy(W, L->w0 + L->w0_off[k], t->numel * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NO, NI, r, L->scale, B, r, A, NI, 1.0f, W, NI);
    }
}

void sl_lora_restore_base(sl_model *m)
{
    lora_model *L = (lora_model *)m;
    for (int k = 0; k < L->n; k++)
        memcpy(sl_params_data(L->inner->P, L->tgt[k]), L->w0 + L->w0_off[k], L->inner->P->t[L->tgt[k]].numel * sizeof(float));
}

static int lora_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    lora_model *L = (lora_model *)m;
    sl_model_set_training(L->inner, m->training, m->rng);
    sl_lora_materialize(m);
    return sl_model_forward(L->inner, x, tok, y, B, T);
}

static int lora_backward(sl_model *m, const float *dy, float *dx)
{
    lora_model *L = (lora_model *)m;
    sl_params *Q = L->inner->P;
    sl_params_zero_grad(Q); /* scratch: the base's dL/dW of this backward alone */
    int rc = sl_model_backward(L->inner, dy, dx);
    if (rc) return rc;
    for (int k = 0; k < L->n; k++) {
        const sl_tensor *t = &Q->t[L->tgt[k]];
        const int NO = (int)t->shape[0], NI = (int)t->shape[1], r = L->cfg.r;
        const float *dW = sl_params_grad(Q, L->tgt[k]);   // (NO, NI)
        const float *A = sl_params_data(m->P, L->ia[k]);  // (r, NI)
        const float *Bm = sl_params_data(m->P, L->ib[k]); // (NO, r)
        float *dA = sl_params_grad(m->P, L->ia[k]);       // (r, NI)
        float *dB = sl_params_grad(m->P, L->ib[k]);       // (NO, r)
        /* W = W0 + s B A:  dA += s B^T dW,  dB += s dW A^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, NI, NO, L->scale, Bm, r, dW, NI, 1.0f, dA, NI);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NO, r, NI, L->scale, dW, NI, A, NI, 1.0f, dB, r);
    }
    return SL_OK;
}

static void *lora_state_new(sl_model *m, int B)
{
    sl_lora_materialize(m);
    return sl_model_state_new(((lora_model *)m)->inner, B);
}

static void lora_state_free(sl_model *m, void *s) { sl_model_state_free(((lora_model *)m)->inner, s); }

static int lora_state_reset(sl_model *m, void *s)
{
    sl_lora_materialize(m);
    return sl_model_state_reset(((lora_model *)m)->inner, s);
}

static int lora_state_reset_rows(sl_model *m, void *s, const uint8_t *rows, int B)
{
    sl_lora_materialize(m);
    return sl_model_state_reset_rows(((lora_model *)m)->inner, s, rows, B);
}

static int lora_step(sl_model *m, void *s, const float *x, const int32_t *tok, float *y)
{
    return sl_model_step(((lora_model *)m)->inner, s, x, tok, y);
}

/* PEFT's init: A ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), B = 0 */
static int lora_init(sl_model *m, sl_rng *rng)
{
    lora_model *L = (lora_model *)m;
    for (int k = 0; k < L->n; k++) {
        const sl_tensor *a = &m->P->t[L->ia[k]];
        const float bound = 1.0f / sqrtf((float)a->shape[1]);
        sl_rng_fill_uniform(rng, sl_params_data(m->P, L->ia[k]), a->numel, -bound, bound);
        memset(sl_params_data(m->P, L->ib[k]), 0, m->P->t[L->ib[k]].numel * sizeof(float));
    }
    return SL_OK;
}

static void lora_destroy(sl_model *m)
{
    lora_model *L = (lora_model *)m;
    if (L->inner) {
        sl_lora_restore_base(m);
        sl_model_free(L->inner);
    }
    free(L->tgt);
    free(L->ia);
    free(L->ib);
    free(L->w0_off);
    free(L->w0);
    free(L);
}

static const sl_model_vt lora_vt = {
    .kind = "lora",
    .destroy = lora_destroy,
    .init = lora_init,
    .forward = lora_forward,
    .backward = lora_backward,
    .state_new = lora_state_new,
    .state_free = lora_state_free,
    .state_reset = lora_state_reset,
    .state_reset_rows = lora_state_reset_rows,
    .step = lora_step,
};

/* the rank-2 names of P, for a message */
static void rank2_list(const sl_params *P, char *buf, size_t cap)
{
    size_t m = 0;
    int shown = 0, count = 0;
    buf[0] = '\0';
    for (int i = 0; i < P->n; i++) {
        if (P->t[i].ndim != 2) continue;
        if (shown < 8 && m < cap) {
            m += (size_t)snprintf(buf + m, cap - m, "%s%s", shown ? ", " : "", P->t[i].name);
            shown++;
        }
        count++;
    }
    if (count > shown && m < cap) snprintf(buf + m, cap - m, " and %d more", count - shown);
    if (!count) snprintf(buf, cap, "(none)");
}

int sl_lora_create(sl_model *base, const sl_lora_config *c, sl_rng *rng, sl_model **out)
{
    *out = NULL;
    if (!base || !base->P || !base->P->data || !base->P->grad)
        return sl_error(SL_EINVAL, "lora: the base model must be built and allocated (not a mapped file)");
    if (!(base->caps & SL_CAP_GRAD)) return sl_error(SL_EUNSUPPORTED, "lora: %s is not trained by gradient", base->vt->kind);
    if (sl_lora_is(base)) return sl_error(SL_EINVAL, "lora: the model already has adapters");
    const sl_params *Q = base->P;
    char list[1200];
    /* every pattern must select something */
    for (const char *p = c->targets; *p;) {
        size_t len = strcspn(p, "|");
        int hit = 0;
        for (int i = 0; i < Q->n && !hit; i++) hit = Q->t[i].ndim == 2 && match_one(p, len, Q->t[i].name);
        if (!hit) {
            rank2_list(Q, list, sizeof list);
            return sl_error(SL_ENOTFOUND, "--lora: target pattern '%.*s' matches no rank-2 tensor of %s; they are: %s", (int)len,
                            p, base->spec ? base->spec : base->vt->kind, list);
        }
        p += len;
        if (*p == '|') p++;
    }
    lora_model *L = calloc(1, sizeof *L);
    if (!L) return sl_error(SL_ENOMEM, "out of memory");
    L->base.vt = &lora_vt;
    L->cfg = *c;
    L->scale = c->alpha / (float)c->r;
    int cap = Q->n;
    L->tgt = malloc(sizeof(int) * (size_t)cap);
    L->ia = malloc(sizeof(int) * (size_t)cap);
    L->ib = malloc(sizeof(int) * (size_t)cap);
    L->w0_off = malloc(sizeof(size_t) * (size_t)cap);
    sl_params *P = sl_params_new();
    int rc = SL_OK;
    size_t w0n = 0;
    if (!L->tgt || !L->ia || !L->ib || !L->w0_off || !P) rc = sl_error(SL_ENOMEM, "out of memory");
    for (int i = 0; i < Q->n && !rc; i++) {
        const sl_tensor *t = &Q->t[i];
        if (t->ndim != 2 || !sl_lora_match(c->targets, t->name)) continue;
        char a[SL_NAME_MAX + 40], b[SL_NAME_MAX + 40];
        sl_lora_names(t->name, a, b, sizeof a);
        if (strlen(a) >= SL_NAME_MAX) {
            rc = sl_error(SL_EINVAL, "lora: adapter name for '%s' is too long", t->name);
            break;
        }
        int ia = sl_params_add(P, "", a, 2, c->r, t->shape[1], 0, 0);
        int ib = ia >= 0 ? sl_params_add(P, "", b, 2, t->shape[0], c->r, 0, 0) : ia;
        if (ib < 0) {
            rc = ib;
            break;
        }
        L->tgt[L->n] = i;
        L->ia[L->n] = ia;
        L->ib[L->n] = ib;
        L->w0_off[L->n] = w0n;
        w0n += t->numel;
        L->n++;
    }
    if (!rc && (rc = sl_params_alloc(P))) sl_error_wrap(rc, "lora: adapters");
    if (!rc && !(L->w0 = malloc((w0n ? w0n : 1) * sizeof(float)))) rc = sl_error(SL_ENOMEM, "out of memory (frozen copies)");
    if (rc) {
        sl_params_free(P);
        free(L->tgt);
        free(L->ia);
        free(L->ib);
        free(L->w0_off);
        free(L->w0);
        free(L);
        return rc;
    }
    for (int k = 0; k < L->n; k++)
        memcpy(L->w0 + L->w0_off[k], sl_params_data(Q, L->tgt[k]), Q->t[L->tgt[k]].numel * sizeof(float));
    for (int i = 0; i < Q->n; i++) sl_params_set_trainable(base->P, i, 0); /* the base is frozen */
    L->inner = base;
    sl_model *m = &L->base;
    m->caps = base->caps & ~SL_CAP_FIT;
    m->d_in = base->d_in;
    m->d_out = base->d_out;
    m->P = P;
    m->owns_params = 1;
    m->max_len = base->max_len;
    m->spec = base->spec ? strdup(base->spec) : NULL;
    if (rng) lora_init(m, rng);
    *out = m;
    return SL_OK;
}

/* ---- files -------------------------------------------------------------------------------- */

/* r and alpha from a file's "lora" metadata (absent: *have = 0) */
static int file_scale(const sl_safetensors *st, const char *path, sl_lora_config *c, int *have)
{
    const char *v = sl_safetensors_meta(st, "lora");
    *have = v != NULL;
    if (!v) return SL_OK;
    int rc = sl_lora_config_parse(v, c);
    return rc ? sl_error_wrap(rc, "'%s': metadata 'lora'", path) : SL_OK;
}

int sl_lora_load(sl_model *m, const char *path)
{
    if (!sl_lora_is(m)) return sl_error(SL_EINVAL, "lora load: not a LoRA model");
    lora_model *L = (lora_model *)m;
    sl_safetensors *st;
    int rc = sl_safetensors_read(path, &st);
    if (rc) return rc;
    sl_lora_config fc;
    int have;
    if ((rc = file_scale(st, path, &fc, &have))) goto out;
    if (have && (fc.r != L->cfg.r || fc.alpha != L->cfg.alpha)) {
        rc = sl_error(SL_EINVAL, "'%s': adapters of rank %d, alpha %g; the model's are rank %d, alpha %g", path, fc.r, fc.alpha,
                      L->cfg.r, L->cfg.alpha);
        goto out;
    }
    for (size_t j = 0; j < st->n && !rc; j++)
        if (sl_params_find(m->P, st->t[j].name) < 0)
            rc = sl_error(SL_EFORMAT,
                          "'%s': tensor '%s' is not an adapter of this model (adapters for another model, or other targets?)",
                          path, st->t[j].name);
    if (!rc) rc = sl_params_load(m->P, path, NULL, NULL);
out:
    sl_safetensors_free(st);
    return rc;
}

int sl_lora_fold(sl_params *P, const char *path, int sign)
{
    sl_safetensors *st;
    int rc = sl_safetensors_read(path, &st);
    if (rc) return rc;
    sl_lora_config fc;
    int have;
    float *A = NULL, *Bm = NULL, *W = NULL;
    int *pair = NULL;
    if ((rc = file_scale(st, path, &fc, &have))) goto out;
    if (!have) {
        rc = sl_error(SL_EFORMAT, "'%s' has no 'lora' metadata (r, alpha): not a seqlab adapter file", path);
        goto out;
    }
    if (!st->n) {
        rc = sl_error(SL_EFORMAT, "'%s' holds no adapters", path);
        goto out;
    }
    /* pair[j] = index in st of tensor j's partner; check names, shapes first (P untouched) */
    pair = malloc(sizeof(int) * st->n);
    if (!pair) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < st->n && !rc; j++) {
        int which, i = sl_lora_target_of(P, st->t[j].name, &which);
        if (i < 0) {
            rc = sl_error(SL_EFORMAT, "'%s': '%s' adapts no tensor of the base model (adapters for another model?)", path,
                          st->t[j].name);
            break;
        }
        const sl_tensor *t = &P->t[i];
        char a[SL_NAME_MAX + 40], b[SL_NAME_MAX + 40];
        sl_lora_names(t->name, a, b, sizeof a);
        const sl_st_tensor *ta = sl_safetensors_find(st, a), *tb = sl_safetensors_find(st, b);
        if (!ta || !tb) {
            rc = sl_error(SL_EFORMAT, "'%s': '%s' has no %s partner", path, st->t[j].name, which ? "lora_A" : "lora_B");
            break;
        }
        if (t->ndim != 2 || ta->ndim != 2 || tb->ndim != 2 || ta->shape[0] != fc.r || tb->shape[1] != fc.r ||
            ta->shape[1] != t->shape[1] || tb->shape[0] != t->shape[0]) {
            rc = sl_error(SL_ESHAPE,
                          "'%s': adapters [%lld, %lld] x [%lld, %lld] do not fit '%s' [%lld, %lld] at rank %d (adapters for "
                          "another model?)",
                          path, (long long)tb->shape[0], (long long)(tb->ndim > 1 ? tb->shape[1] : 0), (long long)ta->shape[0],
                          (long long)(ta->ndim > 1 ? ta->shape[1] : 0), t->name, (long long)t->shape[0],
                          (long long)(t->ndim > 1 ? t->shape[1] : 0), fc.r);
            break;
        }
        pair[j] = i;
    }
    /* then fold into copies, committed only when every product is finite */
    size_t tot = P->total;
    if (!rc && !(W = malloc(tot * sizeof(float)))) rc = sl_error(SL_ENOMEM, "out of memory");
    if (!rc) memcpy(W, P->data, tot * sizeof(float));
    const float s = (float)sign * fc.alpha / (float)fc.r;
    for (size_t j = 0; j < st->n && !rc; j++) {
        int which;
        sl_lora_target_of(P, st->t[j].name, &which);
        if (which) continue; /* once per pair, at its A */
        const sl_tensor *t = &P->t[pair[j]];
        const int NO = (int)t->shape[0], NI = (int)t->shape[1], r = fc.r;
        char a[SL_NAME_MAX + 40], b[SL_NAME_MAX + 40];
        sl_lora_names(t->name, a, b, sizeof a);
        free(A);
        free(Bm);
        A = malloc(sizeof(float) * (size_t)r * NI);
        Bm = malloc(sizeof(float) * (size_t)NO * r);
        if (!A || !Bm) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            break;
        }
        if ((rc = sl_safetensors_get_f32(st, sl_safetensors_find(st, a), A, (size_t)r * NI)) ||
            (rc = sl_safetensors_get_f32(st, sl_safetensors_find(st, b), Bm, (size_t)NO * r))) {
            sl_error_wrap(rc, "'%s'", path);
            break;
        }
        float *w = W + t->offset;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NO, NI, r, s, Bm, r, A, NI, 1.0f, w, NI);
        for (size_t e = 0; e < t->numel; e++)
            if (!isfinite(w[e])) {
                rc = sl_error(SL_ENAN, "'%s': folding into '%s' gives a non-finite weight", path, t->name);
                break;
            }
    }
    if (!rc) memcpy(P->data, W, tot * sizeof(float));
out:
    free(A);
    free(Bm);
    free(W);
    free(pair);
    sl_safetensors_free(st);
    return rc;
}
