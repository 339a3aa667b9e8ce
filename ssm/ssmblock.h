/* ssm/ssmblock.h — the part of the S4 / S4D block that follows the SSM kernel (shared by both):
 *
 *   z = K (*) u + D u          causal convolution along time (ssm/fftconv.h), K (H,T), D (H)
 *   a = dropout(act(z))        act = GELU (exact erf) by default
 *   y = GLU(Conv1d(H, 2H, 1)(a))   weight W (2H, H) [torch (2H, H, 1)], bias (2H);
 *                                  GLU over channels: y = g[:H] * sigmoid(g[H:])
 * Batch-first (B,T,H). Caches what backward needs.
 */
#ifndef SL_SSM_SSMBLOCK_H
#define SL_SSM_SSMBLOCK_H

#include "core/rng.h"
#include "seq/layers.h"
#include "seq/model.h"
#include "seq/spec.h"
#include "ssm/fftconv.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int H;
    sl_act act;
    float p_drop;
    sl_fftconv *conv; /* plans for the cached T */
    int B, T, cached;
    const int32_t *pos;          /* packed rows (B,T) (seq/model.h) or NULL: set by the owner before
                                  * forward; the convolution then runs per document (fftconv.h) */
    int infer;                   /* inference mode, set by the owner before forward: no cache is
                                  * kept (working space: one chunk of <= 2048 rows of 2H floats);
                                  * backward is then refused until a forward without it */
    sl_arena fwd, bwd;           /* the forward cache and backward's scratch, carved per call */
    float *x, *z, *a, *mask, *g; /* (B,T,H) x4 and (B,T,2H) */
    float *dg, *da, *dz;         /* (B,T,2H), (B,T,H) x2 */
} sl_ssmblock;

void sl_ssmblock_init(sl_ssmblock *s, int H, sl_act act, float p_drop);
void sl_ssmblock_clear(sl_ssmblock *s);
/* free the forward cache and backward's scratch (gradient checkpointing); the FFT plans stay */
void sl_ssmblock_release(sl_ssmblock *s);

/* the block's weights and their gradients (the model's tensors) */
typedef struct {
    const float *K;  /* (H, T) the SSM kernel */
    const float *D;  /* (H) skip */
    const float *W;  /* (2H, H) output Conv1d (kernel 1) */
    const float *bW; /* (2H) its bias */
} sl_ssmblock_weights;
typedef struct {
    float *dK, *dD, *dW, *dbW; /* as above; accumulate (+=) */
} sl_ssmblock_grads;

int sl_ssmblock_forward(sl_ssmblock *s, float *y, const float *x, const sl_ssmblock_weights *w, int B, int T, int training,
                        sl_rng *rng);
/* dx (B,T,H) may be NULL, as may g->dD; the gradients accumulate */
int sl_ssmblock_backward(sl_ssmblock *s, float *dx, const sl_ssmblock_grads *g, const float *dy, const sl_ssmblock_weights *w);

/* step mode: z (B,H) already holds the SSM output + D u; y (B,H) = GLU(W act(z) + b) */
int sl_ssmblock_post(const sl_ssmblock *s, float *y, const float *z, const float *W, const float *bW, int B);

/* discretizations of S4D's diagonal SSM */
enum { SL_SSM_ZOH = 0, SL_SSM_BILINEAR = 1 };

/* Keys shared by s4 and s4d, bound to the same-named fields of their config struct T
 * (seq/spec.h): dt_min, dt_max, activation, dropout; lr_scale's help differs. */
#define SL_SSM_BLOCK_KEYS(T, LR_HELP) \
    SL_KEY_DOUBLE(T, dt_min, "dt_min", "0.001", 1e-8, 1e3, "log_dt ~ U(log dt_min, log dt_max)"), \
        SL_KEY_DOUBLE(T, dt_max, "dt_max", "0.1", 1e-8, 1e3, "log_dt ~ U(log dt_min, log dt_max)"), \
        SL_KEY_STR(T, activation, "activation", "gelu", "activation before the output Conv1d+GLU (seq/layers.h names)"), \
        SL_KEY_DOUBLE(T, dropout, "dropout", "0", 0, 0.99, "dropout after the activation (training only)"), \
        SL_KEY_DOUBLE(T, lr_scale, "lr_scale", "0.1", 0, 1e3, LR_HELP)

/* The shared keys' checks: the activation's name (-> act), dt_min <= dt_max, and (disc !=
 * NULL) the discretization's name, zoh | bilinear (-> SL_SSM_ZOH / SL_SSM_BILINEAR).
 * Messages start with `name`. */
int sl_ssm_block_check(const char *name, const char *activation, double dt_min, double dt_max, const char *discretization,
                       sl_act *act, int *disc);

#ifdef __cplusplus
}
#endif
#endif
