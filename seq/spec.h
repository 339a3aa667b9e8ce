/* seq/spec.h — model spec strings: "name" or "name:key=value,key=value,...".
 *
 * Each model publishes a key table (sl_spec_key[], ended by {NULL}) giving every key's type,
 * default and valid range; the table is the single source of truth for defaults and for
 * `seqlab list`. Keys follow the PyTorch constructor's argument names where one exists.
 * Getters read a key's value from the spec or, when absent, the table's default, and check
 * type and range. sl_spec_check rejects any key that none of the given tables knows, with a
 * message that lists the valid keys.
 */
#ifndef SL_SEQ_SPEC_H
#define SL_SEQ_SPEC_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;
    char type;          /* 'i' integer, 'f' real, 'b' bool (0/1/true/false), 's' string */
    const char *def;    /* default as text */
    double lo, hi;      /* valid range for 'i' and 'f' (inclusive) */
    const char *help;
} sl_spec_key;

typedef struct {
    char *name;         /* before ':' */
    int n;
    char **keys, **vals;
} sl_spec;

int sl_spec_parse(const char *text, sl_spec **out);
void sl_spec_free(sl_spec *s);
sl_spec *sl_spec_dup(const sl_spec *s);
const char *sl_spec_raw(const sl_spec *s, const char *key);     /* NULL if absent */
int sl_spec_set(sl_spec *s, const char *key, const char *val);  /* add or replace */
int sl_spec_remove(sl_spec *s, const char *key);
/* "name:k=v,..." in the order given; caller frees */
char *sl_spec_format(const sl_spec *s);

/* tables: NULL-terminated array of key tables; every key of s must be in one of them, and
 * every value given must have its key's type and range (the first table that has the key
 * decides). Messages name the key, the value and "<kind> '<name>'" ("model 'lstm'",
 * "task 'copy'"), suggest the nearest valid key for a likely typo and list the valid keys.
 * sl_spec_check is sl_spec_check_kind(s, tables, "model"). */
int sl_spec_check(const sl_spec *s, const sl_spec_key *const *tables);
int sl_spec_check_kind(const sl_spec *s, const sl_spec_key *const *tables, const char *kind);

/* "Did you mean": the candidate nearest to a mistyped word. Feed every candidate with
 * sl_nearest_add; sl_nearest_get returns the nearest if it is close enough to be a likely
 * typo (edit distance with adjacent transpositions, case-insensitive: at most 1 for words of
 * up to 4 characters, 2 up to 8, 3 beyond), else NULL. Candidate pointers are kept, not
 * copied. */
typedef struct {
    const char *word;
    const char *best;
    int dist;
} sl_nearest;
void sl_nearest_init(sl_nearest *n, const char *word);
void sl_nearest_add(sl_nearest *n, const char *cand);
const char *sl_nearest_get(const sl_nearest *n);
/* optimal-string-alignment distance (Levenshtein plus adjacent transpositions), ASCII
 * case-insensitive; words longer than 63 characters compare as far apart */
int sl_edit_distance(const char *a, const char *b);

int sl_spec_int(const sl_spec *s, const sl_spec_key *table, const char *key, int *out);
int sl_spec_float(const sl_spec *s, const sl_spec_key *table, const char *key, double *out);
int sl_spec_bool(const sl_spec *s, const sl_spec_key *table, const char *key, int *out);
/* returned pointer lives as long as s / table */
int sl_spec_str(const sl_spec *s, const sl_spec_key *table, const char *key, const char **out);

/* Parse helpers also used by the CLI for flag values: whole string must be a number in
 * [lo, hi]. */
int sl_parse_int(const char *text, long lo, long hi, long *out);
int sl_parse_double(const char *text, double lo, double hi, double *out);

#ifdef __cplusplus
}
#endif
#endif
