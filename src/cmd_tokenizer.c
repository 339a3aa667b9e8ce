/* src/cmd_tokenizer.c — `seqlab tokenizer train | encode | decode | info | convert`. */
#include "src/cli.h"

#include "core/error.h"
#include "core/fileio.h"
#include "core/util.h"
#include "nlp/bpe.h"
#include "nlp/shards.h"
#include "nlp/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE = "usage: seqlab tokenizer train --vocab-size N --out FILE [--min-frequency F] [--special TOKEN]...\n"
                           "                              [--gpt2 DIR] [--naive] [TEXT...]\n"
                           "       seqlab tokenizer encode --tokenizer T [--lines] [--out FILE] [--threads K] [TEXT...]\n"
                           "       seqlab tokenizer encode --tokenizer T --shards PREFIX [--val-tokens N] [--shard-tokens N]\n"
                           "                               [--docs file|line] [TEXT...]\n"
                           "       seqlab tokenizer decode --tokenizer T [--out FILE] [IDS]\n"
                           "       seqlab tokenizer info --tokenizer T [--pieces N]\n"
                           "       seqlab tokenizer convert --tokenizer T [--out FILE] [--gpt2 DIR] [--hf FILE]\n"
                           "\n"
                           "T is a seqlab-bpe file, a GPT-2 vocab.json (its merges.txt beside it) or a directory\n"
                           "holding both, a Hugging Face tokenizer.json (byte-level BPE, or a directory holding one),\n"
                           "or a SentencePiece .model file. TEXT files are UTF-8 (stdin if none).\n"
                           "\n"
                           "train    learn a byte-level BPE as GPT-2 defines it (pre-tokenisation pattern, merges of\n"
                           "         the most frequent pair, ties to the smallest ids) up to N tokens in all, the\n"
                           "         special tokens (e.g. --special '<|endoftext|>') last; stop early when the best\n"
                           "         pair occurs fewer than F times (default 2). Writes the seqlab-bpe file, and with\n"
                           "         --gpt2 also DIR/vocab.json and DIR/merges.txt. --naive recounts every pair at\n"
                           "         every step (the slow reference).\n"
                           "encode   print the token ids of the text, space-separated; --lines encodes each line on\n"
                           "         its own and prints one line of ids per line (as spm_encode --output_format=id).\n"
                           "         --threads K encodes each 4 MB block in K parts at once (default: OMP_NUM_THREADS,\n"
                           "         else every core); the ids do not depend on K.\n"
                           "         --shards writes llm.c token shards instead: PREFIX_val_000000.bin with the first\n"
                           "         documents up to at least N tokens (--val-tokens, default 0: none), then\n"
                           "         PREFIX_train_000000.bin, ... of --shard-tokens tokens each (default 100000000).\n"
                           "         Every document (--docs file: each TEXT file, the default; line: each non-empty\n"
                           "         line) starts with the document token (<|endoftext|>, or SentencePiece's <s>).\n"
                           "decode   read lines of space-separated ids, print each line's text.\n"
                           "info     the tokenizer's kind, sizes and special tokens; --pieces N lists the first N.\n"
                           "convert  write the tokenizer (BPE) as a seqlab-bpe file (--out), a GPT-2 vocab.json +\n"
                           "         merges.txt (--gpt2 DIR) and/or a Hugging Face tokenizer.json (--hf FILE).\n";

static int load_tok(const char *path, sl_subword **t)
{
    if (!path) return cli_usage(USAGE, "--tokenizer is required");
    if (sl_subword_load(path, t)) return cli_lib_fail(path);
    return 0;
}

