/* src/cmd_generate.c — `seqlab generate`: sample text from a trained token model or a
 * llama2.c checkpoint through lab/generate.h's decoder (step mode with the model's state; a
 * sliding window past a bounded context for runs; a stop at seq_len for llama2.c). */
#include "core/error.h"
#include "core/util.h"
#include "lab/generate.h"
#include "lab/sample.h"
#include "lab/speculative.h"
#include "lab/constrain.h"
#include "core/fileio.h"
#include "nlp/tokenizer.h"
#include "seq/hf.h"
#include "seq/llama2c.h"
#include "src/cli.h"
#include "src/run.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: seqlab generate --run DIR --prompt TEXT --tokens N [--temperature T] [--top-k K] [--top-p P] [--seed S]\n"
    "                       [--threads K] [--stats] [--draft DIR [--speculate K]] [--regex P | --json-schema F]\n"
    "       seqlab generate --llama2c MODEL.bin --tokenizer TOKENIZER.bin --prompt TEXT --tokens N [...]\n"
    "       seqlab generate --hf DIR (--prompt TEXT [--tokenizer TOK] | --prompt-ids I,J,...) --tokens N [...]\n"
    "  --run DIR         a run made by `seqlab train` on a text task (charlm)\n"
    "  --llama2c FILE    a llama2.c checkpoint (legacy .bin layout, memory-mapped) instead of a run,\n"
    "  --tokenizer FILE  with its tokenizer.bin; generation stops early at BOS (token 1), and at the\n"
    "                    checkpoint's seq_len positions (with a note), as run.c does\n"
    "  --hf DIR          a GPT-2 or Llama checkpoint in the Hugging Face layout (docs/checkpoints.md);\n"
    "                    --prompt is encoded with --tokenizer (default DIR: its vocab.json + merges.txt\n"
    "                    or tokenizer.json) and the prompt and continuation are printed decoded;\n"
    "  --prompt-ids LIST or the prompt is token ids (comma-separated) and the generated ids are printed.\n"
    "                    Generation stops at the context (n_positions / max_position_embeddings), not\n"
    "                    at an end-of-text token\n"
    "  --prompt TEXT     the start of the text (for a run every byte must be in its alphabet;\n"
    "                    may be empty for llama2.c, which starts from BOS)\n"
    "  --tokens N        how many tokens to generate; a run's model with a bounded context (a\n"
    "                    transformer's block size, learned positions) continues past it with a\n"
    "                    sliding window over the last block-size tokens, as nanoGPT's generate\n"
    "  --temperature T   default 1; 0 = greedy\n"
    "  --top-k K         keep the K most likely tokens (default 0 = all)\n"
    "  --top-p P         nucleus: keep the smallest set with mass >= P (default 1 = all)\n"
    "  --seed S          default 1\n"
    "  --threads K       threads (default: OMP_NUM_THREADS, else every core)\n"
    "  --stats           print token counts, model time and tokens per second to stderr\n"
    "  --draft DIR       speculative decoding (runs only): a second run with the same alphabet (any\n"
    "                    model with step mode: an n-gram run, a smaller network) proposes tokens that\n"
    "                    the --run model verifies in one sequence-mode pass; the output has exactly\n"
    "                    the --run model's distribution (its greedy output at temperature 0). It stops\n"
    "                    with a note at the end of a bounded context (no sliding window)\n"
    "  --speculate K     tokens the draft proposes per verification (1..64, default 4)\n"
    "  --regex PATTERN   constrained generation: the generated text (after the prompt) matches PATTERN\n"
    "                    as a whole (literals, escapes, ., [...], ( ), |, * + ? {m,n}); tokens that\n"
    "                    would leave the pattern, or leave too few tokens to complete it, are masked;\n"
    "                    generation ends early when nothing may follow; works with --draft\n"
    "  --json-schema F   constrained generation: the generated text is a JSON value that satisfies the\n"
    "                    schema in file F (a subset: type, properties, required, items, enum, const;\n"
    "                    properties in declaration order, one optional space after ',' and ':';\n"
    "                    docs/decoding.md); unsupported keywords and unsatisfiable schemas are errors\n";

void sl_threads_set(int k);

