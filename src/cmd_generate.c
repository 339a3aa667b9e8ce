/* src/cmd_generate.c — `seqlab generate`: sample text from a trained token model, through
 * step mode (the model's state carries the context), or by recomputing the window when the
 * model has no step mode. */
#include "core/error.h"
#include "lab/sample.h"
#include "seq/llama2c.h"
#include "src/cli.h"
#include "src/run.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: seqlab generate --run DIR --prompt TEXT --tokens N [--temperature T] [--top-k K] [--top-p P] [--seed S]\n"
    "       seqlab generate --llama2c MODEL.bin --tokenizer TOKENIZER.bin --prompt TEXT --tokens N [...]\n"
    "  --run DIR         a run made by `seqlab train` on a text task (charlm)\n"
    "  --llama2c FILE    a llama2.c checkpoint (legacy .bin layout) instead of a run, with\n"
    "  --tokenizer FILE  its tokenizer.bin; generation stops early at BOS (token 1), as run.c does\n"
    "  --prompt TEXT     the start of the text (every byte must be in the run's alphabet)\n"
    "  --tokens N        how many tokens to generate\n"
    "  --temperature T   default 1; 0 = greedy\n"
    "  --top-k K         keep the K most likely tokens (default 0 = all)\n"
    "  --top-p P         nucleus: keep the smallest set with mass >= P (default 1 = all)\n"
    "  --seed S          default 1\n";

/* llama2.c: encode the prompt with BOS, step through it, then sample; print each piece as
 * run.c decodes it; stop at BOS (1) like run.c. */
static int generate_llama2c(const char *ckpt, const char *tokpath, const char *prompt, int n,
                            const sl_sampler *smp, uint64_t seed)
{
    sl_model *m = NULL;
    sl_llama2c_tokenizer *tk = NULL;
    int32_t *ids = NULL;
    int nids = 0, ret = 1;
    void *st = NULL;
    float *logits = NULL, *work = NULL;
    int *iw = NULL;
    sl_rng *rng = sl_rng_alloc(seed);
    /* header, tokenizer and prompt first: the model is then built for the context this
     * generation uses (prompt + n), not the header's seq_len (whatever it claims) */
    sl_llama2c_config cfg;
    if (sl_llama2c_read_config(ckpt, &cfg)) { cli_lib_fail("--llama2c"); goto done; }
    if (sl_llama2c_tokenizer_read(tokpath, cfg.vocab_size, &tk)) { cli_lib_fail("--tokenizer"); goto done; }
    if (sl_llama2c_encode(tk, prompt, 1, 0, &ids, &nids)) { cli_lib_fail("--prompt"); goto done; }
    long ctx = (long)nids + n;
    if (sl_llama2c_load_ctx(ckpt, ctx < cfg.seq_len ? (int)ctx : cfg.seq_len, &m)) { cli_lib_fail("--llama2c"); goto done; }
    const int V = m->d_out;
    logits = malloc((size_t)V * sizeof(float));
    work = malloc(2 * (size_t)V * sizeof(float));
    iw = malloc((size_t)V * sizeof(int));
    if (!rng || !logits || !work || !iw) { cli_fail("out of memory"); goto done; }
    if (!(st = sl_model_state_new(m, 1))) { cli_lib_fail("step mode"); goto done; }
    int prev = ids[0];
    for (int i = 0; i < nids; i++) {
        if (sl_model_step(m, st, NULL, ids + i, logits)) { cli_lib_fail("step"); goto done; }
        if (i > 0) { fputs(sl_llama2c_decode(tk, prev, ids[i]), stdout); prev = ids[i]; }
    }
    for (int k = 0; k < n; k++) {
        int32_t next = sl_sample_logits(logits, V, smp, rng, work, iw);
        if (next == 1) break;
        const char *piece = sl_llama2c_decode(tk, prev, next);
        if (!piece) { cli_lib_fail("decode"); goto done; }
        fputs(piece, stdout);
        prev = next;
        if (sl_model_step(m, st, NULL, &next, logits)) { cli_lib_fail("step"); goto done; }
    }
    fputc('\n', stdout);
    ret = 0;
done:
    if (m) sl_model_state_free(m, st);
    sl_model_free(m);
    sl_llama2c_tokenizer_free(tk);
    free(ids); free(logits); free(work); free(iw);
    sl_rng_free(rng);
    return ret;
}

int cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {{"run", 1, 0, 'r'}, {"prompt", 1, 0, 'p'}, {"tokens", 1, 0, 'n'},
                                         {"temperature", 1, 0, 't'}, {"top-k", 1, 0, 'k'}, {"top-p", 1, 0, 'P'},
                                         {"seed", 1, 0, 's'}, {"llama2c", 1, 0, 'L'}, {"tokenizer", 1, 0, 'K'},
                                         {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL, *prompt = NULL, *l2c = NULL, *tokpath = NULL;
    long n = -1, seed = 1, topk = 0;
    double temp = 1.0, topp = 1.0;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(USAGE, stdout); return 0;
        case 'r': dir = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': if (!cli_int(USAGE, "--tokens", optarg, 0, 1 << 24, &n)) return 2; break;
        case 't': if (!cli_double(USAGE, "--temperature", optarg, 0, 100, &temp)) return 2; break;
        case 'k': if (!cli_int(USAGE, "--top-k", optarg, 0, 1 << 24, &topk)) return 2; break;
        case 'P': if (!cli_double(USAGE, "--top-p", optarg, 0, 1, &topp)) return 2; break;
        case 's': if (!cli_int(USAGE, "--seed", optarg, 0, 1L << 62, &seed)) return 2; break;
        case 'L': l2c = optarg; break;
        case 'K': tokpath = optarg; break;
        default: return cli_bad_option(USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
    sl_sampler smp0 = {(float)temp, (int)topk, (float)topp};
    if (l2c || tokpath) {
        if (dir) return cli_usage(USAGE, "give --run or --llama2c, not both");
        if (!l2c || !tokpath) return cli_usage(USAGE, "--llama2c and --tokenizer go together");
        if (!prompt || n < 0) return cli_usage(USAGE, "--prompt and --tokens are required");
        return generate_llama2c(l2c, tokpath, prompt, (int)n, &smp0, (uint64_t)seed);
    }
    if (!dir || !prompt || n < 0) return cli_usage(USAGE, "--run, --prompt and --tokens are required");
    if (!*prompt) return cli_usage(USAGE, "--prompt must not be empty");
    run_t r;
    if (run_open(dir, NULL, 0, &r)) { run_close(&r); return cli_lib_fail(dir); }
    int ret = 1;
    sl_model *m = r.model;
    if (!(m->caps & SL_CAP_TOKEN_OUT) || r.n_alphabet == 0) { cli_fail("%s: not a token model trained on text", dir); goto done0; }
    /* every id the model can emit (or read) must name a character of the run's alphabet */
    if (m->d_out != r.n_alphabet || ((m->caps & SL_CAP_TOKEN_IN) && m->d_in != r.n_alphabet)) {
        cli_fail("%s: the model's vocabulary (%d in, %d out) does not match the run's alphabet of %d characters",
                 dir, m->d_in, m->d_out, r.n_alphabet);
        goto done0;
    }
    int inv[256];
    for (int i = 0; i < 256; i++) inv[i] = -1;
    for (int i = 0; i < r.n_alphabet; i++) inv[r.alphabet[i]] = i;
    size_t plen = strlen(prompt), total = plen + (size_t)n;
    int32_t *ids = malloc(total * sizeof(int32_t));
    const int V = m->d_out;
    float *logits = malloc((size_t)V * total * sizeof(float)), *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc((size_t)V * sizeof(int));
    sl_rng *rng = sl_rng_alloc((uint64_t)seed);
    void *st = NULL;
    if (!ids || !logits || !work || !iw || !rng) { cli_fail("out of memory"); goto done; }
    for (size_t i = 0; i < plen; i++) {
        int id = inv[(unsigned char)prompt[i]];
        if (id < 0) { cli_fail("prompt byte 0x%02x ('%c') at %zu is not in the run's alphabet", (unsigned char)prompt[i], prompt[i], i); goto done; }
        ids[i] = id;
    }
    sl_sampler smp = smp0;
    fputs(prompt, stdout);
    int stepmode = (m->caps & SL_CAP_STEP) != 0;
    if (stepmode && !(st = sl_model_state_new(m, 1))) { cli_lib_fail("step mode"); goto done; }
    size_t len = plen;
    if (stepmode)
        for (size_t i = 0; i < plen; i++)
            if (sl_model_step(m, st, NULL, ids + i, logits)) { cli_lib_fail("step"); goto done; }
    for (long k = 0; k < n; k++) {
        const float *last = logits;
        if (!stepmode) {
            if (sl_model_forward(m, NULL, ids, logits, 1, (int)len)) { cli_lib_fail("forward"); goto done; }
            last = logits + (len - 1) * (size_t)V;
        }
        int next = sl_sample_logits(last, V, &smp, rng, work, iw);
        ids[len++] = next;
        fputc(r.alphabet[next], stdout);
        if (stepmode && sl_model_step(m, st, NULL, ids + len - 1, logits)) { cli_lib_fail("step"); goto done; }
    }
    fputc('\n', stdout);
    ret = 0;
done:
    sl_model_state_free(m, st);
    free(ids); free(logits); free(work); free(iw);
    sl_rng_free(rng);
done0:
    run_close(&r);
    return ret;
}
