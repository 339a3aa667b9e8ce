/* src/cmd_forward.c — `seqlab forward`: run a model on an .npy input, write an .npy output.
 * This is how seqlab is compared with PyTorch: weights come by name from safetensors. */
#include "core/error.h"
#include "core/gemv.h"
#include "core/npy.h"
#include "lab/registry.h"
#include "seq/hf.h"
#include "seq/transformer.h"
#include "src/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: seqlab forward --model SPEC [--weights W.safetensors | --seed S] --input X.npy --output Y.npy [--step]\n"
    "       seqlab forward --hf DIR --input X.npy --output Y.npy [--step]\n"
    "  --model SPEC     model spec (seqlab list)\n"
    "  --weights FILE   safetensors with the model's tensors by name (PyTorch state_dict names);\n"
    "                   without it the model is initialised from --seed (default 1)\n"
    "  --hf DIR         a GPT-2 or Llama checkpoint in the Hugging Face layout (config.json and\n"
    "                   model.safetensors or its shards; docs/checkpoints.md) instead of --model\n"
    "  --input X.npy    real input (B,T,D_in) float32/float64, or tokens (B,T) int32/int64\n"
    "  --output Y.npy   written atomically: (B,T,D_out) float32\n"
    "  --step           step mode (one position at a time, explicit state) instead of sequence mode\n"
    "  --threads K      threads\n"
    "Sequence mode runs in inference mode (sl_model_set_inference): models that support it keep\n"
    "no caches for a backward pass (docs/decoding.md lists them); the outputs are the same.\n";

/* state_dict entries that are buffers, not parameters, and tied heads */
static const char *const IGNORE[] = {".attn.bias", ".attn.masked_bias", "lm_head.weight", NULL};
static const char *const ALIAS[] = {"lm_head.weight", "transformer.wte.weight", "lm_head.weight", "backbone.embedding.weight",
                                    NULL};

void sl_threads_set(int k);

