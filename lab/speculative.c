/* lab/speculative.c — see speculative.h. */
#include "lab/speculative.h"
#include "core/error.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

struct sl_speculative {
    sl_model *t, *d; /* target, draft (borrowed) */
    int k, V;
    long tmax, dmax;    /* positions each state holds (0: unbounded) */
    void *ts, *tsnap;   /* target state and its snapshot */
    void *ds, *dsnap;   /* draft state and its snapshot */
    long len;           /* committed tokens; the states hold len - 1 of them */
    int32_t pending;    /* the last committed token (not yet in the states) */
    int32_t *in;        /* (k+1) the verification input */
    float *q;           /* (k, V) the draft's distributions */
    float *p, *res;     /* (V) the target's distribution at one position, the residual */
    float *work;        /* (2V) sampler scratch */
    int *iw;            /* (V) */
    float *dlog;        /* (V) draft logits */
    sl_buf tlog;        /* (T, V) target logits of a prefill */
    sl_constraint *con; /* optional constraint (borrowed) and the round's token budget */
    long budget;
    int *cst; /* (k+1) the constraint's state before each proposal, after the last */
    int done; /* the constraint allows nothing more */
    sl_speculative_stats st;
};

int sl_speculative_new(sl_model *target, sl_model *draft, int k, sl_speculative **out)
{
    *out = NULL;
    sl_model *ms[2] = {target, draft};
    const char *nm[2] = {"target", "draft"};
    for (int i = 0; i < 2; i++) {
        sl_model *m = ms[i];
        if (!m || !(m->caps & SL_CAP_TOKEN_IN) || !(m->caps & SL_CAP_TOKEN_OUT))
            return sl_error(SL_EINVAL, "speculative decoding: the %s must take tokens and produce logits", nm[i]);
        if (!(m->caps & SL_CAP_STEP) || (m->caps & SL_CAP_BIDIR))
            return sl_error(SL_EINVAL, "speculative decoding: the %s (%s) has no step mode", nm[i], m->vt->kind);
    }
    if (draft->d_out != target->d_out || draft->d_in != target->d_in)
        return sl_error(SL_EINVAL,
                        "speculative decoding: the draft's vocabulary (%d tokens in, %d out) differs from the target's (%d in, "
                        "%d out)",
                        draft->d_in, draft->d_out, target->d_in, target->d_out);
    if (target->d_in != target->d_out)
        return sl_error(SL_EINVAL, "speculative decoding: the target reads %d token ids but predicts %d", target->d_in,
                        target->d_out);
    if (k < 1 || k > 64) return sl_error(SL_EINVAL, "speculative decoding: k = %d outside 1..64", k);
    sl_speculative *s = calloc(1, sizeof *s);
    if (!s) return sl_error(SL_ENOMEM, "out of memory");
    s->t = target;
    s->d = draft;
    s->k = k;
    s->V = target->d_out;
    s->tmax = target->max_len > 0 ? target->max_len : 0;
    s->dmax = draft->max_len > 0 ? draft->max_len : 0;
    const size_t V = (size_t)s->V;
    s->in = malloc((size_t)(k + 1) * sizeof(int32_t));
    s->q = malloc((size_t)k * V * sizeof(float));
    s->p = malloc(V * sizeof(float));
    s->res = malloc(V * sizeof(float));
    s->work = malloc(2 * V * sizeof(float));
    s->iw = malloc(V * sizeof(int));
    s->dlog = malloc(V * sizeof(float));
    s->cst = malloc((size_t)(k + 1) * sizeof(int));
    int rc = SL_OK;
    if (!s->cst || !s->in || !s->q || !s->p || !s->res || !s->work || !s->iw || !s->dlog)
        rc = sl_error(SL_ENOMEM, "out of memory");
    if (!rc && (!(s->ts = sl_model_state_new(target, 1)) || !(s->tsnap = sl_model_state_new(target, 1)) ||
                !(s->ds = sl_model_state_new(draft, 1)) || !(s->dsnap = sl_model_state_new(draft, 1))))
        rc = sl_error_wrap(SL_ENOMEM, "speculative decoding: step states");
    /* both must be able to snapshot their state */
    if (!rc && (rc = sl_model_state_copy(target, s->tsnap, s->ts)))
        rc = sl_error_wrap(rc, "speculative decoding: the target (%s)", target->vt->kind);
    if (!rc && (rc = sl_model_state_copy(draft, s->dsnap, s->ds)))
        rc = sl_error_wrap(rc, "speculative decoding: the draft (%s)", draft->vt->kind);
    if (rc) {
        sl_speculative_free(s);
        return rc;
    }
    *out = s;
    return SL_OK;
}

