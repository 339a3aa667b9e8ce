/* seq/transformer.c — GPT- and LLaMA-style decoder-only transformers (see transformer.h). */
#include "seq/transformer.h"
#include "core/error.h"
#include "core/fastmath.h"
#include "core/util.h"
#include "core/safetensors.h"
#include "seq/layers.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_model base;
    sl_transformer_config c;
    int L, C, F, V;
    char pre[SL_NAME_MAX];
    /* tensors (-1 if absent) */
    int i_wte, i_wpe, i_head, i_nfw, i_nfb;
    int *i_n1w, *i_n1b, *i_n2w, *i_n2b, *i_fc, *i_fcb, *i_fc2, *i_pj, *i_pjb; /* (L) */
    float *sinus;                                                             /* (max_seq_len, C) sinusoidal table */
    /* cache of the last forward (N = B*T rows). Checkpointing (seq/model.h) keeps the residual
     * stream at every segment's input and the caches of K blocks (slots: tf_h, tf_blk); the
     * shapes below are those without it (K = L) */
    int B, T;
    int K, kb, nseg; /* blocks per segment (L when off), block slots min(K, L), segments */
    const int32_t *tok;
    sl_arena fwd, bwd;          /* the cache below and backward's scratch, carved per call */
    float *res;                 /* (L+1, N, C) block inputs; res[L] = final stream; (K+nseg, N, C) */
    float *mid;                 /* (L, N, C) after attention */
    float *n1, *n2, *st1, *st2; /* (L,N,C) (L,N,C) (L,2N) (L,2N) */
    float *h1, *h3, *act;       /* (L,N,F): pre-activation, SwiGLU up (swiglu only), activation output */
    float *mmask, *emask;       /* dropout masks (L,N,C), (N,C) (dropout while training only) */
    unsigned char *ck_snap;     /* checkpointing with dropout: rng states at segment starts, after forward */
    size_t ck_cap;
    int ck_rng;
    float *nf, *stf;          /* (N,C) (2N) */
    float *tmp;               /* (N,C) scratch */
    float *g1, *g2, *g3, *g4; /* backward: (N,C) (N,C) (N,F) (2N,F) */
    int dropped;
    int slices;    /* sl_transformer_set_slices */
    int sliced;    /* the last forward ran the batch-sliced path */
    int infer_fwd; /* the last forward ran in inference mode: nothing kept for backward */
    sl_buf gpriv;  /* (k-1, P->total) private gradients of slices 1..k-1 */
    char ign_name[SL_NAME_MAX + 64], alias_a[SL_NAME_MAX + 64], alias_b[SL_NAME_MAX + 64];
    const char *ignore[6], *alias[3];
} tf_model;

typedef struct {
    void **att; /* (L) attention states */
    int B, pos;
    int *p0;                         /* (B) pos at each row's last per-row reset: row b is at position pos - p0[b] */
    int apart;                       /* some p0 is not 0 */
    int32_t *dp;                     /* (B) one step's per-row positions, when apart */
    float *h, *n, *a, *f1, *f3, *st; /* (B,C) (B,C) (B,C) (B,F) (B,F) (2B) */
    sl_arena pf;                     /* prefill's scratch, the same arrays for N = B*T rows and act (N,F) */
} tf_state;

static const sl_model_vt tf_vt, tf_vt_gpt;

/* ---- the `gpt` and `llama` specs: keys bound to sl_transformer_config ---------------------
 * gpt has nanoGPT's GPTConfig keys, llama llama2.c's ModelArgs keys; both accept the same
 * extra keys (positions, norm, MLP, tying, kernel, MLA), with the original models' defaults. */
static const int pos_vals[] = {SL_POS_LEARNED, SL_POS_SINUSOIDAL, SL_POS_ROPE, SL_POS_NONE};
static const int tf_flash_vals[] = {1, 0};
#define EXTRA_KEYS(POS, NORM, MLP) \
    SL_KEY_CHOICE(sl_transformer_config, pos, "pos", POS, "learned|sinusoidal|rope|none", pos_vals, \
                  "positions: learned, sinusoidal, rope or none"), \
        SL_KEY_CHOICE(sl_transformer_config, rmsnorm, "norm", NORM, "layernorm|rmsnorm", NULL, "layernorm or rmsnorm"), \
        SL_KEY_CHOICE(sl_transformer_config, swiglu, "mlp", MLP, "gelu|swiglu", NULL, \
                      "gelu (W2 gelu(W1 x)) or swiglu (W2 (silu(W1 x) * W3 x))"), \
        SL_KEY_CHOICE(sl_transformer_config, gelu_tanh, "gelu", "erf", "erf|tanh", NULL, \
                      "GELU of the gelu MLP: erf (exact, nn.GELU()) or tanh (GPT-2's gelu_new)"), \
        SL_KEY_BOOL(sl_transformer_config, tie, "tie", "1", "output head shares the token embedding"), \
        SL_KEY_CHOICE(sl_transformer_config, flash, "kernel", "flash", "flash|naive", tf_flash_vals, \
                      "attention kernel: flash or naive"), \
        SL_KEY_FLOAT(sl_transformer_config, rope_theta, "rope_theta", "10000", 1, 1e9, "RoPE base"), \
        SL_ATTN_MLA_KEYS(sl_transformer_config)

const sl_spec_key sl_gpt_keys[] = {
    SL_KEY_INT(sl_transformer_config, n_layer, "n_layer", "12", 0, 1024, "transformer blocks"),
    SL_KEY_INT(sl_transformer_config, n_head, "n_head", "12", 1, 4096, "attention heads"),
    SL_KEY_INT(sl_transformer_config, d_model, "n_embd", "768", 1, 1 << 16, "residual stream width"),
    SL_KEY_INT(sl_transformer_config, max_seq_len, "block_size", "1024", 1, 1 << 24, "context length (positions)"),
    SL_KEY_INT(sl_transformer_config, vocab_size, "vocab_size", "50304", 1, 1 << 24, "vocabulary size"),
    SL_KEY_FLOAT(sl_transformer_config, dropout, "dropout", "0", 0, 0.999, "dropout (embeddings, attention, residual branches)"),
    SL_KEY_BOOL(sl_transformer_config, bias, "bias", "1", "biases in linears and LayerNorms"),
    SL_KEY_INT(sl_transformer_config, n_kv_head, "n_kv_head", "0", 0, 4096,
               "key/value heads (0 = n_head; 1 = MQA; divisor = GQA)"),
    SL_KEY_FLOAT(sl_transformer_config, norm_eps, "norm_eps", "1e-5", 1e-12, 1, "epsilon of the norms"),
    SL_KEY_INT(sl_transformer_config, hidden_dim, "hidden_dim", "0", 0, 1 << 20, "MLP width (0 = 4 n_embd)"),
    EXTRA_KEYS("learned", "layernorm", "gelu"),
    SL_KEY_END,
};

const sl_spec_key sl_llama_keys[] = {
    SL_KEY_INT(sl_transformer_config, d_model, "dim", "4096", 1, 1 << 16, "residual stream width"),
    SL_KEY_INT(sl_transformer_config, n_layer, "n_layers", "32", 0, 1024, "transformer blocks"),
    SL_KEY_INT(sl_transformer_config, n_head, "n_heads", "32", 1, 4096, "query heads"),
    SL_KEY_INT(sl_transformer_config, n_kv_head, "n_kv_heads", "0", 0, 4096, "key/value heads (0 = n_heads, as ModelArgs' None)"),
    SL_KEY_INT(sl_transformer_config, vocab_size, "vocab_size", "32000", 1, 1 << 24, "vocabulary size"),
    SL_KEY_INT(sl_transformer_config, hidden_dim, "hidden_dim", "0", 0, 1 << 20,
               "SwiGLU width (0 = llama2.c's rule from dim and multiple_of)"),
    {"multiple_of", 'i', "256", 1, 1 << 16, "hidden_dim is rounded up to a multiple of this"},
    SL_KEY_FLOAT(sl_transformer_config, norm_eps, "norm_eps", "1e-5", 1e-12, 1, "RMSNorm epsilon"),
    SL_KEY_INT(sl_transformer_config, max_seq_len, "max_seq_len", "2048", 1, 1 << 24, "context length"),
    SL_KEY_FLOAT(sl_transformer_config, dropout, "dropout", "0", 0, 0.999, "dropout"),
    SL_KEY_BOOL(sl_transformer_config, bias, "bias", "0", "biases in linears (and LayerNorms)"),
    EXTRA_KEYS("rope", "rmsnorm", "swiglu"),
    SL_KEY_END,
};

