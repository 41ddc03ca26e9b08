// dist.c — see dist.h. MPI counts are ints, so large buffers go in pieces.
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef TRIT_MPI
#include <mpi.h>
#endif

#define PIECE ((size_t)1 << 28)  // elements (or bytes) per MPI call

void dist_slice(size_t n_total, int rank, int size, size_t *lo, size_t *n) {
    const size_t base = n_total / (size_t)size, extra = n_total % (size_t)size, r = (size_t)rank;
    *lo = r * base + (r < extra ? r : extra);
    *n = base + (r < extra);
}

#ifdef TRIT_MPI

int dist_available(void) { return 1; }

void dist_init(Dist *d) {
    d->rank = 0;
    d->size = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return;
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
}

void dist_finalize(const Dist *d) {
    int started = 0;
    MPI_Initialized(&started);
    if (started) MPI_Finalize();
    (void)d;
}

void dist_abort(const Dist *d) {
    fflush(stderr);
    if (d->size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

void dist_sum_f32(const Dist *d, float *buf, size_t n) {
    if (d->size == 1) return;
    for (size_t i = 0; i < n; i += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, buf + i, (int)(n - i < PIECE ? n - i : PIECE), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

void dist_sum_f64(const Dist *d, double *buf, size_t n) {
    if (d->size == 1) return;
    for (size_t i = 0; i < n; i += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, buf + i, (int)(n - i < PIECE ? n - i : PIECE), MPI_DOUBLE, MPI_SUM,
                      MPI_COMM_WORLD);
}

void dist_bcast(const Dist *d, void *buf, size_t bytes, int root) {
    if (d->size == 1) return;
    for (size_t i = 0; i < bytes; i += PIECE)
        MPI_Bcast((char *)buf + i, (int)(bytes - i < PIECE ? bytes - i : PIECE), MPI_BYTE, root, MPI_COMM_WORLD);
}

void dist_gather_u64(const Dist *d, uint64_t v, uint64_t *all) {
    if (d->size == 1) {
        all[0] = v;
        return;
    }
    MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
}

void dist_send(const Dist *d, const void *buf, size_t bytes, int to) {
    for (size_t i = 0; i < bytes; i += PIECE)
        MPI_Send((const char *)buf + i, (int)(bytes - i < PIECE ? bytes - i : PIECE), MPI_BYTE, to, 0, MPI_COMM_WORLD);
    (void)d;
}

void dist_recv(const Dist *d, void *buf, size_t bytes, int from) {
    for (size_t i = 0; i < bytes; i += PIECE)
        MPI_Recv((char *)buf + i, (int)(bytes - i < PIECE ? bytes - i : PIECE), MPI_BYTE, from, 0, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    (void)d;
}

#else  // one process: nothing to exchange

int dist_available(void) { return 0; }

void dist_init(Dist *d) {
    d->rank = 0;
    d->size = 1;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
        fprintf(stderr, "trit: error: started by mpirun with %s ranks, but this trit was built without MPI "
                "(install libopenmpi-dev and rebuild with make MPI=1)\n", getenv("OMPI_COMM_WORLD_SIZE"));
        exit(1);
    }
}

void dist_finalize(const Dist *d) { (void)d; }

void dist_abort(const Dist *d) {
    (void)d;
    exit(1);
}

void dist_sum_f32(const Dist *d, float *buf, size_t n) { (void)d; (void)buf; (void)n; }
void dist_sum_f64(const Dist *d, double *buf, size_t n) { (void)d; (void)buf; (void)n; }
void dist_bcast(const Dist *d, void *buf, size_t bytes, int root) { (void)d; (void)buf; (void)bytes; (void)root; }
void dist_gather_u64(const Dist *d, uint64_t v, uint64_t *all) { (void)d; all[0] = v; }
void dist_send(const Dist *d, const void *buf, size_t bytes, int to) { (void)d; (void)buf; (void)bytes; (void)to; }
void dist_recv(const Dist *d, void *buf, size_t bytes, int from) { (void)d; (void)buf; (void)bytes; (void)from; }

#endif
