/* lab/dpo.c — the DPO preference task and loss (see dpo.h). */
#include "lab/dpo.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_dpo_seq_logprob(double *lp, const float *y, const int32_t *target, int B, int T, int V)
{
    for (int b = 0; b < B; b++) {
        double s = 0.0;
        for (int t = 0; t < T; t++) {
            const int32_t k = target[(size_t)b * T + t];
            if (k < 0) continue;
            const float *row = y + ((size_t)b * T + t) * V; // (V)
            double mx = row[0], z = 0.0;
            for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < V; v++) z += exp((double)row[v] - mx);
            s += (double)row[k] - mx - log(z);
        }
        lp[b] = s;
    }
}

double sl_dpo_loss(const float *y, const int32_t *target, const double *ref, int B, int T, int V, double beta, float *dy,
                   float *scratch, long *correct)
{
    (void)scratch;
    const int P = B / 2;
    double *lp = malloc(sizeof(double) * (size_t)(B ? B : 1));
    if (!lp) return NAN;
    sl_dpo_seq_logprob(lp, y, target, B, T, V);
    double loss = 0.0;
    long c = 0;
    if (dy) memset(dy, 0, (size_t)B * T * V * sizeof(float));
    for (int p = 0; p < P; p++) {
        const double z = beta * ((lp[2 * p] - ref[2 * p]) - (lp[2 * p + 1] - ref[2 * p + 1]));
        /* -log sigmoid(z) = softplus(-z), computed without overflow */
        loss += z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
        c += z > 0;
        if (!dy) continue;
        const double sig_neg = 1.0 / (1.0 + exp(z)); /* sigmoid(-z) */
        const double ds[2] = {-beta * sig_neg / P, beta * sig_neg / P};
        for (int k = 0; k < 2; k++) {
            const int b = 2 * p + k;
            for (int t = 0; t < T; t++) {
                const int32_t tk = target[(size_t)b * T + t];
                if (tk < 0) continue;
                const float *row = y + ((size_t)b * T + t) * V; // (V)
                float *drow = dy + ((size_t)b * T + t) * V;     // (V)
                double mx = row[0], zs = 0.0;
                for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
                for (int v = 0; v < V; v++) zs += exp((double)row[v] - mx);
                /* d log softmax(row)[tk] / d row[v] = onehot - softmax */
                for (int v = 0; v < V; v++) drow[v] += (float)(ds[k] * ((v == tk) - exp((double)row[v] - mx) / zs));
            }
        }
    }
    free(lp);
    if (correct) *correct = c;
    return P ? loss / P : 0.0;
}

/* ---- the task ------------------------------------------------------------------------------ */

typedef struct {
    int32_t *seq; /* (n_pairs, 2, T) ids, padded with 0 */
    int32_t *tgt; /* (n_pairs, 2, T) targets, -1 unscored */
    int n_pairs, n_train;
    double beta;
    unsigned char alphabet[256];
    sl_model *ref;
    double *ref_lp; /* (B) the last sampled batch's reference log-probs */
    float *ref_y;   /* (B, T, V) */
    int ref_B;
} dpo_ctx;

