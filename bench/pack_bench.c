/* bench/pack_bench.c — packing without padding (issue #21 item 1) against padding to the
 * longest, in the same process, on a corpus of documents of varied length: the licence texts
 * (/usr/share/common-licenses, or --dir DIR) cut into paragraphs at blank lines, bytes as
 * tokens. For each model, two arms start from the same weights and train the same number of
 * steps with AdamW on batches of B rows:
 *   pad   one random document per row (a window of T+1 tokens of a longer one), rows padded to
 *         the batch's longest, padding masked (the usual batching of variable-length data);
 *   pack  rows of T positions filled with whole documents (lab/pack.h), boundaries handed to
 *         the model (sl_model_set_docs), only a row's unfilled tail masked.
 * CSV on stdout:
 *   model,arm,steps,B,T,positions,scored,fill,seconds,cpu_seconds,scored_tok_s,scored_tok_cpu_s,train_loss,val_loss
 * positions: B x (batch length) summed over the steps (what the model computes); scored: the
 * document positions among them; fill = scored / positions; scored_tok_s = scored / seconds
 * (wall clock), scored_tok_cpu_s = scored / cpu_seconds (the process's CPU time: on a loaded
 * machine with --threads 1 the steadier figure);
 * train_loss: mean cross-entropy per scored token over the steps; val_loss: per token on the
 * held-out tenth of the documents, the same packed batches for both arms (packed rows equal the
 * documents run alone, t/t-pack).
 *   usage: pack_bench [--steps 60] [--B 16] [--T 256] [--threads 1] [--dir DIR] [--models gpt,lstm,mamba] */
#include "core/error.h"
#include "core/optim.h"
#include "core/util.h"
#include "lab/pack.h"
#include "lab/registry.h"
#include "lab/tasks.h"
#include "seq/layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sl_threads_set(int k);

#define CHECK(x) \
    do { \
        if ((x)) { \
            fprintf(stderr, "pack_bench: %s\n", sl_errmsg()); \
            exit(1); \
        } \
    } while (0)

/* the paragraphs of text (cut at "\n\n"; empty ones dropped) as byte ids */
static void paragraphs(const unsigned char *text, size_t n, int32_t *ids, size_t *off, size_t *nd)
{
    size_t m = 0, k = 0, begin = 0;
    for (size_t i = 0; i <= n; i++) {
        int cut = i == n || (i + 1 < n && text[i] == '\n' && text[i + 1] == '\n');
        if (!cut) {
            ids[m++] = text[i];
            continue;
        }
        if (m > begin) off[k++] = begin;
        begin = m;
        i++;
    }
    off[k] = m;
    *nd = k;
}

typedef struct {
    double loss;
    long scored, positions;
    double secs, cpu;
} arm_result;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* one training step on (B, T) rows; returns the loss sum over scored positions */
static double train_step(sl_model *m, sl_optim *o, const int32_t *tok, const int32_t *tg, const int32_t *pos, int B, int T,
                         float *y, float *dy, float *pr, int V, int *cnt)
{
    const int N = B * T;
    sl_params_zero_grad(m->P);
    CHECK(sl_model_set_docs(m, pos));
    CHECK(sl_model_forward(m, NULL, tok, y, B, T));
    double loss = sl_xent_forward(pr, y, tg, N, V, cnt);
    memset(dy, 0, (size_t)N * V * sizeof(float));
    if (*cnt) sl_xent_backward(dy, pr, tg, N, V, 1.0f / (float)*cnt);
    CHECK(sl_model_backward(m, dy, NULL));
    sl_clip_grad_norm(m->P, 1.0);
    CHECK(sl_optim_step(o, m->P, 1e-3f));
    return loss * *cnt;
}

static double val_loss(sl_model *m, const sl_doc_set *val, int B, int T, float *y, float *pr, int32_t *tok, int32_t *tg,
                       int32_t *pos, int V)
{
    sl_rng *r = sl_rng_alloc(12345);
    double sum = 0.0;
    long n = 0;
    for (int i = 0; i < 8; i++) {
        int cnt = 0;
        CHECK(sl_pack_rows(val, r, B, T, tok, tg, pos, NULL));
        CHECK(sl_model_set_docs(m, pos));
        CHECK(sl_model_forward(m, NULL, tok, y, B, T));
        sum += sl_xent_forward(pr, y, tg, B * T, V, &cnt) * cnt;
        n += cnt;
    }
    sl_model_set_docs(m, NULL);
    sl_rng_free(r);
    return sum / (double)n;
}

