/* t/t-optim.c — SGD and AdamW against hand-computed updates; schedules; clipping. */
#include "core/optim.h"
#include "t/tap.h"

#include <math.h>

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
    m = 0.1 * gg; v = 0.001 * gg * gg;
    p -= 0.1 * (m / 0.1) / (sqrt(v / 0.001) + 1e-8);
    is_close(P->data[0], p, 1e-6, "AdamW step 1 matches the hand computation");
    P->grad[0] = -0.25f;
    sl_optim_step(o, P, 0.1f);
    gg = -0.25;
    p -= 0.1 * 0.1 * p;
    m = 0.9 * m + 0.1 * gg; v = 0.999 * v + 0.001 * gg * gg;
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
    sl_params_set_group(P, 0, 0.5f, 1.0f);   /* lr_scale 0.5 */
    o = sl_optim_alloc(&s, P->total);
    sl_optim_step(o, P, 0.2f);
    is_close(P->data[0], 1.0 - 0.1 * 0.5, 1e-7, "SGD step 1 (lr_scale applied)");
    P->grad[0] = 1.0f;
    sl_optim_step(o, P, 0.2f);
    is_close(P->data[0], 0.95 - 0.1 * (0.9 * 0.5 + 1.0), 1e-6, "SGD momentum step 2");
    sl_optim_free(o);
    sl_params_free(P);
    s.momentum = 0.9f; s.nesterov = 1; s.weight_decay = 0.1f;
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
    ga[0] = 3; ga[1] = 0; gb[0] = 4;
    double nrm = sl_clip_grad_norm(P, 1.0);
    is_close(nrm, 5.0, 1e-9, "clip returns the norm before clipping");
    is_close(ga[0], 3.0 / (5.0 + 1e-6), 1e-6, "clip scales to max_norm");
    is_close(gb[0], 4.0 / (5.0 + 1e-6), 1e-6, "clip scales every tensor");
    nrm = sl_clip_grad_norm(P, 10.0);
    is_close(ga[0], 3.0 / (5.0 + 1e-6), 1e-6, "no scaling below max_norm");
    sl_params_free(P);
    return done_testing();
}
