/* fuzz/spec.c — model and task spec strings ("name:key=value,..."), as --model and --task
 * give them: the parser, the model registry (name lookup, key check with "did you mean",
 * every typed getter of the entry's keys), and the task table the same way. A spec whose
 * integers are all small (<= 64, given or default, so `gpt` needs n_layer, n_embd, block_size
 * and vocab_size given) is also built into a model, which runs every family's own checks of
 * its keys (divisibility, combinations), and freed: a model of valid large sizes costs
 * seconds and gigabytes per input, which is no finding. Tasks are not created: a task
 * spec names corpus files, and reading arbitrary paths is the corpus harness's job. */
#include "fuzz/fuzz.h"

#include "core/error.h"
#include "lab/registry.h"
#include "lab/tasks.h"
#include "seq/spec.h"
#include "fuzz/small_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = fuzz_string(data, size);
    sl_spec *s;
    if (!sl_spec_parse(text, &s)) {
        sl_spec *d = sl_spec_dup(s);
        char *f = sl_spec_format(s);
        /* a formatted spec parses back to the same keys */
        sl_spec *s2;
        if (f && !sl_spec_parse(f, &s2)) {
            if (s2->n != s->n) abort();
            sl_spec_free(s2);
        }
        free(f);
        if (d) {
            sl_spec_set(d, "d_model", "8");
            sl_spec_remove(d, "n_layer");
            sl_spec_free(d);
        }
        const sl_task_entry *te = sl_task_find(s->name);
        if (te) {
            const sl_spec_key *tables[2] = {te->keys, NULL};
            if (!sl_spec_check_kind(s, tables, "task")) fuzz_spec_getters(s, te->keys);
        }
        sl_spec_free(s);
    }
    sl_model *m;
    if (!fuzz_model_create_small(text, &m)) sl_model_free(m);
    else fuzz_reject();
    free(text);
    return 0;
}
