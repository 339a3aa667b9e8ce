/* core/npy.h — NumPy .npy files, format version 1.0 (read also accepts 2.0/3.0 headers).
 *
 * Magic "\x93NUMPY", version, u16 (v1) / u32 (v2+) header length, a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (B, T, D), } padded with spaces to a
 * multiple of 64 and ended by '\n', then the raw little-endian C-order data. The reader
 * validates the magic, the dict, the dtype, the shape and that the data size matches the
 * file exactly; fortran_order True is rejected.
 */
#ifndef SL_CORE_NPY_H
#define SL_CORE_NPY_H

#include "core/dtype.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_NPY_MAX_DIMS 8

typedef struct {
    sl_dtype dtype;
    int ndim;
    int64_t shape[SL_NPY_MAX_DIMS];
    size_t numel;
    void *data; /* numel * sl_dtype_size(dtype) bytes, malloc'ed */
} sl_npy;

int sl_npy_read(const char *path, sl_npy *out);
int sl_npy_parse(const void *buf, size_t len, sl_npy *out);
void sl_npy_free(sl_npy *a);
int sl_npy_write(const char *path, sl_dtype dt, int ndim, const int64_t *shape, const void *data);

#ifdef __cplusplus
}
#endif
#endif
