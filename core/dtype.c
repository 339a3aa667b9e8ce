/* core/dtype.c — element types: sizes, names, conversion to float (see dtype.h). */
#include "core/dtype.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

/* safetensors and .npy ('<' descr) data are little-endian; reading them as native values is
 * only right on a little-endian host. Every platform seqlab targets is one. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "seqlab's file I/O assumes a little-endian host");
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE binary32/binary64 expected");

static const struct {
    const char *name;
    size_t size;
} dtypes[SL_DT_COUNT] = {
    [SL_DT_F32] = {"F32", 4}, [SL_DT_F64] = {"F64", 8},   [SL_DT_F16] = {"F16", 2}, [SL_DT_BF16] = {"BF16", 2},
    [SL_DT_I8] = {"I8", 1},   [SL_DT_I16] = {"I16", 2},   [SL_DT_I32] = {"I32", 4}, [SL_DT_I64] = {"I64", 8},
    [SL_DT_U8] = {"U8", 1},   [SL_DT_BOOL] = {"BOOL", 1},
};

size_t sl_dtype_size(sl_dtype t) { return (unsigned)t < SL_DT_COUNT ? dtypes[t].size : 0; }

const char *sl_dtype_name(sl_dtype t) { return (unsigned)t < SL_DT_COUNT ? dtypes[t].name : "?"; }

int sl_dtype_from_name(const char *s, sl_dtype *t)
{
    for (int i = 0; i < SL_DT_COUNT; i++)
        if (s && strcmp(s, dtypes[i].name) == 0) {
            *t = (sl_dtype)i;
            return SL_OK;
        }
    return sl_error(SL_EFORMAT, "unknown dtype \"%.40s\" (known: F32 F64 F16 BF16 I8 I16 I32 I64 U8 BOOL)", s ? s : "(null)");
}

int sl_dtype_is_float(sl_dtype t) { return t == SL_DT_F32 || t == SL_DT_F64 || t == SL_DT_F16 || t == SL_DT_BF16; }

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits. */
float sl_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float (man < 2^10, scale a power of 2) */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) /* inf (man == 0) or NaN (payload kept in the top fraction bits) */
        return bits_to_f32(sign | 0x7F800000u | (man << 13));
    return bits_to_f32(sign | ((exp - 15 + 127) << 23) | (man << 13));
}

/* bfloat16 is the top half of a binary32, so decoding is a shift. */
float sl_bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

uint16_t sl_f32_to_f16(float f)
{
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    int32_t exp = (int32_t)((u >> 23) & 0xFF);
    uint32_t man = u & 0x7FFFFF;
    if (exp == 255) /* inf stays inf; NaN keeps its top payload bits and is forced quiet */
        return sign | 0x7C00 | (man ? (0x200 | (man >> 13)) : 0);
    int32_t e = exp - 127 + 15;        /* biased half exponent */
    if (e >= 31) return sign | 0x7C00; /* too large: +-inf */
    if (e <= 0) {
        /* half subnormal k * 2^-24. With the implicit bit, the float is m * 2^(exp-150), so
         * k = m >> (126 - exp) = m >> (14 - e), then round to nearest even on the dropped bits. */
        if (e < -10) return sign; /* below 2^-25: rounds to (signed) zero */
        uint32_t m = man | 0x800000;
        int shift = 14 - e;
        uint32_t k = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (k & 1))) k++; /* may carry into the smallest normal */
        return sign | (uint16_t)k;
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry may reach inf: correct */
    return sign | (uint16_t)h;
}

uint16_t sl_f32_to_bf16(float f)
{
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7FFF + ((u >> 16) & 1);                                          /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

int sl_dtype_to_f32(sl_dtype t, const void *src, float *dst, size_t n, int check_finite)
{
    const unsigned char *s = src;
    size_t es = sl_dtype_size(t);
    if (!es) return sl_error(SL_EINVAL, "bad dtype %d", (int)t);
    /* memcpy per element: the source may be unaligned (safetensors offsets need not be). */
    for (size_t i = 0; i < n; i++, s += es) {
        float v;
        switch (t) {
        case SL_DT_F32: memcpy(&v, s, 4); break;
        case SL_DT_F64: {
            double d;
            memcpy(&d, s, 8);
            v = (float)d;
            break;
        }
        case SL_DT_F16: {
            uint16_t h;
            memcpy(&h, s, 2);
            v = sl_f16_to_f32(h);
            break;
        }
        case SL_DT_BF16: {
            uint16_t h;
            memcpy(&h, s, 2);
            v = sl_bf16_to_f32(h);
            break;
        }
        case SL_DT_I8: v = (float)(int8_t)s[0]; break;
        case SL_DT_I16: {
            int16_t x;
            memcpy(&x, s, 2);
            v = (float)x;
            break;
        }
        case SL_DT_I32: {
            int32_t x;
            memcpy(&x, s, 4);
            v = (float)x;
            break;
        }
        case SL_DT_I64: {
            int64_t x;
            memcpy(&x, s, 8);
            v = (float)x;
            break;
        }
        case SL_DT_U8: v = (float)s[0]; break;
        case SL_DT_BOOL: v = s[0] ? 1.0f : 0.0f; break;
        default: return sl_error(SL_EINVAL, "bad dtype %d", (int)t);
        }
        /* Checked after conversion: an F64 of 1e300 is finite but becomes inf as a float. */
        if (check_finite && !isfinite(v)) {
            if (t == SL_DT_F64) {
                double d;
                memcpy(&d, s, 8);
                if (isfinite(d)) return sl_error(SL_ENAN, "value %g at element %zu is out of float32 range", d, i);
            }
            return sl_error(SL_ENAN, "non-finite value (%s) at element %zu", isnan(v) ? "nan" : "inf", i);
        }
        dst[i] = v;
    }
    return SL_OK;
}
