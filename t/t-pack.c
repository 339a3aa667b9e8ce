/* t/t-pack.c — packing without padding (issue #21 item 1, docs/training.md).
 *
 * A packed batch (rows holding several documents, sl_model_set_docs) must give, for every
 * document, the outputs, parameter gradients and input gradients of that document run alone
 * (B = 1, T = its length), within 1e-5 relative to the largest value:
 *  - every registered mixer inside the seq: wrapper (real input, so input gradients too) and
 *    the lm: wrapper (tokens, learned positions that restart per document);
 *  - the bare attention mixer (it packs itself): flash and naive kernels over documents that
 *    cross 64-row tiles, RoPE, GQA, MLA, bidirectional;
 *  - gpt and llama;
 *  - step mode: stepping a packed row with a state reset at each boundary equals the packed
 *    forward;
 *  - native resets (issue #21): the bare rnn / lstm / gru on each of the engine's paths (lanes,
 *    kernel, sgemm; bidirectional too), mamba (the N = 16 and generic scan kernels, rows past
 *    the scan's 64-step checkpoints) and mamba2 (SSD chunks holding several documents and
 *    documents spanning chunks) advertise SL_CAP_PACK and equal their documents alone; the
 *    s4d and s4 (the long convolution per document, fftconv.h), hippo (LegS, whose step index
 *    restarts, and a time-invariant measure; the N > 64 backward too); the
 *    selective scan and the chunked SSD against their double-precision references with
 *    document starts; finite differences of packed batches; a mixer still on the wrapper's
 *    per-document path (hyena) lacks SL_CAP_PACK and its wrappers still pass (the registry loop).
 * And the errors: packed rows for a model that cannot take them, malformed positions. */
#include "core/error.h"
#include "t/tap.h"
#include "t/testutil.h"

#include "lab/pack.h"
#include "lab/registry.h"
#include "lab/tasks.h"
#include "seq/recurrent_common.h"
#include "ssm/scan.h"
#include "ssm/ssd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 11, W = 16 };

/* doc_pos (B, T) from document lengths: lens[b] lists row b's lengths, 0-terminated, summing to T */
static void make_pos(int32_t *pos, const int lens[][8], int B, int T)
{
    for (int b = 0; b < B; b++) {
        int t = 0;
        for (int i = 0; lens[b][i]; i++)
            for (int j = 0; j < lens[b][i]; j++) pos[(size_t)b * T + t++] = j;
        if (t != T) {
            printf("Bail out! bad test layout\n");
            exit(1);
        }
    }
}

/* The packed batch against its documents alone: outputs, every parameter gradient, input
 * gradients (real input); then step mode row by row with resets at the boundaries. */
