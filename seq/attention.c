/* seq/attention.c — the attention mixer (MHA/MQA/GQA/MLA, RoPE, dropout, KV cache, batch
 * slices) over the kernels of seq/attention_naive.c and seq/attention_flash.c. See
 * attention.h for the equations. */
#include "seq/attention.h"
#include "core/error.h"
#include "core/gemv.h"
#include "core/util.h"
#include "seq/layers.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- RoPE ------------------------------------------------------------------------------- */

int sl_rope_tables(float **cos_out, float **sin_out, int max_len, int dim, float theta)
{
    const int h = dim / 2;
    float *c = malloc((size_t)max_len * (h ? h : 1) * sizeof(float));
    float *s = malloc((size_t)max_len * (h ? h : 1) * sizeof(float));
    if (!c || !s) {
        free(c);
        free(s);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    for (int t = 0; t < max_len; t++)
        for (int i = 0; i < h; i++) {
            /* llama2.c run.c: freq = 1 / theta^(2i/dim), angle = pos * freq, in float */
            float freq = 1.0f / powf(theta, (float)(2 * i) / (float)dim);
            float a = (float)t * freq;
            c[(size_t)t * h + i] = cosf(a);
            s[(size_t)t * h + i] = sinf(a);
        }
    *cos_out = c;
    *sin_out = s;
    return SL_OK;
}

void sl_rope_row(float *x, int n_head, int stride, int dim, const float *cos_t, const float *sin_t, int inverse)
{
    for (int h = 0; h < n_head; h++) {
        float *p = x + (size_t)h * stride;
        for (int i = 0; i < dim / 2; i++) {
            float c = cos_t[i], sn = inverse ? -sin_t[i] : sin_t[i];
            float a = p[2 * i], b = p[2 * i + 1];
            p[2 * i] = a * c - b * sn;
            p[2 * i + 1] = a * sn + b * c;
        }
    }
}

/* ---- the mixer -------------------------------------------------------------------------- */

typedef struct attn_model_ {
    sl_model base;
    sl_attn_config c;
    int mla;
    int Hq, Hkv, Dk, Dv;  /* per-head widths seen by the kernel */
    int hd;               /* standard head dim */
    int dn, dr, r, rq;    /* MLA dims */
    int qdim, kdim, vdim; /* token-major widths of q, k, v: H*D */
    int rot;              /* rotated width per head (hd or dr), 0 if no RoPE */
    float *rcos, *rsin;   /* (max_seq_len, rot/2) */
    /* tensors (-1 if absent) */
    int i_qkv, i_qkvb, i_wq, i_bq, i_wk, i_bk, i_wv, i_bv, i_wo, i_bo;
    int i_qa, i_qan, i_qb, i_kva, i_kvan, i_kvb;
    /* cache of the last forward */
    int B, T, naive;
    int sliced;    /* the last forward ran as batch slices (slice_begin) */
    int infer_fwd; /* the last forward ran in inference mode: nothing kept for backward */
    const float *x;
    sl_arena fwd;                 /* this layer's forward cache below, carved per forward */
    float *hq, *hk, *hv, *ho;     /* head-major (B,H,T,D) */
    float *to;                    /* (N, Hq*Dv) token-major attention output */
    float *att;                   /* naive: (B,Hq,T,T) probs; flash: (B,Hq,T) lse */
    float *dmask, *omask;         /* dropout masks: (B,Hq,T,T), (N,C) */
    float *qa, *qan, *qar;        /* MLA q: (N,rq) (N,rq) (N) */
    float *kva, *kvn, *kvr, *kvb; /* MLA kv: (N,r+dr) (N,r) (N) (N,max(Hq*(dn+dv), r)) */
    float *qkvl;                  /* batch slices, flash: this layer's q, k, v token-major (N, qdim+kdim+vdim) */
    /* scratch that lives for one call (read through ws: a transformer's layers share the first
     * layer's): scr, the token-major projections, carved by forward / slice_begin; bwd,
     * backward's gradients, carved by backward / slice_backward_begin */
    sl_arena scr, bwd;
    float *tq, *tk, *tv;                /* (N, qdim) (N, kdim) (N, max(vdim, MLA r)) token-major, after RoPE */
    float *qkv;                         /* gpt: (N, qdim+kdim+vdim) fused projection */
    float *g1, *g2, *g3, *g4, *g5, *g6; /* backward scratch */
    /* owner of the scratch arenas (this model, or the first layer's attention when a
     * transformer shares them across its layers) */
    struct attn_model_ *ws;
} attn_model;

typedef struct {
    int B, pos, cap;
    int *st0;        /* (B) each row's first visible cache position (its last per-row reset) */
    int apart;       /* some st0 is not 0 */
    float *kc, *vc;  /* standard: (B,Hkv,cap,hd) each */
    float *cc, *pc;  /* MLA: (B,cap,r), (B,cap,dr) */
    size_t kv_bytes; /* bytes allocated for kc+vc or cc+pc */
    float *tq, *tk, *tv, *to, *sc, *lat, *ctx, *qa, *qan, *st, *kva, *kvn, *qkv;
    sl_arena pf; /* prefill's projections for N = B*T rows */
} attn_state;

static const int flash_vals[] = {1, 0};

const sl_spec_key sl_attn_keys[] = {
    SL_KEY_INT(sl_attn_config, d_model, "d_model", "64", 1, 1 << 20, "input/output width"),
    SL_KEY_INT(sl_attn_config, n_head, "n_head", "4", 1, 4096, "query heads"),
    SL_KEY_INT(sl_attn_config, n_kv_head, "n_kv_head", "0", 0, 4096,
               "key/value heads: 0 = n_head (MHA), 1 = MQA, a divisor of n_head = GQA"),
    SL_KEY_BOOL(sl_attn_config, bias, "bias", "0", "biases in the projections"),
    SL_KEY_BOOL(sl_attn_config, causal, "causal", "1", "causal mask (0: bidirectional, sequence mode only)"),
    SL_KEY_BOOL(sl_attn_config, rope, "rope", "0", "rotary position embedding on queries and keys"),
    SL_KEY_FLOAT(sl_attn_config, rope_theta, "rope_theta", "10000", 1, 1e9, "RoPE base"),
    SL_KEY_INT(sl_attn_config, max_seq_len, "max_seq_len", "1024", 1, 1 << 24,
               "longest sequence; KV-cache capacity in step mode"),
    SL_KEY_CHOICE(sl_attn_config, flash, "kernel", "flash", "flash|naive", flash_vals,
                  "flash (tiled, online softmax, O(T) memory) or naive (O(T^2))"),
    SL_KEY_FLOAT(sl_attn_config, dropout, "dropout", "0", 0, 0.999,
                 "dropout on attention probabilities (naive kernel) and output"),
    SL_KEY_CHOICE(sl_attn_config, names, "names", "gpt", "gpt|llama", NULL,
                  "parameter names: gpt (c_attn, c_proj) or llama (wq, wk, wv, wo)"),
    SL_ATTN_MLA_KEYS(sl_attn_config),
    SL_KEY_FLOAT(sl_attn_config, norm_eps, "norm_eps", "1e-6", 1e-12, 1, "epsilon of MLA's latent RMSNorms"),
    SL_KEY_END,
};

void sl_attn_config_default(sl_attn_config *c, int d_model, int n_head)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_attn_keys, c); /* cannot fail: the table's defaults are valid */
    c->d_model = d_model;
    c->n_head = n_head;
}

int sl_attn_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_attn_config c;
    memset(&c, 0, sizeof c);
    int rc = sl_spec_read(s, sl_attn_keys, &c);
    return rc ? rc : sl_attn_create(&c, P, prefix, out);
}

int sl_attn_config_check(const sl_attn_config *c)
{
    if (c->d_model <= 0 || c->n_head <= 0)
        return sl_error(SL_EINVAL, "attention: d_model=%d and n_head=%d must be positive", c->d_model, c->n_head);
    int hkv = c->n_kv_head ? c->n_kv_head : c->n_head;
    if (hkv < 0 || c->n_head % hkv)
        return sl_error(SL_EINVAL, "attention: n_kv_head=%d must divide n_head=%d", c->n_kv_head, c->n_head);
    if (c->max_seq_len <= 0) return sl_error(SL_EINVAL, "attention: max_seq_len=%d must be positive", c->max_seq_len);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return sl_error(SL_EINVAL, "attention: dropout=%g not in [0, 1)", c->dropout);
    if (c->rope && !(c->rope_theta > 0.0f))
        return sl_error(SL_EINVAL, "attention: rope_theta=%g must be positive", c->rope_theta);
    if (c->kv_lora_rank > 0) {
        if (c->qk_nope_head_dim < 0 || c->qk_rope_head_dim < 0 || c->qk_nope_head_dim + c->qk_rope_head_dim <= 0 ||
            c->v_head_dim <= 0 || c->q_lora_rank < 0)
            return sl_error(SL_EINVAL,
                            "attention (MLA): need qk_nope_head_dim + qk_rope_head_dim > 0, v_head_dim > 0 "
                            "(got %d, %d, %d)",
                            c->qk_nope_head_dim, c->qk_rope_head_dim, c->v_head_dim);
        if (c->rope && c->qk_rope_head_dim % 2)
            return sl_error(SL_EINVAL, "attention (MLA): qk_rope_head_dim=%d must be even for RoPE", c->qk_rope_head_dim);
        if (c->n_kv_head && c->n_kv_head != c->n_head)
            return sl_error(SL_EINVAL, "attention (MLA): n_kv_head does not apply (latent keys serve every head)");
    } else {
        if (c->d_model % c->n_head)
            return sl_error(SL_EINVAL, "attention: d_model=%d is not a multiple of n_head=%d", c->d_model, c->n_head);
        if (c->rope && (c->d_model / c->n_head) % 2)
            return sl_error(SL_EINVAL, "attention: head dim %d must be even for RoPE", c->d_model / c->n_head);
    }
    return SL_OK;
}

