/* core/checkpoint.h — training checkpoints: one safetensors file holding
 *   every parameter by name (F32), the optimizer state ("__optim__.m", "__optim__.v" (n) F32,
 *   "__optim__.t" (1) I64), the RNG state ("__rng__" (bytes) U8), and metadata strings
 *   (step, seconds, plus whatever the caller adds: model spec, task spec, run config).
 * Written atomically, so a crash leaves the previous checkpoint intact. Restoring it gives a
 * run that continues bit-identically to one that never stopped.
 */
#ifndef SL_CORE_CHECKPOINT_H
#define SL_CORE_CHECKPOINT_H

#include "core/optim.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

int sl_checkpoint_write(const char *path, const sl_params *P, const sl_optim *o, const sl_rng *rng, long step, double seconds,
                        const char *const *meta_kv, int n_meta);

/* Open a checkpoint (validated by the safetensors reader); read metadata with
 * sl_safetensors_meta(st, key). */
int sl_checkpoint_open(const char *path, sl_safetensors **st);

/* Metadata read strictly, for values that came from a file and may be hostile: the whole
 * string must parse as a number, be finite and lie in [lo, hi] (for _long also be a whole
 * number); otherwise SL_EFORMAT names the key, the value and the range. A missing key is
 * SL_EFORMAT too. No out-of-range value ever reaches a conversion to an integer type. */
int sl_checkpoint_meta_double(const sl_safetensors *st, const char *key, double lo, double hi, double *v);
int sl_checkpoint_meta_long(const sl_safetensors *st, const char *key, long lo, long hi, long *v);

/* Restore into an allocated table of the same model, an optimizer sized for it and an rng.
 * o and rng may be NULL (weights only). */
int sl_checkpoint_restore(const sl_safetensors *st, sl_params *P, sl_optim *o, sl_rng *rng, long *step, double *seconds);

#ifdef __cplusplus
}
#endif
#endif
