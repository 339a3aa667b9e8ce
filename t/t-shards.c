/* t/t-shards.c — token shards (nlp/shards.c) and the tokens: task (lab/tasks_tokens.c): the
 * header as llm.c writes it (uint16 and uint32), a shard whose header lies about its size,
 * text -> shards with document tokens (their concatenation == the documents' encodings), and
 * the task's windows (random, sequential, document starts, the fixed validation shard). */
#include "t/tap.h"

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "lab/tasks.h"
#include "nlp/shards.h"
#include "nlp/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static char *srcpath(const char *rel)
{
    static char buf[2][1024];
    static int k;
    k = (k + 1) & 1;
    const char *d = getenv("SL_SRCDIR");
    snprintf(buf[k], sizeof buf[k], "%s/%s", d ? d : ".", rel);
    return buf[k];
}

static void write_raw(const char *path, const int32_t *hdr3, const void *tok, size_t bytes)
{
    int32_t h[256] = {0};
    memcpy(h, hdr3, 3 * sizeof *h);
    FILE *f = fopen(path, "wb");
    fwrite(h, sizeof h, 1, f);
    if (bytes) fwrite(tok, 1, bytes, f);
    fclose(f);
}

static int expect_fail(int rc, const char *needle, const char *what)
{
    int good = rc != 0 && strstr(sl_errmsg(), needle) != NULL;
    ok(good, "%s is refused (%s)", what, sl_errmsg());
    return good;
}

/* all tokens of the shards matching PREFIX_train_*.bin in order */
static int32_t *read_all(const char *path, int64_t *n)
{
    sl_shard s;
    if (sl_shard_open(path, &s)) return NULL;
    int32_t *v = malloc(((size_t)s.n_tokens + 1) * sizeof *v);
    sl_shard_read(&s, 0, (size_t)s.n_tokens, v, 0);
    *n = s.n_tokens;
    sl_shard_close(&s);
    return v;
}

