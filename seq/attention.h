/* seq/attention.h — the attention mixer (seq/attention.c) over the kernels of
 * seq/attention_kernels.h (naive and flash; their equations are there).
 *
 * The attention mixer (a sequence model, real -> real of width d_model) adds the projections,
 * rotary positions, dropout and a KV cache for step mode. Variants by configuration:
 *   MHA / MQA / GQA  n_kv_head = n_head / 1 / a divisor of n_head
 *   MLA (DeepSeek-V2) kv_lora_rank > 0: keys and values come from a shared latent
 *     c = RMSNorm(W_dkv x) of width kv_lora_rank, expanded per head by kv_b_proj, plus a
 *     decoupled RoPE key part (qk_rope_head_dim wide) shared by all heads; the KV cache holds
 *     only c and the RoPE key. Step mode uses the "absorbed" form: scores q_nope^T W_uk c_t
 *     are computed as (W_uk^T q_nope) . c_t and the output as W_uv (sum_t p_t c_t), so the
 *     cached latents are never expanded.
 * RoPE (Su et al.): pairs (x[2i], x[2i+1]) of each head rotate by pos * theta^(-2i/d), the
 * interleaved convention of Meta's LLaMA and llama2.c.
 *
 * Parameter names under the mixer's prefix:
 *   names=gpt    c_attn.weight ((Hq+2Hkv)*hd, C) [c_attn.bias], c_proj.weight (C, Hq*hd) [c_proj.bias]
 *   names=llama  wq.weight (Hq*hd, C), wk.weight (Hkv*hd, C), wv.weight (Hkv*hd, C), wo.weight (C, Hq*hd)
 *                [wq.bias, ..., wo.bias when bias=1]
 *   MLA (either) q_proj.weight (Hq*(dn+dr), C)  or  q_a_proj.weight (rq, C), q_a_layernorm.weight (rq),
 *                q_b_proj.weight (Hq*(dn+dr), rq);  kv_a_proj_with_mqa.weight (r+dr, C),
 *                kv_a_layernorm.weight (r), kv_b_proj.weight (Hq*(dn+dv), r), o_proj.weight (C, Hq*dv)
 *                (DeepSeek-V2's modeling names).
 */
#ifndef SL_SEQ_ATTENTION_H
#define SL_SEQ_ATTENTION_H

#include "seq/attention_kernels.h"
#include "seq/model.h"
#include "seq/spec.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rotary embedding of one row of n_head heads, each `stride` floats apart, rotating the first
 * `dim` (even) values of each head at position pos; cs holds cos/sin (dim/2 pairs) for that
 * position. inverse=1 rotates by -angle (the backward pass). */
void sl_rope_row(float *x, int n_head, int stride, int dim, const float *cos_t, const float *sin_t, int inverse);
/* Tables (max_len, dim/2): angle = pos * theta^(-2i/dim), computed as llama2.c does in float. */
int sl_rope_tables(float **cos_out, float **sin_out, int max_len, int dim, float theta);

/* ---- the attention mixer -------------------------------------------------------------------- */

enum { SL_ATTN_NAMES_GPT = 0, SL_ATTN_NAMES_LLAMA = 1 };

typedef struct {
    int d_model;
    int n_head;
    int n_kv_head; /* 0: = n_head (MHA); 1: MQA; a divisor of n_head: GQA */
    int bias;      /* projections have biases */
    int causal;    /* 0: bidirectional (sequence mode only) */
    int rope;      /* rotary positions on q and k */
    float rope_theta;
    int max_seq_len; /* KV-cache capacity and RoPE table length */
    int flash;       /* 1 flash kernel, 0 naive */
    float dropout;   /* on the attention probabilities (naive kernel) and on the output */
    int names;       /* SL_ATTN_NAMES_GPT or SL_ATTN_NAMES_LLAMA */
    /* MLA (kv_lora_rank > 0) */
    int kv_lora_rank, q_lora_rank;
    int qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    float norm_eps; /* MLA's latent RMSNorms */
} sl_attn_config;

/* The `attention` spec's keys, bound to sl_attn_config's fields (seq/spec.h): the one source
 * of the defaults (MHA, no bias, causal, flash, theta 10000, max_seq_len 1024, gpt names, MLA
 * head dims 16/8/16), of parsing, of validation and of `seqlab list`. */
extern const sl_spec_key sl_attn_keys[];
/* The MLA keys, bound to the same-named fields of struct T (attention's and the transformer's) */
#define SL_ATTN_MLA_KEYS(T) \
    SL_KEY_INT(T, kv_lora_rank, "kv_lora_rank", "0", 0, 1 << 16, "MLA latent width (DeepSeek-V2); 0 = standard attention"), \
        SL_KEY_INT(T, q_lora_rank, "q_lora_rank", "0", 0, 1 << 16, "MLA low-rank query width; 0 = full-rank query projection"), \
        SL_KEY_INT(T, qk_nope_head_dim, "qk_nope_head_dim", "16", 0, 1 << 16, "MLA per-head query/key width without RoPE"), \
        SL_KEY_INT(T, qk_rope_head_dim, "qk_rope_head_dim", "8", 0, 1 << 16, \
                   "MLA decoupled RoPE key width (shared by all heads)"), \
        SL_KEY_INT(T, v_head_dim, "v_head_dim", "16", 1, 1 << 16, "MLA per-head value width")

/* The table's defaults, then d_model and n_head. */
void sl_attn_config_default(sl_attn_config *c, int d_model, int n_head);
int sl_attn_config_check(const sl_attn_config *c);

int sl_attn_create(const sl_attn_config *cfg, sl_params *P, const char *prefix, sl_model **out);
/* From a spec already checked against sl_attn_keys. */
int sl_attn_create_spec(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out);

/* Bytes of KV cache one token costs in one layer (float32): MHA/GQA/MQA 2 * n_kv_head * hd * 4,
 * MLA (kv_lora_rank + qk_rope_head_dim) * 4. */
size_t sl_attn_kv_bytes_per_token(const sl_attn_config *cfg);

/* The output projection's tensor index (for the scaled init of GPT-2/llama2.c), or -1. */
int sl_attn_out_proj_index(const sl_model *m);
/* 1 if m is an attention mixer */
int sl_attn_is(const sl_model *m);
/* dst uses src's scratch buffers (projections before the head split, backward temporaries),
 * so a stack of layers that run one after another keeps one set instead of one per layer.
 * src must outlive dst's last forward/backward. */
int sl_attn_share_workspace(sl_model *dst, sl_model *src);
/* Batch slices: the attention mixer implements seq/model.h's slice_* entries (standard
 * attention, not MLA, and no active dropout: sl_model_slice_ok), which the transformer runs one
 * per thread through sl_model_forward_slices / sl_model_backward_slices. */
/* The position the next step will take (number of tokens in the cache). */
int sl_attn_state_pos(const void *state);
/* Bytes allocated for the state's KV cache (K and V, or MLA's latent and RoPE keys). */
size_t sl_attn_state_kv_bytes(const void *state);

#ifdef __cplusplus
}
#endif
#endif
