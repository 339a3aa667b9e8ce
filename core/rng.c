/* core/rng.c — GSL-backed RNG (see rng.h). */
#include "core/rng.h"
#include "core/error.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

struct sl_rng {
    gsl_rng *g;
};

sl_rng *sl_rng_alloc(uint64_t seed)
{
    sl_rng *r = malloc(sizeof *r);
    if (!r) return NULL;
    r->g = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r->g) {
        free(r);
        return NULL;
    }
    sl_rng_seed(r, seed);
    return r;
}

void sl_rng_free(sl_rng *r)
{
    if (!r) return;
    gsl_rng_free(r->g);
    free(r);
}

/* mt19937 takes an unsigned long seed; fold the 64-bit seed so seeds differing only in the
 * high half still differ, and avoid 0, which GSL maps to its default seed. */
void sl_rng_seed(sl_rng *r, uint64_t seed)
{
    unsigned long s = (unsigned long)(seed ^ (seed >> 32) * 0x9E3779B97F4A7C15ull);
    gsl_rng_set(r->g, s ? s : 5489ul);
}

double sl_rng_uniform(sl_rng *r) { return gsl_rng_uniform(r->g); }
double sl_rng_uniform_pos(sl_rng *r) { return gsl_rng_uniform_pos(r->g); }
double sl_rng_normal(sl_rng *r, double sigma) { return gsl_ran_gaussian_ziggurat(r->g, sigma); }
unsigned long sl_rng_int(sl_rng *r, unsigned long n) { return n ? gsl_rng_uniform_int(r->g, n) : 0; }

void sl_rng_fill_uniform(sl_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)gsl_rng_uniform(r->g);
}

void sl_rng_fill_normal(sl_rng *r, float *x, size_t n, float sigma)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian_ziggurat(r->g, sigma);
}

size_t sl_rng_state_size(const sl_rng *r) { return gsl_rng_size(r->g); }

void sl_rng_state_save(const sl_rng *r, void *buf) { memcpy(buf, gsl_rng_state(r->g), gsl_rng_size(r->g)); }

int sl_rng_state_load(sl_rng *r, const void *buf, size_t size)
{
    if (size != gsl_rng_size(r->g))
        return sl_error(SL_EFORMAT, "rng state has %zu bytes, expected %zu", size, gsl_rng_size(r->g));
    memcpy(gsl_rng_state(r->g), buf, size);
    return SL_OK;
}
