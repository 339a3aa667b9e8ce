/* lab/tasks_synth.c — further synthetic tasks: selective copying, induction heads and
 * multi-query associative recall (MQAR). All are token -> token tasks scored by accuracy on
 * the positions where an answer is due (targets are -1 elsewhere).
 *
 *   selcopy    Gu & Dao (2023), "Mamba", section 3.1 / figure 2: `n_tokens` data tokens are
 *              scattered at random (sorted) positions among noise tokens in a region of
 *              `seq_len` positions, followed by `n_tokens` recall markers; at the markers the
 *              model must output the data tokens in order. Unlike the copy task, the gaps vary,
 *              so a time-invariant model cannot solve it by a fixed delay.
 *   induction  Olsson et al. (2022) induction heads, as in the Mamba paper's synthetic task: a
 *              random sequence over `vocab_size` tokens holds one special trigger token followed
 *              by a target token; the last position is the trigger again and the model must
 *              output the target. Scored only at the last position; `seq_len` can be changed at
 *              evaluation time to test length extrapolation.
 *   mqar       Arora et al. (2023), "Zoology", multi-query associative recall: `n_kv_pairs`
 *              key-value pairs first (keys from the lower half of the vocabulary, values from the
 *              upper half, distinct within a sequence), then the keys are queried again in random
 *              order at positions drawn from a power law (Zoology's `power_a`); at every queried
 *              key the model must output its value. Token 0 pads the query region.
 */
#include "lab/tasks.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void synth_destroy(sl_task *t)
{
    free(t->ctx);
    free(t->spec);
    free(t);
}

static int synth_new(sl_task **out, void *ctx, const char *name, int vocab, int T,
                     int (*sample)(sl_task *, int, sl_rng *, sl_batch *))
{
    sl_task *t = calloc(1, sizeof *t);
    if (!t) {
        free(ctx);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    t->name = name;
    t->token_in = t->token_out = 1;
    t->vocab = vocab;
    t->T = T;
    t->metric = "accuracy";
    t->higher_better = 1;
    t->ctx = ctx;
    t->sample = sample;
    t->destroy = synth_destroy;
    *out = t;
    return SL_OK;
}

/* k distinct sorted integers from [0, n) (Floyd's algorithm, then insertion sort; k is small) */
static void distinct_sorted(sl_rng *rng, int n, int k, int *out)
{
    int m = 0;
    for (int j = n - k; j < n; j++) {
        int v = (int)sl_rng_int(rng, (unsigned long)j + 1), dup = 0;
        for (int i = 0; i < m; i++) dup |= out[i] == v;
        out[m++] = dup ? j : v;
    }
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int x = out[j];
            out[j] = out[j - 1];
            out[j - 1] = x;
        }
}

/* ---- selcopy ---------------------------------------------------------------------------- */

typedef struct {
    int seq_len, n_tokens, vocab_size, n_noise;
    int *pos;
} selcopy_ctx;

