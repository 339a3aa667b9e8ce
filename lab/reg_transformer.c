/* lab/reg_transformer.c — registry entries of the transformer family:
 *   attention  the attention mixer (is_mixer; width key d_model), for lm:mixer=attention
 *   gpt        nanoGPT's GPT (GPTConfig keys), parameter names of nanoGPT's state_dict
 *   llama      llama2.c's Transformer (ModelArgs keys), parameter names of llama2.c's model.py
 * gpt and llama accept the same extra keys (attention variant, positions, norm, MLP), so either
 * naming can hold any of the architectures; their defaults are the original models'. */
#include "lab/registry.h"
#include "core/error.h"
#include "seq/attention.h"
#include "seq/transformer.h"

#include <string.h>

#define MLA_KEYS \
    {"kv_lora_rank", 'i', "0", 0, 1 << 16, "MLA latent width (DeepSeek-V2); 0 = standard attention"}, \
    {"q_lora_rank", 'i', "0", 0, 1 << 16, "MLA low-rank query width; 0 = full-rank query projection"}, \
    {"qk_nope_head_dim", 'i', "16", 0, 1 << 16, "MLA per-head query/key width without RoPE"}, \
    {"qk_rope_head_dim", 'i', "8", 0, 1 << 16, "MLA decoupled RoPE key width (shared by all heads)"}, \
    {"v_head_dim", 'i', "16", 1, 1 << 16, "MLA per-head value width"}

