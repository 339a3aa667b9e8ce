/* fuzz/safetensors.c — the safetensors reader (header length, strict JSON header, dtypes,
 * shapes, offsets, tiling of the data block), then every tensor converted to float32 and
 * every metadata key looked up, as the checkpoint and export readers do. */
#include "fuzz/fuzz.h"

#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_safetensors *st;
    if (sl_safetensors_parse(data, size, &st)) return fuzz_reject();
    for (size_t i = 0; i < st->n; i++) {
        const sl_st_tensor *t = &st->t[i];
        if (sl_safetensors_find(st, t->name) == NULL) abort(); /* every listed tensor is found */
        if (t->numel <= (1u << 20)) {
            float *dst = malloc((t->numel ? t->numel : 1) * sizeof(float));
            if (dst) {
                sl_safetensors_get_f32(st, t, dst, t->numel);
                free(dst);
            }
        }
    }
    for (size_t i = 0; i < st->n_meta; i++)
        if (sl_safetensors_meta(st, st->meta_key[i]) == NULL) abort();
    sl_safetensors_find(st, "model");
    sl_safetensors_meta(st, "step");
    sl_safetensors_free(st);
    return 0;
}
