/* core/error.h — status codes and the last error message.
 *
 * Every library function that can fail returns an int: 0 (SL_OK) on success, a negative
 * SL_E* code on failure. The failing function records a human-readable message with
 * sl_error(); the caller reads it with sl_errmsg(). The message is thread-local, like errno,
 * so concurrent threads do not clobber each other. The library never prints and never exits.
 */
#ifndef SL_CORE_ERROR_H
#define SL_CORE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SL_OK = 0,
    SL_EINVAL = -1,       /* bad argument, bad spec, bad flag value */
    SL_ENOMEM = -2,       /* allocation failed */
    SL_EIO = -3,          /* open/read/write/rename failed */
    SL_EFORMAT = -4,      /* malformed file contents */
    SL_ESHAPE = -5,       /* shape or size mismatch */
    SL_ENAN = -6,         /* non-finite value where a finite one is required */
    SL_EUNSUPPORTED = -7, /* the model/mode does not support this operation */
    SL_ENOTFOUND = -8     /* named thing (model, task, tensor, key) does not exist */
};

/* Record a printf-style message for the calling thread and return `code` unchanged,
 * so failures read `return sl_error(SL_EINVAL, "bad x: %d", x);`. */
int sl_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with more context: "ctx: old message". Returns `code`. */
int sl_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" if none). */
const char *sl_errmsg(void);

/* A short name for a status code ("invalid argument", ...). */
const char *sl_strerror(int code);

void sl_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
