/* fuzz/npy.c — the .npy reader (magic, version, header dict, dtype, shape, data size). */
#include "fuzz/fuzz.h"

#include "core/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_npy a;
    if (sl_npy_parse(data, size, &a)) return fuzz_reject();
    size_t n = 1;
    for (int i = 0; i < a.ndim; i++) n *= (size_t)a.shape[i];
    if (n != a.numel) abort(); /* the reader's numel is the product of its shape */
    if (a.numel) {
        volatile unsigned char s = 0;
        const unsigned char *p = a.data;
        size_t bytes = a.numel * sl_dtype_size(a.dtype);
        s ^= p[0];
        s ^= p[bytes - 1]; /* the data holds every element */
        (void)s;
    }
    sl_npy_free(&a);
    return 0;
}
