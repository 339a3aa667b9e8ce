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
    sl_fftconv *conv;       /* plans for the cached T */
    int B, T, cached;
    float *x, *z, *a, *mask, *g;   /* (B,T,H) x4 and (B,T,2H) */
    size_t cap;
} sl_ssmblock;

void sl_ssmblock_init(sl_ssmblock *s, int H, sl_act act, float p_drop);
void sl_ssmblock_clear(sl_ssmblock *s);

int sl_ssmblock_forward(sl_ssmblock *s, float *y, const float *x, const float *K, const float *D, const float *W,
                        const float *bW, int B, int T, int training, sl_rng *rng);
/* dx (B,T,H) may be NULL; dK (H,T), dD (H), dW (2H,H), dbW (2H) accumulate */
int sl_ssmblock_backward(sl_ssmblock *s, float *dx, float *dK, float *dD, float *dW, float *dbW, const float *dy,
                         const float *K, const float *D, const float *W);

/* step mode: z (B,H) already holds the SSM output + D u; y (B,H) = GLU(W act(z) + b) */
int sl_ssmblock_post(const sl_ssmblock *s, float *y, const float *z, const float *W, const float *bW, int B);

/* discretizations of S4D's diagonal SSM */
enum { SL_SSM_ZOH = 0, SL_SSM_BILINEAR = 1 };

/* keys shared by s4 and s4d: activation, dropout, lr_scale, dt_min, dt_max and (disc != NULL)
 * discretization (zoh | bilinear -> SL_SSM_ZOH / SL_SSM_BILINEAR) */
int sl_ssm_block_keys(const sl_spec *s, const sl_spec_key *keys, sl_act *act, double *drop, double *lr_scale,
                      double *dt_min, double *dt_max, int *disc);

#ifdef __cplusplus
}
#endif
#endif