static void print_stats(const sl_decoder *d, long prompt, long generated, double load_s)
{
    long pos;
    double sec;
    sl_decoder_stats(d, &pos, &sec);
    fprintf(stderr,
            "seqlab: stats: prompt %ld tokens, generated %ld, %ld model positions in %.3f s (%.1f tok/s), "
            "load %.3f s%s\n",
            prompt, generated, pos, sec, sec > 0 ? (double)pos / sec : 0.0, load_s,
            sl_decoder_sliding(d) ? ", sliding window" : "");
}

/* the next token under an optional constraint: the logits masked to the tokens that keep the
 * text inside the pattern with a completion in at most `remaining` tokens; -1 when none */
static int32_t pick_next(const float *logits, int V, const sl_sampler *smp, sl_rng *rng, float *work, int *iw, sl_constraint *c,
                         float *cbuf, long remaining)
{
    if (!c) return sl_sample_logits(logits, V, smp, rng, work, iw);
    memcpy(cbuf, logits, (size_t)V * sizeof(float));
    if (sl_constraint_mask_budget(c, cbuf, remaining) == 0) return -1;
    int32_t t = sl_sample_logits(cbuf, V, smp, rng, work, iw);
    return sl_constraint_advance(c, t) ? -1 : t;
}

/* the constraint asked for: --regex PATTERN or --json-schema FILE (read at option time) */
typedef struct {
    const char *regex;
    const char *schema_path;
    char *schema;
    size_t schema_len;
} cspec_t;

static const char *cspec_flag(const cspec_t *cs) { return cs->schema_path ? "--json-schema" : "--regex"; }

/* compile the constraint over a vocabulary (pieces); prints the error; NULL on failure */
static sl_constraint *make_constraint(const cspec_t *cs, int V, const char *const *piece, const int *len, long n)
{
    sl_constraint *c = NULL;
    int rc = cs->schema_path ? sl_constraint_json_schema(cs->schema, cs->schema_len, V, piece, len, &c)
                             : sl_constraint_regex(cs->regex, V, piece, len, &c);
    if (rc) {
        if (cs->schema_path) cli_lib_fail(cs->schema_path);
        else cli_lib_fail("--regex");
        return NULL;
    }
    if (sl_constraint_min_bytes(c) > n) {
        cli_fail("%s: the shortest text that matches needs %d tokens; --tokens is %ld", cspec_flag(cs),
                 sl_constraint_min_bytes(c), n);
        sl_constraint_free(c);
        return NULL;
    }
    return c;
}

static void constraint_note(const sl_constraint *c, const cspec_t *cs)
{
    if (c && !sl_constraint_accepting(c))
        fprintf(stderr, "seqlab: note: generation stopped before the text completed %s\n", cspec_flag(cs));
}

/* llama2.c: encode the prompt with BOS, feed it, then sample; print each piece as run.c
 * decodes it; stop at BOS (1) and at seq_len like run.c. */
