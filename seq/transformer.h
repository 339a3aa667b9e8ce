/* seq/transformer.h — decoder-only transformers: GPT (nanoGPT) and LLaMA (llama2.c) styles.
 *
 *   h_0 = drop(wte[tok] + pos)                       pos: learned wpe[t], sinusoidal, or none
 *   for each layer l:                                (RoPE instead rotates q, k inside attention)
 *     m   = h_l + attn(norm_1(h_l))                  attention with its output dropout
 *     h_{l+1} = m + drop(mlp(norm_2(m)))             mlp: W2 gelu(W1 x + b1) + b2 (gelu: erf or tanh), or SwiGLU
 *   logits = norm_f(h_L) head^T                      head = wte when tied   W2 (silu(W1 x) * (W3 x))
 * norm: LayerNorm (with or without bias) or RMSNorm. Pre-norm blocks as in GPT-2 and LLaMA.
 *
 * Parameter names
 *   gpt:   transformer.wte.weight (V,C)  transformer.wpe.weight (block_size,C)
 *          transformer.h.{l}.ln_1.{weight,bias}  transformer.h.{l}.attn.{c_attn,c_proj}.{weight,bias}
 *          transformer.h.{l}.ln_2.{weight,bias}  transformer.h.{l}.mlp.c_fc.{weight,bias} (4C,C)
 *          transformer.h.{l}.mlp.c_proj.{weight,bias} (C,4C)  [SwiGLU adds mlp.c_fc2 (the "up" half)]
 *          transformer.ln_f.{weight,bias}  lm_head.weight (V,C) only when untied
 *   llama: tok_embeddings.weight  layers.{l}.attention_norm.weight  layers.{l}.attention.{wq,wk,wv,wo}.weight
 *          layers.{l}.ffn_norm.weight  layers.{l}.feed_forward.{w1,w2,w3}.weight  norm.weight
 *          output.weight only when untied  [pos_embeddings.weight with learned positions]
 *   MLA attention (kv_lora_rank > 0) uses DeepSeek-V2's names under ...attn. / ...attention.
 *
 * Init (nanoGPT's _init_weights / llama2.c's): every weight N(0, 0.02), biases 0, norm gains 1,
 * the residual output projections N(0, 0.02/sqrt(2 n_layer)) (gpt: every c_proj.weight;
 * llama: wo.weight and w3.weight, as llama2.c does).
 *
 * Step mode keeps a KV cache of max_seq_len positions per layer (see seq/attention.h).
 */
#ifndef SL_SEQ_TRANSFORMER_H
#define SL_SEQ_TRANSFORMER_H

#include "seq/attention.h"
#include "seq/layers.h"
#include "seq/model.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SL_TF_GPT = 0, SL_TF_LLAMA = 1 };
enum { SL_POS_LEARNED = 0, SL_POS_SINUSOIDAL = 1, SL_POS_ROPE = 2, SL_POS_NONE = 3 };

typedef struct {
    int style; /* SL_TF_GPT or SL_TF_LLAMA: parameter names and init */
    int vocab_size, d_model, n_layer, n_head, n_kv_head;
    int max_seq_len; /* block_size */
    int hidden_dim;  /* MLP width */
    int pos;         /* SL_POS_* */
    int rmsnorm;     /* 0: LayerNorm */
    int bias;        /* biases in linears and LayerNorms */
    int swiglu;      /* 0: GELU MLP */
    int gelu_tanh;   /* the GELU MLP's GELU: 0 erf (exact, nanoGPT), 1 tanh form (GPT-2's gelu_new) */
    int tie;         /* head shares the token embedding */
    int flash;       /* attention kernel */
    float dropout, norm_eps, rope_theta;
    int kv_lora_rank, q_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim; /* MLA */
} sl_transformer_config;

int sl_transformer_create(const sl_transformer_config *cfg, sl_params *P, const char *prefix, sl_model **out);
/* The `gpt` (nanoGPT GPTConfig) and `llama` (llama2.c ModelArgs) specs: key tables bound to
 * sl_transformer_config (seq/spec.h), their defaults (the original models') and constructors
 * from specs already checked against the tables. hidden_dim 0 becomes 4 n_embd (gpt) or
 * llama2.c's rule from dim and multiple_of (llama). */
extern const sl_spec_key sl_gpt_keys[], sl_llama_keys[];
void sl_gpt_config_default(sl_transformer_config *c);
void sl_llama_config_default(sl_transformer_config *c);
int sl_gpt_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);
int sl_llama_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);
int sl_transformer_is(const sl_model *m);
const sl_transformer_config *sl_transformer_config_of(const sl_model *m);

/* The attention configuration of one layer. */
void sl_transformer_attn_config(const sl_transformer_config *c, sl_attn_config *a);
/* KV-cache bytes per token over all layers. */
size_t sl_transformer_kv_bytes_per_token(const sl_transformer_config *c);

/* llama2.c's MLP width rule: hidden = multiple_of * ceil((2 * 4 dim / 3) / multiple_of). */
int sl_llama_hidden_dim(int dim, int multiple_of);

/* Batch slices (the default training/inference path when it applies): forward and backward
 * split the batch into k contiguous ranges of sequences and run each range on its own thread
 * from start to end (embedding, every layer, head), all matrix products single-threaded inside
 * a range; parameter gradients of range s > 0 go to a private copy of the gradient block, added
 * to P->grad in range order at the end. So there is one parallel region per forward and one per
 * backward instead of one (or an OpenBLAS fork) per operation. It applies to standard attention
 * (not MLA) without active dropout; otherwise the per-operation path (the reference) runs.
 *   slices = 0 (default): k = the OpenMP thread count if the batch has at least that many
 *                          sequences (1 thread: k = 1), else the reference path;
 *   slices > 0:           k = min(slices, B) whatever the thread count (tests);
 *   slices < 0:           always the reference path.
 * Results depend on k only through float rounding (summation order of the weight gradients):
 * the same thread count gives bitwise identical runs. */
void sl_transformer_set_slices(sl_model *m, int slices);
/* The MLP's GELU and the LayerNorm fast paths (sl_gelu_fast_*, sl_layernorm_fast_*) are in
 * seq/layers.h beside their references. */

/* Load weights saved by PyTorch under nanoGPT / llama2.c state_dict names. The causal-mask
 * buffers (attn.bias, attn.masked_bias) and freqs_cos/freqs_sin are ignored. For a tied model
 * a head in the file (lm_head.weight / output.weight) is accepted only if it equals the
 * embedding; for an untied model a file without a head ties it (the embedding is copied). */
int sl_transformer_load(sl_model *m, const char *path);

/* The ignore / alias lists sl_transformer_load passes to sl_params_load (for callers that load
 * by themselves). */
const char *const *sl_transformer_load_ignore(const sl_model *m);
const char *const *sl_transformer_load_alias(const sl_model *m);

/* Tensor names of the embedding and the head for the style ("transformer.wte.weight", ...). */
const char *sl_transformer_wte_name(const sl_model *m);
const char *sl_transformer_head_name(const sl_model *m);

#ifdef __cplusplus
}
#endif
#endif
