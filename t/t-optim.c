/* t/t-optim.c — SGD and AdamW against hand-computed updates; schedules; clipping. */
#include "core/optim.h"
#include "t/tap.h"

#include <math.h>
#include <stdlib.h>

static sl_params *one_param(float p, float g, int ndim)
{
    sl_params *P = sl_params_new();
    sl_params_add(P, "", "w", ndim, 1, 1, 0, 0);
    sl_params_alloc(P);
    P->data[0] = p;
    P->grad[0] = g;
    return P;
}

int main(void)
{
    /* AdamW, two steps by hand: lr 0.1, b1 .9, b2 .999, eps 1e-8, wd 0.1 */
    sl_optim_config c = sl_optim_defaults(SL_OPT_ADAMW);
    c.weight_decay = 0.1f;
    sl_params *P = one_param(1.0f, 0.5f, 2);
    sl_optim *o = sl_optim_alloc(&c, P->total);
    sl_optim_step(o, P, 0.1f);
    double p = 1.0, m = 0, v = 0, gg = 0.5;
    p -= 0.1 * 0.1 * p;
    m = 0.1 * gg;
    v = 0.001 * gg * gg;
    p -= 0.1 * (m / 0.1) / (sqrt(v / 0.001) + 1e-8);
    is_close(P->data[0], p, 1e-6, "AdamW step 1 matches the hand computation");
    P->grad[0] = -0.25f;
    sl_optim_step(o, P, 0.1f);
    gg = -0.25;
    p -= 0.1 * 0.1 * p;
    m = 0.9 * m + 0.1 * gg;
    v = 0.999 * v + 0.001 * gg * gg;
    p -= 0.1 * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
    is_close(P->data[0], p, 1e-6, "AdamW step 2 (bias correction) matches");
    sl_optim_free(o);
    sl_params_free(P);

    /* weight decay is skipped for vectors (wd_scale 0) and lr_scale applies */
    P = one_param(1.0f, 0.0f, 1);
    o = sl_optim_alloc(&c, P->total);
    sl_optim_step(o, P, 0.1f);
    is_close(P->data[0], 1.0, 1e-7, "no decay on a rank-1 tensor with zero gradient");
    sl_optim_free(o);
    sl_params_free(P);

    /* frozen tensors do not move */
    P = one_param(1.0f, 1.0f, 2);
    sl_params_set_trainable(P, 0, 0);
    o = sl_optim_alloc(&c, P->total);
    sl_optim_step(o, P, 0.1f);
    is_close(P->data[0], 1.0, 0, "frozen tensor unchanged");
    sl_optim_free(o);
    sl_params_free(P);

    /* SGD with momentum 0.9 (PyTorch: buf = g on the first step, then mu*buf + g) */
    sl_optim_config s = sl_optim_defaults(SL_OPT_SGD);
    P = one_param(1.0f, 0.5f, 2);
    sl_params_set_group(P, 0, 0.5f, 1.0f); /* lr_scale 0.5 */
    o = sl_optim_alloc(&s, P->total);
    sl_optim_step(o, P, 0.2f);
    is_close(P->data[0], 1.0 - 0.1 * 0.5, 1e-7, "SGD step 1 (lr_scale applied)");
    P->grad[0] = 1.0f;
    sl_optim_step(o, P, 0.2f);
    is_close(P->data[0], 0.95 - 0.1 * (0.9 * 0.5 + 1.0), 1e-6, "SGD momentum step 2");
    sl_optim_free(o);
    sl_params_free(P);
    s.momentum = 0.9f;
    s.nesterov = 1;
    s.weight_decay = 0.1f;
    P = one_param(1.0f, 0.5f, 2);
    o = sl_optim_alloc(&s, P->total);
    sl_optim_step(o, P, 0.1f);
    /* d = g + wd p = 0.6; buf = 0.6; nesterov: d + mu buf = 1.14 */
    is_close(P->data[0], 1.0 - 0.1 * 1.14, 1e-6, "SGD nesterov + L2 weight decay");
    sl_optim_free(o);
    sl_params_free(P);

    /* schedule: nanoGPT's get_lr */
    sl_schedule sch = {1, 1e-3f, 1e-4f, 100, 2000};
    is_close(sl_schedule_lr(&sch, 0), 1e-3 * 1 / 101.0, 1e-9, "warmup step 0");
    is_close(sl_schedule_lr(&sch, 99), 1e-3 * 100 / 101.0, 1e-9, "warmup step 99");
    is_close(sl_schedule_lr(&sch, 100), 1e-3, 1e-9, "peak after warmup");
    is_close(sl_schedule_lr(&sch, 1050), 1e-4 + 0.5 * 9e-4, 1e-8, "cosine midpoint");
    is_close(sl_schedule_lr(&sch, 2000), 1e-4, 1e-9, "end of decay");
    is_close(sl_schedule_lr(&sch, 5000), 1e-4, 1e-9, "floor after decay");
    sl_schedule cst = {0, 3e-3f, 0, 0, 0};
    is_close(sl_schedule_lr(&cst, 123), 3e-3, 1e-9, "constant schedule");

    /* clipping */
    P = sl_params_new();
    sl_params_add(P, "", "a", 1, 2, 0, 0, 0);
    sl_params_add(P, "", "b", 1, 1, 0, 0, 0);
    sl_params_alloc(P);
    float *ga = sl_params_grad(P, 0), *gb = sl_params_grad(P, 1);
    ga[0] = 3;
    ga[1] = 0;
    gb[0] = 4;
    double nrm = sl_clip_grad_norm(P, 1.0);
    is_close(nrm, 5.0, 1e-9, "clip returns the norm before clipping");
    is_close(ga[0], 3.0 / (5.0 + 1e-6), 1e-6, "clip scales to max_norm");
    is_close(gb[0], 4.0 / (5.0 + 1e-6), 1e-6, "clip scales every tensor");
    nrm = sl_clip_grad_norm(P, 10.0);
    is_close(ga[0], 3.0 / (5.0 + 1e-6), 1e-6, "no scaling below max_norm");
    sl_params_free(P);

    /* AdamW on a long tensor (the vectorised path, 16 at a time, plus a tail) and a short one:
     * every element against the update computed here in double, over three steps */
    {
        const int n = 16 * 11 + 7;
        P = sl_params_new();
        sl_params_add(P, "", "big", 2, n, 1, 0, 0);
        sl_params_add(P, "", "vec", 1, 5, 0, 0, 0);
        sl_params_alloc(P);
        const size_t tot = P->total;
        double *pd = calloc(tot, sizeof(double)), *md = calloc(tot, sizeof(double)), *vd = calloc(tot, sizeof(double));
        for (size_t i = 0; i < tot; i++) {
            P->data[i] = (float)(0.3 + 0.01 * (double)(i % 17));
            pd[i] = P->data[i];
        }
        c = sl_optim_defaults(SL_OPT_ADAMW);
        c.beta2 = 0.99f;
        c.weight_decay = 0.1f;
        o = sl_optim_alloc(&c, tot);
        double worst = 0.0;
        for (int step = 1; step <= 3; step++) {
            for (size_t i = 0; i < tot; i++) P->grad[i] = (float)(((int)(i * 7 + step * 3) % 11) - 5) * 0.1f;
            sl_optim_step(o, P, 0.01f);
            const double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow((double)0.99f, step);
            for (int t = 0; t < P->n; t++) {
                const double wd = t == 0 ? 0.1 : 0.0;
                for (size_t k = 0; k < P->t[t].numel; k++) {
                    size_t i = P->t[t].offset + k;
                    double g = P->grad[i];
                    pd[i] -= 0.01 * wd * pd[i];
                    md[i] = 0.9 * md[i] + 0.1 * g;
                    vd[i] = (double)0.99f * vd[i] + (1 - (double)0.99f) * g * g;
                    pd[i] -= 0.01 * (md[i] / bc1) / (sqrt(vd[i] / bc2) + 1e-8);
                    double e = fabs(pd[i] - P->data[i]);
                    if (e > worst) worst = e;
                }
            }
        }
        ok(worst < 2e-6, "AdamW, %d + 5 elements (vector path and tail), 3 steps == double reference (max %.2e)", n, worst);
        free(pd);
        free(md);
        free(vd);
        sl_optim_free(o);
        sl_params_free(P);
    }

    /* clipping over many chunks: tensors longer than the 16384-float chunks, more than 64 chunks
     * in all (the heap path for partial sums), and a frozen tensor left out */
    {
        P = sl_params_new();
        sl_params_add(P, "", "x", 2, 1000, 1001, 0, 0); /* 62 chunks */
        sl_params_add(P, "", "y", 1, 40000, 0, 0, 0);   /* 3 chunks */
        sl_params_add(P, "", "z", 1, 33, 0, 0, 0);      /* frozen */
        sl_params_alloc(P);
        sl_params_set_trainable(P, 2, 0);
        double ss = 0.0;
        for (int t = 0; t < 3; t++)
            for (size_t k = 0; k < P->t[t].numel; k++) {
                float g = (float)((double)((k * 2654435761u) % 1000) / 1000.0 - 0.5);
                P->grad[P->t[t].offset + k] = g;
                if (t < 2) ss += (double)g * g;
            }
        float z0 = sl_params_grad(P, 2)[7], x0 = sl_params_grad(P, 0)[123457], y0 = sl_params_grad(P, 1)[39999];
        nrm = sl_clip_grad_norm(P, 2.0);
        is_close(nrm, sqrt(ss), 1e-9 * sqrt(ss), "clip norm over 65 chunks == double sum (%.6f)", nrm);
        double coef = 2.0 / (sqrt(ss) + 1e-6);
        ok(sl_params_grad(P, 0)[123457] == (float)(x0 * coef) && sl_params_grad(P, 1)[39999] == (float)(y0 * coef) &&
               sl_params_grad(P, 2)[7] == z0,
           "clip scales trainable chunks, leaves the frozen tensor");
        sl_params_free(P);
    }
    return done_testing();
}
