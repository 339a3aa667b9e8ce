/* seq/hf.c — GPT-2 and Llama checkpoints in the Hugging Face layout (see hf.h). */
#include "seq/hf.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/params.h"
#include "core/safetensors.h"
#include "seq/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX (1 << 20) /* config.json and the shard index are small */

/* ---- config.json ------------------------------------------------------------------------ */

/* An integer key in [lo, hi]; absent or null gives def. */
static int cj_int(const sl_json *o, const char *path, const char *key, int64_t lo, int64_t hi, int64_t def, int *out)
{
    const sl_json *j = sl_json_get(o, key);
    int64_t v = def;
    if (j && j->type != SL_JSON_NULL && (j->type != SL_JSON_NUMBER || sl_json_int(j, lo, hi, &v)))
        return sl_error(SL_EFORMAT, "'%s': %s must be an integer in [%lld, %lld]", path, key, (long long)lo, (long long)hi);
    *out = (int)v;
    return SL_OK;
}

/* A positive number below hi; absent gives def. */
static int cj_pos(const sl_json *o, const char *path, const char *key, double hi, double def, float *out)
{
    const sl_json *j = sl_json_get(o, key);
    double v = def;
    if (j) {
        if (j->type != SL_JSON_NUMBER || !(j->number > 0.0 && j->number <= hi))
            return sl_error(SL_EFORMAT, "'%s': %s must be a number in (0, %g]", path, key, hi);
        v = j->number;
    }
    *out = (float)v;
    return SL_OK;
}

static int cj_bool(const sl_json *o, const char *path, const char *key, int def, int *out)
{
    const sl_json *j = sl_json_get(o, key);
    if (j && j->type != SL_JSON_BOOL) return sl_error(SL_EFORMAT, "'%s': %s must be true or false", path, key);
    *out = j ? j->boolean : def;
    return SL_OK;
}

static int cj_str(const sl_json *o, const char *path, const char *key, const char *def, const char **out)
{
    const sl_json *j = sl_json_get(o, key);
    if (j && j->type != SL_JSON_STRING) return sl_error(SL_EFORMAT, "'%s': %s must be a string", path, key);
    *out = j ? j->str : def;
    return SL_OK;
}

/* A boolean option seqlab's model does not have: refused by name when set to `bad`. */
static int cj_refuse_bool(const sl_json *o, const char *path, const char *key, int def, int bad, const char *why)
{
    int v = def, rc = cj_bool(o, path, key, def, &v);
    if (rc) return rc;
    if (v == bad) return sl_error(SL_EUNSUPPORTED, "'%s': %s=%s is not supported: %s", path, key, bad ? "true" : "false", why);
    return SL_OK;
}

/* GPT2Config: defaults of transformers' GPT2Config for absent keys */
static int read_gpt2(const sl_json *o, const char *path, sl_transformer_config *c)
{
    int rc, n_inner;
    const char *act = NULL;
    sl_gpt_config_default(c);
    c->bias = 1;
    c->flash = 1;
    if ((rc = cj_int(o, path, "vocab_size", 1, 1 << 24, 50257, &c->vocab_size)) ||
        (rc = cj_int(o, path, "n_positions", 1, 1 << 24, 1024, &c->max_seq_len)) ||
        (rc = cj_int(o, path, "n_embd", 1, 1 << 16, 768, &c->d_model)) ||
        (rc = cj_int(o, path, "n_layer", 0, 1024, 12, &c->n_layer)) ||
        (rc = cj_int(o, path, "n_head", 1, 4096, 12, &c->n_head)) || (rc = cj_int(o, path, "n_inner", 1, 1 << 20, 0, &n_inner)) ||
        (rc = cj_pos(o, path, "layer_norm_epsilon", 1.0, 1e-5, &c->norm_eps)) ||
        (rc = cj_bool(o, path, "tie_word_embeddings", 1, &c->tie)) ||
        (rc = cj_str(o, path, "activation_function", "gelu_new", &act)))
        return rc;
    c->hidden_dim = n_inner ? n_inner : 4 * c->d_model;
    /* gelu_new, gelu_pytorch_tanh and gelu_fast are one formula, the tanh form; gelu is erf */
    if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast")) c->gelu_tanh = 1;
    else if (!strcmp(act, "gelu")) c->gelu_tanh = 0;
    else
        return sl_error(SL_EUNSUPPORTED,
                        "'%s': activation_function '%s' is not supported (gelu_new, gelu_pytorch_tanh, "
                        "gelu_fast or gelu)",
                        path, act);
    if (c->d_model % c->n_head)
        return sl_error(SL_EFORMAT, "'%s': n_embd=%d is not a multiple of n_head=%d", path, c->d_model, c->n_head);
    if ((rc = cj_refuse_bool(o, path, "scale_attn_weights", 1, 0, "seqlab's attention always scales by 1/sqrt(head_dim)")) ||
        (rc = cj_refuse_bool(o, path, "scale_attn_by_inverse_layer_idx", 0, 1,
                             "seqlab's attention has no 1/(layer+1) scaling of the scores")) ||
        (rc = cj_refuse_bool(o, path, "add_cross_attention", 0, 1, "seqlab's gpt is a decoder without cross-attention")))
        return rc;
    return SL_OK;
}