size_t sl_attn_kv_bytes_per_token(const sl_attn_config *c)
{
    if (c->kv_lora_rank > 0) return (size_t)(c->kv_lora_rank + c->qk_rope_head_dim) * sizeof(float);
    int hkv = c->n_kv_head ? c->n_kv_head : c->n_head;
    return (size_t)2 * hkv * (c->d_model / c->n_head) * sizeof(float);
}

static const sl_model_vt attn_vt;

int sl_attn_is(const sl_model *m) { return m && m->vt == &attn_vt; }
int sl_attn_out_proj_index(const sl_model *m) { return sl_attn_is(m) ? ((const attn_model *)m)->i_wo : -1; }
int sl_attn_state_pos(const void *state) { return ((const attn_state *)state)->pos; }
size_t sl_attn_state_kv_bytes(const void *state) { return ((const attn_state *)state)->kv_bytes; }

int sl_attn_share_workspace(sl_model *dst, sl_model *src)
{
    if (!sl_attn_is(dst) || !sl_attn_is(src)) return sl_error(SL_EINVAL, "share workspace: not attention mixers");
    ((attn_model *)dst)->ws = ((attn_model *)src)->ws;
    return SL_OK;
}

static const float *PD(const attn_model *a, int i) { return sl_params_data_opt(a->base.P, i); }
static float *PG(const attn_model *a, int i) { return sl_params_grad_opt(a->base.P, i); }

/* (N, stride) token-major slice [off, off+H*D) -> (B,H,T,D) */
static void to_heads(float *dst, const float *src, int B, int T, int H, int D, int stride, int off)
{
    #pragma omp parallel for collapse(2) if ((size_t)B * T * H * D > 65536)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++)
                memcpy(dst + (((size_t)b * H + h) * T + t) * D, src + ((size_t)b * T + t) * stride + off + (size_t)h * D,
                       (size_t)D * sizeof(float));
}

static void from_heads(float *dst, const float *src, int B, int T, int H, int D, int stride, int off)
{
    #pragma omp parallel for collapse(2) if ((size_t)B * T * H * D > 65536)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++)
                memcpy(dst + ((size_t)b * T + t) * stride + off + (size_t)h * D, src + (((size_t)b * H + h) * T + t) * D,
                       (size_t)D * sizeof(float));
}

/* RoPE over token-major rows (N = B*T rows, position t = n % T, or the row's doc_pos when
 * packed: positions restart at each document) */
static void rope_rows(const attn_model *a, float *x, int N, int T, int n_head, int stride, int row, int off, int inverse)
{
    const int h2 = a->rot / 2;
    const int32_t *dp = a->base.doc_pos;
    for (int n = 0; n < N; n++) {
        int t = dp ? dp[n] : n % T;
        sl_rope_row(x + (size_t)n * row + off, n_head, stride, a->rot, a->rcos + (size_t)t * h2, a->rsin + (size_t)t * h2,
                    inverse);
    }
}

/* Projections for N rows of x: token-major tq (N,qdim), tk (N,kdim), tv (N,vdim); positions
 * of row n are pos0 + n % T. MLA caches qa/qan/kva/kvn/kvb along the way. */
/* project()'s outputs: token-major q, k, v (N, qdim) (N, kdim) (N, vdim); gpt names: the fused
 * projection (N, qdim+kdim+vdim); MLA: its latents (N, rq) (N, rq) (N) (N, r+dr) (N, r) (N)
 * (N, Hq*(dn+dv)). Fields a configuration does not use may be NULL. */
typedef struct {
    float *tq, *tk, *tv, *qkv;
    float *qa, *qan, *qar, *kva, *kvn, *kvr, *kvb;
} proj_out;

static int project(attn_model *a, const float *x, int N, int T, const proj_out *o)
{
    float *tq = o->tq, *tk = o->tk, *tv = o->tv, *qkv = o->qkv;
    float *qa = o->qa, *qan = o->qan, *qar = o->qar, *kva = o->kva, *kvn = o->kvn, *kvr = o->kvr, *kvb = o->kvb;
    const int C = a->c.d_model;
    if (!a->mla) {
        if (a->i_qkv >= 0) {
            const int tot = a->qdim + a->kdim + a->vdim;
            sl_linear_forward(qkv, x, PD(a, a->i_qkv), PD(a, a->i_qkvb), N, C, tot);
            for (int n = 0; n < N; n++) {
                const float *r = qkv + (size_t)n * tot;
                memcpy(tq + (size_t)n * a->qdim, r, (size_t)a->qdim * sizeof(float));
                memcpy(tk + (size_t)n * a->kdim, r + a->qdim, (size_t)a->kdim * sizeof(float));
                memcpy(tv + (size_t)n * a->vdim, r + a->qdim + a->kdim, (size_t)a->vdim * sizeof(float));
            }
        } else {
            sl_linear_forward(tq, x, PD(a, a->i_wq), PD(a, a->i_bq), N, C, a->qdim);
            sl_linear_forward(tk, x, PD(a, a->i_wk), PD(a, a->i_bk), N, C, a->kdim);
            sl_linear_forward(tv, x, PD(a, a->i_wv), PD(a, a->i_bv), N, C, a->vdim);
        }
        return SL_OK;
    }
    const int r = a->r, dr = a->dr, dn = a->dn, Dv = a->Dv, H = a->Hq;
    if (a->rq > 0) {
        sl_linear_forward(qa, x, PD(a, a->i_qa), NULL, N, C, a->rq);
        sl_rmsnorm_forward(qan, qar, qa, PD(a, a->i_qan), N, a->rq, a->c.norm_eps);
        sl_linear_forward(tq, qan, PD(a, a->i_qb), NULL, N, a->rq, a->qdim);
    } else {
        sl_linear_forward(tq, x, PD(a, a->i_wq), NULL, N, C, a->qdim);
    }
    sl_linear_forward(kva, x, PD(a, a->i_kva), NULL, N, C, r + dr);
    float *cl = kvb; /* borrow kvb to hold the raw latent (N, r) before normalising */
    for (int n = 0; n < N; n++) memcpy(cl + (size_t)n * r, kva + (size_t)n * (r + dr), (size_t)r * sizeof(float));
    sl_rmsnorm_forward(kvn, kvr, cl, PD(a, a->i_kvan), N, r, a->c.norm_eps);
    sl_linear_forward(kvb, kvn, PD(a, a->i_kvb), NULL, N, r, H * (dn + Dv));
    (void)T;
    for (int n = 0; n < N; n++) {
        const float *src = kvb + (size_t)n * H * (dn + Dv);
        float *k = tk + (size_t)n * a->kdim, *v = tv + (size_t)n * a->vdim;
        for (int h = 0; h < H; h++) {
            memcpy(k + (size_t)h * (dn + dr), src + (size_t)h * (dn + Dv), (size_t)dn * sizeof(float));
            memcpy(v + (size_t)h * Dv, src + (size_t)h * (dn + Dv) + dn, (size_t)Dv * sizeof(float));
        }
    }
    return SL_OK;
}

/* after project(): RoPE on q and k (positions n % T), and MLA's shared RoPE key copied to heads */
static void positions(attn_model *a, int N, int T, float *tq, float *tk, float *kva)
{
    if (!a->mla) {
        if (a->rot) {
            rope_rows(a, tq, N, T, a->Hq, a->hd, a->qdim, 0, 0);
            rope_rows(a, tk, N, T, a->Hkv, a->hd, a->kdim, 0, 0);
        }
        return;
    }
    const int r = a->r, dr = a->dr, dn = a->dn;
    if (a->rot) {
        rope_rows(a, tq, N, T, a->Hq, dn + dr, a->qdim, dn, 0);
        rope_rows(a, kva, N, T, 1, dr, r + dr, r, 0);
    }
    for (int n = 0; n < N; n++)
        for (int h = 0; h < a->Hq; h++)
            memcpy(tk + (size_t)n * a->kdim + (size_t)h * (dn + dr) + dn, kva + (size_t)n * (r + dr) + r,
                   (size_t)dr * sizeof(float));
}

