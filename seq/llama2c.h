/* seq/llama2c.h — llama2.c's legacy checkpoint (.bin) and tokenizer (tokenizer.bin).
 *
 * Checkpoint (llama2.c export.py legacy_export, read by run.c): a header of 7 little-endian
 * int32 — dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative
 * vocab_size means the classifier is not shared with the embedding — then float32 arrays in
 * this order (each layer's tensors stacked over layers, PyTorch (out, in) layout):
 *   tok_embeddings (V, D); attention_norm (L, D); wq (L, D, D); wk (L, Dkv, D); wv (L, Dkv, D);
 *   wo (L, D, D); ffn_norm (L, D); w1 (L, F, D); w2 (L, D, F); w3 (L, F, D); norm (D);
 *   freqs_cos (seq_len, hs/2); freqs_sin (seq_len, hs/2); [output (V, D) when unshared]
 * with hs = D / n_heads and Dkv = n_kv_heads * hs. The reader checks every field (positive,
 * bounded, divisible), that the file size equals the size those fields imply exactly, and that
 * every weight is finite; the RoPE tables are recomputed, not read. The weights are not
 * copied: the file is mapped read-only (mmap) and the model's parameter table points into it
 * (sl_params_map), as run.c does, so a loaded model is for inference only.
 *
 * Tokenizer (run.c build_tokenizer): int32 max_token_length, then for each of vocab_size
 * tokens: float32 score, int32 length, length bytes. The reader checks 0 <= length <=
 * max_token_length, that no entry runs past the end, that nothing follows the last entry, and
 * that scores are finite. Encoding follows run.c: a dummy-prefix space, one token per UTF-8
 * code point (byte fallback to ids byte+3), then repeated merges of the adjacent pair whose
 * concatenation is the best-scoring vocabulary entry. BOS = 1, EOS = 2.
 */
#ifndef SL_SEQ_LLAMA2C_H
#define SL_SEQ_LLAMA2C_H

#include "seq/model.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier; /* 1 if the file's vocab_size was positive */
} sl_llama2c_config;

/* Read and validate the header against the file size. */
int sl_llama2c_read_config(const char *path, sl_llama2c_config *cfg);

/* Build a `llama` model (RMSNorm, RoPE, SwiGLU, llama2.c names; it owns its parameter table)
 * and fill it from the checkpoint. m->spec is the equivalent llama:... spec string. */
int sl_llama2c_load(const char *path, sl_model **out);

/* The same, built for a context of at most max_ctx tokens (<= 0: the header's seq_len). Every
 * layer's RoPE tables and step-mode KV cache grow with the context, so a caller that knows how
 * many tokens it will run (generation: prompt + new tokens) passes that, and a header's huge
 * seq_len costs nothing. m->spec carries the context actually built. */
int sl_llama2c_load_ctx(const char *path, int max_ctx, sl_model **out);

/* The llama:... spec string of a config (caller frees). */
char *sl_llama2c_spec(const sl_llama2c_config *cfg);

typedef struct sl_llama2c_tokenizer sl_llama2c_tokenizer;

int sl_llama2c_tokenizer_read(const char *path, int vocab_size, sl_llama2c_tokenizer **out);
void sl_llama2c_tokenizer_free(sl_llama2c_tokenizer *t);
int sl_llama2c_tokenizer_size(const sl_llama2c_tokenizer *t);

/* The text of `token` following `prev` (run.c's decode: the leading space is dropped after BOS,
 * "<0xHH>" pieces become that raw byte). Returns NULL (message set) for an id out of range. */
const char *sl_llama2c_decode(const sl_llama2c_tokenizer *t, int prev, int token);

/* text -> tokens (malloc'ed, *n of them), with BOS / EOS when asked. */
int sl_llama2c_encode(const sl_llama2c_tokenizer *t, const char *text, int bos, int eos, int32_t **tokens, int *n);

#ifdef __cplusplus
}
#endif
#endif
