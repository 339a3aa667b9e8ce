/* core/optim.h — optimizers over the parameter table, LR schedules, gradient clipping.
 *
 * SGD with momentum (PyTorch semantics: buf = momentum*buf + g, first step buf = g;
 * L2 weight decay added to g; optional Nesterov). AdamW (Loshchilov & Hutter): decoupled
 * weight decay p -= lr*wd*p, then Adam with bias correction:
 *   m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ; p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
 * Each tensor's lr_scale / wd_scale / trainable flag (core/params.h) applies.
 */
#ifndef SL_CORE_OPTIM_H
#define SL_CORE_OPTIM_H

#include "core/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SL_OPT_SGD = 0, SL_OPT_ADAMW = 1 } sl_opt_kind;

typedef struct {
    sl_opt_kind kind;
    float beta1, beta2, eps; /* AdamW (defaults 0.9, 0.999, 1e-8) */
    float momentum;          /* SGD */
    int nesterov;            /* SGD */
    float weight_decay;      /* AdamW: decoupled; SGD: L2 */
} sl_optim_config;

typedef struct {
    sl_optim_config cfg;
    size_t n; /* floats, == P->total */
    float *m; /* (n) first moment / momentum buffer */
    float *v; /* (n) second moment (AdamW) */
    long t;   /* steps taken */
} sl_optim;

sl_optim_config sl_optim_defaults(sl_opt_kind kind);
sl_optim *sl_optim_alloc(const sl_optim_config *cfg, size_t n);
void sl_optim_free(sl_optim *o);
int sl_optim_step(sl_optim *o, sl_params *P, float lr);

/* LR schedule: constant, or linear warmup then cosine decay to min_lr (nanoGPT's get_lr:
 * lr*(it+1)/(warmup+1) while it < warmup; min_lr after decay_steps; cosine in between). */
typedef struct {
    int cosine; /* 0 constant */
    float lr, min_lr;
    long warmup, decay_steps;
} sl_schedule;
float sl_schedule_lr(const sl_schedule *s, long step);

/* Global-norm clipping (torch.nn.utils.clip_grad_norm_): returns the norm before clipping;
 * scales grads by max_norm/(norm+1e-6) when that is < 1. max_norm <= 0 only measures. */
double sl_clip_grad_norm(sl_params *P, double max_norm);

#ifdef __cplusplus
}
#endif
#endif
