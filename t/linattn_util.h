/* t/linattn_util.h — checks of the linear-attention core ssm/linattn.c shared by t/t-retnet.c
 * (per-head decay) and t/t-gla.c (per-channel gates); header-only, include after t/testutil.h. */
#ifndef SL_T_LINATTN_UTIL_H
#define SL_T_LINATTN_UTIL_H

#include "ssm/linattn.h"
#include "t/testutil.h"
#include "core/optim.h"
#include "lab/registry.h"
#include "lab/tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_linattn_args a;
    float *q, *k, *v, *g, *gh, *R;
    double *o;
} prob;

static void prob_make(prob *p, int B, int T, int H, int K, int V, int gates, uint64_t seed)
{
    sl_rng *r = sl_rng_alloc(seed);
    size_t nk = (size_t)B * T * H * K, nv = (size_t)B * T * H * V;
    p->q = malloc(nk * sizeof(float));
    p->k = malloc(nk * sizeof(float));
    p->v = malloc(nv * sizeof(float));
    p->R = malloc(nv * sizeof(float));
    p->o = malloc(nv * sizeof(double));
    p->gh = malloc((size_t)H * sizeof(float));
    p->g = NULL;
    sl_rng_fill_normal(r, p->q, nk, 1.0f);
    sl_rng_fill_normal(r, p->k, nk, 1.0f);
    sl_rng_fill_normal(r, p->v, nv, 1.0f);
    sl_rng_fill_normal(r, p->R, nv, 1.0f);
    for (int h = 0; h < H; h++) p->gh[h] = (float)log1p(-pow(2.0, -1.0 - 2 * h)); /* gamma 0.5, 0.875, ... */
    if (gates) {
        p->g = malloc(nk * sizeof(float));
        /* log gates from -6 (strong forgetting) to -0.001 */
        for (size_t i = 0; i < nk; i++) p->g[i] = (float)-exp(sl_rng_uniform(r) * 8.5 - 7.0);
    }
    sl_linattn_args a = {
        .B = B, .T = T, .H = H, .K = K, .V = V, .q = p->q, .k = p->k, .v = p->v, .g = p->g, .gh = p->gh, .scale = 0.7f};
    p->a = a;
    sl_rng_free(r);
}

static void prob_free(prob *p)
{
    free(p->q);
    free(p->k);
    free(p->v);
    free(p->g);
    free(p->gh);
    free(p->R);
    free(p->o);
}

static double rel_err(const float *o, const double *ref, size_t n)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(o[i] - ref[i]));
        s = fmax(s, fabs(ref[i]));
    }
    return e / (s > 1 ? s : 1);
}

/* loss = sum o R with o from the double recurrence */
static double naive_loss(void *ctx)
{
    prob *p = ctx;
    sl_linattn_naive(p->o, &p->a);
    size_t n = (size_t)p->a.B * p->a.T * p->a.H * p->a.V;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += p->o[i] * p->R[i];
    return s;
}

/* the core's forms against the double recurrence, and its chunkwise backward against finite
 * differences of that recurrence; gates = 0: per-head decay (retention), 1: per-channel (GLA) */