static void check_packed(const char *label, sl_model *m, const int lens[][8], int B, int T, double tol)
{
    const int tokens = (m->caps & SL_CAP_TOKEN_IN) != 0, din = m->d_in, dout = m->d_out;
    const size_t N = (size_t)B * T, G = m->P->total;
    float *x = tokens ? NULL : tu_random(N * din, 1.0f, 7);
    int32_t *tok = tokens ? malloc(N * sizeof(int32_t)) : NULL, *pos = malloc(N * sizeof(int32_t));
    float *R = tu_random(N * dout, 1.0f, 9);
    float *y = calloc(N * dout, sizeof(float)), *ya = calloc(N * dout, sizeof(float));
    float *dx = x ? calloc(N * din, sizeof(float)) : NULL, *dxa = x ? calloc(N * din, sizeof(float)) : NULL;
    float *gp = malloc(G * sizeof(float));
    for (size_t i = 0; tok && i < N; i++) tok[i] = (int32_t)((i * 7 + 3) % V);
    make_pos(pos, lens, B, T);
    /* packed */
    sl_params_zero_grad(m->P);
    int rc = sl_model_set_docs(m, pos);
    if (!rc) rc = sl_model_forward(m, x, tok, y, B, T);
    if (!rc) rc = sl_model_backward(m, R, dx);
    sl_model_set_docs(m, NULL);
    if (!ok(rc == 0, "%s: packed forward/backward runs", label)) {
        diag("%s", sl_errmsg());
        goto done;
    }
    memcpy(gp, m->P->grad, G * sizeof(float));
    /* each document alone */
    sl_params_zero_grad(m->P);
    for (int b = 0; b < B && !rc; b++)
        for (int t = 0, e; t < T && !rc; t = e) {
            e = sl_docs_end(pos + (size_t)b * T, t, T);
            const size_t r = (size_t)b * T + t;
            float *dxd = dxa ? calloc((size_t)(e - t) * din, sizeof(float)) : NULL;
            rc = sl_model_forward(m, x ? x + r * din : NULL, tok ? tok + r : NULL, ya + r * dout, 1, e - t);
            if (!rc) rc = sl_model_backward(m, R + r * dout, dxd);
            if (dxd) memcpy(dxa + r * din, dxd, (size_t)(e - t) * din * sizeof(float));
            free(dxd);
        }
    if (!ok(rc == 0, "%s: documents alone run", label)) {
        diag("%s", sl_errmsg());
        goto done;
    }
    double ey = tu_rel_diff_1p(y, ya, N * dout), eg = tu_rel_diff_1p(gp, m->P->grad, G),
           ex = x ? tu_rel_diff_1p(dx, dxa, N * din) : 0.0;
    ok(ey <= tol && eg <= tol && ex <= tol, "%s: packed == documents alone: outputs %.1e, parameter grads %.1e%s (tol %.0e)",
       label, ey, eg, x ? ", input grads" : "", tol);
    if (x) diag("%s: input grads %.1e", label, ex);
    /* step mode: one row at a time, the state reset where a document starts */
    if ((m->caps & SL_CAP_STEP) && !(m->caps & SL_CAP_BIDIR)) {
        void *st = sl_model_state_new(m, 1);
        float *ys = calloc(N * dout, sizeof(float));
        rc = st ? SL_OK : SL_ENOMEM;
        for (size_t i = 0; i < N && !rc; i++) {
            if (pos[i] == 0) rc = sl_model_state_reset(m, st);
            if (!rc) rc = sl_model_step(m, st, x ? x + i * din : NULL, tok ? tok + i : NULL, ys + i * dout);
        }
        double es = tu_rel_diff_1p(ys, y, N * dout);
        ok(!rc && es <= tol, "%s: stepping with a reset at each boundary == packed forward (%.1e)", label, es);
        if (rc) diag("%s", sl_errmsg());
        sl_model_state_free(m, st);
        free(ys);
        /* step mode, all B rows at once: before each position, the rows whose document starts
         * there are reset alone (sl_model_state_reset_rows); each row's outputs are its
         * documents' run alone in sequence mode */
        st = sl_model_state_new(m, B);
        ys = calloc(N * dout, sizeof(float));
        float *xs = x ? malloc((size_t)B * din * sizeof(float)) : NULL, *yt = malloc((size_t)B * dout * sizeof(float));
        int32_t *ts = tok ? malloc((size_t)B * sizeof(int32_t)) : NULL;
        uint8_t *rows = malloc((size_t)B);
        int partial = 0;
        rc = st ? SL_OK : SL_ENOMEM;
        for (int t = 0; t < T && !rc; t++) {
            int n = 0;
            for (int b = 0; b < B; b++) {
                const size_t i = (size_t)b * T + t;
                rows[b] = t > 0 && pos[i] == 0;
                n += rows[b];
                if (x) memcpy(xs + (size_t)b * din, x + i * din, (size_t)din * sizeof(float));
                if (tok) ts[b] = tok[i];
            }
            partial += n > 0 && n < B;
            rc = sl_model_state_reset_rows(m, st, rows, B);
            if (!rc) rc = sl_model_step(m, st, xs, ts, yt);
            for (int b = 0; b < B && !rc; b++)
                memcpy(ys + ((size_t)b * T + t) * dout, yt + (size_t)b * dout, (size_t)dout * sizeof(float));
        }
        es = tu_rel_diff_1p(ys, ya, N * dout);
        ok(!rc && es <= tol && partial > 0,
           "%s: %d rows stepped together with per-row resets (%d positions reset some rows only) == each document alone (%.1e)",
           label, B, partial, es);
        if (rc) diag("%s", sl_errmsg());
        sl_model_state_free(m, st);
        free(ys);
        free(xs);
        free(yt);
        free(ts);
        free(rows);
    }
done:
    free(x);
    free(tok);
    free(pos);
    free(R);
    free(y);
    free(ya);
    free(dx);
    free(dxa);
    free(gp);
}

