// pool.c — see pool.h. One pool per process, workers started on first need.
//
// A job's items are cut into one contiguous part per thread, as OpenMP's
// static schedule does, so that each thread streams its own stretch of a
// weight matrix; a thread that finishes its part, or a caller whose worker
// never woke, then takes items from the other parts. Each part's cursor is
// one atomic word, generation << 32 | next item, and an item is claimed by
// a compare-and-swap of that word, so a worker still holding a word of an
// earlier job can never claim an item of a later one. The job's fields sit
// in a ring of slots by generation: a slot is rewritten only after the job
// that used it and the one after it are done, when no cursor holds its
// generation any more.
#include "base/pool.h"

#include <immintrin.h>
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

// How long an idle worker polls for the next job before it sleeps: longer
// than the gaps between the products of a decode step and between steps
// (norms, RoPE, a short attention, sampling: tens of microseconds), so a
// step never waits on a wake-up; short enough that an idle pool gives its
// core back at once.
#define SPIN_SECONDS 200e-6
#define MAX_THREADS 256
#define SLOTS 4

typedef struct {
    _Atomic(PoolFn) fn;
    _Atomic(void *) ctx;
    atomic_int items, limit;  // limit: threads (by index) that take items
} Job;

typedef struct {
    _Alignas(64) _Atomic uint64_t cursor;  // generation << 32 | the part's next unclaimed item
} Part;

static struct {
    atomic_int started;    // threads that can take items: a caller and the workers started
    pthread_mutex_t grow;  // held while workers are started
    atomic_flag busy;      // a pool_run in progress
    uint32_t last;         // the last generation published (under busy)
    Job job[SLOTS];        // generation g's fields in job[g % SLOTS]
    Part part[MAX_THREADS];
    _Alignas(64) atomic_int done;  // items of the current job finished
    _Alignas(64) atomic_uint gen;  // futex word: the generation published last
    atomic_int sleepers;           // workers in futex_wait
} pool = {.started = 1, .grow = PTHREAD_MUTEX_INITIALIZER, .busy = ATOMIC_FLAG_INIT};

// Part p of `items` over `limit` threads: [part_start(p), part_start(p + 1)).
static int part_start(int p, int items, int limit) { return (int)((int64_t)items * p / limit); }

// Claims and runs the items of generation g left in part p; returns how many.
static int work_part(uint32_t g, int p, int thread) {
    int ran = 0;
    const Job *j = &pool.job[g % SLOTS];
    for (;;) {
        uint64_t w = atomic_load_explicit(&pool.part[p].cursor, memory_order_acquire);
        if ((uint32_t)(w >> 32) != g) return ran;
        const int items = atomic_load_explicit(&j->items, memory_order_relaxed);
        const int limit = atomic_load_explicit(&j->limit, memory_order_relaxed);
        if ((int)(uint32_t)w >= part_start(p + 1, items, limit)) return ran;
        PoolFn fn = atomic_load_explicit(&j->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&j->ctx, memory_order_relaxed);
        // Success means the cursor still held (g, i) with i in the part: job
        // g was unfinished, so the fields just read were g's.
        if (!atomic_compare_exchange_weak_explicit(&pool.part[p].cursor, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        fn(ctx, (int)(uint32_t)w, thread);
        ran++;
    }
}

// The thread's own part, then the others in turn; what it ran is counted
// done once, at the end (a shared count bumped per item would bounce its
// cache line between the cores at every item).
static void work(uint32_t g, int thread) {
    const int limit = atomic_load_explicit(&pool.job[g % SLOTS].limit, memory_order_relaxed);
    if (thread >= limit) return;
    int ran = 0;
    for (int k = 0; k < limit; k++) ran += work_part(g, (thread + k) % limit, thread);
    if (ran) atomic_fetch_add_explicit(&pool.done, ran, memory_order_release);
}

static void futex(atomic_uint *word, int op, unsigned val) {
    syscall(SYS_futex, (unsigned *)word, op, val, NULL, NULL, 0);
}

// The next generation after `seen`: polled for SPIN_SECONDS, then slept for.
static uint32_t wait_job(uint32_t seen) {
    const double until = now_seconds() + SPIN_SECONDS;
    for (int i = 1;; i++) {
        uint32_t g = atomic_load(&pool.gen);
        if (g != seen) return g;
        if (i % 64 == 0 && now_seconds() > until) break;
        _mm_pause();
    }
    // sleepers is raised before gen is read again, and the caller stores gen
    // before it reads sleepers (both sequentially consistent): either the
    // caller sees a sleeper and wakes it, or futex_wait sees the new gen.
    atomic_fetch_add(&pool.sleepers, 1);
    uint32_t g;
    while ((g = atomic_load(&pool.gen)) == seen) futex(&pool.gen, FUTEX_WAIT_PRIVATE, seen);
    atomic_fetch_sub(&pool.sleepers, 1);
    return g;
}

static void *worker(void *arg) {
    const int thread = (int)(intptr_t)arg;
    for (uint32_t seen = 0;;) {
        seen = wait_job(seen);
        work(seen, thread);
    }
    return NULL;
}

// The threads the calling thread's OpenMP setting asks for, workers started
// up to that count on first need; fewer when a worker cannot start.
int pool_threads(void) {
    int want = omp_get_max_threads();
    want = want < 1 ? 1 : want > MAX_THREADS ? MAX_THREADS : want;
    int n = atomic_load(&pool.started);
    if (n >= want) return want;
    pthread_mutex_lock(&pool.grow);
    n = atomic_load(&pool.started);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (n < want) {
        pthread_t id;
        if (pthread_create(&id, &attr, worker, (void *)(intptr_t)n)) break;  // a smaller pool, not an error
        atomic_store(&pool.started, ++n);
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_unlock(&pool.grow);
    return n < want ? n : want;
}

void pool_run(int items, PoolFn fn, void *ctx) {
    if (items <= 0) return;
    const int threads = pool_threads();
    if (threads == 1 || items == 1 || atomic_flag_test_and_set(&pool.busy)) {
        for (int i = 0; i < items; i++) fn(ctx, i, 0);
        return;
    }
    const uint32_t g = ++pool.last;
    Job *j = &pool.job[g % SLOTS];
    atomic_store_explicit(&j->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&j->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&j->items, items, memory_order_relaxed);
    atomic_store_explicit(&j->limit, threads, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    for (int p = 0; p < threads; p++)
        atomic_store_explicit(&pool.part[p].cursor, (uint64_t)g << 32 | (uint32_t)part_start(p, items, threads),
                              memory_order_release);
    atomic_store(&pool.gen, g);
    if (atomic_load(&pool.sleepers) > 0) futex(&pool.gen, FUTEX_WAKE_PRIVATE, INT_MAX);
    work(g, 0);
    // Only items already claimed are left: they are running.
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < items) _mm_pause();
    atomic_flag_clear(&pool.busy);
}
