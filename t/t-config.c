/* t/t-config.c — key tables bound to configuration structs (seq/spec.h SL_KEY_*): defaults,
 * reading, choices, the canonical spec, and that every model's C defaults are its table's. */
#include "core/error.h"
#include "lab/registry.h"
#include "nlp/ngram_model.h"
#include "seq/attention.h"
#include "seq/lstm.h"
#include "seq/rnn.h"
#include "seq/spec.h"
#include "seq/transformer.h"
#include "ssm/hippo.h"
#include "ssm/mamba.h"
#include "ssm/mamba2.h"
#include "ssm/s4.h"
#include "ssm/s4d.h"
#include "t/tap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int n, flag, mode;
    float f;
    double d;
    const char *name;
} demo_cfg;

static const int mode_vals[] = {7, 3};
static const sl_spec_key demo_keys[] = {
    SL_KEY_INT(demo_cfg, n, "n", "5", 1, 10, "an int"),
    SL_KEY_BOOL(demo_cfg, flag, "flag", "1", "a bool"),
    SL_KEY_CHOICE(demo_cfg, mode, "mode", "fast", "fast|slow", mode_vals, "a choice"),
    SL_KEY_FLOAT(demo_cfg, f, "f", "0.1", 0, 1, "a float"),
    SL_KEY_DOUBLE(demo_cfg, d, "d", "1e-3", 0, 1, "a double"),
    SL_KEY_STR(demo_cfg, name, "name", "abc", "a string"),
    {"loose", 'i', "0", 0, 9, "not bound"},
    SL_KEY_END,
};

static sl_spec *parse(const char *text)
{
    sl_spec *s = NULL;
    if (sl_spec_parse(text, &s)) return NULL;
    return s;
}

/* the struct read from `text` against `keys` equals `want` field by field (memcmp: the structs
 * are zeroed before reading, padding included) */
static int read_equals(const char *text, const sl_spec_key *keys, const void *want, size_t size)
{
    sl_spec *s = parse(text);
    void *got = calloc(1, size);
    int ok_ = s && got && sl_spec_read(s, keys, got) == 0 && !memcmp(got, want, size);
    sl_spec_free(s);
    free(got);
    return ok_;
}

/* canonical(cfg) parses, passes the table's check and reads back into the same struct */
static int canonical_round_trip(const char *name, const sl_spec_key *keys, const void *cfg, size_t size)
{
    char *c = sl_spec_canonical(name, keys, cfg);
    const sl_spec_key *tables[] = {keys, NULL};
    sl_spec *s = c ? parse(c) : NULL;
    int ok_ = s && sl_spec_check(s, tables) == 0;
    sl_spec_free(s);
    ok_ = ok_ && read_equals(c, keys, cfg, size);
    if (!ok_) diag("canonical spec: %s", c ? c : "(null)");
    free(c);
    return ok_;
}

static void demo(void)
{
    demo_cfg c;
    memset(&c, 0, sizeof c);
    ok(sl_spec_defaults(demo_keys, &c) == 0 && c.n == 5 && c.flag == 1 && c.mode == 7 && c.f == 0.1f && c.d == 1e-3 &&
           !strcmp(c.name, "abc"),
       "defaults fill every bound field (choice 'fast' stores its value 7)");
    sl_spec *s = parse("demo:n=9,flag=false,mode=slow,f=0.5,d=0.25,name=xyz,loose=4");
    memset(&c, 0, sizeof c);
    ok(s && sl_spec_read(s, demo_keys, &c) == 0 && c.n == 9 && c.flag == 0 && c.mode == 3 && c.f == 0.5f && c.d == 0.25 &&
           !strcmp(c.name, "xyz"),
       "read takes every given value, in each field's type");
    char *can = sl_spec_canonical("demo", demo_keys, &c); /* c.name points into s: canonical before freeing it */
    sl_spec_free(s);
    ok(can && !strcmp(can, "demo:n=9,flag=0,mode=slow,f=0.5,d=0.25,name=xyz"),
       "canonical spec: every bound key in table order, the choice by name, unbound keys left out: %s", can ? can : "");
    free(can);
    s = parse("demo:n=11");
    memset(&c, 0, sizeof c);
    ok(s && sl_spec_read(s, demo_keys, &c) == SL_EINVAL && strstr(sl_errmsg(), "'n'"), "out of range: %s", sl_errmsg());
    sl_spec_free(s);
    s = parse("demo:mode=medium");
    ok(s && sl_spec_read(s, demo_keys, &c) == SL_EINVAL && strstr(sl_errmsg(), "mode must be fast or slow, not 'medium'"),
       "a value outside the choices names them: %s", sl_errmsg());
    const sl_spec_key *tables[] = {demo_keys, NULL};
    ok(s && sl_spec_check(s, tables) == SL_EINVAL && strstr(sl_errmsg(), "fast or slow"),
       "sl_spec_check rejects it too (validation from the same table): %s", sl_errmsg());
    sl_spec_free(s);
}

