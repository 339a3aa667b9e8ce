/* t/t-tasks.c — task generators: determinism, layouts, metrics, errors. */
#include "core/error.h"
#include "core/fileio.h"
#include "lab/sample.h"
#include "lab/tasks.h"
#include "t/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the sampler: draw 40000 tokens and compare each token's frequency with the probability
 * computed here in double: softmax(logits / temperature), cut to the top_k largest or to the
 * smallest prefix whose mass reaches top_p, renormalised. Tolerance 5 standard deviations of
 * a frequency, sqrt(p (1 - p) / n) (seeded: the same draws every run). */
static int sample_matches(const float *logits, int V, sl_sampler sp, int kept, const char *what)
{
    enum { N = 40000 };
    double q[8], sum = 0;
    for (int v = 0; v < V; v++) q[v] = v < kept ? exp(logits[v] / sp.temperature) : 0.0; /* logits sorted */
    for (int v = 0; v < V; v++) sum += q[v];
    int cnt[8] = {0};
    float work[16];
    int idx[16];
    sl_rng *r = sl_rng_alloc(42);
    for (int i = 0; i < N; i++) {
        int k = sl_sample_logits(logits, V, &sp, r, work, idx);
        if (k >= 0 && k < V) cnt[k]++;
    }
    sl_rng_free(r);
    double worst = 0;
    for (int v = 0; v < V; v++) {
        double p = q[v] / sum, sd = sqrt(fmax(p * (1 - p), 1e-12) / N);
        worst = fmax(worst, fabs(cnt[v] / (double)N - p) / sd);
    }
    return ok(worst < 5.0, "sampler, %s: frequencies match (worst %.1f sd; P(0) %.3f, seen %.3f)", what, worst, q[0] / sum,
              cnt[0] / (double)N);
}