static void make_and_check(const char *label, const char *spec, const int lens[][8], int B, int T, double tol)
{
    sl_model *m = NULL;
    if (sl_model_create(spec, 3, &m)) {
        ok(0, "%s: create %s: %s", label, spec, sl_errmsg());
        return;
    }
    check_packed(label, m, lens, B, T, tol);
    sl_model_free(m);
}

/* two rows of 23: a long document, short ones, a single token */
static const int small[][8] = {{7, 1, 9, 6, 0}, {3, 20, 0}};
/* two rows of 150 over the flash kernel's 64-row tiles: documents inside, across and spanning tiles */
static const int tiles[][8] = {{70, 3, 64, 13, 0}, {1, 130, 19, 0}};
/* documents starting on the last key of a 64-column tile (63, 127) and running into the next
 * query tile: that tile's queries still need the key tile before */
static const int edges[][8] = {{63, 70, 17, 0}, {127, 23, 0}};

/* ---- native resets ---- */

enum { PATH_DEFAULT, PATH_KERNEL, PATH_SGEMM };
static const char *path_name[] = {"default", "kernel", "sgemm"};

/* a bare mixer that resets natively: it advertises SL_CAP_PACK, and packed == its documents
 * alone. Recurrent models run on the path asked for (default: lanes for LSTM/GRU with B <= 32
 * on AVX-512 CPUs, else the kernel; kernel: lanes off; sgemm: the portable path). With fd, a
 * finite-difference check of the packed batch's gradients follows. */
static void check_native(const char *spec, int path, const int lens[][8], int B, int T, int fd)
{
    char label[200];
    sl_model *m = NULL;
    snprintf(label, sizeof label, "native %s%s%s (B=%d T=%d)", spec, path ? ", " : "", path ? path_name[path] : "", B, T);
    if (sl_model_create(spec, 3, &m)) {
        ok(0, "%s: create: %s", label, sl_errmsg());
        return;
    }
    ok(m->caps & SL_CAP_PACK, "%s: advertises SL_CAP_PACK (resets in its kernels)", label);
    if (sl_recurrent_is(m)) {
        if (path == PATH_KERNEL) sl_recurrent_set_lanes(m, 0);
        if (path == PATH_SGEMM) sl_recurrent_set_fast(m, 0);
    }
    check_packed(label, m, lens, B, T, 1e-5);
    if (sl_recurrent_is(m)) { /* which path the packed batch took */
        const size_t N = (size_t)B * T;
        int32_t *pos = malloc(N * sizeof(int32_t));
        float *x = tu_random(N * m->d_in, 1.0f, 3), *y = malloc(N * m->d_out * sizeof(float));
        make_pos(pos, lens, B, T);
        sl_model_set_docs(m, pos);
        int rc = sl_model_forward(m, x, NULL, y, B, T);
        const int lanes = sl_recurrent_lanes(m), fast = sl_recurrent_fast(m);
        const int want = path == PATH_SGEMM    ? !fast
                         : path == PATH_KERNEL ? fast && !lanes
                                               : lanes || !fast || sl_recurrent_get_config(m)->cell == SL_RCELL_ELMAN;
        ok(!rc && want, "%s: took the %s path (lanes %d, kernel %d)", label, path_name[path], lanes, fast);
        sl_model_set_docs(m, NULL);
        free(pos);
        free(x);
        free(y);
    }
    if (fd) {
        const size_t N = (size_t)B * T;
        int32_t *pos = malloc(N * sizeof(int32_t));
        float *x = tu_random(N * m->d_in, 1.0f, 5);
        make_pos(pos, lens, B, T);
        sl_model_set_docs(m, pos);
        snprintf(label + strlen(label), sizeof label - strlen(label), ", packed, finite differences");
        check_model_grads(m, label, x, NULL, B, T, 1e-2, 2e-2, 6);
        sl_model_set_docs(m, NULL);
        free(pos);
        free(x);
    }
    sl_model_free(m);
}

