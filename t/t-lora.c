/* t/t-lora.c — LoRA adapters (seq/lora.h): configuration and name rules; for a transformer, a
 * Mamba LM, an LSTM LM, a GRU LM and a GLA LM: the adapted forward against the base model run
 * with naively merged weights W0 + (alpha/r) B A computed in double (<= 1e-5), the file fold
 * (merge) against the adapter forward, unmerge back to W0, finite-difference gradients of the
 * adapters, step mode against sequence mode, and the base weights bitwise unchanged after
 * optimizer steps on the adapters; bad adapters and patterns refused. */
#include "core/optim.h"
#include "core/safetensors.h"
#include "core/util.h"
#include "lab/registry.h"
#include "seq/lora.h"
#include "t/tap.h"
#include "t/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_config(void)
{
    sl_lora_config c;
    ok(sl_lora_config_parse("r=4,alpha=16,dropout=0,targets=c_attn|c_proj", &c) == 0 && c.r == 4 && c.alpha == 16.0f &&
           !strcmp(c.targets, "c_attn|c_proj"),
       "config: r, alpha, targets parsed");
    ok(sl_lora_config_parse("targets=x", &c) == 0 && c.r == 8 && c.alpha == 8.0f && c.dropout == 0.0f,
       "config: PEFT defaults r=8 alpha=8");
    ok(sl_lora_config_parse("r=4", &c) == SL_EINVAL && strstr(sl_errmsg(), "targets"), "config: targets required (%s)",
       sl_errmsg());
    ok(sl_lora_config_parse("r=0,targets=x", &c) == SL_EINVAL && strstr(sl_errmsg(), "r='0'"), "config: r=0 refused");
    ok(sl_lora_config_parse("rank=4,targets=x", &c) == SL_EINVAL && strstr(sl_errmsg(), "unknown key 'rank'"),
       "config: unknown key named");
    ok(sl_lora_config_parse("dropout=0.1,targets=x", &c) == SL_EUNSUPPORTED && strstr(sl_errmsg(), "dropout"),
       "config: input dropout refused with the reason");
    ok(sl_lora_config_parse("targets=a||b", &c) == SL_EINVAL, "config: empty pattern refused");
    char buf[1200];
    sl_lora_config_parse("r=2,alpha=3.5,targets=in_proj", &c);
    sl_lora_config_format(&c, buf, sizeof buf);
    sl_lora_config d;
    ok(sl_lora_config_parse(buf, &d) == 0 && d.r == 2 && d.alpha == 3.5f && !strcmp(d.targets, "in_proj"),
       "config: format parses back (%s)", buf);

    ok(sl_lora_match("c_attn", "transformer.h.0.attn.c_attn.weight"), "match: component");
    ok(!sl_lora_match("c_attn", "transformer.h.0.attn.c_attn2.weight"), "match: not a part of a component");
    ok(sl_lora_match("mixer.in_proj", "backbone.layers.1.mixer.in_proj.weight"), "match: several components");
    ok(sl_lora_match("x|*.weight_hh_l0", "backbone.layers.0.mixer.weight_hh_l0"), "match: glob in a list");
    ok(!sl_lora_match("*.weight_hh_l0", "backbone.layers.0.mixer.weight_hh_l0_reverse"), "match: glob is whole-name");

    char a[256], b[256];
    sl_lora_names("transformer.h.0.attn.c_attn.weight", a, b, sizeof a);
    ok(!strcmp(a, "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight") &&
           !strcmp(b, "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"),
       "names: PEFT's (%s)", a);
    sl_lora_names("backbone.layers.0.mixer.weight_ih_l0", a, b, sizeof a);
    ok(!strcmp(a, "base_model.model.backbone.layers.0.mixer.weight_ih_l0.lora_A.weight"),
       "names: a parameter that is its own module (%s)", a);
}