static int attn_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    attn_model *a = (attn_model *)m;
    const int N = B * T, C = a->c.d_model, Hq = a->Hq;
    int rc;
    if (a->rot && T > a->c.max_seq_len)
        return sl_error(SL_ESHAPE, "attention: sequence length %d exceeds max_seq_len %d", T, a->c.max_seq_len);
    const int drop = m->training && a->c.dropout > 0.0f && m->rng;
    if (m->doc_pos && (rc = sl_docs_check(m->doc_pos, B, T))) return rc;
    a->sliced = 0;
    a->naive = !a->c.flash || drop || (m->doc_pos && !a->c.causal); /* flash: causal packed rows only */
    sl_attn_shape s = {.B = B,
                       .Hq = Hq,
                       .Hkv = a->Hkv,
                       .T = T,
                       .Dk = a->Dk,
                       .Dv = a->Dv,
                       .scale = 1.0f / sqrtf((float)a->Dk),
                       .causal = a->c.causal,
                       .doc_pos = m->doc_pos};
    const size_t natt = a->naive ? (size_t)B * Hq * T * T : (size_t)B * Hq * T, n = (size_t)N;
    const size_t mla = a->mla, mlq = a->mla && a->rq > 0, HD = (size_t)Hq * a->Dv;
    const size_t kvbw = Hq * (a->dn + a->Dv) > a->r ? (size_t)Hq * (a->dn + a->Dv) : (size_t)a->r;
    attn_model *w = a->ws;
    /* inference mode (seq/model.h): no backward follows, so the arrays of the forward cache are
     * working space of this call only and are carved, with the projections, from the scratch
     * arena that the layers of a transformer share (w->scr): one layer's worth for the whole
     * stack instead of one per layer. Without MLA (qdim = Hq*Dv) two arrays are reused as well:
     * the kernel's output ho goes over tq (copied to hq before the kernel) and the token-major
     * output over hq (read by the kernel only). The arithmetic is the same. */
    const int inf = m->inference;
    a->infer_fwd = inf;
    const size_t alias = inf && !mla ? 0 : 1;
    if (inf && a->fwd.base) sl_arena_free(&a->fwd);
    if (inf && (rc = SL_ARENA_CARVE(
                    &w->scr, SL_FIELD(w->tq, n * a->qdim), SL_FIELD(w->tk, n * a->kdim),
                    SL_FIELD(w->tv, n * (mla && a->r > a->vdim ? a->r : a->vdim)),
                    SL_FIELD(w->qkv, a->i_qkv >= 0 ? n * (a->qdim + a->kdim + a->vdim) : 0), SL_FIELD(a->hq, n * a->qdim),
                    SL_FIELD(a->hk, n * a->kdim), SL_FIELD(a->hv, n * a->vdim), SL_FIELD(a->ho, alias * n * HD),
                    SL_FIELD(a->to, alias * n * HD), SL_FIELD(a->att, natt), SL_FIELD(a->dmask, drop && a->naive ? natt : 0),
                    SL_FIELD(a->omask, drop ? n * C : 0), SL_FIELD(a->qa, mlq * n * a->rq), SL_FIELD(a->qan, mlq * n * a->rq),
                    SL_FIELD(a->qar, mlq * n), SL_FIELD(a->kva, mla * n * (a->r + a->dr)), SL_FIELD(a->kvn, mla * n * a->r),
                    SL_FIELD(a->kvr, mla * n), SL_FIELD(a->kvb, mla * n * kvbw))))
        return rc;
    if (!inf &&
        ((rc = SL_ARENA_CARVE(&w->scr, SL_FIELD(w->tq, n * a->qdim), SL_FIELD(w->tk, n * a->kdim),
                              SL_FIELD(w->tv, n * (mla && a->r > a->vdim ? a->r : a->vdim)),
                              SL_FIELD(w->qkv, a->i_qkv >= 0 ? n * (a->qdim + a->kdim + a->vdim) : 0))) ||
         (rc = SL_ARENA_CARVE(&a->fwd, SL_FIELD(a->hq, n * a->qdim), SL_FIELD(a->hk, n * a->kdim), SL_FIELD(a->hv, n * a->vdim),
                              SL_FIELD(a->ho, n * HD), SL_FIELD(a->to, n * HD), SL_FIELD(a->att, natt),
                              SL_FIELD(a->dmask, drop && a->naive ? natt : 0), SL_FIELD(a->omask, drop ? n * C : 0),
                              SL_FIELD(a->qa, mlq * n * a->rq), SL_FIELD(a->qan, mlq * n * a->rq), SL_FIELD(a->qar, mlq * n),
                              SL_FIELD(a->kva, mla * n * (a->r + a->dr)), SL_FIELD(a->kvn, mla * n * a->r),
                              SL_FIELD(a->kvr, mla * n), SL_FIELD(a->kvb, mla * n * kvbw)))))
        return rc;
    if (!alias) {
        a->ho = w->tq;
        a->to = a->hq;
    }
    a->B = B;
    a->T = T;
    a->x = x;
    const proj_out po = {.tq = a->ws->tq,
                         .tk = a->ws->tk,
                         .tv = a->ws->tv,
                         .qkv = a->ws->qkv,
                         .qa = a->qa,
                         .qan = a->qan,
                         .qar = a->qar,
                         .kva = a->kva,
                         .kvn = a->kvn,
                         .kvr = a->kvr,
                         .kvb = a->kvb};
    project(a, x, N, T, &po);
    positions(a, N, T, a->ws->tq, a->ws->tk, a->kva);
    to_heads(a->hq, a->ws->tq, B, T, Hq, a->Dk, a->qdim, 0);
    to_heads(a->hk, a->ws->tk, B, T, a->Hkv, a->Dk, a->kdim, 0);
    to_heads(a->hv, a->ws->tv, B, T, a->Hkv, a->Dv, a->vdim, 0);
    if (a->naive) {
        const float *dm = NULL;
        if (drop) {
            float p = a->c.dropout, keep = 1.0f / (1.0f - p);
            for (size_t i = 0; i < natt; i++) a->dmask[i] = sl_rng_uniform(m->rng) < p ? 0.0f : keep;
            dm = a->dmask;
        }
        sl_attn_naive_forward(a->ho, a->att, a->hq, a->hk, a->hv, dm, &s);
    } else if ((rc = sl_attn_flash_forward(a->ho, a->att, a->hq, a->hk, a->hv, &s))) {
        return rc;
    }
    from_heads(a->to, a->ho, B, T, Hq, a->Dv, Hq * a->Dv, 0);
    sl_linear_forward(y, a->to, PD(a, a->i_wo), PD(a, a->i_bo), N, Hq * a->Dv, C);
    if (drop) { sl_dropout_forward(y, a->omask, y, (size_t)N * C, a->c.dropout, m->rng); }
    a->naive |= drop << 1; /* bit 1: dropout masks live */
    return SL_OK;
}

