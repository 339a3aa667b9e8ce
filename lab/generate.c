/* lab/generate.c — see generate.h. */
#include "lab/generate.h"
#include "core/error.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

struct sl_decoder {
    sl_model *m;
    int slide, stepmode, sliding, have, broken;
    int V;
    long max_len;  /* 0: unbounded */
    int32_t *hist; /* (cap) every token fed */
    long len, cap;
    void *st;      /* step-mode state */
    float *logits; /* (V) after the last token */
    sl_buf seq;    /* (T, V) sequence-mode logits */
    long positions;
    double seconds;
};

int sl_decoder_new(sl_model *m, int slide, sl_decoder **out)
{
    *out = NULL;
    if (!m || !(m->caps & SL_CAP_TOKEN_IN) || !(m->caps & SL_CAP_TOKEN_OUT))
        return sl_error(SL_EINVAL, "decoder: the model must take tokens and produce logits");
    if (m->caps & SL_CAP_BIDIR) return sl_error(SL_EINVAL, "decoder: a bidirectional model cannot generate");
    sl_decoder *d = calloc(1, sizeof *d);
    if (!d) return sl_error(SL_ENOMEM, "out of memory");
    d->m = m;
    d->slide = slide;
    d->stepmode = (m->caps & SL_CAP_STEP) != 0;
    d->max_len = m->max_len > 0 ? m->max_len : 0;
    d->V = m->d_out;
    d->cap = 256;
    d->hist = malloc((size_t)d->cap * sizeof(int32_t));
    d->logits = malloc((size_t)d->V * sizeof(float));
    if (!d->hist || !d->logits) {
        sl_decoder_free(d);
        return sl_error(SL_ENOMEM, "out of memory");
    }
    if (d->stepmode && !(d->st = sl_model_state_new(m, 1))) {
        sl_decoder_free(d);
        return SL_ENOMEM;
    }
    *out = d;
    return SL_OK;
}

void sl_decoder_free(sl_decoder *d)
{
    if (!d) return;
    if (d->st) sl_model_state_free(d->m, d->st);
    free(d->hist);
    free(d->logits);
    sl_buf_free(&d->seq);
    free(d);
}

const float *sl_decoder_logits(const sl_decoder *d) { return d->have ? d->logits : NULL; }
long sl_decoder_len(const sl_decoder *d) { return d->len; }
int sl_decoder_sliding(const sl_decoder *d) { return d->sliding; }
long sl_decoder_room(const sl_decoder *d) { return d->slide || !d->max_len ? -1 : d->max_len - d->len; }
void sl_decoder_stats(const sl_decoder *d, long *positions, double *seconds)
{
    if (positions) *positions = d->positions;
    if (seconds) *seconds = d->seconds;
}

/* logits of the last token from one sequence-mode pass over the last T tokens */
static int recompute(sl_decoder *d, long T)
{
    int rc = sl_buf_reserve(&d->seq, (size_t)T * d->V);
    if (rc) return rc;
    if ((rc = sl_model_forward(d->m, NULL, d->hist + d->len - T, d->seq.p, 1, (int)T))) return rc;
    memcpy(d->logits, d->seq.p + (size_t)(T - 1) * d->V, (size_t)d->V * sizeof(float));
    d->positions += T;
    return SL_OK;
}

int sl_decoder_feed(sl_decoder *d, const int32_t *tok, int n)
{
    if (d->broken) return sl_error(SL_EINVAL, "decoder: an earlier step failed; its state is unusable");
    if (n <= 0) return n == 0 ? SL_OK : sl_error(SL_EINVAL, "decoder: %d tokens", n);
    for (int i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= d->m->d_in)
            return sl_error(SL_EINVAL, "decoder: token %d outside the vocabulary [0, %d)", tok[i], d->m->d_in);
    if (d->max_len && !d->slide && d->len + n > d->max_len)
        return sl_error(SL_ESHAPE, "context full: %ld tokens do not fit the model's %ld positions", d->len + n, d->max_len);
    if (d->len + n > d->cap) {
        long cap = d->cap;
        while (cap < d->len + n) cap *= 2;
        int32_t *h = realloc(d->hist, (size_t)cap * sizeof(int32_t));
        if (!h) return sl_error(SL_ENOMEM, "out of memory");
        d->hist = h;
        d->cap = cap;
    }
    const long start = d->len;
    memcpy(d->hist + d->len, tok, (size_t)n * sizeof(int32_t));
    d->len += n;
    double t0 = sl_now();
    int rc = SL_OK;
    if (d->max_len && d->len > d->max_len) d->sliding = 1; /* the state cannot hold them: a window from now on */
    if (d->stepmode && !d->sliding && n == 1) {
        rc = sl_model_step(d->m, d->st, NULL, d->hist + start, d->logits);
        d->positions += 1;
    } else if (d->stepmode && !d->sliding) {
        /* several tokens (a prompt): one sequence-mode pass from the state, which then holds
         * the last of them (sl_model_prefill) */
        if (!(rc = sl_buf_reserve(&d->seq, (size_t)n * d->V)) &&
            !(rc = sl_model_prefill(d->m, d->st, NULL, d->hist + start, d->seq.p, 1, n)))
            memcpy(d->logits, d->seq.p + (size_t)(n - 1) * d->V, (size_t)d->V * sizeof(float));
        d->positions += n;
    } else {
        rc = recompute(d, d->max_len && d->len > d->max_len ? d->max_len : d->len);
    }
    d->seconds += sl_now() - t0;
    if (rc) {
        d->len = start;
        d->have = 0;
        d->broken = 1;
        return rc;
    } /* the state may be partly advanced */
    d->have = 1;
    return SL_OK;
}