/* y of the base model with W0 + s B A merged in double, for every target */
static int naive_merged_forward(sl_model *m, const int32_t *tok, float *y, int B, int T)
{
    sl_model *base = sl_lora_base(m);
    const sl_lora_config *c = sl_lora_get_config(m);
    const double s = (double)c->alpha / c->r;
    for (int k = 0; k < sl_lora_n_targets(m); k++) {
        int i = sl_lora_target(m, k);
        const sl_tensor *t = &base->P->t[i];
        const int O = (int)t->shape[0], I = (int)t->shape[1], r = c->r;
        char an[256], bn[256];
        sl_lora_names(t->name, an, bn, sizeof an);
        const float *A = sl_params_data(m->P, sl_params_find(m->P, an)), *Bm = sl_params_data(m->P, sl_params_find(m->P, bn));
        const float *W0 = sl_lora_base_data(m, i);
        float *W = sl_params_data(base->P, i);
        for (int o = 0; o < O; o++)
            for (int j = 0; j < I; j++) {
                double acc = W0[(size_t)o * I + j];
                for (int q = 0; q < r; q++) acc += s * (double)Bm[(size_t)o * r + q] * A[(size_t)q * I + j];
                W[(size_t)o * I + j] = (float)acc;
            }
    }
    int rc = sl_model_forward(base, NULL, tok, y, B, T);
    sl_lora_restore_base(m);
    return rc;
}

