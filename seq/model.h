/* seq/model.h — the sequence interface every seqlab model implements.
 *
 * A model maps a batch of B sequences of length T (batch-first) to B x T outputs:
 *   input  tokens (B, T) int32 in [0, vocab_in)         or real x (B, T, d_in) float
 *   output logits (B, T, vocab_out) float               or real y (B, T, d_out) float
 *
 * Sequence mode: forward() over the whole (B, T) block; with training on (or always, for
 * simplicity) it caches what backward() needs. backward(dy) accumulates (+=) parameter
 * gradients into the shared parameter table's grad block and accumulates (+=) the input
 * gradient into dx when dx != NULL (real input only) — the llm.c convention, which makes
 * residual connections free.
 *
 * Step mode: an explicit state object (RNN hidden, SSM state, conv window, KV cache, n-gram
 * context) created for B rows; step() consumes one position (B, d_in) / (B,) tokens and
 * produces (B, d_out). Running step() T times from a fresh state must equal forward().
 *
 * Count/closed-form models (n-gram, word2vec) implement fit(); n-gram language models still
 * run forward()/step(), producing log-probabilities as their "logits", so they sit in the
 * same LM comparisons.
 *
 * Lifecycle (sl_model_create in lab/registry.h does all of this for you):
 *   P = sl_params_new();  m = <family>_create(spec, P, prefix);   // declares tensors
 *   sl_params_alloc(P);   sl_model_init(m, rng);                 // fills them
 * Nested models (the LM wrapper's mixers) share the parent's sl_params with a longer prefix.
 */
#ifndef SL_SEQ_MODEL_H
#define SL_SEQ_MODEL_H

#include "core/params.h"
#include "core/rng.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* capability flags */
enum {
    SL_CAP_GRAD = 1 << 0,      /* forward/backward, trained by gradient */
    SL_CAP_FIT = 1 << 1,       /* fit() from a corpus (n-gram, word2vec) */
    SL_CAP_STEP = 1 << 2,      /* step mode */
    SL_CAP_EMBED = 1 << 3,     /* has an input embedding that can be initialised from vectors */
    SL_CAP_TOKEN_IN = 1 << 4,  /* consumes token ids */
    SL_CAP_REAL_IN = 1 << 5,   /* consumes real vectors */
    SL_CAP_TOKEN_OUT = 1 << 6, /* produces logits over a vocabulary */
    SL_CAP_REAL_OUT = 1 << 7,  /* produces real vectors */
    SL_CAP_MIXER = 1 << 8,     /* real -> real, d_in == d_out: usable inside the LM wrapper */
    SL_CAP_BIDIR = 1 << 9,     /* this instance is bidirectional: sequence mode only */
    SL_CAP_INFER = 1 << 10,    /* forward in inference mode keeps no backward caches (below) */
    SL_CAP_PACK = 1 << 11,     /* honours doc_pos (packed rows, sl_model_set_docs) itself */
    SL_CAP_CKPT = 1 << 12      /* gradient checkpointing over its blocks (sl_model_set_checkpoint) */
};

typedef struct sl_model sl_model;