static const sl_spec_key attention_keys[] = {
    {"d_model", 'i', "64", 1, 1 << 20, "input/output width"},
    {"n_head", 'i', "4", 1, 4096, "query heads"},
    {"n_kv_head", 'i', "0", 0, 4096, "key/value heads: 0 = n_head (MHA), 1 = MQA, a divisor of n_head = GQA"},
    {"bias", 'b', "0", 0, 1, "biases in the projections"},
    {"causal", 'b', "1", 0, 1, "causal mask (0: bidirectional, sequence mode only)"},
    {"rope", 'b', "0", 0, 1, "rotary position embedding on queries and keys"},
    {"rope_theta", 'f', "10000", 1, 1e9, "RoPE base"},
    {"max_seq_len", 'i', "1024", 1, 1 << 24, "longest sequence; KV-cache capacity in step mode"},
    {"kernel", 's', "flash", 0, 0, "flash (tiled, online softmax, O(T) memory) or naive (O(T^2))"},
    {"dropout", 'f', "0", 0, 0.999, "dropout on attention probabilities (naive kernel) and output"},
    {"names", 's', "gpt", 0, 0, "parameter names: gpt (c_attn, c_proj) or llama (wq, wk, wv, wo)"},
    MLA_KEYS,
    {"norm_eps", 'f', "1e-6", 1e-12, 1, "epsilon of MLA's latent RMSNorms"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define EXTRA_KEYS(POS, NORM, MLP, BIAS) \
    {"pos", 's', POS, 0, 0, "positions: learned, sinusoidal, rope or none"}, \
    {"norm", 's', NORM, 0, 0, "layernorm or rmsnorm"}, \
    {"mlp", 's', MLP, 0, 0, "gelu (W2 gelu(W1 x)) or swiglu (W2 (silu(W1 x) * W3 x))"}, \
    {"tie", 'b', "1", 0, 1, "output head shares the token embedding"}, \
    {"kernel", 's', "flash", 0, 0, "attention kernel: flash or naive"}, \
    {"rope_theta", 'f', "10000", 1, 1e9, "RoPE base"}, \
    MLA_KEYS

static const sl_spec_key gpt_keys[] = {
    {"n_layer", 'i', "12", 0, 1024, "transformer blocks"},
    {"n_head", 'i', "12", 1, 4096, "attention heads"},
    {"n_embd", 'i', "768", 1, 1 << 16, "residual stream width"},
    {"block_size", 'i', "1024", 1, 1 << 24, "context length (positions)"},
    {"vocab_size", 'i', "50304", 1, 1 << 24, "vocabulary size"},
    {"dropout", 'f', "0", 0, 0.999, "dropout (embeddings, attention, residual branches)"},
    {"bias", 'b', "1", 0, 1, "biases in linears and LayerNorms"},
    {"n_kv_head", 'i', "0", 0, 4096, "key/value heads (0 = n_head; 1 = MQA; divisor = GQA)"},
    {"norm_eps", 'f', "1e-5", 1e-12, 1, "epsilon of the norms"},
    {"hidden_dim", 'i', "0", 0, 1 << 20, "MLP width (0 = 4 n_embd)"},
    EXTRA_KEYS("learned", "layernorm", "gelu", "1"),
    {NULL, 0, NULL, 0, 0, NULL},
};

static const sl_spec_key llama_keys[] = {
    {"dim", 'i', "4096", 1, 1 << 16, "residual stream width"},
    {"n_layers", 'i', "32", 0, 1024, "transformer blocks"},
    {"n_heads", 'i', "32", 1, 4096, "query heads"},
    {"n_kv_heads", 'i', "0", 0, 4096, "key/value heads (0 = n_heads, as ModelArgs' None)"},
    {"vocab_size", 'i', "32000", 1, 1 << 24, "vocabulary size"},
    {"hidden_dim", 'i', "0", 0, 1 << 20, "SwiGLU width (0 = llama2.c's rule from dim and multiple_of)"},
    {"multiple_of", 'i', "256", 1, 1 << 16, "hidden_dim is rounded up to a multiple of this"},
    {"norm_eps", 'f', "1e-5", 1e-12, 1, "RMSNorm epsilon"},
    {"max_seq_len", 'i', "2048", 1, 1 << 24, "context length"},
    {"dropout", 'f', "0", 0, 0.999, "dropout"},
    {"bias", 'b', "0", 0, 1, "biases in linears (and LayerNorms)"},
    EXTRA_KEYS("rope", "rmsnorm", "swiglu", "0"),
    {NULL, 0, NULL, 0, 0, NULL},
};

static int get_kernel(const sl_spec *s, const sl_spec_key *tab, int *flash)
{
    const char *k;
    int rc = sl_spec_str(s, tab, "kernel", &k);
    if (rc) return rc;
    if (!strcmp(k, "flash")) *flash = 1;
    else if (!strcmp(k, "naive")) *flash = 0;
    else return sl_error(SL_EINVAL, "%s: kernel must be flash or naive, not '%s'", s->name, k);
    return SL_OK;
}

static int get_mla(const sl_spec *s, const sl_spec_key *tab, int *r, int *rq, int *dn, int *dr, int *dv)
{
    int rc;
    if ((rc = sl_spec_int(s, tab, "kv_lora_rank", r)) || (rc = sl_spec_int(s, tab, "q_lora_rank", rq)) ||
        (rc = sl_spec_int(s, tab, "qk_nope_head_dim", dn)) || (rc = sl_spec_int(s, tab, "qk_rope_head_dim", dr)) ||
        (rc = sl_spec_int(s, tab, "v_head_dim", dv)))
        return rc;
    return SL_OK;
}

static int attention_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    const sl_spec_key *k = attention_keys;
    sl_attn_config c;
    int d, h, rc;
    double theta, drop, eps;
    const char *names;
    if ((rc = sl_spec_int(s, k, "d_model", &d)) || (rc = sl_spec_int(s, k, "n_head", &h))) return rc;
    sl_attn_config_default(&c, d, h);
    if ((rc = sl_spec_int(s, k, "n_kv_head", &c.n_kv_head)) || (rc = sl_spec_bool(s, k, "bias", &c.bias)) ||
        (rc = sl_spec_bool(s, k, "causal", &c.causal)) || (rc = sl_spec_bool(s, k, "rope", &c.rope)) ||
        (rc = sl_spec_float(s, k, "rope_theta", &theta)) || (rc = sl_spec_int(s, k, "max_seq_len", &c.max_seq_len)) ||
        (rc = get_kernel(s, k, &c.flash)) || (rc = sl_spec_float(s, k, "dropout", &drop)) ||
        (rc = sl_spec_str(s, k, "names", &names)) || (rc = sl_spec_float(s, k, "norm_eps", &eps)) ||
        (rc = get_mla(s, k, &c.kv_lora_rank, &c.q_lora_rank, &c.qk_nope_head_dim, &c.qk_rope_head_dim, &c.v_head_dim)))
        return rc;
    c.rope_theta = (float)theta;
    c.dropout = (float)drop;
    c.norm_eps = (float)eps;
    if (!strcmp(names, "gpt")) c.names = SL_ATTN_NAMES_GPT;
    else if (!strcmp(names, "llama")) c.names = SL_ATTN_NAMES_LLAMA;
    else return sl_error(SL_EINVAL, "attention: names must be gpt or llama, not '%s'", names);
    return sl_attn_create(&c, P, prefix, out);
}

static int extra_keys(const sl_spec *s, const sl_spec_key *k, sl_transformer_config *c)
{
    const char *pos, *norm, *mlp;
    double theta;
    int rc;
    if ((rc = sl_spec_str(s, k, "pos", &pos)) || (rc = sl_spec_str(s, k, "norm", &norm)) ||
        (rc = sl_spec_str(s, k, "mlp", &mlp)) || (rc = sl_spec_bool(s, k, "tie", &c->tie)) ||
        (rc = get_kernel(s, k, &c->flash)) || (rc = sl_spec_float(s, k, "rope_theta", &theta)) ||
        (rc = get_mla(s, k, &c->kv_lora_rank, &c->q_lora_rank, &c->qk_nope_head_dim, &c->qk_rope_head_dim, &c->v_head_dim)))
        return rc;
    c->rope_theta = (float)theta;
    if (!strcmp(pos, "learned")) c->pos = SL_POS_LEARNED;
    else if (!strcmp(pos, "sinusoidal")) c->pos = SL_POS_SINUSOIDAL;
    else if (!strcmp(pos, "rope")) c->pos = SL_POS_ROPE;
    else if (!strcmp(pos, "none")) c->pos = SL_POS_NONE;
    else return sl_error(SL_EINVAL, "%s: pos must be learned, sinusoidal, rope or none, not '%s'", s->name, pos);
    if (!strcmp(norm, "layernorm")) c->rmsnorm = 0;
    else if (!strcmp(norm, "rmsnorm")) c->rmsnorm = 1;
    else return sl_error(SL_EINVAL, "%s: norm must be layernorm or rmsnorm, not '%s'", s->name, norm);
    if (!strcmp(mlp, "gelu")) c->swiglu = 0;
    else if (!strcmp(mlp, "swiglu")) c->swiglu = 1;
    else return sl_error(SL_EINVAL, "%s: mlp must be gelu or swiglu, not '%s'", s->name, mlp);
    return SL_OK;
}

static int gpt_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    const sl_spec_key *k = gpt_keys;
    sl_transformer_config c = {0};
    double drop, eps;
    int rc;
    c.style = SL_TF_GPT;
    if ((rc = sl_spec_int(s, k, "n_layer", &c.n_layer)) || (rc = sl_spec_int(s, k, "n_head", &c.n_head)) ||
        (rc = sl_spec_int(s, k, "n_embd", &c.d_model)) || (rc = sl_spec_int(s, k, "block_size", &c.max_seq_len)) ||
        (rc = sl_spec_int(s, k, "vocab_size", &c.vocab_size)) || (rc = sl_spec_float(s, k, "dropout", &drop)) ||
        (rc = sl_spec_bool(s, k, "bias", &c.bias)) || (rc = sl_spec_int(s, k, "n_kv_head", &c.n_kv_head)) ||
        (rc = sl_spec_float(s, k, "norm_eps", &eps)) || (rc = sl_spec_int(s, k, "hidden_dim", &c.hidden_dim)) ||
        (rc = extra_keys(s, k, &c)))
        return rc;
    c.dropout = (float)drop;
    c.norm_eps = (float)eps;
    if (!c.hidden_dim) c.hidden_dim = 4 * c.d_model;
    return sl_transformer_create(&c, P, prefix, out);
}

