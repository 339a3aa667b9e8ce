/* t/t-llama2c.c — llama2.c checkpoints and tokenizer.bin: loading, logits equal to a PyTorch
 * llama (sequence and step mode), greedy generation, encode/decode, malformed files. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "core/fileio.h"
#include "core/npy.h"
#include "seq/llama2c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char srcdir[1024];
static char tmpdir[] = "/tmp/sl-l2c-XXXXXX";

static const char *data_path(const char *name)
{
    static char buf[4][1200];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/t/data/%s", srcdir, name);
    return buf[k];
}

static void logits_case(const char *bin, const char *logits, int shared)
{
    sl_llama2c_config c;
    int rc = sl_llama2c_read_config(data_path(bin), &c);
    ok(rc == 0 && c.vocab_size == 294 && c.shared_classifier == shared && c.seq_len == 16,
       "%s: header (dim %d, layers %d, heads %d/%d, vocab %d, shared %d)", bin, c.dim, c.n_layers, c.n_heads, c.n_kv_heads,
       c.vocab_size, c.shared_classifier);
    sl_model *m = NULL;
    rc = sl_llama2c_load(data_path(bin), &m);
    if (!ok(rc == 0, "%s: load%s%s", bin, rc ? ": " : "", rc ? sl_errmsg() : "")) return;
    diag("spec: %s", m->spec);
    sl_npy tok = {0}, ref = {0};
    if (sl_npy_read(data_path("llama2c_tokens.npy"), &tok) || sl_npy_read(data_path(logits), &ref)) {
        ok(0, "fixtures: %s", sl_errmsg());
        sl_model_free(m);
        return;
    }
    const int B = (int)tok.shape[0], T = (int)tok.shape[1];
    float *y = malloc(ref.numel * sizeof(float));
    double d = sl_model_forward(m, NULL, tok.data, y, B, T) ? INFINITY : max_abs_diff(y, ref.data, ref.numel);
    ok(d <= 1e-4, "%s: logits == PyTorch llama (max abs diff %.2e)", bin, d);
    d = sl_model_run_steps(m, NULL, tok.data, y, B, T) ? INFINITY : max_abs_diff(y, ref.data, ref.numel);
    ok(d <= 1e-4, "%s: step-mode logits == PyTorch llama (max abs diff %.2e)", bin, d);
    free(y);
    sl_npy_free(&tok);
    sl_npy_free(&ref);
    sl_model_free(m);
}

static void tokenizer_case(void)
{
    sl_llama2c_tokenizer *t = NULL;
    int rc = sl_llama2c_tokenizer_read(data_path("llama2c_tok.bin"), 294, &t);
    if (!ok(rc == 0, "tokenizer.bin reads%s%s", rc ? ": " : "", rc ? sl_errmsg() : "")) return;
    const char *texts[] = {"hello world!", "the zebra", "h\xc3\xa9llo\nthere"};
    sl_npy want = {0};
    if (sl_npy_read(data_path("llama2c_encode.npy"), &want) == 0) {
        for (int i = 0; i < 3; i++) {
            int32_t *tok = NULL;
            int n = 0, good = sl_llama2c_encode(t, texts[i], 1, 0, &tok, &n) == 0;
            const int32_t *w = (const int32_t *)want.data + (size_t)i * want.shape[1];
            int wn = 0;
            while (wn < want.shape[1] && w[wn] >= 0) wn++;
            good = good && n == wn && memcmp(tok, w, (size_t)n * sizeof(int32_t)) == 0;
            ok(good, "encode \"%s\" == run.c's algorithm (%d tokens)", i == 2 ? "h\\u00e9llo\\nthere" : texts[i], n);
            /* decode round trip */
            char out[256] = "";
            for (int k = 1; k < n; k++) {
                const char *p = sl_llama2c_decode(t, tok[k - 1], tok[k]);
                if (p) strncat(out, p, sizeof out - strlen(out) - 1);
            }
            ok(!strcmp(out, texts[i]), "decode(encode(text)) == text: \"%s\"", i == 2 ? "(utf-8 + newline)" : out);
            free(tok);
        }
        sl_npy_free(&want);
    } else {
        ok(0, "llama2c_encode.npy: %s", sl_errmsg());
    }
    ok(sl_llama2c_decode(t, 0, 294) == NULL && sl_llama2c_decode(t, 0, -1) == NULL, "decode rejects ids out of range");
    ok(!strcmp(sl_llama2c_decode(t, 1, 13), "\n"), "byte piece <0x0A> decodes to a newline");
    int32_t *tok = NULL;
    int n = 0;
    ok(sl_llama2c_encode(t, "", 1, 1, &tok, &n) == 0 && n == 2 && tok[0] == 1 && tok[1] == 2, "empty text: BOS EOS");
    free(tok);
    sl_llama2c_tokenizer_free(t);
}