void sl_gpt_config_default(sl_transformer_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_gpt_keys, c); /* cannot fail: the table's defaults are valid */
    c->style = SL_TF_GPT;
}

void sl_llama_config_default(sl_transformer_config *c)
{
    memset(c, 0, sizeof *c);
    sl_spec_defaults(sl_llama_keys, c);
    c->style = SL_TF_LLAMA;
}

int sl_gpt_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_transformer_config c;
    sl_gpt_config_default(&c);
    int rc = sl_spec_read(s, sl_gpt_keys, &c);
    if (rc) return rc;
    if (!c.hidden_dim) c.hidden_dim = 4 * c.d_model;
    return sl_transformer_create(&c, P, prefix, out);
}

int sl_llama_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_transformer_config c;
    int mult;
    sl_llama_config_default(&c);
    int rc = sl_spec_read(s, sl_llama_keys, &c);
    if (!rc) rc = sl_spec_int(s, sl_llama_keys, "multiple_of", &mult);
    if (rc) return rc;
    if (!c.hidden_dim) c.hidden_dim = sl_llama_hidden_dim(c.d_model, mult);
    return sl_transformer_create(&c, P, prefix, out);
}

int sl_transformer_is(const sl_model *m) { return m && (m->vt == &tf_vt || m->vt == &tf_vt_gpt); }
const sl_transformer_config *sl_transformer_config_of(const sl_model *m)
{
    return sl_transformer_is(m) ? &((const tf_model *)m)->c : NULL;
}

int sl_llama_hidden_dim(int dim, int multiple_of)
{
    long h = 4L * dim;
    h = 2 * h / 3;
    if (multiple_of < 1) multiple_of = 1;
    return (int)(multiple_of * ((h + multiple_of - 1) / multiple_of));
}

void sl_transformer_attn_config(const sl_transformer_config *c, sl_attn_config *a)
{
    sl_attn_config_default(a, c->d_model, c->n_head);
    a->n_kv_head = c->n_kv_head;
    a->bias = c->bias;
    a->causal = 1;
    a->rope = c->pos == SL_POS_ROPE;
    a->rope_theta = c->rope_theta;
    a->max_seq_len = c->max_seq_len;
    a->flash = c->flash;
    a->dropout = c->dropout;
    a->names = c->style == SL_TF_GPT ? SL_ATTN_NAMES_GPT : SL_ATTN_NAMES_LLAMA;
    a->kv_lora_rank = c->kv_lora_rank;
    a->q_lora_rank = c->q_lora_rank;
    a->qk_nope_head_dim = c->qk_nope_head_dim;
    a->qk_rope_head_dim = c->qk_rope_head_dim;
    a->v_head_dim = c->v_head_dim;
    a->norm_eps = c->norm_eps;
}

size_t sl_transformer_kv_bytes_per_token(const sl_transformer_config *c)
{
    sl_attn_config a;
    sl_transformer_attn_config(c, &a);
    return (size_t)c->n_layer * sl_attn_kv_bytes_per_token(&a);
}

static const float *D(const tf_model *t, int i) { return sl_params_data_opt(t->base.P, i); }
static float *G(const tf_model *t, int i) { return sl_params_grad_opt(t->base.P, i); }

static void norm_fwd(const tf_model *t, int iw, int ib, float *out, float *st, const float *in, int N)
{
    if (t->c.rmsnorm) sl_rmsnorm_forward(out, st + N, in, D(t, iw), N, t->C, t->c.norm_eps);
    else sl_layernorm_forward(out, st, st + N, in, D(t, iw), D(t, ib), N, t->C, t->c.norm_eps);
}

static void norm_bwd(const tf_model *t, int iw, int ib, float *din, const float *dout, const float *in, const float *st, int N)
{
    if (t->c.rmsnorm) sl_rmsnorm_backward(din, G(t, iw), dout, in, D(t, iw), st + N, N, t->C);
    else sl_layernorm_backward(din, G(t, iw), G(t, ib), dout, in, D(t, iw), st, st + N, N, t->C);
}

/* The GELU MLP's activation: the erf form's fast path, or the tanh form (GPT-2's gelu_new,
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))) through the reference activation. backward:
 * dinp (+)= dout * gelu'(inp), accumulating when acc. */
static void gelu_fwd(const tf_model *t, float *out, const float *inp, size_t n)
{
    if (t->c.gelu_tanh) sl_act_forward(SL_ACT_GELU_TANH, out, inp, n);
    else sl_gelu_fast_forward(out, inp, n);
}

static void gelu_bwd(const tf_model *t, float *dinp, const float *dout, const float *inp, size_t n, int acc)
{
    if (t->c.gelu_tanh) {
        if (!acc) memset(dinp, 0, n * sizeof(float));
        sl_act_backward(SL_ACT_GELU_TANH, dinp, dout, inp, n);
    } else if (acc) {
        sl_gelu_fast_backward(dinp, dout, inp, n);
    } else {
        sl_gelu_fast_backward_set(dinp, dout, inp, n);
    }
}

/* MLP forward for N rows: in (N,C) -> out (N,C); h1/h3/act (N,F) are kept for backward */
static void mlp_fwd(const tf_model *t, int l, float *out, float *h1, float *h3, float *act, const float *in, int N)
{
    const int C = t->C, F = t->F;
    sl_linear_forward(h1, in, D(t, t->i_fc[l]), D(t, t->i_fcb[l]), N, C, F);
    if (t->c.swiglu) {
        sl_linear_forward(h3, in, D(t, t->i_fc2[l]), NULL, N, C, F);
        sl_act_forward(SL_ACT_SILU, act, h1, (size_t)N * F);
        for (size_t i = 0; i < (size_t)N * F; i++) act[i] *= h3[i];
    } else {
        gelu_fwd(t, act, h1, (size_t)N * F);
    }
    sl_linear_forward(out, act, D(t, t->i_pj[l]), D(t, t->i_pjb[l]), N, F, C);
}

static const float *head_w(const tf_model *t) { return D(t, t->i_head); }

/* embedding + positions for N = B*T rows starting at position pos0 (row n is at pos0 + n % T,
 * or at dp[n] in packed rows: positions restart at each document) */
static void embed(const tf_model *t, float *h, const int32_t *tok, int N, int T, int pos0, const int32_t *dp)
{
    const int C = t->C;
    sl_embedding_forward(h, tok, D(t, t->i_wte), N, C);
    if (t->c.pos == SL_POS_LEARNED || t->c.pos == SL_POS_SINUSOIDAL) {
        const float *pe = t->c.pos == SL_POS_LEARNED ? D(t, t->i_wpe) : t->sinus;
        for (int n = 0; n < N; n++) {
            const float *p = pe + (size_t)(dp ? dp[n] : pos0 + n % T) * C;
            float *o = h + (size_t)n * C;
            for (int c = 0; c < C; c++) o[c] += p[c];
        }
    }
}

static int tf_nslices(const tf_model *t, int B, int for_backward);

/* ---- gradient checkpointing's slots (as seq/lm.c's): h_i (i = 0..L) kept at every segment's
 * input and at L, in slots 0 and K .. K+nseg-1, the inner ones of the segment being run in
 * slots 1 .. K-1; block l's caches in slot l % K. K = L is the plain layout. ---- */
static size_t tf_h(const tf_model *t, int i)
{
    const int K = t->K;
    if (i % K) return i == t->L ? (size_t)K - 1 + t->nseg : (size_t)(i % K);
    return i ? (size_t)K - 1 + i / K : 0;
}
static size_t tf_blk(const tf_model *t, int l) { return (size_t)(l % t->K); }
static int tf_ck(const tf_model *t) { return t->nseg > 1; } /* the cached batch was checkpointed */
static int tf_ckpt_on(const sl_model *m) { return m->ckpt > 0 && m->ckpt < m->n_children; }

