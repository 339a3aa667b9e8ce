/* ssm/ssd.c — Mamba-2's SSD algorithm: the scan's sequential reference, the chunked algorithm,
 * backward via the selective-scan engine, and step (see ssd.h). The Mamba2 block that uses it
 * is ssm/mamba2.c. */
#include "ssm/ssd.h"
#include "core/error.h"
#include "seq/layers.h"
#include "seq/model.h"
#include "ssm/scan.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- SSD scan ------------------------------------------------------------------------------- */

int sl_ssd_check(const sl_ssd_args *a)
{
    if (!a) return sl_error(SL_EINVAL, "ssd: NULL arguments");
    if (a->B <= 0 || a->L <= 0 || a->H <= 0 || a->P <= 0 || a->G <= 0 || a->N <= 0)
        return sl_error(SL_ESHAPE, "ssd: bad sizes B=%d L=%d H=%d P=%d G=%d N=%d", a->B, a->L, a->H, a->P, a->G, a->N);
    if (a->H % a->G) return sl_error(SL_ESHAPE, "ssd: H=%d heads do not split into G=%d groups", a->H, a->G);
    if (!a->x || !a->dt || !a->A || !a->Bm || !a->Cm) return sl_error(SL_EINVAL, "ssd: x, dt, A, B and C are required");
    return SL_OK;
}

static double ref_dt(const sl_ssd_args *a, size_t i, int h)
{
    double v = (double)a->dt[i] + (a->dt_bias ? a->dt_bias[h] : 0.0);
    return a->dt_softplus ? (v > 20.0 ? v : log1p(exp(v))) : v;
}

int sl_ssd_ref_forward(float *y, float *last_state, const sl_ssd_args *a)
{
    int rc = sl_ssd_check(a);
    if (rc) return rc;
    const int L = a->L, H = a->H, P = a->P, G = a->G, N = a->N, hpg = H / G;
    double *S = malloc((size_t)P * N * sizeof(double));
    if (!S) return sl_error(SL_ENOMEM, "out of memory");
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < H; h++) {
            const int g = h / hpg;
            memset(S, 0, (size_t)P * N * sizeof(double));
            for (int t = 0; t < L; t++) {
                double dt = ref_dt(a, ((size_t)b * L + t) * H + h, h), dA = exp(dt * a->A[h]);
                if (a->doc_pos && t > 0 && a->doc_pos[(size_t)b * L + t] == 0) dA = 0.0; /* a document starts */
                const float *x = a->x + (((size_t)b * L + t) * H + h) * P;
                const float *Bt = a->Bm + (((size_t)b * L + t) * G + g) * N, *Ct = a->Cm + (((size_t)b * L + t) * G + g) * N;
                float *yt = y + (((size_t)b * L + t) * H + h) * P;
                for (int p = 0; p < P; p++) {
                    double acc = 0.0;
                    for (int n = 0; n < N; n++) {
                        double s = dA * S[(size_t)p * N + n] + dt * x[p] * Bt[n];
                        S[(size_t)p * N + n] = s;
                        acc += s * Ct[n];
                    }
                    yt[p] = (float)(acc + (a->D ? a->D[h] * (double)x[p] : 0.0));
                }
            }
            if (last_state)
                for (size_t i = 0; i < (size_t)P * N; i++) last_state[((size_t)b * H + h) * P * N + i] = (float)S[i];
        }
    free(S);
    return SL_OK;
}

struct sl_ssd_ws {
    float *thr; /* per-thread chunk buffers */
    size_t thr_cap;
    /* expanded selective-scan problem for backward */
    float *dtE, *AE, *DE, *bE, *yE, *gdE, *gAE, *gDE, *gbE;
    size_t capE[9];
    sl_scan_ws *sws;
};

sl_ssd_ws *sl_ssd_ws_new(void)
{
    sl_ssd_ws *w = calloc(1, sizeof *w);
    if (w) w->sws = sl_scan_ws_new();
    if (!w || !w->sws) {
        free(w);
        sl_error(SL_ENOMEM, "out of memory");
        return NULL;
    }
    return w;
}