static int attn_backward(sl_model *m, const float *dy_in, float *dx)
{
    attn_model *a = (attn_model *)m;
    const int B = a->B, T = a->T, N = B * T, C = a->c.d_model, Hq = a->Hq, Dv = a->Dv;
    const int drop = a->naive >> 1, naive = a->naive & 1;
    int rc;
    if (a->sliced) return sl_error(SL_EINVAL, "attention: the last forward ran as batch slices (use sl_model_backward_slices)");
    if (a->infer_fwd) return sl_error(SL_EINVAL, "attention: backward after a forward in inference mode (no caches kept)");
    const size_t n = (size_t)N, HD = (size_t)Hq * Dv, mla = a->mla;
    const size_t g6w = mla ? (a->rq > 2 * a->r ? (size_t)a->rq : (size_t)2 * a->r) : 0;
    attn_model *w = a->ws;
    if ((rc = SL_ARENA_CARVE(&w->bwd, SL_FIELD(w->g1, n * ((size_t)C > HD ? (size_t)C : HD)), SL_FIELD(w->g2, n * a->qdim),
                             SL_FIELD(w->g3, n * a->kdim), SL_FIELD(w->g4, n * a->vdim),
                             SL_FIELD(w->g5, n * (mla && (size_t)(a->r + a->dr) > HD ? (size_t)(a->r + a->dr) : HD)),
                             SL_FIELD(w->g6, n * g6w))))
        return rc;
    const float *dy = dy_in;
    if (drop) {
        memset(a->ws->g1, 0, (size_t)N * C * sizeof(float));
        sl_dropout_backward(a->ws->g1, dy_in, a->omask, (size_t)N * C);
        dy = a->ws->g1;
    }
    /* output projection: dto (N, Hq*Dv) */
    float *dto = a->ws->g5;
    memset(dto, 0, (size_t)N * Hq * Dv * sizeof(float));
    sl_linear_backward(dto, PG(a, a->i_wo), PG(a, a->i_bo), dy, a->to, PD(a, a->i_wo), N, Hq * Dv, C);
    /* to head-major dO; reuse hq-sized scratch: dho in g1 (dy no longer needed) */
    float *dho = a->ws->g1;
    to_heads(dho, dto, B, T, Hq, Dv, Hq * Dv, 0);
    float *dhq = a->ws->g2, *dhk = a->ws->g3, *dhv = a->ws->g4;
    memset(dhq, 0, (size_t)N * a->qdim * sizeof(float));
    memset(dhk, 0, (size_t)N * a->kdim * sizeof(float));
    memset(dhv, 0, (size_t)N * a->vdim * sizeof(float));
    sl_attn_shape s = {.B = B,
                       .Hq = Hq,
                       .Hkv = a->Hkv,
                       .T = T,
                       .Dk = a->Dk,
                       .Dv = Dv,
                       .scale = 1.0f / sqrtf((float)a->Dk),
                       .causal = a->c.causal,
                       .doc_pos = m->doc_pos};
    if (naive) sl_attn_naive_backward(dhq, dhk, dhv, dho, a->hq, a->hk, a->hv, a->att, drop ? a->dmask : NULL, &s);
    else if ((rc = sl_attn_flash_backward(dhq, dhk, dhv, dho, a->hq, a->hk, a->hv, a->ho, a->att, &s))) return rc;
    /* back to token-major: reuse tq/tk/tv (forward values no longer needed past this point) */
    float *dtq = a->ws->tq, *dtk = a->ws->tk, *dtv = a->ws->tv;
    from_heads(dtq, dhq, B, T, Hq, a->Dk, a->qdim, 0);
    from_heads(dtk, dhk, B, T, a->Hkv, a->Dk, a->kdim, 0);
    from_heads(dtv, dhv, B, T, a->Hkv, Dv, a->vdim, 0);
    const float *x = a->x;
    if (!a->mla) {
        if (a->rot) {
            rope_rows(a, dtq, N, T, Hq, a->hd, a->qdim, 0, 1);
            rope_rows(a, dtk, N, T, a->Hkv, a->hd, a->kdim, 0, 1);
        }
        if (a->i_qkv >= 0) {
            const int tot = a->qdim + a->kdim + a->vdim;
            float *dqkv = a->ws->qkv; /* forward values of the fused projection are not needed */
            for (int n = 0; n < N; n++) {
                float *r = dqkv + (size_t)n * tot;
                memcpy(r, dtq + (size_t)n * a->qdim, (size_t)a->qdim * sizeof(float));
                memcpy(r + a->qdim, dtk + (size_t)n * a->kdim, (size_t)a->kdim * sizeof(float));
                memcpy(r + a->qdim + a->kdim, dtv + (size_t)n * a->vdim, (size_t)a->vdim * sizeof(float));
            }
            sl_linear_backward(dx, PG(a, a->i_qkv), PG(a, a->i_qkvb), dqkv, x, PD(a, a->i_qkv), N, C, tot);
        } else {
            sl_linear_backward(dx, PG(a, a->i_wq), PG(a, a->i_bq), dtq, x, PD(a, a->i_wq), N, C, a->qdim);
            sl_linear_backward(dx, PG(a, a->i_wk), PG(a, a->i_bk), dtk, x, PD(a, a->i_wk), N, C, a->kdim);
            sl_linear_backward(dx, PG(a, a->i_wv), PG(a, a->i_bv), dtv, x, PD(a, a->i_wv), N, C, a->vdim);
        }
        return SL_OK;
    }
    /* MLA */
    const int r = a->r, dr = a->dr, dn = a->dn;
    if (a->rot) rope_rows(a, dtq, N, T, Hq, dn + dr, a->qdim, dn, 1);
    if (a->rq > 0) {
        float *dqan = a->ws->g6;
        memset(dqan, 0, (size_t)N * a->rq * sizeof(float));
        sl_linear_backward(dqan, PG(a, a->i_qb), NULL, dtq, a->qan, PD(a, a->i_qb), N, a->rq, a->qdim);
        /* dqa reuses qan (no longer needed) */
        float *dqa = a->qan;
        memset(dqa, 0, (size_t)N * a->rq * sizeof(float));
        sl_rmsnorm_backward(dqa, PG(a, a->i_qan), dqan, a->qa, PD(a, a->i_qan), a->qar, N, a->rq);
        sl_linear_backward(dx, PG(a, a->i_qa), NULL, dqa, x, PD(a, a->i_qa), N, C, a->rq);
    } else {
        sl_linear_backward(dx, PG(a, a->i_wq), NULL, dtq, x, PD(a, a->i_wq), N, C, a->qdim);
    }
    /* dkvb (N, Hq*(dn+dv)) gathers dk_nope and dv; dkva (N, r+dr) = [dc, dk_pe] */
    float *dkvb = a->kvb;    /* forward kvb no longer needed */
    float *dkva = a->ws->g5; /* dto done (g5 holds N*max(Hq*Dv, r+dr)) */
    memset(dkva, 0, (size_t)N * (r + dr) * sizeof(float));
    for (int n = 0; n < N; n++) {
        float *d = dkvb + (size_t)n * Hq * (dn + Dv), *dpe = dkva + (size_t)n * (r + dr) + r;
        const float *k = dtk + (size_t)n * a->kdim, *v = dtv + (size_t)n * a->vdim;
        for (int h = 0; h < Hq; h++) {
            memcpy(d + (size_t)h * (dn + Dv), k + (size_t)h * (dn + dr), (size_t)dn * sizeof(float));
            memcpy(d + (size_t)h * (dn + Dv) + dn, v + (size_t)h * Dv, (size_t)Dv * sizeof(float));
            for (int i = 0; i < dr; i++) dpe[i] += k[(size_t)h * (dn + dr) + dn + i];
        }
    }
    if (a->rot) rope_rows(a, dkva, N, T, 1, dr, r + dr, r, 1);
    float *dkvn = a->ws->g6, *dc = a->ws->g6 + (size_t)N * r;
    memset(dkvn, 0, (size_t)N * r * 2 * sizeof(float));
    sl_linear_backward(dkvn, PG(a, a->i_kvb), NULL, dkvb, a->kvn, PD(a, a->i_kvb), N, r, Hq * (dn + Dv));
    /* the raw latent c is kva[:, :r]; copy it out contiguous into tv's space (free now) */
    float *cl = a->ws->tv; /* N*max(vdim, r) */
    for (int n = 0; n < N; n++) memcpy(cl + (size_t)n * r, a->kva + (size_t)n * (r + dr), (size_t)r * sizeof(float));
    sl_rmsnorm_backward(dc, PG(a, a->i_kvan), dkvn, cl, PD(a, a->i_kvan), a->kvr, N, r);
    for (int n = 0; n < N; n++) memcpy(dkva + (size_t)n * (r + dr), dc + (size_t)n * r, (size_t)r * sizeof(float));
    sl_linear_backward(dx, PG(a, a->i_kva), NULL, dkva, x, PD(a, a->i_kva), N, C, r + dr);
    return SL_OK;
}

/* ---- batch slices (seq/model.h's slice_* entries; the transformer's data-parallel path) -------
 * Standard attention (not MLA) without dropout: every batch row is independent, so the work on
 * sequences [b0, b1) touches only those rows of every buffer. The transformer runs one slice
 * per thread; all calls inside a slice are single-threaded (nested OpenMP regions and OpenBLAS
 * inside a parallel region run on one thread). Compared with attn_forward/attn_backward the
 * slices also skip the token-major q/k/v copies of the fused projection: the head split reads
 * the projection directly, and RoPE rotates the head-major rows (the same arithmetic). */

static float *PGb(const attn_model *a, float *grad, int i) { return sl_params_at_opt(a->base.P, grad, i); }

/* RoPE over head-major rows (rows = sequences x heads, T positions each, hd floats a row) */
static void rope_heads(const attn_model *a, float *x, int rows, int T, int inverse)
{
    const int h2 = a->rot / 2, hd = a->hd;
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < T; t++)
            sl_rope_row(x + ((size_t)r * T + t) * hd, 1, hd, a->rot, a->rcos + (size_t)t * h2, a->rsin + (size_t)t * h2, inverse);
}

static int attn_slice_ok(const sl_model *m)
{
    if (!sl_attn_is(m)) return 0;
    const attn_model *a = (const attn_model *)m;
    return !a->mla && !(m->training && a->c.dropout > 0.0f && m->rng) && !m->doc_pos; /* packed rows: the whole-batch path */
}

static int attn_slice_begin(sl_model *m, const float *x, const int32_t *tok, int B, int T)
{
    (void)tok;
    if (!attn_slice_ok(m)) return sl_error(SL_EINVAL, "attention: no batch slices for MLA or dropout");
    attn_model *a = (attn_model *)m;
    const int N = B * T, Hq = a->Hq;
    int rc;
    if (a->rot && T > a->c.max_seq_len)
        return sl_error(SL_ESHAPE, "attention: sequence length %d exceeds max_seq_len %d", T, a->c.max_seq_len);
    const int naive = !a->c.flash;
    const size_t natt = naive ? (size_t)B * Hq * T * T : (size_t)B * Hq * T;
    const size_t tot = (size_t)a->qdim + a->kdim + a->vdim, n = (size_t)N, HD = (size_t)Hq * a->Dv;
    /* naive: head-major copies (and, llama names, token-major projections); flash: this layer's
     * projections, read in place by the kernel. ws->qkv: the fused projection (naive, gpt
     * names), backward's dqkv */
    const size_t nv = naive ? n : 0, nt = naive && a->i_qkv < 0 ? n : 0, nf = naive ? 0 : n;
    attn_model *w = a->ws;
    if ((rc = SL_ARENA_CARVE(&w->scr, SL_FIELD(w->qkv, n * tot), SL_FIELD(w->tq, nt * a->qdim), SL_FIELD(w->tk, nt * a->kdim),
                             SL_FIELD(w->tv, nt * a->vdim))) ||
        (rc = SL_ARENA_CARVE(&a->fwd, SL_FIELD(a->to, n * HD), SL_FIELD(a->att, natt), SL_FIELD(a->hq, nv * a->qdim),
                             SL_FIELD(a->hk, nv * a->kdim), SL_FIELD(a->hv, nv * a->vdim), SL_FIELD(a->ho, nv * HD),
                             SL_FIELD(a->qkvl, nf * tot))))
        return rc;
    a->B = B;
    a->T = T;
    a->x = x;
    a->naive = naive;
    a->sliced = 1;
    a->infer_fwd = 0;
    return SL_OK;
}

/* Token-major q, k, v of sequences [b0, b0+nb) in a buffer laid out like qkvl (and the backward
 * dqkv): gpt names, one fused projection, rows [q | k | v] of width qdim+kdim+vdim; llama names,
 * three blocks (N, qdim), (N, kdim), (N, vdim) one after the other. */
typedef sl_attn_qkv qkv_view;

