/* seq/llama2c.c — llama2.c legacy checkpoints and tokenizer.bin (see llama2c.h). */
#include "seq/llama2c.h"
#include "core/error.h"
#include "core/gemv.h"
#include "seq/transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define HEADER_BYTES 28

static int file_size(FILE *f, const char *path, uint64_t *size)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) return sl_error(SL_EIO, "'%s': not a regular file", path);
    *size = (uint64_t)sb.st_size;
    return SL_OK;
}

/* floats the weights of cfg occupy in the file (cfg validated) */
static uint64_t expected_floats(const sl_llama2c_config *c)
{
    const uint64_t D = c->dim, F = c->hidden_dim, L = c->n_layers, V = c->vocab_size, S = c->seq_len;
    const uint64_t hs = D / c->n_heads, kv = (uint64_t)c->n_kv_heads * hs;
    uint64_t n = V * D;              /* tok_embeddings */
    n += L * D;                      /* attention_norm */
    n += L * D * D + 2 * L * kv * D; /* wq, wk, wv */
    n += L * D * D;                  /* wo */
    n += L * D;                      /* ffn_norm */
    n += 3 * L * F * D;              /* w1, w2, w3 */
    n += D;                          /* norm */
    n += 2 * S * (hs / 2);           /* freqs_cos, freqs_sin */
    if (!c->shared_classifier) n += V * D;
    return n;
}

static int check_config(const char *path, const int32_t h[7], sl_llama2c_config *c)
{
    static const char *names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    static const int32_t hi[7] = {1 << 16, 1 << 20, 1024, 4096, 4096, 1 << 24, 1 << 24};
    for (int i = 0; i < 7; i++) {
        int32_t v = i == 5 && h[i] < 0 && h[i] != INT32_MIN ? -h[i] : h[i];
        if (v <= 0 || v > hi[i])
            return sl_error(SL_EFORMAT, "'%s': header field %s = %d is outside [1, %d]", path, names[i], h[i], hi[i]);
    }
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->shared_classifier = h[5] > 0;
    c->vocab_size = h[5] > 0 ? h[5] : -h[5];
    c->seq_len = h[6];
    if (c->n_heads > c->dim || c->dim % c->n_heads)
        return sl_error(SL_EFORMAT, "'%s': dim %d is not a multiple of n_heads %d", path, c->dim, c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads)
        return sl_error(SL_EFORMAT, "'%s': n_kv_heads %d does not divide n_heads %d", path, c->n_kv_heads, c->n_heads);
    if ((c->dim / c->n_heads) % 2)
        return sl_error(SL_EFORMAT, "'%s': head size %d is odd (RoPE needs pairs)", path, c->dim / c->n_heads);
    return SL_OK;
}

static int read_header(FILE *f, const char *path, sl_llama2c_config *cfg)
{
    uint64_t size;
    int32_t h[7];
    int rc = file_size(f, path, &size);
    if (rc) return rc;
    if (size < HEADER_BYTES || fread(h, sizeof(int32_t), 7, f) != 7)
        return sl_error(SL_EFORMAT, "'%s': %llu bytes, shorter than the 28-byte llama2.c header", path, (unsigned long long)size);
    if ((rc = check_config(path, h, cfg))) return rc;
    uint64_t want = HEADER_BYTES + 4 * expected_floats(cfg);
    if (size != want)
        return sl_error(SL_EFORMAT,
                        "'%s': file has %llu bytes, the header (dim=%d hidden_dim=%d n_layers=%d n_heads=%d "
                        "n_kv_heads=%d vocab_size=%d%s seq_len=%d) implies %llu",
                        path, (unsigned long long)size, cfg->dim, cfg->hidden_dim, cfg->n_layers, cfg->n_heads, cfg->n_kv_heads,
                        cfg->vocab_size, cfg->shared_classifier ? "" : " (unshared)", cfg->seq_len, (unsigned long long)want);
    return SL_OK;
}

int sl_llama2c_read_config(const char *path, sl_llama2c_config *cfg)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "cannot open '%s'", path);
    int rc = read_header(f, path, cfg);
    fclose(f);
    return rc;
}

char *sl_llama2c_spec(const sl_llama2c_config *c)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "llama:dim=%d,n_layers=%d,n_heads=%d,n_kv_heads=%d,vocab_size=%d,hidden_dim=%d,max_seq_len=%d,tie=%d", c->dim,
             c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->hidden_dim, c->seq_len, c->shared_classifier);
    return strdup(buf);
}

