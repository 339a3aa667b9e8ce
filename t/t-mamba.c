/* t/t-mamba.c — the Mamba block: parameter names/shapes/groups, gradient check, step == sequence,
 * fast == chunked scan inside the block, agreement with the PyTorch reference (forward and every
 * gradient, t/ref/make_mamba_fixtures.py), the lm:mixer=mamba wrapper (MambaLMHeadModel
 * names, step == sequence, gradients), spec errors, and a learning test on selective copying. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"
#include "t/fixture.h"
#include "core/npy.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "core/util.h"
#include "lab/registry.h"
#include "lab/tasks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_block(void)
{
    sl_model *m;
    int rc = sl_model_create("mamba:d_model=16,d_state=4,d_conv=3,expand=2", 7, &m);
    ok(rc == 0, "create mamba (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    const sl_params *P = m->P;
    ok(shape_is(P, "in_proj.weight", 2, 64, 16, 0) && shape_is(P, "conv1d.weight", 3, 32, 1, 3) &&
           shape_is(P, "conv1d.bias", 1, 32, 0, 0) && shape_is(P, "x_proj.weight", 2, 1 + 8, 32, 0) &&
           shape_is(P, "dt_proj.weight", 2, 32, 1, 0) && shape_is(P, "dt_proj.bias", 1, 32, 0, 0) &&
           shape_is(P, "A_log", 2, 32, 4, 0) && shape_is(P, "D", 1, 32, 0, 0) && shape_is(P, "out_proj.weight", 2, 16, 32, 0) &&
           P->n == 9,
       "mamba_ssm parameter names and shapes (%d tensors)", P->n);
    ok(find(P, "A_log")->wd_scale == 0 && find(P, "D")->wd_scale == 0 && find(P, "in_proj.weight")->wd_scale != 0,
       "A_log and D have no weight decay");
    /* init: A_log = log(n+1), D = 1, dt = softplus(bias) in [dt_min, dt_max] */
    const float *al = sl_params_data(P, sl_params_find(P, "A_log")), *dtb = sl_params_data(P, sl_params_find(P, "dt_proj.bias"));
    int good = 1;
    for (int e = 0; e < 32; e++) {
        for (int n = 0; n < 4; n++) good &= fabsf(al[e * 4 + n] - logf(n + 1.0f)) < 1e-6f;
        double dt = log1p(exp(dtb[e]));
        good &= dt >= 0.001 * 0.999 && dt <= 0.1 * 1.001;
    }
    ok(good, "init: A_log = log(1..N) (S4D-Real), softplus(dt_proj.bias) in [dt_min, dt_max]");
    const int B = 2, T = 9;
    float *x = tu_random((size_t)B * T * 16, 1.0f, 3);
    /* bigger dt so the scan matters in the checks */
    float *dtbw = sl_params_data(P, sl_params_find(P, "dt_proj.bias"));
    for (int e = 0; e < 32; e++) dtbw[e] = -1.0f + 0.05f * e;
    check_model_grads(m, "mamba", x, NULL, B, T, 1e-2, 2e-2, 24);
    check_step_equals_seq(m, "mamba", x, NULL, B, T, 1e-5);
    free(x);
    sl_model_free(m);

    /* chunked parallel scan inside the block == fast path */
    sl_model *m1, *m2;
    sl_model_create("mamba:d_model=24,d_state=16,scan_chunks=1", 5, &m1);
    sl_model_create("mamba:d_model=24,d_state=16,scan_chunks=4", 5, &m2);
    const int T2 = 300;
    float *x2 = tu_random((size_t)T2 * 24, 1.0f, 4), *y1 = malloc((size_t)T2 * 24 * 4), *y2 = malloc((size_t)T2 * 24 * 4);
    sl_model_forward(m1, x2, NULL, y1, 1, T2);
    sl_model_forward(m2, x2, NULL, y2, 1, T2);
    double d = max_abs_diff(y1, y2, (size_t)T2 * 24);
    ok(d < 1e-5, "scan_chunks=4 == scan_chunks=1 in the block (max abs %.2e)", d);
    free(x2);
    free(y1);
    free(y2);
    sl_model_free(m1);
    sl_model_free(m2);
}

static void test_lm(void)
{
    sl_model *m;
    int rc = sl_model_create("lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11", 3, &m);
    ok(rc == 0, "create lm:mixer=mamba (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    /* MambaLMHeadModel state_dict names (lm_head.weight is tied to the embedding) */
    static const char *names[] = {"backbone.embedding.weight",
                                  "backbone.norm_f.weight",
                                  "backbone.layers.0.norm.weight",
                                  "backbone.layers.1.norm.weight",
                                  "backbone.layers.0.mixer.in_proj.weight",
                                  "backbone.layers.0.mixer.conv1d.weight",
                                  "backbone.layers.0.mixer.conv1d.bias",
                                  "backbone.layers.0.mixer.x_proj.weight",
                                  "backbone.layers.0.mixer.dt_proj.weight",
                                  "backbone.layers.0.mixer.dt_proj.bias",
                                  "backbone.layers.0.mixer.A_log",
                                  "backbone.layers.0.mixer.D",
                                  "backbone.layers.0.mixer.out_proj.weight",
                                  "backbone.layers.1.mixer.A_log",
                                  "backbone.layers.1.mixer.out_proj.weight"};
    int all = 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (sl_params_find(m->P, names[i]) < 0) {
            all = 0;
            diag("missing %s", names[i]);
        }
    ok(all && m->P->n == 4 + 2 * 9, "MambaLMHeadModel parameter names (%d tensors, tied head)", m->P->n);
    ok(shape_is(m->P, "backbone.embedding.weight", 2, 11, 16, 0), "embedding (vocab_size, d_model)");
    const int B = 2, T = 7;
    int32_t tok[14];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 7 + 3) % 11;
    check_step_equals_seq(m, "lm:mixer=mamba", NULL, tok, B, T, 1e-4);
    /* step 5e-3, not 1e-2: with 1e-2 the central difference of dt_proj.bias (through softplus and
     * exp(dt A)) carries a truncation error of ~3e-5 against a 1e-3 floor, so the worst coordinate
     * sat at 2.98e-2 (normal build) and 3.31e-2 (ASan build) of the 3e-2 tolerance on an Intel
     * AVX-512 machine; at 5e-3 the worst tensor is 2.3e-2 (normal build) and 2.1e-2 (ASan) */
    check_model_grads(m, "lm:mixer=mamba", NULL, tok, B, T, 5e-3, 3e-2, 12);
    sl_model_free(m);
}

