/* src/cli.c — error/usage printing and flag parsing shared by the subcommands. */
#include "src/cli.h"
#include "core/error.h"
#include "seq/spec.h"

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

int cli_lib_fail(const char *ctx)
{
    return cli_fail("%s%s%s", ctx ? ctx : "", ctx ? ": " : "", sl_errmsg());
}

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
