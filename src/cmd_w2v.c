/* src/cmd_w2v.c — `seqlab w2v train | similar | analogy | eval | pca`. */
#include "src/cli.h"

#include "core/error.h"
#include "core/fileio.h"
#include "nlp/word2vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE = "usage: seqlab w2v train -train FILE -output FILE [options of the original word2vec tool]\n"
                           "       seqlab w2v similar --vectors FILE [-k 10] [--restrict N] WORD...\n"
                           "       seqlab w2v analogy --vectors FILE [-k 5] [--restrict N] A B C   (A is to B as C is to ?)\n"
                           "       seqlab w2v eval --vectors FILE [--questions FILE] [--pairs FILE] [--restrict 30000]\n"
                           "                       [--case-sensitive]\n"
                           "       seqlab w2v pca --vectors FILE (--words W1,W2,.. | --words-file FILE) --out CSV\n"
                           "\n"
                           "train options (defaults as the original tool):\n"
                           "  -size 100  -window 5  -sample 1e-3  -hs 0  -negative 5  -threads 12  -iter 5\n"
                           "  -min-count 5  -alpha 0.025 (skip-gram) / 0.05 (CBOW)  -binary 0  -cbow 1\n"
                           "  -seed 1 (random streams: seed + thread id; one thread => deterministic)\n"
                           "  -debug 2 forces the progress line (otherwise shown only when stderr is a terminal)\n"
                           "  A summary (vocabulary, words, seconds, words/s) is printed to stderr at the end.\n"
                           "eval: analogies (questions-words.txt format) by 3CosAdd and 3CosMul, per section and total,\n"
                           "  questions with a word outside the first --restrict words are skipped; word pairs\n"
                           "  (\"w1 w2 score\" lines): Spearman's rho of the cosine similarities.\n"
                           "Vector files in text or binary word2vec format are detected when read.\n";

static int load(const char *path, sl_w2v **w)
{
    if (!path) return cli_usage(USAGE, "--vectors is required");
    if (sl_w2v_load(path, -1, w)) return cli_lib_fail("w2v");
    return 0;
}

