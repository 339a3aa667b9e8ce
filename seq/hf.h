/* seq/hf.h — GPT-2 and Llama checkpoints in the Hugging Face layout, read into seqlab's gpt and
 * llama transformers (seq/transformer.h) and written from them.
 *
 * A checkpoint is a directory: config.json plus model.safetensors, or
 * model.safetensors.index.json ({"weight_map": {tensor: shard file}}) and its shards.
 *
 * GPT-2 (model_type "gpt2", GPT2LMHeadModel): seqlab's gpt names are HF's, so the tensors keep
 * their names; HF's Conv1D layers store their weights as (in, out), the transpose of
 * nn.Linear's (out, in) that seqlab keeps:
 *   transformer.wte.weight (V,C)  transformer.wpe.weight (n_positions,C)
 *   transformer.h.{l}.ln_1.{weight,bias}  .attn.c_attn.weight (C,3C)^T  .attn.c_attn.bias (3C)
 *   .attn.c_proj.weight (C,C)^T  .ln_2  .mlp.c_fc.weight (C,F)^T  .mlp.c_proj.weight (F,C)^T (+ biases)
 *   transformer.ln_f.{weight,bias}  lm_head.weight (V,C) (absent or equal to wte when tied)
 * A file saved from GPT2Model (no "transformer." prefix: "h.0.ln_1.weight") is read too.
 * config.json: n_embd, n_layer, n_head, n_positions, vocab_size, n_inner (null = 4 n_embd),
 * layer_norm_epsilon, activation_function (gelu_new / gelu_pytorch_tanh / gelu_fast: gelu=tanh;
 * gelu: gelu=erf), tie_word_embeddings. Refused by name: scale_attn_weights false,
 * scale_attn_by_inverse_layer_idx true, add_cross_attention true, any other activation.
 *
 * Llama (model_type "llama", LlamaForCausalLM), names mapped to llama2.c's:
 *   model.embed_tokens <-> tok_embeddings, model.layers.{l}.input_layernorm <-> layers.{l}.attention_norm,
 *   self_attn.{q,k,v,o}_proj <-> attention.{wq,wk,wv,wo}, post_attention_layernorm <-> ffn_norm,
 *   mlp.gate_proj <-> feed_forward.w1, mlp.down_proj <-> w2, mlp.up_proj <-> w3,
 *   model.norm <-> norm, lm_head <-> output (tie_word_embeddings: absent or equal to the embedding).
 * HF's conversion from Meta's checkpoints permutes the rows of q_proj and k_proj inside each head
 * so that its rotate_half RoPE (pairs (j, j + hd/2)) computes what Meta's interleaved RoPE (pairs
 * (2j, 2j+1), seqlab's) computes on the original rows: HF row h*hd + s*hd/2 + j is Meta row
 * h*hd + 2j + s (s = 0, 1; heads of q: num_attention_heads, of k: num_key_value_heads). Reading
 * undoes it, writing applies it; both are exact.
 * config.json: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads (GQA; null = num_attention_heads), rms_norm_eps, rope_theta,
 * max_position_embeddings, vocab_size, tie_word_embeddings, hidden_act (silu only), head_dim
 * (null or hidden_size / num_attention_heads). Refused by name: rope_scaling, attention_bias,
 * mlp_bias, any other hidden_act or head_dim.
 *
 * Absent config keys take the defaults of transformers' GPT2Config / LlamaConfig. Reading is
 * strict: every tensor the configuration implies must be there with its shape (float32, float16,
 * bfloat16 or float64, finite), and every tensor of the files must be used (the causal-mask
 * buffers attn.bias / attn.masked_bias and rotary_emb.inv_freq excepted), so a config.json that
 * disagrees with the weights (layers, widths, vocabulary, tying) is an error naming the tensor.
 * Writing gives float32 and {"format": "pt"} metadata, as save_pretrained does.
 */
#ifndef SL_SEQ_HF_H
#define SL_SEQ_HF_H

#include "seq/transformer.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SL_HF_GPT2 = 1, SL_HF_LLAMA = 2 };

typedef struct {
    int arch;                /* SL_HF_GPT2 or SL_HF_LLAMA */
    sl_transformer_config c; /* the seqlab model that computes the same function */
} sl_hf_config;

/* DIR/config.json -> the architecture and the transformer configuration. */
int sl_hf_config_read(const char *dir, sl_hf_config *cfg);

/* The gpt:... or llama:... spec that builds cfg's model (caller frees; NULL when out of memory). */
char *sl_hf_spec(const sl_hf_config *cfg);

/* Build the model of DIR's config.json (it owns its parameter table; m->spec is sl_hf_spec's)
 * and read DIR's weights into it. max_ctx > 0 builds a RoPE model for at most max_ctx positions
 * (its RoPE tables and step-mode KV cache grow with the context; learned positions keep
 * n_positions). */
int sl_hf_load(const char *dir, int max_ctx, sl_model **out);

/* The HF layout a gpt/llama model can be written in (SL_HF_GPT2 / SL_HF_LLAMA), or SL_EUNSUPPORTED
 * naming what has no counterpart (RoPE or RMSNorm in a gpt, MLA, biases in a llama, ...).
 * A gpt without biases is written with zero biases (GPT-2 always has them). */
int sl_hf_arch_of(const sl_model *m);

/* Write m as DIR/config.json and DIR/model.safetensors (atomically each; DIR is created). */
int sl_hf_save(const sl_model *m, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