/* one buffer: freed, its bytes given back to memory accounting (seq/model.h, sl_mem_count) */
static void drop(float **p, size_t *cap)
{
    if (*p) sl_mem_count(0, *cap * sizeof(float));
    free(*p);
    *p = NULL;
    *cap = 0;
}

void sl_ssd_ws_release(sl_ssd_ws *w)
{
    if (!w) return;
    drop(&w->thr, &w->thr_cap);
    float **e[9] = {&w->dtE, &w->AE, &w->DE, &w->bE, &w->yE, &w->gdE, &w->gAE, &w->gDE, &w->gbE};
    for (int i = 0; i < 9; i++) drop(e[i], &w->capE[i]);
    sl_scan_ws_release(w->sws);
}

void sl_ssd_ws_free(sl_ssd_ws *w)
{
    if (!w) return;
    sl_ssd_ws_release(w);
    sl_scan_ws_free(w->sws);
    free(w);
}

static int grow(float **p, size_t *cap, size_t n)
{
    if (*p && n <= *cap) return SL_OK;
    drop(p, cap);
    *p = malloc((n ? n : 1) * sizeof(float));
    *cap = *p ? n : 0;
    if (*p) sl_mem_count(n * sizeof(float), 0);
    return *p ? SL_OK : sl_error(SL_ENOMEM, "ssd: out of memory (%zu floats)", n);
}

static float softplus_f(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

int sl_ssd_chunked_forward(float *y, float *last_state, const sl_ssd_args *a, int Q, sl_ssd_ws *ws)
{
    int rc = sl_ssd_check(a);
    if (rc) return rc;
    if (Q < 1) return sl_error(SL_EINVAL, "ssd: chunk_size must be >= 1, not %d", Q);
    if (!ws || !y) return sl_error(SL_EINVAL, "ssd: NULL output or workspace");
    const int L = a->L, H = a->H, P = a->P, G = a->G, N = a->N, hpg = H / G;
    if (Q > L) Q = L;
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    /* per thread: dtv, cs (Q); CB/M (Q,Q); Xc, Yc (Q,P); Bc, Cc (Q,N); S (P,N) */
    const size_t per = 2 * (size_t)Q + (size_t)Q * Q + 2 * (size_t)Q * P + 2 * (size_t)Q * N + (size_t)P * N;
    if ((rc = grow(&ws->thr, &ws->thr_cap, per * nth))) return rc;
    const int HP = H * P;
    const int par = (double)a->B * L * HP * N >= 262144.0;
    #pragma omp parallel for schedule(static) if (par)
    for (long i = 0; i < (long)a->B * H; i++) {
        const int b = (int)(i / H), h = (int)(i % H), g = h / hpg;
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *dtv = ws->thr + per * tid, *cs = dtv + Q, *M = cs + Q, *Xc = M + (size_t)Q * Q, *Yc = Xc + (size_t)Q * P;
        float *Bc = Yc + (size_t)Q * P, *Cc = Bc + (size_t)Q * N, *S = Cc + (size_t)Q * N;
        const float Ah = a->A[h], Dh = a->D ? a->D[h] : 0.0f;
        const int32_t *dp = a->doc_pos ? a->doc_pos + (size_t)b * L : NULL; /* (L) this row's, or NULL */
        memset(S, 0, (size_t)P * N * sizeof(float));
        for (int t0 = 0; t0 < L; t0 += Q) {
            const int q = L - t0 < Q ? L - t0 : Q;
            /* packed rows: st(t) = t0 + t - dp[t0 + t] is where chunk position t's document starts */
#define SSD_ST(t) (dp ? t0 + (t)-dp[t0 + (t)] : 0)
            float c = 0.0f;
            for (int s = 0; s < q; s++) {
                size_t r = (size_t)b * L + t0 + s;
                float v = a->dt[r * H + h] + (a->dt_bias ? a->dt_bias[h] : 0.0f);
                dtv[s] = a->dt_softplus ? softplus_f(v) : v;
                c += dtv[s] * Ah;
                cs[s] = c;
                memcpy(Xc + (size_t)s * P, a->x + (r * H + h) * P, (size_t)P * sizeof(float));
                memcpy(Bc + (size_t)s * N, a->Bm + (r * G + g) * N, (size_t)N * sizeof(float));
                memcpy(Cc + (size_t)s * N, a->Cm + (r * G + g) * N, (size_t)N * sizeof(float));
            }
            /* inside the chunk: M = (C B^T) o L, L[t,s] = exp(c_t - c_s) dt_s for s <= t */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q, q, N, 1.0f, Cc, N, Bc, N, 0.0f, M, q);
            for (int t = 0; t < q; t++)
                for (int s = 0; s < q; s++) /* s and t in one document: st(t) <= t0 + s */
                    M[(size_t)t * q + s] =
                        s <= t && SSD_ST(t) <= t0 + s ? M[(size_t)t * q + s] * expf(cs[t] - cs[s]) * dtv[s] : 0.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q, P, q, 1.0f, M, q, Xc, P, 0.0f, Yc, P);
            /* from the state entering the chunk: y_t += exp(c_t) C_t S^T (C rows scaled in place) */
            for (int t = 0; t < q; t++) {
                float e = SSD_ST(t) < t0 || !dp ? expf(cs[t]) : 0.0f; /* t's document began before the chunk */
                for (int n = 0; n < N; n++) Cc[(size_t)t * N + n] *= e;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q, P, N, 1.0f, Cc, N, S, N, 1.0f, Yc, P);
            for (int t = 0; t < q; t++) {
                float *yt = y + (((size_t)b * L + t0 + t) * H + h) * P;
                for (int p = 0; p < P; p++) yt[p] = Yc[(size_t)t * P + p] + Dh * Xc[(size_t)t * P + p];
            }
            /* state passing: S = exp(c_last) S + X^T (w o B), w_s = exp(c_last - c_s) dt_s */
            const float cl = cs[q - 1];
            const int last = SSD_ST(q - 1); /* the last document's start: only it passes on */
            for (int s = 0; s < q; s++) {
                float w = t0 + s >= last ? expf(cl - cs[s]) * dtv[s] : 0.0f;
                for (int n = 0; n < N; n++) Bc[(size_t)s * N + n] *= w;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, N, q, 1.0f, Xc, P, Bc, N, last < t0 || !dp ? expf(cl) : 0.0f,
                        S, N);
#undef SSD_ST
        }
        if (last_state) memcpy(last_state + ((size_t)b * H + h) * P * N, S, (size_t)P * N * sizeof(float));
    }
    (void)HP;
    return SL_OK;
}