static int train(int argc, char **argv)
{
    sl_w2v_opts o;
    sl_w2v_opts_default(&o);
    const char *output = NULL;
    long binary = 0, debug = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') return cli_usage(USAGE, "w2v train: unexpected argument '%s'", a);
        if (!v) return cli_usage(USAGE, "%s needs a value", a);
        i++;
        long x;
        double d;
        if (!strcmp(a, "-train")) o.train = v;
        else if (!strcmp(a, "-output")) output = v;
        else if (!strcmp(a, "-size")) {
            if (!cli_int(USAGE, a, v, 1, 100000, &x)) return 2;
            o.size = (int)x;
        } else if (!strcmp(a, "-window")) {
            if (!cli_int(USAGE, a, v, 1, 1000, &x)) return 2;
            o.window = (int)x;
        } else if (!strcmp(a, "-sample")) {
            if (!cli_double(USAGE, a, v, 0, 1, &o.sample)) return 2;
        } else if (!strcmp(a, "-hs")) {
            if (!cli_int(USAGE, a, v, 0, 1, &x)) return 2;
            o.hs = (int)x;
        } else if (!strcmp(a, "-negative")) {
            if (!cli_int(USAGE, a, v, 0, 1000, &x)) return 2;
            o.negative = (int)x;
        } else if (!strcmp(a, "-threads")) {
            if (!cli_int(USAGE, a, v, 1, 1024, &x)) return 2;
            o.threads = (int)x;
        } else if (!strcmp(a, "-iter")) {
            if (!cli_int(USAGE, a, v, 1, 100000, &x)) return 2;
            o.iter = (int)x;
        } else if (!strcmp(a, "-min-count")) {
            if (!cli_int(USAGE, a, v, 1, 1000000000L, &x)) return 2;
            o.min_count = (int)x;
        } else if (!strcmp(a, "-alpha")) {
            if (!cli_double(USAGE, a, v, 1e-9, 10, &d)) return 2;
            o.alpha = d;
        } else if (!strcmp(a, "-binary")) {
            if (!cli_int(USAGE, a, v, 0, 1, &binary)) return 2;
        } else if (!strcmp(a, "-cbow")) {
            if (!cli_int(USAGE, a, v, 0, 1, &x)) return 2;
            o.cbow = (int)x;
        } else if (!strcmp(a, "-seed")) {
            if (!cli_int(USAGE, a, v, 0, 2147483647L, &x)) return 2;
            o.seed = (uint64_t)x;
        } else if (!strcmp(a, "-debug")) {
            if (!cli_int(USAGE, a, v, 0, 10, &debug)) return 2;
        } else {
            static const char *const flags[] = {"train", "output",    "size",  "window", "sample", "hs",   "negative", "threads",
                                                "iter",  "min-count", "alpha", "binary", "cbow",   "seed", "debug",    NULL};
            return cli_usage(USAGE, "w2v train: unknown option '%s'%s", a, cli_did_you_mean(a, "-", flags));
        }
    }
    if (!o.train) return cli_usage(USAGE, "w2v train: -train FILE is required");
    if (!output) return cli_usage(USAGE, "w2v train: -output FILE is required");
    if (!o.hs && o.negative == 0) return cli_usage(USAGE, "w2v train: need -hs 1 or -negative > 0");
    o.progress = (debug >= 2 || (debug < 0 && isatty(2))) ? stderr : NULL;
    sl_w2v *w;
    sl_w2v_stats st;
    if (sl_w2v_train(&o, &w, &st)) return cli_lib_fail("w2v train");
    int rc = sl_w2v_save(w, output, (int)binary);
    fprintf(stderr,
            "seqlab w2v: %s, %s, vocabulary %d, %llu words/epoch, %d epochs, %d threads: %.3f s training "
            "(%.0f words/s, %.3f s CPU), %.3f s vocabulary\n",
            o.cbow ? "cbow" : "skip-gram", o.hs ? (o.negative ? "hs+negative" : "hs") : "negative", w->V,
            (unsigned long long)st.train_words, o.iter, o.threads, st.seconds, st.words_per_sec, st.cpu_seconds,
            st.vocab_seconds);
    sl_w2v_free(w);
    if (rc) return cli_lib_fail("w2v train");
    return 0;
}

/* The query commands' flags (similar, analogy, eval, pca). The caller sets the defaults (k,
 * restrict_n) and which of the command-specific flags it takes; parse_q fills the rest and
 * collects the positional words in pos (npos of them; the caller frees pos). */
enum { Q_QUESTIONS = 1, Q_PAIRS = 2, Q_WORDS = 4, Q_OUT = 8 }; /* --words covers --words-file */
typedef struct {
    unsigned takes; /* Q_* bits: the command-specific flags this command accepts */
    const char *vec, *questions, *pairs, *words, *words_file, *out;
    long k, restrict_n;
    int cs; /* --case-sensitive */
    char **pos;
    int npos;
} w2v_query;

static int parse_q(int argc, char **argv, w2v_query *q)
{
    q->npos = 0;
    if (!(q->pos = calloc((size_t)argc, sizeof *q->pos))) return cli_fail("w2v: out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--case-sensitive")) {
            q->cs = 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            if (!v) return cli_usage(USAGE, "%s needs a value", a);
            i++;
            if (!strcmp(a, "--vectors")) q->vec = v;
            else if (!strcmp(a, "-k")) {
                if (!cli_int(USAGE, a, v, 1, 100000, &q->k)) return 2;
            } else if (!strcmp(a, "--restrict")) {
                if (!cli_int(USAGE, a, v, 0, 2147483647L, &q->restrict_n)) return 2;
            } else if (!strcmp(a, "--questions") && (q->takes & Q_QUESTIONS)) q->questions = v;
            else if (!strcmp(a, "--pairs") && (q->takes & Q_PAIRS)) q->pairs = v;
            else if (!strcmp(a, "--words") && (q->takes & Q_WORDS)) q->words = v;
            else if (!strcmp(a, "--words-file") && (q->takes & Q_WORDS)) q->words_file = v;
            else if (!strcmp(a, "--out") && (q->takes & Q_OUT)) q->out = v;
            else {
                static const char *const flags[] = {"--vectors", "-k",           "--restrict", "--questions",      "--pairs",
                                                    "--words",   "--words-file", "--out",      "--case-sensitive", NULL};
                return cli_usage(USAGE, "w2v %s: unknown option '%s'%s", argv[1], a, cli_did_you_mean(a, NULL, flags));
            }
            continue;
        }
        q->pos[q->npos++] = argv[i];
    }
    return 0;
}