/* the forward cache for (B, T) tokens, shared by both paths */
static int tf_reserve(tf_model *t, const int32_t *tok, int B, int T)
{
    sl_model *m = &t->base;
    const int N = B * T, L = t->L;
    int rc;
    t->K = tf_ckpt_on(m) ? m->ckpt : L > 0 ? L : 1;
    t->kb = L < t->K ? L : t->K;
    t->nseg = (L + t->K - 1) / t->K;
    const size_t NC = (size_t)N * t->C, NF = (size_t)N * t->F, kb = (size_t)t->kb, nh = (size_t)t->K + t->nseg;
    if (T > t->c.max_seq_len)
        return sl_error(SL_ESHAPE, "%s: sequence length %d exceeds the block size %d", m->vt->kind, T, t->c.max_seq_len);
    if (m->doc_pos && (rc = sl_docs_check(m->doc_pos, B, T))) return rc;
    const int drop = m->training && t->c.dropout > 0.0f && m->rng;
    if ((rc = SL_ARENA_CARVE(&t->fwd, SL_FIELD(t->res, nh * NC), SL_FIELD(t->mid, kb * NC), SL_FIELD(t->n1, kb * NC),
                             SL_FIELD(t->n2, kb * NC), SL_FIELD(t->st1, kb * 2 * N), SL_FIELD(t->st2, kb * 2 * N),
                             SL_FIELD(t->h1, kb * NF), SL_FIELD(t->h3, t->c.swiglu ? kb * NF : 0), SL_FIELD(t->act, kb * NF),
                             SL_FIELD(t->mmask, drop ? kb * NC : 0), SL_FIELD(t->emask, drop ? NC : 0), SL_FIELD(t->nf, NC),
                             SL_FIELD(t->stf, (size_t)2 * N), SL_FIELD(t->tmp, NC))))
        return rc;
    t->ck_rng = 0;
    if (tf_ck(t) && drop) { /* checkpointing replays dropout: rng snapshots */
        const size_t need = ((size_t)t->nseg + 1) * sl_rng_state_size(m->rng);
        if (need > t->ck_cap) {
            unsigned char *p = realloc(t->ck_snap, need);
            if (!p) return sl_error(SL_ENOMEM, "out of memory");
            t->ck_snap = p;
            t->ck_cap = need;
        }
        t->ck_rng = 1;
    }
    t->B = B;
    t->T = T;
    t->tok = tok;
    t->dropped = drop;
    return SL_OK;
}

/* rng snapshot slot j (nseg: after forward) of a checkpointed forward with dropout */
static unsigned char *tf_snap(const tf_model *t, int j) { return t->ck_snap + (size_t)j * sl_rng_state_size(t->base.rng); }

/* Block l on the whole batch, the per-operation path: mid = h_l + attn(norm1(h_l)),
 * h_{l+1} = mid + drop(mlp(norm2(mid))); caches in slot l % K */
static int tf_block_forward(tf_model *t, int l)
{
    sl_model *m = &t->base;
    const int B = t->B, T = t->T, N = B * T;
    const size_t NC = (size_t)N * t->C, NF = (size_t)N * t->F, k = tf_blk(t, l);
    float *hl = t->res + tf_h(t, l) * NC, *hn = t->res + tf_h(t, l + 1) * NC, *md = t->mid + k * NC; // (N, C)
    float *n1 = t->n1 + k * NC, *n2 = t->n2 + k * NC;                                                // (N, C)
    float *s1 = t->st1 + k * 2 * N, *s2 = t->st2 + k * 2 * N;                                        // (2N)
    int rc;
    norm_fwd(t, t->i_n1w[l], t->i_n1b[l], n1, s1, hl, N);
    if ((rc = sl_model_forward(m->children[l], n1, NULL, t->tmp, B, T))) return rc;
    for (size_t i = 0; i < NC; i++) md[i] = hl[i] + t->tmp[i];
    norm_fwd(t, t->i_n2w[l], t->i_n2b[l], n2, s2, md, N);
    mlp_fwd(t, l, t->tmp, t->h1 + k * NF, t->c.swiglu ? t->h3 + k * NF : NULL, t->act + k * NF, n2, N);
    if (t->dropped) sl_dropout_forward(t->tmp, t->mmask + k * NC, t->tmp, NC, t->c.dropout, m->rng);
    for (size_t i = 0; i < NC; i++) hn[i] = md[i] + t->tmp[i];
    return SL_OK;
}

static int tf_slice_begin(sl_model *m, const float *x, const int32_t *tok, int B, int T);
static int tf_slice_forward(sl_model *m, float *y, int b0, int b1);
static void norm_fwd_r(const tf_model *t, int iw, int ib, float *out, float *mean, float *rstd, const float *in, int n);
static int tf_slice_backward_begin(sl_model *m);
static int tf_slice_backward(sl_model *m, const float *dy, float *dx, int dx_acc, float *grad, int b0, int b1);

/* Inference mode (seq/model.h: no backward follows): the per-operation path with one layer's
 * working space instead of every layer's cache. The residual stream alternates between two
 * (N, C) slots, the block's output slot holds the stream after attention until the MLP's output
 * is added to it in place (the same sums: mid + mlp), one (N, C) array takes norm1, norm2 and the
 * final norm in turn, and one set of MLP arrays serves every block; the attention layers (in
 * inference mode too) share one scratch arena. No batch slices, no checkpointing. Memory besides
 * weights, tokens and logits: 4 (N, C) + 2-3 (N, F) floats (+ the dropout masks while training)
 * and one attention layer's arrays, whatever the depth. The norms are those of the path a
 * training-mode forward would take for this batch (the sliced path's fast layer norm when it
 * applies), so the logits are those of training mode. */
static void tf_norm_inf(const tf_model *t, int fast, int iw, int ib, float *out, float *st, const float *in, int N)
{
    if (fast) norm_fwd_r(t, iw, ib, out, st, st + N, in, N);
    else norm_fwd(t, iw, ib, out, st, in, N);
}

static int tf_forward_infer(tf_model *t, const int32_t *tok, float *y, int B, int T)
{
    sl_model *m = &t->base;
    const int N = B * T, C = t->C, L = t->L;
    const size_t NC = (size_t)N * C, NF = (size_t)N * t->F;
    int rc;
    if (T > t->c.max_seq_len)
        return sl_error(SL_ESHAPE, "%s: sequence length %d exceeds the block size %d", m->vt->kind, T, t->c.max_seq_len);
    if (m->doc_pos && (rc = sl_docs_check(m->doc_pos, B, T))) return rc;
    const int drop = m->training && t->c.dropout > 0.0f && m->rng;
    float *res, *nrm, *st, *h1, *h3, *act, *tmp, *mmask, *emask;
    if (t->fwd.base) sl_arena_free(&t->fwd); /* an earlier training forward's caches */
    if ((rc = SL_ARENA_CARVE(&t->fwd, SL_FIELD(res, 2 * NC), SL_FIELD(nrm, NC), SL_FIELD(st, (size_t)2 * N), SL_FIELD(h1, NF),
                             SL_FIELD(h3, t->c.swiglu ? NF : 0), SL_FIELD(act, NF), SL_FIELD(tmp, NC),
                             SL_FIELD(mmask, drop ? NC : 0), SL_FIELD(emask, drop ? NC : 0))))
        return rc;
    t->B = B;
    t->T = T;
    t->tok = tok;
    t->dropped = drop;
    t->sliced = 0;
    const int fast = tf_nslices(t, B, 0) > 0;
    embed(t, res, tok, N, T, 0, m->doc_pos);
    if (drop) sl_dropout_forward(res, emask, res, NC, t->c.dropout, m->rng);
    for (int l = 0; l < L; l++) {
        const float *hl = res + (size_t)(l & 1) * NC; // (N, C) block input
        float *hn = res + (size_t)((l + 1) & 1) * NC; // (N, C) after attention, then the block output
        tf_norm_inf(t, fast, t->i_n1w[l], t->i_n1b[l], nrm, st, hl, N);
        if ((rc = sl_model_forward(m->children[l], nrm, NULL, tmp, B, T))) return rc;
        for (size_t i = 0; i < NC; i++) hn[i] = hl[i] + tmp[i];
        tf_norm_inf(t, fast, t->i_n2w[l], t->i_n2b[l], nrm, st, hn, N);
        mlp_fwd(t, l, tmp, h1, t->c.swiglu ? h3 : NULL, act, nrm, N);
        if (drop) sl_dropout_forward(tmp, mmask, tmp, NC, t->c.dropout, m->rng);
        for (size_t i = 0; i < NC; i++) hn[i] += tmp[i];
    }
    tf_norm_inf(t, fast, t->i_nfw, t->i_nfb, nrm, st, res + (size_t)(L & 1) * NC, N);
    sl_linear_forward(y, nrm, head_w(t), NULL, N, C, t->V);
    return SL_OK;
}