int cmd_forward(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"weights", 1, 0, 'w'}, {"seed", 1, 0, 's'},    {"input", 1, 0, 'i'}, {"output", 1, 0, 'o'},
        {"step", 0, 0, 'S'},  {"hf", 1, 0, 'H'},      {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    const char *spec = NULL, *weights = NULL, *in = NULL, *outp = NULL, *hf = NULL;
    long seed = 1, threads = 0;
    int step = 0, o, have_seed = 0;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(USAGE, stdout); return 0;
        case 'm': spec = optarg; break;
        case 'w': weights = optarg; break;
        case 's':
            if (!cli_int(USAGE, "--seed", optarg, 0, 1L << 62, &seed)) return 2;
            have_seed = 1;
            break;
        case 'i': in = optarg; break;
        case 'o': outp = optarg; break;
        case 'S': step = 1; break;
        case 'H': hf = optarg; break;
        case 't':
            if (!cli_int(USAGE, "--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        default: return cli_bad_option(USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
    if (hf && (spec || weights || have_seed))
        return cli_usage(USAGE, "--hf gives the model and its weights: no --model, --weights or --seed");
    if ((!spec && !hf) || !in || !outp) return cli_usage(USAGE, "--model (or --hf), --input and --output are required");
    if (weights && have_seed) return cli_usage(USAGE, "give --weights or --seed, not both");
    sl_threads_set((int)threads);
    sl_model *m = NULL;
    sl_npy x = {0};
    float *xf = NULL, *y = NULL;
    const float *xin = NULL; /* xf, or the .npy's own float32 data (no copy) */
    int32_t *tok = NULL;
    int ret = 1;
    if (hf) {
        /* the input first: a RoPE model is built for its length (a Llama's
         * max_position_embeddings may be far more than the input needs) */
        if (sl_npy_read(in, &x)) {
            cli_lib_fail("--input");
            goto done;
        }
        if (sl_hf_load(hf, x.ndim == 2 && x.shape[1] > 0 && x.shape[1] < (1 << 24) ? (int)x.shape[1] : 0, &m)) {
            cli_lib_fail("--hf");
            goto done;
        }
    } else {
        int rc0 = sl_model_create(spec, (uint64_t)seed, &m);
        if (rc0) return cli_spec_fail(rc0, "--model");
    }
    /* transformers know their own naming styles (nanoGPT, llama2.c) and tie rules */
    if (weights && (sl_transformer_is(m) ? sl_transformer_load(m, weights) : sl_params_load(m->P, weights, IGNORE, ALIAS))) {
        cli_lib_fail("--weights");
        goto done;
    }
    if (!x.data && sl_npy_read(in, &x)) {
        cli_lib_fail("--input");
        goto done;
    }
    int token = (m->caps & SL_CAP_TOKEN_IN) != 0;
    int B, T;
    if (token) {
        if (x.ndim != 2 || (x.dtype != SL_DT_I32 && x.dtype != SL_DT_I64)) {
            cli_fail("%s: model %s takes tokens: expected an int32/int64 array of shape (B, T)", in, m->vt->kind);
            goto done;
        }
        B = (int)x.shape[0];
        T = (int)x.shape[1];
        tok = malloc(x.numel * sizeof(int32_t) + 1);
        for (size_t i = 0; i < x.numel; i++) {
            int64_t v = x.dtype == SL_DT_I32 ? ((int32_t *)x.data)[i] : ((int64_t *)x.data)[i];
            if (v < 0 || v >= m->d_in) {
                cli_fail("%s: token %lld at index %zu is outside [0, %d)", in, (long long)v, i, m->d_in);
                goto done;
            }
            tok[i] = (int32_t)v;
        }
    } else {
        if (x.ndim != 3 || x.shape[2] != m->d_in || (x.dtype != SL_DT_F32 && x.dtype != SL_DT_F64)) {
            cli_fail("%s: model %s takes real input: expected a float32/float64 array of shape (B, T, %d)", in, m->vt->kind,
                     m->d_in);
            goto done;
        }
        B = (int)x.shape[0];
        T = (int)x.shape[1];
        if (x.dtype == SL_DT_F32) {
            size_t bad = 0; /* the message of sl_dtype_to_f32's check */
            if (!sl_all_finite(x.data, x.numel, &bad)) {
                cli_fail("%s: non-finite value (%s) at element %zu", in, isnan(((const float *)x.data)[bad]) ? "nan" : "inf",
                         bad);
                goto done;
            }
            xin = x.data;
        } else {
            xf = malloc(x.numel * sizeof(float) + 1);
            if (!xf) {
                cli_fail("out of memory");
                goto done;
            }
            if (sl_dtype_to_f32(x.dtype, x.data, xf, x.numel, 1)) {
                cli_lib_fail(in);
                goto done;
            }
            xin = xf;
        }
    }
    if (B <= 0 || T <= 0) {
        cli_fail("%s: empty batch (B=%d, T=%d)", in, B, T);
        goto done;
    }
    y = malloc((size_t)B * T * m->d_out * sizeof(float));
    if (!y) {
        cli_fail("out of memory");
        goto done;
    }
    if (!step) sl_model_set_inference(m, 1); /* no backward follows */
    int rc = step ? sl_model_run_steps(m, xin, tok, y, B, T) : sl_model_forward(m, xin, tok, y, B, T);
    if (rc) {
        cli_lib_fail(step ? "step mode" : "forward");
        goto done;
    }
    for (size_t i = 0; i < (size_t)B * T * m->d_out; i++)
        if (!isfinite(y[i])) {
            cli_fail("the output has a non-finite value at index %zu; nothing written", i);
            goto done;
        }
    int64_t shape[3] = {B, T, m->d_out};
    if (sl_npy_write(outp, SL_DT_F32, 3, shape, y)) {
        cli_lib_fail("--output");
        goto done;
    }
    ret = 0;
done:
    free(xf);
    free(tok);
    free(y);
    sl_npy_free(&x);
    sl_model_free(m);
    return ret;
}
