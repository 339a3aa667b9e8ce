/* fuzz/bpe.c — the seqlab-bpe file (sl_bpe_load); a model that loads is used as
 * fuzz/tok_common.h says. */
#include "fuzz/tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_bpe *b;
    if (sl_bpe_load(fuzz_file(data, size), &b)) return fuzz_reject();
    fuzz_bpe_use(b);
    sl_bpe_free(b);
    return 0;
}