static const sl_spec_key dpo_keys[] = {
    {"data", 's', "", 0, 0, "JSON lines of {\"prompt\", \"chosen\", \"rejected\"} (required)"},
    {"beta", 'f', "0.1", 1e-6, 1e6, "DPO's beta: the strength of the KL tie to the reference"},
    {"seq_len", 'i', "0", 0, 1 << 20, "T (0: the longest prompt + response in the file, minus 1)"},
    {"val_frac", 'f', "0.1", 0.0, 0.9, "last fraction of the pairs held out for validation (at least one pair)"},
    {"alphabet", 's', "", 0, 0, "the ids' characters as ascending hex bytes (given by --init-from)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

int sl_dpo_is(const sl_task *t) { return t && t->name && !strcmp(t->name, "dpo"); }

static void dpo_destroy(sl_task *t)
{
    dpo_ctx *c = t->ctx;
    if (c) {
        free(c->seq);
        free(c->tgt);
        free(c->ref_lp);
        free(c->ref_y);
        sl_model_free(c->ref);
        free(c);
    }
    free(t->spec);
    free(t);
}

int sl_dpo_set_reference(sl_task *t, sl_model *ref)
{
    if (!sl_dpo_is(t)) return sl_error(SL_EINVAL, "not a dpo task");
    dpo_ctx *c = t->ctx;
    if (!(ref->caps & SL_CAP_TOKEN_OUT) || ref->d_out != t->vocab)
        return sl_error(SL_EINVAL, "dpo: the reference model must give logits over the task's %d characters", t->vocab);
    sl_model_free(c->ref);
    c->ref = ref;
    return SL_OK;
}

static int dpo_sample(sl_task *t, int split, sl_rng *rng, sl_batch *b)
{
    dpo_ctx *c = t->ctx;
    const int T = t->T;
    if (b->B % 2) return sl_error(SL_EINVAL, "dpo: the batch holds (chosen, rejected) pairs: give an even --batch, not %d", b->B);
    if (!c->ref) return sl_error(SL_EINVAL, "dpo: no reference model (train a dpo task with --init-from SRC)");
    const int lo = split ? c->n_train : 0, hi = split ? c->n_pairs : c->n_train;
    for (int p = 0; p < b->B / 2; p++) {
        int k = lo + (int)sl_rng_int(rng, (unsigned long)(hi - lo));
        memcpy(b->tok + (size_t)2 * p * T, c->seq + (size_t)2 * k * T, sizeof(int32_t) * 2 * (size_t)T);
        memcpy(b->target + (size_t)2 * p * T, c->tgt + (size_t)2 * k * T, sizeof(int32_t) * 2 * (size_t)T);
    }
    /* the reference's log-probabilities of this batch (evaluation mode, no gradient) */
    if (c->ref_B != b->B) {
        free(c->ref_lp);
        free(c->ref_y);
        c->ref_lp = malloc(sizeof(double) * (size_t)b->B);
        c->ref_y = malloc(sizeof(float) * (size_t)b->B * T * t->vocab);
        c->ref_B = c->ref_lp && c->ref_y ? b->B : 0;
        if (!c->ref_B) return sl_error(SL_ENOMEM, "out of memory");
    }
    sl_model_set_training(c->ref, 0, NULL);
    int rc = sl_model_forward(c->ref, NULL, b->tok, c->ref_y, b->B, T);
    if (rc) return sl_error_wrap(rc, "dpo: reference model");
    sl_dpo_seq_logprob(c->ref_lp, c->ref_y, b->target, b->B, T, t->vocab);
    return SL_OK;
}

static double dpo_task_loss(const sl_task *t, const sl_batch *b, const float *y, float *dy, float *scratch, long *correct,
                            long *counted)
{
    const dpo_ctx *c = t->ctx;
    if (counted) *counted = b->B / 2;
    return sl_dpo_loss(y, b->target, c->ref_lp, b->B, b->T, t->vocab, c->beta, dy, scratch, correct);
}

/* one JSON string field as ids; *len its length */
static int field_ids(const sl_json *o, const char *key, const int map[256], int line, const char *path, int32_t *out, int cap,
                     int *len)
{
    const sl_json *v = sl_json_get(o, key);
    if (!v || v->type != SL_JSON_STRING)
        return sl_error(SL_EFORMAT,
                        "%s:%d: \"%s\" is missing or not a string (each line: {\"prompt\", \"chosen\", \"rejected\"})", path,
                        line, key);
    int n = 0;
    for (const unsigned char *s = (const unsigned char *)v->str; *s; s++) {
        if (map[*s] < 0) {
            if (isprint(*s))
                return sl_error(SL_EINVAL, "%s:%d: \"%s\" has '%c' (0x%02x), outside the alphabet", path, line, key, *s, *s);
            return sl_error(SL_EINVAL, "%s:%d: \"%s\" has byte 0x%02x, outside the alphabet", path, line, key, *s);
        }
        if (n < cap) out[n] = map[*s];
        n++;
    }
    *len = n;
    return SL_OK;
}

static int dpo_create(const sl_spec *s, sl_task **out)
{
    const char *data, *alpha;
    int T0, rc;
    double beta, val_frac;
    if ((rc = sl_spec_str(s, dpo_keys, "data", &data)) || (rc = sl_spec_float(s, dpo_keys, "beta", &beta)) ||
        (rc = sl_spec_int(s, dpo_keys, "seq_len", &T0)) || (rc = sl_spec_float(s, dpo_keys, "val_frac", &val_frac)) ||
        (rc = sl_spec_str(s, dpo_keys, "alphabet", &alpha)))
        return rc;
    if (!*data) return sl_error(SL_EINVAL, "dpo: data=FILE.jsonl is required");
    if (!*alpha)
        return sl_error(SL_EINVAL,
                        "dpo: no alphabet: train with --init-from SRC (which gives its alphabet) or give alphabet=HEX");
    int map[256], V = 0, prev = -1;
    unsigned char alphabet[256];
    for (int k = 0; k < 256; k++) map[k] = -1;
    size_t al = strlen(alpha);
    if (al % 2 || al > 512) return sl_error(SL_EINVAL, "dpo: alphabet is not 1-256 hex byte pairs");
    for (size_t i = 0; i < al; i += 2) {
        unsigned v;
        char pair[3] = {alpha[i], alpha[i + 1], 0};
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]) || sscanf(pair, "%2x", &v) != 1 ||
            (int)v <= prev)
            return sl_error(SL_EINVAL, "dpo: alphabet: '%s' at offset %zu is not an ascending hex byte", pair, i);
        prev = (int)v;
        map[v] = V;
        alphabet[V++] = (unsigned char)v;
    }
    void *buf;
    size_t n;
    if ((rc = sl_read_file(data, (size_t)1 << 30, &buf, &n))) return sl_error_wrap(rc, "dpo data");
    /* two passes: lengths (T), then ids */
    dpo_ctx *c = calloc(1, sizeof *c);
    sl_task *t = calloc(1, sizeof *t);
    int32_t *tmp = malloc(sizeof(int32_t) * 3 * 65536);
    if (!c || !t || !tmp) {
        free(buf);
        free(c);
        free(t);
        free(tmp);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    t->ctx = c;
    t->destroy = dpo_destroy;
    int maxlen = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int line = 0, pairs = 0;
        for (char *p = buf, *end = (char *)buf + n; p < end && !rc;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            line++;
            size_t k = 0;
            while (k < len && isspace((unsigned char)p[k])) k++;
            if (k < len) {
                sl_json *j = NULL;
                if ((rc = sl_json_parse(p, len, &j))) {
                    sl_error_wrap(rc, "%s:%d", data, line);
                    break;
                }
                int lp, lc, lr;
                if (j->type != SL_JSON_OBJECT) rc = sl_error(SL_EFORMAT, "%s:%d: not a JSON object", data, line);
                if (!rc) rc = field_ids(j, "prompt", map, line, data, tmp, 65536, &lp);
                if (!rc) rc = field_ids(j, "chosen", map, line, data, tmp + 65536, 65536, &lc);
                if (!rc) rc = field_ids(j, "rejected", map, line, data, tmp + 2 * 65536, 65536, &lr);
                if (!rc && (lp == 0 || lc == 0 || lr == 0))
                    rc = sl_error(SL_EFORMAT, "%s:%d: prompt, chosen and rejected must not be empty", data, line);
                if (!rc && (lp + lc > 65536 || lp + lr > 65536))
                    rc = sl_error(SL_EFORMAT, "%s:%d: longer than 65536 characters", data, line);
                sl_json_free(j);
                if (rc) break;
                if (pass == 0) {
                    if (lp + lc > maxlen) maxlen = lp + lc;
                    if (lp + lr > maxlen) maxlen = lp + lr;
                } else {
                    for (int side = 0; side < 2; side++) {
                        int32_t *sq = c->seq + ((size_t)2 * pairs + side) * t->T,
                                *tg = c->tgt + ((size_t)2 * pairs + side) * t->T;
                        const int32_t *resp = tmp + (side ? 2 : 1) * 65536;
                        int lresp = side ? lr : lc, L = lp + lresp;
                        for (int q = 0; q < t->T; q++) {
                            sq[q] = q < L ? (q < lp ? tmp[q] : resp[q - lp]) : 0;
                            /* the target at q is token q+1, scored where it is a response token */
                            int nx = q + 1;
                            tg[q] = nx >= lp && nx < L ? resp[nx - lp] : -1;
                        }
                    }
                }
                pairs++;
            }
            p += len + 1;
        }
        if (rc) break;
        if (pass == 0) {
            if (pairs < 2) {
                rc = sl_error(SL_EFORMAT, "%s: %d preference pairs; at least 2 are needed (train and validation)", data, pairs);
                break;
            }
            t->T = T0 > 0 ? T0 : maxlen - 1;
            if (maxlen - 1 > t->T) {
                rc = sl_error(SL_EINVAL, "dpo: seq_len=%d is shorter than the longest pair (%d characters)", T0, maxlen - 1);
                break;
            }
            c->n_pairs = pairs;
            c->seq = malloc(sizeof(int32_t) * 2 * (size_t)pairs * t->T);
            c->tgt = malloc(sizeof(int32_t) * 2 * (size_t)pairs * t->T);
            if (!c->seq || !c->tgt) rc = sl_error(SL_ENOMEM, "out of memory");
        }
    }
    free(buf);
    free(tmp);
    if (rc) {
        dpo_destroy(t);
        return rc;
    }
    c->n_train = c->n_pairs - (int)(val_frac * c->n_pairs);
    if (c->n_train >= c->n_pairs) c->n_train = c->n_pairs - 1;
    c->beta = beta;
    memcpy(c->alphabet, alphabet, (size_t)V);
    t->name = "dpo";
    t->token_in = t->token_out = 1;
    t->vocab = V;
    t->metric = "accuracy";
    t->higher_better = 1;
    t->sample = dpo_sample;
    t->loss = dpo_task_loss;
    t->alphabet = c->alphabet;
    *out = t;
    return SL_OK;
}

const sl_task_entry sl_tasks_finetune[] = {
    {"dpo",
     "preference optimisation (DPO) on JSON lines of prompt/chosen/rejected against a frozen reference "
     "(reward accuracy; needs --init-from)",
     dpo_keys, "seq_len", "data", dpo_create},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