int sl_llama2c_load(const char *path, sl_model **out) { return sl_llama2c_load_ctx(path, 0, out); }

/* The weights are not read into memory: the file is mapped read-only and every tensor of the
 * model's parameter table points at its place in the file (sl_params_map), as run.c does. The
 * layout (llama2c.h) fixes each tensor's offset from the header alone; each is checked to be
 * finite once (which brings the file's pages in, as generation would). */
int sl_llama2c_load_ctx(const char *path, int max_ctx, sl_model **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "cannot open '%s'", path);
    sl_llama2c_config c;
    sl_model *m = NULL;
    sl_params *P = NULL;
    void *map = MAP_FAILED;
    size_t bytes = 0;
    int rc = read_header(f, path, &c);
    if (rc) goto done;
    sl_transformer_config tc = {0};
    tc.style = SL_TF_LLAMA;
    tc.vocab_size = c.vocab_size;
    tc.d_model = c.dim;
    tc.n_layer = c.n_layers;
    tc.n_head = c.n_heads;
    /* the context the model is built for: the header's seq_len, or less when the caller needs
     * less (each layer's RoPE tables and KV cache grow with it, the file only holds one table) */
    tc.n_kv_head = c.n_kv_heads;
    tc.hidden_dim = c.hidden_dim;
    tc.max_seq_len = max_ctx > 0 && max_ctx < c.seq_len ? max_ctx : c.seq_len;
    tc.pos = SL_POS_ROPE;
    tc.rmsnorm = 1;
    tc.swiglu = 1;
    tc.tie = c.shared_classifier;
    tc.flash = 1;
    tc.norm_eps = 1e-5f;
    tc.rope_theta = 10000.0f;
    if (!(P = sl_params_new())) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = sl_transformer_create(&tc, P, "", &m))) goto done;
    m->P = P;
    m->owns_params = 1;
    P = NULL;
    bytes = HEADER_BYTES + 4 * expected_floats(&c); /* read_header checked the file has exactly this */
    /* MAP_POPULATE: every page is read at once (the finiteness check below and every token read
     * them all anyway), in one call instead of thousands of page faults */
#ifdef MAP_POPULATE
    map = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(f), 0);
#else
    map = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fileno(f), 0);
#endif
    if (map == MAP_FAILED) {
        rc = sl_error(SL_EIO, "'%s': cannot map the file into memory", path);
        goto done;
    }
    sl_params *Q = m->P;
    if ((rc = sl_params_map(Q, map, bytes))) goto done;
    map = MAP_FAILED; /* the table owns it now */
    const float *base = Q->data;
    const size_t D = (size_t)c.dim, F = (size_t)c.hidden_dim, L = (size_t)c.n_layers, V = (size_t)c.vocab_size;
    const size_t hs = D / c.n_heads, kv = (size_t)c.n_kv_heads * hs;
    /* the file's arrays in order: tensor name (NULL: skipped, the RoPE tables), floats per layer
     * (stacked arrays) or in all (single arrays), stacked or not */
    struct {
        const char *name, *what;
        size_t per;
        int stacked;
    } arr[] = {
        {"tok_embeddings.weight", "tok_embeddings", V * D, 0},
        {"attention_norm.weight", "attention_norm.weight", D, 1},
        {"attention.wq.weight", "attention.wq.weight", D * D, 1},
        {"attention.wk.weight", "attention.wk.weight", kv * D, 1},
        {"attention.wv.weight", "attention.wv.weight", kv * D, 1},
        {"attention.wo.weight", "attention.wo.weight", D * D, 1},
        {"ffn_norm.weight", "ffn_norm.weight", D, 1},
        {"feed_forward.w1.weight", "feed_forward.w1.weight", F * D, 1},
        {"feed_forward.w2.weight", "feed_forward.w2.weight", D * F, 1},
        {"feed_forward.w3.weight", "feed_forward.w3.weight", F * D, 1},
        {"norm.weight", "norm", D, 0},
        {NULL, "freqs_cos/freqs_sin", 2 * (size_t)c.seq_len * (hs / 2), 0},
        {"output.weight", "output (classifier)", V * D, 0},
    };
    const int narr = c.shared_classifier ? 12 : 13;
    size_t off = HEADER_BYTES / 4;
    int placed = 0;
    for (int k = 0; k < narr; k++) {
        const int nl = arr[k].stacked ? (int)L : 1;
        for (int l = 0; l < nl; l++, off += arr[k].per) {
            if (!sl_all_finite(base + off, arr[k].per, NULL)) {
                rc = arr[k].stacked ? sl_error(SL_ENAN, "'%s': non-finite value in %s of layer %d", path, arr[k].what, l)
                                    : sl_error(SL_ENAN, "'%s': non-finite value in %s", path, arr[k].what);
                goto done;
            }
            if (!arr[k].name) continue;
            char full[SL_NAME_MAX];
            if (arr[k].stacked) snprintf(full, sizeof full, "layers.%d.%s", l, arr[k].name);
            else snprintf(full, sizeof full, "%s", arr[k].name);
            int i = sl_params_find(Q, full);
            if (i < 0 || Q->t[i].numel != arr[k].per) {
                rc = sl_error(SL_ENOTFOUND, "llama2c: the model has no tensor %s of %zu floats", full, arr[k].per);
                goto done;
            }
            Q->t[i].offset = off;
            placed++;
        }
    }
    if (placed != Q->n) {
        rc = sl_error(SL_EINVAL, "llama2c: the model has %d tensors, the file %d", Q->n, placed);
        goto done;
    }
    c.seq_len = tc.max_seq_len;
    char *spec = sl_llama2c_spec(&c);
    if (!spec) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    free(m->spec);
    m->spec = spec;