typedef struct {
    const char *kind; /* "rnn", "lstm", "lm", ... */

    /* Free the model's own memory (not the shared sl_params). Children are freed by the
     * generic sl_model_free, not here. */
    void (*destroy)(sl_model *m);

    /* Fill this model's own parameters (children are initialised by sl_model_init). */
    int (*init)(sl_model *m, sl_rng *rng);

    /* Sequence mode. Exactly one of x (B,T,d_in) / tok (B,T) is non-NULL; y is (B,T,d_out). */
    int (*forward)(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T);

    /* After forward on the same (B,T): dy (B,T,d_out); dx (B,T,d_in) or NULL. Accumulates. */
    int (*backward)(sl_model *m, const float *dy, float *dx);

    /* Step mode. state_new returns NULL on failure (message set). */
    void *(*state_new)(sl_model *m, int B);
    void (*state_free)(sl_model *m, void *state);
    int (*state_reset)(sl_model *m, void *state);
    /* One position: x (B,d_in) or tok (B,); y (B,d_out). */
    int (*step)(sl_model *m, void *state, const float *x, const int32_t *tok, float *y);

    /* Count/closed-form training on a token stream (n-gram) — optional. */
    int (*fit)(sl_model *m, const int32_t *tok, size_t n);

    /* Batch slices — optional (see sl_model_forward_slices below). A model whose batch rows
     * are independent runs the sequences [b0, b1) alone, touching only their rows of every
     * cache, so disjoint slices can run on different threads:
     *   slice_ok(m)                 1 if slices apply now (0: no dropout while training, ...);
     *   slice_begin(m, x, tok, B, T) readies the caches for the whole batch, keeps x / tok;
     *   slice_forward(m, y, b0, b1)  writes rows [b0*T, b1*T) of y (B, T, d_out);
     *   slice_backward_begin(m)      readies backward's scratch (after the slices' forward);
     *   slice_backward(m, dy, dx, dx_acc, grad, b0, b1) reads dy's rows, writes (dx_acc = 0)
     *       or adds (1) dx's rows (dx may be NULL), and accumulates parameter gradients into
     *       grad: P->grad, or a private block of P->total floats with the same layout.
     * Every call inside a slice is single-threaded (the driver runs one slice per thread). */
    int (*slice_ok)(const sl_model *m);
    int (*slice_begin)(sl_model *m, const float *x, const int32_t *tok, int B, int T);
    int (*slice_forward)(sl_model *m, float *y, int b0, int b1);
    int (*slice_backward_begin)(sl_model *m);
    int (*slice_backward)(sl_model *m, const float *dy, float *dx, int dx_acc, float *grad, int b0, int b1);
    /* Prefill — optional (sl_model_prefill falls back to step() per position): T positions of
     * the state's B rows in one sequence-mode pass that starts from the state and leaves it at
     * the last position, as T calls of step() would: x (B,T,d_in) or tok (B,T); y (B,T,d_out).
     * Equal to stepping up to float rounding. */
    int (*prefill)(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T);
    /* Snapshot — optional: dst = src, two states of this model made for the same B (speculative
     * decoding restores the state at the accepted position from one). */
    int (*state_copy)(sl_model *m, void *dst, const void *src);
    /* Release — optional: free this model's own forward cache and backward scratch (the arenas
     * forward and backward carve); the next forward carves them anew, and a backward must follow
     * a forward made after the release. Gradient checkpointing releases the mixers of the blocks
     * it will recompute (sl_model_release). */
    void (*release)(sl_model *m);
    /* Per-row reset — optional: the rows b with rows[b] != 0 of a state made for B rows return
     * to what state_reset gives them (a packed batch stepped token by token restarts a row at
     * its document boundary, docs/training.md); the other rows are untouched. */
    int (*state_reset_rows)(sl_model *m, void *state, const uint8_t *rows, int B);
} sl_model_vt;

struct sl_model {
    const sl_model_vt *vt;
    int caps;
    int d_in;               /* real input width, or vocab_in for token input */
    int d_out;              /* real output width, or vocab_out for logits */
    sl_params *P;           /* shared parameter table */
    int owns_params;        /* the top-level model frees P */
    int training;           /* dropout etc. active */
    int inference;          /* no backward follows forward (sl_model_set_inference) */
    sl_rng *rng;            /* for dropout while training; borrowed */
    char *spec;             /* canonical spec string (top-level models) */
    int max_len;            /* step mode: positions a state can take (KV cache, position table); 0 = no limit */
    const int32_t *doc_pos; /* (B, T) packed rows: each token's position in its document, or NULL */
    int ckpt;               /* gradient checkpointing: block inputs kept every ckpt blocks, 0 off */
    sl_model **children;
    int n_children;
};

/* ---- generic helpers (seq/model.c) ---- */
int sl_model_init(sl_model *m, sl_rng *rng);                  /* children first, then m */
void sl_model_free(sl_model *m);                              /* children, self, P if owned */
void sl_model_set_training(sl_model *m, int on, sl_rng *rng); /* recursive */
/* Inference mode (recursive): no backward will follow forward, so a model with SL_CAP_INFER
 * keeps none of backward's caches (memory: weights + output + O(state), or O(T) working space
 * where its algorithm needs it) and computes the same outputs; backward() is then refused.
 * A model without SL_CAP_INFER still fills its caches in this mode. Off by default. */
