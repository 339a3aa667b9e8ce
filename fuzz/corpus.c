/* fuzz/corpus.c — text corpora as the n-gram, word2vec and charlm paths read them: the
 * streaming corpus reader (words with line ends, UTF-8 characters, bytes; seek into the
 * middle), the word / char / byte tokenizers built from the file, the file encoded and
 * decoded, and the charlm task made from it (alphabet, splits). */
#include "fuzz/fuzz.h"

#include "lab/tasks.h"
#include "nlp/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    sl_corpus *c;
    if (!sl_corpus_open(path, &c)) {
        const char *w;
        size_t len;
        for (int k = 0; k < 3; k++) {
            if (sl_corpus_rewind(c)) abort();
            uint64_t total = 0;
            int r;
            while ((r = sl_corpus_next(c, (sl_tok_kind)k, &w, &len)) > 0) {
                if (r == SL_CORPUS_TOKEN && (len == 0 || len > size)) abort(); /* tokens are non-empty bytes of the file */
                total += len;
            }
            if (k == SL_TOK_BYTE && r == 0 && total != size) abort(); /* bytes: the whole file */
        }
        if (!sl_corpus_seek(c, size / 2))
            while (sl_corpus_next_word(c, &w, &len) > 0) {}
        sl_corpus_close(c);
    }
    for (int k = 0; k < 3; k++) {
        sl_tokenizer *t;
        if (sl_tokenizer_build(path, (sl_tok_kind)k, 1, &t)) continue;
        int32_t *ids;
        size_t n;
        if (!sl_tokenizer_encode_file(t, path, &ids, &n)) {
            char *text = sl_tokenizer_decode(t, ids, n);
            /* bytes and characters decode back to the file itself */
            if (text && k != SL_TOK_WORD && (strlen(text) != size || memcmp(text, data, size)) && !memchr(data, 0, size)) abort();
            free(text);
            free(ids);
        }
        sl_tokenizer_free(t);
    }
    char spec[400];
    snprintf(spec, sizeof spec, "charlm:corpus=%s,seq_len=2,val_frac=0.5", path);
    sl_task *task;
    if (!sl_task_create(spec, &task)) sl_task_free(task);
    else fuzz_reject();
    return 0;
}