int sl_ssd_backward(const sl_ssd_grads *g, const float *dy, const sl_ssd_args *a, sl_ssd_ws *ws)
{
    int rc = sl_ssd_check(a);
    if (rc) return rc;
    if (!ws || !g || !dy) return sl_error(SL_EINVAL, "ssd: NULL gradient, dy or workspace");
    const int B = a->B, L = a->L, H = a->H, P = a->P, N = a->N, HP = H * P;
    const size_t BL = (size_t)B * L;
    const int par = (double)BL * HP * N >= 262144.0;
    if ((rc = grow(&ws->dtE, &ws->capE[0], BL * HP)) || (rc = grow(&ws->AE, &ws->capE[1], (size_t)HP * N)) ||
        (rc = grow(&ws->DE, &ws->capE[2], HP)) || (rc = grow(&ws->bE, &ws->capE[3], HP)) ||
        (rc = grow(&ws->yE, &ws->capE[4], BL * HP)) || (rc = grow(&ws->gdE, &ws->capE[5], BL * HP)) ||
        (rc = grow(&ws->gAE, &ws->capE[6], (size_t)HP * N)) || (rc = grow(&ws->gDE, &ws->capE[7], HP)) ||
        (rc = grow(&ws->gbE, &ws->capE[8], HP)))
        return rc;
    /* the SSD scan as a selective scan over channels (h, p) */
    #pragma omp parallel for schedule(static) if (par)
    for (long r = 0; r < (long)BL; r++)
        for (int h = 0; h < H; h++)
            for (int p = 0; p < P; p++) ws->dtE[(size_t)r * HP + h * P + p] = a->dt[(size_t)r * H + h];
    for (int h = 0; h < H; h++)
        for (int p = 0; p < P; p++) {
            for (int n = 0; n < N; n++) ws->AE[((size_t)h * P + p) * N + n] = a->A[h];
            ws->DE[h * P + p] = a->D ? a->D[h] : 0.0f;
            ws->bE[h * P + p] = a->dt_bias ? a->dt_bias[h] : 0.0f;
        }
    sl_scan_args sa = {.B = B,
                       .L = L,
                       .D = HP,
                       .N = N,
                       .G = a->G,
                       .u = a->x,
                       .delta = ws->dtE,
                       .A = ws->AE,
                       .Bm = a->Bm,
                       .Cm = a->Cm,
                       .Dv = a->D ? ws->DE : NULL,
                       .z = NULL,
                       .delta_bias = a->dt_bias ? ws->bE : NULL,
                       .delta_softplus = a->dt_softplus,
                       .doc_pos = a->doc_pos};
    if ((rc = sl_scan_forward(ws->yE, NULL, &sa, 0, ws->sws))) return rc;
    memset(ws->gdE, 0, BL * HP * sizeof(float));
    memset(ws->gAE, 0, (size_t)HP * N * sizeof(float));
    memset(ws->gDE, 0, HP * sizeof(float));
    memset(ws->gbE, 0, HP * sizeof(float));
    sl_scan_grads sg = {.du = g->dx,
                        .ddelta = ws->gdE,
                        .dA = ws->gAE,
                        .dB = g->dB,
                        .dC = g->dC,
                        .dD = ws->gDE,
                        .dz = NULL,
                        .ddelta_bias = ws->gbE};
    if ((rc = sl_scan_backward(&sg, dy, &sa, ws->sws))) return rc;
    if (g->ddt) {
        #pragma omp parallel for schedule(static) if (par)
        for (long r = 0; r < (long)BL; r++)
            for (int h = 0; h < H; h++) {
                double s = 0.0;
                for (int p = 0; p < P; p++) s += ws->gdE[(size_t)r * HP + h * P + p];
                g->ddt[(size_t)r * H + h] += (float)s;
            }
    }
    for (int h = 0; h < H; h++) {
        double sA = 0.0, sD = 0.0, sb = 0.0;
        for (int p = 0; p < P; p++) {
            for (int n = 0; n < N; n++) sA += ws->gAE[((size_t)h * P + p) * N + n];
            sD += ws->gDE[h * P + p];
            sb += ws->gbE[h * P + p];
        }
        if (g->dA) g->dA[h] += (float)sA;
        if (g->dD && a->D) g->dD[h] += (float)sD;
        if (g->ddt_bias && a->dt_bias) g->ddt_bias[h] += (float)sb;
    }
    return SL_OK;
}

