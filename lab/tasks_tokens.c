/* lab/tasks_tokens.c — the tokens: task: language modelling over token shards (nlp/shards.h)
 * that are never loaded whole.
 *
 *   tokens:data=PREFIX            PREFIX_train_*.bin for training, PREFIX_val_*.bin for validation
 *   tokens:train=GLOB,val=GLOB    the same with explicit patterns
 *
 * A batch row is a window of seq_len + 1 consecutive tokens of one shard, read with pread
 * (input = the first seq_len, targets = the last seq_len). Training windows are drawn at
 * random (order=random: uniform over every possible window of every shard) or one after the
 * other (order=sequential: shards in name order, each window starting where the last one's
 * inputs ended, wrapping at the end; the cursor is not in checkpoints, so a resumed run
 * starts it again). Validation windows are always drawn at random with the rng the caller
 * passes; evaluation passes a fixed-seed one, so every evaluation sees the same windows of
 * the fixed validation shard(s).
 * Documents keep their boundaries: each starts with the shards' document token, and
 * start=doc makes every window begin at a document start (an index of document starts, 8
 * bytes per document, is built by one streaming pass over the shards).
 * fit_tokens=N hands the first N training tokens to count-based models (the n-gram model's
 * fit) as the task's train_stream; 0 (the default) hands none.
 */
#include "lab/tasks.h"
#include "core/error.h"
#include "nlp/shards.h"

#include <glob.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *data, *train, *val;
    int seq_len, vocab_size, order, start;
    int fit_tokens;
} tokens_config;

static const sl_spec_key tokens_keys[] = {
    SL_KEY_STR(tokens_config, data, "data", "", "shard prefix: PREFIX_train_*.bin and PREFIX_val_*.bin"),
    SL_KEY_STR(tokens_config, train, "train", "", "glob of the training shards (instead of data)"),
    SL_KEY_STR(tokens_config, val, "val", "", "glob of the validation shard(s) (instead of data)"),
    SL_KEY_INT(tokens_config, seq_len, "seq_len", "64", 1, 1 << 20, "context length T"),
    SL_KEY_INT(tokens_config, vocab_size, "vocab_size", "0", 0, 1 << 30,
               "vocabulary size; 0: from the shards' header (llm.c's own shards need it given)"),
    SL_KEY_CHOICE(tokens_config, order, "order", "random", "random|sequential", NULL, "training windows: random or in order"),
    SL_KEY_CHOICE(tokens_config, start, "start", "any", "any|doc", NULL, "windows start anywhere or at a document start"),
    SL_KEY_INT(tokens_config, fit_tokens, "fit_tokens", "0", 0, 1 << 30,
               "first N training tokens kept in memory for count-based models (n-gram fit)"),
    SL_KEY_END,
};

typedef struct {
    sl_shard *sh;
    int n;
    int64_t *cum;   /* (n + 1) prefix sums of the windows per shard */
    int64_t **docs; /* start=doc: per shard, the document starts with room for a window */
    int64_t *n_docs;
} split;

typedef struct {
    split sp[2]; /* 0 train, 1 validation */
    int T, order, start, vocab;
    int cur_shard; /* sequential cursor */
    int64_t cur_off;
    int32_t *stream; /* fit_tokens */
} tokens_ctx;

static void split_free(split *s)
{
    for (int i = 0; i < s->n; i++) {
        sl_shard_close(&s->sh[i]);
        if (s->docs) free(s->docs[i]);
    }
    free(s->sh);
    free(s->cum);
    free(s->docs);
    free(s->n_docs);
    memset(s, 0, sizeof *s);
}

static void tokens_destroy(sl_task *t)
{
    tokens_ctx *c = t->ctx;
    if (c) {
        split_free(&c->sp[0]);
        split_free(&c->sp[1]);
        free(c->stream);
        free(c);
    }
    free(t->spec);
    free(t);
}