/* three rows of 150 for the scans: a document in each 64-step checkpoint segment, one across
 * two, single tokens, a row of one document */
static const int segs[][8] = {{1, 63, 2, 70, 14, 0}, {150, 0}, {5, 1, 1, 140, 3, 0}};

/* the fast selective scan (N = 16 and generic kernels) against the double-precision reference,
 * both with document starts: outputs and every gradient */
static void test_scan_ref(int N, int Dch)
{
    enum { B = 3, L = 150 };
    const size_t BL = (size_t)B * L, nd = BL * Dch, nb = BL * N;
    int32_t pos[B * L];
    make_pos(pos, segs, B, L);
    float *u = tu_random(nd, 1.0f, 11), *delta = tu_random(nd, 0.5f, 12), *Bm = tu_random(nb, 1.0f, 13),
          *Cm = tu_random(nb, 1.0f, 14);
    float *z = tu_random(nd, 1.0f, 15), *Dv = tu_random(Dch, 1.0f, 16), *bias = tu_random(Dch, 0.3f, 17),
          *A = malloc((size_t)Dch * N * sizeof(float));
    for (int i = 0; i < Dch * N; i++) A[i] = -(float)(1 + i % N) * 0.3f;
    float *dy = tu_random(nd, 1.0f, 18), *y1 = calloc(nd, sizeof(float)), *y2 = calloc(nd, sizeof(float));
    sl_scan_args a = {.B = B,
                      .L = L,
                      .D = Dch,
                      .N = N,
                      .G = 1,
                      .u = u,
                      .delta = delta,
                      .A = A,
                      .Bm = Bm,
                      .Cm = Cm,
                      .Dv = Dv,
                      .z = z,
                      .delta_bias = bias,
                      .delta_softplus = 1,
                      .doc_pos = pos};
    /* gradients: [0] reference, [1] fast */
    float *g[2][8];
    const size_t sz[8] = {nd, nd, (size_t)Dch * N, nb, nb, Dch, nd, Dch};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 8; i++) g[k][i] = calloc(sz[i], sizeof(float));
    sl_scan_grads gr[2];
    for (int k = 0; k < 2; k++) gr[k] = (sl_scan_grads){g[k][0], g[k][1], g[k][2], g[k][3], g[k][4], g[k][5], g[k][6], g[k][7]};
    sl_scan_ws *ws = sl_scan_ws_new();
    int rc = sl_scan_ref_forward(y1, NULL, &a) || sl_scan_ref_backward(&gr[0], dy, &a) || sl_scan_forward(y2, NULL, &a, 4, ws) ||
             sl_scan_backward(&gr[1], dy, &a, ws);
    double e = rc ? INFINITY : tu_rel_diff_1p(y2, y1, nd);
    for (int i = 0; i < 8 && !rc; i++) {
        double ei = tu_rel_diff_1p(g[1][i], g[0][i], sz[i]);
        if (ei > e) e = ei;
    }
    ok(!rc && e <= 1e-5,
       "selective scan N=%d D=%d with document starts (3 rows of 150, checkpoints every 64): fast == reference, "
       "outputs and 8 gradients (%.1e), chunks asked 4, used %d",
       N, Dch, e, sl_scan_ws_nchunks(ws));
    /* and the reset matters: without doc_pos the outputs differ */
    a.doc_pos = NULL;
    sl_scan_ref_forward(y2, NULL, &a);
    ok(tu_rel_diff_1p(y2, y1, nd) > 1e-3, "selective scan: the document starts change the outputs (%.1e)",
       tu_rel_diff_1p(y2, y1, nd));
    sl_scan_ws_free(ws);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 8; i++) free(g[k][i]);
    free(u);
    free(delta);
    free(Bm);
    free(Cm);
    free(z);
    free(Dv);
    free(bias);
    free(A);
    free(dy);
    free(y1);
    free(y2);
}