static int generate_llama2c(const char *ckpt, const char *tokpath, const char *prompt, long n, const sl_sampler *smp,
                            uint64_t seed, int stats, const cspec_t *cs)
{
    sl_constraint *con = NULL;
    float *cbuf = NULL;
    char **pieces = NULL;
    int *plen = NULL;
    const double t0 = sl_now();
    sl_model *m = NULL;
    sl_llama2c_tokenizer *tk = NULL;
    sl_decoder *d = NULL;
    int32_t *ids = NULL;
    int nids = 0, ret = 1;
    float *work = NULL;
    int *iw = NULL;
    sl_rng *rng = sl_rng_alloc(seed);
    /* header, tokenizer and prompt first: the model is then built for the context this
     * generation uses (prompt + n), not the header's seq_len (whatever it claims) */
    sl_llama2c_config cfg;
    if (sl_llama2c_read_config(ckpt, &cfg)) {
        cli_lib_fail("--llama2c");
        goto done;
    }
    if (sl_llama2c_tokenizer_read(tokpath, cfg.vocab_size, &tk)) {
        cli_lib_fail("--tokenizer");
        goto done;
    }
    if (sl_llama2c_encode(tk, prompt, 1, 0, &ids, &nids)) {
        cli_lib_fail("--prompt");
        goto done;
    }
    if (nids > cfg.seq_len) {
        cli_fail("--prompt: %d tokens (with BOS) do not fit the checkpoint's context of %d positions (seq_len)", nids,
                 cfg.seq_len);
        goto done;
    }
    long ctx = (long)nids + (n > 0 ? n - 1 : 0); /* the last token sampled is never fed */
    if (sl_llama2c_load_ctx(ckpt, ctx < cfg.seq_len ? (int)ctx : cfg.seq_len, &m)) {
        cli_lib_fail("--llama2c");
        goto done;
    }
    const int V = m->d_out;
    work = malloc(2 * (size_t)V * sizeof(float));
    iw = malloc((size_t)V * sizeof(int));
    if (!rng || !work || !iw) {
        cli_fail("out of memory");
        goto done;
    }
    if (cs) { /* every token's text (after a non-BOS token); BOS, EOS and <unk> never */
        pieces = calloc((size_t)V, sizeof(char *));
        plen = calloc((size_t)V, sizeof(int));
        cbuf = malloc((size_t)V * sizeof(float));
        if (!pieces || !plen || !cbuf) {
            cli_fail("out of memory");
            goto done;
        }
        for (int v = 0; v < V; v++) {
            const char *pc = v > 2 ? sl_llama2c_decode(tk, 3, v) : "";
            if (!(pieces[v] = strdup(pc ? pc : ""))) {
                cli_fail("out of memory");
                goto done;
            }
            plen[v] = (int)strlen(pieces[v]);
        }
        if (!(con = make_constraint(cs, V, (const char *const *)pieces, plen, n))) goto done;
    }
    if (sl_decoder_new(m, 0, &d)) {
        cli_lib_fail("step mode");
        goto done;
    }
    const double t_load = sl_now() - t0;
    if (sl_decoder_feed(d, ids, nids)) {
        cli_lib_fail("prompt");
        goto done;
    }
    int prev = ids[0];
    for (int i = 1; i < nids; i++) {
        fputs(sl_llama2c_decode(tk, prev, ids[i]), stdout);
        prev = ids[i];
    }
    long k = 0;
    for (; k < n; k++) {
        long room = sl_decoder_room(d) + 1; /* tokens that can still be printed */
        int32_t next = pick_next(sl_decoder_logits(d), V, smp, rng, work, iw, con, cbuf, n - k < room ? n - k : room);
        if (next < 0 || next == 1) break;
        /* under a constraint the text the automaton read (after BOS, run.c's decoding would
         * drop a piece's leading space) */
        const char *piece = con ? pieces[next] : sl_llama2c_decode(tk, prev, next);
        if (!piece) {
            cli_lib_fail("decode");
            goto done;
        }
        fputs(piece, stdout);
        prev = next;
        if (k + 1 == n) {
            k++;
            break;
        }
        if (sl_decoder_room(d) == 0) {
            k++;
            fflush(stdout);
            fprintf(stderr,
                    "\nseqlab: note: stopped after %ld tokens: the context is full (seq_len %d positions), as run.c stops\n", k,
                    cfg.seq_len);
            break;
        }
        if (sl_decoder_feed(d, &next, 1)) {
            cli_lib_fail("step");
            goto done;
        }
    }
    fputc('\n', stdout);
    constraint_note(con, cs);
    if (stats) print_stats(d, nids, k, t_load);
    ret = 0;
done:
    sl_constraint_free(con);
    free(cbuf);
    if (pieces)
        for (int v = 0; v < m->d_out; v++) free(pieces[v]);
    free(pieces);
    free(plen);
    sl_decoder_free(d);
    sl_model_free(m);
    sl_llama2c_tokenizer_free(tk);
    free(ids);
    free(work);
    free(iw);
    sl_rng_free(rng);
    return ret;
}

/* "1,2,3" -> ids (malloc'ed); 0 on success, else the CLI's exit status */
static int parse_ids(const char *list, int32_t **out, int *n)
{
    int cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = list;
    if (!ids) return cli_fail("out of memory");
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(ids);
            return cli_usage(USAGE, "--prompt-ids: '%s' is not a comma-separated list of token ids", list);
        }
        if (k == cap) {
            int32_t *more = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            if (!more) {
                free(ids);
                return cli_fail("out of memory");
            }
            ids = more;
        }
        ids[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (!k) {
        free(ids);
        return cli_usage(USAGE, "--prompt-ids: no token ids");
    }
    *out = ids;
    *n = k;
    return 0;
}

