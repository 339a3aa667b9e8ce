/* core/dtype.h — element types shared by safetensors and .npy I/O.
 *
 * Both file formats store little-endian data, and seqlab requires a little-endian host
 * (dtype.c refuses to compile elsewhere), so raw file bytes are native values. */
#ifndef SL_CORE_DTYPE_H
#define SL_CORE_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SL_DT_F32,
    SL_DT_F64,
    SL_DT_F16,
    SL_DT_BF16,
    SL_DT_I8,
    SL_DT_I16,
    SL_DT_I32,
    SL_DT_I64,
    SL_DT_U8,
    SL_DT_BOOL,
    SL_DT_COUNT
} sl_dtype;

size_t sl_dtype_size(sl_dtype t);
const char *sl_dtype_name(sl_dtype t);              /* safetensors spelling: "F32", ... */
int sl_dtype_from_name(const char *s, sl_dtype *t); /* SL_EFORMAT if unknown */

/* Convert n elements of a floating or integer type to float; SL_ENAN if check_finite and a
 * value is NaN/Inf. Unaligned source is fine. */
int sl_dtype_to_f32(sl_dtype t, const void *src, float *dst, size_t n, int check_finite);

/* 1 for F32/F64/F16/BF16, 0 otherwise. */
int sl_dtype_is_float(sl_dtype t);

/* IEEE half (F16) and bfloat16 (BF16) bit patterns <-> float. The encoders round to nearest,
 * ties to even, overflow to +-inf and keep NaN a NaN; the decoders are exact (subnormals,
 * signed zeros, inf and NaN included). */
float sl_f16_to_f32(uint16_t h);
float sl_bf16_to_f32(uint16_t b);
uint16_t sl_f32_to_f16(float f);
uint16_t sl_f32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