static void core_tests(int gates, const char *label)
{
    prob p;
    const int B = 2, T = 45, H = 2, K = 4, V = 3;
    prob_make(&p, B, T, H, K, V, gates, 11);
    const size_t nv = (size_t)B * T * H * V, nk = (size_t)B * T * H * K;
    float *o = malloc(nv * sizeof(float));
    sl_linattn_naive(p.o, &p.a);
    const int Cs[] = {1, 5, 16, 64};
    for (size_t c = 0; c < sizeof Cs / sizeof Cs[0]; c++) {
        int rc = sl_linattn_chunk_forward(o, &p.a, Cs[c]);
        double e = rc ? INFINITY : rel_err(o, p.o, nv);
        ok(e < 2e-6, "%s: chunkwise (C=%d) == recurrence in double (rel %.2e)", label, Cs[c], e);
    }
    int rc = sl_linattn_recurrent_forward(o, &p.a);
    double e = rc ? INFINITY : rel_err(o, p.o, nv);
    ok(e < 2e-6, "%s: recurrent form == recurrence in double (rel %.2e)", label, e);
    if (!gates) {
        rc = sl_linattn_parallel_forward(o, &p.a);
        e = rc ? INFINITY : rel_err(o, p.o, nv);
        ok(e < 2e-6, "%s: parallel form == recurrence in double (rel %.2e)", label, e);
    }
    /* step by step from a zero state */
    {
        float *S = calloc((size_t)B * H * K * V, sizeof(float)), *qt = malloc((size_t)B * H * K * sizeof(float)),
              *kt = malloc((size_t)B * H * K * sizeof(float)), *vt = malloc((size_t)B * H * V * sizeof(float)),
              *gt = malloc((size_t)B * H * K * sizeof(float)), *ot = malloc((size_t)B * H * V * sizeof(float));
        double es = 0;
        for (int t = 0; t < T; t++) {
            for (int b = 0; b < B; b++) {
                size_t src = ((size_t)b * T + t) * H;
                memcpy(qt + (size_t)b * H * K, p.q + src * K, (size_t)H * K * sizeof(float));
                memcpy(kt + (size_t)b * H * K, p.k + src * K, (size_t)H * K * sizeof(float));
                memcpy(vt + (size_t)b * H * V, p.v + src * V, (size_t)H * V * sizeof(float));
                if (gates) memcpy(gt + (size_t)b * H * K, p.g + src * K, (size_t)H * K * sizeof(float));
            }
            sl_linattn_args a = p.a;
            a.T = 1;
            a.q = qt;
            a.k = kt;
            a.v = vt;
            a.g = gates ? gt : NULL;
            sl_linattn_step(ot, S, &a);
            for (int b = 0; b < B; b++)
                for (int i = 0; i < H * V; i++)
                    es = fmax(es, fabs(ot[(size_t)b * H * V + i] - p.o[((size_t)b * T + t) * H * V + i]));
        }
        ok(es < 1e-5, "%s: step == recurrence in double (max abs %.2e)", label, es);
        free(S);
        free(qt);
        free(kt);
        free(vt);
        free(gt);
        free(ot);
    }
    /* backward: chunk 16 (a partial last chunk) against central differences of the double loss */
    float *dq = malloc(nk * sizeof(float)), *dk = malloc(nk * sizeof(float)), *dv = malloc(nv * sizeof(float));
    float *dg = gates ? malloc(nk * sizeof(float)) : NULL;
    rc = sl_linattn_chunk_backward(dq, dk, dv, dg, p.R, &p.a, 16);
    ok(rc == 0, "%s: chunkwise backward ran", label);
    struct {
        const char *n;
        float *x, *g;
        size_t len;
    } ts[] = {{"q", p.q, dq, nk}, {"k", p.k, dk, nk}, {"v", p.v, dv, nv}, {"g", p.g, dg, nk}};
    for (int i = 0; i < (gates ? 4 : 3); i++) {
        sl_gradcheck_result r;
        rc = sl_gradcheck(ts[i].x, ts[i].g, ts[i].len, naive_loss, &p, 1e-2, 0, 1e-3, &r);
        /* the analytic side is float32: 1e-3 in the gradcheck's relative form (floor 1e-3);
         * dg is a reverse cumulative sum of q dq - k dk whose terms cancel (dg_0 is exactly 0:
         * the first gate only decays the zero initial state), leaving float rounding of about
         * 1e-5 absolute, so 1e-2 there */
        const double tol = i == 3 ? 1e-2 : 1e-3;
        int good = ok(rc == 0 && r.max_rel < tol,
                      "%s: d%s == finite differences of the double recurrence, all %zu coordinates (max rel %.2e)", label,
                      ts[i].n, r.checked, r.max_rel);
        if (!good || getenv("TU_DIAG"))
            diag("  worst at %zu: analytic %.6g numeric %.6g", r.worst, r.worst_analytic, r.worst_numeric);
    }
    free(dq);
    free(dk);
    free(dv);
    free(dg);
    free(o);
    prob_free(&p);
}

/* learn_task: train the token model `spec` (vocab_size appended from the task) on `task` with
 * AdamW (lr with a 50-step warmup, clip 1, weight decay 0.01) for `steps` batches of B
 * sequences; returns the task's metric on 8 validation batches (accuracy on scored
 * positions), and the first and last training losses. -1 on failure (message set). */
static double learn_task(const char *spec, const char *task_spec, int steps, int B, float lr, double *first, double *last)
{
    sl_task *task;
    if (sl_task_create(task_spec, &task)) return -1;
    char full[256];
    snprintf(full, sizeof full, "%s,vocab_size=%d", spec, task->vocab);
    sl_model *m;
    if (sl_model_create(full, 11, &m)) {
        sl_task_free(task);
        return -1;
    }
    const int T = task->T, V = task->vocab;
    sl_batch bt;
    sl_batch_alloc(&bt, task, B);
    float *y = malloc((size_t)B * T * V * sizeof(float)), *dy = malloc((size_t)B * T * V * sizeof(float));
    float *scratch = malloc((size_t)B * T * V * sizeof(float));
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    oc.weight_decay = 0.01f;
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_rng *rng = sl_rng_alloc(5);
    sl_model_set_training(m, 1, rng);
    int rc = 0;
    for (int s = 0; s < steps && !rc; s++) {
        task->sample(task, 0, rng, &bt);
        sl_params_zero_grad(m->P);
        if ((rc = sl_model_forward(m, NULL, bt.tok, y, B, T))) break;
        double loss = sl_task_loss(task, &bt, y, dy, scratch, NULL, NULL);
        if (s == 0) *first = loss;
        *last = loss;
        if ((rc = sl_model_backward(m, dy, NULL))) break;
        sl_clip_grad_norm(m->P, 1.0);
        sl_optim_step(o, m->P, s < 50 ? lr * (s + 1) / 50 : lr);
    }
    sl_model_set_training(m, 0, NULL);
    sl_eval_result ev = {0};
    if (!rc) rc = sl_task_eval(task, m, 8, 32, 99, &ev);
    free(y);
    free(dy);
    free(scratch);
    sl_batch_free(&bt);
    sl_optim_free(o);
    sl_rng_free(rng);
    sl_model_free(m);
    sl_task_free(task);
    return rc ? -1 : ev.metric;
}

#endif
