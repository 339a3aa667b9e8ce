/* core/util.h — threads, monotonic time, a terminal progress bar. */
#ifndef SL_CORE_UTIL_H
#define SL_CORE_UTIL_H

#include <stdio.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Set the OpenMP thread count and OpenBLAS's (k <= 0: leave the defaults). */
void sl_threads_set(int k);
int sl_threads_get(void);

/* Seconds from CLOCK_MONOTONIC. */
double sl_now(void);

/* Peak resident set size of this process in bytes (from getrusage). */
size_t sl_peak_rss(void);

/* Progress bar on a stream (stderr): drawn only if the stream is a terminal or `force`;
 * at most 6 redraws per second; the rate comes from CLOCK_MONOTONIC. */
typedef struct {
    FILE *out;
    int enabled;
    long total;
    double t0, last;
    char label[64];
} sl_progress;

void sl_progress_begin(sl_progress *p, FILE *out, long total, const char *label, int force);
/* `extra` is a short status text (may be NULL) */
void sl_progress_update(sl_progress *p, long done, const char *extra);
void sl_progress_end(sl_progress *p); /* final redraw and newline */

#ifdef __cplusplus
}
#endif
#endif
