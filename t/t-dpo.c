/* t/t-dpo.c — the DPO loss and task (lab/dpo.h): the loss's gradient with respect to the
 * logits against central differences (in double), its value log 2 when policy = reference,
 * the task's rows and targets from a JSON-lines file, malformed files refused with file:line,
 * and for a transformer, a Mamba and an LSTM policy: the loss starts at log 2 and a few AdamW
 * steps on it raise the preferred continuation's margin (reward accuracy 1 on the pairs). */
#include "core/gradcheck.h"
#include "core/optim.h"
#include "core/util.h"
#include "lab/dpo.h"
#include "lab/registry.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    float *y;
    const int32_t *tgt;
    const double *ref;
    int B, T, V;
    double beta;
} lctx;

static double loss_of(void *p)
{
    lctx *c = p;
    return sl_dpo_loss(c->y, c->tgt, c->ref, c->B, c->T, c->V, c->beta, NULL, NULL, NULL);
}

static void test_loss(void)
{
    const int B = 4, T = 5, V = 6;
    float *y = tu_random((size_t)B * T * V, 1.5f, 3), *dy = malloc(sizeof(float) * B * T * V);
    int32_t tgt[4 * 5];
    for (int i = 0; i < B * T; i++) tgt[i] = (i % 3 == 0) ? -1 : (i * 5 + 1) % V;
    double ref[4] = {-7.1, -6.3, -8.0, -5.5};
    lctx c = {y, tgt, ref, B, T, V, 0.7};
    long correct;
    double l = sl_dpo_loss(y, tgt, ref, B, T, V, 0.7, dy, NULL, &correct);
    ok(isfinite(l) && l > 0, "loss is finite and positive (%g)", l);
    sl_gradcheck_result r;
    int rc = sl_gradcheck(y, dy, (size_t)B * T * V, loss_of, &c, 1e-3, 0, 1e-4, &r);
    ok(rc == 0 && r.max_rel <= 1e-2, "dloss/dlogits against central differences (max rel %.2e over %zu)", r.max_rel, r.checked);
    /* unscored positions get no gradient */
    int zero = 1;
    for (int i = 0; i < B * T; i++)
        if (tgt[i] < 0)
            for (int v = 0; v < V; v++) zero &= dy[(size_t)i * V + v] == 0.0f;
    ok(zero, "no gradient at unscored positions");
    /* policy = reference: z = 0, loss = log 2 */
    double lp[4];
    sl_dpo_seq_logprob(lp, y, tgt, B, T, V);
    l = sl_dpo_loss(y, tgt, lp, B, T, V, 0.7, NULL, NULL, &correct);
    is_close(l, log(2.0), 1e-12, "policy = reference: loss = log 2");
    ok(correct == 0, "  ... and no pair counts as preferred");
    /* the closed form for one pair: -log sigmoid(beta * margin) */
    double ref2[4] = {lp[0] - 1.0, lp[1] + 0.5, lp[2], lp[3]};
    l = sl_dpo_loss(y, tgt, ref2, 2, T, V, 0.7, NULL, NULL, &correct);
    is_close(l, log1p(exp(-0.7 * 1.5)), 1e-9, "one pair with margin 1.5: -log sigmoid(0.7 * 1.5)");
    ok(correct == 1, "  ... counted as preferred");
    free(y);
    free(dy);
}

static char dir[] = "/tmp/t-dpo-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* alphabet "abcdxy" in hex */
#define ALPHA "616263647879"