int main(int argc, char **argv)
{
    int steps = 60, B = 16, T = 256, threads = 1;
    const char *dir = "/usr/share/common-licenses", *models = "gpt,lstm,mamba";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--B")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--models")) models = argv[i + 1];
        else {
            fprintf(stderr, "usage: pack_bench [--steps N] [--B N] [--T N] [--threads N] [--dir DIR] [--models a,b]\n");
            return 2;
        }
    }
    if (steps < 1 || B < 1 || T < 2 || threads < 1) return 2;
    sl_threads_set(threads);
    unsigned char *text;
    size_t n, nd;
    CHECK(sl_read_dir_docs(dir, &text, &n, NULL, NULL));
    int32_t *ids = malloc((n + 1) * sizeof(int32_t));
    size_t *off = malloc((n + 2) * sizeof(size_t));
    paragraphs(text, n, ids, off, &nd);
    free(text);
    const size_t ntr = nd - nd / 10;
    const sl_doc_set tr = {.ids = ids, .off = off, .n = ntr}, va = {.ids = ids, .off = off + ntr, .n = nd - ntr};
    {
        size_t mn = (size_t)-1, mx = 0, tot = off[nd];
        for (size_t i = 0; i < nd; i++) {
            size_t L = off[i + 1] - off[i];
            if (L < mn) mn = L;
            if (L > mx) mx = L;
        }
        fprintf(stderr, "# %zu paragraphs of %s, %zu bytes: lengths %zu..%zu, mean %.0f\n", nd, dir, tot, mn, mx,
                (double)tot / nd);
    }
    const int V = 256;
    const size_t N = (size_t)B * T;
    int32_t *tok = malloc(N * sizeof(int32_t)), *tg = malloc(N * sizeof(int32_t)), *pos = malloc(N * sizeof(int32_t));
    float *y = malloc(N * V * sizeof(float)), *dy = malloc(N * V * sizeof(float)), *pr = malloc(N * V * sizeof(float));
    printf("model,arm,steps,B,T,positions,scored,fill,seconds,cpu_seconds,scored_tok_s,scored_tok_cpu_s,train_loss,val_loss\n");
    char list[256];
    snprintf(list, sizeof list, "%s", models);
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        char spec[256];
        if (!strcmp(name, "gpt"))
            snprintf(spec, sizeof spec, "gpt:n_layer=2,n_head=4,n_embd=64,block_size=%d,vocab_size=%d", T, V);
        else snprintf(spec, sizeof spec, "lm:mixer=%s,d_model=64,n_layer=2,vocab_size=%d", name, V);
        for (int arm = 0; arm < 2; arm++) { /* 0 pad, 1 pack: the same initial weights and data stream seed */
            sl_model *m = NULL;
            CHECK(sl_model_create(spec, 1, &m));
            sl_model_set_training(m, 1, NULL);
            sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
            sl_optim *o = sl_optim_alloc(&oc, m->P->total);
            sl_rng *r = sl_rng_alloc(7);
            arm_result res = {0};
            double t0 = sl_now(), c0 = cpu_now();
            for (int s = 0; s < steps; s++) {
                int Tb = T, cnt = 0;
                if (arm) CHECK(sl_pack_rows(&tr, r, B, T, tok, tg, pos, NULL));
                else CHECK(sl_pad_rows(&tr, r, B, T, tok, tg, &Tb, NULL));
                res.loss += train_step(m, o, tok, tg, arm ? pos : NULL, B, Tb, y, dy, pr, V, &cnt);
                res.scored += cnt;
                res.positions += (long)B * Tb;
            }
            res.secs = sl_now() - t0;
            res.cpu = cpu_now() - c0;
            sl_model_set_docs(m, NULL);
            double vl = val_loss(m, &va, B, T, y, pr, tok, tg, pos, V);
            printf("%s,%s,%d,%d,%d,%ld,%ld,%.3f,%.3f,%.3f,%.1f,%.1f,%.4f,%.4f\n", name, arm ? "pack" : "pad", steps, B, T,
                   res.positions, res.scored, (double)res.scored / res.positions, res.secs, res.cpu, res.scored / res.secs,
                   res.scored / res.cpu, res.loss / res.scored, vl);
            fflush(stdout);
            sl_rng_free(r);
            sl_optim_free(o);
            sl_model_free(m);
        }
    }
    free(ids);
    free(off);
    free(tok);
    free(tg);
    free(pos);
    free(y);
    free(dy);
    free(pr);
    return 0;
}
