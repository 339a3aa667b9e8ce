/* core/params.h — the parameter table: named tensors in one flat float32 block.
 *
 * A model declares its tensors (name, shape) while it is being built; sl_params_alloc then
 * makes two blocks, `data` and `grad`, each `total` floats, page-aligned and zeroed (anonymous
 * mappings: a page costs memory only once written, so a model that never runs backward never
 * pays for its gradient block).
 * Models remember the index that sl_params_add returned and resolve pointers with
 * sl_params_data / sl_params_grad. Optimizers, safetensors I/O, checkpoints and the gradient
 * checker work on the table alone, without knowing any model.
 *
 * Per-tensor optimizer settings: lr_scale multiplies the learning rate (the SSM papers train
 * A, B, dt at a lower rate), wd_scale multiplies the weight decay (default 1 for tensors of
 * rank >= 2, 0 for biases and norm gains, as nanoGPT does), trainable = 0 freezes a tensor
 * (fixed HiPPO operators), which then is saved and loaded but never updated or grad-checked.
 */
#ifndef SL_CORE_PARAMS_H
#define SL_CORE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_MAX_DIMS 4
#define SL_NAME_MAX 160

typedef struct {
    char name[SL_NAME_MAX];
    int ndim;
    int64_t shape[SL_MAX_DIMS];
    size_t numel;
    size_t offset; /* in floats, into data/grad */
    float lr_scale;
    float wd_scale;
    int trainable;
} sl_tensor;

typedef struct sl_params {
    sl_tensor *t;
    int n, cap;
    size_t total; /* floats */
    float *data;  /* (total,) NULL until sl_params_alloc */
    float *grad;  /* (total,); NULL for a mapped table (sl_params_map) */
    size_t bytes; /* size of each mapping (sl_params_alloc), or of the file (sl_params_map) */
    void *map;    /* sl_params_map: the file mapping that data points into */
    int borrowed; /* sl_params_alloc_shared: data is another table's block (not freed here) */
} sl_params;

sl_params *sl_params_new(void);
void sl_params_free(sl_params *P);

/* Declare prefix+name with shape (d0, d1, d2, d3)[:ndim]. Returns the tensor's index (>= 0)
 * or a negative status (duplicate name, bad shape, already allocated). */
int sl_params_add(sl_params *P, const char *prefix, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);

int sl_params_alloc(sl_params *P);

/* Inference on a file's weights without copying them: data = base (a read-only mapping of
 * `bytes` bytes made by the caller with mmap), grad = NULL. The caller then sets every tensor's
 * offset (in floats from base, any 4-byte alignment) to where the file holds it; the table
 * owns the mapping from here on (sl_params_free unmaps it). Such a table cannot be trained,
 * initialised or loaded into: its pages are read-only. */
int sl_params_map(sl_params *P, void *base, size_t bytes);
/* A replica's table (lab/replicas.h): P, declared exactly as src (same names, shapes and
 * offsets), borrows src's data block (src must outlive it and stay allocated) and gets a private
 * zeroed grad block. SL_ESHAPE naming the first tensor where the two layouts differ. */
int sl_params_alloc_shared(sl_params *P, const sl_params *src);

static inline float *sl_params_data(const sl_params *P, int i) { return P->data + P->t[i].offset; }
static inline float *sl_params_grad(const sl_params *P, int i) { return P->grad + P->t[i].offset; }
/* Optional tensors (index -1 when absent, e.g. a bias turned off): NULL for them. _at reads
 * tensor i inside any block laid out as data/grad (a private gradient copy). */
static inline float *sl_params_data_opt(const sl_params *P, int i) { return i >= 0 ? sl_params_data(P, i) : (float *)0; }
static inline float *sl_params_grad_opt(const sl_params *P, int i) { return i >= 0 ? sl_params_grad(P, i) : (float *)0; }
static inline float *sl_params_at_opt(const sl_params *P, float *block, int i)
{
    return i >= 0 ? block + P->t[i].offset : (float *)0;
}

int sl_params_find(const sl_params *P, const char *name); /* index or -1 */
void sl_params_zero_grad(sl_params *P);
void sl_params_set_group(sl_params *P, int i, float lr_scale, float wd_scale);
void sl_params_set_trainable(sl_params *P, int i, int trainable);
size_t sl_params_count_trainable(const sl_params *P);

/* Non-finite check over data (what = 0) or grad (what = 1): 0 if all finite, else SL_ENAN
 * with the first offending tensor named in the message. */
int sl_params_check_finite(const sl_params *P, int what);

/* safetensors I/O by name (core/params_io.c). save: every tensor as F32, plus metadata
 * key/value pairs (n_meta pairs, may be 0). load: every tensor of P must be present with the
 * same shape (F32/F64/F16/BF16 accepted and converted); tensors in the file that P does not
 * have are an error unless their names match one of the `ignore` suffixes (NULL-terminated
 * list, may be NULL). `alias` (may be NULL) maps a missing P name to another file name:
 * pairs {"lm_head.weight", "transformer.wte.weight", NULL} tie a head to an embedding. */
int sl_params_save(const sl_params *P, const char *path, const char *const *meta_kv, int n_meta);
int sl_params_load(sl_params *P, const char *path, const char *const *ignore, const char *const *alias);

#ifdef __cplusplus
}
#endif
#endif
