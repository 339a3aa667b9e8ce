/* fuzz/json.c — the strict JSON reader: parse, walk the tree, read numbers as integers,
 * look keys up, quote every string back. */
#include "fuzz/fuzz.h"

#include "core/json.h"

static void walk(const sl_json *j, int depth)
{
    if (depth > 70) abort(); /* the reader limits nesting to 64 */
    char buf[64];
    int64_t v;
    switch (j->type) {
    case SL_JSON_NUMBER:
        sl_json_int(j, INT64_MIN, INT64_MAX, &v);
        sl_json_int(j, 0, 100, &v);
        break;
    case SL_JSON_STRING: sl_json_quote(buf, sizeof buf, j->str); break;
    case SL_JSON_OBJECT:
        for (size_t i = 0; i < j->n; i++) {
            if (sl_json_get(j, j->keys[i]) == NULL) abort();
            sl_json_quote(buf, sizeof buf, j->keys[i]);
        }
        /* fall through */
    case SL_JSON_ARRAY:
        for (size_t i = 0; i < j->n; i++) walk(j->items[i], depth + 1);
        break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_json *j;
    if (sl_json_parse((const char *)data, size, &j)) return fuzz_reject();
    walk(j, 0);
    sl_json_free(j);
    return 0;
}
