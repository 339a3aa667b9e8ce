/* t/t-reliab.c — regressions for the reliability findings of issue 19 that live in the
 * library: the error module reading its own buffer, cross-entropy targets past the logits,
 * task/model agreement in evaluation, the LR schedule on extreme metadata, checkpoint
 * metadata read strictly, and llama2.c encoding (BOS/EOS in tiny vocabularies, the heap merge
 * loop against run.c's rescan loop on random vocabularies with tied scores).
 * Run under the sanitizer build, every case here must be clean.
 */
#include "core/checkpoint.h"
#include "core/safetensors.h"
#include "core/error.h"
#include "core/optim.h"
#include "lab/registry.h"
#include "lab/tasks.h"
#include "seq/layers.h"
#include "seq/llama2c.h"
#include "t/tap.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void test_error_self(void)
{
    sl_error(SL_EINVAL, "non-finite gradient in layers.0.w");
    sl_error(SL_ENAN, "stopped (%s); more", sl_errmsg());
    ok(!strcmp(sl_errmsg(), "stopped (non-finite gradient in layers.0.w); more"),
       "sl_error may take sl_errmsg() as an argument: '%s'", sl_errmsg());
    sl_error(SL_EINVAL, "inner");
    sl_error_wrap(SL_EINVAL, "outer %s", sl_errmsg());
    ok(!strcmp(sl_errmsg(), "outer inner: inner"), "sl_error_wrap too: '%s'", sl_errmsg());
}

static void test_xent_targets(void)
{
    enum { N = 3, V = 4 };
    float *logits = malloc(N * V * sizeof(float)), *probs = malloc(N * V * sizeof(float));
    float *d = calloc(N * V, sizeof(float));
    for (int i = 0; i < N * V; i++) logits[i] = 0.1f * (float)i;
    int32_t good[N] = {0, 3, -1}, bad[N] = {1, 4, 2}, huge[N] = {INT32_MAX, 0, 0};
    int cnt = -1;
    double L = sl_xent_forward(probs, logits, good, N, V, &cnt);
    ok(isfinite(L) && cnt == 2, "xent: targets in range, one ignored: loss %.4f over %d rows", L, cnt);
    L = sl_xent_forward(probs, logits, bad, N, V, &cnt);
    ok(isnan(L) && cnt == 0 && strstr(sl_errmsg(), "target 4 at row 1"), "xent: target = V is refused: %s", sl_errmsg());
    L = sl_xent_forward(probs, logits, huge, N, V, &cnt);
    ok(isnan(L) && strstr(sl_errmsg(), "outside the 4 logits"), "xent: target INT32_MAX is refused: %s", sl_errmsg());
    sl_xent_backward(d, probs, bad, N, V, 1.0f); /* must not touch row 1 past V (ASan would say) */
    float s = 0;
    for (int v = 0; v < V; v++) s += fabsf(d[V + v]);
    ok(s == 0.0f, "xent backward skips a target past the logits");
    free(logits);
    free(probs);
    free(d);
}

static void test_eval_agreement(void)
{
    sl_task *t = NULL;
    sl_model *m = NULL;
    char spec[128];
    if (sl_task_create("induction:seq_len=16,vocab_size=16", &t) ||
        (snprintf(spec, sizeof spec, "gpt:n_layer=1,n_embd=8,n_head=2,vocab_size=%d,block_size=16", t->vocab - 9),
         sl_model_create(spec, 1, &m))) {
        ok(0, "setup: %s", sl_errmsg());
        sl_task_free(t);
        return;
    }
    sl_eval_result er;
    int rc = sl_task_eval(t, m, 1, 2, 7, &er);
    ok(rc == SL_ESHAPE && strstr(sl_errmsg(), "needs 17"), "eval of a model narrower than the task's vocabulary is refused: %s",
       sl_errmsg());
    ok(sl_task_check_model(t, m) == SL_ESHAPE, "sl_task_check_model says the same");
    sl_model_free(m);
    snprintf(spec, sizeof spec, "gpt:n_layer=1,n_embd=8,n_head=2,vocab_size=%d,block_size=16", t->vocab);
    ok(sl_model_create(spec, 1, &m) == 0 && sl_task_check_model(t, m) == SL_OK && sl_task_eval(t, m, 1, 2, 7, &er) == 0 &&
           isfinite(er.loss),
       "a matching model evaluates: loss %.4f (%s)", er.loss, sl_errmsg());
    sl_model_free(m);
    sl_task_free(t);
}