/* LlamaConfig: defaults of transformers' LlamaConfig for absent keys */
static int read_llama(const sl_json *o, const char *path, sl_transformer_config *c)
{
    int rc, n_kv, head_dim;
    const char *act = NULL;
    sl_llama_config_default(c);
    c->flash = 1;
    if ((rc = cj_int(o, path, "vocab_size", 1, 1 << 24, 32000, &c->vocab_size)) ||
        (rc = cj_int(o, path, "hidden_size", 1, 1 << 16, 4096, &c->d_model)) ||
        (rc = cj_int(o, path, "intermediate_size", 1, 1 << 20, 11008, &c->hidden_dim)) ||
        (rc = cj_int(o, path, "num_hidden_layers", 0, 1024, 32, &c->n_layer)) ||
        (rc = cj_int(o, path, "num_attention_heads", 1, 4096, 32, &c->n_head)) ||
        (rc = cj_int(o, path, "num_key_value_heads", 1, 4096, 0, &n_kv)) ||
        (rc = cj_int(o, path, "max_position_embeddings", 1, 1 << 24, 2048, &c->max_seq_len)) ||
        (rc = cj_int(o, path, "head_dim", 1, 1 << 16, 0, &head_dim)) ||
        (rc = cj_pos(o, path, "rms_norm_eps", 1.0, 1e-6, &c->norm_eps)) ||
        (rc = cj_pos(o, path, "rope_theta", 1e9, 10000.0, &c->rope_theta)) ||
        (rc = cj_bool(o, path, "tie_word_embeddings", 0, &c->tie)) || (rc = cj_str(o, path, "hidden_act", "silu", &act)))
        return rc;
    if (strcmp(act, "silu"))
        return sl_error(SL_EUNSUPPORTED, "'%s': hidden_act '%s' is not supported (silu: seqlab's SwiGLU)", path, act);
    if (c->d_model % c->n_head)
        return sl_error(SL_EFORMAT, "'%s': hidden_size=%d is not a multiple of num_attention_heads=%d", path, c->d_model,
                        c->n_head);
    const int hd = c->d_model / c->n_head;
    if (head_dim && head_dim != hd)
        return sl_error(SL_EUNSUPPORTED,
                        "'%s': head_dim=%d is not supported (seqlab's llama has head_dim = hidden_size / "
                        "num_attention_heads = %d)",
                        path, head_dim, hd);
    if (hd % 2) return sl_error(SL_EFORMAT, "'%s': RoPE needs an even head dimension, not %d", path, hd);
    c->n_kv_head = n_kv ? n_kv : c->n_head;
    if (c->n_head % c->n_kv_head)
        return sl_error(SL_EFORMAT, "'%s': num_attention_heads=%d is not a multiple of num_key_value_heads=%d", path, c->n_head,
                        c->n_kv_head);
    const sl_json *rs = sl_json_get(o, "rope_scaling");
    if (rs && rs->type != SL_JSON_NULL) {
        const sl_json *ty = sl_json_get(rs, "rope_type");
        if (!ty) ty = sl_json_get(rs, "type");
        return sl_error(SL_EUNSUPPORTED,
                        "'%s': rope_scaling%s%s%s is not supported (seqlab's RoPE is unscaled; "
                        "rope_scaling must be null)",
                        path, ty && ty->type == SL_JSON_STRING ? " (" : "", ty && ty->type == SL_JSON_STRING ? ty->str : "",
                        ty && ty->type == SL_JSON_STRING ? ")" : "");
    }
    if ((rc = cj_refuse_bool(o, path, "attention_bias", 0, 1, "seqlab's llama has no biases in q/k/v/o_proj")) ||
        (rc = cj_refuse_bool(o, path, "mlp_bias", 0, 1, "seqlab's llama has no biases in its MLP")))
        return rc;
    return SL_OK;
}