static int save_gpt2_dir(const sl_bpe *b, const char *dir)
{
    if (sl_mkdirs(dir)) return cli_lib_fail(dir);
    size_t n = strlen(dir) + 16;
    char *v = malloc(n), *m = malloc(n);
    if (!v || !m) {
        free(v);
        free(m);
        return cli_fail("out of memory");
    }
    snprintf(v, n, "%s/vocab.json", dir);
    snprintf(m, n, "%s/merges.txt", dir);
    int rc = sl_bpe_save_gpt2(b, v, m) ? cli_lib_fail(dir) : 0;
    free(v);
    free(m);
    return rc;
}

static int train(int argc, char **argv)
{
    sl_bpe_train_opts o;
    sl_bpe_train_opts_default(&o);
    const char *outp = NULL, *gpt2 = NULL;
    long vocab = 0, minf = 2;
    const char **special = calloc((size_t)argc + 1, sizeof *special);
    const char **files = calloc((size_t)argc + 2, sizeof *files);
    int ns = 0, nf = 0, rc = 0;
    if (!special || !files) {
        free(special);
        free(files);
        return cli_fail("out of memory");
    }
    for (int i = 2; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--naive")) {
            o.naive = 1;
            continue;
        }
        if (!strcmp(a, "--vocab-size") || !strcmp(a, "--out") || !strcmp(a, "--min-frequency") || !strcmp(a, "--special") ||
            !strcmp(a, "--gpt2")) {
            if (!v) {
                rc = cli_usage(USAGE, "%s needs a value", a);
                break;
            }
            i++;
            if (!strcmp(a, "--vocab-size")) {
                if (!cli_int(USAGE, a, v, 257, 1 << 24, &vocab)) rc = 2;
            } else if (!strcmp(a, "--min-frequency")) {
                if (!cli_int(USAGE, a, v, 1, 1L << 40, &minf)) rc = 2;
            } else if (!strcmp(a, "--out")) outp = v;
            else if (!strcmp(a, "--gpt2")) gpt2 = v;
            else {
                if (!*v) rc = cli_usage(USAGE, "--special: empty token");
                special[ns++] = v;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            static const char *const flags[] = {"vocab-size", "out", "min-frequency", "special", "gpt2", "naive", NULL};
            rc = cli_usage(USAGE, "tokenizer train: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
            break;
        }
        files[nf++] = a;
    }
    if (!rc && !vocab) rc = cli_usage(USAGE, "tokenizer train: --vocab-size is required");
    if (!rc && !outp) rc = cli_usage(USAGE, "tokenizer train: --out is required");
    if (!rc && vocab < 256 + ns)
        rc = cli_usage(USAGE, "--vocab-size %ld leaves no room for the 256 bytes and %d special tokens", vocab, ns);
    if (rc) {
        free(special);
        free(files);
        return rc;
    }
    if (!nf) files[nf++] = "-";
    o.vocab_size = (int)vocab;
    o.min_frequency = minf;
    o.special = ns ? special : NULL;
    sl_bpe *b;
    if (sl_bpe_train_files(files, &o, &b)) rc = cli_lib_fail("tokenizer train");
    free(files);
    free(special);
    if (rc) return rc;
    fprintf(stderr, "seqlab tokenizer: %d tokens (%d merges, %d special)\n", b->n_vocab, b->n_merges,
            b->n_vocab - 256 - b->n_merges);
    if (sl_bpe_save(b, outp)) rc = cli_lib_fail(outp);
    if (!rc && gpt2) rc = save_gpt2_dir(b, gpt2);
    sl_bpe_free(b);
    return rc;
}

/* ids as decimal text, ' ' between them, into buf (11 bytes an id at most); returns the end */
static char *put_ids(char *o, const int32_t *ids, size_t n, int first)
{
    for (size_t i = 0; i < n; i++) {
        if (!first || i) *o++ = ' ';
        char tmp[12];
        int k = 0;
        uint32_t v = (uint32_t)ids[i]; /* ids are >= 0 */
        do tmp[k++] = (char)('0' + v % 10);
        while ((v /= 10));
        while (k) *o++ = tmp[--k];
    }
    return o;
}

/* write b's ids: one line each with `lines`, else continuing the one line begun (*first) */
static int write_batch(FILE *out, const sl_subword_batch *b, int lines, int *first, char **txt, size_t *tcap)
{
    size_t need = 12 * b->n_ids + b->n_lines + 1;
    if (need > *tcap) {
        char *p = realloc(*txt, need);
        if (!p) return -1;
        *txt = p;
        *tcap = need;
    }
    char *o = *txt;
    if (lines) {
        for (size_t i = 0, s = 0; i < b->n_lines; s = b->ends[i++]) {
            o = put_ids(o, b->ids + s, b->ends[i] - s, 1);
            *o++ = '\n';
        }
    } else if (b->n_ids) {
        o = put_ids(o, b->ids, b->n_ids, *first);
        *first = 0;
    }
    size_t len = (size_t)(o - *txt);
    return fwrite(*txt, 1, len, out) == len ? 0 : -1;
}

/* Encode one stream in blocks of whole lines (BPE without --lines: blocks cut where no
 * pre-token spans the cut, sl_bpe_safe_cut), each block on `threads` threads. */
static int encode_stream(sl_subword *t, FILE *in, const char *name, int lines, int threads, FILE *out)
{
    int by_line = lines || t->kind != SL_SUBWORD_BPE;
    sl_subword_batch b = {0};
    char *txt = NULL;
    size_t tcap = 0;
    int rc = 0, first = 1;
    long lineno = 0; /* lines before the block */
    /* SEQLAB_TOK_CHUNK (bytes, for the tests) sets the first buffer size: the ids must not
     * depend on where the blocks are cut */
    size_t bcap = (size_t)1 << 22, have = 0, base = 0;
    const char *ch = getenv("SEQLAB_TOK_CHUNK");
    if (ch && atol(ch) >= 16) bcap = (size_t)atol(ch);
    unsigned char *buf = malloc(bcap);
    if (!buf) return cli_fail("out of memory");
    for (;;) {
        if (have == bcap) {
            unsigned char *p = bcap < ((size_t)1 << 31) ? realloc(buf, 2 * bcap) : NULL;
            if (!p) {
                rc = cli_fail("%s: no line break in %zu bytes of text", name, bcap);
                break;
            }
            buf = p;
            bcap *= 2;
        }
        size_t got = fread(buf + have, 1, bcap - have, in);
        have += got;
        int eof = got == 0;
        if (eof && ferror(in)) {
            rc = cli_fail("reading %s failed", name);
            break;
        }
        size_t cut;
        if (eof) cut = have;
        else if (by_line) {
            cut = have;
            while (cut && buf[cut - 1] != '\n') cut--;
        } else cut = sl_bpe_safe_cut(buf, have);
        if (cut) {
            size_t bad;
            if (sl_subword_encode_batch(t, buf, cut, by_line, threads, &b, &bad)) {
                if (by_line) { /* the line: count from the failing part on, encoding serially */
                    long ln = lineno;
                    for (size_t i = 0; i < bad; i++) ln += buf[i] == '\n';
                    size_t i = bad;
                    for (; i < cut; ln++) {
                        unsigned char *nl = memchr(buf + i, '\n', cut - i);
                        size_t e = nl ? (size_t)(nl - buf) : cut;
                        b.n_ids = 0;
                        if (sl_subword_encode(t, buf + i, e - i, &b.ids, &b.n_ids, &b.cap)) break;
                        i = e + 1;
                    }
                    rc = cli_fail("%s line %ld: %s", name, ln + 1, sl_errmsg());
                } else {
                    size_t bad8 = sl_utf8_check(buf, cut);
                    if (bad8 < cut)
                        rc = cli_fail("%s: text is not valid UTF-8 at byte offset %zu (byte 0x%02X)", name, base + bad8,
                                      buf[bad8]);
                    else rc = cli_fail("%s: %s", name, sl_errmsg());
                }
                break;
            }
            if (write_batch(out, &b, lines, &first, &txt, &tcap)) {
                rc = cli_fail("write error");
                break;
            }
            for (size_t i = 0; i < cut; i++) lineno += buf[i] == '\n';
            memmove(buf, buf + cut, have - cut);
            have -= cut;
            base += cut;
        }
        if (eof || rc) break;
    }
    if (!rc && !lines && fputc('\n', out) == EOF) rc = cli_fail("write error");
    free(buf);
    free(txt);
    sl_subword_batch_free(&b);
    return rc;
}

static int encode(int argc, char **argv)
{
    const char *tokp = NULL, *outp = "-", *shards = NULL;
    int lines = 0, nf = 0, rc = 0, have_out = 0, by_line = 0, shard_flags = 0;
    long val_tokens = 0, shard_tokens = 100000000, threads = 0;
    const char **files = calloc((size_t)argc + 2, sizeof *files);
    if (!files) return cli_fail("out of memory");
    for (int i = 2; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--lines")) {
            lines = 1;
            continue;
        }
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--out") || !strcmp(a, "--shards") || !strcmp(a, "--val-tokens") ||
            !strcmp(a, "--shard-tokens") || !strcmp(a, "--docs") || !strcmp(a, "--threads")) {
            if (!v) {
                rc = cli_usage(USAGE, "%s needs a value", a);
                break;
            }
            i++;
            if (!strcmp(a, "--tokenizer")) tokp = v;
            else if (!strcmp(a, "--out")) {
                outp = v;
                have_out = 1;
            } else if (!strcmp(a, "--shards")) shards = v;
            else if (!strcmp(a, "--threads")) {
                if (!cli_int(USAGE, a, v, 1, 1024, &threads)) rc = 2;
            } else if (!strcmp(a, "--val-tokens")) {
                shard_flags = 1;
                if (!cli_int(USAGE, a, v, 0, 1L << 40, &val_tokens)) rc = 2;
            } else if (!strcmp(a, "--shard-tokens")) {
                shard_flags = 1;
                if (!cli_int(USAGE, a, v, 1, 2147483647L, &shard_tokens)) rc = 2;
            } else {
                shard_flags = 1;
                if (!strcmp(v, "line")) by_line = 1;
                else if (strcmp(v, "file")) rc = cli_usage(USAGE, "--docs: expected file or line, got '%s'", v);
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            static const char *const flags[] = {"tokenizer",    "lines", "out",     "shards", "val-tokens",
                                                "shard-tokens", "docs",  "threads", NULL};
            rc = cli_usage(USAGE, "tokenizer encode: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
            break;
        }
        files[nf++] = a;
    }
    if (!rc && shards && (have_out || lines)) rc = cli_usage(USAGE, "--shards writes shards: it takes neither --out nor --lines");
    if (!rc && !shards && shard_flags) rc = cli_usage(USAGE, "--val-tokens, --shard-tokens and --docs go with --shards");
    sl_subword *t = NULL;
    if (!rc) rc = load_tok(tokp, &t);
    if (rc) {
        free(files);
        return rc;
    }
    if (!nf) files[nf++] = "-";
    if (shards) {
        sl_shards_opts so = {shards, shard_tokens, val_tokens, by_line};
        sl_shards_stats st;
        if (sl_shards_encode_files(t, files, &so, &st)) rc = cli_lib_fail("tokenizer encode");
        else
            fprintf(stderr, "seqlab tokenizer: %lld documents, %lld tokens (%.3f bytes/token) in %d training shard%s%s",
                    (long long)st.docs, (long long)st.tokens, st.tokens ? (double)st.bytes / (double)st.tokens : 0.0,
                    st.train_shards, st.train_shards == 1 ? "" : "s", st.val_tokens ? "" : "\n");
        if (!rc && st.val_tokens)
            fprintf(stderr, " and a validation shard of %lld documents, %lld tokens\n", (long long)st.val_docs,
                    (long long)st.val_tokens);
        free(files);
        sl_subword_free(t);
        return rc;
    }
    sl_afile af;
    if (sl_afile_open(&af, outp)) {
        free(files);
        sl_subword_free(t);
        return cli_lib_fail(outp);
    }
    for (int k = 0; k < nf && !rc; k++) {
        FILE *in = strcmp(files[k], "-") ? fopen(files[k], "rb") : stdin;
        if (!in) {
            rc = cli_fail("cannot open %s: %s", files[k], strerror(errno));
            break;
        }
        rc = encode_stream(t, in, files[k], lines, threads ? (int)threads : sl_threads_get(), af.f);
        if (in != stdin) fclose(in);
    }
    if (!rc && ferror(af.f)) rc = cli_fail("%s: write error", outp);
    if (rc) sl_afile_abort(&af);
    else if (sl_afile_commit(&af)) rc = cli_lib_fail(outp);
    free(files);
    sl_subword_free(t);
    return rc;
}

static int decode(int argc, char **argv)
{
    const char *tokp = NULL, *outp = "-", *inp = NULL;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--out")) {
            if (!v) {
                rc = cli_usage(USAGE, "%s needs a value", a);
                break;
            }
            i++;
            if (!strcmp(a, "--tokenizer")) tokp = v;
            else outp = v;
            continue;
        }
        if ((a[0] == '-' && a[1]) || inp) {
            static const char *const flags[] = {"tokenizer", "out", NULL};
            rc = cli_usage(USAGE, "tokenizer decode: unexpected argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
            break;
        }
        inp = a;
    }
    sl_subword *t = NULL;
    if (!rc) rc = load_tok(tokp, &t);
    if (rc) return rc;
    FILE *in = inp && strcmp(inp, "-") ? fopen(inp, "rb") : stdin;
    if (!in) {
        sl_subword_free(t);
        return cli_fail("cannot open %s: %s", inp, strerror(errno));
    }
    sl_afile af;
    if (sl_afile_open(&af, outp)) {
        if (in != stdin) fclose(in);
        sl_subword_free(t);
        return cli_lib_fail(outp);
    }
    char *line = NULL;
    size_t lcap = 0, n_ids = 0, cap = 0, n_out = 0, ocap = 0;
    int32_t *ids = NULL;
    unsigned char *text = NULL;
    long lineno = 0;
    ssize_t got;
    const char *name = inp ? inp : "stdin";
    while (!rc && (got = getline(&line, &lcap, in)) >= 0) {
        lineno++;
        n_ids = 0;
        char *p = line;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
            if (!*p) break;
            char *e;
            errno = 0;
            long v = strtol(p, &e, 10);
            if (e == p || errno || v < 0 || v >= t->n_vocab || (*e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n')) {
                rc = cli_fail("%s line %ld column %ld: expected a token id in [0, %d)", name, lineno, (long)(p - line) + 1,
                              t->n_vocab);
                break;
            }
            if (n_ids == cap) {
                cap = cap ? 2 * cap : 256;
                int32_t *q = realloc(ids, cap * sizeof *q);
                if (!q) {
                    rc = cli_fail("out of memory");
                    break;
                }
                ids = q;
            }
            ids[n_ids++] = (int32_t)v;
            p = e;
        }
        if (rc) break;
        n_out = 0;
        if (sl_subword_decode(t, ids, n_ids, &text, &n_out, &ocap)) {
            rc = cli_fail("%s line %ld: %s", name, lineno, sl_errmsg());
            break;
        }
        if (fwrite(text, 1, n_out, af.f) != n_out || fputc('\n', af.f) == EOF) rc = cli_fail("write error");
    }
    if (!rc && ferror(in)) rc = cli_fail("reading %s failed", name);
    if (in != stdin) fclose(in);
    free(line);
    free(ids);
    free(text);
    if (rc) sl_afile_abort(&af);
    else if (sl_afile_commit(&af)) rc = cli_lib_fail(outp);
    sl_subword_free(t);
    return rc;
}

