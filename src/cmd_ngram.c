/* src/cmd_ngram.c — `seqlab ngram build | query`: n-gram language models and ARPA files. */
#include "src/cli.h"

#include "core/error.h"
#include "nlp/ngram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE = "usage: seqlab ngram build --order N [--method mkn|kn|addk|mle] [--k K] [--discount D]\n"
                           "                          [--discount-fallback] [--prune T1 [T2 ..]] [--text FILE] [--arpa OUT]\n"
                           "                          [--binary OUT] [--quiet]\n"
                           "       seqlab ngram binarize --arpa FILE --out FILE\n"
                           "       seqlab ngram query --model FILE | --arpa FILE [--text FILE] [-v summary|sentence|word]...\n"
                           "\n"
                           "build   count n-grams of orders 1..N in FILE (stdin if absent; one sentence per line,\n"
                           "        <s> and </s> added) and write an ARPA model to OUT (stdout if absent).\n"
                           "        --method mkn    interpolated modified Kneser-Ney, discounts D1 D2 D3+ per order\n"
                           "                        from counts-of-counts, as KenLM's lmplz (default)\n"
                           "                 kn     interpolated Kneser-Ney, one discount per order n1/(n1+2 n2)\n"
                           "                 addk   additive smoothing with pseudo-count K (--k, default 1)\n"
                           "                 mle    maximum likelihood (unseen events get log10 p = -99)\n"
                           "        --discount D    kn: use D for every order instead of estimating it\n"
                           "        --discount-fallback  when a discount cannot be estimated use D1=0.5 D2=1 D3+=1.5\n"
                           "                        (lmplz's --discount_fallback)\n"
                           "        --prune T1 T2 ..  kn/mkn: drop n-grams of order k whose count is <= Tk, as lmplz\n"
                           "                        --prune (T1 must be 0, non-decreasing, the last repeats for\n"
                           "                        higher orders); their mass goes to the context's backoff\n"
                           "        --binary OUT    also (or, without --arpa, only) write seqlab's binary model\n"
                           "        Statistics (n-grams per order, discounts, memory per n-gram) go to stderr.\n"
                           "binarize  read an ARPA model and write seqlab's binary model: a memory-mapped image of the\n"
                           "        probing hash tables, versioned and checked on load (docs/nlp.md)\n"
                           "query   --model (or --arpa) is an ARPA or a binary model, told apart by its first bytes;\n"
                           "        score FILE (stdin if absent) line by line with <s> .. </s> like KenLM's query:\n"
                           "        per word \"word=id length log10p\", per line \"Total: .. OOV: ..\", then the summary\n"
                           "        Perplexity including OOVs / excluding OOVs / OOVs / Tokens. -v selects what is\n"
                           "        printed (repeatable; default: all three).\n";

