// pool.h — a persistent thread pool for a decode step's one-row work.
//
// Why not OpenMP there: a parallel region ends at a barrier that waits for
// every thread of the team to arrive, including one the kernel has not yet
// scheduled. A decode step runs ~150 regions of a few microseconds each, so
// beside any other job on a 2-core machine each barrier could wait a
// scheduler slice, and decoding beside a `trit eval` fell from 509 to 8
// tokens/s (README). pool_run hands out items from shared cursors instead:
// the caller works too, and returns once every item is done, whether or not
// a worker ever woke up. A worker that wakes late finds no work and goes
// back to waiting.
//
// Multi-row work (prefill, eval, training) stays on OpenMP, which BLAS and
// oneDNN use as well: the idle threads of either pool spin for a while on
// the cores the other needs, so a process that alternated between the two
// at every operation ran at half speed.
//
// Every item runs whole on one thread, so results never depend on which
// thread ran what, or how many. Threads: the caller's omp_get_max_threads()
// at each call (so OMP_NUM_THREADS and omp_set_num_threads set both pools),
// the caller included; workers are started on first need and then kept.
#ifndef TRIT_POOL_H
#define TRIT_POOL_H

// fn(ctx, item, thread) for item in [0, items); thread is in [0,
// pool_threads()) and no two items run at once on one thread index within
// one pool_run, so per-thread scratch may be indexed by it.
typedef void (*PoolFn)(void *ctx, int item, int thread);

// The threads a pool_run from this thread would use now.
int pool_threads(void);

// Runs every item and returns when all are done. A call made while the pool
// is busy (another thread's pool_run, or a nested call from an item) runs
// its items on the calling thread alone.
void pool_run(int items, PoolFn fn, void *ctx);

#endif