int sl_ssd_step(float *y, float *state, const sl_ssd_args *a)
{
    int rc = sl_ssd_check(a);
    if (rc) return rc;
    if (a->L != 1) return sl_error(SL_ESHAPE, "ssd step: L must be 1, not %d", a->L);
    const int H = a->H, P = a->P, G = a->G, N = a->N, hpg = H / G;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < H; h++) {
            const int g = h / hpg;
            float v = a->dt[(size_t)b * H + h] + (a->dt_bias ? a->dt_bias[h] : 0.0f);
            float dt = a->dt_softplus ? softplus_f(v) : v, dA = expf(dt * a->A[h]);
            const float *x = a->x + ((size_t)b * H + h) * P;
            const float *Bt = a->Bm + ((size_t)b * G + g) * N, *Ct = a->Cm + ((size_t)b * G + g) * N;
            float *S = state + ((size_t)b * H + h) * P * N, *yt = y + ((size_t)b * H + h) * P;
            for (int p = 0; p < P; p++) {
                float acc = 0.0f;
                for (int n = 0; n < N; n++) {
                    float s = dA * S[(size_t)p * N + n] + dt * x[p] * Bt[n];
                    S[(size_t)p * N + n] = s;
                    acc += s * Ct[n];
                }
                yt[p] = acc + (a->D ? a->D[h] * x[p] : 0.0f);
            }
        }
    return SL_OK;
}