static void test_errors(void)
{
    sl_model *m = NULL;
    int rc = sl_model_create("mamba:d_model=16,dt_rank=abc", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "dt_rank"), "bad dt_rank rejected: %s", sl_errmsg());
    rc = sl_model_create("mamba:d_model=16,dt_min=0.5,dt_max=0.1", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "dt_min"), "dt_min > dt_max rejected: %s", sl_errmsg());
    rc = sl_model_create("mamba:d_model=16,d_stat=4", 1, &m);
    ok(rc != 0 && strstr(sl_errmsg(), "d_state"), "unknown key rejected, valid keys listed: %s", sl_errmsg());
    rc = sl_model_create("mamba:d_model=0", 1, &m);
    ok(rc != 0, "d_model=0 rejected: %s", sl_errmsg());
    rc = sl_model_create("lm:mixer=mamba,d_model=16,vocab_size=5", 1, &m);
    if (!rc) {
        float y[5 * 3];
        int32_t bad[3] = {0, 9, 1};
        ok(sl_model_forward(m, NULL, bad, y, 1, 3) != 0, "token outside the vocabulary rejected: %s", sl_errmsg());
        sl_model_free(m);
    } else {
        ok(0, "lm create: %s", sl_errmsg());
    }
}

/* selective copying (Mamba paper section 3.1): a 2-layer Mamba LM must reproduce the 4 data
 * tokens scattered among noise in 16 positions, in order (chance 1/4). Trained with AdamW on
 * lab/tasks' selcopy, 1200 steps of 16 sequences (~4 s). */
static void test_selcopy(void)
{
    sl_task *task;
    int rc = sl_task_create("selcopy:seq_len=16,n_tokens=4,vocab_size=4", &task);
    if (rc) {
        ok(0, "selcopy task: %s", sl_errmsg());
        return;
    }
    char spec[160];
    snprintf(spec, sizeof spec, "lm:mixer=mamba,d_model=32,n_layer=2,d_state=16,vocab_size=%d", task->vocab);
    sl_model *m;
    if ((rc = sl_model_create(spec, 11, &m))) {
        ok(0, "%s: %s", spec, sl_errmsg());
        sl_task_free(task);
        return;
    }
    const int B = 16, T = task->T, V = task->vocab;
    sl_batch bt;
    sl_batch_alloc(&bt, task, B);
    float *y = malloc((size_t)B * T * V * sizeof(float)), *dy = malloc((size_t)B * T * V * sizeof(float));
    float *scratch = malloc((size_t)B * T * V * sizeof(float));
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    oc.weight_decay = 0.01f;
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_rng *rng = sl_rng_alloc(5);
    sl_model_set_training(m, 1, rng);
    double first = 0, loss = 0;
    const int steps = 1200;
    for (int s = 0; s < steps && !rc; s++) {
        task->sample(task, 0, rng, &bt);
        sl_params_zero_grad(m->P);
        rc = sl_model_forward(m, NULL, bt.tok, y, B, T);
        if (rc) break;
        loss = sl_task_loss(task, &bt, y, dy, scratch, NULL, NULL);
        if (s == 0) first = loss;
        rc = sl_model_backward(m, dy, NULL);
        sl_clip_grad_norm(m->P, 1.0);
        float lr = s < 50 ? 1e-2f * (s + 1) / 50 : 1e-2f;
        sl_optim_step(o, m->P, lr);
    }
    sl_model_set_training(m, 0, NULL);
    sl_eval_result ev = {0};
    if (!rc) rc = sl_task_eval(task, m, 8, 32, 99, &ev);
    ok(rc == 0 && ev.metric >= 0.8, "selective copying learned: accuracy %.3f (loss %.3f -> %.3f, chance %.3f)", ev.metric, first,
       loss, 1.0 / 4);
    if (rc) diag("%s", sl_errmsg());
    free(y);
    free(dy);
    free(scratch);
    sl_batch_free(&bt);
    sl_optim_free(o);
    sl_rng_free(rng);
    sl_model_free(m);
    sl_task_free(task);
}

int main(void)
{
    /* one thread: these checks run thousands of tiny forwards, where parallel regions only
     * cost (the parallel scan paths are tested in t/t-scan) */
    sl_threads_set(1);
    test_block();
    check_fixture("mamba:d_model=16,d_state=8,d_conv=4,expand=2", "mamba", 1e-4, 1e-4);
    /* d_state 16, Mamba's default, takes the scan's N=16 kernels (ssm/scan.c fwd16_body) */
    check_fixture("mamba:d_model=16,d_state=16,d_conv=4,expand=2", "mamba16", 1e-4, 1e-4);
    test_lm();
    test_errors();
    test_selcopy();
    return done_testing();
}
