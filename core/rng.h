/* core/rng.h — seeded random numbers on top of GSL (gsl_rng_mt19937).
 *
 * One sl_rng per consumer; no global state. The full generator state can be saved into and
 * restored from a byte buffer, which checkpoints use so a resumed run continues the exact
 * random stream it would have had.
 */
#ifndef SL_CORE_RNG_H
#define SL_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_rng sl_rng;

sl_rng *sl_rng_alloc(uint64_t seed);
void sl_rng_free(sl_rng *r);
void sl_rng_seed(sl_rng *r, uint64_t seed);

double sl_rng_uniform(sl_rng *r);                     /* [0, 1) */
double sl_rng_uniform_pos(sl_rng *r);                 /* (0, 1) */
double sl_rng_normal(sl_rng *r, double sigma);        /* N(0, sigma^2) */
unsigned long sl_rng_int(sl_rng *r, unsigned long n); /* uniform in [0, n) */

/* Fill x[0..n) with U(lo, hi) / N(0, sigma^2) as float. */
void sl_rng_fill_uniform(sl_rng *r, float *x, size_t n, float lo, float hi);
void sl_rng_fill_normal(sl_rng *r, float *x, size_t n, float sigma);

/* Serialised state: size in bytes, copy out, copy in (sizes must match). */
size_t sl_rng_state_size(const sl_rng *r);
void sl_rng_state_save(const sl_rng *r, void *buf);
int sl_rng_state_load(sl_rng *r, const void *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
