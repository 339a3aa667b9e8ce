/* seq/model.c — generic dispatch over the sequence interface (see model.h). */
#include "seq/model.h"
#include "core/error.h"
#include "core/fastmath.h"

#include <stdlib.h>
#include <string.h>

int sl_model_add_child(sl_model *m, sl_model *child)
{
    sl_model **c = realloc(m->children, (size_t)(m->n_children + 1) * sizeof *c);
    if (!c) return sl_error(SL_ENOMEM, "out of memory");
    m->children = c;
    m->children[m->n_children++] = child;
    return SL_OK;
}

int sl_model_init(sl_model *m, sl_rng *rng)
{
    for (int i = 0; i < m->n_children; i++) {
        int rc = sl_model_init(m->children[i], rng);
        if (rc) return rc;
    }
    return m->vt->init ? m->vt->init(m, rng) : SL_OK;
}

void sl_model_free(sl_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_children; i++) sl_model_free(m->children[i]);
    free(m->children);
    sl_params *P = m->owns_params ? m->P : NULL;
    free(m->spec);
    m->spec = NULL;
    if (m->vt && m->vt->destroy) m->vt->destroy(m);
    else free(m);
    sl_params_free(P);
}

void sl_model_set_training(sl_model *m, int on, sl_rng *rng)
{
    m->training = on;
    m->rng = rng;
    for (int i = 0; i < m->n_children; i++) sl_model_set_training(m->children[i], on, rng);
}

void sl_model_set_inference(sl_model *m, int on)
{
    m->inference = on;
    for (int i = 0; i < m->n_children; i++) sl_model_set_inference(m->children[i], on);
}

int sl_model_set_checkpoint(sl_model *m, int K)
{
    if (K > 0 && !(m->caps & SL_CAP_CKPT))
        return sl_error(SL_EUNSUPPORTED, "%s has no gradient checkpointing (the lm:/seq: wrappers and gpt/llama have it)",
                        m->vt->kind);
    if (K < 0 || K > m->n_children)
        return sl_error(SL_EINVAL, "%s: checkpoint every %d blocks: K must be in [1, %d], the model's blocks (0: off)",
                        m->vt->kind, K, m->n_children);
    m->ckpt = K;
    return SL_OK;
}

void sl_model_release(sl_model *m)
{
    if (m->vt->release) m->vt->release(m);
    for (int i = 0; i < m->n_children; i++) sl_model_release(m->children[i]);
}

static int check_input(const sl_model *m, const float *x, const int32_t *tok, size_t n)
{
    if ((x == NULL) == (tok == NULL))
        return sl_error(SL_EINVAL, "%s: give exactly one of real input or token input", m->vt->kind);
    if (tok) {
        if (!(m->caps & SL_CAP_TOKEN_IN)) return sl_error(SL_EINVAL, "%s takes real input, not tokens", m->vt->kind);
        for (size_t i = 0; i < n; i++)
            if (tok[i] < 0 || tok[i] >= m->d_in)
                return sl_error(SL_EINVAL, "%s: token %d at position %zu is outside the vocabulary [0, %d)", m->vt->kind, tok[i],
                                i, m->d_in);
    } else if (!(m->caps & SL_CAP_REAL_IN)) {
        return sl_error(SL_EINVAL, "%s takes token ids, not real input", m->vt->kind);
    }
    return SL_OK;
}

int sl_model_set_docs(sl_model *m, const int32_t *pos)
{
    if (pos && !(m->caps & SL_CAP_PACK))
        return sl_error(SL_EUNSUPPORTED, "%s cannot run packed rows (documents with boundaries)", m->vt->kind);
    m->doc_pos = pos;
    /* children that take packed rows see the same rows (a transformer's attention layers, the
     * wrapper's packing mixers); the others keep NULL and their parent runs them per document */
    for (int i = 0; i < m->n_children; i++)
        if (m->children[i]->caps & SL_CAP_PACK) sl_model_set_docs(m->children[i], pos);
    return SL_OK;
}

int sl_docs_check(const int32_t *pos, int B, int T)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const int32_t p = pos[(size_t)b * T + t];
            if (t == 0 ? p != 0 : p != 0 && p != pos[(size_t)b * T + t - 1] + 1)
                return sl_error(SL_EINVAL,
                                "packed rows: position %d at row %d, column %d (a row starts at 0, then each "
                                "position is 0 or the previous + 1)",
                                (int)p, b, t);
        }
    return SL_OK;
}

int sl_docs_end(const int32_t *pos, int t, int T)
{
    for (t++; t < T && pos[t] != 0; t++) {}
    return t;
}