static void test_schedule_extremes(void)
{
    sl_schedule s = {0};
    s.cosine = 1;
    s.lr = 1e-3f;
    s.min_lr = 1e-4f;
    long w[] = {LONG_MIN, -1, 0, 5, LONG_MAX}, d[] = {LONG_MIN, 0, 10, LONG_MAX};
    long steps[] = {0, 1, 7, 1L << 40, LONG_MAX - 1};
    int fine = 1;
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        for (size_t j = 0; j < sizeof d / sizeof *d; j++)
            for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
                s.warmup = w[i];
                s.decay_steps = d[j];
                float lr = sl_schedule_lr(&s, steps[k]);
                if (!isfinite(lr) || lr < 0 || lr > s.lr * 1.0001f) {
                    fine = 0;
                    diag("warmup %ld decay %ld step %ld -> %g", w[i], d[j], steps[k], lr);
                }
            }
    ok(fine, "sl_schedule_lr stays in [0, lr] for extreme warmup / decay_steps (no overflow under UBSan)");
    s.warmup = 10;
    s.decay_steps = 100;
    ok(sl_schedule_lr(&s, 4) == s.lr * 5.0f / 11.0f && sl_schedule_lr(&s, 200) == s.min_lr, "  ordinary values as before");
}

/* a checkpoint with the given metadata (and one tiny tensor), read back */
static sl_safetensors *meta_file(const char *key, const char *val)
{
    char path[512];
    snprintf(path, sizeof path, "%s/meta.safetensors", tmpdir);
    sl_st_writer *w = sl_st_writer_new();
    float x = 1.0f;
    int64_t shape[1] = {1};
    sl_st_writer_add(w, "x", SL_DT_F32, 1, shape, &x);
    sl_st_writer_meta(w, key, val);
    int rc = sl_st_writer_write(w, path);
    sl_st_writer_free(w);
    sl_safetensors *st = NULL;
    if (rc || sl_safetensors_read(path, &st)) return NULL;
    return st;
}

static void test_meta_strict(void)
{
    static const struct {
        const char *val;
        int good;
        long want;
    } L[] = {
        {"42", 1, 42},
        {"0", 1, 0},
        {"1e3", 1, 1000},
        {"-1e300", 0, 0},
        {"1e300", 0, 0},
        {"18446744073709551616", 0, 0},
        {"9223372036854775807", 0, 0},
        {"nan", 0, 0},
        {"inf", 0, 0},
        {"-inf", 0, 0},
        {"", 0, 0},
        {"12abc", 0, 0},
        {"2.5", 0, 0},
        {"-1", 0, 0},
        {"0x10", 1, 16},
        {" 7", 1, 7},
    };
    int all = 1;
    for (size_t i = 0; i < sizeof L / sizeof *L; i++) {
        sl_safetensors *st = meta_file("warmup", L[i].val);
        long v = -7;
        int rc = st ? sl_checkpoint_meta_long(st, "warmup", 0, 1L << 40, &v) : -99;
        int good = L[i].good ? rc == 0 && v == L[i].want : rc == SL_EFORMAT && strstr(sl_errmsg(), "warmup") && v == -7;
        if (!good) diag("'%s': rc %d v %ld (%s)", L[i].val, rc, v, sl_errmsg());
        all &= good;
        sl_safetensors_free(st);
    }
    ok(all, "sl_checkpoint_meta_long: whole numbers in range only, the rest refused naming the key");
    sl_safetensors *st = meta_file("warmup", "-1e300");
    long v;
    sl_checkpoint_meta_long(st, "warmup", 0, 1L << 40, &v);
    ok(strstr(sl_errmsg(), "'warmup' = '-1e300'") != NULL, "  message: %s", sl_errmsg());
    ok(sl_checkpoint_meta_long(st, "missing", 0, 1, &v) == SL_EFORMAT && strstr(sl_errmsg(), "no 'missing'"),
       "  a missing key: %s", sl_errmsg());
    sl_safetensors_free(st);
    st = meta_file("lr", "1e400");
    double d;
    ok(st && sl_checkpoint_meta_double(st, "lr", 0, 100, &d) == SL_EFORMAT, "sl_checkpoint_meta_double refuses 1e400: %s",
       sl_errmsg());
    sl_safetensors_free(st);
    st = meta_file("lr", "0.003");
    ok(st && sl_checkpoint_meta_double(st, "lr", 0, 100, &d) == 0 && d == 0.003, "  and reads 0.003");
    sl_safetensors_free(st);
}

/* ---- llama2.c encoding ---- */

