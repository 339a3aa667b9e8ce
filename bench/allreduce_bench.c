/* bench/allreduce_bench.c — time of one MPI_Allreduce of n floats, as lab/dist.c does it (a
 * user sum declared non-commutative: rank order) and with MPI_SUM (the library's own order),
 * for a range of n. Built and run by bench/dist_bench.sh (mpicc); CSV on rank 0's stdout:
 *   op,ranks,floats,bytes,us_per_call
 * The median of 7 timings of `reps` calls each, after a warm-up. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static void sum_ordered(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    (void)dt;
    const float *a = in;
    float *b = inout;
    for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Op ordered;
    MPI_Op_create(sum_ordered, 0, &ordered);
    const long max_n = argc > 1 ? atol(argv[1]) : 1L << 24;
    float *buf = malloc(sizeof(float) * (size_t)max_n);
    for (long i = 0; i < max_n; i++) buf[i] = 1e-3f * (float)(i % 1000);
    if (!rank) printf("op,ranks,floats,bytes,us_per_call\n");
    for (int o = 0; o < 2; o++)
        for (long n = 1; n <= max_n; n *= 4) {
            MPI_Op op = o ? MPI_SUM : ordered;
            int reps = n < 4096 ? 200 : n < (1 << 20) ? 20 : 3;
            double t[7];
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, op, MPI_COMM_WORLD);
            for (int k = 0; k < 7; k++) {
                MPI_Barrier(MPI_COMM_WORLD);
                double t0 = MPI_Wtime();
                for (int r = 0; r < reps; r++) MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, op, MPI_COMM_WORLD);
                t[k] = (MPI_Wtime() - t0) / reps;
            }
            qsort(t, 7, sizeof *t, cmp);
            if (!rank) printf("%s,%d,%ld,%ld,%.2f\n", o ? "mpi_sum" : "ordered", size, n, 4 * n, 1e6 * t[3]);
            fflush(stdout);
        }
    MPI_Op_free(&ordered);
    free(buf);
    MPI_Finalize();
    return 0;
}
