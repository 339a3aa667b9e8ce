/* fuzz/llama2c.c — llama2.c checkpoints (.bin): the 7-int header (positive, bounded,
 * divisible, file size exactly what it implies, finite weights), the model built for a
 * context of 4 tokens, and one forward pass over two tokens. */
#include "fuzz/fuzz.h"

#include "seq/llama2c.h"
#include "seq/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    sl_llama2c_config cfg;
    int rc_cfg = sl_llama2c_read_config(path, &cfg);
    sl_model *m;
    if (sl_llama2c_load_ctx(path, 4, &m)) return fuzz_reject();
    if (rc_cfg) abort(); /* a file that loads has a valid header */
    int32_t tok[2] = {0, cfg.vocab_size - 1};
    float *y = malloc((size_t)2 * m->d_out * sizeof(float));
    if (y) {
        sl_model_forward(m, NULL, tok, y, 1, 2);
        free(y);
    }
    sl_model_free(m);
    return 0;
}