int sl_hf_config_read(const char *dir, sl_hf_config *cfg)
{
    char path[4096];
    void *buf = NULL;
    size_t n = 0;
    sl_json *j = NULL;
    memset(cfg, 0, sizeof *cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = sl_read_file(path, CONFIG_MAX, &buf, &n);
    if (rc) return rc;
    if ((rc = sl_json_parse(buf, n, &j))) {
        sl_error_wrap(rc, "'%s'", path);
        goto done;
    }
    if (j->type != SL_JSON_OBJECT) {
        rc = sl_error(SL_EFORMAT, "'%s': not a JSON object", path);
        goto done;
    }
    /* model_type names the architecture; older files name it only in architectures[0] */
    const char *type = NULL;
    const sl_json *mt = sl_json_get(j, "model_type"), *ar = sl_json_get(j, "architectures");
    if (mt && mt->type == SL_JSON_STRING) type = mt->str;
    else if (ar && ar->type == SL_JSON_ARRAY && ar->n > 0 && ar->items[0]->type == SL_JSON_STRING) {
        const char *a = ar->items[0]->str;
        type = !strcmp(a, "GPT2LMHeadModel") || !strcmp(a, "GPT2Model")     ? "gpt2"
               : !strcmp(a, "LlamaForCausalLM") || !strcmp(a, "LlamaModel") ? "llama"
                                                                            : a;
    }
    if (!type) {
        rc = sl_error(SL_EFORMAT, "'%s': no model_type (gpt2 or llama)", path);
        goto done;
    }
    if (!strcmp(type, "gpt2")) {
        cfg->arch = SL_HF_GPT2;
        rc = read_gpt2(j, path, &cfg->c);
    } else if (!strcmp(type, "llama")) {
        cfg->arch = SL_HF_LLAMA;
        rc = read_llama(j, path, &cfg->c);
    } else {
        rc = sl_error(SL_EUNSUPPORTED, "'%s': model_type '%s' is not supported (gpt2 or llama)", path, type);
    }
done:
    sl_json_free(j);
    free(buf);
    return rc;
}

char *sl_hf_spec(const sl_hf_config *cfg)
{
    return cfg->arch == SL_HF_GPT2 ? sl_spec_canonical("gpt", sl_gpt_keys, &cfg->c)
                                   : sl_spec_canonical("llama", sl_llama_keys, &cfg->c);
}

/* ---- names and layouts ------------------------------------------------------------------ */

enum { XF_COPY, XF_TRANSPOSE, XF_ROPE };

/* Llama: llama2.c's name (after layers.{l}.) -> HF's */
static const char *const LLAMA_NAMES[][2] = {
    {"attention_norm.weight", "input_layernorm.weight"}, {"attention.wq.weight", "self_attn.q_proj.weight"},
    {"attention.wk.weight", "self_attn.k_proj.weight"},  {"attention.wv.weight", "self_attn.v_proj.weight"},
    {"attention.wo.weight", "self_attn.o_proj.weight"},  {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"feed_forward.w1.weight", "mlp.gate_proj.weight"},  {"feed_forward.w2.weight", "mlp.down_proj.weight"},
    {"feed_forward.w3.weight", "mlp.up_proj.weight"},
};

/* The HF name of seqlab tensor `name` (bare: without the transformer. / model. prefix, as
 * GPT2Model / LlamaModel save), its layout change and, for XF_ROPE, its heads. */
static int hf_name(const sl_transformer_config *c, int arch, const char *name, int bare, char *out, size_t cap, int *xf,
                   int *heads)
{
    *xf = XF_COPY;
    *heads = 0;
    if (arch == SL_HF_GPT2) {
        const char *p = "transformer.";
        if (strncmp(name, p, strlen(p))) { /* lm_head.weight */
            snprintf(out, cap, "%s", name);
            return SL_OK;
        }
        snprintf(out, cap, "%s", bare ? name + strlen(p) : name);
        /* every 2-D tensor of a block is a Conv1D weight, stored (in, out) */
        if (!strncmp(name, "transformer.h.", 14) && strstr(name, ".weight") && !strstr(name, ".ln_")) *xf = XF_TRANSPOSE;
        return SL_OK;
    }
    const char *pre = bare ? "" : "model.";
    int l, k;
    if (!strcmp(name, "tok_embeddings.weight")) snprintf(out, cap, "%sembed_tokens.weight", pre);
    else if (!strcmp(name, "norm.weight")) snprintf(out, cap, "%snorm.weight", pre);
    else if (!strcmp(name, "output.weight")) snprintf(out, cap, "lm_head.weight");
    else if (sscanf(name, "layers.%d.%n", &l, &k) == 1 && k > 0) {
        const char *rest = name + k;
        size_t i;
        for (i = 0; i < sizeof LLAMA_NAMES / sizeof *LLAMA_NAMES; i++)
            if (!strcmp(rest, LLAMA_NAMES[i][0])) break;
        if (i == sizeof LLAMA_NAMES / sizeof *LLAMA_NAMES) return sl_error(SL_EUNSUPPORTED, "hf: no Llama name for %s", name);
        snprintf(out, cap, "%slayers.%d.%s", pre, l, LLAMA_NAMES[i][1]);
        if (i == 1 || i == 2) {
            *xf = XF_ROPE;
            *heads = i == 1 ? c->n_head : (c->n_kv_head ? c->n_kv_head : c->n_head);
        }
    } else return sl_error(SL_EUNSUPPORTED, "hf: no Llama name for %s", name);
    return SL_OK;
}

/* src (R, C) -> dst (C, R) */
static void transpose(float *dst, const float *src, size_t R, size_t C)
{
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++) dst[c * R + r] = src[r * C + c];
}