static int tf_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T)
{
    tf_model *t = (tf_model *)m;
    const int N = B * T, C = t->C, L = t->L;
    const size_t NC = (size_t)N * C;
    t->infer_fwd = m->inference;
    if (m->inference) return tf_forward_infer(t, tok, y, B, T);
    int rc = tf_reserve(t, tok, B, T);
    if (rc) return rc;
    const int drop = t->dropped;
    const int k = tf_nslices(t, B, 0);
    t->sliced = k > 0;
    if (k > 0 && tf_ck(t)) { /* checkpointing: the sliced path as one slice, run here (slice_ok is 0) */
        if ((rc = tf_slice_begin(m, x, tok, B, T))) return rc;
        return tf_slice_forward(m, y, 0, B);
    }
    if (k > 0) return sl_model_forward_slices(m, x, tok, y, B, T, k);
    float *h = t->res;
    embed(t, h, tok, N, T, 0, m->doc_pos);
    if (drop) sl_dropout_forward(h, t->emask, h, NC, t->c.dropout, m->rng);
    for (int l = 0; l < L; l++) {
        const int kept = l / t->K == t->nseg - 1; /* the last segment's caches stay for backward */
        if (t->ck_rng && !kept && l % t->K == 0) sl_rng_state_save(m->rng, tf_snap(t, l / t->K));
        if ((rc = tf_block_forward(t, l))) return rc;
        if (!kept) sl_model_release(m->children[l]);
    }
    if (t->ck_rng) sl_rng_state_save(m->rng, tf_snap(t, t->nseg));
    norm_fwd(t, t->i_nfw, t->i_nfb, t->nf, t->stf, t->res + tf_h(t, L) * NC, N);
    sl_linear_forward(y, t->nf, head_w(t), NULL, N, C, t->V);
    return SL_OK;
}

static int tf_backward(sl_model *m, const float *dy, float *dx)
{
    tf_model *t = (tf_model *)m;
    const int B = t->B, T = t->T, N = B * T, C = t->C, L = t->L, F = t->F;
    const size_t NC = (size_t)N * C, NF = (size_t)N * F;
    int rc;
    if (t->infer_fwd) return sl_error(SL_EINVAL, "%s: backward after a forward in inference mode (no caches kept)", m->vt->kind);
    if (t->sliced && tf_ck(t)) { /* one slice (tf_forward) */
        if ((rc = tf_slice_backward_begin(m))) return rc;
        return tf_slice_backward(m, dy, dx, 1, m->P->grad, 0, B);
    }
    if (t->sliced) return sl_model_backward_slices(m, dy, dx, B, tf_nslices(t, B, 1), &t->gpriv);
    if ((rc = SL_ARENA_CARVE(&t->bwd, SL_FIELD(t->g1, NC), SL_FIELD(t->g2, NC), SL_FIELD(t->g3, NF), SL_FIELD(t->g4, 2 * NF))))
        return rc;
    float *dh = t->g1, *dn = t->g2, *dact = t->g3, *dh1 = t->g4, *dh3 = t->g4 + NF;
    memset(dn, 0, NC * sizeof(float));
    sl_linear_backward(dn, G(t, t->i_head), NULL, dy, t->nf, head_w(t), N, C, t->V);
    memset(dh, 0, NC * sizeof(float));
    norm_bwd(t, t->i_nfw, t->i_nfb, dh, dn, t->res + tf_h(t, L) * NC, t->stf, N);
    const int K = t->K;
    for (int l = L - 1; l >= 0; l--) {
        if (l / K < t->nseg - 1 && l % K == K - 1) { /* checkpointing: this segment's forward again */
            if (t->ck_rng) sl_rng_state_load(m->rng, tf_snap(t, l / K), sl_rng_state_size(m->rng));
            for (int li = l / K * K; li <= l; li++)
                if ((rc = tf_block_forward(t, li))) return rc;
        }
        const size_t k = tf_blk(t, l);
        float *md = t->mid + k * NC, *hl = t->res + tf_h(t, l) * NC;
        /* MLP branch: dh is dL/dh_{l+1} = dL/dmid (residual) + the branch's share */
        const float *dm = dh;
        if (t->dropped) {
            memset(t->tmp, 0, NC * sizeof(float));
            sl_dropout_backward(t->tmp, dh, t->mmask + k * NC, NC);
            dm = t->tmp;
        }
        const float *h1 = t->h1 + k * NF, *act = t->act + k * NF;
        memset(dact, 0, NF * sizeof(float));
        sl_linear_backward(dact, G(t, t->i_pj[l]), G(t, t->i_pjb[l]), dm, act, D(t, t->i_pj[l]), N, F, C);
        memset(dh1, 0, NF * sizeof(float));
        memset(dn, 0, NC * sizeof(float));
        const float *n2 = t->n2 + k * NC;
        if (t->c.swiglu) {
            const float *h3 = t->h3 + k * NF;
            /* act = silu(h1) * h3 */
            for (size_t i = 0; i < NF; i++) {
                float s = sl_act1(SL_ACT_SILU, h1[i]);
                dh3[i] = dact[i] * s;
                dact[i] *= h3[i];
            }
            sl_act_backward(SL_ACT_SILU, dh1, dact, h1, NF);
            sl_linear_backward(dn, G(t, t->i_fc2[l]), NULL, dh3, n2, D(t, t->i_fc2[l]), N, C, F);
        } else {
            gelu_bwd(t, dh1, dact, h1, NF, 1);
        }
        sl_linear_backward(dn, G(t, t->i_fc[l]), G(t, t->i_fcb[l]), dh1, n2, D(t, t->i_fc[l]), N, C, F);
        norm_bwd(t, t->i_n2w[l], t->i_n2b[l], dh, dn, md, t->st2 + k * 2 * N, N);
        /* attention branch: dh is now dL/dmid */
        memset(dn, 0, NC * sizeof(float));
        if ((rc = sl_model_backward(m->children[l], dh, dn))) return rc;
        if (tf_ck(t)) sl_model_release(m->children[l]);
        norm_bwd(t, t->i_n1w[l], t->i_n1b[l], dh, dn, hl, t->st1 + k * 2 * N, N);
    }
    if (t->ck_rng) sl_rng_state_load(m->rng, tf_snap(t, t->nseg), sl_rng_state_size(m->rng)); /* where forward left it */
    if (t->dropped) {
        memset(t->tmp, 0, NC * sizeof(float));
        sl_dropout_backward(t->tmp, dh, t->emask, NC);
        dh = t->tmp;
    }
    sl_embedding_backward(G(t, t->i_wte), dh, t->tok, N, C);
    if (t->i_wpe >= 0) {
        float *dp = G(t, t->i_wpe);
        for (int n = 0; n < N; n++) {
            float *d = dp + (size_t)(m->doc_pos ? m->doc_pos[n] : n % T) * C;
            const float *g = dh + (size_t)n * C;
            for (int c = 0; c < C; c++) d[c] += g[c];
        }
    }
    (void)dx;
    return SL_OK;
}

/* ---- batch-sliced path (see sl_transformer_set_slices) --------------------------------------- */

void sl_transformer_set_slices(sl_model *m, int slices)
{
    if (sl_transformer_is(m)) ((tf_model *)m)->slices = slices;
}

static float *Gb(const tf_model *t, float *g, int i) { return sl_params_at_opt(t->base.P, g, i); }

/* seq/model.h's slice_ok: no dropout while training, and every attention layer has slices */
static int tf_slices_apply(const sl_model *m)
{
    const tf_model *t = (const tf_model *)m;
    if ((m->training && t->c.dropout > 0.0f && m->rng) || m->doc_pos) return 0; /* packed rows: the per-operation path */
    for (int l = 0; l < m->n_children; l++)
        if (!sl_model_slice_ok(m->children[l])) return 0;
    return 1;
}

/* checkpointing runs one slice inside the model (its segments recompute on the whole batch), so
 * a caller does not slice it */
static int tf_slice_ok(const sl_model *m) { return !tf_ckpt_on(m) && tf_slices_apply(m); }

/* slices for a batch of B sequences, 0 for the per-operation path */
static int tf_nslices(const tf_model *t, int B, int for_backward)
{
    const sl_model *m = &t->base;
    if (!for_backward && (t->slices < 0 || !tf_slices_apply(m))) return 0;
    if (tf_ckpt_on(m)) return 1;
    if (t->slices > 0) return t->slices < B ? t->slices : B;
    const int th = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (th <= 1) return 1;
    if (B >= th) return th;
    return for_backward ? B : 0;
}