static const sl_spec_key selcopy_keys[] = {
    {"seq_len", 'i', "64", 2, 1 << 22,
     "length of the noisy region holding the data tokens (the total length is seq_len + n_tokens)"},
    {"n_tokens", 'i', "8", 1, 4096, "data tokens to memorise"},
    {"vocab_size", 'i', "8", 1, 1 << 16, "distinct data tokens"},
    {"n_noise", 'i', "1", 1, 1 << 16, "distinct noise tokens (1: a single blank token)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* tokens: 0..n_noise-1 noise, n_noise..n_noise+vocab_size-1 data, then the recall marker.
 * layout: [seq_len positions: data tokens at sorted random positions, noise elsewhere]
 *         [n_tokens markers]; targets on the markers = the data tokens in order. */
static int selcopy_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    (void)split;
    const selcopy_ctx *c = t->ctx;
    const int T = t->T, L = c->seq_len, n = c->n_tokens, marker = c->n_noise + c->vocab_size;
    for (int i = 0; i < b->B; i++) {
        int32_t *tok = b->tok + (size_t)i * T, *tg = b->target + (size_t)i * T;
        for (int k = 0; k < T; k++) {
            tok[k] = c->n_noise > 1 ? (int32_t)sl_rng_int(rng, (unsigned long)c->n_noise) : 0;
            tg[k] = -1;
        }
        distinct_sorted(rng, L, n, c->pos);
        for (int k = 0; k < n; k++) {
            int s = c->n_noise + (int)sl_rng_int(rng, (unsigned long)c->vocab_size);
            tok[c->pos[k]] = s;
            tok[L + k] = marker;
            tg[L + k] = s;
        }
    }
    return SL_OK;
}

static void selcopy_destroy(sl_task *t)
{
    selcopy_ctx *c = t->ctx;
    if (c) free(c->pos);
    synth_destroy(t);
}

static int selcopy_create(const sl_spec *s, sl_task **out)
{
    selcopy_ctx *c = calloc(1, sizeof *c);
    if (!c) return sl_error(SL_ENOMEM, "out of memory");
    int rc;
    if ((rc = sl_spec_int(s, selcopy_keys, "seq_len", &c->seq_len)) ||
        (rc = sl_spec_int(s, selcopy_keys, "n_tokens", &c->n_tokens)) ||
        (rc = sl_spec_int(s, selcopy_keys, "vocab_size", &c->vocab_size)) ||
        (rc = sl_spec_int(s, selcopy_keys, "n_noise", &c->n_noise))) {
        free(c);
        return rc;
    }
    if (c->n_tokens > c->seq_len) {
        rc = sl_error(SL_EINVAL, "selcopy: n_tokens=%d does not fit in seq_len=%d", c->n_tokens, c->seq_len);
        free(c);
        return rc;
    }
    c->pos = malloc((size_t)c->n_tokens * sizeof *c->pos);
    if (!c->pos) {
        free(c);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    int V = c->n_noise + c->vocab_size + 1, T = c->seq_len + c->n_tokens;
    int *pos = c->pos;
    if ((rc = synth_new(out, c, "selcopy", V, T, selcopy_sample))) {
        free(pos);
        return rc;
    }
    (*out)->destroy = selcopy_destroy;
    return SL_OK;
}

/* ---- induction -------------------------------------------------------------------------- */

typedef struct {
    int seq_len, vocab_size;
} induction_ctx;

static const sl_spec_key induction_keys[] = {
    {"seq_len", 'i', "64", 4, 1 << 24, "sequence length T (may differ between training and evaluation)"},
    {"vocab_size", 'i', "16", 2, 1 << 16, "ordinary tokens (the trigger is one more token)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* tokens 0..V-1 ordinary, V = trigger. Uniform ordinary tokens; the trigger at a random
 * position p in [0, T-3], the target token at p+1, the trigger again at T-1; the only scored
 * position is T-1, whose target is the token at p+1. */
static int induction_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    (void)split;
    const induction_ctx *c = t->ctx;
    const int T = t->T, V = c->vocab_size;
    for (int i = 0; i < b->B; i++) {
        int32_t *tok = b->tok + (size_t)i * T, *tg = b->target + (size_t)i * T;
        for (int k = 0; k < T; k++) {
            tok[k] = (int32_t)sl_rng_int(rng, (unsigned long)V);
            tg[k] = -1;
        }
        int p = (int)sl_rng_int(rng, (unsigned long)(T - 2));
        tok[p] = V;
        tok[T - 1] = V;
        tg[T - 1] = tok[p + 1];
    }
    return SL_OK;
}

static int induction_create(const sl_spec *s, sl_task **out)
{
    induction_ctx *c = calloc(1, sizeof *c);
    if (!c) return sl_error(SL_ENOMEM, "out of memory");
    int rc;
    if ((rc = sl_spec_int(s, induction_keys, "seq_len", &c->seq_len)) ||
        (rc = sl_spec_int(s, induction_keys, "vocab_size", &c->vocab_size))) {
        free(c);
        return rc;
    }
    return synth_new(out, c, "induction", c->vocab_size + 1, c->seq_len, induction_sample);
}

/* ---- mqar ------------------------------------------------------------------------------- */

typedef struct {
    int seq_len, vocab_size, n_kv_pairs, random_non_queries;
    double power_a;
    int n_slots; /* query slots of two positions each after the context */
    double *w;   /* (n_slots) power-law weights of the slots */
    int *keys, *vals, *slot;
} mqar_ctx;

static const sl_spec_key mqar_keys[] = {
    {"seq_len", 'i', "64", 4, 1 << 22, "sequence length T"},
    {"vocab_size", 'i', "256", 8, 1 << 24, "vocabulary: keys from [1, V/2), values from [V/2, V), 0 pads"},
    {"n_kv_pairs", 'i', "8", 1, 1 << 20, "key-value pairs in the context, each queried once"},
    {"power_a", 'f', "0.01", 1e-6, 1,
     "query slot at distance x from the context drawn with weight a x^(a-1) (Zoology): small a favours short gaps"},
    {"random_non_queries", 'b', "0", 0, 1,
     "fill the query region's empty positions with random tokens instead of 0 (Zoology's option; its figure 2 uses 0)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* draw k distinct indices of [0, n) with probabilities proportional to w (sequentially,
 * without replacement, as numpy.random.choice(replace=False, p=w)) */
static void weighted_distinct(sl_rng *rng, const double *w, int n, int k, int *out)
{
    double total = 0.0;
    for (int j = 0; j < n; j++) total += w[j];
    for (int m = 0; m < k; m++) {
        double r = sl_rng_uniform(rng) * total, acc = 0.0;
        int pick = -1, last = -1;
        for (int j = 0; j < n; j++) {
            int used = 0;
            for (int i = 0; i < m; i++) used |= out[i] == j;
            if (used) continue;
            last = j;
            acc += w[j];
            if (r < acc) {
                pick = j;
                break;
            }
        }
        if (pick < 0) pick = last; /* rounding at the top end */
        out[m] = pick;
        total -= w[pick];
    }
}

/* k distinct values from [lo, hi) by rejection (creation guarantees hi - lo >= k) */
static void distinct_range(sl_rng *rng, int lo, int hi, int k, int *out)
{
    for (int m = 0; m < k; m++) {
        int v, dup;
        do {
            v = lo + (int)sl_rng_int(rng, (unsigned long)(hi - lo));
            dup = 0;
            for (int i = 0; i < m; i++) dup |= out[i] == v;
        } while (dup);
        out[m] = v;
    }
}

/* The example, as Zoology's multiquery_ar builds it: k_1 v_1 ... k_n v_n, then a query
 * region of n_slots slots of two positions; the slot g of query k holds key k at position
 * 2n+2g, and that position's target is v_k (-1 everywhere else). Only the keys are in the
 * query region: the answers never appear there as inputs, so a model cannot answer the last
 * queries by elimination from the values it has already been shown. The other positions hold
 * 0, or a random token of [0, V) with random_non_queries. */
static int mqar_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    (void)split;
    mqar_ctx *c = t->ctx;
    const int T = t->T, n = c->n_kv_pairs, half = c->vocab_size / 2;
    for (int i = 0; i < b->B; i++) {
        int32_t *tok = b->tok + (size_t)i * T, *tg = b->target + (size_t)i * T;
        for (int k = 0; k < T; k++) {
            tok[k] = 0;
            tg[k] = -1;
        }
        distinct_range(rng, 1, half, n, c->keys);
        distinct_range(rng, half, c->vocab_size, n, c->vals);
        for (int k = 0; k < n; k++) {
            tok[2 * k] = c->keys[k];
            tok[2 * k + 1] = c->vals[k];
        }
        weighted_distinct(rng, c->w, c->n_slots, n, c->slot);
        for (int k = 0; k < n; k++) {
            int pk = 2 * n + 2 * c->slot[k]; /* query k asks for pair k */
            tok[pk] = c->keys[k];
            tg[pk] = c->vals[k];
        }
        if (c->random_non_queries)
            for (int k = 2 * n; k < T; k++)
                if (tok[k] == 0) tok[k] = (int32_t)sl_rng_int(rng, (unsigned long)c->vocab_size);
    }
    return SL_OK;
}

static void mqar_destroy(sl_task *t)
{
    mqar_ctx *c = t->ctx;
    if (c) {
        free(c->w);
        free(c->keys);
        free(c->vals);
        free(c->slot);
    }
    synth_destroy(t);
}

static int mqar_create(const sl_spec *s, sl_task **out)
{
    mqar_ctx *c = calloc(1, sizeof *c);
    if (!c) return sl_error(SL_ENOMEM, "out of memory");
    int rc;
    if ((rc = sl_spec_int(s, mqar_keys, "seq_len", &c->seq_len)) ||
        (rc = sl_spec_int(s, mqar_keys, "vocab_size", &c->vocab_size)) ||
        (rc = sl_spec_int(s, mqar_keys, "n_kv_pairs", &c->n_kv_pairs)) ||
        (rc = sl_spec_float(s, mqar_keys, "power_a", &c->power_a)) ||
        (rc = sl_spec_bool(s, mqar_keys, "random_non_queries", &c->random_non_queries))) {
        free(c);
        return rc;
    }
    const int n = c->n_kv_pairs, half = c->vocab_size / 2;
    c->n_slots = (c->seq_len - 2 * n) / 2;
    if (c->n_slots < n) {
        rc = sl_error(SL_EINVAL, "mqar: seq_len=%d is too short for n_kv_pairs=%d (needs seq_len >= 4 * n_kv_pairs)", c->seq_len,
                      n);
        free(c);
        return rc;
    }
    if (half - 1 < n || c->vocab_size - half < n) {
        rc = sl_error(SL_EINVAL,
                      "mqar: vocab_size=%d has too few keys/values for n_kv_pairs=%d (needs vocab_size >= 2 * n_kv_pairs + 2)",
                      c->vocab_size, n);
        free(c);
        return rc;
    }
    c->w = malloc((size_t)c->n_slots * sizeof *c->w);
    c->keys = malloc((size_t)n * sizeof(int));
    c->vals = malloc((size_t)n * sizeof(int));
    c->slot = malloc((size_t)n * sizeof(int));
    if (!c->w || !c->keys || !c->vals || !c->slot) {
        free(c->w);
        free(c->keys);
        free(c->vals);
        free(c->slot);
        free(c);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    /* Zoology: p(x) = a x^(a-1) for slot distance x = 1, 2, ... (normalised by the sampler) */
    for (int g = 0; g < c->n_slots; g++) c->w[g] = c->power_a * pow((double)(g + 1), c->power_a - 1.0);
    if ((rc = synth_new(out, c, "mqar", c->vocab_size, c->seq_len, mqar_sample))) return rc;
    (*out)->destroy = mqar_destroy;
    return SL_OK;
}

/* ---- table ------------------------------------------------------------------------------ */

const sl_task_entry sl_tasks_synthetic[] = {
    {"selcopy", "selective copying (Mamba): recall n_tokens data tokens scattered among noise, in order (accuracy)", selcopy_keys,
     "seq_len", NULL, selcopy_create},
    {"induction", "induction heads: output the token that followed the trigger earlier; eval at any seq_len (accuracy)",
     induction_keys, "seq_len", NULL, induction_create},
    {"mqar", "multi-query associative recall (Zoology): recall the value of each queried key (accuracy)", mqar_keys, "seq_len",
     NULL, mqar_create},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