/* greedy generation in step mode from text_in to 16 tokens against PyTorch's greedy tokens
 * (fixture). The tied checkpoint repeats one token at once whatever attention does;
 * llama2c_gen.bin (weights 10x larger) generates 12 tokens of 11 distinct ids that depend on
 * attention and the MLP (t/ref/make_llama2c_fixtures.py) */
static void generate_case(const char *bin, const char *text_in, const char *fixture)
{
    sl_model *m = NULL;
    sl_llama2c_tokenizer *t = NULL;
    if (sl_llama2c_load(data_path(bin), &m) || sl_llama2c_tokenizer_read(data_path("llama2c_tok.bin"), m->d_out, &t)) {
        ok(0, "generate: load (%s)", sl_errmsg());
        sl_model_free(m);
        return;
    }
    int32_t *prompt = NULL;
    int n = 0;
    sl_llama2c_encode(t, text_in, 1, 0, &prompt, &n);
    void *st = sl_model_state_new(m, 1);
    float *y = malloc((size_t)m->d_out * sizeof(float));
    int32_t seq[16];
    int len = 0, rc = st ? 0 : -1, prev = 1;
    char text[512] = "";
    for (int i = 0; i < n && !rc; i++) {
        seq[len++] = prompt[i];
        rc = sl_model_step(m, st, NULL, &prompt[i], y);
    }
    while (!rc && len < 16) {
        int best = 0;
        for (int v = 1; v < m->d_out; v++)
            if (y[v] > y[best]) best = v;
        seq[len++] = best;
        const char *p = sl_llama2c_decode(t, prev, best);
        if (p) strncat(text, p, sizeof text - strlen(text) - 1);
        prev = best;
        if (len < 16) rc = sl_model_step(m, st, NULL, &seq[len - 1], y);
    }
    ok(!rc && len == 16, "%s: greedy generation of %d tokens from \"%s\": \"%.40s\"", bin, 16 - n, text_in, text);
    /* the tokens themselves: PyTorch's greedy continuation of the same prompt
     * (t/ref/make_llama2c_fixtures.py, a full forward of the prefix per token) */
    sl_npy g = {0};
    int same = 0;
    if (sl_npy_read(data_path(fixture), &g) == 0 && g.dtype == SL_DT_I32 && g.numel == 16) {
        const int32_t *ref = g.data;
        for (int i = 0; i < len; i++) same += ref[i] == seq[i];
    } else {
        diag("%s: %s", fixture, sl_errmsg());
    }
    ok(same == 16, "%s: greedy tokens == PyTorch's greedy tokens (%d of 16)", bin, same);
    sl_npy_free(&g);
    /* 15 positions are in the cache; seq_len is 16: one more step fits, the next must fail */
    rc = sl_model_step(m, st, NULL, &seq[15], y);
    ok(rc == 0 && sl_model_step(m, st, NULL, &seq[15], y) == SL_ESHAPE, "context full at seq_len: %s", sl_errmsg());
    sl_model_state_free(m, st);
    free(y);
    free(prompt);
    sl_llama2c_tokenizer_free(t);
    sl_model_free(m);
}

/* ---- malformed files -------------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
    void *buf = NULL;
    if (sl_read_file(path, 1 << 24, &buf, n)) return NULL;
    return buf;
}

static const char *write_tmp(const char *name, const void *buf, size_t n)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(buf, 1, n, f);
        fclose(f);
    }
    return path;
}

static void bad_ckpt(const char *label, const unsigned char *base, size_t n, size_t cut, int field, int32_t value, long poke,
                     int expect)
{
    unsigned char *b = malloc(n + 8);
    memcpy(b, base, n);
    size_t len = cut ? cut : n;
    if (cut > n) { memset(b + n, 0, cut - n); }
    if (field >= 0) memcpy(b + 4 * field, &value, 4);
    if (poke >= 0) {
        float nan = NAN;
        memcpy(b + poke, &nan, 4);
    }
    const char *p = write_tmp("bad.bin", b, len);
    sl_model *m = NULL;
    int rc = sl_llama2c_load(p, &m);
    ok(rc == expect && m == NULL, "malformed checkpoint, %s: %s", label, sl_errmsg());
    if (m) sl_model_free(m);
    free(b);
}

static void malformed_ckpt(void)
{
    size_t n;
    unsigned char *base = slurp(data_path("llama2c_shared.bin"), &n);
    if (!ok(base != NULL, "read the fixture checkpoint")) return;
    { /* empty: write zero bytes */
        const char *p = write_tmp("empty.bin", base, 0);
        sl_model *m = NULL;
        ok(sl_llama2c_load(p, &m) == SL_EFORMAT, "malformed checkpoint, zero bytes: %s", sl_errmsg());
    }
    bad_ckpt("header only", base, n, 28, -1, 0, -1, SL_EFORMAT);
    bad_ckpt("truncated by 4 bytes", base, n, n - 4, -1, 0, -1, SL_EFORMAT);
    bad_ckpt("one trailing byte", base, n, n + 1, -1, 0, -1, SL_EFORMAT);
    bad_ckpt("dim = 0", base, n, 0, 0, 0, -1, SL_EFORMAT);
    bad_ckpt("hidden_dim negative", base, n, 0, 1, -48, -1, SL_EFORMAT);
    bad_ckpt("n_layers huge", base, n, 0, 2, 1 << 30, -1, SL_EFORMAT);
    bad_ckpt("n_heads does not divide dim", base, n, 0, 3, 3, -1, SL_EFORMAT);
    bad_ckpt("n_kv_heads does not divide n_heads", base, n, 0, 4, 3, -1, SL_EFORMAT);
    bad_ckpt("n_kv_heads > n_heads", base, n, 0, 4, 8, -1, SL_EFORMAT);
    bad_ckpt("vocab_size = INT32_MIN", base, n, 0, 5, INT32_MIN, -1, SL_EFORMAT);
    bad_ckpt("vocab_size negated (unshared, file too short)", base, n, 0, 5, -294, -1, SL_EFORMAT);
    bad_ckpt("seq_len larger than the file", base, n, 0, 6, 17, -1, SL_EFORMAT);
    bad_ckpt("dim and n_layers at their limits", base, n, 0, 0, 65536, -1, SL_EFORMAT);
    bad_ckpt("NaN weight", base, n, 0, -1, 0, 28 + 4 * 100, SL_ENAN);
    bad_ckpt("NaN in the last layer's w3", base, n, 0, -1, 0, (long)n - 4 * (16 + 2 * 16 * 2 + 1) - 4, SL_ENAN);
    sl_model *m = NULL;
    ok(sl_llama2c_load("/nonexistent/model.bin", &m) == SL_EIO, "missing file: %s", sl_errmsg());
    sl_llama2c_config c;
    ok(sl_llama2c_read_config(write_tmp("short.bin", base, 10), &c) == SL_EFORMAT, "header read of 10 bytes: %s", sl_errmsg());
    free(base);
}