static void attention(void)
{
    sl_attn_config c, d;
    sl_attn_config_default(&c, 64, 4);
    ok(c.qk_nope_head_dim == 16 && c.qk_rope_head_dim == 8 && c.v_head_dim == 16 && c.kv_lora_rank == 0,
       "MLA head dims: C defaults 16/8/16, as the key table says (they were 0 in C)");
    ok(c.flash == 1 && c.causal == 1 && c.rope_theta == 10000.0f && c.max_seq_len == 1024 && c.norm_eps == 1e-6f &&
           c.names == SL_ATTN_NAMES_GPT,
       "the other C defaults are the table's");
    memset(&d, 0, sizeof d);
    sl_attn_config_default(&d, 64, 4);
    ok(read_equals("attention", sl_attn_keys, &d, sizeof d), "reading the bare spec gives the C defaults");
    c.kv_lora_rank = 8;
    c.flash = 0;
    c.names = SL_ATTN_NAMES_LLAMA;
    c.dropout = 0.125f;
    c.rope = 1;
    c.rope_theta = 500000.0f;
    ok(canonical_round_trip("attention", sl_attn_keys, &c, sizeof c), "attention: canonical spec round-trips");
    sl_model *m = NULL;
    ok(sl_model_create("attention:kernel=fast", 1, &m) == SL_EINVAL && strstr(sl_errmsg(), "kernel must be flash or naive"),
       "kernel choice error: %s", sl_errmsg());
}

static void transformer(void)
{
    sl_transformer_config g, l;
    sl_gpt_config_default(&g);
    sl_llama_config_default(&l);
    ok(g.d_model == 768 && g.n_layer == 12 && g.max_seq_len == 1024 && g.vocab_size == 50304 && g.bias == 1 &&
           g.pos == SL_POS_LEARNED && !g.rmsnorm && !g.swiglu && g.style == SL_TF_GPT,
       "gpt: GPTConfig's defaults");
    ok(l.d_model == 4096 && l.n_layer == 32 && l.max_seq_len == 2048 && l.vocab_size == 32000 && l.bias == 0 &&
           l.pos == SL_POS_ROPE && l.rmsnorm && l.swiglu && l.style == SL_TF_LLAMA,
       "llama: ModelArgs' defaults");
    g.pos = SL_POS_SINUSOIDAL;
    g.n_layer = 2;
    g.norm_eps = 1e-6f;
    g.style = 0;
    ok(canonical_round_trip("gpt", sl_gpt_keys, &g, sizeof g), "gpt: canonical spec round-trips");
}

/* the model built from canonical(defaults with d_model/width set) has the same tensors as the
 * one built from the short spec */
static int same_model(const char *a, const char *b)
{
    sl_model *m1 = NULL, *m2 = NULL;
    int ok_ = sl_model_create(a, 3, &m1) == 0 && sl_model_create(b, 3, &m2) == 0 && m1->P->n == m2->P->n &&
              m1->P->total == m2->P->total && !memcmp(m1->P->data, m2->P->data, m1->P->total * sizeof(float));
    if (!ok_) diag("%s vs %s: %s", a, b, sl_errmsg());
    sl_model_free(m1);
    sl_model_free(m2);
    return ok_;
}

static void models(void)
{
    char *can;
    sl_mamba_config mc = sl_mamba_defaults(16);
    ok(mc.d_state == 16 && mc.d_conv == 4 && mc.expand == 2 && mc.dt_rank == 0 && mc.dt_min == 0.001 && mc.dt_max == 0.1 &&
           mc.conv_bias == 1 && mc.bias == 0 && mc.dt_scale == 1.0,
       "mamba: mamba_ssm's defaults from the table");
    can = sl_spec_canonical("mamba", sl_mamba_keys, &mc);
    ok(can && same_model(can, "mamba:d_model=16"), "mamba: canonical spec builds the same model (%s)", can ? can : "");
    free(can);
    sl_mamba2_config m2 = sl_mamba2_defaults(32);
    ok(m2.d_state == 64 && m2.headdim == 64 && m2.chunk_size == 256 && m2.A_init_max == 16 && m2.norm_eps == 1e-5f,
       "mamba2: mamba_ssm's defaults from the table");
    m2.headdim = 16;
    can = sl_spec_canonical("mamba2", sl_mamba2_keys, &m2);
    ok(can && same_model(can, "mamba2:d_model=32,headdim=16"), "mamba2: canonical spec builds the same model");
    free(can);
    sl_recurrent_config rc;
    ok(sl_lstm_config_default(&rc) == 0 && rc.hidden_size == 64 && rc.num_layers == 1 && rc.bias == 1 &&
           rc.cell == SL_RCELL_LSTM && rc.ops == &sl_lstm_cell_ops,
       "lstm: torch's defaults and the LSTM cell");
    rc.input_size = 3;
    rc.hidden_size = 5;
    can = sl_spec_canonical("lstm", sl_lstm_keys, &rc);
    ok(can && same_model(can, "lstm:input_size=3,hidden_size=5"), "lstm: canonical spec builds the same model (%s)",
       can ? can : "");
    free(can);
    ok(sl_rnn_config_default(&rc) == 0 && rc.relu == 0 && rc.ops == &sl_rnn_cell_ops, "rnn: tanh by default");
    sl_s4_config s4;
    sl_s4_config_default(&s4);
    s4.d_model = 3;
    s4.d_state = 4;
    s4.l_max = 16;
    can = sl_spec_canonical("s4", sl_s4_keys, &s4);
    ok(can && same_model(can, "s4:d_model=3,d_state=4,l_max=16"), "s4: config struct, canonical spec, same model (%s)",
       can ? can : "");
    free(can);
    sl_s4d_config s4d;
    sl_s4d_config_default(&s4d);
    s4d.d_model = 2;
    s4d.d_state = 4;
    can = sl_spec_canonical("s4d", sl_s4d_keys, &s4d);
    ok(can && same_model(can, "s4d:d_model=2,d_state=4"), "s4d: config struct, canonical spec, same model (%s)", can ? can : "");
    free(can);
    sl_hippo_config h;
    sl_hippo_config_default(&h);
    h.d_model = 2;
    h.d_state = 6;
    can = sl_spec_canonical("hippo", sl_hippo_keys, &h);
    ok(can && same_model(can, "hippo:d_model=2,d_state=6"), "hippo: config struct, canonical spec, same model (%s)",
       can ? can : "");
    free(can);
    /* the C constructor from a config struct equals the spec path */
    sl_params *P = sl_params_new();
    sl_model *m = NULL;
    s4d.init = "inv";
    ok(P && sl_s4d_create(&s4d, P, "", &m) == 0 && m->d_in == 2 && P->n == 7, "sl_s4d_create from a config struct");
    sl_model_free(m);
    sl_params_free(P);
    s4d.discretization = "foh";
    P = sl_params_new();
    ok(P && sl_s4d_create(&s4d, P, "", &m) == SL_EINVAL && strstr(sl_errmsg(), "zoh or bilinear"), "bad config refused: %s",
       sl_errmsg());
    sl_params_free(P);
}