int sl_model_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    if (B <= 0 || T <= 0) return sl_error(SL_ESHAPE, "%s: bad batch shape B=%d T=%d", m->vt->kind, B, T);
    int rc = check_input(m, x, tok, (size_t)B * T);
    if (rc) return rc;
    if (!m->vt->forward) return sl_error(SL_EUNSUPPORTED, "%s has no sequence mode", m->vt->kind);
    return m->vt->forward(m, x, tok, y, B, T);
}

int sl_model_backward(sl_model *m, const float *dy, float *dx)
{
    if (!m->vt->backward) return sl_error(SL_EUNSUPPORTED, "%s is not trained by gradient", m->vt->kind);
    if (m->inference) return sl_error(SL_EINVAL, "%s: backward after a forward in inference mode (no caches kept)", m->vt->kind);
    return m->vt->backward(m, dy, dx);
}

void *sl_model_state_new(sl_model *m, int B)
{
    if (!m->vt->state_new || !(m->caps & SL_CAP_STEP)) {
        sl_error(SL_EUNSUPPORTED, "%s has no step mode%s", m->vt->kind,
                 (m->caps & SL_CAP_BIDIR) ? " (bidirectional models run in sequence mode only)" : "");
        return NULL;
    }
    if (B <= 0) {
        sl_error(SL_ESHAPE, "bad batch size %d", B);
        return NULL;
    }
    return m->vt->state_new(m, B);
}

void sl_model_state_free(sl_model *m, void *state)
{
    if (state && m->vt->state_free) m->vt->state_free(m, state);
}

int sl_model_state_reset(sl_model *m, void *state)
{
    if (!m->vt->state_reset) return sl_error(SL_EUNSUPPORTED, "%s has no step mode", m->vt->kind);
    return m->vt->state_reset(m, state);
}

int sl_model_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    int n = 0;
    for (int b = 0; b < B; b++) n += rows[b] != 0;
    if (n == 0) return SL_OK;
    if (n == B || B <= 0) return sl_model_state_reset(m, state);
    if (!m->vt->state_reset_rows)
        return sl_error(SL_EUNSUPPORTED, "%s has no per-row state reset (step its rows one at a time)", m->vt->kind);
    return m->vt->state_reset_rows(m, state, rows, B);
}

int sl_model_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *y)
{
    if (!m->vt->step) return sl_error(SL_EUNSUPPORTED, "%s has no step mode", m->vt->kind);
    return m->vt->step(m, state, x, tok, y);
}

int sl_model_fit(sl_model *m, const int32_t *tok, size_t n)
{
    if (!m->vt->fit) return sl_error(SL_EUNSUPPORTED, "%s is not fitted from a corpus", m->vt->kind);
    return m->vt->fit(m, tok, n);
}

/* step() over T positions from the given state: the prefill fallback */
int sl_model_prefill_steps(sl_model *m, void *st, const float *x, const int32_t *tok, float *y, int B, int T)
{
    const int din = m->d_in, dout = m->d_out;
    int rc = SL_OK;
    if (B == 1) { /* rows are contiguous already */
        for (int t = 0; t < T && !rc; t++)
            rc = m->vt->step(m, st, x ? x + (size_t)t * din : NULL, tok ? tok + t : NULL, y + (size_t)t * dout);
        return rc;
    }
    float *xt = x ? malloc((size_t)B * din * sizeof(float)) : NULL;
    int32_t *tt = tok ? malloc((size_t)B * sizeof(int32_t)) : NULL;
    float *yt = malloc((size_t)B * dout * sizeof(float));
    if ((x && !xt) || (tok && !tt) || !yt) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int t = 0; t < T && !rc; t++) {
        for (int b = 0; b < B; b++) {
            if (x) memcpy(xt + (size_t)b * din, x + ((size_t)b * T + t) * din, (size_t)din * sizeof(float));
            else tt[b] = tok[(size_t)b * T + t];
        }
        if ((rc = m->vt->step(m, st, xt, tt, yt))) break;
        for (int b = 0; b < B; b++) memcpy(y + ((size_t)b * T + t) * dout, yt + (size_t)b * dout, (size_t)dout * sizeof(float));
    }
done:
    free(xt);
    free(tt);
    free(yt);
    return rc;
}