static void norm_fwd_r(const tf_model *t, int iw, int ib, float *out, float *mean, float *rstd, const float *in, int n)
{
    if (t->c.rmsnorm) sl_rmsnorm_forward(out, rstd, in, D(t, iw), n, t->C, t->c.norm_eps);
    else sl_layernorm_fast_forward(out, mean, rstd, in, D(t, iw), D(t, ib), n, t->C, t->c.norm_eps);
}

static void norm_bwd_r(const tf_model *t, float *g, int iw, int ib, float *din, const float *dout, const float *in,
                       const float *mean, const float *rstd, int n)
{
    if (t->c.rmsnorm) sl_rmsnorm_backward(din, Gb(t, g, iw), dout, in, D(t, iw), rstd, n, t->C);
    else sl_layernorm_fast_backward(din, Gb(t, g, iw), Gb(t, g, ib), dout, in, D(t, iw), mean, rstd, n, t->C);
}

/* Block l on sequences [b0, b1), the sliced path: rows r0 = b0*T .. of every cache, slots as
 * tf_block_forward's. Checkpointing (one slice, the whole batch) begins the attention layer here,
 * as its caches may have been released. */
static int tf_block_forward_rows(tf_model *t, int l, int b0, int b1)
{
    sl_model *m = &t->base;
    const int T = t->T, N = t->B * T, C = t->C, F = t->F, n = (b1 - b0) * T;
    const size_t NC = (size_t)N * C, NF = (size_t)N * F, r0 = (size_t)b0 * T, nc = (size_t)n * C, k = tf_blk(t, l);
    float *hl = t->res + tf_h(t, l) * NC + r0 * C, *hn = t->res + tf_h(t, l + 1) * NC + r0 * C; // (n, C)
    float *md = t->mid + k * NC + r0 * C, *tmp = t->tmp + r0 * C;                               // (n, C)
    float *n1 = t->n1 + k * NC + r0 * C, *n2 = t->n2 + k * NC + r0 * C;                         // (n, C)
    float *s1 = t->st1 + k * 2 * N + r0, *s2 = t->st2 + k * 2 * N + r0;                         // (2, N) rows
    sl_model *a = m->children[l];
    int rc;
    norm_fwd_r(t, t->i_n1w[l], t->i_n1b[l], n1, s1, s1 + N, hl, n);
    if (tf_ck(t) && (rc = a->vt->slice_begin(a, t->n1 + k * NC, NULL, t->B, T))) return rc;
    if ((rc = a->vt->slice_forward(a, t->tmp, b0, b1))) return rc;
    for (size_t i = 0; i < nc; i++) md[i] = hl[i] + tmp[i];
    norm_fwd_r(t, t->i_n2w[l], t->i_n2b[l], n2, s2, s2 + N, md, n);
    mlp_fwd(t, l, tmp, t->h1 + k * NF + r0 * F, t->c.swiglu ? t->h3 + k * NF + r0 * F : NULL, t->act + k * NF + r0 * F, n2, n);
    for (size_t i = 0; i < nc; i++) hn[i] = md[i] + tmp[i];
    return SL_OK;
}

/* sequences [b0, b1): rows r0 = b0*T .. of every cache; same layout as tf_forward's */
static int tf_forward_slice(tf_model *t, const int32_t *tok, float *y, int b0, int b1)
{
    sl_model *m = &t->base;
    const int T = t->T, N = t->B * T, C = t->C, L = t->L, n = (b1 - b0) * T;
    const size_t NC = (size_t)N * C, r0 = (size_t)b0 * T;
    int rc;
    embed(t, t->res + r0 * C, tok + r0, n, T, 0, NULL); /* slices never run packed rows */
    for (int l = 0; l < L; l++) {
        if ((rc = tf_block_forward_rows(t, l, b0, b1))) return rc;
        if (l / t->K < t->nseg - 1) sl_model_release(m->children[l]); /* checkpointing: recomputed in backward */
    }
    norm_fwd_r(t, t->i_nfw, t->i_nfb, t->nf + r0 * C, t->stf + r0, t->stf + N + r0, t->res + tf_h(t, L) * NC + r0 * C, n);
    sl_linear_forward(y + r0 * t->V, t->nf + r0 * C, head_w(t), NULL, n, C, t->V);
    return SL_OK;
}

/* seq/model.h's slice entries: the caches for the whole batch, then sequences [b0, b1) */
static int tf_slice_begin(sl_model *m, const float *x, const int32_t *tok, int B, int T)
{
    (void)x;
    tf_model *t = (tf_model *)m;
    const size_t NC = (size_t)B * T * t->C;
    int rc = tf_reserve(t, tok, B, T);
    if (rc) return rc;
    t->sliced = 1;
    t->infer_fwd = 0;
    for (int l = 0; l < t->L && !tf_ck(t); l++) { /* checkpointing begins them one by one (tf_block_forward_rows) */
        sl_model *a = m->children[l];
        if ((rc = a->vt->slice_begin(a, t->n1 + tf_blk(t, l) * NC, NULL, B, T))) return rc;
    }
    return SL_OK;
}

static int tf_slice_forward(sl_model *m, float *y, int b0, int b1)
{
    tf_model *t = (tf_model *)m;
    return tf_forward_slice(t, t->tok, y, b0, b1);
}

static int tf_backward_slice(tf_model *t, const float *dy, float *g, int b0, int b1)
{
    sl_model *m = &t->base;
    const int T = t->T, N = t->B * T, C = t->C, L = t->L, F = t->F, V = t->V, n = (b1 - b0) * T;
    const size_t NC = (size_t)N * C, NF = (size_t)N * F, r0 = (size_t)b0 * T, rc0 = r0 * C, rf0 = r0 * F;
    const size_t nc = (size_t)n * C, nf = (size_t)n * F;
    float *dh = t->g1 + rc0, *dn = t->g2 + rc0;                             // (n, C)
    float *dact = t->g3 + rf0, *dh1 = t->g4 + rf0, *dh3 = t->g4 + NF + rf0; // (n, F)
    int rc;
    sl_linear_backward_set(dn, Gb(t, g, t->i_head), NULL, dy + r0 * V, t->nf + rc0, head_w(t), n, C, V);
    memset(dh, 0, nc * sizeof(float));
    norm_bwd_r(t, g, t->i_nfw, t->i_nfb, dh, dn, t->res + tf_h(t, L) * NC + rc0, t->stf + r0, t->stf + N + r0, n);
    const int K = t->K;
    for (int l = L - 1; l >= 0; l--) {
        if (l / K < t->nseg - 1 && l % K == K - 1) /* checkpointing (one slice): this segment's forward again */
            for (int li = l / K * K; li <= l; li++)
                if ((rc = tf_block_forward_rows(t, li, b0, b1))) return rc;
        const size_t k = tf_blk(t, l);
        const float *md = t->mid + k * NC + rc0, *hl = t->res + tf_h(t, l) * NC + rc0, *n2 = t->n2 + k * NC + rc0;
        const float *h1 = t->h1 + k * NF + rf0, *act = t->act + k * NF + rf0;
        const float *s1 = t->st1 + k * 2 * N + r0, *s2 = t->st2 + k * 2 * N + r0;
        /* MLP branch; dh is dL/dh_{l+1} */
        sl_linear_backward_set(dact, Gb(t, g, t->i_pj[l]), Gb(t, g, t->i_pjb[l]), dh, act, D(t, t->i_pj[l]), n, F, C);
        if (t->c.swiglu) {
            const float *h3 = t->h3 + k * NF + rf0;
            for (size_t i = 0; i < nf; i++) {
                float sg = sl_act1(SL_ACT_SILU, h1[i]);
                dh3[i] = dact[i] * sg;
                dact[i] *= h3[i];
            }
            memset(dh1, 0, nf * sizeof(float));
            sl_act_backward(SL_ACT_SILU, dh1, dact, h1, nf);
            sl_linear_backward_set(dn, Gb(t, g, t->i_fc2[l]), NULL, dh3, n2, D(t, t->i_fc2[l]), n, C, F);
            sl_linear_backward(dn, Gb(t, g, t->i_fc[l]), Gb(t, g, t->i_fcb[l]), dh1, n2, D(t, t->i_fc[l]), n, C, F);
        } else {
            gelu_bwd(t, dh1, dact, h1, nf, 0);
            sl_linear_backward_set(dn, Gb(t, g, t->i_fc[l]), Gb(t, g, t->i_fcb[l]), dh1, n2, D(t, t->i_fc[l]), n, C, F);
        }
        norm_bwd_r(t, g, t->i_n2w[l], t->i_n2b[l], dh, dn, md, s2, s2 + N, n);
        /* attention branch: dh is now dL/dmid; dn = dL/dn1 (written) */
        sl_model *a = m->children[l];
        if (tf_ck(t) && (rc = a->vt->slice_backward_begin(a))) return rc; /* begun one by one */
        if ((rc = a->vt->slice_backward(a, t->g1, t->g2, 0, g, b0, b1))) return rc;
        if (tf_ck(t)) sl_model_release(a);
        norm_bwd_r(t, g, t->i_n1w[l], t->i_n1b[l], dh, dn, hl, s1, s1 + N, n);
    }
    sl_embedding_backward(Gb(t, g, t->i_wte), dh, t->tok + r0, n, C);
    if (t->i_wpe >= 0) {
        float *dp = Gb(t, g, t->i_wpe);
        for (int i = 0; i < n; i++) {
            float *d = dp + (size_t)(i % T) * C;
            const float *gg = dh + (size_t)i * C;
            for (int c = 0; c < C; c++) d[c] += gg[c];
        }
    }
    return SL_OK;
}

