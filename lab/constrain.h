/* lab/constrain.h — constrained generation (issue #17 item 6; JSON schemas: lab/constrain_json.c): a
 * pattern compiles to a DFA over bytes (Thompson's construction, then the subset construction;
 * states from which no accepting state can be reached are removed), and the DFA is run over the
 * model's vocabulary: a token is allowed in a state when every byte of its text keeps the DFA in
 * a live state. Sampling masks every other token (its logit set to -inf), so every output is a
 * prefix of a string of the language, and a complete match when generation ends in an
 * accepting state.
 *
 * The pattern must match the whole generated text (implicitly anchored). Supported syntax:
 * literals; escapes \\ \. \* \+ \? \( \) \[ \] \{ \} \| \^ \$ \- \/ and \n \t \r \xHH, classes \d \w \s
 * (and \D \W \S); `.` (any byte but newline); bracket classes [abc] [a-z] [^...] (escapes
 * inside); groups ( ); alternation |; the repeats * + ? {m} {m,} {m,n} (n <= 100). Anything
 * else (anchors ^ $, lazy or possessive repeats, backreferences, lookaround, named groups) is
 * refused with a message naming it and its offset. */
#ifndef SL_LAB_CONSTRAIN_H
#define SL_LAB_CONSTRAIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_constraint sl_constraint;

/* pattern: the regular expression; V tokens, token v's text is piece[v] of len[v] bytes (a
 * token with an empty text is never allowed). SL_EINVAL for syntax outside the subset,
 * SL_EUNSUPPORTED for more than 20000 DFA states, SL_EINVAL "matches no text" when no string of
 * the language can be written with the vocabulary's tokens from the start. */
int sl_constraint_regex(const char *pattern, int V, const char *const *piece, const int *len, sl_constraint **out);
void sl_constraint_free(sl_constraint *c);

/* A JSON-schema subset (lab/constrain_json.c: type, properties, required, items, enum, const,
 * additionalProperties true/false; annotations ignored) as a regular expression of this
 * module's syntax (malloc'ed into *regex). Every string of the language is a JSON text that
 * satisfies the schema; see constrain_json.c for which forms are written (whitespace, property
 * order, strings, numbers). SL_EFORMAT: not JSON; SL_EUNSUPPORTED: a keyword or form outside the
 * subset (the message names it and its JSON-pointer path); SL_EINVAL: malformed, or unsatisfiable
 * (no value satisfies the schema; the message says where). */
int sl_json_schema_regex(const char *schema, size_t len, char **regex);

/* sl_json_schema_regex, then sl_constraint_regex over the vocabulary */
int sl_constraint_json_schema(const char *schema, size_t len, int V, const char *const *piece, const int *plen,
                              sl_constraint **out);

/* the DFA state (to save and restore around speculative proposals) */
int sl_constraint_get_state(const sl_constraint *c);
void sl_constraint_set_state(sl_constraint *c, int state);

/* back to the start state */
void sl_constraint_reset(sl_constraint *c);

/* logits (V): every token not allowed in the current state set to -INFINITY. Returns the number
 * of allowed tokens (0: nothing may follow). */
int sl_constraint_mask(sl_constraint *c, float *logits);

/* As sl_constraint_mask, and also masks every token after which the shortest completion (in
 * bytes) would not fit in remaining - 1 more tokens, so that a generation of `remaining` more
 * tokens can still end in a complete match when the vocabulary has a one-byte token for every
 * byte a completion needs (character vocabularies; llama2.c's byte fallback tokens). remaining
 * < 0: no budget. */
int sl_constraint_mask_budget(sl_constraint *c, float *logits, long remaining);

/* fewest bytes from the current state to a complete match */
int sl_constraint_min_bytes(const sl_constraint *c);

/* 1 if token v is allowed now */
int sl_constraint_allows(sl_constraint *c, int v);

/* consume token v (SL_EINVAL if it is not allowed) */
int sl_constraint_advance(sl_constraint *c, int v);

/* 1 if the text so far is a complete match */
int sl_constraint_accepting(const sl_constraint *c);

/* number of DFA states (for messages and tests) */
int sl_constraint_states(const sl_constraint *c);

/* whole-string match of text against the compiled pattern (the DFA, for tests) */
int sl_constraint_matches(const sl_constraint *c, const char *text, int n);

#ifdef __cplusplus
}
#endif
#endif