static void print_piece(const unsigned char *p, size_t l)
{
    for (size_t k = 0; k < l; k++) {
        unsigned char c = p[k];
        if (c == '\\') fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02X", c);
        else putchar(c);
    }
}

static int info(int argc, char **argv)
{
    const char *tokp = NULL;
    long pieces = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--pieces")) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--tokenizer")) tokp = v;
            else if (!cli_int(USAGE, a, v, 0, 1L << 30, &pieces)) return 2;
            continue;
        }
        static const char *const flags[] = {"tokenizer", "pieces", NULL};
        return cli_usage(USAGE, "tokenizer info: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
    }
    sl_subword *t;
    int rc = load_tok(tokp, &t);
    if (rc) return rc;
    printf("kind: %s\nvocab_size: %d\n", sl_subword_kind_name(t), t->n_vocab);
    if (t->kind == SL_SUBWORD_BPE) {
        const sl_bpe *b = t->bpe;
        printf("merges: %d\nspecial:", b->n_merges);
        for (int i = 0; i < b->n_vocab; i++)
            if (b->special[i]) printf(" %d=%.*s", i, b->len[i], b->tok[i]);
        printf("\n");
    }
    printf("document_token: %d\n", t->doc_token);
    for (long i = 0; i < pieces && i < t->n_vocab; i++) {
        size_t l;
        const unsigned char *p = sl_subword_piece(t, (int)i, &l);
        printf("%ld\t", i);
        print_piece(p, l);
        putchar('\n');
    }
    sl_subword_free(t);
    return 0;
}

