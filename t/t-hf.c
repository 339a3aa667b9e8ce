/* t/t-hf.c — Hugging Face GPT-2 / Llama checkpoints (seq/hf.c) against the PyTorch
 * implementation of transformers' forward passes (fixtures from t/ref/make_hf_ckpt_fixtures.py):
 * logits in sequence and step mode within 1e-5 (absolute; the logits are at most ~4 in size),
 * GQA, tied and untied heads, sharded files, GPT2Model's unprefixed names; the round trip
 * (write -> read gives bitwise the same parameters, and the written file holds bitwise the
 * fixture's tensors); the tanh GELU's gradients; and every kind of bad input refused by a
 * message that names the problem. */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "core/npy.h"
#include "core/safetensors.h"
#include "lab/registry.h"
#include "seq/hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char srcdir[1024], tmp[256];

static const char *fix(const char *name)
{
    static char buf[4][1400];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/t/data/hf-ckpt/%s", srcdir, name);
    return buf[k];
}

static int32_t *tokens(int *B, int *T)
{
    sl_npy x;
    if (sl_npy_read(fix("tokens.npy"), &x) || x.ndim != 2 || x.dtype != SL_DT_I32) return NULL;
    *B = (int)x.shape[0];
    *T = (int)x.shape[1];
    int32_t *t = malloc(x.numel * sizeof *t);
    memcpy(t, x.data, x.numel * sizeof *t);
    sl_npy_free(&x);
    return t;
}

/* logits of the checkpoint in sequence and step mode against the fixture's */
static void logits_case(const char *name, const char *what)
{
    char ref[256];
    sl_model *m = NULL;
    sl_npy y;
    int B, T;
    int32_t *tok = tokens(&B, &T);
    snprintf(ref, sizeof ref, "%s_logits.npy", name);
    if (!ok(tok && !sl_npy_read(fix(ref), &y), "%s: fixture read", name)) return;
    int rc = sl_hf_load(fix(name), 0, &m);
    if (!ok(rc == 0, "%s (%s): loads", name, what)) {
        diag("%s", sl_errmsg());
        free(tok);
        sl_npy_free(&y);
        return;
    }
    const size_t n = (size_t)B * T * m->d_out;
    float *out = malloc(n * sizeof(float));
    ok(y.numel == n, "%s: the model's vocabulary (%d) is the fixture's", name, m->d_out);
    rc = sl_model_forward(m, NULL, tok, out, B, T);
    double d = rc || y.numel != n ? INFINITY : max_abs_diff(out, y.data, n);
    ok(d <= 1e-5, "%s: sequence-mode logits == transformers' (max abs diff %.2e <= 1e-5)", name, d);
    rc = sl_model_run_steps(m, NULL, tok, out, B, T);
    d = rc || y.numel != n ? INFINITY : max_abs_diff(out, y.data, n);
    ok(d <= 1e-5, "%s: step-mode logits == transformers' (max abs diff %.2e <= 1e-5)", name, d);
    free(out);
    free(tok);
    sl_npy_free(&y);
    sl_model_free(m);
}

/* read -> write -> read: the parameters bitwise equal; the written file holds every tensor of
 * the fixture's files bitwise (under the prefixed name when the fixture has GPT2Model's) */