/* Rows of H heads of hd rows, C columns each, between Meta's order (RoPE pairs (2j, 2j+1)) and
 * HF's (pairs (j, j + hd/2)): HF row h*hd + s*hd/2 + j is Meta row h*hd + 2j + s. */
static void rope_rows(float *dst, const float *src, int H, int hd, size_t C, int to_hf)
{
    for (int h = 0; h < H; h++)
        for (int s = 0; s < 2; s++)
            for (int j = 0; j < hd / 2; j++) {
                const size_t rh = (size_t)h * hd + (size_t)s * (hd / 2) + j, rm = (size_t)h * hd + 2 * (size_t)j + s;
                memcpy(dst + (to_hf ? rh : rm) * C, src + (to_hf ? rm : rh) * C, C * sizeof(float));
            }
}

/* seqlab layout <-> HF layout of one tensor of seqlab shape (d0, d1) */
static void relayout(float *dst, const float *src, int xf, int heads, const int64_t *shape, int to_hf)
{
    const size_t d0 = (size_t)shape[0], d1 = (size_t)shape[1];
    if (xf == XF_TRANSPOSE) {
        if (to_hf) transpose(dst, src, d0, d1); /* (out, in) -> (in, out) */
        else transpose(dst, src, d1, d0);
    } else if (xf == XF_ROPE) {
        rope_rows(dst, src, heads, (int)(d0 / heads), d1, to_hf);
    }
}

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct {
    int n;                /* files */
    char **path;          /* (n) */
    sl_safetensors **st;  /* (n) */
    unsigned char **used; /* (n) per tensor: read into the model (or a known buffer) */
} hf_files;

static void files_free(hf_files *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->path[i]);
        sl_safetensors_free(f->st[i]);
        free(f->used[i]);
    }
    free(f->path);
    free(f->st);
    free(f->used);
    memset(f, 0, sizeof *f);
}

