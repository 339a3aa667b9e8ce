/* fuzz/w2v_text.c — the word2vec text reader ("V D" header checked against the file size,
 * words, D numbers per line), then every word looked up and the vectors
 * normalised, as the analogy evaluation does. */
#include "fuzz/fuzz.h"

#include "nlp/word2vec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_w2v *w;
    if (sl_w2v_load(fuzz_file(data, size), 0, &w)) return fuzz_reject();
    for (int i = 0; i < w->V; i++)
        if (sl_w2v_find(w, w->words[i]) < 0) abort(); /* every word read is found */
    free(sl_w2v_normalized(w));
    sl_w2v_free(w);
    return 0;
}