int sl_model_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T)
{
    if (!m->vt->step) return sl_error(SL_EUNSUPPORTED, "%s has no step mode", m->vt->kind);
    if (B <= 0 || T < 0) return sl_error(SL_ESHAPE, "prefill: bad batch shape B=%d T=%d", B, T);
    if (T == 0) return SL_OK;
    int rc = check_input(m, x, tok, (size_t)B * T);
    if (rc) return rc;
    if (m->vt->prefill) return m->vt->prefill(m, state, x, tok, y, B, T);
    return sl_model_prefill_steps(m, state, x, tok, y, B, T);
}

int sl_model_has_prefill(const sl_model *m) { return m->vt->prefill != NULL; }

int sl_model_state_copy(sl_model *m, void *dst, const void *src)
{
    if (!m->vt->state_copy) return sl_error(SL_EUNSUPPORTED, "%s cannot copy its step state (no snapshot)", m->vt->kind);
    if (dst == src) return SL_OK;
    return m->vt->state_copy(m, dst, src);
}

int sl_model_run_steps(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    if (B <= 0 || T <= 0) return sl_error(SL_ESHAPE, "bad batch shape B=%d T=%d", B, T);
    int rc = check_input(m, x, tok, (size_t)B * T);
    if (rc) return rc;
    void *st = sl_model_state_new(m, B);
    if (!st) return SL_EUNSUPPORTED;
    const int din = m->d_in, dout = m->d_out;
    float *xt = x ? malloc((size_t)B * din * sizeof(float)) : NULL;
    int32_t *tt = tok ? malloc((size_t)B * sizeof(int32_t)) : NULL;
    float *yt = malloc((size_t)B * dout * sizeof(float));
    if ((x && !xt) || (tok && !tt) || !yt) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            if (x) memcpy(xt + (size_t)b * din, x + ((size_t)b * T + t) * din, (size_t)din * sizeof(float));
            else tt[b] = tok[(size_t)b * T + t];
        }
        rc = m->vt->step(m, st, xt, tt, yt);
        if (rc) goto done;
        for (int b = 0; b < B; b++) memcpy(y + ((size_t)b * T + t) * dout, yt + (size_t)b * dout, (size_t)dout * sizeof(float));
    }
done:
    free(xt);
    free(tt);
    free(yt);
    sl_model_state_free(m, st);
    return rc;
}

/* ---- batch slices ---- */

int sl_model_slice_ok(const sl_model *m)
{
    const sl_model_vt *v = m->vt;
    return v->slice_ok && v->slice_begin && v->slice_forward && v->slice_backward_begin && v->slice_backward && v->slice_ok(m);
}

int sl_model_forward_slices(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T, int k)
{
    if (B <= 0 || T <= 0 || k <= 0)
        return sl_error(SL_ESHAPE, "%s: bad batch shape B=%d T=%d for %d slices", m->vt->kind, B, T, k);
    if (!sl_model_slice_ok(m)) return sl_error(SL_EUNSUPPORTED, "%s has no batch slices here", m->vt->kind);
    int rc = check_input(m, x, tok, (size_t)B * T);
    if (rc || (rc = m->vt->slice_begin(m, x, tok, B, T))) return rc;
    if (k > B) k = B;
    int err = 0;
    #pragma omp parallel for schedule(static, 1) num_threads(k) if (k > 1)
    for (int s = 0; s < k; s++) {
        int r = m->vt->slice_forward(m, y, (int)((long)B * s / k), (int)((long)B * (s + 1) / k));
        if (r) {
            #pragma omp atomic write
            err = r;
        }
    }
    return err ? sl_error(err, "%s: a batch slice failed (out of memory)", m->vt->kind) : SL_OK;
}

/* g += q; q = 0 */
SL_CLONES static void add_and_zero(float *restrict g, float *restrict q, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        g[i] += q[i];
        q[i] = 0.0f;
    }
}