static int files_add(hf_files *f, const char *path)
{
    char **p = realloc(f->path, (f->n + 1) * sizeof *p);
    if (p) f->path = p;
    sl_safetensors **s = realloc(f->st, (f->n + 1) * sizeof *s);
    if (s) f->st = s;
    unsigned char **u = realloc(f->used, (f->n + 1) * sizeof *u);
    if (u) f->used = u;
    if (!p || !s || !u) return sl_error(SL_ENOMEM, "out of memory");
    f->path[f->n] = strdup(path);
    f->st[f->n] = NULL;
    f->used[f->n] = NULL;
    f->n++;
    if (!f->path[f->n - 1]) return sl_error(SL_ENOMEM, "out of memory");
    int rc = sl_safetensors_read(path, &f->st[f->n - 1]);
    if (rc) return rc;
    if (!(f->used[f->n - 1] = calloc(f->st[f->n - 1]->n + 1, 1))) return sl_error(SL_ENOMEM, "out of memory");
    return SL_OK;
}

/* model.safetensors, or model.safetensors.index.json and the shards its weight_map names */
static int files_open(const char *dir, hf_files *f)
{
    char path[4096], idx[4096];
    struct stat sb;
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (stat(path, &sb) == 0) return files_add(f, path);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    if (stat(idx, &sb) != 0)
        return sl_error(SL_ENOTFOUND,
                        "'%s': no model.safetensors or model.safetensors.index.json (pytorch_model.bin is not "
                        "read: save with safe_serialization=True)",
                        dir);
    void *buf = NULL;
    size_t n = 0;
    sl_json *j = NULL;
    int rc = sl_read_file(idx, CONFIG_MAX * 16, &buf, &n);
    if (!rc && (rc = sl_json_parse(buf, n, &j))) sl_error_wrap(rc, "'%s'", idx);
    const sl_json *wm = rc ? NULL : sl_json_get(j, "weight_map");
    if (!rc && (!wm || wm->type != SL_JSON_OBJECT || wm->n == 0)) rc = sl_error(SL_EFORMAT, "'%s': no weight_map object", idx);
    for (size_t i = 0; !rc && i < wm->n; i++) {
        const sl_json *v = wm->items[i];
        if (v->type != SL_JSON_STRING || !*v->str || strchr(v->str, '/') || v->str[0] == '.') {
            rc = sl_error(SL_EFORMAT, "'%s': weight_map[\"%s\"] must name a file in the directory", idx, wm->keys[i]);
            break;
        }
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++) seen = !strcmp(wm->items[k]->str, v->str);
        if (seen) continue;
        snprintf(path, sizeof path, "%s/%s", dir, v->str);
        rc = files_add(f, path);
    }
    /* the index and the shards must agree */
    for (size_t i = 0; !rc && i < wm->n; i++) {
        int k = 0;
        while (k < f->n && strcmp(strrchr(f->path[k], '/') + 1, wm->items[i]->str)) k++;
        if (k == f->n || !sl_safetensors_find(f->st[k], wm->keys[i]))
            rc = sl_error(SL_EFORMAT, "'%s': weight_map puts %s in %s, which has no such tensor", idx, wm->keys[i],
                          wm->items[i]->str);
    }
    sl_json_free(j);
    free(buf);
    return rc;
}