static int tf_slice_backward_begin(sl_model *m)
{
    tf_model *t = (tf_model *)m;
    const size_t NC = (size_t)t->B * t->T * t->C, NF = (size_t)t->B * t->T * t->F;
    int rc;
    if ((rc = SL_ARENA_CARVE(&t->bwd, SL_FIELD(t->g1, NC), SL_FIELD(t->g2, NC), SL_FIELD(t->g3, NF), SL_FIELD(t->g4, 2 * NF))))
        return rc;
    for (int l = 0; l < t->L && !tf_ck(t); l++) /* checkpointing begins them one by one (tf_backward_slice) */
        if ((rc = m->children[l]->vt->slice_backward_begin(m->children[l]))) return rc;
    return SL_OK;
}

/* token input: no dx */
static int tf_slice_backward(sl_model *m, const float *dy, float *dx, int dx_acc, float *grad, int b0, int b1)
{
    (void)dx;
    (void)dx_acc;
    return tf_backward_slice((tf_model *)m, dy, grad, b0, b1);
}

/* ---- step mode -------------------------------------------------------------------------- */

static void tf_state_free(sl_model *m, void *state)
{
    tf_state *s = state;
    if (!s) return;
    if (s->att)
        for (int l = 0; l < m->n_children; l++) sl_model_state_free(m->children[l], s->att[l]);
    free(s->att);
    free(s->h);
    free(s->n);
    free(s->a);
    free(s->f1);
    free(s->f3);
    free(s->st);
    free(s->p0);
    free(s->dp);
    sl_arena_free(&s->pf);
    free(s);
}

static void *tf_state_new(sl_model *m, int B)
{
    tf_model *t = (tf_model *)m;
    tf_state *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->B = B;
    s->att = calloc((size_t)t->L + 1, sizeof(void *));
    s->h = malloc((size_t)B * t->C * sizeof(float));
    s->n = malloc((size_t)B * t->C * sizeof(float));
    s->a = malloc((size_t)B * t->C * sizeof(float));
    s->f1 = malloc((size_t)B * t->F * sizeof(float));
    s->f3 = malloc((size_t)B * t->F * sizeof(float));
    s->st = malloc((size_t)2 * B * sizeof(float));
    s->p0 = calloc((size_t)B, sizeof *s->p0);
    s->dp = malloc((size_t)B * sizeof *s->dp);
    if (!s->att || !s->h || !s->n || !s->a || !s->f1 || !s->f3 || !s->st || !s->p0 || !s->dp) {
        tf_state_free(m, s);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    for (int l = 0; l < t->L; l++)
        if (!(s->att[l] = sl_model_state_new(m->children[l], B))) {
            tf_state_free(m, s);
            return NULL;
        }
    return s;
}

static int tf_state_reset(sl_model *m, void *state)
{
    tf_state *s = state;
    s->pos = 0;
    s->apart = 0;
    memset(s->p0, 0, (size_t)s->B * sizeof *s->p0);
    for (int l = 0; l < m->n_children; l++) {
        int rc = sl_model_state_reset(m->children[l], s->att[l]);
        if (rc) return rc;
    }
    return SL_OK;
}

/* seq/model.h's state_reset_rows: every attention layer's chosen rows, and their positions
 * (learned or sinusoidal tables) back to 0 */
static int tf_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B)
{
    tf_state *s = state;
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: per-row reset of %d rows in a state for %d", m->vt->kind, B, s->B);
    for (int l = 0; l < m->n_children; l++) {
        int rc = sl_model_state_reset_rows(m->children[l], s->att[l], rows, B);
        if (rc) return rc;
    }
    for (int b = 0; b < B; b++)
        if (rows[b]) s->p0[b] = s->pos;
    s->apart = 0;
    for (int b = 0; b < B; b++) s->apart |= s->p0[b] != 0;
    return SL_OK;
}

static int tf_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *y)
{
    tf_model *t = (tf_model *)m;
    tf_state *s = state;
    const int B = s->B, C = t->C;
    int rc;
    if (!tok) return sl_error(SL_EINVAL, "%s takes token ids", m->vt->kind);
    for (int b = 0; b < B; b++)
        if (tok[b] < 0 || tok[b] >= t->V) return sl_error(SL_EINVAL, "token %d outside the vocabulary [0, %d)", tok[b], t->V);
    if (s->pos >= t->c.max_seq_len) return sl_error(SL_ESHAPE, "%s: context full (block size %d)", m->vt->kind, t->c.max_seq_len);
    if (s->apart)
        for (int b = 0; b < B; b++) s->dp[b] = s->pos - s->p0[b];
    embed(t, s->h, tok, B, 1, s->pos, s->apart ? s->dp : NULL);
    for (int l = 0; l < t->L; l++) {
        norm_fwd(t, t->i_n1w[l], t->i_n1b[l], s->n, s->st, s->h, B);
        if ((rc = sl_model_step(m->children[l], s->att[l], s->n, NULL, s->a))) return rc;
        for (size_t i = 0; i < (size_t)B * C; i++) s->h[i] += s->a[i];
        norm_fwd(t, t->i_n2w[l], t->i_n2b[l], s->n, s->st, s->h, B);
        /* the activation is written over f1 after f3 holds the SwiGLU up half */
        float *act = s->f1;
        const int F = t->F;
        sl_linear_forward(s->f1, s->n, D(t, t->i_fc[l]), D(t, t->i_fcb[l]), B, C, F);
        if (t->c.swiglu) {
            sl_linear_forward(s->f3, s->n, D(t, t->i_fc2[l]), NULL, B, C, F);
            for (size_t i = 0; i < (size_t)B * F; i++) act[i] = sl_act1(SL_ACT_SILU, s->f1[i]) * s->f3[i];
        } else {
            gelu_fwd(t, act, s->f1, (size_t)B * F);
        }
        sl_linear_forward(s->a, act, D(t, t->i_pj[l]), D(t, t->i_pjb[l]), B, F, C);
        for (size_t i = 0; i < (size_t)B * C; i++) s->h[i] += s->a[i];
    }
    norm_fwd(t, t->i_nfw, t->i_nfb, s->n, s->st, s->h, B);
    sl_linear_forward(y, s->n, head_w(t), NULL, B, C, t->V);
    s->pos++;
    return SL_OK;
}

/* T positions in sequence mode from the state (issue #17 item 3): embedding, norms, MLPs and
 * head over all B*T rows at once; each attention layer appends the chunk's keys and values to
 * its KV cache and attends over the cache (sl_model_prefill). */
