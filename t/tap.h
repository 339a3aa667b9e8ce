/* t/tap.h — a tiny TAP producer (Test Anything Protocol) for the test programs.
 * Use: plan(n) or no plan + done_testing(); ok(cond, fmt, ...); is_close(a, b, tol, ...);
 * skip_all(reason); diag(fmt, ...). exit_status() is non-zero if any test failed. */
#ifndef SL_T_TAP_H
#define SL_T_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n = 0, tap_failed = 0;

static inline void plan(int n)
{
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static inline int vok(int cond, const char *fmt, va_list ap)
{
    tap_n++;
    if (!cond) tap_failed++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vok(cond, fmt, ap);
    va_end(ap);
    return r;
}

/* |a - b| <= tol (and both finite) */
static inline int is_close(double a, double b, double tol, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int cond = isfinite(a) && isfinite(b) && fabs(a - b) <= tol;
    int r = vok(cond, fmt, ap);
    va_end(ap);
    if (!cond) diag("  got %.9g, expected %.9g (tol %.3g)", a, b, tol);
    return r;
}

static inline void skip(const char *reason)
{
    tap_n++;
    printf("ok %d # SKIP %s\n", tap_n, reason);
    fflush(stdout);
}

static inline void skip_all(const char *reason)
{
    printf("1..0 # SKIP %s\n", reason);
    exit(0);
}

static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

static inline int exit_status(void) { return tap_failed ? 1 : 0; }

#endif