static qkv_view qkv_rows(const attn_model *a, float *buf, int N, int T, size_t r0)
{
    qkv_view w;
    const int hd = a->hd;
    if (a->i_qkv >= 0) {
        const size_t tot = (size_t)a->qdim + a->kdim + a->vdim;
        w.q = buf + r0 * tot;
        w.k = w.q + a->qdim;
        w.v = w.k + a->kdim;
        w.lq = w.lk = w.lv = (sl_attn_lay){.bs = (size_t)T * tot, .hs = (size_t)hd, .rs = tot};
    } else {
        w.q = buf + r0 * a->qdim;
        w.k = buf + (size_t)N * a->qdim + r0 * a->kdim;
        w.v = buf + (size_t)N * (a->qdim + a->kdim) + r0 * a->vdim;
        w.lq = (sl_attn_lay){.bs = (size_t)T * a->qdim, .hs = (size_t)hd, .rs = (size_t)a->qdim};
        w.lk = (sl_attn_lay){.bs = (size_t)T * a->kdim, .hs = (size_t)hd, .rs = (size_t)a->kdim};
        w.lv = (sl_attn_lay){.bs = (size_t)T * a->vdim, .hs = (size_t)hd, .rs = (size_t)a->vdim};
    }
    return w;
}

/* the kernels' shape for nb sequences of the current batch */
static sl_attn_shape flash_shape(const attn_model *a, int nb)
{
    return (sl_attn_shape){.B = nb,
                           .Hq = a->Hq,
                           .Hkv = a->Hkv,
                           .T = a->T,
                           .Dk = a->Dk,
                           .Dv = a->Dv,
                           .scale = 1.0f / sqrtf((float)a->Dk),
                           .causal = a->c.causal};
}

/* flash kernel straight on the token-major projections: no head split copies */
static int slice_forward_flash(attn_model *a, float *y, int b0, int b1)
{
    const int T = a->T, N = a->B * T, C = a->c.d_model, Hq = a->Hq, Hkv = a->Hkv, hd = a->hd, nb = b1 - b0, n = nb * T;
    const int HD = Hq * a->Dv;
    const size_t r0 = (size_t)b0 * T;
    const float *x = a->x + r0 * C;
    qkv_view w = qkv_rows(a, a->qkvl, N, T, r0);
    if (a->i_qkv >= 0) {
        sl_linear_forward(w.q, x, PD(a, a->i_qkv), PD(a, a->i_qkvb), n, C, a->qdim + a->kdim + a->vdim);
    } else {
        sl_linear_forward(w.q, x, PD(a, a->i_wq), PD(a, a->i_bq), n, C, a->qdim);
        sl_linear_forward(w.k, x, PD(a, a->i_wk), PD(a, a->i_bk), n, C, a->kdim);
        sl_linear_forward(w.v, x, PD(a, a->i_wv), PD(a, a->i_bv), n, C, a->vdim);
    }
    if (a->rot) {
        rope_rows(a, w.q, n, T, Hq, hd, (int)w.lq.rs, 0, 0);
        rope_rows(a, w.k, n, T, Hkv, hd, (int)w.lk.rs, 0, 0);
    }
    sl_attn_shape s = flash_shape(a, nb);
    float *to = a->to + r0 * HD; // (n, HD): the kernel writes the heads side by side
    int rc = sl_attn_flash_forward_lay(to, (sl_attn_lay){.bs = (size_t)T * HD, .hs = (size_t)a->Dv, .rs = (size_t)HD},
                                       a->att + r0 * Hq, &w, &s);
    if (rc) return rc;
    sl_linear_forward(y + r0 * C, to, PD(a, a->i_wo), PD(a, a->i_bo), n, HD, C);
    return SL_OK;
}

static int slice_backward_flash(attn_model *a, const float *dy, float *dx, int dx_acc, float *grad, int b0, int b1)
{
    const int T = a->T, N = a->B * T, C = a->c.d_model, Hq = a->Hq, Hkv = a->Hkv, hd = a->hd, nb = b1 - b0, n = nb * T;
    const int HD = Hq * a->Dv;
    const size_t r0 = (size_t)b0 * T;
    const float *x = a->x + r0 * C;
    dy += r0 * C;
    if (dx) dx += r0 * C; // NULL: no input gradient
    const sl_attn_lay lo = {.bs = (size_t)T * HD, .hs = (size_t)a->Dv, .rs = (size_t)HD};
    /* output projection: dto (n, HD) = dy . Wo; dWo += dy^T to */
    float *dto = a->ws->g5 + r0 * HD;
    const float *to = a->to + r0 * HD;
    sl_linear_backward_set(dto, PGb(a, grad, a->i_wo), PGb(a, grad, a->i_bo), dy, to, PD(a, a->i_wo), n, HD, C);
    qkv_view w = qkv_rows(a, a->qkvl, N, T, r0), d = qkv_rows(a, a->ws->qkv, N, T, r0);
    memset(d.q, 0, (size_t)n * d.lq.rs * sizeof(float)); /* the kernel accumulates */
    if (a->i_qkv < 0) {
        memset(d.k, 0, (size_t)n * d.lk.rs * sizeof(float));
        memset(d.v, 0, (size_t)n * d.lv.rs * sizeof(float));
    }
    sl_attn_shape s = flash_shape(a, nb);
    int rc = sl_attn_flash_backward_lay(&d, dto, &w, to, lo, a->att + r0 * Hq, &s);
    if (rc) return rc;
    if (a->rot) {
        rope_rows(a, d.q, n, T, Hq, hd, (int)d.lq.rs, 0, 1);
        rope_rows(a, d.k, n, T, Hkv, hd, (int)d.lk.rs, 0, 1);
    }
    if (a->i_qkv >= 0) {
        const int tot = a->qdim + a->kdim + a->vdim;
        if (dx_acc) sl_linear_backward(dx, PGb(a, grad, a->i_qkv), PGb(a, grad, a->i_qkvb), d.q, x, PD(a, a->i_qkv), n, C, tot);
        else sl_linear_backward_set(dx, PGb(a, grad, a->i_qkv), PGb(a, grad, a->i_qkvb), d.q, x, PD(a, a->i_qkv), n, C, tot);
    } else {
        if (dx_acc) sl_linear_backward(dx, PGb(a, grad, a->i_wq), PGb(a, grad, a->i_bq), d.q, x, PD(a, a->i_wq), n, C, a->qdim);
        else sl_linear_backward_set(dx, PGb(a, grad, a->i_wq), PGb(a, grad, a->i_bq), d.q, x, PD(a, a->i_wq), n, C, a->qdim);
        sl_linear_backward(dx, PGb(a, grad, a->i_wk), PGb(a, grad, a->i_bk), d.k, x, PD(a, a->i_wk), n, C, a->kdim);
        sl_linear_backward(dx, PGb(a, grad, a->i_wv), PGb(a, grad, a->i_bv), d.v, x, PD(a, a->i_wv), n, C, a->vdim);
    }
    return SL_OK;
}

static int attn_slice_forward(sl_model *m, float *y, int b0, int b1)
{
    attn_model *a = (attn_model *)m;
    if (!a->naive) return slice_forward_flash(a, y, b0, b1);
    const int T = a->T, C = a->c.d_model, Hq = a->Hq, Hkv = a->Hkv, hd = a->hd, nb = b1 - b0, n = nb * T;
    const size_t r0 = (size_t)b0 * T;
    const float *x = a->x + r0 * C;      // (n, C)
    float *hq = a->hq + r0 * a->qdim;    // (nb, Hq, T, hd)
    float *hk = a->hk + r0 * a->kdim;    // (nb, Hkv, T, hd)
    float *hv = a->hv + r0 * a->vdim;    // (nb, Hkv, T, hd)
    float *ho = a->ho + r0 * Hq * a->Dv; // (nb, Hq, T, hd)
    float *to = a->to + r0 * Hq * a->Dv; // (n, Hq*hd)
    if (a->i_qkv >= 0) {
        const int tot = a->qdim + a->kdim + a->vdim;
        float *qkv = a->ws->qkv + r0 * tot; // (n, tot)
        sl_linear_forward(qkv, x, PD(a, a->i_qkv), PD(a, a->i_qkvb), n, C, tot);
        to_heads(hq, qkv, nb, T, Hq, hd, tot, 0);
        to_heads(hk, qkv, nb, T, Hkv, hd, tot, a->qdim);
        to_heads(hv, qkv, nb, T, Hkv, hd, tot, a->qdim + a->kdim);
    } else {
        float *tq = a->ws->tq + r0 * a->qdim, *tk = a->ws->tk + r0 * a->kdim, *tv = a->ws->tv + r0 * a->vdim;
        sl_linear_forward(tq, x, PD(a, a->i_wq), PD(a, a->i_bq), n, C, a->qdim);
        sl_linear_forward(tk, x, PD(a, a->i_wk), PD(a, a->i_bk), n, C, a->kdim);
        sl_linear_forward(tv, x, PD(a, a->i_wv), PD(a, a->i_bv), n, C, a->vdim);
        to_heads(hq, tq, nb, T, Hq, hd, a->qdim, 0);
        to_heads(hk, tk, nb, T, Hkv, hd, a->kdim, 0);
        to_heads(hv, tv, nb, T, Hkv, hd, a->vdim, 0);
    }
    if (a->rot) {
        rope_heads(a, hq, nb * Hq, T, 0);
        rope_heads(a, hk, nb * Hkv, T, 0);
    }
    sl_attn_shape s = flash_shape(a, nb);
    if (a->naive) sl_attn_naive_forward(ho, a->att + r0 * Hq * T, hq, hk, hv, NULL, &s);
    else {
        int rc = sl_attn_flash_forward(ho, a->att + r0 * Hq, hq, hk, hv, &s);
        if (rc) return rc;
    }
    from_heads(to, ho, nb, T, Hq, a->Dv, Hq * a->Dv, 0);
    sl_linear_forward(y + r0 * C, to, PD(a, a->i_wo), PD(a, a->i_bo), n, Hq * a->Dv, C);
    return SL_OK;
}

