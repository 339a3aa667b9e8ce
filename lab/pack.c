/* lab/pack.c — packed and padded batches of documents (see pack.h). */
#include "lab/pack.h"
#include "core/error.h"

#include <string.h>

enum { PACK_TRIES = 8 }; /* draws that may miss the rest of a row before it ends */

/* positions [t, t + n) of a row: the tokens ids[0..n), targets ids[1..n] */
static void put(int32_t *tok, int32_t *target, int32_t *pos, int t, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++) {
        tok[t + i] = ids[i];
        target[t + i] = ids[i + 1];
        if (pos) pos[t + i] = i;
    }
}

static int check_set(const sl_doc_set *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->off[i + 1] - d->off[i] >= 2) return SL_OK;
    return sl_error(SL_EINVAL, "packing: no document has two tokens");
}

int sl_pack_rows(const sl_doc_set *d, sl_rng *rng, int B, int T, int32_t *tok, int32_t *target, int32_t *pos, long *scored)
{
    int rc = check_set(d);
    if (rc) return rc;
    long sc = 0;
    for (int b = 0; b < B; b++) {
        int32_t *tk = tok + (size_t)b * T, *tg = target + (size_t)b * T, *ps = pos + (size_t)b * T;
        int t = 0;
        for (int miss = 0; t < T && miss < PACK_TRIES;) {
            const size_t i = sl_rng_int(rng, (unsigned long)d->n), L = d->off[i + 1] - d->off[i];
            const int32_t *ids = d->ids + d->off[i];
            if (L < 2) continue;
            if (L - 1 > (size_t)T) { /* longer than a row: a window of it fills a row alone */
                if (t > 0) {
                    miss++;
                    continue;
                }
                put(tk, tg, ps, 0, ids + sl_rng_int(rng, (unsigned long)(L - (size_t)T)), T);
                t = T;
            } else if ((int)(L - 1) <= T - t) {
                put(tk, tg, ps, t, ids, (int)L - 1);
                t += (int)L - 1;
            } else {
                miss++;
            }
        }
        sc += t;
        for (int j = t; j < T; j++) { /* the tail: a masked document of its own */
            tk[j] = 0;
            tg[j] = -1;
            ps[j] = j - t;
        }
    }
    if (scored) *scored = sc;
    return SL_OK;
}

int sl_pad_rows(const sl_doc_set *d, sl_rng *rng, int B, int Tmax, int32_t *tok, int32_t *target, int *T_out, long *scored)
{
    int rc = check_set(d);
    if (rc) return rc;
    size_t start[B > 0 ? B : 1];
    int len[B > 0 ? B : 1], T = 1;
    long sc = 0;
    for (int b = 0; b < B; b++) {
        size_t i, L;
        do {
            i = sl_rng_int(rng, (unsigned long)d->n);
            L = d->off[i + 1] - d->off[i];
        } while (L < 2);
        len[b] = L - 1 > (size_t)Tmax ? Tmax : (int)(L - 1);
        start[b] = d->off[i] + (L - 1 > (size_t)Tmax ? sl_rng_int(rng, (unsigned long)(L - (size_t)Tmax)) : 0);
        if (len[b] > T) T = len[b];
        sc += len[b];
    }
    for (int b = 0; b < B; b++) {
        int32_t *tk = tok + (size_t)b * T, *tg = target + (size_t)b * T;
        put(tk, tg, NULL, 0, d->ids + start[b], len[b]);
        for (int j = len[b]; j < T; j++) {
            tk[j] = 0;
            tg[j] = -1;
        }
    }
    *T_out = T;
    if (scored) *scored = sc;
    return SL_OK;
}