/* --hf: a Hugging Face GPT-2 / Llama checkpoint; the prompt as text (with a tokenizer) or ids */
static int generate_hf(const char *dir, const char *tokpath, const char *prompt, const char *prompt_ids, long n,
                       const sl_sampler *smp, uint64_t seed, int stats)
{
    const double t0 = sl_now();
    sl_subword *tk = NULL;
    sl_model *m = NULL;
    sl_decoder *d = NULL;
    int32_t *ids = NULL;
    size_t nids = 0, cap = 0;
    float *work = NULL;
    int *iw = NULL, ret = 1, k32 = 0;
    unsigned char *text = NULL;
    size_t ntext = 0, tcap = 0;
    sl_rng *rng = sl_rng_alloc(seed);
    if (prompt_ids) {
        if ((ret = parse_ids(prompt_ids, &ids, &k32))) goto done0;
        nids = (size_t)k32;
        ret = 1;
    }
    if (prompt || tokpath) {
        if (sl_subword_load(tokpath ? tokpath : dir, &tk)) {
            cli_lib_fail(tokpath ? "--tokenizer" : "--hf (its tokenizer; or give --tokenizer, or --prompt-ids)");
            goto done;
        }
    }
    if (prompt && sl_subword_encode(tk, (const unsigned char *)prompt, strlen(prompt), &ids, &nids, &cap)) {
        cli_lib_fail("--prompt");
        goto done;
    }
    if (nids == 0) {
        cli_fail("--prompt: no tokens");
        goto done;
    }
    if (sl_hf_load(dir, (int)(nids + (n > 0 ? n - 1 : 0)), &m)) {
        cli_lib_fail("--hf");
        goto done;
    }
    const int V = m->d_out;
    for (size_t i = 0; i < nids; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            cli_fail("prompt token %d is outside the model's vocabulary [0, %d)", ids[i], V);
            goto done;
        }
    if ((long)nids > m->max_len) {
        cli_fail("--prompt: %zu tokens do not fit the checkpoint's context of %ld positions", nids, (long)m->max_len);
        goto done;
    }
    work = malloc(2 * (size_t)V * sizeof(float));
    iw = malloc((size_t)V * sizeof(int));
    if (!rng || !work || !iw || !(ids = realloc(ids, (nids + (size_t)n + 1) * sizeof *ids))) {
        cli_fail("out of memory");
        goto done;
    }
    if (sl_decoder_new(m, 0, &d)) {
        cli_lib_fail("step mode");
        goto done;
    }
    const double t_load = sl_now() - t0;
    if (sl_decoder_feed(d, ids, (int)nids)) {
        cli_lib_fail("prompt");
        goto done;
    }
    long k = 0;
    for (; k < n; k++) {
        int32_t next = sl_sample_logits(sl_decoder_logits(d), V, smp, rng, work, iw);
        ids[nids + k] = next;
        if (k + 1 == n) {
            k++;
            break;
        }
        if (sl_decoder_room(d) == 0) {
            k++;
            fprintf(stderr, "seqlab: note: stopped after %ld tokens: the context is full (%ld positions)\n", k, (long)m->max_len);
            break;
        }
        if (sl_decoder_feed(d, &next, 1)) {
            cli_lib_fail("step");
            goto done;
        }
    }
    if (tk) {
        if (sl_subword_decode(tk, ids, nids + (size_t)k, &text, &ntext, &tcap)) {
            cli_lib_fail("decode");
            goto done;
        }
        fwrite(text, 1, ntext, stdout);
    } else {
        for (long i = 0; i < k; i++) printf("%s%d", i ? " " : "", ids[nids + i]);
    }
    fputc('\n', stdout);
    if (stats) print_stats(d, (long)nids, k, t_load);
    ret = 0;
done:
    sl_decoder_free(d);
    sl_model_free(m);
    free(work);
    free(iw);
    free(text);
done0:
    sl_subword_free(tk);
    free(ids);
    sl_rng_free(rng);
    return ret;
}