static void test_sampler(void)
{
    const float lg[5] = {1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
    sl_sampler sp = {2.0f, 0, 1.0f};
    sample_matches(lg, 5, sp, 5, "temperature 2 flattens: softmax(logits / 2)");
    sp.temperature = 0.5f;
    sample_matches(lg, 5, sp, 5, "temperature 0.5 sharpens: softmax(2 logits)");
    sp.temperature = 2.0f;
    sp.top_k = 2;
    sample_matches(lg, 5, sp, 2, "top_k 2 at temperature 2");
    /* temperature 2: p = 0.346, 0.270, 0.210, 0.127, 0.047; top_p 0.7 keeps three (0.826) */
    sp.top_k = 0;
    sp.top_p = 0.7f;
    sample_matches(lg, 5, sp, 3, "top_p 0.7 at temperature 2 keeps three");
    sl_sampler greedy = {0.0f, 0, 1.0f};
    float work[16];
    int idx[16];
    const float lg2[4] = {0.1f, 2.0f, 1.9f, -1.0f};
    ok(sl_sample_logits(lg2, 4, &greedy, NULL, work, idx) == 1, "temperature 0 is greedy");
}

int main(void)
{
    test_sampler();
    sl_task *t;
    /* copy */
    ok(sl_task_create("copy:length=4,delay=6,n_symbols=5", &t) == 0, "copy task");
    ok(t->T == 14 && t->vocab == 7 && t->token_in && t->token_out && !strcmp(t->metric, "accuracy"),
       "copy shape: T = 2L + delay, vocab = n + 2");
    sl_batch b1, b2;
    sl_batch_alloc(&b1, t, 3);
    sl_batch_alloc(&b2, t, 3);
    sl_rng *r1 = sl_rng_alloc(11), *r2 = sl_rng_alloc(11);
    t->sample(t, 0, r1, &b1);
    t->sample(t, 0, r2, &b2);
    ok(!memcmp(b1.tok, b2.tok, 3 * 14 * 4) && !memcmp(b1.target, b2.target, 3 * 14 * 4), "same seed, same batch");
    int layout = 1;
    for (int i = 0; i < 3; i++) {
        const int32_t *x = b1.tok + i * 14, *y = b1.target + i * 14;
        for (int k = 0; k < 4; k++) layout &= x[k] >= 1 && x[k] <= 5 && y[10 + k] == x[k];
        for (int k = 4; k < 14; k++) layout &= x[k] == (k == 9 ? 6 : 0);
        for (int k = 0; k < 10; k++) layout &= y[k] == -1;
    }
    ok(layout, "copy layout: symbols, blanks, marker at L+delay-1, recall targets at the end");
    /* a perfect model scores accuracy 1; loss ~0 */
    float *y = calloc(3 * 14 * 7, sizeof(float)), *scratch = calloc(3 * 14 * 7, sizeof(float));
    for (int n = 0; n < 3 * 14; n++)
        if (b1.target[n] >= 0) y[n * 7 + b1.target[n]] = 30.0f;
    long correct, counted;
    double loss = sl_task_loss(t, &b1, y, NULL, scratch, &correct, &counted);
    ok(counted == 12 && correct == 12 && loss < 1e-6, "perfect outputs: accuracy 12/12, loss ~0");
    free(y);
    free(scratch);
    sl_batch_free(&b1);
    sl_batch_free(&b2);
    sl_task_free(t);

    /* adding */
    ok(sl_task_create("adding:length=50", &t) == 0 && t->T == 50 && t->d_in == 2 && t->d_out == 1, "adding task");
    sl_batch_alloc(&b1, t, 200);
    t->sample(t, 0, r1, &b1);
    int marks = 1;
    double mse1 = 0;
    for (int i = 0; i < 200; i++) {
        int m1 = 0, m2 = 0;
        double s = 0;
        for (int k = 0; k < 50; k++) {
            float mk = b1.x[(i * 50 + k) * 2 + 1];
            if (mk == 1.0f) {
                if (k < 25) m1++;
                else m2++;
                s += b1.x[(i * 50 + k) * 2];
            }
        }
        marks &= m1 == 1 && m2 == 1 && b1.mask[i * 50 + 49] == 1.0f && (float)s == b1.y[i * 50 + 49];
        mse1 += (b1.y[i * 50 + 49] - 1.0) * (b1.y[i * 50 + 49] - 1.0);
    }
    ok(marks, "one marker per half; target = sum of the marked values");
    is_close(mse1 / 200, 1.0 / 6.0, 0.04, "always answering 1 scores MSE ~0.167");
    sl_batch_free(&b1);
    sl_task_free(t);

    /* charlm on a small file */
    char path[] = "/tmp/sl-tasks-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "abcabcabd hello world, this is a small corpus for a test. ";
    for (int i = 0; i < 40; i++)
        if (write(fd, text, strlen(text)) < 0) return 1;
    close(fd);
    char spec[256];
    snprintf(spec, sizeof spec, "charlm:corpus=%s,seq_len=16", path);
    ok(sl_task_create(spec, &t) == 0, "charlm task");
    ok(t->vocab == 20 && t->alphabet && t->alphabet[0] == ' ', "byte alphabet of the corpus, sorted (%d symbols)", t->vocab);
    sl_batch_alloc(&b1, t, 4);
    t->sample(t, 1, r1, &b1);
    int shifted = 1;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k + 1 < 16; k++) shifted &= b1.target[i * 16 + k] == b1.tok[i * 16 + k + 1];
    ok(shifted, "charlm targets are the inputs shifted by one");
    ok(t->train_stream && t->n_train_stream == (size_t)(0.9 * 40 * strlen(text)), "train stream is the first 90%%");
    sl_batch_free(&b1);
    sl_task_free(t);
    snprintf(spec, sizeof spec, "charlm:corpus=%s,seq_len=100000", path);
    ok(sl_task_create(spec, &t) == SL_EINVAL && strstr(sl_errmsg(), "too small"), "corpus too small for seq_len");
    unlink(path);
    ok(sl_task_create("charlm:corpus=/nonexistent/file", &t) != 0 && strstr(sl_errmsg(), "/nonexistent/file"),
       "missing corpus names the path");
    unsigned char *dc;
    size_t dn;
    if (access("/usr/share/common-licenses", R_OK) == 0) {
        ok(sl_default_corpus(&dc, &dn) == 0 && dn > 10000, "default corpus: /usr/share/common-licenses (%zu bytes)", dn);
        free(dc);
    } else {
        skip("no /usr/share/common-licenses here");
    }

    /* selcopy: the data tokens of the noisy region, in order, are the targets at the markers */
    ok(sl_task_create("selcopy:seq_len=20,n_tokens=4,vocab_size=5,n_noise=2", &t) == 0 && t->T == 24 && t->vocab == 8,
       "selcopy task: T = seq_len + n_tokens, vocab = noise + data + marker");
    sl_batch_alloc(&b1, t, 50);
    t->sample(t, 0, r1, &b1);
    int sc = 1;
    for (int i = 0; i < 50; i++) {
        const int32_t *x = b1.tok + i * 24, *y = b1.target + i * 24;
        int k = 0;
        for (int p = 0; p < 20; p++)
            if (x[p] >= 2 && x[p] < 7) {
                sc &= k < 4 && y[20 + k] == x[p];
                k++;
            } else sc &= x[p] < 2 && y[p] == -1;
        sc &= k == 4;
        for (int p = 20; p < 24; p++) sc &= x[p] == 7;
    }
    ok(sc, "selcopy: 4 data tokens among noise, recalled in order at the markers");
    sl_batch_free(&b1);
    sl_task_free(t);
    ok(sl_task_create("selcopy:seq_len=3,n_tokens=4", &t) == SL_EINVAL && strstr(sl_errmsg(), "does not fit"),
       "selcopy: n_tokens > seq_len refused");

    /* induction: the last token is the trigger; the answer is what followed its first use */
    ok(sl_task_create("induction:seq_len=30,vocab_size=6", &t) == 0 && t->vocab == 7, "induction task");
    sl_batch_alloc(&b1, t, 50);
    t->sample(t, 0, r1, &b1);
    int ind = 1;
    for (int i = 0; i < 50; i++) {
        const int32_t *x = b1.tok + i * 30, *y = b1.target + i * 30;
        int trig = -1, count = 0;
        for (int p = 0; p < 29; p++)
            if (x[p] == 6) {
                trig = p;
                count++;
            }
        ind &= count == 1 && trig <= 27 && x[29] == 6 && y[29] == x[trig + 1];
        for (int p = 0; p < 29; p++) ind &= y[p] == -1;
    }
    ok(ind, "induction: one earlier trigger, target = the token after it, scored only at the end");
    sl_batch_free(&b1);
    sl_task_free(t);

    /* mqar: every queried key's target is the value paired with it in the context */
    ok(sl_task_create("mqar:seq_len=40,vocab_size=64,n_kv_pairs=6", &t) == 0, "mqar task");
    sl_batch_alloc(&b1, t, 50);
    t->sample(t, 0, r1, &b1);
    int mq = 1, queries = 0;
    for (int i = 0; i < 50; i++) {
        const int32_t *x = b1.tok + i * 40, *y = b1.target + i * 40;
        for (int k = 0; k < 6; k++) mq &= x[2 * k] >= 1 && x[2 * k] < 32 && x[2 * k + 1] >= 32 && x[2 * k + 1] < 64;
        for (int p = 12; p < 40; p++) {
            if (y[p] < 0) continue;
            queries++;
            int found = 0;
            for (int k = 0; k < 6; k++) found |= x[2 * k] == x[p] && x[2 * k + 1] == y[p];
            mq &= found;
        }
    }
    ok(mq && queries == 300,
       "mqar: keys in [1,V/2), values in [V/2,V); each of the 6 queries asks for its pair's value (%d queries)", queries);
    /* Zoology's layout: the query region holds the queried keys and 0 only, never a value (an
     * answer shown as the next input lets a model answer the last queries by elimination) */
    int region = 1;
    for (int i = 0; i < 50; i++) {
        const int32_t *x = b1.tok + i * 40, *y = b1.target + i * 40;
        for (int p = 12; p < 40; p++) region &= y[p] >= 0 ? x[p] >= 1 && x[p] < 32 : x[p] == 0;
    }
    ok(region, "mqar: the query region holds only the queried keys (at their targets) and 0");
    sl_batch_free(&b1);
    sl_task_free(t);
    /* random_non_queries=1 (Zoology's option): the empty positions hold random tokens, the
     * keys and targets stay where they were */
    ok(sl_task_create("mqar:seq_len=40,vocab_size=64,n_kv_pairs=6,random_non_queries=1", &t) == 0,
       "mqar task, random_non_queries");
    sl_batch_alloc(&b1, t, 50);
    t->sample(t, 0, r1, &b1);
    int nonzero = 0, nq = 0, qok = 1;
    for (int i = 0; i < 50; i++) {
        const int32_t *x = b1.tok + i * 40, *y = b1.target + i * 40;
        for (int p = 12; p < 40; p++) {
            if (y[p] >= 0) {
                nq++;
                int found = 0;
                for (int k = 0; k < 6; k++) found |= x[2 * k] == x[p] && x[2 * k + 1] == y[p];
                qok &= found;
            } else {
                nonzero += x[p] != 0;
                qok &= x[p] >= 0 && x[p] < 64;
            }
        }
    }
    ok(qok && nq == 300 && nonzero > 50 * 22 * 9 / 10,
       "mqar random_non_queries: queries intact, %d of %d empty positions hold a random token of [0, V)", nonzero, 50 * 22);
    sl_batch_free(&b1);
    sl_task_free(t);
    /* errors */
    ok(sl_task_create("nosuch", &t) == SL_ENOTFOUND && strstr(sl_errmsg(), "copy, adding, charlm"),
       "unknown task lists the tasks");
    ok(sl_task_create("copy:gap=3", &t) == SL_EINVAL && strstr(sl_errmsg(), "valid keys"), "unknown task key");
    ok(sl_task_create("adding:length=1", &t) == SL_EINVAL, "adding length below 2");
    sl_rng_free(r1);
    sl_rng_free(r2);
    return done_testing();
}
