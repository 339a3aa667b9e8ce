/* lab/reg_transformer.c — registry entries of the transformer family:
 *   attention  the attention mixer (is_mixer; width key d_model), for lm:mixer=attention
 *   gpt        nanoGPT's GPT (GPTConfig keys), parameter names of nanoGPT's state_dict
 *   llama      llama2.c's Transformer (ModelArgs keys), parameter names of llama2.c's model.py
 * The key tables, bound to the models' configuration structs, are the models' own
 * (seq/attention.c, seq/transformer.c). */
#include "lab/registry.h"
#include "seq/attention.h"
#include "seq/transformer.h"

const sl_model_entry sl_models_transformer[] = {
    {.name = "attention",
     .family = "transformer",
     .help = "causal self-attention mixer: MHA/MQA/GQA (n_kv_head), MLA (kv_lora_rank), RoPE, flash or naive kernel",
     .keys = sl_attn_keys,
     .is_mixer = 1,
     .width_key = "d_model",
     .out_key = NULL,
     .create = sl_attn_create_spec},
    {.name = "gpt",
     .family = "transformer",
     .help = "nanoGPT's GPT (GPTConfig keys, nanoGPT state_dict names)",
     .keys = sl_gpt_keys,
     .create = sl_gpt_create_spec},
    {.name = "llama",
     .family = "transformer",
     .help = "LLaMA-style decoder as llama2.c (ModelArgs keys; RMSNorm, RoPE, SwiGLU, GQA)",
     .keys = sl_llama_keys,
     .create = sl_llama_create_spec},
    {0},
};