static int similar_or_analogy(int argc, char **argv, int analogy)
{
    w2v_query o = {.k = analogy ? 5 : 10};
    int rc = parse_q(argc, argv, &o);
    const char *vec = o.vec;
    const long k = o.k, R = o.restrict_n;
    const int npos = o.npos;
    char **pos = o.pos;
    if (rc) {
        free(pos);
        return rc;
    }
    if (analogy && npos != 3) {
        free(pos);
        return cli_usage(USAGE, "w2v analogy: give three words A B C");
    }
    if (!analogy && npos < 1) {
        free(pos);
        return cli_usage(USAGE, "w2v similar: give at least one word");
    }
    sl_w2v *w;
    if ((rc = load(vec, &w))) {
        free(pos);
        return rc;
    }
    float *unit = sl_w2v_normalized(w);
    float *q = calloc((size_t)w->D, sizeof *q);
    int *ids = malloc((size_t)k * sizeof *ids), ex[3];
    float *sims = malloc((size_t)k * sizeof *sims);
    rc = 0;
    if (!unit || !q || !ids || !sims) rc = cli_fail("w2v: out of memory");
    int nq = analogy ? 1 : npos;
    for (int t = 0; t < nq && !rc; t++) {
        int nex = 0;
        memset(q, 0, (size_t)w->D * sizeof *q);
        int nw = analogy ? 3 : 1;
        for (int j = 0; j < nw; j++) {
            const char *word = pos[analogy ? j : t];
            int id = sl_w2v_find(w, word);
            if (id < 0) {
                rc = cli_fail("w2v: \"%s\" is not in the vocabulary of %s", word, vec);
                break;
            }
            float sg = analogy && j == 0 ? -1.0f : 1.0f; /* b - a + c */
            for (int d = 0; d < w->D; d++) q[d] += sg * unit[(size_t)id * w->D + d];
            ex[nex++] = id;
        }
        if (rc) break;
        int n = sl_w2v_nearest(w, unit, q, (int)R, ex, nex, (int)k, ids, sims);
        if (n < 0) {
            rc = cli_lib_fail("w2v");
            break;
        }
        if (!analogy) printf("# %s\n", pos[t]);
        for (int i = 0; i < n; i++) printf("%s\t%.6f\n", w->words[ids[i]], sims[i]);
    }
    free(unit);
    free(q);
    free(ids);
    free(sims);
    free(pos);
    sl_w2v_free(w);
    return rc;
}