/* the chunked SSD against its sequential reference with document starts, for chunks that hold
 * several documents, one, or part of one */
static void test_ssd_ref(int Q)
{
    enum { B = 3, L = 150, H = 4, P = 4, G = 2, N = 8 };
    const size_t BL = (size_t)B * L;
    int32_t pos[B * L];
    make_pos(pos, segs, B, L);
    float *x = tu_random(BL * H * P, 1.0f, 21), *dt = tu_random(BL * H, 0.5f, 22), *Bm = tu_random(BL * G * N, 1.0f, 23);
    float *Cm = tu_random(BL * G * N, 1.0f, 24), *D = tu_random(H, 1.0f, 25), *bias = tu_random(H, 0.3f, 26);
    float A[H] = {-0.5f, -1.0f, -0.2f, -2.0f};
    float *y1 = calloc(BL * H * P, sizeof(float)), *y2 = calloc(BL * H * P, sizeof(float));
    sl_ssd_args a = {.B = B,
                     .L = L,
                     .H = H,
                     .P = P,
                     .G = G,
                     .N = N,
                     .x = x,
                     .dt = dt,
                     .A = A,
                     .Bm = Bm,
                     .Cm = Cm,
                     .D = D,
                     .dt_bias = bias,
                     .dt_softplus = 1,
                     .doc_pos = pos};
    sl_ssd_ws *ws = sl_ssd_ws_new();
    int rc = sl_ssd_ref_forward(y1, NULL, &a) || sl_ssd_chunked_forward(y2, NULL, &a, Q, ws);
    double e = rc ? INFINITY : tu_rel_diff_1p(y2, y1, BL * H * P);
    ok(!rc && e <= 1e-5, "SSD chunk_size=%d with document starts: chunked == sequential reference (%.1e)", Q, e);
    sl_ssd_ws_free(ws);
    free(x);
    free(dt);
    free(Bm);
    free(Cm);
    free(D);
    free(bias);
    free(y1);
    free(y2);
}