/* the document starts d of shard s with d + T + 1 <= n, by one streaming pass */
static int index_docs(split *p, int i, int T, int doc, int vocab)
{
    const sl_shard *s = &p->sh[i];
    size_t cap = 1024, n = 0;
    int64_t *d = malloc(cap * sizeof *d);
    int32_t *buf = malloc((size_t)1 << 18);
    if (!d || !buf) {
        free(d);
        free(buf);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    const size_t chunk = ((size_t)1 << 18) / sizeof(int32_t);
    for (int64_t off = 0; off < s->n_tokens;) {
        size_t k = (size_t)(s->n_tokens - off) < chunk ? (size_t)(s->n_tokens - off) : chunk;
        int rc = sl_shard_read(s, off, k, buf, vocab);
        if (rc) {
            free(d);
            free(buf);
            return rc;
        }
        for (size_t j = 0; j < k; j++) {
            if (buf[j] != doc || off + (int64_t)j + T + 1 > s->n_tokens) continue;
            if (n == cap) {
                int64_t *q = realloc(d, 2 * cap * sizeof *q);
                if (!q) {
                    free(d);
                    free(buf);
                    return sl_error(SL_ENOMEM, "out of memory");
                }
                d = q;
                cap *= 2;
            }
            d[n++] = off + (int64_t)j;
        }
        off += (int64_t)k;
    }
    free(buf);
    p->docs[i] = d;
    p->n_docs[i] = (int64_t)n;
    return SL_OK;
}

static int open_split(split *p, const char *pattern, const char *what, int T, int start, int *vocab, int *doc)
{
    glob_t g;
    int gr = glob(pattern, 0, NULL, &g);
    if (gr == GLOB_NOMATCH) return sl_error(SL_EIO, "tokens: no %s shard matches '%s'", what, pattern);
    if (gr) return sl_error(SL_EIO, "tokens: cannot list '%s'", pattern);
    int rc = SL_OK;
    p->n = (int)g.gl_pathc;
    p->sh = calloc((size_t)p->n, sizeof *p->sh);
    p->cum = calloc((size_t)p->n + 1, sizeof *p->cum);
    if (start) {
        p->docs = calloc((size_t)p->n, sizeof *p->docs);
        p->n_docs = calloc((size_t)p->n, sizeof *p->n_docs);
    }
    if (!p->sh || !p->cum || (start && (!p->docs || !p->n_docs))) rc = sl_error(SL_ENOMEM, "out of memory");
    for (int i = 0; i < p->n; i++) p->sh[i].fd = -1;
    for (int i = 0; i < p->n && !rc; i++) {
        sl_shard *s = &p->sh[i];
        if ((rc = sl_shard_open(g.gl_pathv[i], s))) break;
        if (s->vocab > 0) {
            if (*vocab == 0) *vocab = s->vocab;
            else if (s->vocab > *vocab) {
                rc = sl_error(SL_EINVAL, "tokens: shard %s has a vocabulary of %d, more than %d", s->path, s->vocab, *vocab);
                break;
            }
        }
        if (s->doc_token >= 0) {
            if (*doc < 0) *doc = s->doc_token;
            else if (*doc != s->doc_token) {
                rc =
                    sl_error(SL_EINVAL, "tokens: shard %s starts documents with %d, others with %d", s->path, s->doc_token, *doc);
                break;
            }
        }
        p->cum[i + 1] = p->cum[i] + (s->n_tokens > T ? s->n_tokens - T : 0);
    }
    globfree(&g);
    if (!rc && p->cum[p->n] == 0)
        rc = sl_error(SL_EINVAL, "tokens: the %s shards ('%s') hold no window of seq_len + 1 = %d tokens", what, pattern, T + 1);
    return rc;
}

static int read_window(const tokens_ctx *c, const sl_shard *s, int64_t off, sl_batch *b, int row, int32_t *tmp)
{
    const int T = c->T;
    int rc = sl_shard_read(s, off, (size_t)T + 1, tmp, c->vocab);
    if (rc) return rc;
    memcpy(b->tok + (size_t)row * T, tmp, (size_t)T * sizeof *tmp);
    memcpy(b->target + (size_t)row * T, tmp + 1, (size_t)T * sizeof *tmp);
    return SL_OK;
}

/* a uniform draw from [0, n) for n up to 2^62 (sl_rng_int takes an unsigned long) */
static int64_t draw(sl_rng *rng, int64_t n) { return (int64_t)sl_rng_int(rng, (unsigned long)n); }

static int tokens_sample(sl_task *t, int split_i, sl_rng *rng, sl_batch *b)
{
    tokens_ctx *c = t->ctx;
    const split *p = &c->sp[split_i ? 1 : 0];
    int32_t *tmp = malloc(((size_t)c->T + 1) * sizeof *tmp);
    if (!tmp) return sl_error(SL_ENOMEM, "out of memory");
    int rc = SL_OK;
    for (int r = 0; r < b->B && !rc; r++) {
        int si = 0;
        int64_t off = 0;
        if (split_i || c->order == 0) {
            if (c->start) { /* a uniform document start over all shards */
                int64_t tot = 0;
                for (int i = 0; i < p->n; i++) tot += p->n_docs[i];
                int64_t k = draw(rng, tot);
                while (k >= p->n_docs[si]) k -= p->n_docs[si++];
                off = p->docs[si][k];
            } else {
                int64_t k = draw(rng, p->cum[p->n]);
                while (k >= p->cum[si + 1]) si++;
                off = k - p->cum[si];
            }
        } else {
            /* sequential: the cursor's window, then move on by T (or to the next document) */
            for (int guard = 0; guard <= p->n; guard++) {
                const sl_shard *s = &p->sh[c->cur_shard];
                if (c->start) {
                    if (c->cur_off < p->n_docs[c->cur_shard]) break;
                } else if (c->cur_off + c->T + 1 <= s->n_tokens) {
                    break;
                }
                c->cur_shard = (c->cur_shard + 1) % p->n;
                c->cur_off = 0;
            }
            si = c->cur_shard;
            off = c->start ? p->docs[si][c->cur_off] : c->cur_off;
            c->cur_off += c->start ? 1 : c->T;
        }
        rc = read_window(c, &p->sh[si], off, b, r, tmp);
    }
    free(tmp);
    return rc;
}

static int tokens_create(const sl_spec *spec, sl_task **out)
{
    tokens_config cfg;
    int rc = sl_spec_read(spec, tokens_keys, &cfg);
    if (rc) return rc;
    char *trainp = NULL, *valp = NULL;
    if (*cfg.data) {
        size_t n = strlen(cfg.data) + 32;
        trainp = malloc(n);
        valp = malloc(n);
        if (!trainp || !valp) {
            free(trainp);
            free(valp);
            return sl_error(SL_ENOMEM, "out of memory");
        }
        snprintf(trainp, n, "%s_train_*.bin", cfg.data);
        snprintf(valp, n, "%s_val_*.bin", cfg.data);
    }
    const char *tp = *cfg.train ? cfg.train : trainp, *vp = *cfg.val ? cfg.val : valp;
    if (!tp || !vp) {
        free(trainp);
        free(valp);
        return sl_error(SL_EINVAL, "tokens: give data=PREFIX, or both train=GLOB and val=GLOB");
    }
    tokens_ctx *c = calloc(1, sizeof *c);
    sl_task *t = calloc(1, sizeof *t);
    if (!c || !t) {
        free(c);
        free(t);
        free(trainp);
        free(valp);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    t->ctx = c;
    t->destroy = tokens_destroy;
    c->T = cfg.seq_len;
    c->order = cfg.order;
    c->start = cfg.start;
    int vocab = 0, doc = -1;
    rc = open_split(&c->sp[0], tp, "training", c->T, c->start, &vocab, &doc);
    if (!rc) rc = open_split(&c->sp[1], vp, "validation", c->T, c->start, &vocab, &doc);
    free(trainp);
    free(valp);
    if (!rc) {
        if (cfg.vocab_size) {
            if (vocab && cfg.vocab_size < vocab)
                rc = sl_error(SL_EINVAL, "tokens: vocab_size=%d is smaller than the shards' %d", cfg.vocab_size, vocab);
            vocab = cfg.vocab_size;
        } else if (!vocab) {
            rc = sl_error(SL_EINVAL, "tokens: the shards do not record a vocabulary size (llm.c's do not); give vocab_size=N");
        }
    }
    c->vocab = vocab;
    if (!rc && c->start) {
        if (doc < 0) rc = sl_error(SL_EINVAL, "tokens: start=doc needs shards that record their document token");
        for (int k = 0; k < 2 && !rc; k++) {
            int64_t tot = 0;
            for (int i = 0; i < c->sp[k].n && !rc; i++) {
                rc = index_docs(&c->sp[k], i, c->T, doc, vocab);
                if (!rc) tot += c->sp[k].n_docs[i];
            }
            if (!rc && tot == 0)
                rc = sl_error(SL_EINVAL, "tokens: no %s document start has seq_len + 1 = %d tokens after it",
                              k ? "validation" : "training", c->T + 1);
        }
    }
    if (!rc && cfg.fit_tokens) {
        const split *p = &c->sp[0];
        size_t want = (size_t)cfg.fit_tokens, got = 0;
        c->stream = malloc(want * sizeof *c->stream);
        if (!c->stream) rc = sl_error(SL_ENOMEM, "out of memory");
        for (int i = 0; i < p->n && got < want && !rc; i++) {
            size_t k = (size_t)p->sh[i].n_tokens < want - got ? (size_t)p->sh[i].n_tokens : want - got;
            rc = sl_shard_read(&p->sh[i], 0, k, c->stream + got, vocab);
            got += k;
        }
        t->train_stream = c->stream;
        t->n_train_stream = got;
    }
    if (rc) {
        sl_task_free(t);
        return rc;
    }
    t->name = "tokens";
    t->token_in = t->token_out = 1;
    t->vocab = vocab;
    t->T = c->T;
    t->metric = "val_loss";
    t->higher_better = 0;
    t->sample = tokens_sample;
    *out = t;
    return SL_OK;
}

const sl_task_entry sl_tasks_tokens[] = {
    {"tokens", "language modelling of token shards (llm.c's format; seqlab tokenizer encode --shards), streamed from disk",
     tokens_keys, "seq_len", NULL, tokens_create},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
