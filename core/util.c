/* core/util.c — threads, time, progress (see util.h). */
#include "core/util.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int);

void sl_threads_set(int k)
{
    if (k <= 0) return;
    omp_set_num_threads(k);
    openblas_set_num_threads(k);
}

int sl_threads_get(void) { return omp_get_max_threads(); }

double sl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t sl_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

void sl_progress_begin(sl_progress *p, FILE *out, long total, const char *label, int force)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->enabled = out && (force || isatty(fileno(out)));
    p->total = total;
    p->t0 = sl_now();
    p->last = -1.0;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
}

static void progress_draw(sl_progress *p, long done, const char *extra)
{
    double t = sl_now() - p->t0;
    double frac = p->total > 0 ? (double)done / (double)p->total : 0.0;
    if (frac > 1.0) frac = 1.0;
    int width = 30, fill = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double rate = t > 0 ? (double)done / t : 0.0;
    fprintf(p->out, "\r%s [%s] %ld/%ld %.1f/s %.0fs %s\033[K", p->label, bar, done, p->total, rate, t, extra ? extra : "");
    fflush(p->out);
}

void sl_progress_update(sl_progress *p, long done, const char *extra)
{
    if (!p->enabled) return;
    double now = sl_now();
    if (p->last >= 0 && now - p->last < 1.0 / 6.0) return;
    p->last = now;
    progress_draw(p, done, extra);
}

void sl_progress_end(sl_progress *p)
{
    if (!p->enabled) return;
    progress_draw(p, p->total, NULL);
    fputc('\n', p->out);
    fflush(p->out);
}
