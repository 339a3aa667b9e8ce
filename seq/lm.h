/* seq/lm.h — the generic wrapper that makes any mixer a sequence model.
 *
 *   token mode (vocab_size > 0):  tok -> embedding -> N x [h += proj?(mixer(norm(h)))] -> norm_f -> head -> logits
 *   real mode  (vocab_size == 0): x (d_input) -> in_proj -> N residual blocks -> norm_f -> head -> y (d_output)
 *
 * Pre-norm residual blocks as in MambaLMHeadModel (RMSNorm by default, LayerNorm optional).
 * The wrapper is handed already-built mixers (lab/ builds them from spec strings), so it knows
 * only the sequence interface. A mixer whose output width differs from d_model (a
 * bidirectional RNN, say) gets a linear projection back to d_model.
 *
 * Parameter names (token mode follows mamba_ssm's MambaLMHeadModel):
 *   backbone.embedding.weight (V, C)          backbone.in_proj.{weight (C, d_input), bias}
 *   backbone.position_embeddings.weight (P, C) only with max_position_embeddings = P > 0: learned
 *                                             absolute positions added to the input (Zoology's
 *                                             name; GPT's wpe), so an attention mixer knows where
 *                                             a token is; sequences longer than P are refused
 *   backbone.layers.{i}.norm.weight (C) [.bias for LayerNorm]
 *   backbone.layers.{i}.mixer.*               backbone.layers.{i}.proj.weight (C, d_mixer_out)
 *   backbone.norm_f.weight (C) [.bias]        lm_head.weight (V, C) unless tied; head.{weight, bias}
 */
#ifndef SL_SEQ_LM_H
#define SL_SEQ_LM_H

#include "seq/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int vocab_size;        /* > 0: token model */
    int d_input, d_output; /* real mode */
    int d_model, n_layer;
    int rmsnorm;                 /* 1 RMSNorm, 0 LayerNorm (with bias) */
    int tie_embeddings;          /* token mode: head shares the embedding matrix */
    int max_position_embeddings; /* > 0: learned absolute positions for up to this many steps */
    float norm_eps;
} sl_lm_config;

/* mixers[0..n_layer) must already be declared in P under prefix "backbone.layers.{i}.mixer."
 * (relative to `prefix`); the wrapper takes ownership of them. */
int sl_lm_create(const sl_lm_config *cfg, sl_model *const *mixers, sl_params *P, const char *prefix, sl_model **out);

/* The wrapper's token embedding (V, C) pointer and sizes, for initialisation from word
 * vectors; SL_EUNSUPPORTED for real-mode wrappers. */
int sl_lm_embedding(sl_model *m, float **wte, int *V, int *C);

#ifdef __cplusplus
}
#endif
#endif
