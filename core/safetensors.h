/* core/safetensors.h — the safetensors format, read and write.
 *
 * File = u64 little-endian header length N, N bytes of UTF-8 JSON, then the data block.
 * The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data block) plus an optional "__metadata__" object of string -> string.
 * The reader trusts nothing: N must fit the file and be <= 100 MB; the JSON must parse; each
 * dtype must be known; shape entries non-negative with a product that does not overflow;
 * end - begin == product(shape) * sizeof(dtype); offsets in range; the tensors must tile the
 * data block exactly (no gaps, no overlaps, no trailing bytes). Any violation: SL_EFORMAT
 * with a message naming the tensor and the rule.
 */
#ifndef SL_CORE_SAFETENSORS_H
#define SL_CORE_SAFETENSORS_H

#include "core/dtype.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ST_MAX_DIMS 8

typedef struct {
    char *name;
    sl_dtype dtype;
    int ndim;
    int64_t shape[SL_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end; /* byte offsets into data */
} sl_st_tensor;

typedef struct {
    size_t n;
    sl_st_tensor *t; /* in header order */
    size_t n_meta;
    char **meta_key, **meta_val;
    unsigned char *data; /* the data block (points into buf; 8-byte aligned only if the
                              writer padded the header, as seqlab's and the reference do) */
    size_t data_size;
    void *buf; /* whole file */
} sl_safetensors;

int sl_safetensors_read(const char *path, sl_safetensors **out);
int sl_safetensors_parse(const void *buf, size_t len, sl_safetensors **out); /* copies buf */
void sl_safetensors_free(sl_safetensors *st);
const sl_st_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name);
const char *sl_safetensors_meta(const sl_safetensors *st, const char *key);
/* Convert a float tensor (F32/F64/F16/BF16) to float32, requiring dst_n == numel and
 * finite values. */
int sl_safetensors_get_f32(const sl_safetensors *st, const sl_st_tensor *t, float *dst, size_t dst_n);

typedef struct sl_st_writer sl_st_writer;
sl_st_writer *sl_st_writer_new(void);
/* The data is copied at add time. */
int sl_st_writer_add(sl_st_writer *w, const char *name, sl_dtype dt, int ndim, const int64_t *shape, const void *data);
/* Like sl_st_writer_add but borrows data: it must stay valid until sl_st_writer_write
 * (saves a copy of a whole model when writing a parameter table). */
int sl_st_writer_add_ref(sl_st_writer *w, const char *name, sl_dtype dt, int ndim, const int64_t *shape, const void *data);
int sl_st_writer_meta(sl_st_writer *w, const char *key, const char *value);
/* Tensors are written in insertion order, data contiguous in that order, "__metadata__"
 * first; the header is space-padded so the data block starts at a multiple of 8. */
int sl_st_writer_write(sl_st_writer *w, const char *path); /* atomic */
void sl_st_writer_free(sl_st_writer *w);

#ifdef __cplusplus
}
#endif
#endif