static void roundtrip_case(const char *name, const char *const *files)
{
    char out[512], path[600];
    sl_model *a = NULL, *b = NULL;
    snprintf(out, sizeof out, "%s/rt-%s", tmp, name);
    int rc = sl_hf_load(fix(name), 0, &a);
    if (!rc) rc = sl_hf_save(a, out);
    if (!rc) rc = sl_hf_load(out, 0, &b);
    if (!ok(rc == 0, "%s: read, write, read again", name)) {
        diag("%s", sl_errmsg());
        sl_model_free(a);
        return;
    }
    int same = a->P->n == b->P->n && a->P->total == b->P->total;
    for (int i = 0; same && i < a->P->n; i++)
        same = !strcmp(a->P->t[i].name, b->P->t[i].name) && a->P->t[i].numel == b->P->t[i].numel &&
               !memcmp(sl_params_data(a->P, i), sl_params_data(b->P, i), a->P->t[i].numel * sizeof(float));
    ok(same, "%s: written and read again: every parameter bitwise equal (%d tensors)", name, a->P->n);
    ok(!strcmp(a->spec, b->spec), "%s: the same model spec after the round trip", name);
    sl_safetensors *w = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    int match = !sl_safetensors_read(path, &w), count = 0;
    for (int f = 0; match && files[f]; f++) {
        sl_safetensors *o = NULL;
        char rel[256];
        snprintf(rel, sizeof rel, "%s/%s", name, files[f]);
        if (sl_safetensors_read(fix(rel), &o)) {
            match = 0;
            break;
        }
        for (size_t i = 0; match && i < o->n; i++) {
            const sl_st_tensor *t = &o->t[i];
            if (strstr(t->name, "attn.bias") || strstr(t->name, "attn.masked_bias")) continue; /* buffers */
            char full[300];
            snprintf(full, sizeof full, "transformer.%s", t->name);
            const sl_st_tensor *u = sl_safetensors_find(w, t->name);
            if (!u) u = sl_safetensors_find(w, full);
            match = u && u->dtype == t->dtype && u->end - u->begin == t->end - t->begin && u->ndim == t->ndim &&
                    !memcmp(u->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) &&
                    !memcmp(w->data + u->begin, o->data + t->begin, t->end - t->begin);
            if (!match) diag("tensor %s differs", t->name);
            count++;
        }
        sl_safetensors_free(o);
    }
    ok(match, "%s: the written model.safetensors holds the fixture's %d tensors bitwise, same names and shapes", name, count);
    sl_safetensors_free(w);
    sl_model_free(a);
    sl_model_free(b);
}

/* ---- bad input: a copy of a fixture with its config.json edited ---------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = calloc(1, 1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    fclose(f);
    s[n] = 0;
    return s;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* tmp/bad-K: fixture `name`'s config.json with `from` replaced by `to` (from NULL: `to` is the
 * whole file), its weight files linked (weights 0: none) */