static void bad_tok(const char *label, const unsigned char *b, size_t n, int V, int expect)
{
    sl_llama2c_tokenizer *t = NULL;
    int rc = sl_llama2c_tokenizer_read(write_tmp("bad_tok.bin", b, n), V, &t);
    ok((expect ? rc == expect : rc < 0) && t == NULL, "malformed tokenizer, %s: %s", label, sl_errmsg());
    sl_llama2c_tokenizer_free(t);
}

static void malformed_tok(void)
{
    size_t n;
    unsigned char *base = slurp(data_path("llama2c_tok.bin"), &n);
    if (!ok(base != NULL, "read the fixture tokenizer")) return;
    unsigned char *b = malloc(n + 16);
    bad_tok("empty", base, 0, 294, SL_EFORMAT);
    bad_tok("truncated in the last token", base, n - 1, 294, SL_EFORMAT);
    bad_tok("vocab_size one too large", base, n, 295, SL_EFORMAT);
    bad_tok("vocab_size one too small (trailing bytes)", base, n, 293, SL_EFORMAT);
    memcpy(b, base, n);
    int32_t v = 0;
    memcpy(b, &v, 4);
    bad_tok("max_token_length 0", b, n, 294, SL_EFORMAT);
    memcpy(b, base, n);
    v = 100000;
    memcpy(b + 8, &v, 4); /* first token's length */
    bad_tok("token length > max_token_length", b, n, 294, SL_EFORMAT);
    v = -5;
    memcpy(b + 8, &v, 4);
    bad_tok("negative token length", b, n, 294, SL_EFORMAT);
    memcpy(b, base, n);
    float nan = NAN;
    memcpy(b + 4, &nan, 4);
    bad_tok("NaN score", b, n, 294, SL_ENAN);
    memcpy(b, base, n);
    int32_t maxlen;
    memcpy(&maxlen, base, 4);
    v = maxlen; /* first token claims max length: runs into the next entries, so the end is off */
    memcpy(b + 8, &v, 4);
    bad_tok("a length that desynchronises the entries", b, n, 294, 0);
    sl_llama2c_tokenizer *t = NULL;
    ok(sl_llama2c_tokenizer_read(data_path("llama2c_tok.bin"), 0, &t) == SL_EINVAL, "vocab_size 0: %s", sl_errmsg());
    free(b);
    free(base);
}

int main(void)
{
    const char *s = getenv("SL_SRCDIR");
    snprintf(srcdir, sizeof srcdir, "%s", s ? s : ".");
    if (!mkdtemp(tmpdir)) skip_all("cannot make a temporary directory");
    logits_case("llama2c_shared.bin", "llama2c_shared_logits.npy", 1);
    logits_case("llama2c_unshared.bin", "llama2c_unshared_logits.npy", 0);
    tokenizer_case();
    generate_case("llama2c_shared.bin", "hello", "llama2c_greedy.npy");
    generate_case("llama2c_gen.bin", "hello world!", "llama2c_gen_greedy.npy");
    malformed_ckpt();
    malformed_tok();
    char p[1200];
    const char *files[] = {"bad.bin", "empty.bin", "short.bin", "bad_tok.bin"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return done_testing();
}
