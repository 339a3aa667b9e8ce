/* src/cli.h — shared by the `seqlab` subcommands.
 * Exit codes: 0 success, 1 failure (`seqlab: error: ...`), 2 usage: a bad flag or flag value,
 * which includes a --model or --task spec naming an unknown model, task or key or giving a
 * key a bad value (those print the message alone, without the usage text). */
#ifndef SL_SRC_CLI_H
#define SL_SRC_CLI_H

#include <stdio.h>

/* prints "seqlab: error: <msg>\n" to stderr; returns 1 */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* prints "seqlab: error: <msg>\n" then the usage text to stderr; returns 2 */
int cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* prints "seqlab: error: <ctx>: <library message>\n"; returns 1 */
int cli_lib_fail(const char *ctx);

/* a failure rc of a library call that parsed the spec given to `flag` (--model, --task):
 * a bad spec (SL_EINVAL, SL_ENOTFOUND) prints "seqlab: error: <flag>: <message>" and returns
 * 2; any other failure (a missing corpus file, out of memory) is cli_lib_fail's 1 */
int cli_spec_fail(int rc, const char *flag);

/* getopt_long's '?' for argv[optind - 1]: "option X needs a value" or "unknown option X",
 * with the nearest long option as a "did you mean"; prints usage, returns 2 */
struct option;
int cli_bad_option(const char *usage, const struct option *opts, char **argv, int optind_now);

/* " (did you mean 'X'?)" for the candidate nearest to word (NULL-terminated list; each
 * candidate prefixed with `prefix`, e.g. "--"), or "" when none is close; static buffer */
const char *cli_did_you_mean(const char *word, const char *prefix, const char *const *cands);

/* true if argv has -h / --help; prints usage to stdout */
int cli_wants_help(int argc, char **argv, const char *usage);

/* flag value parsers: print usage error and return 0 on failure, 1 on success */
int cli_int(const char *usage, const char *flag, const char *text, long lo, long hi, long *out);
int cli_double(const char *usage, const char *flag, const char *text, double lo, double hi, double *out);

/* subcommands: each returns the process exit code */
int cmd_list(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_hippo(int argc, char **argv);
int cmd_ngram(int argc, char **argv);
int cmd_w2v(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_lora(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