static int attn_slice_backward_begin(sl_model *m)
{
    attn_model *a = (attn_model *)m;
    const int N = a->B * a->T, C = a->c.d_model, HD = a->Hq * a->Dv;
    if (!a->sliced) return sl_error(SL_EINVAL, "attention: sliced backward without a sliced forward");
    const size_t n = (size_t)N, nv = a->naive ? n : 0; /* g1..g4: the naive kernel's head-major gradients */
    attn_model *w = a->ws;
    return SL_ARENA_CARVE(&w->bwd, SL_FIELD(w->g5, n * HD), SL_FIELD(w->g1, nv * (C > HD ? C : HD)),
                          SL_FIELD(w->g2, nv * a->qdim), SL_FIELD(w->g3, nv * a->kdim), SL_FIELD(w->g4, nv * a->vdim),
                          SL_FIELD(w->g6, 0));
}

static int attn_slice_backward(sl_model *m, const float *dy, float *dx, int dx_acc, float *grad, int b0, int b1)
{
    attn_model *a = (attn_model *)m;
    if (!a->naive) return slice_backward_flash(a, dy, dx, dx_acc, grad, b0, b1);
    const int T = a->T, C = a->c.d_model, Hq = a->Hq, Hkv = a->Hkv, hd = a->hd, Dv = a->Dv, nb = b1 - b0, n = nb * T;
    const int HD = Hq * Dv;
    const size_t r0 = (size_t)b0 * T;
    const float *x = a->x + r0 * C;
    dy += r0 * C;
    if (dx) dx += r0 * C; // NULL: no input gradient
    /* output projection: dto (n, HD) = dy . Wo; dWo += dy^T to */
    float *dto = a->ws->g5 + r0 * HD;
    sl_linear_backward_set(dto, PGb(a, grad, a->i_wo), PGb(a, grad, a->i_bo), dy, a->to + r0 * HD, PD(a, a->i_wo), n, HD, C);
    float *dho = a->ws->g1 + r0 * HD;
    to_heads(dho, dto, nb, T, Hq, Dv, HD, 0);
    float *dhq = a->ws->g2 + r0 * a->qdim, *dhk = a->ws->g3 + r0 * a->kdim, *dhv = a->ws->g4 + r0 * a->vdim;
    memset(dhq, 0, (size_t)n * a->qdim * sizeof(float));
    memset(dhk, 0, (size_t)n * a->kdim * sizeof(float));
    memset(dhv, 0, (size_t)n * a->vdim * sizeof(float));
    const float *hq = a->hq + r0 * a->qdim, *hk = a->hk + r0 * a->kdim, *hv = a->hv + r0 * a->vdim;
    sl_attn_shape s = {
        .B = nb, .Hq = Hq, .Hkv = Hkv, .T = T, .Dk = a->Dk, .Dv = Dv, .scale = 1.0f / sqrtf((float)a->Dk), .causal = a->c.causal};
    if (a->naive) sl_attn_naive_backward(dhq, dhk, dhv, dho, hq, hk, hv, a->att + r0 * Hq * T, NULL, &s);
    else {
        int rc = sl_attn_flash_backward(dhq, dhk, dhv, dho, hq, hk, hv, a->ho + r0 * HD, a->att + r0 * Hq, &s);
        if (rc) return rc;
    }
    if (a->rot) {
        rope_heads(a, dhq, nb * Hq, T, 1);
        rope_heads(a, dhk, nb * Hkv, T, 1);
    }
    if (a->i_qkv >= 0) {
        const int tot = a->qdim + a->kdim + a->vdim;
        float *dqkv = a->ws->qkv + r0 * tot; // (n, tot): the forward projection is not needed
        from_heads(dqkv, dhq, nb, T, Hq, hd, tot, 0);
        from_heads(dqkv, dhk, nb, T, Hkv, hd, tot, a->qdim);
        from_heads(dqkv, dhv, nb, T, Hkv, hd, tot, a->qdim + a->kdim);
        if (dx_acc) sl_linear_backward(dx, PGb(a, grad, a->i_qkv), PGb(a, grad, a->i_qkvb), dqkv, x, PD(a, a->i_qkv), n, C, tot);
        else sl_linear_backward_set(dx, PGb(a, grad, a->i_qkv), PGb(a, grad, a->i_qkvb), dqkv, x, PD(a, a->i_qkv), n, C, tot);
    } else {
        float *dtq = a->ws->tq + r0 * a->qdim, *dtk = a->ws->tk + r0 * a->kdim, *dtv = a->ws->tv + r0 * a->vdim;
        from_heads(dtq, dhq, nb, T, Hq, hd, a->qdim, 0);
        from_heads(dtk, dhk, nb, T, Hkv, hd, a->kdim, 0);
        from_heads(dtv, dhv, nb, T, Hkv, hd, a->vdim, 0);
        if (dx_acc) sl_linear_backward(dx, PGb(a, grad, a->i_wq), PGb(a, grad, a->i_bq), dtq, x, PD(a, a->i_wq), n, C, a->qdim);
        else sl_linear_backward_set(dx, PGb(a, grad, a->i_wq), PGb(a, grad, a->i_bq), dtq, x, PD(a, a->i_wq), n, C, a->qdim);
        sl_linear_backward(dx, PGb(a, grad, a->i_wk), PGb(a, grad, a->i_bk), dtk, x, PD(a, a->i_wk), n, C, a->kdim);
        sl_linear_backward(dx, PGb(a, grad, a->i_wv), PGb(a, grad, a->i_bv), dtv, x, PD(a, a->i_wv), n, C, a->vdim);
    }
    return SL_OK;
}

/* ---- step mode with a KV cache ---------------------------------------------------------- */

static void attn_state_free(sl_model *m, void *state)
{
    attn_state *s = state;
    if (!s) return;
    free(s->kc);
    free(s->vc);
    free(s->cc);
    free(s->pc);
    free(s->tq);
    free(s->tk);
    free(s->tv);
    free(s->to);
    free(s->sc);
    free(s->lat);
    free(s->ctx);
    free(s->qa);
    free(s->qan);
    free(s->st);
    free(s->kva);
    free(s->kvn);
    free(s->qkv);
    free(s->st0);
    sl_arena_free(&s->pf);
    free(s);
}

static void *attn_state_new(sl_model *m, int B)
{
    attn_model *a = (attn_model *)m;
    attn_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    const size_t cap = (size_t)a->c.max_seq_len;
    s->B = B;
    s->cap = (int)cap;
    int bad = 0;
#define ALLOC(p, n) \
    do { \
        size_t n_ = (n); \
        (p) = malloc((n_ ? n_ : 1) * sizeof(float)); \
        bad |= !(p); \
    } while (0)
#define ALLOC_KV(p, n) \
    do { \
        size_t k_ = (n); \
        ALLOC(p, k_); \
        s->kv_bytes += k_ * sizeof(float); \
    } while (0)
    if (a->mla) {
        ALLOC_KV(s->cc, (size_t)B * cap * a->r);
        ALLOC_KV(s->pc, (size_t)B * cap * a->dr);
        ALLOC(s->lat, (size_t)a->r);
        ALLOC(s->ctx, (size_t)a->r);
        ALLOC(s->kva, (size_t)B * (a->r + a->dr));
        ALLOC(s->kvn, (size_t)B * a->r * 2);
        ALLOC(s->qa, (size_t)B * (a->rq ? a->rq : 1));
        ALLOC(s->qan, (size_t)B * (a->rq ? a->rq : 1));
        ALLOC(s->st, (size_t)B * 2);
    } else {
        ALLOC_KV(s->kc, (size_t)B * a->Hkv * cap * a->hd);
        ALLOC_KV(s->vc, (size_t)B * a->Hkv * cap * a->hd);
        ALLOC(s->tk, (size_t)B * a->kdim);
        ALLOC(s->qkv, (size_t)B * (a->qdim + a->kdim + a->vdim));
    }
    ALLOC(s->tq, (size_t)B * a->qdim);
    ALLOC(s->tv, (size_t)B * (a->vdim + a->r));
    ALLOC(s->to, (size_t)B * a->Hq * a->Dv);
    ALLOC(s->sc, (size_t)a->Hq * cap); /* a score row per head (heads run in parallel) */
#undef ALLOC_KV
#undef ALLOC
    s->st0 = calloc((size_t)B, sizeof *s->st0);
    bad |= !s->st0;
    if (bad) {
        attn_state_free(m, s);
        sl_error(SL_ENOMEM, "attention: out of memory for the KV cache (%zu positions)", cap);
        return NULL;
    }
    return s;
}

static int attn_state_reset(sl_model *m, void *state)
{
    attn_state *s = state;
    s->pos = 0;
    s->apart = 0;
    memset(s->st0, 0, (size_t)s->B * sizeof *s->st0);
    return SL_OK;
}

/* seq/model.h's state_reset_rows: the chosen rows see the cache only from the next position on
 * (the block-diagonal mask of packed rows, step by step). The cache's positions stay shared;
 * RoPE's scores depend on the difference of positions alone, so the restarted row scores as its
 * document alone from 0. */
static int attn_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    attn_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    for (int b = 0; b < B; b++)
        if (rows[b]) s->st0[b] = s->pos;
    s->apart = 0;
    for (int b = 0; b < B; b++) s->apart |= s->st0[b] != 0;
    return SL_OK;
}

