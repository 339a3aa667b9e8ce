/* fuzz/shards.c — an llm.c token shard (sl_shard_open: magic, version, count against the file
 * size; sl_shard_read). A shard that opens is read in windows (the start, the end, one past
 * the end, which must fail) against its own vocabulary: every token read lies below it. */
#include "fuzz/fuzz.h"
#include "nlp/shards.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_shard s;
    if (sl_shard_open(fuzz_file(data, size), &s)) return fuzz_reject();
    if (s.n_tokens < 0 || (s.width != 2 && s.width != 4)) abort();
    if ((uint64_t)s.n_tokens * (uint64_t)s.width + SL_SHARD_HEADER_BYTES != size) abort(); /* the size was checked */
    int32_t buf[512];
    size_t k = s.n_tokens < 512 ? (size_t)s.n_tokens : 512;
    for (int pass = 0; pass < 2; pass++) {
        int64_t off = pass ? s.n_tokens - (int64_t)k : 0;
        if (!sl_shard_read(&s, off, k, buf, s.vocab))
            for (size_t i = 0; i < k; i++)
                if (buf[i] < 0 || (s.vocab > 0 && buf[i] >= s.vocab)) abort();
    }
    if (!sl_shard_read(&s, s.n_tokens, 1, buf, 0)) abort(); /* past the end */
    sl_shard_close(&s);
    return 0;
}