static int tf_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T)
{
    tf_model *t = (tf_model *)m;
    tf_state *s = state;
    const int C = t->C, F = t->F, N = B * T;
    float *h, *n, *a, *f1, *f3, *act, *st; // (N,C) (N,C) (N,C) (N,F) (N,F) (N,F) (2N)
    int rc;
    (void)x;
    if (!tok) return sl_error(SL_EINVAL, "%s takes token ids", m->vt->kind);
    if (B != s->B) return sl_error(SL_ESHAPE, "%s: prefill of %d rows into a state for %d", m->vt->kind, B, s->B);
    if ((long)s->pos + T > t->c.max_seq_len)
        return sl_error(SL_ESHAPE, "%s: context full (block size %d)", m->vt->kind, t->c.max_seq_len);
    if (s->apart) return sl_model_prefill_steps(m, state, x, tok, y, B, T); /* rows restarted apart: step */
    if ((rc = SL_ARENA_CARVE(&s->pf, SL_FIELD(h, (size_t)N * C), SL_FIELD(n, (size_t)N * C), SL_FIELD(a, (size_t)N * C),
                             SL_FIELD(f1, (size_t)N * F), SL_FIELD(f3, (size_t)N * F), SL_FIELD(act, (size_t)N * F),
                             SL_FIELD(st, (size_t)2 * N))))
        return rc;
    embed(t, h, tok, N, T, s->pos, NULL);
    for (int l = 0; l < t->L; l++) {
        norm_fwd(t, t->i_n1w[l], t->i_n1b[l], n, st, h, N);
        if ((rc = sl_model_prefill(m->children[l], s->att[l], n, NULL, a, B, T))) return rc;
        for (size_t i = 0; i < (size_t)N * C; i++) h[i] += a[i];
        norm_fwd(t, t->i_n2w[l], t->i_n2b[l], n, st, h, N);
        mlp_fwd(t, l, a, f1, f3, act, n, N);
        for (size_t i = 0; i < (size_t)N * C; i++) h[i] += a[i];
    }
    norm_fwd(t, t->i_nfw, t->i_nfb, n, st, h, N);
    sl_linear_forward(y, n, head_w(t), NULL, N, C, t->V);
    s->pos += T;
    return SL_OK;
}

static int tf_state_copy(sl_model *m, void *dst, const void *src)
{
    tf_state *d = dst;
    const tf_state *s = src;
    if (d->B != s->B) return sl_error(SL_ESHAPE, "%s: copy of a state for %d rows into one for %d", m->vt->kind, s->B, d->B);
    for (int l = 0; l < m->n_children; l++) {
        int rc = sl_model_state_copy(m->children[l], d->att[l], s->att[l]);
        if (rc) return rc;
    }
    d->pos = s->pos;
    d->apart = s->apart;
    memcpy(d->p0, s->p0, (size_t)s->B * sizeof *s->p0);
    return SL_OK;
}

/* ---- init / destroy / create ------------------------------------------------------------ */

static void fill_normal(sl_params *P, int i, sl_rng *rng, float sd)
{
    if (i >= 0) sl_rng_fill_normal(rng, sl_params_data(P, i), P->t[i].numel, sd);
}

static void fill_const(sl_params *P, int i, float v)
{
    if (i < 0) return;
    float *w = sl_params_data(P, i);
    for (size_t j = 0; j < P->t[i].numel; j++) w[j] = v;
}

static int tf_init(sl_model *m, sl_rng *rng)
{
    tf_model *t = (tf_model *)m;
    sl_params *P = m->P;
    const float sd = 0.02f, sdp = 0.02f / sqrtf(2.0f * (float)t->L);
    /* the attention children already initialised themselves (N(0,0.02), zero biases); the
     * residual projections get the scaled std here, as nanoGPT / llama2.c do */
    fill_normal(P, t->i_wte, rng, sd);
    fill_normal(P, t->i_wpe, rng, sd);
    if (t->i_head != t->i_wte) fill_normal(P, t->i_head, rng, sd);
    for (int l = 0; l < t->L; l++) {
        fill_const(P, t->i_n1w[l], 1.0f);
        fill_const(P, t->i_n1b[l], 0.0f);
        fill_const(P, t->i_n2w[l], 1.0f);
        fill_const(P, t->i_n2b[l], 0.0f);
        int wo = sl_attn_out_proj_index(m->children[l]);
        if (t->c.style == SL_TF_GPT) {
            fill_normal(P, t->i_fc[l], rng, sd);
            fill_normal(P, t->i_fc2[l], rng, sd);
            fill_normal(P, t->i_pj[l], rng, sdp);
            fill_normal(P, wo, rng, sdp);
        } else {
            fill_normal(P, t->i_fc[l], rng, sd);
            fill_normal(P, t->i_fc2[l], rng, t->c.swiglu ? sdp : sd); /* llama2.c scales w3 */
            fill_normal(P, t->i_pj[l], rng, t->c.swiglu ? sd : sdp);
            fill_normal(P, wo, rng, sdp);
        }
        fill_const(P, t->i_fcb[l], 0.0f);
        fill_const(P, t->i_pjb[l], 0.0f);
    }
    fill_const(P, t->i_nfw, 1.0f);
    fill_const(P, t->i_nfb, 0.0f);
    return SL_OK;
}

static void tf_destroy(sl_model *m)
{
    tf_model *t = (tf_model *)m;
    sl_arena_free(&t->fwd);
    sl_arena_free(&t->bwd);
    sl_buf_free(&t->gpriv);
    free(t->ck_snap);
    free(t->i_n1w);
    free(t->i_n1b);
    free(t->i_n2w);
    free(t->i_n2b);
    free(t->i_fc);
    free(t->i_fcb);
    free(t->i_fc2);
    free(t->i_pj);
    free(t->i_pjb);
    free(t->sinus);
    free(t);
}

/* gpt and llama: one table but for the kind */
#define TF_VT(KIND) \
    { \
        .kind = KIND, .destroy = tf_destroy, .init = tf_init, .forward = tf_forward, .backward = tf_backward, \
        .state_new = tf_state_new, .state_free = tf_state_free, .state_reset = tf_state_reset, \
        .state_reset_rows = tf_state_reset_rows, .step = tf_step, .prefill = tf_prefill, .state_copy = tf_state_copy, \
        .slice_ok = tf_slice_ok, .slice_begin = tf_slice_begin, .slice_forward = tf_slice_forward, \
        .slice_backward_begin = tf_slice_backward_begin, .slice_backward = tf_slice_backward, \
    }
static const sl_model_vt tf_vt_gpt = TF_VT("gpt"), tf_vt = TF_VT("llama");
#undef TF_VT

static int check_config(const sl_transformer_config *c)
{
    if (c->vocab_size <= 0 || c->d_model <= 0 || c->n_layer < 0 || c->n_head <= 0 || c->max_seq_len <= 0 || c->hidden_dim <= 0)
        return sl_error(SL_EINVAL,
                        "transformer: vocab_size=%d d_model=%d n_layer=%d n_head=%d max_seq_len=%d "
                        "hidden_dim=%d must be positive",
                        c->vocab_size, c->d_model, c->n_layer, c->n_head, c->max_seq_len, c->hidden_dim);
    if (c->pos < SL_POS_LEARNED || c->pos > SL_POS_NONE) return sl_error(SL_EINVAL, "transformer: bad position kind %d", c->pos);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return sl_error(SL_EINVAL, "transformer: dropout=%g not in [0, 1)", c->dropout);
    if (!(c->norm_eps > 0.0f)) return sl_error(SL_EINVAL, "transformer: norm_eps must be positive");
    sl_attn_config a;
    sl_transformer_attn_config(c, &a);
    return sl_attn_config_check(&a);
}