static void test_model(const char *spec, const char *targets, int expect_targets, double h)
{
    const int B = 2, T = 7;
    sl_model *base = NULL, *m = NULL;
    if (sl_model_create(spec, 3, &base)) {
        ok(0, "%s: built (%s)", spec, sl_errmsg());
        return;
    }
    const size_t ntot = base->P->total;
    float *orig = malloc(ntot * sizeof(float));
    memcpy(orig, base->P->data, ntot * sizeof(float));
    sl_lora_config c;
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "r=3,alpha=6,targets=%s", targets);
    sl_lora_config_parse(cfg, &c);
    sl_rng *rng = sl_rng_alloc(5);
    int rc = sl_lora_create(base, &c, rng, &m);
    if (!ok(rc == 0, "%s: lora on %s (%s)", spec, targets, rc ? sl_errmsg() : "ok")) {
        sl_model_free(base);
        free(orig);
        sl_rng_free(rng);
        return;
    }
    ok(sl_lora_n_targets(m) == expect_targets, "%s: %d tensors adapted (expected %d)", spec, sl_lora_n_targets(m),
       expect_targets);
    ok(sl_params_count_trainable(m->P) < ntot / 2 && sl_params_count_trainable(base->P) == 0,
       "%s: %zu trainable adapter values, base (%zu) frozen", spec, sl_params_count_trainable(m->P), ntot);
    /* PEFT init: A in +-1/sqrt(in) and not zero, B zero: the adapted model is the base model */
    int init_ok = 1;
    for (int k = 0; k < m->P->n; k++) {
        const sl_tensor *t = &m->P->t[k];
        const float *d = sl_params_data(m->P, k);
        int isB = strstr(t->name, "lora_B") != NULL;
        double bound = 1.0 / sqrt((double)t->shape[1]), mx = 0;
        for (size_t e = 0; e < t->numel; e++) mx = fmax(mx, fabs(d[e]));
        init_ok &= isB ? mx == 0 : (mx > 0 && mx <= bound);
    }
    ok(init_ok, "%s: A ~ U(+-1/sqrt(in)), B = 0", spec);
    int32_t tok[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 7 + 3) % base->d_in;
    size_t ny = (size_t)B * T * m->d_out;
    float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float)), *y2 = malloc(ny * sizeof(float));
    sl_model_forward(base, NULL, tok, y0, B, T);
    sl_model_forward(m, NULL, tok, y1, B, T);
    ok(!memcmp(y0, y1, ny * sizeof(float)), "%s: B = 0 gives the base model's output bitwise", spec);

    /* random B so the adapters do something */
    for (int k = 0; k < m->P->n; k++)
        if (strstr(m->P->t[k].name, "lora_B")) sl_rng_fill_normal(rng, sl_params_data(m->P, k), m->P->t[k].numel, 0.3f);
    sl_model_forward(m, NULL, tok, y1, B, T);
    naive_merged_forward(m, tok, y2, B, T);
    double d = max_abs_diff(y1, y2, ny), dbase = max_abs_diff(y0, y1, ny);
    ok(d <= 1e-5 && dbase > 1e-3, "%s: adapter forward == base with naive W0 + s B A (max |diff| %.2g; adapters move it by %.2g)",
       spec, d, dbase);

    /* merge through a file: the fold of the saved adapters into a fresh base */
    char dir[] = "/tmp/t-lora-XXXXXX", path[256];
    if (!mkdtemp(dir)) strcpy(dir, ".");
    snprintf(path, sizeof path, "%s/adapters.safetensors", dir);
    const char *kv[] = {"lora", cfg, "model", spec};
    sl_params_save(m->P, path, kv, 2);
    sl_model *fresh = NULL;
    sl_model_create(spec, 3, &fresh);
    rc = sl_lora_fold(fresh->P, path, +1);
    sl_model_forward(fresh, NULL, tok, y2, B, T);
    d = max_abs_diff(y1, y2, ny);
    ok(rc == 0 && d <= 1e-5, "%s: merged forward == adapter forward (max |diff| %.2g)", spec, d);
    /* the run's model file reloads: same forward */
    sl_model *m2 = NULL, *b2 = NULL;
    sl_model_create(spec, 3, &b2);
    sl_lora_create(b2, &c, NULL, &m2);
    rc = sl_lora_load(m2, path);
    sl_model_forward(m2, NULL, tok, y2, B, T);
    ok(rc == 0 && !memcmp(y1, y2, ny * sizeof(float)), "%s: adapters saved alone load back (same output bitwise)", spec);
    sl_model_free(m2);
    rc = sl_lora_fold(fresh->P, path, -1);
    d = max_abs_diff(fresh->P->data, orig, ntot);
    ok(rc == 0 && d <= 1e-6, "%s: unmerge restores W0 (max |diff| %.2g)", spec, d);
    sl_model_free(fresh);
    unlink(path);
    rmdir(dir);

    /* finite differences through the adapters (base frozen: only A and B are checked) */
    check_model_grads(m, spec, NULL, tok, B, T, h, 3e-2, 24);

    /* step mode == sequence mode */
    float *ys = malloc(ny * sizeof(float));
    sl_model_forward(m, NULL, tok, y1, B, T);
    if (m->caps & SL_CAP_STEP) {
        sl_model_run_steps(m, NULL, tok, ys, B, T);
        d = max_abs_diff(y1, ys, ny);
        ok(d <= 1e-4, "%s: step mode == sequence mode with adapters (max |diff| %.2g)", spec, d);
    }
    free(ys);

    /* AdamW steps on the adapters leave every base value bitwise as it was */
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    float *R = tu_random(ny, 1.0f, 9);
    for (int it = 0; it < 3; it++) {
        sl_params_zero_grad(m->P);
        sl_model_forward(m, NULL, tok, y1, B, T);
        sl_model_backward(m, R, NULL);
        sl_optim_step(o, m->P, 1e-2f);
    }
    int same = 1;
    for (int i = 0; i < base->P->n; i++)
        same &= !memcmp(sl_lora_base_data(m, i), orig + base->P->t[i].offset, base->P->t[i].numel * sizeof(float));
    sl_lora_restore_base(m);
    same &= !memcmp(base->P->data, orig, ntot * sizeof(float));
    ok(same, "%s: base weights bitwise unchanged after 3 AdamW steps on the adapters", spec);
    free(R);
    sl_optim_free(o);
    free(y0);
    free(y1);
    free(y2);
    free(orig);
    sl_rng_free(rng);
    sl_model_free(m);
}