void sl_speculative_free(sl_speculative *s)
{
    if (!s) return;
    if (s->ts) sl_model_state_free(s->t, s->ts);
    if (s->tsnap) sl_model_state_free(s->t, s->tsnap);
    if (s->ds) sl_model_state_free(s->d, s->ds);
    if (s->dsnap) sl_model_state_free(s->d, s->dsnap);
    free(s->in);
    free(s->q);
    free(s->p);
    free(s->res);
    free(s->work);
    free(s->iw);
    free(s->dlog);
    free(s->cst);
    sl_buf_free(&s->tlog);
    free(s);
}

void sl_speculative_get_stats(const sl_speculative *s, sl_speculative_stats *st) { *st = s->st; }

void sl_speculative_constrain(sl_speculative *s, sl_constraint *c, long remaining)
{
    s->con = c;
    s->budget = remaining;
    if (!c) s->done = 0;
}

/* logits (V) masked by the constraint in state st with budget b (the number of allowed tokens);
 * without a constraint V */
static int cmask(sl_speculative *s, float *logits, int st, long b)
{
    if (!s->con) return s->V;
    sl_constraint_set_state(s->con, st);
    return sl_constraint_mask_budget(s->con, logits, b);
}

/* run n tokens through a model's state as one prefill; the logits land in s->tlog */
static int push(sl_speculative *s, sl_model *m, void *state, const int32_t *tok, int n, int is_target)
{
    if (n <= 0) return SL_OK;
    int rc = sl_buf_reserve(&s->tlog, (size_t)n * s->V);
    if (rc) return rc;
    double t0 = sl_now();
    rc = sl_model_prefill(m, state, NULL, tok, s->tlog.p, 1, n);
    if (is_target) {
        s->st.target_seconds += sl_now() - t0;
        s->st.target_positions += n;
    } else {
        s->st.draft_seconds += sl_now() - t0;
        s->st.draft_positions += n;
    }
    return rc;
}

long sl_speculative_room(const sl_speculative *s)
{
    /* a round needs len <= max_len for each bounded model (the pending token's position) and
     * adds at least one token: max_len - len + 1 more tokens fit */
    long best = 0;
    int bounded = 0;
    if (s->tmax) {
        best = s->tmax - s->len + 1;
        bounded = 1;
    }
    if (s->dmax && (!bounded || s->dmax - s->len + 1 < best)) {
        best = s->dmax - s->len + 1;
        bounded = 1;
    }
    if (!bounded) return -1;
    return best < 0 ? 0 : best;
}

int sl_speculative_feed(sl_speculative *s, const int32_t *tok, int n)
{
    if (n <= 0) return n == 0 ? SL_OK : sl_error(SL_EINVAL, "speculative decoding: %d tokens", n);
    for (int i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= s->t->d_in)
            return sl_error(SL_EINVAL, "speculative decoding: token %d outside the vocabulary [0, %d)", tok[i], s->t->d_in);
    const long need = s->len + n; /* the states will hold need - 1 and the pending token needs one more */
    if ((s->tmax && need > s->tmax) || (s->dmax && need > s->dmax))
        return sl_error(SL_ESHAPE, "context full: %ld tokens do not fit the models' %ld and %ld positions", need, s->tmax,
                        s->dmax);
    int32_t *seq = malloc((size_t)n * sizeof(int32_t));
    if (!seq) return sl_error(SL_ENOMEM, "out of memory");
    int m = 0;
    if (s->len > 0) seq[m++] = s->pending;
    for (int i = 0; i < n - 1; i++) seq[m++] = tok[i];
    int rc = push(s, s->t, s->ts, seq, m, 1);
    if (!rc) rc = push(s, s->d, s->ds, seq, m, 0);
    free(seq);
    if (rc) return rc;
    s->pending = tok[n - 1];
    s->len += n;
    return SL_OK;
}

