/* core/json.h — a small, strict JSON reader (RFC 8259) for file headers.
 *
 * Parses a whole document into a tree. Limits guard hostile input: nesting depth <= 64,
 * input length as given (never reads past it), strings must be valid UTF-8 after escapes.
 * Numbers are kept as double and as their source text (so 64-bit integers are exact).
 */
#ifndef SL_CORE_JSON_H
#define SL_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SL_JSON_NULL, SL_JSON_BOOL, SL_JSON_NUMBER, SL_JSON_STRING, SL_JSON_ARRAY, SL_JSON_OBJECT } sl_json_type;

typedef struct sl_json {
    sl_json_type type;
    int boolean;
    double number;
    char *str;              /* STRING: value; NUMBER: source text */
    size_t n;               /* ARRAY/OBJECT: number of items */
    char **keys;            /* OBJECT: keys[i] */
    struct sl_json **items; /* ARRAY/OBJECT: values */
} sl_json;

/* Parse len bytes. On failure returns SL_EFORMAT with the byte offset in the message. */
int sl_json_parse(const char *text, size_t len, sl_json **out);
void sl_json_free(sl_json *j);
const sl_json *sl_json_get(const sl_json *obj, const char *key); /* NULL if absent */
/* NUMBER that is an exact integer in [lo, hi] -> *v; else SL_EFORMAT */
int sl_json_int(const sl_json *j, int64_t lo, int64_t hi, int64_t *v);
/* Write a JSON string literal (with quotes and escapes) of s into buf; returns length that
 * would be written (snprintf semantics). */
size_t sl_json_quote(char *buf, size_t cap, const char *s);

#ifdef __cplusplus
}
#endif
#endif