/* --draft: speculative decoding with two runs of one alphabet (lab/speculative.h) */
static int generate_speculative(run_t *r, const char *draft_dir, int k, const int32_t *ids, int nids, long n,
                                const sl_sampler *smp, sl_rng *rng, int stats, double t0, sl_constraint *con, const cspec_t *cs)
{
    run_t dr;
    sl_speculative *s = NULL;
    int ret = 1;
    if (run_open(draft_dir, NULL, 0, &dr)) {
        run_close(&dr);
        return cli_lib_fail(draft_dir);
    }
    sl_model *dm = dr.model;
    if (dr.n_alphabet == 0 || !(dm->caps & SL_CAP_TOKEN_OUT)) {
        cli_fail("--draft %s: not a token model trained on text", draft_dir);
        goto done;
    }
    if (dr.n_alphabet != r->n_alphabet || memcmp(dr.alphabet, r->alphabet, (size_t)r->n_alphabet)) {
        cli_fail("--draft %s: its vocabulary (an alphabet of %d characters) differs from the --run model's (%d characters); "
                 "the draft must be trained on the same alphabet",
                 draft_dir, dr.n_alphabet, r->n_alphabet);
        goto done;
    }
    if (sl_speculative_new(r->model, dm, k, &s)) {
        cli_lib_fail("--draft");
        goto done;
    }
    const double t_load = sl_now() - t0;
    if (sl_speculative_feed(s, ids, nids)) {
        cli_lib_fail("prompt");
        goto done;
    }
    int32_t *buf = malloc((size_t)(k + 1) * sizeof(int32_t));
    if (!buf) {
        cli_fail("out of memory");
        goto done;
    }
    long got = 0;
    while (got < n) {
        int m = 0;
        const long room = sl_speculative_room(s);
        if (con) { /* the budget: what is left of --tokens, or of the context when that is less */
            sl_speculative_constrain(s, con, room >= 0 && room < n - got ? room : n - got);
        }
        if (room == 0) {
            fflush(stdout);
            fprintf(stderr,
                    "\nseqlab: note: stopped after %ld tokens: the context is full (speculative decoding does not slide)\n", got);
            break;
        }
        if (sl_speculative_round(s, smp, rng, buf, &m)) {
            free(buf);
            cli_lib_fail("speculative round");
            goto done;
        }
        for (int i = 0; i < m && got < n; i++, got++) fputc(r->alphabet[buf[i]], stdout);
        if (m == 0) break; /* the constraint allows nothing more */
    }
    free(buf);
    fputc('\n', stdout);
    constraint_note(con, cs);
    if (stats) {
        sl_speculative_stats st;
        sl_speculative_get_stats(s, &st);
        fprintf(stderr,
                "seqlab: stats: prompt %d tokens, generated %ld, speculative k=%d: %ld rounds, %ld of %ld proposals accepted "
                "(%.3f), %.2f tokens per target pass; target %ld positions in %.3f s, draft %ld positions in %.3f s, "
                "%.1f tok/s, load %.3f s\n",
                nids, got, k, st.rounds, st.accepted, st.drafted, st.drafted ? (double)st.accepted / st.drafted : 0.0,
                st.rounds ? (double)st.emitted / st.rounds : 0.0, st.target_positions, st.target_seconds, st.draft_positions,
                st.draft_seconds, st.target_seconds + st.draft_seconds > 0 ? got / (st.target_seconds + st.draft_seconds) : 0.0,
                t_load);
    }
    ret = 0;
done:
    sl_speculative_free(s);
    run_close(&dr);
    return ret;
}

static int generate_main(const char *dir, const char *l2c, const char *tokpath, const char *draft, const char *prompt, long n,
                         long spec_k, const sl_sampler *smpp, uint64_t seed, int stats, const cspec_t *cs);

int cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {{"run", 1, 0, 'r'},
                                         {"prompt", 1, 0, 'p'},
                                         {"tokens", 1, 0, 'n'},
                                         {"temperature", 1, 0, 't'},
                                         {"top-k", 1, 0, 'k'},
                                         {"top-p", 1, 0, 'P'},
                                         {"seed", 1, 0, 's'},
                                         {"llama2c", 1, 0, 'L'},
                                         {"tokenizer", 1, 0, 'K'},
                                         {"threads", 1, 0, 'T'},
                                         {"stats", 0, 0, 'S'},
                                         {"draft", 1, 0, 'D'},
                                         {"speculate", 1, 0, 'X'},
                                         {"regex", 1, 0, 'R'},
                                         {"json-schema", 1, 0, 'J'},
                                         {"hf", 1, 0, 'F'},
                                         {"prompt-ids", 1, 0, 'I'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *prompt = NULL, *l2c = NULL, *tokpath = NULL, *draft = NULL, *regex = NULL, *hf = NULL,
               *prompt_ids = NULL, *schema = NULL;
    long n = -1, seed = 1, topk = 0, threads = 0, spec_k = -1;
    double temp = 1.0, topp = 1.0;
    int o, stats = 0;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(USAGE, stdout); return 0;
        case 'r': dir = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n':
            if (!cli_int(USAGE, "--tokens", optarg, 0, 1 << 24, &n)) return 2;
            break;
        case 't':
            if (!cli_double(USAGE, "--temperature", optarg, 0, 100, &temp)) return 2;
            break;
        case 'k':
            if (!cli_int(USAGE, "--top-k", optarg, 0, 1 << 24, &topk)) return 2;
            break;
        case 'P':
            if (!cli_double(USAGE, "--top-p", optarg, 0, 1, &topp)) return 2;
            break;
        case 's':
            if (!cli_int(USAGE, "--seed", optarg, 0, 1L << 62, &seed)) return 2;
            break;
        case 'T':
            if (!cli_int(USAGE, "--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case 'S': stats = 1; break;
        case 'D': draft = optarg; break;
        case 'R': regex = optarg; break;
        case 'J': schema = optarg; break;
        case 'X':
            if (!cli_int(USAGE, "--speculate", optarg, 1, 64, &spec_k)) return 2;
            break;
        case 'L': l2c = optarg; break;
        case 'K': tokpath = optarg; break;
        case 'F': hf = optarg; break;
        case 'I': prompt_ids = optarg; break;
        default: return cli_bad_option(USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
    sl_threads_set((int)threads);
    sl_sampler smp = {.temperature = (float)temp, .top_k = (int)topk, .top_p = (float)topp};
    if (spec_k > 0 && !draft) return cli_usage(USAGE, "--speculate needs a --draft run");
    if (regex && schema) return cli_usage(USAGE, "give --regex or --json-schema, not both");
    if (hf) {
        if (dir || l2c) return cli_usage(USAGE, "give one of --run, --llama2c and --hf");
        if (draft || regex || schema)
            return cli_usage(USAGE,
                             "--draft, --regex and --json-schema work with --run (and the constraints with --llama2c), not --hf");
        if (!prompt == !prompt_ids || n < 0)
            return cli_usage(USAGE, "--hf needs --prompt or --prompt-ids (one of them) and --tokens");
        return generate_hf(hf, tokpath, prompt, prompt_ids, n, &smp, (uint64_t)seed, stats);
    }
    if (prompt_ids) return cli_usage(USAGE, "--prompt-ids works with --hf");
    cspec_t cs = {.regex = regex, .schema_path = schema};
    if (schema) {
        void *buf = NULL;
        if (sl_read_file(schema, (size_t)1 << 20, &buf, &cs.schema_len)) return cli_lib_fail(schema);
        cs.schema = buf;
    }
    int ret =
        generate_main(dir, l2c, tokpath, draft, prompt, n, spec_k, &smp, (uint64_t)seed, stats, regex || schema ? &cs : NULL);
    free(cs.schema);
    return ret;
}

static int generate_main(const char *dir, const char *l2c, const char *tokpath, const char *draft, const char *prompt, long n,
                         long spec_k, const sl_sampler *smpp, uint64_t seed, int stats, const cspec_t *cs)
{
    const sl_sampler smp = *smpp;
    if (l2c || tokpath) {
        if (dir) return cli_usage(USAGE, "give --run or --llama2c, not both");
        if (draft) return cli_usage(USAGE, "--draft works with --run (a run's model and a draft run of the same alphabet)");
        if (!l2c || !tokpath) return cli_usage(USAGE, "--llama2c and --tokenizer go together");
        if (!prompt || n < 0) return cli_usage(USAGE, "--prompt and --tokens are required");
        return generate_llama2c(l2c, tokpath, prompt, n, &smp, seed, stats, cs);
    }
    if (!dir || !prompt || n < 0) return cli_usage(USAGE, "--run, --prompt and --tokens are required");
    if (!*prompt) return cli_usage(USAGE, "--prompt must not be empty");
    const double t0 = sl_now();
    run_t r;
    if (run_open(dir, NULL, 0, &r)) {
        run_close(&r);
        return cli_lib_fail(dir);
    }
    int ret = 1;
    sl_model *m = r.model;
    if (!(m->caps & SL_CAP_TOKEN_OUT) || r.n_alphabet == 0) {
        cli_fail("%s: not a token model trained on text", dir);
        goto done0;
    }
    /* every id the model can emit (or read) must name a character of the run's alphabet */
    if (m->d_out != r.n_alphabet || ((m->caps & SL_CAP_TOKEN_IN) && m->d_in != r.n_alphabet)) {
        cli_fail("%s: the model's vocabulary (%d in, %d out) does not match the run's alphabet of %d characters", dir, m->d_in,
                 m->d_out, r.n_alphabet);
        goto done0;
    }
    int inv[256];
    for (int i = 0; i < 256; i++) inv[i] = -1;
    for (int i = 0; i < r.n_alphabet; i++) inv[r.alphabet[i]] = i;
    size_t plen = strlen(prompt);
    const int V = m->d_out;
    int32_t *ids = malloc(plen * sizeof(int32_t));
    sl_constraint *con = NULL;
    float *cbuf = NULL;
    static char cpiece[256][2];
    const char *cptr[256];
    int clen[256];
    float *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc((size_t)V * sizeof(int));
    sl_rng *rng = sl_rng_alloc((uint64_t)seed);
    sl_decoder *d = NULL;
    if (!ids || !work || !iw || !rng) {
        cli_fail("out of memory");
        goto done;
    }
    for (size_t i = 0; i < plen; i++) {
        int id = inv[(unsigned char)prompt[i]];
        if (id < 0) {
            cli_fail("prompt byte 0x%02x ('%c') at %zu is not in the run's alphabet", (unsigned char)prompt[i], prompt[i], i);
            goto done;
        }
        ids[i] = id;
    }
    if (plen > (size_t)1 << 30) {
        cli_fail("--prompt: %zu bytes is too long", plen);
        goto done;
    }
    if (cs) { /* the run's characters are the pieces */
        for (int v = 0; v < V; v++) {
            cpiece[v][0] = (char)r.alphabet[v];
            cpiece[v][1] = 0;
            cptr[v] = cpiece[v];
            clen[v] = 1;
        }
        if (!(cbuf = malloc((size_t)V * sizeof(float)))) {
            cli_fail("out of memory");
            goto done;
        }
        if (!(con = make_constraint(cs, V, cptr, clen, n))) goto done;
    }
    if (draft) {
        fputs(prompt, stdout);
        ret = generate_speculative(&r, draft, spec_k > 0 ? (int)spec_k : 4, ids, (int)plen, n, &smp, rng, stats, t0, con, cs);
        goto done;
    }
    if (sl_decoder_new(m, 1, &d)) {
        cli_lib_fail("generate");
        goto done;
    }
    const double t_load = sl_now() - t0;
    fputs(prompt, stdout);
    if (sl_decoder_feed(d, ids, (int)plen)) {
        cli_lib_fail("prompt");
        goto done;
    }
    long k = 0;
    for (; k < n; k++) {
        int32_t next = pick_next(sl_decoder_logits(d), V, &smp, rng, work, iw, con, cbuf, n - k);
        if (next < 0) break;
        fputc(r.alphabet[next], stdout);
        if (k + 1 < n && sl_decoder_feed(d, &next, 1)) {
            cli_lib_fail("step");
            goto done;
        }
    }
    fputc('\n', stdout);
    constraint_note(con, cs);
    if (stats) print_stats(d, (long)plen, k, t_load);
    ret = 0;
done:
    sl_constraint_free(con);
    free(cbuf);
    sl_decoder_free(d);
    free(ids);
    free(work);
    free(iw);
    sl_rng_free(rng);
done0:
    run_close(&r);
    return ret;
}
