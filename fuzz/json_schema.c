/* fuzz/json_schema.c — `seqlab generate --json-schema FILE`: the schema reader and compiler
 * (lab/constrain_json.c) to a regular expression, that expression's DFA over a fixed vocabulary,
 * and a walk of the token automaton (fuzz/constrain_common.h). Every string of the language is a
 * JSON text, so a walk that ends accepting must parse with core/json.c. Input: the schema up to
 * its first NUL (at most 4096 bytes); the bytes after it steer the walk. */
#include "fuzz/constrain_common.h"

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fc_vocab();
    size_t ns = 0;
    while (ns < size && data[ns]) ns++;
    if (ns > 4096) return 0;
    char *re;
    if (sl_json_schema_regex((const char *)data, ns, &re)) return fuzz_reject();
    sl_constraint *c;
    if (sl_constraint_regex(re, FC_V, fc_piece_, fc_len_, &c)) {
        free(re);
        return fuzz_reject();
    }
    size_t off = ns < size ? ns + 1 : size;
    char *text = fc_walk(c, data + off, size - off);
    if (text) {
        sl_json *j;
        if (sl_json_parse(text, strlen(text), &j)) abort(); /* every instance written is JSON */
        sl_json_free(j);
        free(text);
    }
    sl_constraint_free(c);
    free(re);
    return 0;
}