/* the tensor `name` of any file, marked used; NULL when absent */
static const sl_st_tensor *files_find(hf_files *f, const char *name, int *which)
{
    for (int i = 0; i < f->n; i++) {
        const sl_st_tensor *t = sl_safetensors_find(f->st[i], name);
        if (t) {
            f->used[i][t - f->st[i]->t] = 1;
            *which = i;
            return t;
        }
    }
    return NULL;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* tensor t of file i into dst (n floats) with the layout change; buf holds n floats */
static int read_tensor(hf_files *f, int i, const sl_st_tensor *t, float *dst, float *buf, int xf, int heads, const int64_t *shape,
                       size_t n)
{
    int rc = sl_safetensors_get_f32(f->st[i], t, xf == XF_COPY ? dst : buf, n);
    if (rc) return sl_error_wrap(rc, "'%s': %s", f->path[i], t->name);
    if (xf != XF_COPY) relayout(dst, buf, xf, heads, shape, 0);
    return SL_OK;
}

static int load_weights(sl_model *m, const sl_hf_config *cfg, const char *dir)
{
    sl_params *P = m->P;
    hf_files f;
    float *buf = NULL;
    char name[SL_NAME_MAX + 16];
    int rc = files_open(dir, &f), which, xf, heads;
    if (rc) goto done;
    size_t most = 0;
    for (int i = 0; i < P->n; i++)
        if (P->t[i].numel > most) most = P->t[i].numel;
    if (!(buf = malloc((most ? most : 1) * sizeof(float)))) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    /* bare names when the embedding is there without the model's prefix */
    const int gpt = cfg->arch == SL_HF_GPT2;
    int bare = 0;
    if (!files_find(&f, gpt ? "transformer.wte.weight" : "model.embed_tokens.weight", &which))
        bare = files_find(&f, gpt ? "wte.weight" : "embed_tokens.weight", &which) != NULL;
    for (int i = 0; i < P->n; i++) {
        const sl_tensor *pt = &P->t[i];
        if ((rc = hf_name(&cfg->c, cfg->arch, pt->name, bare, name, sizeof name, &xf, &heads))) goto done;
        const sl_st_tensor *t = files_find(&f, name, &which);
        if (!t) {
            rc = sl_error(SL_ENOTFOUND, "'%s': missing tensor %s%s", dir, name,
                          !strcmp(name, "lm_head.weight") ? " (tie_word_embeddings is false)" : "");
            goto done;
        }
        /* the file's shape: (in, out) for Conv1D weights */
        int ok = t->ndim == pt->ndim;
        for (int d = 0; ok && d < pt->ndim; d++) ok = t->shape[d] == pt->shape[xf == XF_TRANSPOSE ? pt->ndim - 1 - d : d];
        if (!ok) {
            char got[96] = "", want[96] = "";
            for (int d = 0; d < t->ndim && d < 4; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            for (int d = 0; d < pt->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? ", " : "",
                         (long long)pt->shape[xf == XF_TRANSPOSE ? pt->ndim - 1 - d : d]);
            rc = sl_error(SL_ESHAPE, "'%s': %s has shape [%s]; config.json implies [%s]", f.path[which], name, got, want);
            goto done;
        }
        if ((rc = read_tensor(&f, which, t, sl_params_data(P, i), buf, xf, heads, pt->shape, pt->numel))) goto done;
    }
    /* a tied model: a head in the file must be the embedding */
    if (cfg->c.tie) {
        const sl_st_tensor *t = files_find(&f, "lm_head.weight", &which);
        int ie = sl_params_find(P, gpt ? "transformer.wte.weight" : "tok_embeddings.weight");
        if (t && ie >= 0) {
            const size_t n = P->t[ie].numel;
            if (t->numel != n) {
                rc = sl_error(SL_ESHAPE, "'%s': lm_head.weight has %zu values, the embedding %zu", f.path[which], t->numel, n);
                goto done;
            }
            if ((rc = read_tensor(&f, which, t, buf, NULL, XF_COPY, 0, NULL, n))) goto done;
            if (memcmp(buf, sl_params_data(P, ie), n * sizeof(float))) {
                rc = sl_error(SL_EFORMAT,
                              "'%s': lm_head.weight differs from the embedding, but config.json ties them "
                              "(tie_word_embeddings is true)",
                              f.path[which]);
                goto done;
            }
        }
    }
    /* every other tensor of the files is a disagreement with config.json (buffers excepted) */
    for (int k = 0; k < f.n; k++)
        for (size_t i = 0; i < f.st[k]->n; i++) {
            const char *nm = f.st[k]->t[i].name;
            if (f.used[k][i] || ends_with(nm, ".attn.bias") || ends_with(nm, ".attn.masked_bias") ||
                ends_with(nm, "rotary_emb.inv_freq"))
                continue;
            rc = sl_error(SL_EFORMAT, "'%s': tensor %s is not part of the model config.json describes (%s: %d layers%s)",
                          f.path[k], nm, gpt ? "gpt2" : "llama", cfg->c.n_layer, cfg->c.tie ? ", tied head" : "");
            goto done;
        }
done:
    free(buf);
    files_free(&f);
    return rc;
}

int sl_hf_load(const char *dir, int max_ctx, sl_model **out)
{
    sl_hf_config cfg;
    sl_model *m = NULL;
    sl_params *P = NULL;
    *out = NULL;
    int rc = sl_hf_config_read(dir, &cfg);
    if (rc) return rc;
    if (max_ctx > 0 && cfg.c.pos == SL_POS_ROPE && max_ctx < cfg.c.max_seq_len) cfg.c.max_seq_len = max_ctx;
    if (!(P = sl_params_new())) return sl_error(SL_ENOMEM, "out of memory");
    if ((rc = sl_transformer_create(&cfg.c, P, "", &m))) {
        sl_params_free(P);
        return sl_error_wrap(rc, "'%s/config.json'", dir);
    }
    m->P = P;
    m->owns_params = 1;
    if ((rc = sl_params_alloc(P)) || (rc = load_weights(m, &cfg, dir))) goto fail;
    free(m->spec);
    if (!(m->spec = sl_hf_spec(&cfg))) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto fail;
    }
    *out = m;
    return SL_OK;
fail:
    sl_model_free(m);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------- */

int sl_hf_arch_of(const sl_model *m)
{
    const sl_transformer_config *c = sl_transformer_config_of(m);
    if (!c) return sl_error(SL_EUNSUPPORTED, "hf: only gpt and llama models have a Hugging Face layout");
    const char *k = c->style == SL_TF_GPT ? "gpt" : "llama";
    if (c->kv_lora_rank > 0) return sl_error(SL_EUNSUPPORTED, "hf: %s with MLA (kv_lora_rank) has no GPT-2 / Llama layout", k);
    if (c->style == SL_TF_GPT) {
        if (c->pos != SL_POS_LEARNED)
            return sl_error(SL_EUNSUPPORTED, "hf: GPT-2 has learned positions (the gpt has another pos=)");
        if (c->rmsnorm) return sl_error(SL_EUNSUPPORTED, "hf: GPT-2 has LayerNorm (the gpt has norm=rmsnorm)");
        if (c->swiglu) return sl_error(SL_EUNSUPPORTED, "hf: GPT-2 has a GELU MLP (the gpt has mlp=swiglu)");
        if (c->n_kv_head && c->n_kv_head != c->n_head)
            return sl_error(SL_EUNSUPPORTED, "hf: GPT-2 has one key/value head per query head (the gpt has n_kv_head=%d)",
                            c->n_kv_head);
        return SL_HF_GPT2;
    }
    if (c->pos != SL_POS_ROPE) return sl_error(SL_EUNSUPPORTED, "hf: Llama has RoPE (the llama has another pos=)");
    if (!c->rmsnorm) return sl_error(SL_EUNSUPPORTED, "hf: Llama has RMSNorm (the llama has norm=layernorm)");
    if (!c->swiglu) return sl_error(SL_EUNSUPPORTED, "hf: Llama has a SwiGLU MLP (the llama has mlp=gelu)");
    if (c->bias) return sl_error(SL_EUNSUPPORTED, "hf: Llama has no biases (the llama has bias=1)");
    return SL_HF_LLAMA;
}

/* the shortest decimal that reads back as the same float */
static void fmt_float(char *buf, size_t cap, float v)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, cap, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

static int config_json(const sl_transformer_config *c, int arch, char *buf, size_t cap)
{
    char eps[32], theta[32], drop[32];
    fmt_float(eps, sizeof eps, c->norm_eps);
    fmt_float(theta, sizeof theta, c->rope_theta);
    fmt_float(drop, sizeof drop, c->dropout);
    const char *tie = c->tie ? "true" : "false";
    int n;
    if (arch == SL_HF_GPT2)
        n = snprintf(buf, cap,
                     "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n  \"vocab_size\": %d,\n"
                     "  \"n_positions\": %d,\n  \"n_ctx\": %d,\n  \"n_embd\": %d,\n  \"n_layer\": %d,\n  \"n_head\": %d,\n"
                     "  \"n_inner\": %d,\n  \"activation_function\": \"%s\",\n  \"layer_norm_epsilon\": %s,\n"
                     "  \"resid_pdrop\": %s,\n  \"embd_pdrop\": %s,\n  \"attn_pdrop\": %s,\n  \"scale_attn_weights\": true,\n"
                     "  \"scale_attn_by_inverse_layer_idx\": false,\n  \"reorder_and_upcast_attn\": false,\n"
                     "  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"float32\"\n}\n",
                     c->vocab_size, c->max_seq_len, c->max_seq_len, c->d_model, c->n_layer, c->n_head, c->hidden_dim,
                     c->gelu_tanh ? "gelu_new" : "gelu", eps, drop, drop, drop, tie);
    else
        n = snprintf(buf, cap,
                     "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n  \"vocab_size\": %d,\n"
                     "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                     "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"head_dim\": %d,\n"
                     "  \"hidden_act\": \"silu\",\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %s,\n"
                     "  \"rope_theta\": %s,\n  \"rope_scaling\": null,\n  \"attention_bias\": false,\n  \"mlp_bias\": false,\n"
                     "  \"attention_dropout\": %s,\n  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"float32\"\n}\n",
                     c->vocab_size, c->d_model, c->hidden_dim, c->n_layer, c->n_head, c->n_kv_head ? c->n_kv_head : c->n_head,
                     c->d_model / c->n_head, c->max_seq_len, eps, theta, drop, tie);
    if (n < 0 || (size_t)n >= cap) return sl_error(SL_EINVAL, "hf: config.json too long");
    return SL_OK;
}

/* GPT-2 always has biases: the bias a gpt with bias=0 lacks after tensor `name`, or NULL */
static const char *missing_bias(const sl_params *P, const char *name, char *buf, size_t cap)
{
    static const char *const with_bias[] = {".ln_1.weight",        ".ln_2.weight",     "ln_f.weight",       ".attn.c_attn.weight",
                                            ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"};
    for (size_t i = 0; i < sizeof with_bias / sizeof *with_bias; i++)
        if (ends_with(name, with_bias[i])) {
            snprintf(buf, cap, "%.*sbias", (int)(strlen(name) - strlen("weight")), name);
            return sl_params_find(P, buf) < 0 ? buf : NULL;
        }
    return NULL;
}

int sl_hf_save(const sl_model *m, const char *dir)
{
    const int arch = sl_hf_arch_of(m);
    if (arch < 0) return arch;
    const sl_transformer_config *c = sl_transformer_config_of(m);
    const sl_params *P = m->P;
    char js[4096], path[4096], name[SL_NAME_MAX + 16], bname[SL_NAME_MAX + 16];
    sl_st_writer *w = NULL;
    float *buf = NULL, *zero = NULL;
    int rc = config_json(c, arch, js, sizeof js), xf, heads;
    if (rc) return rc;
    size_t most = 1;
    for (int i = 0; i < P->n; i++)
        if (P->t[i].numel > most) most = P->t[i].numel;
    if (!(w = sl_st_writer_new()) || !(buf = malloc(most * sizeof(float))) || !(zero = calloc(most, sizeof(float)))) {
        rc = sl_error(SL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = sl_st_writer_meta(w, "format", "pt"))) goto done;
    for (int i = 0; i < P->n && !rc; i++) {
        const sl_tensor *t = &P->t[i];
        int64_t shape[SL_MAX_DIMS];
        if ((rc = hf_name(c, arch, t->name, 0, name, sizeof name, &xf, &heads))) break;
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[xf == XF_TRANSPOSE ? t->ndim - 1 - d : d];
        const float *src = sl_params_data(P, i);
        if (xf != XF_COPY) {
            relayout(buf, src, xf, heads, t->shape, 1);
            src = buf;
        }
        rc = sl_st_writer_add(w, name, SL_DT_F32, t->ndim, shape, src); /* copies */
        const char *b = arch == SL_HF_GPT2 ? missing_bias(P, t->name, bname, sizeof bname) : NULL;
        if (!rc && b) {
            int64_t n = t->shape[0]; /* out features (seqlab (out, in)), or the norm's width */
            rc = sl_st_writer_add(w, b, SL_DT_F32, 1, &n, zero);
        }
    }
    if (rc) goto done;
    if ((rc = sl_mkdirs(dir))) goto done;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = sl_write_file_atomic(path, js, strlen(js)))) goto done;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = sl_st_writer_write(w, path);
done:
    sl_st_writer_free(w);
    free(buf);
    free(zero);
    return rc;
}