static void test_errors(void)
{
    sl_model *base = NULL, *m = NULL, *other = NULL, *mo = NULL;
    sl_model_create("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=11", 3, &base);
    sl_lora_config c;
    sl_lora_config_parse("r=2,targets=in_proj|q_proj", &c);
    int rc = sl_lora_create(base, &c, NULL, &m);
    ok(rc == SL_ENOTFOUND && strstr(sl_errmsg(), "'q_proj' matches no rank-2 tensor") && strstr(sl_errmsg(), "in_proj.weight"),
       "a pattern that matches nothing is refused, listing the names (%s)", sl_errmsg());
    sl_lora_config_parse("r=2,targets=in_proj", &c);
    sl_lora_create(base, &c, NULL, &m);
    /* adapters made for another model (another width) */
    sl_model_create("lm:mixer=mamba,d_model=24,n_layer=1,vocab_size=11", 3, &other);
    sl_lora_create(other, &c, NULL, &mo);
    char dir[] = "/tmp/t-lora-XXXXXX", path[256], path2[256];
    if (!mkdtemp(dir)) strcpy(dir, ".");
    snprintf(path, sizeof path, "%s/other.safetensors", dir);
    const char *kv[] = {"lora", "r=2,alpha=8,dropout=0,targets=in_proj"};
    sl_params_save(mo->P, path, kv, 1);
    rc = sl_lora_load(m, path);
    ok(rc != 0 && strstr(sl_errmsg(), "shape"), "adapters of another width refused on load (%s)", sl_errmsg());
    float *before = malloc(base->P->total * sizeof(float));
    memcpy(before, base->P->data, base->P->total * sizeof(float));
    sl_lora_restore_base(m);
    sl_model *plain = NULL;
    sl_model_create("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=11", 3, &plain);
    memcpy(before, plain->P->data, plain->P->total * sizeof(float));
    rc = sl_lora_fold(plain->P, path, 1);
    ok(rc == SL_ESHAPE && strstr(sl_errmsg(), "another model") &&
           !memcmp(before, plain->P->data, plain->P->total * sizeof(float)),
       "merge of another model's adapters refused, base untouched (%s)", sl_errmsg());
    /* adapters on other targets */
    sl_model *b3 = NULL, *m3 = NULL;
    sl_lora_config c3;
    sl_lora_config_parse("r=2,targets=out_proj", &c3);
    sl_model_create("lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=11", 3, &b3);
    sl_lora_create(b3, &c3, NULL, &m3);
    snprintf(path2, sizeof path2, "%s/out.safetensors", dir);
    sl_params_save(m3->P, path2, kv, 1);
    rc = sl_lora_load(m, path2);
    ok(rc != 0 && strstr(sl_errmsg(), "not an adapter of this model"), "adapters of other targets refused on load (%s)",
       sl_errmsg());
    /* a file without lora metadata is not merged */
    sl_params_save(m3->P, path2, NULL, 0);
    rc = sl_lora_fold(plain->P, path2, 1);
    ok(rc == SL_EFORMAT && strstr(sl_errmsg(), "no 'lora' metadata"), "merge needs the 'lora' metadata (%s)", sl_errmsg());
    /* a model that already has adapters */
    sl_model *mm = NULL;
    ok(sl_lora_create(m, &c, NULL, &mm) == SL_EINVAL, "no adapters on adapters");
    unlink(path);
    unlink(path2);
    rmdir(dir);
    free(before);
    sl_model_free(m3);
    sl_model_free(plain);
    sl_model_free(mo);
    sl_model_free(m);
}

int main(void)
{
    sl_threads_set(1);
    test_config();
    test_model("gpt:n_layer=1,n_head=2,n_embd=16,block_size=8,vocab_size=11", "c_attn|c_proj|c_fc", 4, 1e-2);
    test_model("lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11", "in_proj|out_proj", 4, 1e-2);
    test_model("lm:mixer=lstm,d_model=12,n_layer=1,vocab_size=11", "*.weight_ih_l0|*.weight_hh_l0", 2, 1e-2);
    test_model("lm:mixer=gru,d_model=12,n_layer=1,vocab_size=11", "mixer.weight_hh_l0", 1, 1e-2);
    test_model("lm:mixer=gla,d_model=16,n_layer=1,vocab_size=11", "q_proj|k_proj|v_proj|o_proj", 4, 1e-3); /* as t/t-gla.c */
    test_errors();
    return done_testing();
}
