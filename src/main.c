/* src/main.c — the `seqlab` program: dispatch to one file per subcommand. */
#include "config.h"
#include "src/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"list", cmd_list, "list every model (spec keys and defaults) and every task"},
    {"train", cmd_train, "train a model on a task (or resume a run)"},
    {"eval", cmd_eval, "evaluate a trained run"},
    {"forward", cmd_forward, "run a model on an .npy input (sequence or step mode)"},
    {"generate", cmd_generate, "sample text from a trained token model"},
    {"hippo", cmd_hippo, "HiPPO online function approximation to CSV"},
    {"ngram", cmd_ngram, "n-gram language models: build, query (ARPA)"},
    {"tokenizer", cmd_tokenizer, "subword tokenizers: train (byte-level BPE), encode, decode, info"},
    {"w2v", cmd_w2v, "word2vec: train, similar, analogy, eval"},
    {"export", cmd_export, "write a run's weights for PyTorch: state_dict, nanoGPT or mamba_ssm layout"},
    {"plot", cmd_plot, "draw the validation loss of several runs against step and seconds (gnuplot)"},
    {"scale", cmd_scale, "time and peak memory of a model's forward/backward vs sequence length"},
    {"lora", cmd_lora, "fold LoRA adapters into their base model (merge) or take them out (unmerge)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: seqlab COMMAND [ARGS]   (seqlab COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  help      this text\n\noptions: --version, --help\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--version") || !strcmp(c, "version")) {
        printf("seqlab %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(c, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    const char *names[sizeof commands / sizeof commands[0] + 2];
    size_t n = 0;
    for (; n < sizeof commands / sizeof commands[0]; n++) names[n] = commands[n].name;
    names[n++] = "help";
    names[n] = NULL;
    fprintf(stderr, "seqlab: error: unknown command '%s'%s\n", c, cli_did_you_mean(c, NULL, names));
    usage(stderr);
    return 2;
}
