/* fuzz/bpe_gpt2.c — GPT-2's vocab.json + merges.txt (sl_bpe_load_gpt2). The input is the two
 * files joined by the line "#merges.txt" (the first such line splits; without one the whole
 * input is vocab.json and merges.txt is empty). A model that loads is used as
 * fuzz/tok_common.h says. */
#include "fuzz/tok_common.h"

static char merges_path[300];
static void merges_cleanup(void)
{
    if (merges_path[0]) unlink(merges_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n#merges.txt\n";
    size_t vn = size, ms = size;
    for (size_t i = 0; i + sizeof sep - 1 <= size; i++)
        if (!memcmp(data + i, sep, sizeof sep - 1)) {
            vn = i + 1;
            ms = i + sizeof sep - 1;
            break;
        }
    const char *vocab = fuzz_file(data, vn);
    if (!merges_path[0]) {
        snprintf(merges_path, sizeof merges_path, "%s-merges", vocab);
        atexit(merges_cleanup);
    }
    FILE *f = fopen(merges_path, "wb");
    if (!f) abort();
    if (size > ms && fwrite(data + ms, 1, size - ms, f) != size - ms) abort();
    if (fclose(f)) abort();
    sl_bpe *b;
    if (sl_bpe_load_gpt2(vocab, merges_path, &b)) return fuzz_reject();
    fuzz_bpe_use(b);
    sl_bpe_free(b);
    return 0;
}
