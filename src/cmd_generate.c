/* src/cmd_generate.c — `seqlab generate`: sample text from a trained token model, through
 * step mode (the model's state carries the context), or by recomputing the window when the
 * model has no step mode. */
#include "core/error.h"
#include "lab/sample.h"
#include "src/cli.h"
#include "src/run.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: seqlab generate --run DIR --prompt TEXT --tokens N [--temperature T] [--top-k K] [--top-p P] [--seed S]\n"
    "  --run DIR         a run made by `seqlab train` on a text task (charlm)\n"
    "  --prompt TEXT     the start of the text (every byte must be in the run's alphabet)\n"
    "  --tokens N        how many tokens to generate\n"
    "  --temperature T   default 1; 0 = greedy\n"
    "  --top-k K         keep the K most likely tokens (default 0 = all)\n"
    "  --top-p P         nucleus: keep the smallest set with mass >= P (default 1 = all)\n"
    "  --seed S          default 1\n";

int cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {{"run", 1, 0, 'r'}, {"prompt", 1, 0, 'p'}, {"tokens", 1, 0, 'n'},
                                         {"temperature", 1, 0, 't'}, {"top-k", 1, 0, 'k'}, {"top-p", 1, 0, 'P'},
                                         {"seed", 1, 0, 's'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL, *prompt = NULL;
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
        default:
            if (optopt) return cli_usage(USAGE, "option %s needs a value", argv[optind - 1]);
            return cli_usage(USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
    if (!dir || !prompt || n < 0) return cli_usage(USAGE, "--run, --prompt and --tokens are required");
    if (!*prompt) return cli_usage(USAGE, "--prompt must not be empty");
    run_t r;
    if (run_open(dir, NULL, 0, &r)) { run_close(&r); return cli_lib_fail(dir); }
    int ret = 1;
    sl_model *m = r.model;
    if (!(m->caps & SL_CAP_TOKEN_OUT) || r.n_alphabet == 0) { cli_fail("%s: not a token model trained on text", dir); goto done0; }
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
    sl_sampler smp = {(float)temp, (int)topk, (float)topp};
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