done:
    if (map != MAP_FAILED) munmap(map, bytes);
    fclose(f);
    sl_params_free(P);
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    *out = m;
    return SL_OK;
}

/* ---- tokenizer -------------------------------------------------------------------------- */

struct sl_llama2c_tokenizer {
    int V, max_len;
    char **vocab;  /* (V) NUL-terminated pieces */
    float *scores; /* (V) */
    int *sorted;   /* (V) ids sorted by piece */
    char byte_pieces[512];
};

int sl_llama2c_tokenizer_size(const sl_llama2c_tokenizer *t) { return t->V; }

void sl_llama2c_tokenizer_free(sl_llama2c_tokenizer *t)
{
    if (!t) return;
    if (t->vocab)
        for (int i = 0; i < t->V; i++) free(t->vocab[i]);
    free(t->vocab);
    free(t->scores);
    free(t->sorted);
    free(t);
}

static const sl_llama2c_tokenizer *sort_ctx;
static int cmp_piece(const void *a, const void *b)
{
    return strcmp(sort_ctx->vocab[*(const int *)a], sort_ctx->vocab[*(const int *)b]);
}

int sl_llama2c_tokenizer_read(const char *path, int vocab_size, sl_llama2c_tokenizer **out)
{
    *out = NULL;
    if (vocab_size <= 0 || vocab_size > (1 << 24)) return sl_error(SL_EINVAL, "tokenizer: bad vocab_size %d", vocab_size);
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error(SL_EIO, "cannot open '%s'", path);
    uint64_t size, off = 4;
    int rc = file_size(f, path, &size);
    sl_llama2c_tokenizer *t = calloc(1, sizeof *t);
    if (!rc && !t) rc = sl_error(SL_ENOMEM, "out of memory");
    if (rc) goto done;
    /* every entry takes at least 8 bytes (score, length): a vocab_size the file cannot hold is
     * refused before the tables are allocated */
    if (size < 4 + 8 * (uint64_t)vocab_size) {
        rc = sl_error(SL_EFORMAT, "'%s': %llu bytes cannot hold %d tokens (at least %llu bytes)", path, (unsigned long long)size,
                      vocab_size, (unsigned long long)(4 + 8 * (uint64_t)vocab_size));
        goto done;
    }
    t->vocab = calloc((size_t)vocab_size, sizeof(char *));
    t->scores = malloc((size_t)vocab_size * sizeof(float));
    t->sorted = malloc((size_t)vocab_size * sizeof(int));
    if (!t->vocab || !t->scores || !t->sorted) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    t->V = vocab_size;
    int32_t maxlen;
    if (size < 4 || fread(&maxlen, 4, 1, f) != 1) {
        rc = sl_error(SL_EFORMAT, "'%s': too short for a tokenizer header", path);
        goto done;
    }
    if (maxlen <= 0 || maxlen > (1 << 16)) {
        rc = sl_error(SL_EFORMAT, "'%s': max_token_length %d is outside [1, 65536]", path, maxlen);
        goto done;
    }
    t->max_len = maxlen;
    for (int i = 0; i < vocab_size; i++) {
        float score;
        int32_t len;
        if (size - off < 8 || fread(&score, 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) {
            rc = sl_error(SL_EFORMAT, "'%s': truncated at token %d of %d (vocab_size from the checkpoint)", path, i, vocab_size);
            goto done;
        }
        off += 8;
        if (!isfinite(score)) {
            rc = sl_error(SL_ENAN, "'%s': token %d has a non-finite score", path, i);
            goto done;
        }
        if (len < 0 || len > maxlen) {
            rc = sl_error(SL_EFORMAT, "'%s': token %d has length %d, outside [0, max_token_length %d]", path, i, len, maxlen);
            goto done;
        }
        if (size - off < (uint64_t)len) {
            rc = sl_error(SL_EFORMAT, "'%s': token %d (length %d) runs past the end of the file", path, i, len);
            goto done;
        }
        t->vocab[i] = malloc((size_t)len + 1);
        if (!t->vocab[i]) {
            rc = sl_error(SL_ENOMEM, "out of memory");
            goto done;
        }
        if (len && fread(t->vocab[i], 1, (size_t)len, f) != (size_t)len) {
            rc = sl_error(SL_EFORMAT, "'%s': truncated in token %d", path, i);
            goto done;
        }
        t->vocab[i][len] = '\0';
        t->scores[i] = score;
        off += (uint64_t)len;
    }
    if (off != size) {
        rc = sl_error(SL_EFORMAT, "'%s': %llu bytes follow the last of %d tokens (vocab_size mismatch?)", path,
                      (unsigned long long)(size - off), vocab_size);
        goto done;
    }
    for (int i = 0; i < 256; i++) {
        t->byte_pieces[2 * i] = (char)i;
        t->byte_pieces[2 * i + 1] = '\0';
    }
    for (int i = 0; i < vocab_size; i++) t->sorted[i] = i;
    sort_ctx = t; /* qsort has no context argument; the tokenizer is not shared while built */
    qsort(t->sorted, (size_t)vocab_size, sizeof(int), cmp_piece);
    sort_ctx = NULL;
done:
    fclose(f);
    if (rc) {
        sl_llama2c_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return SL_OK;
}

const char *sl_llama2c_decode(const sl_llama2c_tokenizer *t, int prev, int token)
{
    if (token < 0 || token >= t->V) {
        sl_error(SL_EINVAL, "token %d outside the vocabulary [0, %d)", token, t->V);
        return NULL;
    }
    const char *p = t->vocab[token];
    if (prev == 1 && p[0] == ' ') p++;
    unsigned hi, lo;
    static const char hex[] = "0123456789ABCDEF";
    if (strlen(p) == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>') {
        const char *a = strchr(hex, p[3]), *b = strchr(hex, p[4]);
        if (a && b && p[3] && p[4]) {
            hi = (unsigned)(a - hex);
            lo = (unsigned)(b - hex);
            return t->byte_pieces + 2 * (hi * 16 + lo);
        }
    }
    return p;
}

static int lookup(const sl_llama2c_tokenizer *t, const char *s)
{
    int lo = 0, hi = t->V - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(s, t->vocab[t->sorted[mid]]);
        if (!c) return t->sorted[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

/* The merge heap's entries: a candidate merge of the adjacent pair (left, right) into id. An
 * entry goes stale when either token changes (its version moves on) or is merged away. */
typedef struct {
    float score;
    int left, right, id;
    unsigned vl, vr;
} merge_cand;

/* a before b: higher score, then the leftmost pair (run.c scans left to right and keeps the
 * first strict maximum; token positions never reorder, so the left token's index orders pairs) */
static int cand_before(const merge_cand *a, const merge_cand *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(merge_cand *h, int *nh, merge_cand c)
{
    int i = (*nh)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_before(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static merge_cand heap_pop(merge_cand *h, int *nh)
{
    merge_cand top = h[0], last = h[--*nh];
    int i = 0, n = *nh;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_before(&h[c + 1], &h[c])) c++;
        if (!cand_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

int sl_llama2c_encode(const sl_llama2c_tokenizer *t, const char *text, int bos, int eos, int32_t **tokens, int *n_out)
{
    *tokens = NULL;
    *n_out = 0;
    if (!text) return sl_error(SL_EINVAL, "encode: NULL text");
    /* BOS is id 1 and EOS id 2: a vocabulary too small to hold them cannot mark them */
    if (bos && t->V <= 1) return sl_error(SL_EINVAL, "encode: a vocabulary of %d has no BOS token (id 1)", t->V);
    if (eos && t->V <= 2) return sl_error(SL_EINVAL, "encode: a vocabulary of %d has no EOS token (id 2)", t->V);
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX / 8) return sl_error(SL_EINVAL, "encode: text of %zu bytes is too long", len);
    size_t cap = len + 3; /* one token per byte at most, plus BOS, the prefix space and EOS */
    int32_t *tok = malloc(cap * sizeof(int32_t));
    int *next = malloc(cap * sizeof(int)), *prev = malloc(cap * sizeof(int));
    unsigned *ver = calloc(cap, sizeof(unsigned));
    merge_cand *heap = malloc(3 * cap * sizeof(merge_cand)); /* n initial pairs + 2 per merge */
    char *buf = malloc((size_t)t->max_len * 2 + 3);
    int rc = SL_OK, n = 0, nh = 0;
    if (!tok || !next || !prev || !ver || !heap || !buf) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    if (bos) tok[n++] = 1;
    if (len) {
        int sp = lookup(t, " ");
        if (sp >= 0) tok[n++] = sp;
    }
    /* one token per UTF-8 code point, or its bytes (+3: after <unk>, <s>, </s>) */
    char cp[5];
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if ((*c & 0xC0) != 0x80) k = 0;
        cp[k++] = (char)*c;
        cp[k] = '\0';
        if ((c[1] & 0xC0) == 0x80 && k < 4) continue;
        int id = lookup(t, cp);
        if (id >= 0) {
            tok[n++] = id;
        } else {
            for (size_t i = 0; i < k; i++) {
                int b = (unsigned char)cp[i] + 3;
                if (b >= t->V) {
                    rc = sl_error(SL_EINVAL, "encode: byte 0x%02X has no token (vocabulary of %d has no byte fallback)",
                                  (unsigned char)cp[i], t->V);
                    goto done;
                }
                tok[n++] = b;
            }
        }
        k = 0;
    }
    /* Merge the best-scoring adjacent pair until none is in the vocabulary, as run.c does,
     * but with the tokens in a linked list and the candidate pairs in a heap: each merge
     * costs O(log n) plus two lookups for the new neighbours, instead of a rescan of every
     * pair (quadratic in the text's length). */
    for (int i = 0; i < n; i++) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
#define PUSH_PAIR(l, r) \
    do { \
        snprintf(buf, (size_t)t->max_len * 2 + 3, "%s%s", t->vocab[tok[l]], t->vocab[tok[r]]); \
        int id_ = lookup(t, buf); \
        if (id_ >= 0 && t->scores[id_] > -1e10f) { \
            merge_cand c_ = {t->scores[id_], (l), (r), id_, ver[l], ver[r]}; \
            heap_push(heap, &nh, c_); \
        } \
    } while (0)
    for (int i = 0; i + 1 < n; i++) PUSH_PAIR(i, i + 1);
    int head = n ? 0 : -1; /* a merge keeps its left token, so token 0 stays first */
    while (nh > 0) {
        merge_cand c = heap_pop(heap, &nh);
        if (next[c.left] != c.right || ver[c.left] != c.vl || ver[c.right] != c.vr) continue; /* stale */
        /* a merged-away token is unlinked and its version moved on, so next[] never names it */
        tok[c.left] = c.id;
        ver[c.left]++;
        ver[c.right]++;
        next[c.left] = next[c.right];
        if (next[c.right] >= 0) prev[next[c.right]] = c.left;
        next[c.right] = -2;
        if (prev[c.left] >= 0) PUSH_PAIR(prev[c.left], c.left);
        if (next[c.left] >= 0) PUSH_PAIR(c.left, next[c.left]);
    }
#undef PUSH_PAIR
    /* compact the list in order */
    int m = 0;
    for (int i = head; i >= 0; i = next[i]) tok[m++] = tok[i];
    n = m;
    if (eos) tok[n++] = 2;
done:
    free(buf);
    free(next);
    free(prev);
    free(ver);
    free(heap);
    if (rc) {
        free(tok);
        return rc;
    }
    *tokens = tok;
    *n_out = n;
    return SL_OK;
}