static const char *bad_dir(const char *name, const char *from, const char *to, int weights)
{
    static char dir[512];
    static int k = 0;
    char path[700], rel[300];
    snprintf(dir, sizeof dir, "%s/bad-%d", tmp, k++);
    if (mkdir(dir, 0755)) return dir;
    snprintf(rel, sizeof rel, "%s/config.json", name);
    char *cfg = slurp(fix(rel)), *text = NULL;
    if (!from) text = strdup(to);
    else if (cfg && strstr(cfg, from)) {
        char *at = strstr(cfg, from);
        text = malloc(strlen(cfg) + strlen(to) + 1);
        sprintf(text, "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
    } else {
        diag("'%s' is not in %s", from, rel);
        text = strdup("");
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    put(path, text);
    free(cfg);
    free(text);
    static const char *const files[] = {"model.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors", NULL};
    for (int i = 0; weights && files[i]; i++) {
        snprintf(rel, sizeof rel, "%s/%s", name, files[i]);
        if (access(fix(rel), F_OK)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (symlink(fix(rel), path)) diag("symlink %s failed", path);
    }
    return dir;
}

/* loading dir fails with `code` and a message containing `want` */
static void refuse(const char *dir, int code, const char *want, const char *what)
{
    sl_model *m = NULL;
    int rc = sl_hf_load(dir, 0, &m);
    const char *msg = sl_errmsg();
    int good = rc == code && m == NULL && strstr(msg, want) != NULL;
    ok(good, "refused: %s", what);
    if (!good) diag("rc %d (want %d), message: %s", rc, code, msg);
    sl_model_free(m);
}

static void bad_inputs(void)
{
    char path[700];
    refuse(bad_dir("gpt2_tied", "\"model_type\": \"gpt2\"", "\"model_type\": \"mistral\"", 1), SL_EUNSUPPORTED,
           "model_type 'mistral' is not supported", "an unsupported model_type, named");
    refuse(bad_dir("gpt2_tied", "\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true", 1),
           SL_EUNSUPPORTED, "scale_attn_by_inverse_layer_idx=true is not supported", "GPT-2 scale_attn_by_inverse_layer_idx");
    refuse(bad_dir("gpt2_tied", "\"scale_attn_weights\": true", "\"scale_attn_weights\": false", 1), SL_EUNSUPPORTED,
           "scale_attn_weights=false", "GPT-2 without scale_attn_weights");
    refuse(bad_dir("gpt2_tied", "\"gelu_new\"", "\"relu\"", 1), SL_EUNSUPPORTED, "activation_function 'relu'",
           "GPT-2 activation_function relu");
    refuse(bad_dir("llama_gqa", "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}", 1),
           SL_EUNSUPPORTED, "rope_scaling (llama3) is not supported", "Llama rope_scaling, named with its type");
    refuse(bad_dir("llama_gqa", "\"attention_bias\": false", "\"attention_bias\": true", 1), SL_EUNSUPPORTED,
           "attention_bias=true", "Llama attention_bias");
    refuse(bad_dir("llama_gqa", "\"mlp_bias\": false", "\"mlp_bias\": true", 1), SL_EUNSUPPORTED, "mlp_bias=true",
           "Llama mlp_bias");
    refuse(bad_dir("llama_gqa", "\"silu\"", "\"gelu\"", 1), SL_EUNSUPPORTED, "hidden_act 'gelu'", "Llama hidden_act gelu");
    refuse(bad_dir("llama_gqa", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 2, \"head_dim\": 16", 1), SL_EUNSUPPORTED,
           "head_dim=16", "Llama head_dim other than hidden_size / heads");
    refuse(bad_dir("llama_gqa", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", 1), SL_EFORMAT,
           "not a multiple of num_key_value_heads=3", "num_key_value_heads not dividing the heads");
    refuse(bad_dir("llama_gqa", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4", 1), SL_ESHAPE,
           "self_attn.k_proj.weight has shape [16, 32]; config.json implies [32, 32]",
           "config's num_key_value_heads disagrees with k_proj's shape");
    refuse(bad_dir("gpt2_tied", "\"n_layer\": 2", "\"n_layer\": 3", 1), SL_ENOTFOUND, "missing tensor h.2.ln_1.weight",
           "config with more layers than the file: the missing tensor named");
    refuse(bad_dir("gpt2_tied", "\"n_layer\": 2", "\"n_layer\": 1", 1), SL_EFORMAT, "tensor h.1.",
           "config with fewer layers than the file: the extra tensor named");
    refuse(bad_dir("gpt2_tied", "\"vocab_size\": 48", "\"vocab_size\": 50", 1), SL_ESHAPE,
           "wte.weight has shape [48, 16]; config.json implies [50, 16]", "vocab_size disagreeing with wte");
    refuse(bad_dir("gpt2_untied", "\"n_inner\": 24", "\"n_inner\": 32", 1), SL_ESHAPE,
           "transformer.h.0.mlp.c_fc.weight has shape [16, 24]; config.json implies [16, 32]",
           "n_inner disagreeing with the Conv1D c_fc weight (in, out)");
    refuse(bad_dir("gpt2_tied", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false", 1), SL_ENOTFOUND,
           "missing tensor lm_head.weight (tie_word_embeddings is false)", "untied config, no head in the file");
    refuse(bad_dir("llama_gqa", "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true", 1), SL_EFORMAT,
           "lm_head.weight differs from the embedding", "tied config, a different head in the file");
    refuse(bad_dir("gpt2_tied", "\"n_embd\": 16", "\"n_embd\": \"16\"", 1), SL_EFORMAT, "n_embd must be an integer",
           "a config value of the wrong type");
    refuse(bad_dir("gpt2_tied", "\"n_head\": 2", "\"n_head\": 3", 1), SL_EFORMAT, "n_embd=16 is not a multiple of n_head=3",
           "n_embd not divisible by n_head");
    refuse(bad_dir("gpt2_tied", NULL, "{\"model_type\": \"gpt2\",", 1), SL_EFORMAT, "config.json",
           "config.json that is not JSON");
    refuse(bad_dir("gpt2_tied", NULL, "{}", 1), SL_EFORMAT, "no model_type", "config.json without model_type");
    refuse(bad_dir("gpt2_tied", "\"n_layer\": 2", "\"n_layer\": 2", 0), SL_ENOTFOUND, "no model.safetensors",
           "a directory without weights");
    snprintf(path, sizeof path, "%s/none", tmp);
    refuse(path, SL_EIO, "config.json", "a directory without config.json");
    /* a truncated weight file: the safetensors reader's message, no crash */
    char *text = slurp(fix("llama_tied/config.json"));
    const char *d = bad_dir("llama_tied", NULL, text ? text : "", 0);
    FILE *f = fopen(fix("llama_tied/model.safetensors"), "rb");
    char *buf = malloc(1 << 16);
    size_t n = f ? fread(buf, 1, 1 << 16, f) : 0;
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    FILE *g = fopen(path, "wb");
    if (g && n > 100) fwrite(buf, 1, n - 100, g);
    if (g) fclose(g);
    free(buf);
    free(text);
    refuse(d, SL_EFORMAT, "model.safetensors", "a truncated model.safetensors");
    /* a shard index naming a shard that does not exist, and one outside the directory */
    text = slurp(fix("llama_gqa/config.json"));
    d = bad_dir("llama_gqa", NULL, text ? text : "", 0);
    free(text);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
    put(path, "{\"weight_map\": {\"model.embed_tokens.weight\": \"model-00009-of-00009.safetensors\"}}");
    refuse(d, SL_EIO, "model-00009-of-00009.safetensors", "a shard index naming a missing shard");
    put(path, "{\"weight_map\": {\"model.embed_tokens.weight\": \"../x.safetensors\"}}");
    refuse(d, SL_EFORMAT, "must name a file in the directory", "a shard index naming a file outside the directory");
}

/* models that have no Hugging Face layout are refused by name when written */
static void save_refusals(void)
{
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=6,pos=rope", "learned positions"},
        {"gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=6,n_kv_head=1", "n_kv_head=1"},
        {"llama:dim=8,n_layers=1,n_heads=2,vocab_size=6,multiple_of=4,max_seq_len=8,bias=1", "bias=1"},
        {"llama:dim=8,n_layers=1,n_heads=2,vocab_size=6,multiple_of=4,max_seq_len=8,kv_lora_rank=4,qk_nope_head_dim=2,"
         "qk_rope_head_dim=2,v_head_dim=3",
         "MLA"},
        {"lm:mixer=lstm,d_model=8,n_layer=1,vocab_size=6", "only gpt and llama"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_model *m = NULL;
        char out[600];
        snprintf(out, sizeof out, "%s/save-%zu", tmp, i);
        if (!ok(sl_model_create(cases[i].spec, 1, &m) == 0, "create %s", cases[i].spec)) continue;
        int rc = sl_hf_save(m, out);
        ok(rc == SL_EUNSUPPORTED && strstr(sl_errmsg(), cases[i].want) && access(out, F_OK) != 0,
           "write refused, naming '%s', nothing written: %s", cases[i].want, cases[i].spec);
        sl_model_free(m);
    }
    /* a gpt without biases is GPT-2 with zero biases: the same logits after the round trip */
    sl_model *m = NULL, *r = NULL;
    char out[600];
    snprintf(out, sizeof out, "%s/save-bias0", tmp);
    const int B = 2, T = 5;
    int32_t tok[10] = {1, 2, 3, 4, 5, 0, 5, 4, 3, 2};
    float y0[10 * 6], y1[10 * 6];
    int rc = sl_model_create("gpt:n_layer=2,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=0,tie=0", 3, &m);
    if (!rc) rc = sl_hf_save(m, out);
    if (!rc) rc = sl_hf_load(out, 0, &r);
    if (!rc) rc = sl_model_forward(m, NULL, tok, y0, B, T);
    if (!rc) rc = sl_model_forward(r, NULL, tok, y1, B, T);
    double d = rc ? INFINITY : max_abs_diff(y0, y1, sizeof y0 / sizeof *y0);
    ok(d == 0.0, "gpt bias=0 tie=0 written as GPT-2 (zero biases) and read back: logits bitwise equal (max diff %.2e)", d);
    if (rc) diag("%s", sl_errmsg());
    sl_model_free(m);
    sl_model_free(r);
}

/* the tanh GELU (GPT-2's gelu_new), which the gpt spec gained for GPT-2: gradients and step mode */
static void gelu_tanh_grads(void)
{
    const char *spec = "gpt:n_layer=2,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=1,gelu=tanh";
    sl_model *m = NULL;
    if (!ok(sl_model_create(spec, 3, &m) == 0, "create %s", spec)) return;
    sl_rng *r = sl_rng_alloc(4);
    for (size_t i = 0; i < m->P->total; i++) m->P->data[i] += (float)sl_rng_normal(r, 0.3);
    sl_rng_free(r);
    const int B = 2, T = 7;
    int32_t tok[14];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 5 + 1) % 6;
    check_model_grads(m, spec, NULL, tok, B, T, 1e-2, 3e-2, 12);
    check_step_equals_seq(m, spec, NULL, tok, B, T, 2e-5);
    sl_model_free(m);
    /* and it is not the erf form: the same weights give other logits with gelu=erf */
    sl_model *a = NULL, *b = NULL;
    float ya[14 * 6], yb[14 * 6];
    int rc = sl_model_create(spec, 5, &a);
    if (!rc) rc = sl_model_create("gpt:n_layer=2,n_head=2,n_embd=8,block_size=8,vocab_size=6,bias=1,gelu=erf", 5, &b);
    if (!rc) {
        for (size_t i = 0; i < a->P->total; i++) a->P->data[i] = b->P->data[i] = a->P->data[i] * 20.0f;
        rc = sl_model_forward(a, NULL, tok, ya, B, T) || sl_model_forward(b, NULL, tok, yb, B, T);
    }
    double d = rc ? 0.0 : max_abs_diff(ya, yb, sizeof ya / sizeof *ya);
    ok(d > 1e-4, "gelu=tanh and gelu=erf differ on the same weights (max diff %.2e)", d);
    sl_model_free(a);
    sl_model_free(b);
}

int main(void)
{
    const char *s = getenv("SL_SRCDIR");
    snprintf(srcdir, sizeof srcdir, "%s", s ? s : ".");
    snprintf(tmp, sizeof tmp, "%s/sl-t-hf.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        skip_all("cannot make a temporary directory");
        return 0;
    }
    logits_case("gpt2_tied", "GPT2Model names, mask buffers, tied head, gelu_new");
    logits_case("gpt2_untied", "untied lm_head, n_inner, gelu (erf)");
    logits_case("llama_gqa", "GQA 4 heads / 2 kv heads, untied, two shards");
    logits_case("llama_tied", "tied head, rope_theta 500000");
    static const char *const one[] = {"model.safetensors", NULL};
    static const char *const two[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", NULL};
    roundtrip_case("gpt2_tied", one);
    roundtrip_case("gpt2_untied", one);
    roundtrip_case("llama_gqa", two);
    roundtrip_case("llama_tied", one);
    bad_inputs();
    save_refusals();
    gelu_tanh_grads();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) diag("could not remove %s", tmp);
    return done_testing();
}