static int convert(int argc, char **argv)
{
    const char *tokp = NULL, *outp = NULL, *gpt2 = NULL, *hf = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--out") || !strcmp(a, "--gpt2") || !strcmp(a, "--hf")) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--tokenizer")) tokp = v;
            else if (!strcmp(a, "--out")) outp = v;
            else if (!strcmp(a, "--hf")) hf = v;
            else gpt2 = v;
            continue;
        }
        static const char *const flags[] = {"tokenizer", "out", "gpt2", "hf", NULL};
        return cli_usage(USAGE, "tokenizer convert: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
    }
    if (!outp && !gpt2 && !hf) return cli_usage(USAGE, "tokenizer convert: give --out FILE, --gpt2 DIR or --hf FILE");
    sl_subword *t;
    int rc = load_tok(tokp, &t);
    if (rc) return rc;
    if (t->kind != SL_SUBWORD_BPE)
        rc = cli_fail("tokenizer convert: %s is a SentencePiece model; only byte-level BPE converts", tokp);
    if (!rc && outp && sl_bpe_save(t->bpe, outp)) rc = cli_lib_fail(outp);
    if (!rc && gpt2) rc = save_gpt2_dir(t->bpe, gpt2);
    if (!rc && hf && sl_bpe_save_hf(t->bpe, hf)) rc = cli_lib_fail(hf);
    sl_subword_free(t);
    return rc;
}

int cmd_tokenizer(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cli_wants_help(argc, argv, USAGE)) return 0;
    const char *c = argv[1];
    if (!strcmp(c, "train")) return train(argc, argv);
    if (!strcmp(c, "encode")) return encode(argc, argv);
    if (!strcmp(c, "decode")) return decode(argc, argv);
    if (!strcmp(c, "info")) return info(argc, argv);
    if (!strcmp(c, "convert")) return convert(argc, argv);
    static const char *const subs[] = {"train", "encode", "decode", "info", "convert", NULL};
    return cli_usage(USAGE, "tokenizer: unknown subcommand '%s'%s", c, cli_did_you_mean(c, NULL, subs));
}