int sl_model_backward_slices(sl_model *m, const float *dy, float *dx, int B, int k, sl_buf *gpriv)
{
    if (B <= 0 || k <= 0) return sl_error(SL_ESHAPE, "%s: bad batch size B=%d for %d slices", m->vt->kind, B, k);
    if (!sl_model_slice_ok(m)) return sl_error(SL_EUNSUPPORTED, "%s has no batch slices here", m->vt->kind);
    sl_params *P = m->P;
    const size_t tot = P->total;
    int rc, err = 0;
    if (k > B) k = B;
    if (k > 1 && (size_t)(k - 1) * tot > gpriv->n) {
        /* the private gradients start at zero; the reduction below zeroes them again after use */
        if ((rc = sl_buf_reserve(gpriv, (size_t)(k - 1) * tot))) return rc;
        memset(gpriv->p, 0, gpriv->n * sizeof(float));
    }
    if ((rc = m->vt->slice_backward_begin(m))) return rc;
    #pragma omp parallel for schedule(static, 1) num_threads(k) if (k > 1)
    for (int s = 0; s < k; s++) {
        float *g = P->grad;
        if (s > 0) g = gpriv->p + (size_t)(s - 1) * tot; /* zero (see above and below) */
        int r = m->vt->slice_backward(m, dy, dx, 1, g, (int)((long)B * s / k), (int)((long)B * (s + 1) / k));
        if (r) {
            #pragma omp atomic write
            err = r;
        }
    }
    if (err) {
        if (k > 1) memset(gpriv->p, 0, gpriv->n * sizeof(float));
        return sl_error(err, "%s: a batch slice failed (out of memory)", m->vt->kind);
    }
    if (k > 1) {
        /* private gradients into P->grad in slice order (the same sums whatever the threads),
         * zeroing them for the next backward in the same pass */
        float *gp = gpriv->p, *G0 = P->grad;
        #pragma omp parallel for schedule(static) num_threads(k)
        for (long c = 0; c < (long)((tot + 4095) / 4096); c++) {
            const size_t i0 = (size_t)c * 4096, i1 = i0 + 4096 < tot ? i0 + 4096 : tot;
            for (int s = 1; s < k; s++) add_and_zero(G0 + i0, gp + (size_t)(s - 1) * tot + i0, i1 - i0);
        }
    }
    return SL_OK;
}

int sl_buf_reserve(sl_buf *b, size_t n)
{
    if (b->n >= n) return SL_OK;
    float *p = realloc(b->p, (n ? n : 1) * sizeof(float));
    if (!p) return sl_error(SL_ENOMEM, "cannot allocate %zu floats", n);
    b->p = p;
    b->n = n;
    return SL_OK;
}

void sl_buf_free(sl_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

#define SL_ARENA_ALIGN 64

static size_t arena_round(size_t n) { return (n + SL_ARENA_ALIGN - 1) / SL_ARENA_ALIGN * SL_ARENA_ALIGN; }

/* arena bytes held in the process (sl_arena_stats): counters shared by every thread, updated
 * atomically; they only count, nothing reads them to compute */
static size_t arena_now, arena_peak;

/* add bytes newly held (the peak sees them), then sub bytes given back */
void sl_mem_count(size_t add, size_t sub)
{
    size_t now = __atomic_add_fetch(&arena_now, add, __ATOMIC_RELAXED);
    size_t pk = __atomic_load_n(&arena_peak, __ATOMIC_RELAXED);
    while (now > pk && !__atomic_compare_exchange_n(&arena_peak, &pk, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    __atomic_sub_fetch(&arena_now, sub, __ATOMIC_RELAXED);
}

void sl_arena_stats(size_t *now, size_t *peak)
{
    *now = __atomic_load_n(&arena_now, __ATOMIC_RELAXED);
    *peak = __atomic_load_n(&arena_peak, __ATOMIC_RELAXED);
}

void sl_arena_stats_reset(void)
{
    __atomic_store_n(&arena_peak, __atomic_load_n(&arena_now, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

int sl_arena_carve(sl_arena *a, const sl_field *f, size_t n)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = arena_round(f[i].bytes);
        if (r < f[i].bytes || need + r < need) return sl_error(SL_ENOMEM, "arena of %zu fields is too large", n);
        need += r;
    }
    if (need > a->cap || !a->base) {
        void *p = aligned_alloc(SL_ARENA_ALIGN, need ? need : SL_ARENA_ALIGN);
        if (!p) return sl_error(SL_ENOMEM, "cannot allocate %zu bytes", need);
        memset(p, 0, need ? need : SL_ARENA_ALIGN);
        sl_mem_count(need, a->base ? a->cap : 0); /* the old block is still held while the new one fills */
        free(a->base);
        a->base = p;
        a->cap = need;
    }
    char *q = a->base;
    for (size_t i = 0; i < n; i++) {
        void *p = q;
        memcpy(f[i].slot, &p, sizeof p); /* the field is some T *; object pointers share one representation */
        q += arena_round(f[i].bytes);
    }
    return SL_OK;
}

int sl_arena_copy(sl_arena *dst, const sl_arena *src)
{
    if (dst->cap != src->cap) return sl_error(SL_ESHAPE, "arena copy: %zu bytes into %zu", src->cap, dst->cap);
    if (src->cap) memcpy(dst->base, src->base, src->cap);
    return SL_OK;
}

void sl_arena_free(sl_arena *a)
{
    if (a->base) sl_mem_count(0, a->cap);
    free(a->base);
    a->base = NULL;
    a->cap = 0;
}
