/* fuzz/arpa.c — the ARPA reader (\data\ counts, sections, n-gram lines, log-probabilities and
 * backoffs, \end\), then the backoff scorer against its naive reference on a few n-grams. */
#include "fuzz/fuzz.h"

#include "nlp/ngram.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_ngram_lm *lm;
    if (sl_arpa_read(fuzz_file(data, size), &lm)) return fuzz_reject();
    int32_t ids[4] = {sl_ngram_word(lm, "a", 1), sl_ngram_word(lm, "b", 1), sl_ngram_word(lm, "<s>", 3),
                      sl_ngram_word(lm, "</s>", 4)};
    for (int i = 0; i < 4; i++)
        for (int n = 0; n < 4; n++) {
            int len;
            float a = sl_ngram_score(lm, ids, n, ids[i], &len), b = sl_ngram_score_ref(lm, ids, n, ids[i]);
            /* the fast scorer and the definition agree on every model the reader accepts */
            if (!(a == b || fabsf(a - b) <= 1e-4f * fmaxf(1.0f, fabsf(b))) && !(isnan(a) && isnan(b))) abort();
        }
    sl_ngram_free(lm);
    return 0;
}