static int attn_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *y)
{
    attn_model *a = (attn_model *)m;
    attn_state *s = state;
    const int B = s->B, C = a->c.d_model, Hq = a->Hq, pos = s->pos;
    if (pos >= s->cap) return sl_error(SL_ESHAPE, "attention: KV cache full (max_seq_len %d positions)", s->cap);
    const float scale = 1.0f / sqrtf((float)a->Dk);
    const int h2 = a->rot / 2;
    const float *rc = a->rot ? a->rcos + (size_t)pos * h2 : NULL, *rs = a->rot ? a->rsin + (size_t)pos * h2 : NULL;
    if (!a->mla) {
        const int hd = a->hd, G = Hq / a->Hkv;
        float *tk = s->tk, *tv = s->tv;
        project(a, x, B, 1, &(proj_out){.tq = s->tq, .tk = tk, .tv = tv, .qkv = s->qkv});
        for (int b = 0; b < B; b++) {
            float *q = s->tq + (size_t)b * a->qdim, *k = tk + (size_t)b * a->kdim, *v = tv + (size_t)b * a->vdim;
            if (a->rot) {
                sl_rope_row(q, Hq, hd, hd, rc, rs, 0);
                sl_rope_row(k, a->Hkv, hd, hd, rc, rs, 0);
            }
            for (int h = 0; h < a->Hkv; h++) {
                size_t off = (((size_t)b * a->Hkv + h) * s->cap + pos) * hd;
                memcpy(s->kc + off, k + (size_t)h * hd, (size_t)hd * sizeof(float));
                memcpy(s->vc + off, v + (size_t)h * hd, (size_t)hd * sizeof(float));
            }
            /* one head per thread once the cache is long enough (each head has its own score
             * row); the dot products and the weighted sum of values are core/gemv.h's kernels.
             * The row sees positions st0[b] .. pos. */
            const int n = pos + 1 - s->st0[b];
            const size_t k0 = (size_t)s->st0[b] * hd;
            #pragma omp parallel for schedule(static) if ((long)Hq * n * hd >= 32768)
            for (int h = 0; h < Hq; h++) {
                const float *qh = q + (size_t)h * hd;
                const float *K = s->kc + ((size_t)b * a->Hkv + h / G) * s->cap * hd + k0;
                const float *V = s->vc + ((size_t)b * a->Hkv + h / G) * s->cap * hd + k0;
                float *sc = s->sc + (size_t)h * s->cap;
                sl_gemv_rows(sc, qh, K, NULL, 1, hd, n, 0, n);
                const float inv = (float)(1.0 / sl_softmax_unnorm(sc, n, scale));
                float *o = s->to + (size_t)b * Hq * hd + (size_t)h * hd;
                sl_gemv_t(o, sc, V, n, hd);
                for (int i = 0; i < hd; i++) o[i] *= inv;
            }
        }
    } else {
        const int r = a->r, dr = a->dr, dn = a->dn, Dv = a->Dv;
        float *kvn = s->kvn;
        /* queries and latents for the B rows (kv_b_proj is not applied: absorbed below) */
        if (a->rq > 0) {
            sl_linear_forward(s->qa, x, PD(a, a->i_qa), NULL, B, C, a->rq);
            sl_rmsnorm_forward(s->qan, s->st, s->qa, PD(a, a->i_qan), B, a->rq, a->c.norm_eps);
            sl_linear_forward(s->tq, s->qan, PD(a, a->i_qb), NULL, B, a->rq, a->qdim);
        } else {
            sl_linear_forward(s->tq, x, PD(a, a->i_wq), NULL, B, C, a->qdim);
        }
        sl_linear_forward(s->kva, x, PD(a, a->i_kva), NULL, B, C, r + dr);
        for (int b = 0; b < B; b++) memcpy(s->tv + (size_t)b * r, s->kva + (size_t)b * (r + dr), (size_t)r * sizeof(float));
        sl_rmsnorm_forward(kvn, s->st, s->tv, PD(a, a->i_kvan), B, r, a->c.norm_eps);
        const float *W = PD(a, a->i_kvb); /* (Hq*(dn+dv), r) */
        for (int b = 0; b < B; b++) {
            float *q = s->tq + (size_t)b * a->qdim, *pe = s->kva + (size_t)b * (r + dr) + r;
            if (a->rot) {
                sl_rope_row(q + dn, Hq, dn + dr, dr, rc, rs, 0);
                sl_rope_row(pe, 1, dr, dr, rc, rs, 0);
            }
            float *C_ = s->cc + (size_t)b * s->cap * r, *PE = s->pc + (size_t)b * s->cap * dr;
            memcpy(C_ + (size_t)pos * r, kvn + (size_t)b * r, (size_t)r * sizeof(float));
            memcpy(PE + (size_t)pos * dr, pe, (size_t)dr * sizeof(float));
            for (int h = 0; h < Hq; h++) {
                const float *qn = q + (size_t)h * (dn + dr), *qp = qn + dn;
                const float *Wk = W + (size_t)h * (dn + Dv) * r, *Wv = Wk + (size_t)dn * r;
                /* lat (r) = W_uk^T q_nope */
                for (int j = 0; j < r; j++) s->lat[j] = 0.0f;
                for (int i = 0; i < dn; i++)
                    for (int j = 0; j < r; j++) s->lat[j] += qn[i] * Wk[(size_t)i * r + j];
                float mx = -INFINITY;
                const int t0 = s->st0[b];
                for (int t = t0; t <= pos; t++) {
                    float d = 0.0f;
                    for (int j = 0; j < r; j++) d += s->lat[j] * C_[(size_t)t * r + j];
                    for (int i = 0; i < dr; i++) d += qp[i] * PE[(size_t)t * dr + i];
                    s->sc[t] = d * scale;
                    if (s->sc[t] > mx) mx = s->sc[t];
                }
                double sum = 0.0;
                for (int t = t0; t <= pos; t++) {
                    s->sc[t] = expf(s->sc[t] - mx);
                    sum += s->sc[t];
                }
                float inv = (float)(1.0 / sum);
                for (int j = 0; j < r; j++) s->ctx[j] = 0.0f;
                for (int t = t0; t <= pos; t++) {
                    float p = s->sc[t] * inv;
                    for (int j = 0; j < r; j++) s->ctx[j] += p * C_[(size_t)t * r + j];
                }
                float *o = s->to + (size_t)b * Hq * Dv + (size_t)h * Dv;
                for (int i = 0; i < Dv; i++) {
                    float d = 0.0f;
                    for (int j = 0; j < r; j++) d += Wv[(size_t)i * r + j] * s->ctx[j];
                    o[i] = d;
                }
            }
        }
    }
    sl_linear_forward(y, s->to, PD(a, a->i_wo), PD(a, a->i_bo), B, Hq * a->Dv, C);
    s->pos++;
    return SL_OK;
}

/* T positions in sequence mode (issue #17 item 3): the projections of all B*T rows at once,
 * the chunk's keys and values appended to the KV cache, then every query row attends over the
 * cache up to its own position with the step's kernels (so a chunk of any size gives what
 * stepping gives, up to the projections' rounding). MLA states step position by position. */
static int attn_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T)
{
    attn_model *a = (attn_model *)m;
    attn_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "attention: prefill of %d rows into a state for %d", B, s->B);
    if ((long)s->pos + T > s->cap) return sl_error(SL_ESHAPE, "attention: KV cache full (max_seq_len %d positions)", s->cap);
    if (a->mla || s->apart) return sl_model_prefill_steps(m, state, x, tok, y, B, T); /* rows restarted apart: step */
    const int N = B * T, Hq = a->Hq, Hkv = a->Hkv, hd = a->hd, G = Hq / Hkv, pos = s->pos, h2 = a->rot / 2;
    const float scale = 1.0f / sqrtf((float)a->Dk);
    float *tq, *tk, *tv, *qkv, *to; // (N,qdim) (N,kdim) (N,vdim) (N,qdim+kdim+vdim) (N,Hq*hd)
    int rc;
    if ((rc = SL_ARENA_CARVE(&s->pf, SL_FIELD(tq, (size_t)N * a->qdim), SL_FIELD(tk, (size_t)N * a->kdim),
                             SL_FIELD(tv, (size_t)N * a->vdim), SL_FIELD(qkv, (size_t)N * (a->qdim + a->kdim + a->vdim)),
                             SL_FIELD(to, (size_t)N * Hq * hd))))
        return rc;
    project(a, x, N, T, &(proj_out){.tq = tq, .tk = tk, .tv = tv, .qkv = qkv});
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)b * T + t;
            float *q = tq + r * a->qdim, *k = tk + r * a->kdim, *v = tv + r * a->vdim;
            if (a->rot) {
                const float *rc_ = a->rcos + (size_t)(pos + t) * h2, *rs = a->rsin + (size_t)(pos + t) * h2;
                sl_rope_row(q, Hq, hd, hd, rc_, rs, 0);
                sl_rope_row(k, Hkv, hd, hd, rc_, rs, 0);
            }
            for (int h = 0; h < Hkv; h++) {
                size_t off = (((size_t)b * Hkv + h) * s->cap + pos + t) * hd;
                memcpy(s->kc + off, k + (size_t)h * hd, (size_t)hd * sizeof(float));
                memcpy(s->vc + off, v + (size_t)h * hd, (size_t)hd * sizeof(float));
            }
        }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)b * T + t;
            const int n = pos + t + 1;
            #pragma omp parallel for schedule(static) if ((long)Hq * n * hd >= 32768)
            for (int h = 0; h < Hq; h++) {
                const float *qh = tq + r * a->qdim + (size_t)h * hd;
                const float *K = s->kc + ((size_t)b * Hkv + h / G) * s->cap * hd;
                const float *V = s->vc + ((size_t)b * Hkv + h / G) * s->cap * hd;
                float *sc = s->sc + (size_t)h * s->cap;
                sl_gemv_rows(sc, qh, K, NULL, 1, hd, n, 0, n);
                const float inv = (float)(1.0 / sl_softmax_unnorm(sc, n, scale));
                float *o = to + r * Hq * hd + (size_t)h * hd;
                sl_gemv_t(o, sc, V, n, hd);
                for (int i = 0; i < hd; i++) o[i] *= inv;
            }
        }
    sl_linear_forward(y, to, PD(a, a->i_wo), PD(a, a->i_bo), N, Hq * hd, a->c.d_model);
    s->pos += T;
    return SL_OK;
}