static int llama_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    const sl_spec_key *k = llama_keys;
    sl_transformer_config c = {0};
    double drop, eps;
    int rc, mult;
    c.style = SL_TF_LLAMA;
    if ((rc = sl_spec_int(s, k, "dim", &c.d_model)) || (rc = sl_spec_int(s, k, "n_layers", &c.n_layer)) ||
        (rc = sl_spec_int(s, k, "n_heads", &c.n_head)) || (rc = sl_spec_int(s, k, "n_kv_heads", &c.n_kv_head)) ||
        (rc = sl_spec_int(s, k, "vocab_size", &c.vocab_size)) || (rc = sl_spec_int(s, k, "hidden_dim", &c.hidden_dim)) ||
        (rc = sl_spec_int(s, k, "multiple_of", &mult)) || (rc = sl_spec_float(s, k, "norm_eps", &eps)) ||
        (rc = sl_spec_int(s, k, "max_seq_len", &c.max_seq_len)) || (rc = sl_spec_float(s, k, "dropout", &drop)) ||
        (rc = sl_spec_bool(s, k, "bias", &c.bias)) || (rc = extra_keys(s, k, &c)))
        return rc;
    c.dropout = (float)drop;
    c.norm_eps = (float)eps;
    if (!c.hidden_dim) c.hidden_dim = sl_llama_hidden_dim(c.d_model, mult);
    return sl_transformer_create(&c, P, prefix, out);
}

const sl_model_entry sl_models_transformer[] = {
    {.name = "attention", .family = "transformer",
     .help = "causal self-attention mixer: MHA/MQA/GQA (n_kv_head), MLA (kv_lora_rank), RoPE, flash or naive kernel",
     .keys = attention_keys, .is_mixer = 1, .width_key = "d_model", .out_key = NULL, .create = attention_create},
    {.name = "gpt", .family = "transformer", .help = "nanoGPT's GPT (GPTConfig keys, nanoGPT state_dict names)",
     .keys = gpt_keys, .create = gpt_create},
    {.name = "llama", .family = "transformer",
     .help = "LLaMA-style decoder as llama2.c (ModelArgs keys; RMSNorm, RoPE, SwiGLU, GQA)",
     .keys = llama_keys, .create = llama_create},
    {0},
};
