/* fuzz/llama2c_tok.c — llama2.c's tokenizer.bin. The first two input bytes give vocab_size
 * (little-endian, 1..65536; in llama2.c it comes from the checkpoint), the rest is the file.
 * A tokenizer that reads is then used as `generate --llama2c` uses it: a fixed prompt (ASCII,
 * multi-byte UTF-8, bytes needing the <0xHH> fallback) encoded with BOS and EOS, every token
 * decoded after every one of BOS / the previous token, and the ids out of range refused. */
#include "fuzz/fuzz.h"

#include "seq/llama2c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int V = (data[0] | data[1] << 8) + 1;
    sl_llama2c_tokenizer *t;
    if (sl_llama2c_tokenizer_read(fuzz_file(data + 2, size - 2), V, &t)) return fuzz_reject();
    if (sl_llama2c_tokenizer_size(t) != V) abort();
    int32_t *ids;
    int n;
    static const char prompt[] = "Once upon a time, \xc3\xa9t\xc3\xa9 \xe2\x82\xac\x01\x7f\xff  x";
    if (!sl_llama2c_encode(t, prompt, 1, 1, &ids, &n)) {
        int prev = 1;
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= V) abort(); /* encode yields ids of the vocabulary */
            if (!sl_llama2c_decode(t, prev, ids[i])) abort();
            prev = ids[i];
        }
        free(ids);
    }
    if (!sl_llama2c_encode(t, "", 0, 0, &ids, &n)) free(ids);
    for (int i = 0; i < V && i < 512; i++) sl_llama2c_decode(t, i ? i - 1 : 1, i);
    if (sl_llama2c_decode(t, 1, V) || sl_llama2c_decode(t, 1, -1)) abort(); /* out of range: NULL */
    sl_llama2c_tokenizer_free(t);
    return 0;
}
