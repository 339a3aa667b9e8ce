/* lab/dist.c — data-parallel training over MPI (see dist.h). */
#include "config.h"
#include "lab/dist.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_MPI
#include <mpi.h>
#endif

struct sl_dist {
    int rank, size, local_size;
#ifdef HAVE_MPI
    MPI_Comm comm;
    MPI_Op sum_ordered; /* float sum, declared non-commutative: operands combined in rank order */
#endif
};

int sl_dist_available(void)
{
#ifdef HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : 0;
}

int sl_dist_launched(void)
{
    /* Open MPI's mpirun; PMIx (Open MPI 4+, Slurm's srun --mpi=pmix); PMI-1/2 (MPICH, srun) */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        int k = env_int(vars[i]);
        if (k > 0) return k;
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

uint64_t sl_dist_hash(uint64_t h, const void *p, size_t n)
{
    /* FNV-1a over 8-byte words, then the tail bytes (a fingerprint, not a defence) */
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

int sl_dist_rank(const sl_dist *d) { return d ? d->rank : 0; }
int sl_dist_size(const sl_dist *d) { return d ? d->size : 1; }
int sl_dist_local_size(const sl_dist *d) { return d ? d->local_size : 1; }

#ifdef HAVE_MPI

/* inout[i] = in[i] + inout[i]: MPI hands the lower ranks' partial sum as `in` for a
 * non-commutative operation */
static void sum_ordered_fn(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    (void)dt;
    const float *a = in;
    float *b = inout;
    for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static int mpi_fail(int err, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(err, s, &n);
    return sl_error(SL_EIO, "MPI %s failed: %s", what, s);
}

int sl_dist_init(sl_dist **out)
{
    *out = NULL;
    if (!sl_dist_launched()) return SL_OK;
    sl_dist *d = calloc(1, sizeof *d);
    if (!d) return sl_error(SL_ENOMEM, "out of memory");
    int provided, inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    /* an MPI failure returns its code to us (reported as an error) instead of aborting here */
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    MPI_Comm node;
    MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    MPI_Op_create(sum_ordered_fn, 0, &d->sum_ordered);
    *out = d;
    return SL_OK;
}

void sl_dist_finalize(sl_dist *d)
{
    if (!d) return;
    MPI_Op_free(&d->sum_ordered);
    MPI_Comm_free(&d->comm);
    free(d);
    MPI_Finalize();
}

void sl_dist_abort(sl_dist *d, int code)
{
    if (d) MPI_Abort(d->comm, code);
    exit(code);
}

int sl_dist_allreduce_sum(const sl_dist *d, float *buf, size_t n)
{
    if (!d || d->size == 1) return SL_OK;
    /* MPI counts are int: large blocks go in pieces (each piece is summed in rank order) */
    for (size_t i = 0; i < n; i += (size_t)1 << 30) {
        int c = (int)(n - i < ((size_t)1 << 30) ? n - i : (size_t)1 << 30);
        int err = MPI_Allreduce(MPI_IN_PLACE, buf + i, c, MPI_FLOAT, d->sum_ordered, d->comm);
        if (err != MPI_SUCCESS) return mpi_fail(err, "allreduce of the gradients");
    }
    return SL_OK;
}

int sl_dist_allgather(const sl_dist *d, const void *mine, void *all, size_t bytes)
{
    if (!d || d->size == 1) {
        memcpy(all, mine, bytes);
        return SL_OK;
    }
    int err = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, d->comm);
    return err == MPI_SUCCESS ? SL_OK : mpi_fail(err, "allgather");
}

int sl_dist_bcast(const sl_dist *d, void *buf, size_t bytes, int root)
{
    if (!d || d->size == 1) return SL_OK;
    int err = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, d->comm);
    return err == MPI_SUCCESS ? SL_OK : mpi_fail(err, "broadcast");
}

#else /* no MPI */

int sl_dist_init(sl_dist **out)
{
    *out = NULL;
    int k = sl_dist_launched();
    if (k > 1)
        return sl_error(SL_EUNSUPPORTED,
                        "an MPI launcher started this process as one of %d ranks, but this seqlab was built without MPI, so "
                        "each rank would train the whole run alone: rebuild with MPI (apt-get install -y libopenmpi-dev "
                        "openmpi-bin; ./configure --with-mpi) or run seqlab train without mpirun",
                        k);
    return SL_OK;
}

void sl_dist_finalize(sl_dist *d) { (void)d; }
void sl_dist_abort(sl_dist *d, int code)
{
    (void)d;
    exit(code);
}
int sl_dist_allreduce_sum(const sl_dist *d, float *buf, size_t n)
{
    (void)d, (void)buf, (void)n;
    return SL_OK;
}
int sl_dist_allgather(const sl_dist *d, const void *mine, void *all, size_t bytes)
{
    (void)d;
    memcpy(all, mine, bytes);
    return SL_OK;
}
int sl_dist_bcast(const sl_dist *d, void *buf, size_t bytes, int root)
{
    (void)d, (void)buf, (void)bytes, (void)root;
    return SL_OK;
}

#endif

int sl_dist_agree(const sl_dist *d, int rc)
{
    if (!d || d->size == 1) return rc;
    typedef struct {
        int rc;
        char msg[500];
    } stat;
    stat mine = {rc, ""}, *all = malloc(sizeof(stat) * (size_t)d->size);
    if (!all) sl_dist_abort((sl_dist *)d, 1); /* cannot take part in the vote: end the job */
    if (rc) snprintf(mine.msg, sizeof mine.msg, "%s", sl_errmsg());
    int err = sl_dist_allgather(d, &mine, all, sizeof mine);
    if (err) {
        free(all);
        return err;
    }
    int out = SL_OK;
    for (int r = 0; r < d->size; r++)
        if (all[r].rc) {
            out = sl_error(all[r].rc, "rank %d of %d: %s", r, d->size, all[r].msg);
            break;
        }
    free(all);
    return out;
}