typedef struct {
    int V;
    const char **piece;
    const float *score;
} tokdef;

static const char *write_tok(const tokdef *td, const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    int32_t ml = 1;
    for (int i = 0; i < td->V; i++)
        if ((int32_t)strlen(td->piece[i]) > ml) ml = (int32_t)strlen(td->piece[i]);
    fwrite(&ml, 4, 1, f);
    for (int i = 0; i < td->V; i++) {
        int32_t len = (int32_t)strlen(td->piece[i]);
        fwrite(&td->score[i], 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(td->piece[i], 1, (size_t)len, f);
    }
    fclose(f);
    return path;
}

/* run.c's loop, the reference: rescan every pair, merge the first best, repeat */
static int ref_lookup(const tokdef *td, const char *s)
{
    /* the pieces are unique here, so a linear search finds the same id as run.c's bsearch */
    for (int i = 0; i < td->V; i++)
        if (!strcmp(td->piece[i], s)) return i;
    return -1;
}

static int ref_encode(const tokdef *td, const char *text, int32_t *tok)
{
    int n = 0;
    tok[n++] = 1;
    if (*text) {
        int sp = ref_lookup(td, " ");
        if (sp >= 0) tok[n++] = sp;
    }
    for (const char *c = text; *c; c++) {
        char s[2] = {*c, 0};
        int id = ref_lookup(td, s);
        tok[n++] = id >= 0 ? id : (unsigned char)*c + 3;
    }
    char buf[256];
    for (;;) {
        float best = -1e10f;
        int bi = -1, bid = -1;
        for (int i = 0; i + 1 < n; i++) {
            snprintf(buf, sizeof buf, "%s%s", td->piece[tok[i]], td->piece[tok[i + 1]]);
            int id = ref_lookup(td, buf);
            if (id >= 0 && td->score[id] > best) {
                best = td->score[id];
                bi = i;
                bid = id;
            }
        }
        if (bi < 0) break;
        tok[bi] = bid;
        memmove(tok + bi + 1, tok + bi + 2, (size_t)(n - bi - 2) * sizeof *tok);
        n--;
    }
    return n;
}

static void test_llama2c_encode(void)
{
    /* vocabulary of 1: no BOS (id 1) */
    const char *p1[] = {"a"};
    float s1[] = {0};
    tokdef one = {1, p1, s1};
    sl_llama2c_tokenizer *tk = NULL;
    int32_t *ids = NULL;
    int n = -1;
    ok(sl_llama2c_tokenizer_read(write_tok(&one, "tok1.bin"), 1, &tk) == 0, "a one-token tokenizer reads");
    int rc = tk ? sl_llama2c_encode(tk, "a", 1, 0, &ids, &n) : -99;
    ok(rc == SL_EINVAL && ids == NULL && strstr(sl_errmsg(), "no BOS"), "encode with BOS in a vocabulary of 1 is refused: %s",
       sl_errmsg());
    ok(tk && sl_llama2c_encode(tk, "a", 0, 0, &ids, &n) == 0 && n == 1 && ids[0] == 0, "  without BOS it encodes 'a' as [0]");
    free(ids);
    ids = NULL;
    sl_llama2c_tokenizer_free(tk);
    const char *p2[] = {"<unk>", "<s>"};
    float s2[] = {0, 0};
    tokdef two = {2, p2, s2};
    tk = NULL;
    rc = sl_llama2c_tokenizer_read(write_tok(&two, "tok2.bin"), 2, &tk) == 0 ? sl_llama2c_encode(tk, "", 1, 1, &ids, &n) : -99;
    ok(rc == SL_EINVAL && strstr(sl_errmsg(), "no EOS"), "encode with EOS in a vocabulary of 2 is refused: %s", sl_errmsg());
    sl_llama2c_tokenizer_free(tk);
    tk = NULL;
    /* a vocabulary claimed larger than the file can hold */
    rc = sl_llama2c_tokenizer_read(write_tok(&two, "tok2.bin"), 1 << 24, &tk);
    ok(rc == SL_EFORMAT && strstr(sl_errmsg(), "cannot hold 16777216 tokens"), "a tokenizer file too small for vocab_size: %s",
       sl_errmsg());

    /* random vocabularies over "abc" with tied scores: the heap loop = the rescan loop */
    int all = 1, cases = 0;
    uint64_t x = 12345;
#define RND() (x = x * 6364136223846793005ull + 1442695040888963407ull, (unsigned)(x >> 33))
    for (int trial = 0; trial < 60; trial++) {
        enum { MAXV = 3 + 256 + 4 + 40 };
        static char store[MAXV][16];
        const char *piece[MAXV];
        float score[MAXV];
        int V = 0;
        strcpy(store[V], "<unk>");
        V++;
        strcpy(store[V], "<s>");
        V++;
        strcpy(store[V], "</s>");
        V++;
        for (int b = 0; b < 256; b++) snprintf(store[V++], 16, "<0x%02X>", b);
        const char *base[] = {" ", "a", "b", "c"};
        for (int i = 0; i < 4; i++) strcpy(store[V++], base[i]);
        int want = 10 + (int)(RND() % 30);
        for (int tries = 0; V < 3 + 256 + 4 + want && tries < 1000; tries++) {
            char s[16];
            int L = 2 + (int)(RND() % 5);
            for (int i = 0; i < L; i++) s[i] = " abc"[RND() % 4];
            s[L] = 0;
            int dup = 0;
            for (int i = 0; i < V; i++) dup |= !strcmp(store[i], s);
            if (!dup) strcpy(store[V++], s);
        }
        for (int i = 0; i < V; i++) {
            piece[i] = store[i];
            score[i] = i < 259 ? 0.0f : (float)(RND() % 4); /* few distinct scores: many ties */
        }
        tokdef td = {V, piece, score};
        char text[400];
        int len = (int)(RND() % 399);
        for (int i = 0; i < len; i++) text[i] = " abc"[RND() % 4];
        text[len] = 0;
        tk = NULL;
        if (sl_llama2c_tokenizer_read(write_tok(&td, "rand.bin"), V, &tk)) {
            all = 0;
            diag("%s", sl_errmsg());
            break;
        }
        int32_t ref[512];
        int nr = ref_encode(&td, text, ref);
        ids = NULL;
        int same = sl_llama2c_encode(tk, text, 1, 0, &ids, &n) == 0 && n == nr && !memcmp(ids, ref, (size_t)n * sizeof *ids);
        if (!same) diag("trial %d: %d tokens vs %d", trial, n, nr);
        all &= same;
        cases++;
        free(ids);
        sl_llama2c_tokenizer_free(tk);
    }
    ok(all, "heap merge loop = run.c's rescan loop on %d random vocabularies and texts (tied scores)", cases);
}

/* ---- through the command line (needs $SEQLAB) ---- */

/* copy a safetensors file, with metadata key set to val (added if absent) */
static int rewrite_meta(const char *src, const char *dst, const char *key, const char *val)
{
    sl_safetensors *st;
    if (sl_safetensors_read(src, &st)) return -1;
    sl_st_writer *w = sl_st_writer_new();
    for (size_t i = 0; i < st->n; i++)
        sl_st_writer_add(w, st->t[i].name, st->t[i].dtype, st->t[i].ndim, st->t[i].shape, st->data + st->t[i].begin);
    int found = 0;
    for (size_t i = 0; i < st->n_meta; i++) {
        int mine = !strcmp(st->meta_key[i], key);
        found |= mine;
        sl_st_writer_meta(w, st->meta_key[i], mine ? val : st->meta_val[i]);
    }
    if (!found) sl_st_writer_meta(w, key, val);
    int rc = sl_st_writer_write(w, dst);
    sl_st_writer_free(w);
    sl_safetensors_free(st);
    return rc;
}

/* run a shell command; its exit status, stderr kept in tmpdir/err */
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(cmd + k, sizeof cmd - (size_t)k, " > '%s/out' 2> '%s/err'", tmpdir, tmpdir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int err_has(const char *phrase)
{
    char path[512], buf[4096] = {0};
    snprintf(path, sizeof path, "%s/err", tmpdir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    if (!strstr(buf, phrase)) diag("stderr lacks '%s': %.300s", phrase, buf);
    return strstr(buf, phrase) != NULL;
}

static void test_cli(void)
{
    const char *seqlab = getenv("SEQLAB");
    if (!seqlab) {
    skip_all_n:
        for (int i = 0; i < 16; i++) skip("SEQLAB is not set (run through make check)");
        return;
    }
    char corpus[512], run0[512], ck[600];
    snprintf(corpus, sizeof corpus, "%s/abc.txt", tmpdir);
    FILE *f = fopen(corpus, "w");
    for (int i = 0; i < 300; i++) fputs("abc cab bca\n", f);
    fclose(f);
    snprintf(run0, sizeof run0, "%s/run0", tmpdir);
    int rc = run("'%s' train --model gpt:n_layer=1,n_embd=8,n_head=2 --task charlm:corpus='%s',seq_len=8 --batch 2 "
                 "--steps 4 --stop-after 2 --warmup 1 --ckpt-every 1 --eval-every 2 --eval-batches 1 --no-progress --out '%s'",
                 seqlab, corpus, run0);
    if (rc) {
        diag("training the base run failed (%d)", rc);
        goto skip_all_n;
    }
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run0);

    /* hostile metadata on --resume: a clear error naming the key, exit 1, never UB */
    static const struct {
        const char *key, *val;
    } H[] = {
        {"warmup", "-1e300"},
        {"log_n_acc", "18446744073709551616"},
        {"batch", "1e300"},
        {"decay_steps", "nan"},
        {"lr", "inf"},
        {"step", "-1"},
        {"seconds", "1e400"},
        {"seed", "-5"},
        {"eval_batches", "0"},
        {"log_loss_acc", "nan"},
        {"ckpt_every", "9223372036854775808"},
        {"log_n_acc", "3"},
    };
    for (size_t i = 0; i < sizeof H / sizeof *H; i++) {
        char dir[600], dck[700];
        snprintf(dir, sizeof dir, "%s/h%zu", tmpdir, i);
        snprintf(dck, sizeof dck, "%s/checkpoint.safetensors", dir);
        run("mkdir -p '%s' && cp '%s/log.csv' '%s/'", dir, run0, dir);
        if (rewrite_meta(ck, dck, H[i].key, H[i].val)) {
            ok(0, "rewrite %s", H[i].key);
            continue;
        }
        rc = run("'%s' train --resume '%s' --steps 4 --no-progress", seqlab, dir);
        ok(rc == 1 && err_has(H[i].key), "resume with %s=\"%s\": exit %d, the error names the key", H[i].key, H[i].val, rc);
    }
    /* the same values through eval (it reads the run's configuration too) */
    {
        char dir[600], dck[700];
        snprintf(dir, sizeof dir, "%s/h0", tmpdir);
        snprintf(dck, sizeof dck, "%s/checkpoint.safetensors", dir);
        rc = run("'%s' eval --run '%s'", seqlab, dir);
        ok(rc == 1 && err_has("warmup"), "eval of a run with warmup=-1e300: exit %d", rc);
    }

    /* eval on a task whose vocabulary the model does not have */
    char big[512];
    snprintf(big, sizeof big, "%s/big.txt", tmpdir);
    f = fopen(big, "w");
    for (int i = 0; i < 300; i++) fputs("the quick brown fox jumps over the lazy dog\n", f);
    fclose(f);
    rc = run("'%s' eval --run '%s' --task charlm:corpus='%s',seq_len=8", seqlab, run0, big);
    ok(rc == 1 && (err_has("alphabet") || err_has("width")), "eval with a larger alphabet: exit %d, refused", rc);
    rc = run("'%s' eval --run '%s' --task charlm:corpus='%s',seq_len=1", seqlab, run0, corpus);
    ok(rc == 0, "eval with charlm:seq_len=1 on the run's own text works (exit %d)", rc);

    /* generate from a run whose model has more outputs than the alphabet has characters */
    {
        char dir[600], dck[700];
        snprintf(dir, sizeof dir, "%s/wide", tmpdir);
        snprintf(dck, sizeof dck, "%s/checkpoint.safetensors", dir);
        run("mkdir -p '%s'", dir);
        sl_model *m = NULL;
        const char *spec = "gpt:n_layer=1,n_embd=8,n_head=2,vocab_size=300,block_size=8";
        const char *kv[4] = {"model", spec, "alphabet", "0a2061626364"};
        rc = sl_model_create(spec, 1, &m) || sl_checkpoint_write(dck, m->P, NULL, NULL, 0, 0.0, kv, 2);
        sl_model_free(m);
        rc = rc ? -1 : run("'%s' generate --run '%s' --prompt ab --tokens 50", seqlab, dir);
        ok(rc == 1 && err_has("alphabet of 6 characters"), "generate with vocab_size 300 over a 6-character alphabet: exit %d",
           rc);
    }
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/t-reliab.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("1..0 # SKIP cannot create a temporary directory: %s\n", strerror(errno));
        return 0;
    }
    test_error_self();
    test_xent_targets();
    test_eval_agreement();
    test_schedule_extremes();
    test_meta_strict();
    test_llama2c_encode();
    test_cli();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) diag("could not remove %s", tmpdir);
    return done_testing();
}