static int attn_state_copy(sl_model *m, void *dst, const void *src)
{
    attn_model *a = (attn_model *)m;
    attn_state *d = dst;
    const attn_state *s = src;
    if (d->B != s->B || d->cap != s->cap) return sl_error(SL_ESHAPE, "attention: copy between states of different sizes");
    /* the filled positions of every row's cache */
    for (int b = 0; b < s->B; b++) {
        if (a->mla) {
            memcpy(d->cc + (size_t)b * s->cap * a->r, s->cc + (size_t)b * s->cap * a->r, (size_t)s->pos * a->r * sizeof(float));
            memcpy(d->pc + (size_t)b * s->cap * a->dr, s->pc + (size_t)b * s->cap * a->dr,
                   (size_t)s->pos * a->dr * sizeof(float));
        } else {
            for (int h = 0; h < a->Hkv; h++) {
                size_t off = ((size_t)b * a->Hkv + h) * s->cap * a->hd, n = (size_t)s->pos * a->hd;
                memcpy(d->kc + off, s->kc + off, n * sizeof(float));
                memcpy(d->vc + off, s->vc + off, n * sizeof(float));
            }
        }
    }
    d->pos = s->pos;
    d->apart = s->apart;
    memcpy(d->st0, s->st0, (size_t)s->B * sizeof *s->st0);
    return SL_OK;
}

/* ---- create / init / destroy ------------------------------------------------------------ */

static int attn_init(sl_model *m, sl_rng *rng)
{
    attn_model *a = (attn_model *)m;
    sl_params *P = m->P;
    int wts[] = {a->i_qkv, a->i_wq, a->i_wk, a->i_wv, a->i_wo, a->i_qa, a->i_qb, a->i_kva, a->i_kvb};
    int bs[] = {a->i_qkvb, a->i_bq, a->i_bk, a->i_bv, a->i_bo};
    int ones[] = {a->i_qan, a->i_kvan};
    for (size_t i = 0; i < sizeof wts / sizeof *wts; i++)
        if (wts[i] >= 0) sl_rng_fill_normal(rng, sl_params_data(P, wts[i]), P->t[wts[i]].numel, 0.02f);
    for (size_t i = 0; i < sizeof bs / sizeof *bs; i++)
        if (bs[i] >= 0) memset(sl_params_data(P, bs[i]), 0, P->t[bs[i]].numel * sizeof(float));
    for (size_t i = 0; i < sizeof ones / sizeof *ones; i++)
        if (ones[i] >= 0) {
            float *w = sl_params_data(P, ones[i]);
            for (size_t j = 0; j < P->t[ones[i]].numel; j++) w[j] = 1.0f;
        }
    return SL_OK;
}

/* seq/model.h's release: this layer's cache, and the scratch when it owns it (a transformer's
 * layers share the first one's; every call carves it again) */
static void attn_release(sl_model *m)
{
    attn_model *a = (attn_model *)m;
    sl_arena_free(&a->fwd);
    if (a->ws == a) {
        sl_arena_free(&a->scr);
        sl_arena_free(&a->bwd);
    }
}

static void attn_destroy(sl_model *m)
{
    attn_model *a = (attn_model *)m;
    sl_arena_free(&a->fwd);
    sl_arena_free(&a->scr);
    sl_arena_free(&a->bwd);
    free(a->rcos);
    free(a->rsin);
    free(a);
}

static const sl_model_vt attn_vt = {
    .kind = "attention",
    .destroy = attn_destroy,
    .release = attn_release,
    .init = attn_init,
    .forward = attn_forward,
    .backward = attn_backward,
    .state_new = attn_state_new,
    .state_free = attn_state_free,
    .state_reset = attn_state_reset,
    .state_reset_rows = attn_state_reset_rows,
    .step = attn_step,
    .prefill = attn_prefill,
    .state_copy = attn_state_copy,
    .slice_ok = attn_slice_ok,
    .slice_begin = attn_slice_begin,
    .slice_forward = attn_slice_forward,
    .slice_backward_begin = attn_slice_backward_begin,
    .slice_backward = attn_slice_backward,
};

int sl_attn_create(const sl_attn_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    int rc = sl_attn_config_check(cfg);
    if (rc) return rc;
    attn_model *a = calloc(1, sizeof *a);
    if (!a) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &a->base;
    m->vt = &attn_vt;
    m->P = P;
    a->c = *cfg;
    a->ws = a;
    const int C = cfg->d_model;
    m->d_in = m->d_out = C;
    m->caps = SL_CAP_GRAD | SL_CAP_REAL_IN | SL_CAP_REAL_OUT | SL_CAP_MIXER | SL_CAP_PACK | SL_CAP_INFER |
              (cfg->causal ? SL_CAP_STEP : SL_CAP_BIDIR);
    m->max_len = cfg->max_seq_len; /* the KV cache's capacity */
    a->mla = cfg->kv_lora_rank > 0;
    a->Hq = cfg->n_head;
    int *all[] = {&a->i_qkv, &a->i_qkvb, &a->i_wq, &a->i_bq,  &a->i_wk, &a->i_bk,  &a->i_wv,   &a->i_bv,
                  &a->i_wo,  &a->i_bo,   &a->i_qa, &a->i_qan, &a->i_qb, &a->i_kva, &a->i_kvan, &a->i_kvb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) *all[i] = -1;
    const char *pre = prefix ? prefix : "";
    int bad = 0;
#define ADD(idx, name, nd, d0, d1) \
    do { \
        (idx) = sl_params_add(P, pre, name, nd, d0, d1, 0, 0); \
        bad |= (idx) < 0; \
    } while (0)
    if (!a->mla) {
        a->Hkv = cfg->n_kv_head ? cfg->n_kv_head : cfg->n_head;
        a->hd = a->Dk = a->Dv = C / a->Hq;
        a->qdim = a->Hq * a->hd;
        a->kdim = a->vdim = a->Hkv * a->hd;
        a->rot = cfg->rope ? a->hd : 0;
        if (cfg->names == SL_ATTN_NAMES_GPT) {
            ADD(a->i_qkv, "c_attn.weight", 2, a->qdim + 2 * a->kdim, C);
            if (cfg->bias) ADD(a->i_qkvb, "c_attn.bias", 1, a->qdim + 2 * a->kdim, 0);
            ADD(a->i_wo, "c_proj.weight", 2, C, a->qdim);
            if (cfg->bias) ADD(a->i_bo, "c_proj.bias", 1, C, 0);
        } else {
            ADD(a->i_wq, "wq.weight", 2, a->qdim, C);
            if (cfg->bias) ADD(a->i_bq, "wq.bias", 1, a->qdim, 0);
            ADD(a->i_wk, "wk.weight", 2, a->kdim, C);
            if (cfg->bias) ADD(a->i_bk, "wk.bias", 1, a->kdim, 0);
            ADD(a->i_wv, "wv.weight", 2, a->vdim, C);
            if (cfg->bias) ADD(a->i_bv, "wv.bias", 1, a->vdim, 0);
            ADD(a->i_wo, "wo.weight", 2, C, a->qdim);
            if (cfg->bias) ADD(a->i_bo, "wo.bias", 1, C, 0);
        }
    } else {
        a->Hkv = a->Hq;
        a->dn = cfg->qk_nope_head_dim;
        a->dr = cfg->qk_rope_head_dim;
        a->r = cfg->kv_lora_rank;
        a->rq = cfg->q_lora_rank;
        a->Dk = a->dn + a->dr;
        a->Dv = cfg->v_head_dim;
        a->qdim = a->kdim = a->Hq * a->Dk;
        a->vdim = a->Hq * a->Dv;
        a->rot = cfg->rope ? a->dr : 0;
        if (a->rq > 0) {
            ADD(a->i_qa, "q_a_proj.weight", 2, a->rq, C);
            ADD(a->i_qan, "q_a_layernorm.weight", 1, a->rq, 0);
            ADD(a->i_qb, "q_b_proj.weight", 2, a->qdim, a->rq);
        } else {
            ADD(a->i_wq, "q_proj.weight", 2, a->qdim, C);
        }
        ADD(a->i_kva, "kv_a_proj_with_mqa.weight", 2, a->r + a->dr, C);
        ADD(a->i_kvan, "kv_a_layernorm.weight", 1, a->r, 0);
        ADD(a->i_kvb, "kv_b_proj.weight", 2, a->Hq * (a->dn + a->Dv), a->r);
        ADD(a->i_wo, "o_proj.weight", 2, C, a->vdim);
    }
#undef ADD
    if (bad) {
        sl_model_free(m);
        return SL_EINVAL;
    }
    if (a->rot && (rc = sl_rope_tables(&a->rcos, &a->rsin, cfg->max_seq_len, a->rot, cfg->rope_theta))) {
        sl_model_free(m);
        return rc;
    }
    *out = m;
    return SL_OK;
}