/* lab/registry.h sl_model_spec_canonical over whole specs (wrappers with their mixer's keys,
 * unbound keys as given): it builds the same model, is its own canonical form, and lists the
 * defaults the spec leaves out */
static void spec_canonical(const char *spec, const char *has)
{
    char *c = NULL, *c2 = NULL;
    int rc = sl_model_spec_canonical(spec, &c);
    if (!ok(!rc && c, "canonical of %s: %s", spec, c ? c : sl_errmsg())) return;
    ok(sl_model_spec_canonical(c, &c2) == 0 && c2 && !strcmp(c, c2), "%s: the canonical spec is its own canonical form", spec);
    ok(strstr(c, has) != NULL, "%s: the canonical spec has %s", spec, has);
    if (strncmp(spec, "ngram", 5)) ok(same_model(c, spec), "%s: the canonical spec builds the same model", spec);
    free(c);
    free(c2);
}

static void wrappers(void)
{
    spec_canonical("lm:mixer=mamba,d_model=16,n_layer=2,vocab_size=11,dt_rank=3", "d_state=16");
    spec_canonical("lm:mixer=lstm,d_model=8,n_layer=1,vocab_size=5,norm=layernorm,tie_embeddings=0", "hidden_size=8");
    spec_canonical("seq:mixer=s4d,d_model=6,d_input=2,d_output=1", "norm=rmsnorm");
    spec_canonical("seq:mixer=lstm,d_model=6,d_input=2,d_output=1,bidirectional=1,hidden_size=3", "hidden_size=3");
    spec_canonical("gpt:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=6", "kernel=flash");
    spec_canonical("llama:dim=8,n_layers=1,n_heads=2,vocab_size=6,multiple_of=4,max_seq_len=8", "multiple_of=4");
    spec_canonical("ngram:order=2,method=kn,vocab_size=7", "method=kn");
    char *c = NULL;
    ok(sl_model_spec_canonical("lm:mixer=mamba,d_model=16,bogus=1", &c) != 0 && !c && strstr(sl_errmsg(), "bogus"),
       "canonical of a spec with an unknown key: %s", sl_errmsg());
    ok(sl_model_spec_canonical("lm:mixer=mamba,norm=batchnorm", &c) != 0 && !c, "canonical of a bad choice: %s", sl_errmsg());
    /* the ngram table is bound to sl_ngram_model_config */
    sl_ngram_model_config nc;
    sl_ngram_model_config_default(&nc);
    ok(nc.order == 3 && nc.method == SL_NGRAM_MKN && nc.vocab_size == 256 && nc.k == 1.0 && nc.discount == 0.0 &&
           nc.discount_fallback == 1,
       "ngram: defaults from the table");
    sl_ngram_model_config want;
    memset(&want, 0, sizeof want);
    sl_ngram_model_config_default(&want);
    want.order = 4;
    want.method = SL_NGRAM_ADDK;
    want.k = 0.5;
    ok(read_equals("ngram:order=4,method=addk,k=0.5", sl_ngram_keys, &want, sizeof want), "ngram: the table reads a spec");
    ok(canonical_round_trip("ngram", sl_ngram_keys, &want, sizeof want), "ngram: canonical spec round-trips");
}

int main(void)
{
    demo();
    attention();
    transformer();
    models();
    wrappers();
    return done_testing();
}