/* is row[0..T) a window of stream[0..n)? returns its offset or -1 */
static int64_t find_window(const int32_t *stream, int64_t n, const int32_t *row, int T)
{
    for (int64_t o = 0; o + T <= n; o++)
        if (!memcmp(stream + o, row, (size_t)T * sizeof *row)) return o;
    return -1;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/t-shards.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;

    /* write + read, uint16 */
    int32_t ids[1000];
    for (int i = 0; i < 1000; i++) ids[i] = (i * 37) % 600;
    sl_shard_writer w;
    int rc = sl_shard_writer_open(&w, tpath("a.bin"), 600, 599);
    if (!rc) rc = sl_shard_writer_put(&w, ids, 400);
    if (!rc) rc = sl_shard_writer_put(&w, ids + 400, 600);
    if (!rc) rc = sl_shard_writer_close(&w);
    ok(rc == 0, "write a shard of 1000 tokens (vocabulary 600)");
    {
        FILE *f = fopen(tpath("a.bin"), "rb");
        int32_t h[256];
        size_t got = fread(h, sizeof *h, 256, f);
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fclose(f);
        int zeros = 1;
        for (int i = 5; i < 256; i++) zeros &= h[i] == 0;
        ok(got == 256 && h[0] == 20240520 && h[1] == 1 && h[2] == 1000 && h[3] == 600 && h[4] == 600 && zeros &&
               sz == 1024 + 2000,
           "its header is llm.c's uint16 header (20240520, 1, 1000) + vocabulary and document token, then 2000 bytes");
    }
    sl_shard s;
    rc = sl_shard_open(tpath("a.bin"), &s);
    int32_t back[1000];
    ok(rc == 0 && s.width == 2 && s.n_tokens == 1000 && s.vocab == 600 && s.doc_token == 599,
       "open it: width 2, 1000 tokens, vocab 600, document token 599");
    ok(rc == 0 && sl_shard_read(&s, 0, 1000, back, 600) == 0 && !memcmp(back, ids, sizeof ids), "read all of it back");
    ok(rc == 0 && sl_shard_read(&s, 990, 10, back, 600) == 0 && !memcmp(back, ids + 990, 10 * sizeof *ids),
       "read its last 10 tokens");
    expect_fail(sl_shard_read(&s, 995, 10, back, 600), "outside its 1000", "a read past the end");
    expect_fail(sl_shard_read(&s, 0, 1000, back, 500), "outside the vocabulary of 500", "a token past a smaller vocabulary");
    sl_shard_close(&s);
    /* uint32 */
    int32_t big[3] = {0, 69999, 65536};
    rc = sl_shard_writer_open(&w, tpath("b.bin"), 70000, -1);
    if (!rc) rc = sl_shard_writer_put(&w, big, 3);
    if (!rc) rc = sl_shard_writer_close(&w);
    rc = rc ? rc : sl_shard_open(tpath("b.bin"), &s);
    ok(rc == 0 && s.width == 4 && s.n_tokens == 3 && s.doc_token == -1 && sl_shard_read(&s, 0, 3, back, 70000) == 0 &&
           back[1] == 69999 && back[2] == 65536,
       "a vocabulary of 70000 writes llm.c's uint32 shard (20240801, version 7) and reads back");
    sl_shard_close(&s);
    rc = sl_shard_writer_open(&w, tpath("c.bin"), 600, -1);
    expect_fail(rc ? rc : sl_shard_writer_put(&w, big + 1, 1), "outside the vocabulary of 600",
                "writing token 69999 into a 600-token shard");
    sl_shard_writer_abort(&w);
    ok(access(tpath("c.bin"), F_OK) != 0, "an aborted shard leaves no file");

    /* llm.c's own file: header[0..2] only */
    uint16_t toks[5] = {50256, 1, 2, 3, 50256};
    int32_t h3[3] = {20240520, 1, 5};
    write_raw(tpath("llmc.bin"), h3, toks, sizeof toks);
    rc = sl_shard_open(tpath("llmc.bin"), &s);
    ok(rc == 0 && s.vocab == 0 && s.doc_token == -1 && sl_shard_read(&s, 0, 5, back, 0) == 0 && back[0] == 50256 && back[3] == 3,
       "a shard written as llm.c's write_datafile does opens (no vocabulary recorded)");
    sl_shard_close(&s);
    /* headers that lie */
    int32_t lie[3] = {20240520, 1, 6};
    write_raw(tpath("lie1.bin"), lie, toks, sizeof toks);
    expect_fail(sl_shard_open(tpath("lie1.bin"), &s), "the header says 6 tokens (1036 bytes) but the file has 1034 bytes",
                "a header claiming one token more than the file holds");
    int32_t lie2[3] = {20240520, 1, 4};
    write_raw(tpath("lie2.bin"), lie2, toks, sizeof toks);
    expect_fail(sl_shard_open(tpath("lie2.bin"), &s), "the header says 4 tokens", "a header claiming one token fewer");
    int32_t lie3[3] = {20240520, 1, -5};
    write_raw(tpath("lie3.bin"), lie3, toks, sizeof toks);
    expect_fail(sl_shard_open(tpath("lie3.bin"), &s), "negative token count", "a negative token count");
    { /* fuzz/shards.c's finding: header[4] = INT32_MIN made the message compute INT32_MIN - 1 */
        int32_t hd[256] = {20240520, 1, 5, 0, INT32_MIN};
        FILE *f = fopen(tpath("doc-min.bin"), "wb");
        fwrite(hd, sizeof hd, 1, f);
        fwrite(toks, 1, sizeof toks, f);
        fclose(f);
        expect_fail(sl_shard_open(tpath("doc-min.bin"), &s), "bad document token -2147483649",
                    "a document-token field of INT32_MIN is refused, its value named without overflow");
    }
    int32_t bm[3] = {20240521, 1, 5};
    write_raw(tpath("bm.bin"), bm, toks, sizeof toks);
    expect_fail(sl_shard_open(tpath("bm.bin"), &s), "bad magic", "a wrong magic number");
    int32_t bv[3] = {20240801, 1, 5};
    write_raw(tpath("bv.bin"), bv, toks, sizeof toks);
    expect_fail(sl_shard_open(tpath("bv.bin"), &s), "version 1, expected 7", "a uint32 magic with the uint16 version");
    {
        FILE *f = fopen(tpath("short.bin"), "wb");
        fwrite(h3, sizeof h3, 1, f);
        fclose(f);
        expect_fail(sl_shard_open(tpath("short.bin"), &s), "shorter than the 1024-byte header", "a file shorter than the header");
    }

    /* text -> shards with the fixture BPE: two documents (files), a validation shard */
    sl_subword *tok = NULL;
    rc = sl_subword_load(srcpath("t/data/tok-gpt2"), &tok);
    ok(rc == 0 && tok->doc_token == 599, "load the fixture BPE (<|endoftext|> = 599)");
    if (rc) return done_testing();
    const char *files[] = {srcpath("t/data/tok-text.txt"), srcpath("t/data/tok-corpus.txt"), NULL};
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/s", tmpdir);
    sl_shards_opts so = {prefix, 4000, 1, 0};
    sl_shards_stats st;
    rc = sl_shards_encode_files(tok, (const char *const *)files, &so, &st);
    ok(rc == 0 && st.docs == 2 && st.val_docs == 1, "encode two files into shards, the first as validation (%s)",
       rc ? sl_errmsg() : "ok");
    /* expected: [599] + encode(text) in val; [599] + encode(corpus) across train shards */
    int32_t *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, c1 = 0, n2 = 0, c2 = 0;
    void *b1, *b2;
    size_t l1, l2;
    sl_read_file(files[0], 1 << 24, &b1, &l1);
    sl_read_file(files[1], 1 << 24, &b2, &l2);
    sl_subword_encode(tok, b1, l1, &e1, &n1, &c1);
    sl_subword_encode(tok, b2, l2, &e2, &n2, &c2);
    int64_t nv = 0;
    int32_t *val = read_all(tpath("s_val_000000.bin"), &nv);
    ok(val && nv == (int64_t)n1 + 1 && val[0] == 599 && !memcmp(val + 1, e1, n1 * sizeof *e1),
       "the validation shard is <|endoftext|> + the first file's %zu tokens", n1);
    int64_t total = 0;
    int32_t *train = malloc((n2 + 1) * sizeof *train);
    int nshards = 0, sizes_ok = 1;
    for (int k = 0; k < st.train_shards; k++) {
        char name[64];
        snprintf(name, sizeof name, "s_train_%06d.bin", k);
        int64_t nk = 0;
        int32_t *v = read_all(tpath(name), &nk);
        if (!v || total + nk > (int64_t)n2 + 1) {
            sizes_ok = 0;
            free(v);
            break;
        }
        if (k < st.train_shards - 1 && nk != 4000) sizes_ok = 0;
        memcpy(train + total, v, (size_t)nk * sizeof *v);
        total += nk;
        nshards++;
        free(v);
    }
    ok(sizes_ok && nshards == (int)((n2 + 1 + 3999) / 4000) && total == (int64_t)n2 + 1 && train[0] == 599 &&
           !memcmp(train + 1, e2, n2 * sizeof *e2),
       "the %d training shards (4000 tokens each, the last fewer) concatenate to <|endoftext|> + the second file's tokens",
       nshards);

    /* the task */
    char spec[1024];
    sl_task *t = NULL;
    snprintf(spec, sizeof spec, "tokens:data=%s,seq_len=16", prefix);
    rc = sl_task_create(spec, &t);
    ok(rc == 0 && t->vocab == 600 && t->T == 16 && t->token_in && t->token_out,
       "tokens:data=PREFIX,seq_len=16 (vocabulary 600 from the header) (%s)", rc ? sl_errmsg() : "ok");
    if (!rc) {
        sl_batch b;
        sl_batch_alloc(&b, t, 8);
        sl_rng *rng = sl_rng_alloc(5);
        int good = 1;
        for (int rep = 0; rep < 3 && good; rep++) {
            if (t->sample(t, 0, rng, &b)) good = 0;
            for (int r = 0; r < 8 && good; r++) {
                int64_t o = find_window(train, total, b.tok + r * 16, 16);
                if (o < 0 || memcmp(b.target + r * 16, train + o + 1, 16 * sizeof(int32_t))) good = 0;
            }
        }
        ok(good, "random training windows are windows of the training shards, targets shifted by one");
        int32_t first[8 * 16], again[8 * 16];
        sl_rng *r1 = sl_rng_alloc(77), *r2 = sl_rng_alloc(77);
        t->sample(t, 1, r1, &b);
        memcpy(first, b.tok, sizeof first);
        int inval = 1;
        for (int r = 0; r < 8; r++) inval &= find_window(val, nv, b.tok + r * 16, 16) >= 0;
        t->sample(t, 0, rng, &b);
        t->sample(t, 1, r2, &b);
        memcpy(again, b.tok, sizeof again);
        ok(inval && !memcmp(first, again, sizeof first),
           "validation windows come from the validation shard, the same for the same seed");
        sl_rng_free(r1);
        sl_rng_free(r2);
        sl_rng_free(rng);
        sl_batch_free(&b);
        sl_task_free(t);
    }
    snprintf(spec, sizeof spec, "tokens:data=%s,seq_len=16,order=sequential", prefix);
    rc = sl_task_create(spec, &t);
    if (!rc) {
        sl_batch b;
        sl_batch_alloc(&b, t, 4);
        sl_rng *rng = sl_rng_alloc(1);
        t->sample(t, 0, rng, &b);
        int good = 1;
        for (int r = 0; r < 4; r++) good &= !memcmp(b.tok + r * 16, train + r * 16, 16 * sizeof(int32_t));
        t->sample(t, 0, rng, &b);
        for (int r = 0; r < 4; r++) good &= !memcmp(b.tok + r * 16, train + (4 + r) * 16, 16 * sizeof(int32_t));
        ok(good, "order=sequential: rows are consecutive windows from the start, across batches");
        sl_rng_free(rng);
        sl_batch_free(&b);
        sl_task_free(t);
    } else {
        ok(0, "order=sequential task (%s)", sl_errmsg());
    }
    /* documents by line, then windows at document starts */
    {
        char pl[600];
        snprintf(pl, sizeof pl, "%s/l", tmpdir);
        const char *f2[] = {srcpath("t/data/tok-corpus.txt"), NULL};
        sl_shards_opts lo = {pl, 100000, 200, 1};
        rc = sl_shards_encode_files(tok, f2, &lo, &st);
        ok(rc == 0 && st.docs > 800 && st.val_tokens >= 200, "documents by line: %lld documents, %lld validation tokens",
           (long long)st.docs, (long long)st.val_tokens);
        snprintf(spec, sizeof spec, "tokens:data=%s,seq_len=8,start=doc", pl);
        rc = sl_task_create(spec, &t);
        if (!rc) {
            sl_batch b;
            sl_batch_alloc(&b, t, 16);
            sl_rng *rng = sl_rng_alloc(3);
            int good = 1;
            for (int rep = 0; rep < 4; rep++) {
                t->sample(t, rep & 1, rng, &b);
                for (int r = 0; r < 16; r++) good &= b.tok[r * 8] == 599;
            }
            ok(good, "start=doc: every window begins with the document token");
            sl_rng_free(rng);
            sl_batch_free(&b);
            sl_task_free(t);
        } else {
            ok(0, "start=doc task (%s)", sl_errmsg());
        }
    }
    /* task errors */
    snprintf(spec, sizeof spec, "tokens:data=%s/nothing", tmpdir);
    expect_fail(sl_task_create(spec, &t), "no training shard matches", "a prefix with no shards");
    snprintf(spec, sizeof spec, "tokens:train=%s/llmc.bin,val=%s/llmc.bin,seq_len=4", tmpdir, tmpdir);
    expect_fail(sl_task_create(spec, &t), "give vocab_size", "llm.c shards without vocab_size");
    snprintf(spec, sizeof spec, "tokens:train=%s/llmc.bin,val=%s/llmc.bin,vocab_size=50257,seq_len=4", tmpdir, tmpdir);
    rc = sl_task_create(spec, &t);
    ok(rc == 0 && t->vocab == 50257, "llm.c shards with vocab_size=50257 make a task");
    if (!rc) sl_task_free(t);
    snprintf(spec, sizeof spec, "tokens:train=%s/llmc.bin,val=%s/llmc.bin,vocab_size=50257,seq_len=5", tmpdir, tmpdir);
    expect_fail(sl_task_create(spec, &t), "no window of seq_len + 1 = 6 tokens", "a seq_len longer than every shard");
    snprintf(spec, sizeof spec, "tokens:train=%s/lie1.bin,val=%s/llmc.bin,vocab_size=50257,seq_len=2", tmpdir, tmpdir);
    expect_fail(sl_task_create(spec, &t), "the header says 6 tokens", "a training shard whose header lies");
    snprintf(spec, sizeof spec, "tokens:data=%s,seq_len=16,vocab_size=100", prefix);
    expect_fail(sl_task_create(spec, &t), "smaller than the shards' 600", "vocab_size below the shards'");
    snprintf(spec, sizeof spec, "tokens:data=%s,seq_len=16,fit_tokens=100", prefix);
    rc = sl_task_create(spec, &t);
    ok(rc == 0 && t->n_train_stream == 100 && !memcmp(t->train_stream, train, 100 * sizeof *train),
       "fit_tokens=100 hands the first 100 training tokens to count models");
    if (!rc) sl_task_free(t);

    free(val);
    free(train);
    free(e1);
    free(e2);
    free(b1);
    free(b2);
    sl_subword_free(tok);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) diag("could not remove %s", tmpdir);
    return done_testing();
}
