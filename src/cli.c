/* src/cli.c — error/usage printing and flag parsing shared by the subcommands. */
#include "src/cli.h"
#include "core/error.h"
#include "seq/spec.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("seqlab: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("seqlab: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (usage) fputs(usage, stderr);
    return 2;
}

int cli_lib_fail(const char *ctx) { return cli_fail("%s%s%s", ctx ? ctx : "", ctx ? ": " : "", sl_errmsg()); }

int cli_wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 1;
        }
    return 0;
}

int cli_int(const char *usage, const char *flag, const char *text, long lo, long hi, long *out)
{
    if (sl_parse_int(text, lo, hi, out)) {
        cli_usage(usage, "%s: %s", flag, sl_errmsg());
        return 0;
    }
    return 1;
}

int cli_double(const char *usage, const char *flag, const char *text, double lo, double hi, double *out)
{
    if (sl_parse_double(text, lo, hi, out)) {
        cli_usage(usage, "%s: %s", flag, sl_errmsg());
        return 0;
    }
    return 1;
}

int cli_spec_fail(int rc, const char *flag)
{
    if (rc == SL_EINVAL || rc == SL_ENOTFOUND) {
        cli_fail("%s: %s", flag, sl_errmsg());
        return 2;
    }
    return cli_lib_fail(flag);
}

const char *cli_did_you_mean(const char *word, const char *prefix, const char *const *cands)
{
    static char buf[160];
    size_t pl = prefix ? strlen(prefix) : 0;
    if (pl && !strncmp(word, prefix, pl)) word += pl;
    sl_nearest near;
    sl_nearest_init(&near, word);
    for (; *cands; cands++) sl_nearest_add(&near, *cands);
    const char *g = sl_nearest_get(&near);
    if (!g) return "";
    snprintf(buf, sizeof buf, " (did you mean '%s%s'?)", pl ? prefix : "", g);
    return buf;
}

int cli_bad_option(const char *usage, const struct option *opts, char **argv, int optind_now)
{
    const char *arg = argv[optind_now - 1];
    if (optopt) return cli_usage(usage, "option %s needs a value", arg);
    /* "--name=value": suggest for the name */
    char name[128];
    snprintf(name, sizeof name, "%s", arg);
    char *eq = strchr(name, '=');
    if (eq) *eq = '\0';
    const char *cands[128];
    int n = 0;
    for (const struct option *o = opts; o->name && n < 127; o++) cands[n++] = o->name;
    cands[n] = NULL;
    return cli_usage(usage, "unknown option '%s'%s", arg, !strncmp(name, "--", 2) ? cli_did_you_mean(name, "--", cands) : "");
}