int sl_transformer_create(const sl_transformer_config *cfg, sl_params *P, const char *prefix, sl_model **out)
{
    *out = NULL;
    int rc = check_config(cfg);
    if (rc) return rc;
    tf_model *t = calloc(1, sizeof *t);
    if (!t) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m = &t->base;
    m->vt = cfg->style == SL_TF_GPT ? &tf_vt_gpt : &tf_vt;
    m->P = P;
    t->c = *cfg;
    const int L = cfg->n_layer, C = cfg->d_model, F = cfg->hidden_dim, V = cfg->vocab_size;
    t->L = L;
    t->C = C;
    t->F = F;
    t->V = V;
    m->d_in = m->d_out = V;
    m->caps =
        SL_CAP_GRAD | SL_CAP_STEP | SL_CAP_TOKEN_IN | SL_CAP_TOKEN_OUT | SL_CAP_EMBED | SL_CAP_PACK | SL_CAP_CKPT | SL_CAP_INFER;
    m->max_len = cfg->max_seq_len;
    snprintf(t->pre, sizeof t->pre, "%s", prefix ? prefix : "");
    int **arrs[] = {&t->i_n1w, &t->i_n1b, &t->i_n2w, &t->i_n2b, &t->i_fc, &t->i_fcb, &t->i_fc2, &t->i_pj, &t->i_pjb};
    for (size_t i = 0; i < sizeof arrs / sizeof *arrs; i++) {
        *arrs[i] = malloc(((size_t)L + 1) * sizeof(int));
        if (!*arrs[i]) {
            sl_model_free(m);
            return sl_error(SL_ENOMEM, "out of memory");
        }
        for (int l = 0; l <= L; l++) (*arrs[i])[l] = -1;
    }
    t->i_wte = t->i_wpe = t->i_head = t->i_nfw = t->i_nfb = -1;
    const int gpt = cfg->style == SL_TF_GPT, lnb = !cfg->rmsnorm && cfg->bias;
    const char *pre = t->pre;
    char name[SL_NAME_MAX], base[SL_NAME_MAX + 64];
    int bad = 0;
#define ADD(idx, nd, d0, d1, ...) \
    do { \
        snprintf(name, sizeof name, __VA_ARGS__); \
        (idx) = sl_params_add(P, pre, name, nd, d0, d1, 0, 0); \
        bad |= (idx) < 0; \
    } while (0)
    ADD(t->i_wte, 2, V, C, "%s", gpt ? "transformer.wte.weight" : "tok_embeddings.weight");
    if (cfg->pos == SL_POS_LEARNED)
        ADD(t->i_wpe, 2, cfg->max_seq_len, C, "%s", gpt ? "transformer.wpe.weight" : "pos_embeddings.weight");
    sl_attn_config ac;
    sl_transformer_attn_config(cfg, &ac);
    for (int l = 0; l < L && !bad; l++) {
        if (gpt) {
            ADD(t->i_n1w[l], 1, C, 0, "transformer.h.%d.ln_1.weight", l);
            if (lnb) ADD(t->i_n1b[l], 1, C, 0, "transformer.h.%d.ln_1.bias", l);
            snprintf(base, sizeof base, "%stransformer.h.%d.attn.", pre, l);
        } else {
            ADD(t->i_n1w[l], 1, C, 0, "layers.%d.attention_norm.weight", l);
            if (lnb) ADD(t->i_n1b[l], 1, C, 0, "layers.%d.attention_norm.bias", l);
            snprintf(base, sizeof base, "%slayers.%d.attention.", pre, l);
        }
        sl_model *att = NULL;
        if ((rc = sl_attn_create(&ac, P, base, &att)) || (l > 0 && (rc = sl_attn_share_workspace(att, m->children[0]))) ||
            (rc = sl_model_add_child(m, att))) {
            sl_model_free(att);
            sl_model_free(m);
            return rc;
        }
        if (gpt) {
            ADD(t->i_n2w[l], 1, C, 0, "transformer.h.%d.ln_2.weight", l);
            if (lnb) ADD(t->i_n2b[l], 1, C, 0, "transformer.h.%d.ln_2.bias", l);
            ADD(t->i_fc[l], 2, F, C, "transformer.h.%d.mlp.c_fc.weight", l);
            if (cfg->bias) ADD(t->i_fcb[l], 1, F, 0, "transformer.h.%d.mlp.c_fc.bias", l);
            if (cfg->swiglu) ADD(t->i_fc2[l], 2, F, C, "transformer.h.%d.mlp.c_fc2.weight", l);
            ADD(t->i_pj[l], 2, C, F, "transformer.h.%d.mlp.c_proj.weight", l);
            if (cfg->bias) ADD(t->i_pjb[l], 1, C, 0, "transformer.h.%d.mlp.c_proj.bias", l);
        } else {
            ADD(t->i_n2w[l], 1, C, 0, "layers.%d.ffn_norm.weight", l);
            if (lnb) ADD(t->i_n2b[l], 1, C, 0, "layers.%d.ffn_norm.bias", l);
            ADD(t->i_fc[l], 2, F, C, "layers.%d.feed_forward.w1.weight", l);
            if (cfg->bias) ADD(t->i_fcb[l], 1, F, 0, "layers.%d.feed_forward.w1.bias", l);
            ADD(t->i_pj[l], 2, C, F, "layers.%d.feed_forward.w2.weight", l);
            if (cfg->bias) ADD(t->i_pjb[l], 1, C, 0, "layers.%d.feed_forward.w2.bias", l);
            if (cfg->swiglu) ADD(t->i_fc2[l], 2, F, C, "layers.%d.feed_forward.w3.weight", l);
        }
    }
    if (!bad) {
        ADD(t->i_nfw, 1, C, 0, "%s", gpt ? "transformer.ln_f.weight" : "norm.weight");
        if (lnb) ADD(t->i_nfb, 1, C, 0, "%s", gpt ? "transformer.ln_f.bias" : "norm.bias");
        if (cfg->tie) t->i_head = t->i_wte;
        else ADD(t->i_head, 2, V, C, "%s", gpt ? "lm_head.weight" : "output.weight");
    }
#undef ADD
    if (bad) {
        sl_model_free(m);
        return SL_EINVAL;
    }
    if (cfg->pos == SL_POS_SINUSOIDAL) {
        t->sinus = malloc((size_t)cfg->max_seq_len * C * sizeof(float));
        if (!t->sinus) {
            sl_model_free(m);
            return sl_error(SL_ENOMEM, "out of memory");
        }
        /* Vaswani et al.: PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos(...) */
        for (int p = 0; p < cfg->max_seq_len; p++)
            for (int c = 0; c < C; c++) {
                double a = p / pow(10000.0, (double)(c & ~1) / C);
                t->sinus[(size_t)p * C + c] = (float)((c & 1) ? cos(a) : sin(a));
            }
    }
    *out = m;
    return SL_OK;
}

/* ---- loading PyTorch checkpoints -------------------------------------------------------- */

const char *sl_transformer_wte_name(const sl_model *m)
{
    return ((const tf_model *)m)->c.style == SL_TF_GPT ? "transformer.wte.weight" : "tok_embeddings.weight";
}

const char *sl_transformer_head_name(const sl_model *m)
{
    return ((const tf_model *)m)->c.style == SL_TF_GPT ? "lm_head.weight" : "output.weight";
}

static void build_lists(tf_model *t, int ignore_head)
{
    int k = 0;
    t->ignore[k++] = ".attn.bias";
    t->ignore[k++] = ".attn.masked_bias";
    t->ignore[k++] = "freqs_cos";
    t->ignore[k++] = "freqs_sin";
    if (ignore_head) {
        snprintf(t->ign_name, sizeof t->ign_name, "%s%s", t->pre, sl_transformer_head_name(&t->base));
        t->ignore[k++] = t->ign_name;
    }
    t->ignore[k] = NULL;
    t->alias[0] = t->alias[1] = t->alias[2] = NULL;
    if (!t->c.tie) {
        snprintf(t->alias_a, sizeof t->alias_a, "%s%s", t->pre, sl_transformer_head_name(&t->base));
        snprintf(t->alias_b, sizeof t->alias_b, "%s%s", t->pre, sl_transformer_wte_name(&t->base));
        t->alias[0] = t->alias_a;
        t->alias[1] = t->alias_b;
    }
}

const char *const *sl_transformer_load_ignore(const sl_model *m)
{
    if (!sl_transformer_is(m)) return NULL;
    build_lists((tf_model *)m, ((const tf_model *)m)->c.tie);
    return ((const tf_model *)m)->ignore;
}

const char *const *sl_transformer_load_alias(const sl_model *m)
{
    if (!sl_transformer_is(m)) return NULL;
    build_lists((tf_model *)m, ((const tf_model *)m)->c.tie);
    return ((const tf_model *)m)->alias;
}

int sl_transformer_load(sl_model *m, const char *path)
{
    if (!sl_transformer_is(m)) return sl_error(SL_EINVAL, "transformer load: not a gpt/llama model");
    tf_model *t = (tf_model *)m;
    build_lists(t, t->c.tie);
    int rc = sl_params_load(m->P, path, t->ignore, t->alias);
    if (rc || !t->c.tie) return rc;
    /* tied: a head in the file must equal the embedding, or the checkpoint was untied */
    sl_safetensors *st = NULL;
    if ((rc = sl_safetensors_read(path, &st))) return rc;
    const sl_st_tensor *h = sl_safetensors_find(st, t->ign_name);
    if (h) {
        const size_t n = (size_t)t->V * t->C;
        float *buf = malloc(n * sizeof(float));
        if (!buf) {
            sl_safetensors_free(st);
            return sl_error(SL_ENOMEM, "out of memory");
        }
        rc = sl_safetensors_get_f32(st, h, buf, n);
        if (!rc && memcmp(buf, D(t, t->i_wte), n * sizeof(float)) != 0)
            rc = sl_error(SL_EFORMAT, "'%s': %s differs from %s: the checkpoint has an untied head (create the model with tie=0)",
                          path, h->name, sl_transformer_wte_name(m));
        free(buf);
    }
    sl_safetensors_free(st);
    return rc;
}