static void test_native(void)
{
    static const char *rec[] = {"lstm:input_size=5,hidden_size=16,num_layers=2", "gru:input_size=5,hidden_size=16,num_layers=2",
                                "rnn:input_size=5,hidden_size=16,num_layers=2"};
    for (int i = 0; i < 3; i++)
        for (int path = 0; path < 3; path++) {
            check_native(rec[i], path, small, 2, 23, path == PATH_DEFAULT);
            check_native(rec[i], path, segs, 3, 150, 0);
        }
    check_native("lstm:input_size=5,hidden_size=8,bidirectional=1", PATH_DEFAULT, small, 2, 23, 0);
    check_native("lstm:input_size=5,hidden_size=8,bidirectional=1", PATH_SGEMM, small, 2, 23, 1);
    check_native("gru:input_size=5,hidden_size=8,bidirectional=1,num_layers=2", PATH_KERNEL, small, 2, 23, 0);
    check_native("mamba:d_model=16", PATH_DEFAULT, small, 2, 23, 1);
    check_native("mamba:d_model=16", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("mamba:d_model=16,d_state=8,scan_chunks=4", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("mamba2:d_model=16,headdim=8,d_state=8,chunk_size=4", PATH_DEFAULT, small, 2, 23, 1);
    check_native("mamba2:d_model=16,headdim=8,d_state=8,chunk_size=64", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("mamba2:d_model=16,headdim=8,d_state=8,chunk_size=7,ngroups=2", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("s4d:d_model=16,d_state=8", PATH_DEFAULT, small, 2, 23, 1);
    check_native("s4d:d_model=16,d_state=8", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("s4:d_model=8,d_state=8,l_max=256", PATH_DEFAULT, small, 2, 23, 1);
    check_native("s4:d_model=8,d_state=8,l_max=256", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("hippo:d_model=8,d_state=8", PATH_DEFAULT, small, 2, 23, 1);
    check_native("hippo:d_model=12,d_state=8", PATH_DEFAULT, segs, 3, 150, 0);
    check_native("hippo:d_model=4,d_state=70", PATH_DEFAULT, small, 2, 23, 0);
    check_native("hippo:d_model=8,d_state=8,measure=legt", PATH_DEFAULT, small, 2, 23, 1);
    check_native("lru:d_model=16,d_hidden=8", PATH_DEFAULT, small, 2, 23, 1);
    check_native("lru:d_model=16,d_hidden=8,chunk_size=16", PATH_DEFAULT, segs, 3, 150, 0);
    test_scan_ref(16, 20);
    test_scan_ref(8, 16);
    test_ssd_ref(1);
    test_ssd_ref(16);
    test_ssd_ref(64);
    /* a mixer still on the wrapper's per-document path */
    sl_model *h = NULL;
    if (!sl_model_create("hyena:d_model=16,l_max=32", 3, &h)) {
        ok(!(h->caps & SL_CAP_PACK), "hyena has no native resets: the wrapper runs it one document at a time");
        sl_model_free(h);
    }
}

static void test_errors(void)
{
    sl_model *m = NULL, *lm = NULL;
    int32_t pos[6] = {0, 1, 2, 0, 1, 2};
    float x[6 * 4] = {0}, y[6 * 4];
    if (sl_model_create("hyena:d_model=4,l_max=8", 1, &m) ||
        sl_model_create("seq:mixer=lstm,d_model=4,n_layer=1,d_input=4,d_output=4", 1, &lm)) {
        ok(0, "create: %s", sl_errmsg());
        return;
    }
    int rc = sl_model_set_docs(m, pos);
    ok(rc == SL_EUNSUPPORTED && strstr(sl_errmsg(), "packed"), "a bare hyena refuses packed rows: %s", sl_errmsg());
    ok(sl_model_set_docs(m, NULL) == 0, "clearing is always fine");
    int32_t bad0[6] = {1, 2, 3, 0, 1, 2}, badj[6] = {0, 1, 3, 0, 1, 2};
    sl_model_set_docs(lm, bad0);
    rc = sl_model_forward(lm, x, NULL, y, 2, 3);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "row 0, column 0"), "a row that does not start at 0: %s", sl_errmsg());
    sl_model_set_docs(lm, badj);
    rc = sl_model_forward(lm, x, NULL, y, 1, 6);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "column 2"), "a position that jumps: %s", sl_errmsg());
    sl_model_set_docs(lm, pos);
    ok(sl_model_forward(lm, x, NULL, y, 2, 3) == 0, "well-formed rows run");
    /* a recurrent initial state cannot be used with packed rows (they restart from zeros) */
    sl_model *r = NULL;
    float h0[2 * 4] = {0};
    if (!sl_model_create("lstm:input_size=4,hidden_size=4", 1, &r)) {
        sl_recurrent_set_initial_state(r, h0, NULL, 2);
        sl_model_set_docs(r, pos);
        rc = sl_model_forward(r, x, NULL, y, 2, 3);
        ok(rc == SL_EUNSUPPORTED && strstr(sl_errmsg(), "initial state"), "lstm with an initial state refuses packed rows: %s",
           sl_errmsg());
        sl_model_free(r);
    }
    sl_model_free(m);
    sl_model_free(lm);
}

/* sl_pack_rows: every segment of a row is a whole document (or a row-long window of a longer
 * one), targets are the next tokens of the same document, the tail alone is masked */
static void test_pack_rows(void)
{
    enum { ND = 6, B = 8, T = 20 };
    static const int len[ND] = {5, 2, 13, 1, 40, 8}; /* a 1-token document can give no position */
    size_t off[ND + 1] = {0};
    int32_t ids[100], tok[B * T], tg[B * T], pos[B * T];
    for (int i = 0; i < ND; i++) off[i + 1] = off[i] + len[i];
    for (size_t i = 0; i < off[ND]; i++) ids[i] = (int32_t)(1000 + i); /* every token names its place */
    const sl_doc_set d = {.ids = ids, .off = off, .n = ND};
    sl_rng *rng = sl_rng_alloc(5);
    long scored = 0, masked = 0, bad = 0, docs = 0;
    int rc = sl_pack_rows(&d, rng, B, T, tok, tg, pos, &scored);
    for (int b = 0; b < B && !rc; b++)
        for (int t = 0, e; t < T; t = e) {
            const int32_t *p = pos + b * T;
            e = sl_docs_end(p, t, T);
            if (tg[b * T + t] < 0) { /* the masked tail: to the row's end, nothing scored */
                masked += T - t;
                bad += e != T;
                for (int j = t; j < T; j++) bad += tg[b * T + j] != -1;
                continue;
            }
            docs++;
            int k = 0; /* the document holding the first token */
            while (off[k + 1] <= (size_t)(tok[b * T + t] - 1000)) k++;
            const int whole = tok[b * T + t] - 1000 == (int)off[k] && e - t == len[k] - 1;
            const int window = len[k] - 1 > T && t == 0 && e == T;
            bad += !(whole || window);
            for (int j = t; j < e; j++)
                bad += tg[b * T + j] != tok[b * T + j] + 1 || (size_t)(tok[b * T + j] + 1 - 1000) >= off[k + 1];
        }
    ok(!rc && !bad && scored + masked == B * T && docs > B,
       "pack_rows: %ld documents in %d rows, each whole (or a row-long "
       "window of the 40-token one), targets inside them, %ld masked tail positions",
       docs, B, masked);
    int Tp = 0;
    rc = sl_pad_rows(&d, rng, B, T, tok, tg, &Tp, &scored);
    ok(!rc && Tp <= T && scored < (long)B * Tp, "pad_rows: rows padded to the longest (%d), %ld of %d positions scored", Tp,
       scored, B * Tp);
    sl_rng_free(rng);
}

/* charlm over a directory (a file per document) and with doc_sep, packed; evaluation too */
static void test_charlm_pack(void)
{
    char dir[] = "/tmp/t-pack.XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    static const char *texts[] = {"the first document, short.", "a second one|and a third after the separator|",
                                  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/d%d.txt", dir, i);
        FILE *f = fopen(path, "w");
        fputs(texts[i], f);
        fclose(f);
    }
    char spec[160];
    sl_task *t = NULL;
    snprintf(spec, sizeof spec, "charlm:corpus=%s,pack=1,seq_len=32,val_frac=0.4,doc_sep=7c", dir);
    int rc = sl_task_create(spec, &t);
    ok(!rc && t->packed, "charlm: pack=1 over a directory with doc_sep creates (%s)", rc ? sl_errmsg() : "ok");
    if (!rc) {
        sl_batch b;
        sl_rng *rng = sl_rng_alloc(1);
        rc = sl_batch_alloc(&b, t, 4);
        if (!rc) rc = t->sample(t, 0, rng, &b);
        int bar = -1;
        for (int i = 0; i < 4 * 32 && !rc; i++) bar = t->alphabet[b.tok[i]] == '|' && b.target[i] >= 0 ? i : bar;
        ok(!rc && b.pos && bar < 0 && sl_docs_check(b.pos, 4, 32) == 0, "charlm: a packed batch, no separator in it");
        sl_model *m = NULL;
        snprintf(spec, sizeof spec, "lm:mixer=lstm,d_model=8,n_layer=1,vocab_size=%d", t->vocab);
        sl_eval_result res;
        if (!sl_model_create(spec, 1, &m)) {
            rc = sl_task_eval(t, m, 2, 4, 7, &res);
            ok(!rc && res.counted > 0 && isfinite(res.loss) && !m->doc_pos,
               "charlm: packed evaluation (%ld positions, loss %.3f)", res.counted, res.loss);
            sl_model_free(m);
        }
        sl_batch_free(&b);
        sl_rng_free(rng);
        sl_task_free(t);
    }
    snprintf(spec, sizeof spec, "charlm:corpus=%s/d0.txt,pack=1,seq_len=8", dir);
    rc = sl_task_create(spec, &t);
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "both sides"), "charlm: one document cannot be split into train and validation: %s",
       sl_errmsg());
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/d%d.txt", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    test_pack_rows();
    test_charlm_pack();
    char spec[320], label[160];
    for (int i = 0; sl_registry_entry(i); i++) {
        const sl_model_entry *e = sl_registry_entry(i);
        if (!e->is_mixer) continue;
        snprintf(spec, sizeof spec, "seq:mixer=%s,d_model=%d,n_layer=2,d_input=5,d_output=3%s", e->name, W,
                 tu_mixer_small_keys(e->name));
        snprintf(label, sizeof label, "seq:mixer=%s", e->name);
        make_and_check(label, spec, small, 2, 23, 1e-5);
        snprintf(spec, sizeof spec, "lm:mixer=%s,d_model=%d,n_layer=1,vocab_size=%d,max_position_embeddings=20%s", e->name, W, V,
                 tu_mixer_small_keys(e->name));
        snprintf(label, sizeof label, "lm:mixer=%s (learned positions)", e->name);
        make_and_check(label, spec, small, 2, 23, 1e-5);
    }
    /* the attention mixer packs itself: flash and naive, across tiles */
    make_and_check("attention flash, rope, tiles", "attention:d_model=16,n_head=2,rope=1,max_seq_len=256", tiles, 2, 150, 1e-5);
    make_and_check("attention naive, rope, tiles", "attention:d_model=16,n_head=2,rope=1,kernel=naive,max_seq_len=256", tiles, 2,
                   150, 1e-5);
    make_and_check("attention flash, documents from a tile's last key", "attention:d_model=16,n_head=2,rope=1,max_seq_len=256",
                   edges, 2, 150, 1e-5);
    make_and_check("attention flash, GQA", "attention:d_model=16,n_head=4,n_kv_head=2,rope=1,max_seq_len=256", tiles, 2, 150,
                   1e-5);
    make_and_check("attention MLA", "attention:d_model=16,n_head=2,kv_lora_rank=8,rope=1,max_seq_len=256", tiles, 2, 150, 1e-5);
    make_and_check("attention bidirectional", "attention:d_model=16,n_head=2,causal=0,max_seq_len=256", tiles, 2, 150, 1e-5);
    make_and_check("gpt", "gpt:n_layer=2,n_head=2,n_embd=16,block_size=32,vocab_size=11", small, 2, 23, 1e-5);
    make_and_check("llama", "llama:n_layers=2,n_heads=4,n_kv_heads=2,dim=16,max_seq_len=32,vocab_size=11", small, 2, 23, 1e-5);
    make_and_check("gpt, tiles", "gpt:n_layer=1,n_head=2,n_embd=16,block_size=256,vocab_size=11", tiles, 2, 150, 1e-5);
    test_native();
    test_errors();
    return done_testing();
}
