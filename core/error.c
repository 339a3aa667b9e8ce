/* core/error.c — thread-local last-error message (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char sl_msg[1024];

int sl_error(int code, const char *fmt, ...)
{
    /* format into a copy first: an argument may be sl_errmsg() itself, the buffer written */
    char msg[sizeof sl_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(sl_msg, msg, sizeof msg);
    return code;
}

/* "prefix: old", in place; a prefix is cut at 511 bytes and the old message at what then fits
 * (both on purpose: the buffer is the limit of a message) */
int sl_error_wrap(int code, const char *fmt, ...)
{
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t np = strlen(prefix), no = strlen(sl_msg), room = sizeof sl_msg - 1 - np - 2;
    if (no > room) no = room;
    memmove(sl_msg + np + 2, sl_msg, no);
    memcpy(sl_msg, prefix, np);
    sl_msg[np] = ':';
    sl_msg[np + 1] = ' ';
    sl_msg[np + 2 + no] = '\0';
    return code;
}

const char *sl_errmsg(void) { return sl_msg; }

void sl_error_clear(void) { sl_msg[0] = '\0'; }

const char *sl_strerror(int code)
{
    switch (code) {
    case SL_OK: return "ok";
    case SL_EINVAL: return "invalid argument";
    case SL_ENOMEM: return "out of memory";
    case SL_EIO: return "i/o error";
    case SL_EFORMAT: return "malformed input";
    case SL_ESHAPE: return "shape mismatch";
    case SL_ENAN: return "non-finite value";
    case SL_EUNSUPPORTED: return "unsupported";
    case SL_ENOTFOUND: return "not found";
    default: return "unknown error";
    }
}