int sl_speculative_round(sl_speculative *s, const sl_sampler *smp, sl_rng *rng, int32_t *out, int *n_out)
{
    const int V = s->V;
    int rc;
    *n_out = 0;
    if (s->len == 0) return sl_error(SL_EINVAL, "speculative decoding: no prompt fed");
    /* the target takes pending + k positions, the draft at most as many */
    long k = s->k;
    if (s->tmax && s->tmax - s->len < k) k = s->tmax - s->len;
    if (s->dmax && s->dmax - s->len < k) k = s->dmax - s->len;
    if (k < 0) return sl_error(SL_ESHAPE, "context full after %ld tokens", s->len);
    /* under a constraint: position i of the round has budget - i tokens left, so at most
     * budget - 1 proposals; nothing at all when no token may follow now */
    const long b = s->budget;
    if (s->con) {
        s->cst[0] = sl_constraint_get_state(s->con);
        if (s->done || b == 0) return SL_OK;
        memset(s->res, 0, (size_t)V * sizeof(float));
        if (cmask(s, s->res, s->cst[0], b) == 0) {
            sl_constraint_set_state(s->con, s->cst[0]);
            s->done = 1;
            return SL_OK;
        }
        if (b >= 0 && k > b - 1) k = b - 1;
    }
    double t0;
    /* draft: k proposals from its own distribution (masked like the target's) */
    s->in[0] = s->pending;
    if (k > 0) {
        if ((rc = sl_model_state_copy(s->d, s->dsnap, s->ds))) return rc;
        for (int i = 0; i < k; i++) {
            t0 = sl_now();
            rc = sl_model_step(s->d, s->ds, NULL, s->in + i, s->dlog);
            s->st.draft_seconds += sl_now() - t0;
            s->st.draft_positions++;
            if (rc) return rc;
            if (cmask(s, s->dlog, s->cst[i], b - i) == 0) { /* the language ends here: fewer proposals */
                k = i;
                break;
            }
            float *q = s->q + (size_t)i * V;
            sl_sample_probs(s->dlog, V, smp, q, s->work, s->iw);
            s->in[i + 1] = sl_sample_from_probs(q, V, rng);
            if (s->con) {
                if ((rc = sl_constraint_advance(s->con, s->in[i + 1]))) return rc;
                s->cst[i + 1] = sl_constraint_get_state(s->con);
            }
        }
        s->st.drafted += k;
        if ((rc = sl_model_state_copy(s->t, s->tsnap, s->ts))) return rc;
    }
    /* target: pending + the k proposals in one pass */
    if ((rc = push(s, s->t, s->ts, s->in, (int)k + 1, 1))) return rc;
    s->st.rounds++;
    int j = 0, last = -1;
    for (; j < k; j++) {
        const int32_t x = s->in[j + 1];
        const float *q = s->q + (size_t)j * V;
        cmask(s, s->tlog.p + (size_t)j * V, s->cst[j], b - j); /* x is allowed here: q(x) > 0 */
        sl_sample_probs(s->tlog.p + (size_t)j * V, V, smp, s->p, s->work, s->iw);
        /* accept with probability min(1, p(x) / q(x)); q(x) > 0 since x was drawn from q */
        if (s->p[x] >= q[x] || sl_rng_uniform(rng) * q[x] < s->p[x]) continue;
        /* rejected: a draw from norm(max(0, p - q)) */
        for (int v = 0; v < V; v++) s->res[v] = s->p[v] > q[v] ? s->p[v] - q[v] : 0.0f;
        last = sl_sample_from_probs(s->res, V, rng);
        break;
    }
    if (j == k) { /* every proposal accepted: one more token from the target's last position */
        if (cmask(s, s->tlog.p + (size_t)k * V, s->cst[k], b - k) > 0) {
            sl_sample_probs(s->tlog.p + (size_t)k * V, V, smp, s->p, s->work, s->iw);
            last = sl_sample_from_probs(s->p, V, rng);
        }
    }
    s->st.accepted += j;
    for (int i = 0; i < j; i++) out[i] = s->in[i + 1];
    if (s->con) { /* the constraint's state after the emitted tokens */
        sl_constraint_set_state(s->con, s->cst[j]);
        if (last >= 0 && (rc = sl_constraint_advance(s->con, last))) return rc;
    }
    if (last < 0) { /* the language allows nothing after the k accepted proposals: the end */
        *n_out = j;
        s->st.emitted += j;
        s->done = 1;
        return SL_OK;
    }
    out[j] = last;
    *n_out = j + 1;
    s->st.emitted += j + 1;
    /* the states at the accepted position: pending and the j accepted proposals */
    if (j < k) {
        if ((rc = sl_model_state_copy(s->t, s->ts, s->tsnap))) return rc;
        if ((rc = push(s, s->t, s->ts, s->in, j + 1, 1))) return rc;
    }
    if (k > 0) {
        if (j == k) { /* the draft has pending..d_{k-1}: add d_k */
            t0 = sl_now();
            rc = sl_model_step(s->d, s->ds, NULL, s->in + k, s->dlog);
            s->st.draft_seconds += sl_now() - t0;
            s->st.draft_positions++;
            if (rc) return rc;
        } else if (j < k - 1) {
            if ((rc = sl_model_state_copy(s->d, s->ds, s->dsnap))) return rc;
            if ((rc = push(s, s->d, s->ds, s->in, j + 1, 0))) return rc;
        }
    } else { /* no proposals: the draft takes the pending token too */
        if ((rc = push(s, s->d, s->ds, s->in, 1, 0))) return rc;
    }
    s->pending = last;
    s->len += j + 1;
    return SL_OK;
}
