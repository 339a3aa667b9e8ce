/* src/cmd_lora.c — `seqlab lora merge|unmerge`: fold a LoRA run's adapters into its base
 * model's weights (W0 + scale B A), or take them out of merged weights (W - scale B A). */
#include "core/error.h"
#include "core/params.h"
#include "core/safetensors.h"
#include "lab/finetune.h"
#include "lab/registry.h"
#include "seq/lora.h"
#include "src/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char LORA_USAGE[] =
    "usage: seqlab lora merge   --adapters A [--base SRC] [--model SPEC] --out FILE.safetensors\n"
    "       seqlab lora unmerge --adapters A --base MERGED [--model SPEC] --out FILE.safetensors\n"
    "  --adapters A   a LoRA run directory (its model.safetensors) or an adapter file: tensors\n"
    "                 base_model.model.X.lora_A.weight / .lora_B.weight and 'lora' metadata\n"
    "  --base SRC     the model the adapters belong to: a run directory, a .safetensors file or a\n"
    "                 llama2.c .bin (as train --init-from); merge defaults to the run's recorded base\n"
    "  --model SPEC   the base's model spec, when SRC records none\n"
    "  --out FILE     the merged (or unmerged) weights, a model file that train --init-from,\n"
    "                 forward --weights and export read; written only when every adapter fits\n"
    "  merge writes W0 + (alpha/r) B A for every adapted tensor; unmerge subtracts it again, which\n"
    "  restores W0 up to float rounding (the run itself never changes its base: docs/finetune.md)\n";

int cmd_lora(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "merge") && strcmp(argv[1], "unmerge"))) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
            fputs(LORA_USAGE, stdout);
            return 0;
        }
        return cli_usage(
            LORA_USAGE, argc < 2 ? "lora needs a subcommand: merge or unmerge" : "lora: unknown subcommand '%s' (merge, unmerge)",
            argc < 2 ? "" : argv[1]);
    }
    const int sign = strcmp(argv[1], "merge") ? -1 : 1;
    static const struct option opts[] = {{"adapters", 1, 0, 'a'}, {"base", 1, 0, 'b'}, {"model", 1, 0, 'm'},
                                         {"out", 1, 0, 'o'},      {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *adapters = NULL, *base = NULL, *model = NULL, *out = NULL;
    int o;
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(LORA_USAGE, stdout); return 0;
        case 'a': adapters = optarg; break;
        case 'b': base = optarg; break;
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        default: return cli_bad_option(LORA_USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(LORA_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!adapters) return cli_usage(LORA_USAGE, "--adapters is required");
    if (!out) return cli_usage(LORA_USAGE, "--out is required");
    if (sign < 0 && !base) return cli_usage(LORA_USAGE, "unmerge needs --base MERGED (the merged weights)");

    char apath[4096], spec[4096] = "", alpha[600] = "";
    struct stat sb;
    if (stat(adapters, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(apath, sizeof apath, "%s/model.safetensors", adapters);
    else snprintf(apath, sizeof apath, "%s", adapters);
    sl_safetensors *ast = NULL;
    sl_init_source src;
    memset(&src, 0, sizeof src);
    sl_model *m = NULL;
    int ret = 1;
    if (sl_safetensors_read(apath, &ast)) {
        cli_lib_fail(NULL);
        goto done;
    }
    if (!sl_safetensors_meta(ast, "lora")) {
        cli_fail("%s has no 'lora' metadata: not LoRA adapters (a LoRA run's model.safetensors)", apath);
        goto done;
    }
    if (!base && !(base = sl_safetensors_meta(ast, "init_from"))) {
        cli_fail("%s does not record its base model; give --base", apath);
        goto done;
    }
    if (sl_init_source_open(base, &src)) {
        cli_lib_fail(NULL);
        goto done;
    }
    if (model) snprintf(spec, sizeof spec, "%s", model);
    else if (src.spec[0]) snprintf(spec, sizeof spec, "%s", src.spec);
    else {
        cli_fail("%s names no model spec; give --model", base);
        goto done;
    }
    if (sl_model_create(spec, 1, &m)) {
        cli_spec_fail(SL_EINVAL, "--model");
        goto done;
    }
    if (sl_init_load(&src, m)) {
        cli_lib_fail(NULL);
        goto done;
    }
    if (sl_lora_fold(m->P, apath, sign)) {
        cli_lib_fail(NULL);
        goto done;
    }
    for (int i = 0; i < src.n_alphabet; i++) snprintf(alpha + 2 * i, 3, "%02x", src.alphabet[i]);
    const char *kv[8] = {"model", spec, sign > 0 ? "lora_merged" : "lora_unmerged", apath, "alphabet", alpha};
    if (sl_params_save(m->P, out, kv, src.n_alphabet > 0 ? 3 : 2)) {
        cli_lib_fail(out);
        goto done;
    }
    printf("%s %s: %s\n", sign > 0 ? "merged" : "unmerged", apath, out);
    ret = 0;
done:
    sl_model_free(m);
    sl_init_source_close(&src);
    sl_safetensors_free(ast);
    return ret;
}