static int eval(int argc, char **argv)
{
    w2v_query o = {.takes = Q_QUESTIONS | Q_PAIRS, .k = 1, .restrict_n = 30000};
    int rc = parse_q(argc, argv, &o);
    const char *vec = o.vec, *questions = o.questions, *pairs = o.pairs;
    const long R = o.restrict_n;
    const int cs = o.cs, extra = o.npos;
    free(o.pos);
    if (rc) return rc;
    if (extra) return cli_usage(USAGE, "w2v eval: unexpected argument");
    if (!questions && !pairs) return cli_usage(USAGE, "w2v eval: give --questions FILE and/or --pairs FILE");
    sl_w2v *w;
    if ((rc = load(vec, &w))) return rc;
    if (questions) {
        sl_w2v_analogy_result r;
        if (sl_w2v_analogy_eval(w, questions, (int)R, !cs, &r)) {
            sl_w2v_free(w);
            return cli_lib_fail("w2v eval");
        }
        printf("section,questions,skipped,3cosadd_correct,3cosadd_accuracy,3cosmul_correct,3cosmul_accuracy\n");
        for (int i = 0; i < r.n_sections + 3; i++) {
            const sl_w2v_section *s = i < r.n_sections        ? &r.sec[i]
                                      : i == r.n_sections     ? &r.semantic
                                      : i == r.n_sections + 1 ? &r.syntactic
                                                              : &r.total;
            printf("%s,%ld,%ld,%ld,%.4f,%ld,%.4f\n", s->name, s->n, s->skipped, s->correct_add,
                   s->n ? (double)s->correct_add / s->n : 0.0, s->correct_mul, s->n ? (double)s->correct_mul / s->n : 0.0);
        }
    }
    if (pairs) {
        double rho, pr;
        long used, skipped;
        if (sl_w2v_similarity_eval(w, pairs, !cs, &rho, &pr, &used, &skipped)) {
            sl_w2v_free(w);
            return cli_lib_fail("w2v eval");
        }
        printf("pairs_used,pairs_skipped,spearman,pearson\n%ld,%ld,%.4f,%.4f\n", used, skipped, rho, pr);
    }
    sl_w2v_free(w);
    return 0;
}

static int pca(int argc, char **argv)
{
    w2v_query o = {.takes = Q_WORDS | Q_OUT, .k = 1};
    int rc = parse_q(argc, argv, &o);
    const char *vec = o.vec, *words = o.words, *words_file = o.words_file, *out = o.out;
    const int extra = o.npos;
    free(o.pos);
    if (rc) return rc;
    if (extra) return cli_usage(USAGE, "w2v pca: unexpected argument");
    if (!out) return cli_usage(USAGE, "w2v pca: --out CSV is required");
    if (!words == !words_file) return cli_usage(USAGE, "w2v pca: give one of --words or --words-file");
    char *text = NULL;
    size_t tn;
    if (words) text = strdup(words);
    else if (sl_read_file(words_file, 1 << 24, (void **)&text, &tn)) return cli_lib_fail("w2v pca");
    const char **list = NULL;
    int n = 0, cap = 0;
    char *save = NULL;
    for (char *t = strtok_r(text, ", \t\r\n", &save); t; t = strtok_r(NULL, ", \t\r\n", &save)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            list = realloc(list, (size_t)cap * sizeof *list);
        }
        list[n++] = t;
    }
    sl_w2v *w;
    if ((rc = load(vec, &w))) {
        free(text);
        free(list);
        return rc;
    }
    double *xy = malloc((size_t)(n ? n : 1) * 2 * sizeof *xy);
    if (sl_w2v_pca2(w, list, n, xy)) rc = cli_lib_fail("w2v pca");
    if (!rc) {
        sl_afile a;
        if (sl_afile_open(&a, out)) rc = cli_lib_fail("w2v pca");
        else {
            fprintf(a.f, "word,pc1,pc2\n");
            for (int i = 0; i < n; i++) fprintf(a.f, "%s,%.6f,%.6f\n", list[i], xy[2 * i], xy[2 * i + 1]);
            if (sl_afile_commit(&a)) rc = cli_lib_fail("w2v pca");
        }
    }
    free(xy);
    free(list);
    free(text);
    sl_w2v_free(w);
    return rc;
}

int cmd_w2v(int argc, char **argv)
{
    if (argc < 2) return cli_usage(USAGE, "w2v: missing subcommand (train, similar, analogy, eval, pca)");
    if (cli_wants_help(argc, argv, USAGE)) return 0;
    const char *s = argv[1];
    if (!strcmp(s, "train")) return train(argc, argv);
    if (!strcmp(s, "similar")) return similar_or_analogy(argc, argv, 0);
    if (!strcmp(s, "analogy")) return similar_or_analogy(argc, argv, 1);
    if (!strcmp(s, "eval")) return eval(argc, argv);
    if (!strcmp(s, "pca")) return pca(argc, argv);
    static const char *const subs[] = {"train", "similar", "analogy", "eval", "pca", NULL};
    return cli_usage(USAGE, "w2v: unknown subcommand '%s'%s", s, cli_did_you_mean(s, NULL, subs));
}
