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

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;
    char type;       /* 'i' integer, 'f' real, 'b' bool (0/1/true/false), 's' string */
    const char *def; /* default as text */
    double lo, hi;   /* valid range for 'i' and 'f' (inclusive) */
    const char *help;
    /* Binding to a field of a configuration struct (bind == 0: not bound; the model reads the
     * key itself). Written with the SL_KEY_* macros below, which check the field's C type at
     * compile time. */
    char bind;           /* SL_BIND_INT, _FLOAT, _DOUBLE, _BOOL, _CHOICE, _STR */
    size_t off;          /* offsetof(struct, field) */
    const char *choices; /* 's' keys with a fixed set of values: "flash|naive"; the field gets
                            * vals[i] (or i when vals is NULL) for the i-th name */
    const int *vals;
} sl_spec_key;

enum {
    SL_BIND_NONE = 0,
    SL_BIND_INT = 'i',
    SL_BIND_FLOAT = 'f',
    SL_BIND_DOUBLE = 'd',
    SL_BIND_BOOL = 'b',
    SL_BIND_CHOICE = 'c',
    SL_BIND_STR = 's'
};

/* Key table rows bound to field F of struct T (type-checked: a wrong field type does not
 * compile). NAME is the spec key, DEF its default as text, [LO, HI] its range. */
#define SL_BIND_CHECK_(T, F, CT) (0 * sizeof(int[_Generic(((T *)0)->F, CT : 1, default : -1)]))
#define SL_KEY_INT(T, F, NAME, DEF, LO, HI, HELP) \
    { \
        NAME, 'i', DEF, LO, HI, HELP, SL_BIND_INT, offsetof(T, F) + SL_BIND_CHECK_(T, F, int), NULL, NULL \
    }
#define SL_KEY_BOOL(T, F, NAME, DEF, HELP) \
    { \
        NAME, 'b', DEF, 0, 1, HELP, SL_BIND_BOOL, offsetof(T, F) + SL_BIND_CHECK_(T, F, int), NULL, NULL \
    }
#define SL_KEY_FLOAT(T, F, NAME, DEF, LO, HI, HELP) \
    { \
        NAME, 'f', DEF, LO, HI, HELP, SL_BIND_FLOAT, offsetof(T, F) + SL_BIND_CHECK_(T, F, float), NULL, NULL \
    }
#define SL_KEY_DOUBLE(T, F, NAME, DEF, LO, HI, HELP) \
    { \
        NAME, 'f', DEF, LO, HI, HELP, SL_BIND_DOUBLE, offsetof(T, F) + SL_BIND_CHECK_(T, F, double), NULL, NULL \
    }
/* CHOICES "a|b|c"; VALS an int array (the value stored for each name) or NULL (the index) */
#define SL_KEY_CHOICE(T, F, NAME, DEF, CHOICES, VALS, HELP) \
    { \
        NAME, 's', DEF, 0, 0, HELP, SL_BIND_CHOICE, offsetof(T, F) + SL_BIND_CHECK_(T, F, int), CHOICES, VALS \
    }
/* the field (const char *) points into the spec or the table: valid while both live */
#define SL_KEY_STR(T, F, NAME, DEF, HELP) \
    { \
        NAME, 's', DEF, 0, 0, HELP, SL_BIND_STR, offsetof(T, F) + SL_BIND_CHECK_(T, F, const char *), NULL, NULL \
    }
#define SL_KEY_END \
    { \
        NULL, 0, NULL, 0, 0, NULL, 0, 0, NULL, NULL \
    }

typedef struct {
    char *name; /* before ':' */
    int n;
    char **keys, **vals;
} sl_spec;

int sl_spec_parse(const char *text, sl_spec **out);
void sl_spec_free(sl_spec *s);
sl_spec *sl_spec_dup(const sl_spec *s);
const char *sl_spec_raw(const sl_spec *s, const char *key);    /* NULL if absent */
int sl_spec_set(sl_spec *s, const char *key, const char *val); /* add or replace */
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

/* The bound keys of a table and a configuration struct cfg (the struct the SL_KEY_* rows name):
 *   sl_spec_defaults   every bound field from the table's defaults (the C defaults of the
 *                      model: a model's _config_default function is this call, plus nothing);
 *   sl_spec_read       every bound field from the spec s (its value, or the default when the
 *                      key is absent), type, range and choice checked; unbound keys untouched;
 *   sl_spec_canonical  "name:key=value,..." for every bound key, in table order, from the
 *                      struct's values (%.9g for reals): the spec that rebuilds cfg (caller frees).
 * A choice key's value outside its choices is an error naming them. */
int sl_spec_defaults(const sl_spec_key *table, void *cfg);
int sl_spec_read(const sl_spec *s, const sl_spec_key *table, void *cfg);
char *sl_spec_canonical(const char *name, const sl_spec_key *table, const void *cfg);

/* Parse helpers also used by the CLI for flag values: whole string must be a number in
 * [lo, hi]. */
int sl_parse_int(const char *text, long lo, long hi, long *out);
int sl_parse_double(const char *text, double lo, double hi, double *out);

#ifdef __cplusplus
}
#endif
#endif
