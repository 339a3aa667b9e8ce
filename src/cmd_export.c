/* src/cmd_export.c — `seqlab export`: a run's weights as a safetensors file in the layout a
 * PyTorch user names. seqlab's parameter names already are the state_dict names of the
 * corresponding modules (torch.nn.RNN/LSTM/GRU, mamba_ssm's MambaLMHeadModel, nanoGPT's GPT;
 * docs/interop.md); what a target expects beyond that is its tied head written out: a tied
 * module's state_dict() holds the shared matrix under both names, and load_state_dict(strict=
 * True) asks for both. seqlab stores a tied head once (the embedding) and so writes it here
 * under the head's name too. The metadata carries the model spec, the alphabet (charlm runs:
 * token id -> byte, hex) and, for nanoGPT / mamba_ssm, the constructor's config as JSON. */
#include "core/error.h"
#include "core/safetensors.h"
#include "lab/registry.h"
#include "seq/hf.h"
#include "src/cli.h"
#include "src/run.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] = "usage: seqlab export --run DIR --out FILE.safetensors [--format state_dict|nanogpt|mamba_ssm]\n"
                            "       seqlab export --run DIR --format hf --out OUTDIR\n"
                            "       seqlab export --hf DIR --format hf|state_dict --out OUTDIR|FILE.safetensors\n"
                            "  Writes the run's weights by their PyTorch state_dict names (docs/interop.md), with a tied\n"
                            "  head also written under the head's name, so load_state_dict(strict=True) takes the file.\n"
                            "  --format state_dict  any run (default): the module seqlab's layout corresponds to\n"
                            "  --format nanogpt     gpt runs: nanoGPT's GPT (lm_head.weight = transformer.wte.weight);\n"
                            "                       metadata 'config' holds GPTConfig's fields\n"
                            "  --format mamba_ssm   lm:mixer=mamba|mamba2 runs: MambaLMHeadModel (lm_head.weight =\n"
                            "                       backbone.embedding.weight); metadata 'config' holds MambaConfig's\n"
                            "                       fields (pad_vocab_size_multiple 1: the vocabulary is not padded)\n"
                            "  --format hf          gpt and llama runs: a Hugging Face checkpoint directory OUTDIR\n"
                            "                       (config.json + model.safetensors) of GPT2LMHeadModel (gpt: learned\n"
                            "                       positions, LayerNorm, GELU; zero biases when bias=0) or\n"
                            "                       LlamaForCausalLM (llama: RoPE rows permuted as HF's conversion does)\n"
                            "  --hf DIR             instead of --run: a GPT-2 / Llama checkpoint in the Hugging Face layout,\n"
                            "                       written again (--format hf) or by seqlab's names (--format state_dict,\n"
                            "                       metadata 'model' holds the spec for seqlab forward --model)\n"
                            "  Metadata: format, model (the spec), alphabet (charlm: token id -> byte, hex), config.\n";

/* an int key of the spec, with the entry's default */
static int spec_int(const sl_spec *s, const sl_model_entry *e, const char *key, int *out)
{
    return sl_spec_int(s, e->keys, key, out);
}

