/* lab/dist.h — data-parallel training over MPI (Open MPI), and the single-process stand-in.
 *
 * `mpirun -np K seqlab train ...` starts K processes (ranks). Each keeps a whole replica of the
 * model and optimizer, computes the gradient of its share of every batch, and the shares are
 * summed with MPI_Allreduce in a fixed order (sl_dist_allreduce_sum); every rank then takes the
 * same optimizer step, so the replicas stay bitwise equal (docs/distributed.md).
 *
 * Without MPI (configure --without-mpi, or no mpicc found) every function below still exists:
 * sl_dist_init reports a single process, or, when an MPI launcher started this process as one
 * of K > 1 ranks, refuses with a message saying the build has no MPI.
 *
 * A NULL sl_dist is a single process: rank 0 of 1, every collective a no-op.
 */
#ifndef SL_LAB_DIST_H
#define SL_LAB_DIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_dist sl_dist;

/* 1 when this library was built with MPI */
int sl_dist_available(void);

/* The number of ranks an MPI launcher (Open MPI's mpirun, or a PMI/PMIx launcher such as
 * srun) announces in the environment, 0 when no launcher started this process. */
int sl_dist_launched(void);

/* Join the MPI job when a launcher started this process (MPI_Init), else *out = NULL (a single
 * process). Without MPI support and launched as one of K > 1 ranks: SL_EUNSUPPORTED with a
 * message that says so. */
int sl_dist_init(sl_dist **out);

/* Leave the job. Every rank calls it at the same point (MPI_Finalize is collective). */
void sl_dist_finalize(sl_dist *d);

/* End every rank of the job at once (MPI_Abort) after a failure that the other ranks do not
 * know about; never returns. Without MPI (or d NULL): exit(code). */
void sl_dist_abort(sl_dist *d, int code) __attribute__((noreturn));

int sl_dist_rank(const sl_dist *d);       /* 0 for NULL */
int sl_dist_size(const sl_dist *d);       /* 1 for NULL */
int sl_dist_local_size(const sl_dist *d); /* ranks on this node (1 for NULL) */

/* buf (n floats, identical length on every rank) := the sum of every rank's buf, in rank
 * order: MPI_Allreduce with a user operation declared non-commutative, so MPI must combine
 * x_0 + x_1 + ... + x_{K-1} in that operand order (its tree depends only on K and n, never on
 * timing) and every rank gets the same bits. */
int sl_dist_allreduce_sum(const sl_dist *d, float *buf, size_t n);

/* all (K * bytes) := every rank's `mine`, in rank order (MPI_Allgather). */
int sl_dist_allgather(const sl_dist *d, const void *mine, void *all, size_t bytes);

/* buf (bytes) from rank `root` to every rank (MPI_Bcast). */
int sl_dist_bcast(const sl_dist *d, void *buf, size_t bytes, int root);

/* The collective verdict on a step every rank took: each passes its own status (0 or SL_E*,
 * with its message in sl_errmsg()). Returns 0 when every rank succeeded; otherwise the status
 * of the lowest failing rank, with the message "rank R of K: <its message>" on every rank, so
 * every rank can stop with the same clear error and no rank waits for one that has left. */
int sl_dist_agree(const sl_dist *d, int rc);

/* A 64-bit hash of bytes (FNV-1a over 8-byte words; continue from h, start with SL_DIST_HASH0): the fingerprints
 * ranks compare (configuration, parameters, batches). */
#define SL_DIST_HASH0 0xcbf29ce484222325ULL
uint64_t sl_dist_hash(uint64_t h, const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