static int build(int argc, char **argv)
{
    long order = 0;
    const char *text = NULL, *arpa = NULL, *binary = NULL;
    sl_ngram_opts o;
    sl_ngram_opts_default(&o, 3);
    int have_k = 0, have_d = 0, quiet = 0, nprune = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--discount-fallback")) {
            o.discount_fallback = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--prune")) {
            int np = 0;
            while (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                long t;
                if (np == SL_NGRAM_MAX_ORDER) return cli_usage(USAGE, "--prune: more than %d thresholds", SL_NGRAM_MAX_ORDER);
                if (!cli_int(USAGE, a, argv[i + 1], 0, 1000000000L, &t)) return 2;
                o.prune[np++] = (uint64_t)t;
                i++;
            }
            if (!np) return cli_usage(USAGE, "--prune needs at least one threshold");
            nprune = np;
            continue;
        }
        if (!strcmp(a, "--order") || !strcmp(a, "--method") || !strcmp(a, "--k") || !strcmp(a, "--discount") ||
            !strcmp(a, "--text") || !strcmp(a, "--arpa") || !strcmp(a, "--binary")) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--order")) {
                if (!cli_int(USAGE, a, v, 1, SL_NGRAM_MAX_ORDER, &order)) return 2;
            } else if (!strcmp(a, "--method")) {
                if (sl_ngram_method_parse(v, &o.method)) return cli_usage(USAGE, "--method: %s", sl_errmsg());
            } else if (!strcmp(a, "--k")) {
                if (!cli_double(USAGE, a, v, 1e-12, 1e12, &o.k)) return 2;
                have_k = 1;
            } else if (!strcmp(a, "--discount")) {
                if (!cli_double(USAGE, a, v, 1e-12, 0.999999, &o.discount)) return 2;
                have_d = 1;
            } else if (!strcmp(a, "--text")) {
                text = v;
            } else if (!strcmp(a, "--binary")) {
                binary = v;
            } else {
                arpa = v;
            }
            continue;
        }
        static const char *const flags[] = {"order", "method", "k", "discount", "text", "arpa", "binary", "discount-fallback",
                                            "prune", "quiet",  NULL};
        return cli_usage(USAGE, "ngram build: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
    }
    if (!order) return cli_usage(USAGE, "ngram build: --order is required");
    if (have_k && o.method != SL_NGRAM_ADDK) return cli_usage(USAGE, "--k applies to --method addk only");
    if (have_d && o.method != SL_NGRAM_KN) return cli_usage(USAGE, "--discount applies to --method kn only");
    o.order = (int)order;
    if (nprune > order) return cli_usage(USAGE, "--prune: %d thresholds for a model of order %ld", nprune, order);
    for (int k = nprune; nprune && k < order; k++) o.prune[k] = o.prune[nprune - 1]; /* the last repeats */
    sl_ngram_lm *lm;
    if (sl_ngram_alloc((int)order, &lm)) return cli_lib_fail("ngram build");
    if (sl_ngram_count_file(lm, text)) {
        sl_ngram_free(lm);
        return cli_lib_fail("ngram build");
    }
    if (sl_ngram_estimate(lm, &o)) {
        sl_ngram_free(lm);
        return cli_lib_fail("ngram build");
    }
    if (!quiet) {
        fprintf(stderr, "seqlab ngram: order %d, method %s, %llu tokens, %d types\n", lm->order, sl_ngram_method_name(o.method),
                (unsigned long long)lm->tokens, lm->vocab->n);
        for (int k = 0; k < lm->order; k++) {
            fprintf(stderr, "  %d-grams: %zu", k + 1, lm->tab[k].n);
            if (o.method == SL_NGRAM_MKN)
                fprintf(stderr, "  D1=%.6g D2=%.6g D3+=%.6g", lm->discount[k][1], lm->discount[k][2], lm->discount[k][3]);
            else if (o.method == SL_NGRAM_KN) fprintf(stderr, "  D=%.6g", lm->discount[k][1]);
            fprintf(stderr, "  (n1..n4 = %llu %llu %llu %llu)\n", (unsigned long long)lm->coc[k][1],
                    (unsigned long long)lm->coc[k][2], (unsigned long long)lm->coc[k][3], (unsigned long long)lm->coc[k][4]);
        }
        size_t tot = sl_ngram_total(lm), bytes = sl_ngram_bytes(lm);
        fprintf(stderr, "  memory: %zu bytes for %zu n-grams (%.1f bytes/n-gram, counts included)\n", bytes, tot,
                tot ? (double)bytes / (double)tot : 0.0);
    }
    int rc = SL_OK;
    if (arpa || !binary) rc = sl_arpa_write(lm, arpa);
    if (!rc && binary) rc = sl_ngram_write_binary(lm, binary);
    sl_ngram_free(lm);
    if (rc) return cli_lib_fail("ngram build");
    return 0;
}