/* --hf DIR: a Hugging Face checkpoint written again (hf) or by seqlab's names (state_dict) */
static int export_hf_source(const char *src, int fmt, const char *out)
{
    sl_model *m = NULL;
    sl_st_writer *w = NULL;
    int ret = 1, rc;
    if (fmt == 1 || fmt == 2)
        return cli_usage(USAGE, "--hf exports --format hf or state_dict (nanogpt and mamba_ssm take --run)");
    if (sl_hf_load(src, 0, &m)) return cli_lib_fail("--hf");
    if (fmt == 3) {
        if (sl_hf_save(m, out)) {
            cli_lib_fail(out);
            goto done;
        }
    } else {
        const sl_params *P = m->P;
        if (!(w = sl_st_writer_new())) {
            cli_fail("out of memory");
            goto done;
        }
        rc = sl_st_writer_meta(w, "format", "state_dict");
        if (!rc) rc = sl_st_writer_meta(w, "model", m->spec);
        for (int i = 0; i < P->n && !rc; i++)
            rc = sl_st_writer_add_ref(w, P->t[i].name, SL_DT_F32, P->t[i].ndim, P->t[i].shape, sl_params_data(P, i));
        if (!rc) rc = sl_st_writer_write(w, out);
        if (rc) {
            cli_lib_fail(out);
            goto done;
        }
    }
    fprintf(stderr, "seqlab export: %s: %s from %s (%s)\n", out, fmt == 3 ? "Hugging Face layout" : "seqlab's names", src,
            m->spec);
    ret = 0;
done:
    sl_st_writer_free(w);
    sl_model_free(m);
    return ret;
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"run", 1, 0, 'r'}, {"out", 1, 0, 'o'},  {"format", 1, 0, 'f'},
                                         {"hf", 1, 0, 'H'},  {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL, *out = NULL, *format = "state_dict", *hf = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(USAGE, stdout); return 0;
        case 'r': dir = optarg; break;
        case 'o': out = optarg; break;
        case 'f': format = optarg; break;
        case 'H': hf = optarg; break;
        default: return cli_bad_option(USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
    if (dir && hf) return cli_usage(USAGE, "give --run or --hf, not both");
    if ((!dir && !hf) || !out) return cli_usage(USAGE, "--run (or --hf) and --out are required");
    static const char *const formats[] = {"state_dict", "nanogpt", "mamba_ssm", "hf", NULL};
    int fmt = -1;
    for (int i = 0; formats[i]; i++)
        if (!strcmp(format, formats[i])) fmt = i;
    if (fmt < 0)
        return cli_usage(USAGE, "--format: '%s' is not state_dict, nanogpt, mamba_ssm or hf%s", format,
                         cli_did_you_mean(format, NULL, formats));
    if (hf) return export_hf_source(hf, fmt, out);

    run_t r;
    if (run_open(dir, NULL, 0, &r)) {
        run_close(&r);
        return cli_lib_fail(dir);
    }
    const char *spec = sl_safetensors_meta(r.ckpt, "model");
    sl_spec *s = NULL;
    const sl_model_entry *e = NULL;
    sl_st_writer *w = NULL;
    int ret = 1;
    char config[512] = "";
    if (sl_registry_parse(spec, &s, &e)) {
        cli_lib_fail(dir);
        goto done;
    }
    if (fmt == 3) {
        if (sl_hf_save(r.model, out)) {
            cli_lib_fail(out);
            goto done;
        }
        fprintf(stderr, "seqlab export: %s: config.json and model.safetensors, Hugging Face %s layout\n", out,
                sl_hf_arch_of(r.model) == SL_HF_GPT2 ? "GPT2LMHeadModel" : "LlamaForCausalLM");
        ret = 0;
        goto done;
    }
    const sl_params *P = r.model->P;
    /* the tied head: (head name, embedding name) when the run has the embedding but no head */
    const char *head = NULL, *emb = NULL;
    if (sl_params_find(P, "lm_head.weight") < 0) {
        if (sl_params_find(P, "backbone.embedding.weight") >= 0) {
            head = "lm_head.weight";
            emb = "backbone.embedding.weight";
        } else if (sl_params_find(P, "transformer.wte.weight") >= 0) {
            head = "lm_head.weight";
            emb = "transformer.wte.weight";
        }
    }
    if (fmt == 1) {
        if (strcmp(e->name, "gpt")) {
            cli_fail("--format nanogpt: the run's model is '%s'; nanoGPT's layout is that of gpt: runs", e->name);
            goto done;
        }
        int nl, nh, ne, bs, vs, bias;
        if (spec_int(s, e, "n_layer", &nl) || spec_int(s, e, "n_head", &nh) || spec_int(s, e, "n_embd", &ne) ||
            spec_int(s, e, "block_size", &bs) || spec_int(s, e, "vocab_size", &vs) || sl_spec_bool(s, e->keys, "bias", &bias)) {
            cli_lib_fail(dir);
            goto done;
        }
        snprintf(config, sizeof config,
                 "{\"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, \"block_size\": %d, \"vocab_size\": %d, \"bias\": %s, "
                 "\"dropout\": 0.0}",
                 nl, nh, ne, bs, vs, bias ? "true" : "false");
    } else if (fmt == 2) {
        const char *mixer = sl_spec_raw(s, "mixer");
        if (strcmp(e->name, "lm") || !mixer || (strcmp(mixer, "mamba") && strcmp(mixer, "mamba2")) || !emb) {
            cli_fail("--format mamba_ssm: the run's model is '%s'; MambaLMHeadModel's layout is that of "
                     "lm:mixer=mamba or lm:mixer=mamba2 runs",
                     spec);
            goto done;
        }
        const char *norm = sl_spec_raw(s, "norm");
        if (norm && strcmp(norm, "rmsnorm")) {
            cli_fail("--format mamba_ssm: MambaLMHeadModel with norm=%s is not exported (rms_norm only)", norm);
            goto done;
        }
        int dm, nl, vs;
        if (spec_int(s, e, "d_model", &dm) || spec_int(s, e, "n_layer", &nl) || spec_int(s, e, "vocab_size", &vs)) {
            cli_lib_fail(dir);
            goto done;
        }
        snprintf(config, sizeof config,
                 "{\"d_model\": %d, \"n_layer\": %d, \"vocab_size\": %d, \"ssm_cfg\": {\"layer\": \"%s\"}, \"rms_norm\": true, "
                 "\"residual_in_fp32\": true, \"fused_add_norm\": false, \"pad_vocab_size_multiple\": 1, "
                 "\"tie_embeddings\": %s}",
                 dm, nl, vs, strcmp(mixer, "mamba") ? "Mamba2" : "Mamba1", head ? "true" : "false");
    }
    if (!(w = sl_st_writer_new())) {
        cli_fail("out of memory");
        goto done;
    }
    int rc = sl_st_writer_meta(w, "format", formats[fmt]);
    if (!rc) rc = sl_st_writer_meta(w, "model", spec);
    const char *alpha = sl_safetensors_meta(r.ckpt, "alphabet");
    if (!rc && alpha) rc = sl_st_writer_meta(w, "alphabet", alpha);
    if (!rc && *config) rc = sl_st_writer_meta(w, "config", config);
    if (!rc && head) rc = sl_st_writer_meta(w, "tied", "lm_head.weight is a copy of the embedding (the model ties them)");
    for (int i = 0; i < P->n && !rc; i++)
        rc = sl_st_writer_add_ref(w, P->t[i].name, SL_DT_F32, P->t[i].ndim, P->t[i].shape, sl_params_data(P, i));
    if (!rc && head) {
        int ie = sl_params_find(P, emb);
        rc = sl_st_writer_add_ref(w, head, SL_DT_F32, P->t[ie].ndim, P->t[ie].shape, sl_params_data(P, ie));
    }
    if (!rc) rc = sl_st_writer_write(w, out);
    if (rc) {
        cli_lib_fail(out);
        goto done;
    }
    fprintf(stderr, "seqlab export: %s: %d tensors%s, %s layout\n", out, P->n + (head ? 1 : 0),
            head ? " (tied head written as lm_head.weight)" : "", formats[fmt]);
    ret = 0;
done:
    sl_st_writer_free(w);
    sl_spec_free(s);
    run_close(&r);
    return ret;
}
