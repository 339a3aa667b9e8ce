/* ssm/ssmblock.c — see ssmblock.h. */
#include "ssm/ssmblock.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sl_ssmblock_init(sl_ssmblock *s, int H, sl_act act, float p_drop)
{
    memset(s, 0, sizeof *s);
    s->H = H;
    s->act = act;
    s->p_drop = p_drop;
}

void sl_ssmblock_clear(sl_ssmblock *s)
{
    sl_fftconv_free(s->conv);
    sl_arena_free(&s->fwd);
    sl_arena_free(&s->bwd);
    memset(s, 0, sizeof *s);
}

void sl_ssmblock_release(sl_ssmblock *s)
{
    sl_arena_free(&s->fwd);
    sl_arena_free(&s->bwd);
    s->cached = 0;
}

static int reserve(sl_ssmblock *s, int B, int T)
{
    size_t n = (size_t)B * T * s->H;
    if (!s->conv || sl_fftconv_len(s->conv) != T) {
        sl_fftconv_free(s->conv);
        s->conv = sl_fftconv_alloc(T);
        if (!s->conv) return SL_ENOMEM;
    }
    int rc = SL_ARENA_CARVE(&s->fwd, SL_FIELD(s->x, n), SL_FIELD(s->z, n), SL_FIELD(s->a, n), SL_FIELD(s->mask, n),
                            SL_FIELD(s->g, 2 * n));
    return rc ? sl_error_wrap(rc, "ssm block: cannot allocate activations for B=%d T=%d", B, T) : SL_OK;
}

/* Inference mode: z = K (*) u + D u is written into y, the activation applied there in place,
 * and the output Conv1d + GLU run over chunks of ROWS_INF rows (a multiple of the GEMM kernels'
 * row blocking, so every row is computed as in one product over all rows; a tail of <= 4 rows,
 * which sl_linear_forward would send to the GEMV kernel, joins the last chunk), each chunk's
 * (rows, 2H) pre-GLU values in one buffer, GLU writing over the chunk's rows of y once they are
 * read. No dropout (not training). */
enum { ROWS_INF = 2048 };
static int forward_infer(sl_ssmblock *s, float *y, const float *x, const sl_ssmblock_weights *w, int B, int T)
{
    const int H = s->H, N = B * T;
    const size_t n = (size_t)N * H;
    int rc;
    if (!s->conv || sl_fftconv_len(s->conv) != T) {
        sl_fftconv_free(s->conv);
        s->conv = sl_fftconv_alloc(T);
        if (!s->conv) return SL_ENOMEM;
    }
    const int rows = N < ROWS_INF + 4 ? N : ROWS_INF + 4;
    sl_arena_free(&s->bwd);
    if ((rc = SL_ARENA_CARVE(&s->fwd, SL_FIELD(s->g, (size_t)rows * 2 * H))))
        return sl_error_wrap(rc, "ssm block: cannot allocate activations for B=%d T=%d", B, T);
    s->B = B;
    s->T = T;
    s->cached = 0; /* nothing for backward */
    if (s->pos && (rc = sl_docs_check(s->pos, B, T))) return rc;
    if ((rc = sl_fftconv_docs_forward(s->conv, y, x, w->K, s->pos, B, H))) return rc;
    for (size_t i = 0; i < n; i++) y[i] += w->D[i % H] * x[i];
    sl_act_forward(s->act, y, y, n);
    for (int r0 = 0, m; r0 < N; r0 += m) {
        m = N - r0 <= ROWS_INF + 4 ? N - r0 : ROWS_INF; /* a tail of <= 4 rows joins the last chunk */
        sl_linear_forward(s->g, y + (size_t)r0 * H, w->W, w->bW, m, H, 2 * H);
        sl_glu_forward(y + (size_t)r0 * H, s->g, m, H);
    }
    return SL_OK;
}

