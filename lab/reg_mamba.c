/* lab/reg_mamba.c — registry entries of the mamba family: `mamba` (mamba_ssm Mamba) and
 * `mamba2` (mamba_ssm Mamba2, SSD). Keys are the modules' constructor argument names. */
#include "lab/registry.h"
#include "core/error.h"
#include "ssm/mamba.h"
#include "ssm/mamba2.h"

#include <stdlib.h>
#include <string.h>

static const sl_spec_key mamba_keys[] = {
    {"d_model", 'i', "64", 1, 65536, "model width"},
    {"d_state", 'i', "16", 1, 1024, "SSM state size N per channel"},
    {"d_conv", 'i', "4", 1, 64, "width of the depthwise causal convolution"},
    {"expand", 'i', "2", 1, 64, "d_inner = expand * d_model"},
    {"dt_rank", 's', "auto", 0, 0, "rank of the dt projection; auto = ceil(d_model / 16)"},
    {"dt_min", 'f', "0.001", 1e-8, 10, "smallest initial step size"},
    {"dt_max", 'f', "0.1", 1e-8, 10, "largest initial step size"},
    {"dt_init_floor", 'f', "1e-4", 0, 10, "lower clamp of the initial step size"},
    {"dt_scale", 'f', "1", 1e-6, 100, "scale of the dt_proj weight init"},
    {"conv_bias", 'b', "1", 0, 1, "conv1d has a bias"},
    {"bias", 'b', "0", 0, 1, "in_proj and out_proj have biases"},
    {"scan_chunks", 'i', "0", 0, 4096, "selective scan: 0 auto, 1 fast path, >1 chunked parallel over time"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static int mamba_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_mamba_config c = sl_mamba_defaults(0);
    const char *dr;
    int rc;
    if ((rc = sl_spec_int(s, mamba_keys, "d_model", &c.d_model)) || (rc = sl_spec_int(s, mamba_keys, "d_state", &c.d_state)) ||
        (rc = sl_spec_int(s, mamba_keys, "d_conv", &c.d_conv)) || (rc = sl_spec_int(s, mamba_keys, "expand", &c.expand)) ||
        (rc = sl_spec_str(s, mamba_keys, "dt_rank", &dr)) || (rc = sl_spec_float(s, mamba_keys, "dt_min", &c.dt_min)) ||
        (rc = sl_spec_float(s, mamba_keys, "dt_max", &c.dt_max)) ||
        (rc = sl_spec_float(s, mamba_keys, "dt_init_floor", &c.dt_init_floor)) ||
        (rc = sl_spec_float(s, mamba_keys, "dt_scale", &c.dt_scale)) || (rc = sl_spec_bool(s, mamba_keys, "conv_bias", &c.conv_bias)) ||
        (rc = sl_spec_bool(s, mamba_keys, "bias", &c.bias)) || (rc = sl_spec_int(s, mamba_keys, "scan_chunks", &c.scan_chunks)))
        return rc;
    if (!strcmp(dr, "auto")) {
        c.dt_rank = 0;
    } else {
        long v;
        if ((rc = sl_parse_int(dr, 1, 65536, &v))) return sl_error_wrap(rc, "%s: key 'dt_rank' (an integer or auto)", s->name);
        c.dt_rank = (int)v;
    }
    if (c.dt_min > c.dt_max) return sl_error(SL_EINVAL, "%s: dt_min=%g is larger than dt_max=%g", s->name, c.dt_min, c.dt_max);
    return sl_mamba_create(&c, P, prefix, out);
}

static const sl_spec_key mamba2_keys[] = {
    {"d_model", 'i', "64", 1, 65536, "model width"},
    {"d_state", 'i', "64", 1, 1024, "SSM state size N per head"},
    {"d_conv", 'i', "4", 1, 64, "width of the depthwise causal convolution over (x, B, C)"},
    {"expand", 'i', "2", 1, 64, "d_inner = expand * d_model"},
    {"headdim", 'i', "64", 1, 4096, "channels per head; nheads = d_inner / headdim"},
    {"ngroups", 'i', "1", 1, 1024, "groups of B and C (heads share them within a group)"},
    {"chunk_size", 'i', "256", 1, 65536, "SSD chunk length"},
    {"dt_min", 'f', "0.001", 1e-8, 10, "smallest initial step size"},
    {"dt_max", 'f', "0.1", 1e-8, 10, "largest initial step size"},
    {"dt_init_floor", 'f', "1e-4", 0, 10, "lower clamp of the initial step size"},
    {"A_init_min", 'f', "1", 1e-6, 1e6, "A = -U(A_init_min, A_init_max) per head"},
    {"A_init_max", 'f', "16", 1e-6, 1e6, "see A_init_min"},
    {"conv_bias", 'b', "1", 0, 1, "conv1d has a bias"},
    {"bias", 'b', "0", 0, 1, "in_proj and out_proj have biases"},
    {"norm_eps", 'f', "1e-5", 1e-12, 1, "epsilon of the gated RMSNorm"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static int mamba2_create(const sl_spec *s, sl_params *P, const char *prefix, sl_model **out)
{
    sl_mamba2_config c = sl_mamba2_defaults(0);
    double amin, amax, eps;
    int rc;
    if ((rc = sl_spec_int(s, mamba2_keys, "d_model", &c.d_model)) || (rc = sl_spec_int(s, mamba2_keys, "d_state", &c.d_state)) ||
        (rc = sl_spec_int(s, mamba2_keys, "d_conv", &c.d_conv)) || (rc = sl_spec_int(s, mamba2_keys, "expand", &c.expand)) ||
        (rc = sl_spec_int(s, mamba2_keys, "headdim", &c.headdim)) || (rc = sl_spec_int(s, mamba2_keys, "ngroups", &c.ngroups)) ||
        (rc = sl_spec_int(s, mamba2_keys, "chunk_size", &c.chunk_size)) ||
        (rc = sl_spec_float(s, mamba2_keys, "dt_min", &c.dt_min)) || (rc = sl_spec_float(s, mamba2_keys, "dt_max", &c.dt_max)) ||
        (rc = sl_spec_float(s, mamba2_keys, "dt_init_floor", &c.dt_init_floor)) ||
        (rc = sl_spec_float(s, mamba2_keys, "A_init_min", &amin)) || (rc = sl_spec_float(s, mamba2_keys, "A_init_max", &amax)) ||
        (rc = sl_spec_bool(s, mamba2_keys, "conv_bias", &c.conv_bias)) || (rc = sl_spec_bool(s, mamba2_keys, "bias", &c.bias)) ||
        (rc = sl_spec_float(s, mamba2_keys, "norm_eps", &eps)))
        return rc;
    c.A_init_min = amin;
    c.A_init_max = amax;
    c.norm_eps = (float)eps;
    return sl_mamba2_create(&c, P, prefix, out);
}

const sl_model_entry sl_models_mamba[] = {
    {.name = "mamba", .family = "mamba",
     .help = "Mamba block (mamba_ssm Mamba): in_proj -> causal conv1d + SiLU -> selective scan (S6) gated by SiLU(z) -> out_proj",
     .keys = mamba_keys, .is_mixer = 1, .width_key = "d_model", .create = mamba_create},
    {.name = "mamba2", .family = "mamba",
     .help = "Mamba-2 block (mamba_ssm Mamba2): in_proj -> conv1d + SiLU over (x,B,C) -> SSD (scalar A per head) -> gated RMSNorm -> out_proj",
     .keys = mamba2_keys, .is_mixer = 1, .width_key = "d_model", .create = mamba2_create},
    {0},
};