static int query(int argc, char **argv)
{
    const char *text = NULL, *arpa = NULL;
    int pw = 0, pl = 0, ps = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--arpa") || !strcmp(a, "--model") || !strcmp(a, "--text") || !strcmp(a, "-v")) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--arpa") || !strcmp(a, "--model")) arpa = v;
            else if (!strcmp(a, "--text")) text = v;
            else if (!strcmp(v, "summary")) ps = 1;
            else if (!strcmp(v, "sentence")) pl = 1;
            else if (!strcmp(v, "word")) pw = 1;
            else return cli_usage(USAGE, "-v: expected summary, sentence or word, got '%s'", v);
            continue;
        }
        static const char *const flags[] = {"model", "arpa", "text", NULL};
        return cli_usage(USAGE, "ngram query: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
    }
    if (!arpa) return cli_usage(USAGE, "ngram query: --model (or --arpa) is required");
    if (!pw && !pl && !ps) pw = pl = ps = 1;
    sl_ngram_lm *lm;
    if (sl_ngram_load(arpa, &lm)) return cli_lib_fail("ngram query");
    sl_ngram_query_stats st;
    /* word and line output share one stream; filter it through a small adapter */
    FILE *out = (pw || pl) ? stdout : NULL;
    int rc;
    if (out && !(pw && pl)) {
        /* only one of word/line: print through a memory stream and filter per item */
        char *buf = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&buf, &n);
        if (!m) {
            sl_ngram_free(lm);
            return cli_fail("ngram query: out of memory");
        }
        rc = sl_ngram_query_file(lm, text, m, &st);
        fclose(m);
        if (!rc) {
            /* items are "w=id len p\t" and "Total: t OOV: n\n" */
            char *s = buf;
            while (s && *s) {
                char *tab = strchr(s, '\t'), *nl = strchr(s, '\n');
                if (!strncmp(s, "Total: ", 7) && nl) {
                    if (pl) fwrite(s, 1, (size_t)(nl - s + 1), stdout);
                    else fputc('\n', stdout);
                    s = nl + 1;
                } else if (tab) {
                    if (pw) fwrite(s, 1, (size_t)(tab - s + 1), stdout);
                    s = tab + 1;
                } else {
                    break;
                }
            }
        }
        free(buf);
    } else {
        rc = sl_ngram_query_file(lm, text, out, &st);
    }
    sl_ngram_free(lm);
    if (rc) return cli_lib_fail("ngram query");
    if (ps) {
        char a[32], b[32];
        sl_fmt_double(a, st.ppl_incl);
        sl_fmt_double(b, st.ppl_excl);
        printf("Perplexity including OOVs:\t%s\nPerplexity excluding OOVs:\t%s\nOOVs:\t%llu\nTokens:\t%llu\n", a, b,
               (unsigned long long)st.oov, (unsigned long long)st.tokens);
    }
    if (fflush(stdout) != 0) return cli_fail("ngram query: write to stdout failed");
    return 0;
}

static int binarize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--arpa") || !strcmp(a, "--out")) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--arpa")) in = v;
            else out = v;
            continue;
        }
        static const char *const flags[] = {"arpa", "out", NULL};
        return cli_usage(USAGE, "ngram binarize: unknown argument '%s'%s", a, cli_did_you_mean(a, "--", flags));
    }
    if (!in || !out) return cli_usage(USAGE, "ngram binarize: --arpa and --out are required");
    sl_ngram_lm *lm;
    if (sl_arpa_read(in, &lm)) return cli_lib_fail("ngram binarize");
    int rc = sl_ngram_write_binary(lm, out);
    sl_ngram_free(lm);
    if (rc) return cli_lib_fail("ngram binarize");
    return 0;
}

int cmd_ngram(int argc, char **argv)
{
    if (argc < 2) return cli_usage(USAGE, "ngram: missing subcommand (build, query, binarize)");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (cli_wants_help(argc, argv, USAGE)) return 0;
    if (!strcmp(argv[1], "build")) return build(argc, argv);
    if (!strcmp(argv[1], "query")) return query(argc, argv);
    if (!strcmp(argv[1], "binarize")) return binarize(argc, argv);
    static const char *const subs[] = {"build", "query", "binarize", NULL};
    return cli_usage(USAGE, "ngram: unknown subcommand '%s' (build, query, binarize)%s", argv[1],
                     cli_did_you_mean(argv[1], NULL, subs));
}