int sl_ssmblock_forward(sl_ssmblock *s, float *y, const float *x, const sl_ssmblock_weights *w, int B, int T, int training,
                        sl_rng *rng)
{
    const float *K = w->K, *D = w->D, *W = w->W, *bW = w->bW;
    const int H = s->H;
    const size_t n = (size_t)B * T * H;
    if (s->infer && !(training && s->p_drop > 0.0f)) return forward_infer(s, y, x, w, B, T);
    int rc = reserve(s, B, T);
    if (rc) return rc;
    s->B = B;
    s->T = T;
    s->cached = 1;
    memcpy(s->x, x, n * sizeof *x);
    if (s->pos && (rc = sl_docs_check(s->pos, B, T))) return rc;
    if ((rc = sl_fftconv_docs_forward(s->conv, s->z, x, K, s->pos, B, H))) return rc;
    for (size_t i = 0; i < n; i++) s->z[i] += D[i % H] * x[i];
    sl_act_forward(s->act, s->a, s->z, n);
    float p = training ? s->p_drop : 0.0f;
    if (p > 0.0f && !rng) return sl_error(SL_EINVAL, "ssm block: dropout while training needs an rng");
    sl_dropout_forward(s->a, s->mask, s->a, n, p, rng);
    sl_linear_forward(s->g, s->a, W, bW, B * T, H, 2 * H);
    sl_glu_forward(y, s->g, B * T, H);
    return SL_OK;
}

int sl_ssmblock_backward(sl_ssmblock *s, float *dx, const sl_ssmblock_grads *g, const float *dy, const sl_ssmblock_weights *w)
{
    const float *K = w->K, *D = w->D, *W = w->W;
    float *dK = g->dK, *dD = g->dD, *dW = g->dW, *dbW = g->dbW;
    if (!s->cached) return sl_error(SL_EINVAL, "ssm block: backward before forward");
    const int H = s->H, B = s->B, T = s->T, N = B * T;
    const size_t n = (size_t)N * H;
    int rc = SL_ARENA_CARVE(&s->bwd, SL_FIELD(s->dg, 2 * n), SL_FIELD(s->da, n), SL_FIELD(s->dz, n));
    if (rc) return rc;
    float *dg = s->dg, *da = s->da, *dz = s->dz;
    memset(dg, 0, 2 * n * sizeof *dg);
    memset(da, 0, n * sizeof *da);
    memset(dz, 0, n * sizeof *dz);
    sl_glu_backward(dg, dy, s->g, N, H);
    sl_linear_backward(da, dW, dbW, dg, s->a, W, N, H, 2 * H);
    /* dropout: a = mask * act(z) with a stored after masking -> da * mask, then act' */
    for (size_t i = 0; i < n; i++) da[i] *= s->mask[i];
    sl_act_backward(s->act, dz, da, s->z, n);
    if (dD) {
        for (int h = 0; h < H; h++) {
            double acc = 0.0;
            for (int r = 0; r < N; r++) acc += (double)dz[(size_t)r * H + h] * s->x[(size_t)r * H + h];
            dD[h] += (float)acc;
        }
    }
    if (dx)
        for (size_t i = 0; i < n; i++) dx[i] += D[i % H] * dz[i];
    return sl_fftconv_docs_backward(s->conv, dx, dK, dz, s->x, K, s->pos, B, H);
}

int sl_ssmblock_post(const sl_ssmblock *s, float *y, const float *z, const float *W, const float *bW, int B)
{
    const int H = s->H;
    float *a = malloc((size_t)B * 3 * H * sizeof *a);
    if (!a) return sl_error(SL_ENOMEM, "out of memory");
    float *g = a + (size_t)B * H;
    sl_act_forward(s->act, a, z, (size_t)B * H);
    sl_linear_forward(g, a, W, bW, B, H, 2 * H);
    sl_glu_forward(y, g, B, H);
    free(a);
    return SL_OK;
}

int sl_ssm_block_check(const char *name, const char *activation, double dt_min, double dt_max, const char *discretization,
                       sl_act *act, int *disc)
{
    int rc;
    if (!activation || (disc && !discretization))
        return sl_error(SL_EINVAL, "%s: the configuration names no activation or discretization", name);
    if ((rc = sl_act_from_name(activation, act))) return sl_error_wrap(rc, "%s: activation", name);
    if (dt_min > dt_max) return sl_error(SL_EINVAL, "%s: dt_min (%g) must be <= dt_max (%g)", name, dt_min, dt_max);
    if (disc) {
        if (!strcasecmp(discretization, "zoh")) *disc = SL_SSM_ZOH;
        else if (!strcasecmp(discretization, "bilinear")) *disc = SL_SSM_BILINEAR;
        else return sl_error(SL_EINVAL, "%s: discretization must be zoh or bilinear, not '%s'", name, discretization);
    }
    return SL_OK;
}
