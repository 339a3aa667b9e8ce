/* fuzz/tok_hf.c — a Hugging Face tokenizer.json (sl_bpe_load_hf); a model that loads is used
 * as fuzz/tok_common.h says, and written back with sl_bpe_save_hf, which must read again as a
 * model of the same size. */
#include "fuzz/tok_common.h"

static char out_path[300];
static void out_cleanup(void)
{
    if (out_path[0]) unlink(out_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    sl_bpe *b;
    if (sl_bpe_load_hf(path, &b)) return fuzz_reject();
    fuzz_bpe_use(b);
    if (!out_path[0]) {
        snprintf(out_path, sizeof out_path, "%s-tokenizer.json", path);
        atexit(out_cleanup);
    }
    sl_bpe *c;
    if (sl_bpe_save_hf(b, out_path) || sl_bpe_load_hf(out_path, &c)) abort(); /* what seqlab writes, it reads */
    if (c->n_vocab != b->n_vocab || c->n_merges != b->n_merges) abort();
    sl_bpe_free(c);
    sl_bpe_free(b);
    return 0;
}