static void test_task(void)
{
    const char *p = write_file("ok.jsonl", "{\"prompt\": \"ab\", \"chosen\": \"cd\", \"rejected\": \"x\"}\n\n"
                                           "{\"prompt\": \"b\", \"chosen\": \"xxx\", \"rejected\": \"yy\"}\n");
    char spec[512];
    snprintf(spec, sizeof spec, "dpo:data=%s,alphabet=" ALPHA ",val_frac=0.5", p);
    sl_task *t = NULL;
    int rc = sl_task_create(spec, &t);
    if (!ok(rc == 0, "task from a JSON-lines file (%s)", rc ? sl_errmsg() : "ok")) return;
    ok(t->T == 3 && t->vocab == 6 && !strcmp(t->metric, "accuracy"), "T = longest pair - 1 = %d, vocabulary %d", t->T, t->vocab);
    sl_batch b;
    sl_batch_alloc(&b, t, 2);
    sl_rng *rng = sl_rng_alloc(1);
    rc = t->sample(t, 0, rng, &b);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "no reference"), "sampling without a reference is refused (%s)", sl_errmsg());
    sl_model *ref = NULL;
    sl_model_create("lm:mixer=lstm,d_model=8,n_layer=1,vocab_size=6", 1, &ref);
    sl_dpo_set_reference(t, ref);
    rc = t->sample(t, 0, rng, &b); /* the train split is the first pair */
    /* chosen: a b c d -> tok a b c, targets - c d;  rejected: a b x -> tok a b x, targets - x - */
    int32_t tok_want[6] = {0, 1, 2, 0, 1, 4}, tgt_want[6] = {-1, 2, 3, -1, 4, -1};
    ok(rc == 0 && !memcmp(b.tok, tok_want, sizeof tok_want) && !memcmp(b.target, tgt_want, sizeof tgt_want),
       "rows: prompt+chosen, prompt+rejected; targets on the responses only");
    sl_batch_free(&b);
    sl_batch_alloc(&b, t, 3);
    ok(t->sample(t, 0, rng, &b) == SL_EINVAL && strstr(sl_errmsg(), "even --batch"), "an odd batch is refused (%s)", sl_errmsg());
    sl_batch_free(&b);
    sl_rng_free(rng);
    sl_task_free(t);

    struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\"}\n",
         ":2: \"rejected\" is missing"},
        {"{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\nnot json\n", "bad.jsonl:2"},
        {"{\"prompt\": \"a\", \"chosen\": \"Z\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": "
         "\"c\"}\n",
         ":1: \"chosen\" has 'Z'"},
        {"{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n", "at least 2"},
        {"[1, 2]\n{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n", ":1: not a JSON object"},
        {"{\"prompt\": \"\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": "
         "\"c\"}\n",
         "must not be empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = write_file("bad.jsonl", bad[i].text);
        snprintf(spec, sizeof spec, "dpo:data=%s,alphabet=" ALPHA, p);
        rc = sl_task_create(spec, &t);
        ok(rc != 0 && strstr(sl_errmsg(), bad[i].needle), "malformed file refused: '%s' (%s)", bad[i].needle, sl_errmsg());
    }
    snprintf(spec, sizeof spec, "dpo:data=%s", p);
    ok(sl_task_create(spec, &t) == SL_EINVAL && strstr(sl_errmsg(), "--init-from"), "no alphabet: refused (%s)", sl_errmsg());
    unlink(p);
}

/* synthetic preference: after any prompt of a/b/c/d, "xxxx" is preferred to "yyyy" */
static void test_family(const char *spec)
{
    char text[4096] = "";
    for (int i = 0; i < 16; i++) {
        char line[128], pr[4] = {(char)('a' + i % 4), (char)('a' + (i / 4) % 4), (char)('a' + (i * 3) % 4), 0};
        snprintf(line, sizeof line, "{\"prompt\": \"%s\", \"chosen\": \"xxxx\", \"rejected\": \"yyyy\"}\n", pr);
        strcat(text, line);
    }
    const char *p = write_file("pref.jsonl", text);
    char tspec[512];
    snprintf(tspec, sizeof tspec, "dpo:data=%s,alphabet=" ALPHA ",beta=0.5,val_frac=0.25", p);
    sl_task *t = NULL;
    sl_model *m = NULL, *ref = NULL;
    if (sl_task_create(tspec, &t) || sl_model_create(spec, 4, &m) || sl_model_create(spec, 4, &ref)) {
        ok(0, "%s: built (%s)", spec, sl_errmsg());
        return;
    }
    sl_dpo_set_reference(t, ref);
    sl_eval_result e0, e1;
    sl_task_eval(t, m, 2, 8, 11, &e0);
    is_close(e0.loss, log(2.0), 1e-6, "%s: validation DPO loss starts at log 2 (policy = reference)", spec);
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_batch b;
    sl_batch_alloc(&b, t, 8);
    sl_rng *rng = sl_rng_alloc(2);
    size_t ny = (size_t)8 * t->T * t->vocab;
    float *y = malloc(ny * sizeof(float)), *dy = malloc(ny * sizeof(float));
    for (int it = 0; it < 30; it++) {
        t->sample(t, 0, rng, &b);
        sl_params_zero_grad(m->P);
        sl_model_forward(m, NULL, b.tok, y, 8, t->T);
        sl_task_loss(t, &b, y, dy, NULL, NULL, NULL);
        sl_model_backward(m, dy, NULL);
        sl_optim_step(o, m->P, 1e-2f);
    }
    sl_task_eval(t, m, 2, 8, 11, &e1);
    ok(e1.loss < 0.5 * log(2.0) && e1.metric == 1.0,
       "%s: 30 AdamW steps on the DPO loss: validation loss %.4f, reward accuracy %.2f", spec, e1.loss, e1.metric);
    free(y);
    free(dy);
    sl_batch_free(&b);
    sl_rng_free(rng);
    sl_optim_free(o);
    sl_model_free(m);
    sl_task_free(t);
    unlink(p);
}

int main(void)
{
    sl_threads_set(1);
    if (!mkdtemp(dir)) return 1;
    test_loss();
    test_task();
    test_family("gpt:n_layer=1,n_head=2,n_embd=16,block_size=8,vocab_size=6");
    test_family("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=6");
    test_family("lm:mixer=lstm,d_model=16,n_layer=1,vocab_size=6");
    rmdir(dir);
    return done_testing();
}
