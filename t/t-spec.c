/* t/t-spec.c — spec strings: parsing, typed getters with table defaults, every error path. */
#include "core/error.h"
#include "seq/spec.h"
#include "t/tap.h"

#include <stdlib.h>
#include <string.h>

static const sl_spec_key keys[] = {
    {"hidden_size", 'i', "32", 1, 4096, "h"},   {"dropout", 'f', "0", 0, 1, "p"}, {"bias", 'b', "1", 0, 1, "b"},
    {"nonlinearity", 's', "tanh", 0, 0, "act"}, {NULL, 0, NULL, 0, 0, NULL},
};

static int parse_fails(const char *text, const char *needle)
{
    sl_spec *s;
    int rc = sl_spec_parse(text, &s);
    if (rc == 0) {
        sl_spec_free(s);
        return 0;
    }
    return rc == SL_EINVAL && strstr(sl_errmsg(), needle) != NULL;
}

int main(void)
{
    sl_spec *s;
    ok(sl_spec_parse("lstm:hidden_size=13,dropout=0.25,bias=false", &s) == 0, "parse a full spec");
    ok(!strcmp(s->name, "lstm") && s->n == 3, "name and three keys");
    int h, b;
    double d;
    const char *nl;
    ok(sl_spec_int(s, keys, "hidden_size", &h) == 0 && h == 13, "int value");
    ok(sl_spec_float(s, keys, "dropout", &d) == 0 && d == 0.25, "float value");
    ok(sl_spec_bool(s, keys, "bias", &b) == 0 && b == 0, "bool 'false'");
    ok(sl_spec_str(s, keys, "nonlinearity", &nl) == 0 && !strcmp(nl, "tanh"), "absent key takes the table default");
    const sl_spec_key *tables[] = {keys, NULL};
    ok(sl_spec_check(s, tables) == 0, "known keys pass the check");
    char *f = sl_spec_format(s);
    ok(!strcmp(f, "lstm:hidden_size=13,dropout=0.25,bias=false"), "format round-trips");
    free(f);
    sl_spec_free(s);

    ok(sl_spec_parse("rnn", &s) == 0 && s->n == 0, "bare name");
    sl_spec_free(s);
    ok(sl_spec_parse("rnn:hidden=3", &s) == 0, "parse unknown key");
    ok(sl_spec_check(s, tables) == SL_EINVAL && strstr(sl_errmsg(), "unknown key 'hidden'") &&
           strstr(sl_errmsg(), "hidden_size, dropout, bias, nonlinearity"),
       "unknown key error lists the valid keys");
    sl_spec_free(s);
    ok(parse_fails("", "empty"), "empty spec");
    ok(parse_fails(":a=1", "bad name"), "missing name");
    ok(parse_fails("rnn:", "nothing after"), "nothing after ':'");
    ok(parse_fails("rnn:hidden_size", "not key=value"), "item without '='");
    ok(parse_fails("rnn:hidden_size=", "bad item"), "empty value");
    ok(parse_fails("rnn:=3", "bad item"), "empty key");
    ok(parse_fails("rnn:a=1,", "trailing"), "trailing comma");
    ok(parse_fails("rnn:a=1,a=2", "given twice"), "duplicate key");
    ok(parse_fails("r n n", "bad name"), "bad characters in name");

    sl_spec_parse("x:hidden_size=abc,dropout=1.5,bias=maybe,nonlinearity=relu", &s);
    ok(sl_spec_int(s, keys, "hidden_size", &h) == SL_EINVAL && strstr(sl_errmsg(), "hidden_size"),
       "non-integer value names the key");
    ok(sl_spec_float(s, keys, "dropout", &d) == SL_EINVAL && strstr(sl_errmsg(), "out of range"), "out-of-range real");
    ok(sl_spec_bool(s, keys, "bias", &b) == SL_EINVAL && strstr(sl_errmsg(), "not a boolean"), "bad boolean");
    sl_spec_set(s, "hidden_size", "0");
    ok(sl_spec_int(s, keys, "hidden_size", &h) == SL_EINVAL, "integer below range");
    sl_spec_set(s, "hidden_size", "99999999999999999999");
    ok(sl_spec_int(s, keys, "hidden_size", &h) == SL_EINVAL, "integer overflow");
    sl_spec_set(s, "dropout", "nan");
    ok(sl_spec_float(s, keys, "dropout", &d) == SL_EINVAL, "NaN refused");
    ok(sl_spec_remove(s, "dropout") == 0 && sl_spec_raw(s, "dropout") == NULL, "remove a key");
    sl_spec_free(s);
    /* sl_spec_check: values of given keys, the kind word, did you mean */
    sl_spec_parse("copy:hidden_size=abc", &s);
    ok(sl_spec_check_kind(s, tables, "task") == SL_EINVAL &&
           !strcmp(sl_errmsg(), "key 'hidden_size' of task 'copy': 'abc' is not an integer"),
       "check: bad value, kind and key named");
    sl_spec_set(s, "hidden_size", "5");
    sl_spec_set(s, "bias", "maybe");
    ok(sl_spec_check(s, tables) == SL_EINVAL && strstr(sl_errmsg(), "key 'bias' of model 'copy'") &&
           strstr(sl_errmsg(), "not a boolean"),
       "check: bad boolean");
    sl_spec_set(s, "bias", "true");
    sl_spec_set(s, "dropout", "2");
    ok(sl_spec_check(s, tables) == SL_EINVAL && strstr(sl_errmsg(), "key 'dropout'") && strstr(sl_errmsg(), "out of range"),
       "check: real out of range");
    sl_spec_set(s, "dropout", "0.5");
    ok(sl_spec_check(s, tables) == 0, "check: good values pass");
    sl_spec_set(s, "hiden_size", "5");
    ok(sl_spec_check_kind(s, tables, "task") == SL_EINVAL &&
           strstr(sl_errmsg(), "unknown key 'hiden_size' for task 'copy'; did you mean 'hidden_size'?"),
       "check: did you mean");
    sl_spec_remove(s, "hiden_size");
    sl_spec_set(s, "zzz", "5");
    ok(sl_spec_check(s, tables) == SL_EINVAL && !strstr(sl_errmsg(), "did you mean") && strstr(sl_errmsg(), "valid keys"),
       "check: no suggestion for a far word");
    sl_spec_free(s);
    ok(sl_edit_distance("lenght", "length") == 1, "edit distance: a transposition is 1");
    ok(sl_edit_distance("hiden_size", "hidden_size") == 1, "edit distance: an insertion is 1");
    ok(sl_edit_distance("LSTM", "lstm") == 0, "edit distance ignores case");
    ok(sl_edit_distance("abc", "xyz") == 3 && sl_edit_distance("", "ab") == 2, "edit distance: substitutions, empty word");
    sl_nearest near;
    sl_nearest_init(&near, "cpoy");
    sl_nearest_add(&near, "adding");
    sl_nearest_add(&near, "copy");
    sl_nearest_add(&near, "charlm");
    ok(sl_nearest_get(&near) && !strcmp(sl_nearest_get(&near), "copy"), "nearest: cpoy -> copy");
    sl_nearest_init(&near, "gr");
    sl_nearest_add(&near, "gru");
    sl_nearest_add(&near, "s4");
    ok(sl_nearest_get(&near) && !strcmp(sl_nearest_get(&near), "gru"), "nearest: gr -> gru");
    sl_nearest_init(&near, "s");
    sl_nearest_add(&near, "s4");
    ok(sl_nearest_get(&near) == NULL, "nearest: no guess as long as the word itself");
    sl_nearest_init(&near, "transformer");
    sl_nearest_add(&near, "attention");
    ok(sl_nearest_get(&near) == NULL, "nearest: no guess beyond the limit");
    long v;
    ok(sl_parse_int("12x", 0, 100, &v) == SL_EINVAL, "trailing garbage in an integer flag");
    ok(sl_parse_int("42", 0, 100, &v) == 0 && v == 42, "integer flag");
    return done_testing();
}