void sl_model_set_inference(sl_model *m, int on);
int sl_model_add_child(sl_model *m, sl_model *child);

int sl_model_forward(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T);
int sl_model_backward(sl_model *m, const float *dy, float *dx);
void *sl_model_state_new(sl_model *m, int B);
void sl_model_state_free(sl_model *m, void *state);
int sl_model_state_reset(sl_model *m, void *state);
/* Reset the rows b of a B-row state with rows[b] != 0 (the vtable's state_reset_rows; all rows:
 * state_reset; none: nothing). SL_EUNSUPPORTED when some but not all rows are asked of a model
 * without the entry; SL_ESHAPE when B is not the state's. */
int sl_model_state_reset_rows(sl_model *m, void *state, const uint8_t *rows, int B);
int sl_model_step(sl_model *m, void *state, const float *x, const int32_t *tok, float *y);
int sl_model_fit(sl_model *m, const int32_t *tok, size_t n);
/* Prefill: the vtable's prefill when the model has one, else step() position by position (the
 * same result). The state is made for B rows; inputs batch-first (B,T,.), y (B,T,d_out). On an
 * error the state may be partly advanced. */
int sl_model_prefill(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T);
/* 1 if the model runs prefill in sequence mode itself (not the step fallback) */
int sl_model_has_prefill(const sl_model *m);
/* the fallback itself: step() position by position (models whose prefill covers only some
 * configurations call it for the rest) */
int sl_model_prefill_steps(sl_model *m, void *state, const float *x, const int32_t *tok, float *y, int B, int T);
/* dst = src (states of m for the same B); SL_EUNSUPPORTED when the model cannot copy states. */
int sl_model_state_copy(sl_model *m, void *dst, const void *src);

/* Packing (issue #21, docs/training.md). A batch row may hold several documents: doc_pos
 * (B, T) gives each token's position inside its document, 0 where a document starts (so every
 * row starts with 0, and elsewhere pos[t] is 0 or pos[t-1] + 1). Nothing crosses a boundary:
 * the outputs and gradients of a packed row equal those of its documents run alone. A model
 * with SL_CAP_PACK honours doc_pos in its forward/backward (attention: a block-diagonal causal
 * mask, positions restart; the LM wrapper and the transformer pass it on, and the wrapper runs a
 * mixer without SL_CAP_PACK one document at a time, recomputing it in backward). The array is
 * borrowed until backward; NULL (the default) is the plain one-sequence-per-row batch.
 * sl_model_set_docs sets m's and (recursively) its SL_CAP_PACK children's doc_pos;
 * SL_EUNSUPPORTED when pos is non-NULL and m lacks SL_CAP_PACK.
 * sl_docs_check: SL_EINVAL naming the first bad entry. */
int sl_model_set_docs(sl_model *m, const int32_t *pos);
int sl_docs_check(const int32_t *pos, int B, int T);
/* The end of the document that starts at t of row pos (T positions): the next t' > t with
 * pos[t'] == 0, or T. */
int sl_docs_end(const int32_t *pos, int t, int T);

/* Gradient checkpointing (issue #21 item 2, docs/training.md). A model with SL_CAP_CKPT (the
 * lm:/seq: wrapper, gpt/llama) made of L residual blocks keeps, with K in [1, L], the residual
 * stream only at the input of every K-th block (segments of K blocks); forward frees the caches
 * of every segment but the last (its mixers: sl_model_release), and backward recomputes each
 * segment's forward from its kept input just before its backward, replaying dropout (the rng is
 * restored to its state at the segment's start, and after backward to its state after forward).
 * Outputs and gradients are bitwise those without checkpointing on the same path; the cost is
 * about one more forward of the first L - K blocks per step. K = L keeps everything (one
 * segment); K = 0 turns it off. SL_EINVAL for K < 0 or K > L (the blocks: m->n_children),
 * SL_EUNSUPPORTED for K > 0 on a model without SL_CAP_CKPT. */
