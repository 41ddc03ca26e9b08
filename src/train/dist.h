// dist.h — data-parallel training over MPI (OpenMPI from Debian), and the
// same calls as no-ops in one process (a build without MPI, `make MPI=0`,
// or a run not started by mpirun).
//
// A run over N ranks (train.h, train_run.h): every rank draws the same
// global batch of N·B windows a single process with --batch-size N·B draws
// and takes its B rows; the gradients are summed over ranks in one
// reduction of the flat gradient buffer; each rank runs AdamW on its 1/N
// slice of the parameters (ZeRO stage 1: it holds the moments of that slice
// only) and the slices are then broadcast back into every rank's weights.
// Rank 0 logs, validates and writes checkpoints and the model.
#ifndef TRIT_DIST_H
#define TRIT_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;  // size 1: one process
} Dist;

// Starts MPI when trit was built with it and started by mpirun (or another
// launcher that sets OMPI_COMM_WORLD_SIZE / PMIX_RANK); else one process.
void dist_init(Dist *d);
void dist_finalize(const Dist *d);
// Ends every rank at once after this rank's error (MPI_Abort), so that no
// rank waits forever in a collective for one that has stopped.
_Noreturn void dist_abort(const Dist *d);

// Whether trit was built with MPI (make MPI=1, the default where mpicc is).
int dist_available(void);

// In place over all ranks: buf = the sum of every rank's buf.
void dist_sum_f32(const Dist *d, float *buf, size_t n);
void dist_sum_f64(const Dist *d, double *buf, size_t n);
// buf[0..n) of rank `root` into every rank's buf.
void dist_bcast(const Dist *d, void *buf, size_t bytes, int root);
// Every rank's value of v (all[size]).
void dist_gather_u64(const Dist *d, uint64_t v, uint64_t *all);
// Point to point, for gathering a checkpoint's optimizer slices on rank 0.
void dist_send(const Dist *d, const void *buf, size_t bytes, int to);
void dist_recv(const Dist *d, void *buf, size_t bytes, int from);

// The slice [*lo, *lo + *n) of n_total values that rank r owns: contiguous,
// in rank order, sizes differing by at most one.
void dist_slice(size_t n_total, int rank, int size, size_t *lo, size_t *n);

#endif