int sl_model_set_checkpoint(sl_model *m, int K);
/* the model's own vtable release, then its children's (recursive); models without one keep
 * their caches */
void sl_model_release(sl_model *m);

/* Step through a whole (B,T) input from a fresh state, writing y (B,T,d_out): the reference
 * that tests compare with forward(). */
int sl_model_run_steps(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T);

/* A growable scratch buffer, for activation caches that depend on (B,T). */
typedef struct {
    float *p;
    size_t n;
} sl_buf;
int sl_buf_reserve(sl_buf *b, size_t n); /* ensure >= n floats (contents not kept) */
void sl_buf_free(sl_buf *b);

/* An arena: one allocation carved into a model's named arrays. A model keeps one arena per
 * lifetime (the forward cache, backward's scratch, a step state) and plain pointers for the
 * fields; each call lists its fields with their sizes and gets them carved, every field
 * 64-byte aligned, in one block that grows when (B, T) grows:
 *
 *     if ((rc = SL_ARENA_CARVE(&mb->fwd, SL_FIELD(mb->xin, N * C), SL_FIELD(mb->z, N * E))))
 *         return rc;
 *
 * A grown block starts zeroed; carving again into a block that is large enough keeps the
 * bytes but not what field they belonged to, so a field's contents last until the next carve
 * of its arena. sl_arena_free releases the block (the fields dangle). */
typedef struct {
    void *base;
    size_t cap;
} sl_arena;
typedef struct {
    void *slot;
    size_t bytes;
} sl_field; /* slot: the address of a T * */
#define SL_FIELD(ptr, n) ((sl_field){(void *)&(ptr), (size_t)(n) * sizeof *(ptr)})
int sl_arena_carve(sl_arena *a, const sl_field *f, size_t n);
#define SL_ARENA_CARVE(a, ...) \
    sl_arena_carve((a), (const sl_field[]){__VA_ARGS__}, sizeof((const sl_field[]){__VA_ARGS__}) / sizeof(sl_field))
void sl_arena_free(sl_arena *a);
/* dst's block = src's, for two arenas carved with the same fields (a state's snapshot); SL_ESHAPE
 * if their sizes differ */
int sl_arena_copy(sl_arena *dst, const sl_arena *src);
/* Bytes held by every arena of the process now and at most since the last reset (a statistic
 * for memory accounting, seqlab train --dry-run: arenas hold the activation caches); the reset
 * sets the peak to the bytes held now. */
void sl_arena_stats(size_t *now, size_t *peak);
void sl_arena_stats_reset(void);
/* A model's caches kept outside arenas (the recurrent lanes path's workspaces) report what they
 * take and give back here, so sl_arena_stats counts them too: add bytes now held, then sub bytes
 * freed. */
void sl_mem_count(size_t add, size_t sub);

/* Batch slices (the vtable's slice_* entries). sl_model_slice_ok: the model has them and they
 * apply now. sl_model_forward_slices runs forward as k slices of the batch, slice s being
 * sequences [B*s/k, B*(s+1)/k), one OpenMP thread each; sl_model_backward_slices runs backward
 * likewise after it: slice 0 accumulates into P->grad, slice s > 0 into row s-1 of the private
 * gradients *gpriv ((k-1) x P->total floats, kept zero between calls), which are then added to
 * P->grad in slice order (the same sums whatever the thread count) and zeroed. The results
 * equal sl_model_forward/backward's up to the order of the floating-point sums that the rows
 * share (parameter gradients); with k = 1 nothing is private. The wrappers' callers (the
 * transformer over its attention mixers, a trainer over a whole model) pick k. */
int sl_model_slice_ok(const sl_model *m);
int sl_model_forward_slices(sl_model *m, const float *x, const int32_t *tok, float *y, int B, int T, int k);
int sl_model_backward_slices(sl_model *m, const float *dy, float *dx, int B, int k, sl_buf *gpriv);

#ifdef __cplusplus
}
#endif
#endif
