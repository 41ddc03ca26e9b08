// test_pool.c — base/pool: every item of every job runs exactly once and is
// done when pool_run returns, across many back-to-back jobs of every size
// (a worker still on the previous job must not claim the next one's items);
// thread indices stay in range and unshared within a job, and follow
// omp_set_num_threads; every thread takes part; nested calls and calls from
// two threads at once complete on their own.
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "base/pool.h"
#include "base/util.h"
#include "test.h"

#define MAX_ITEMS 512

typedef struct {
    int job;
    _Atomic int runs[MAX_ITEMS];  // item -> how many times it ran
    _Atomic int stamp[MAX_ITEMS]; // item -> the job it ran for
    _Atomic int on_thread[MAX_ITEMS];
    _Atomic int bad_thread;
    _Atomic int busy[64];         // thread index -> items running on it now
    _Atomic int shared;           // an item saw its thread index in use
} Count;

static void count_item(void *p, int item, int thread) {
    Count *c = p;
    if (thread < 0 || thread >= pool_threads() || thread >= 64) {
        atomic_fetch_add(&c->bad_thread, 1);
        return;
    }
    if (atomic_fetch_add(&c->busy[thread], 1)) atomic_fetch_add(&c->shared, 1);
    atomic_fetch_add(&c->runs[item], 1);
    atomic_store(&c->stamp[item], c->job);
    atomic_store(&c->on_thread[item], thread);
    atomic_fetch_sub(&c->busy[thread], 1);
}

// `jobs` back-to-back jobs of 1..MAX_ITEMS items; returns the failures seen.
static int run_jobs(int jobs, unsigned seed) {
    static _Thread_local Count c;
    int bad = 0;
    for (int j = 1; j <= jobs; j++) {
        seed = seed * 1103515245u + 12345u;
        const int items = 1 + (int)((seed >> 8) % MAX_ITEMS);
        for (int i = 0; i < items; i++) atomic_store(&c.runs[i], 0);
        c.job = j;
        pool_run(items, count_item, &c);
        for (int i = 0; i < items; i++)
            if (atomic_load(&c.runs[i]) != 1 || atomic_load(&c.stamp[i]) != j) bad++;
    }
    return bad + atomic_load(&c.bad_thread) + atomic_load(&c.shared);
}

static void *caller(void *arg) {
    int *r = arg;
    *r = run_jobs(2000, (unsigned)*r);
    return NULL;
}

typedef struct {
    _Atomic int seen[64], threads;
} Meet;

static void meet_item(void *p, int item, int thread) {
    Meet *m = p;
    if (thread < 64 && !atomic_exchange(&m->seen[thread], 1)) atomic_fetch_add(&m->threads, 1);
    const double until = now_seconds() + 10.0;
    while (atomic_load(&m->threads) < pool_threads() && now_seconds() < until) sched_yield();
}

typedef struct {
    _Atomic int inner, outer;
} Nest;

static void inner_item(void *p, int item, int thread) {
    Nest *n = p;
    atomic_fetch_add(&n->inner, 1);
}

static void outer_item(void *p, int item, int thread) {
    Nest *n = p;
    pool_run(10, inner_item, n);  // the pool is busy: runs here, alone
    atomic_fetch_add(&n->outer, 1);
}

int main(void) {
    int want = omp_get_max_threads();
    CHECK(pool_threads() == (want < 256 ? want : 256), "pool_threads %d, omp_get_max_threads %d", pool_threads(), want);

    CHECK(run_jobs(20000, 1) == 0, "back-to-back jobs: an item ran twice, not at all, late or on a shared thread");

    // Every thread takes part: each item waits (10 s at most) until every
    // thread index has held one, which only the workers waking can bring.
    Meet m = {0};
    pool_run(pool_threads() * 4, meet_item, &m);
    CHECK(atomic_load(&m.threads) == pool_threads(), "only %d of %d threads ran an item", atomic_load(&m.threads),
          pool_threads());

    // omp_set_num_threads(1): everything on the caller, as thread 0.
    omp_set_num_threads(1);
    static Count one;
    one.job = 1;
    pool_run(MAX_ITEMS, count_item, &one);
    int elsewhere = 0;
    for (int i = 0; i < MAX_ITEMS; i++) elsewhere += atomic_load(&one.runs[i]) != 1 || atomic_load(&one.on_thread[i]);
    CHECK(pool_threads() == 1 && elsewhere == 0, "1 thread asked for: %d threads, %d items elsewhere", pool_threads(),
          elsewhere);
    omp_set_num_threads(want);

    Nest n = {0};
    pool_run(7, outer_item, &n);
    CHECK(atomic_load(&n.outer) == 7 && atomic_load(&n.inner) == 70, "nested: %d outer, %d inner items",
          atomic_load(&n.outer), atomic_load(&n.inner));

    // Two callers at once: one gets the pool, the other runs alone; both
    // finish every job (run_jobs's counts are per thread).
    pthread_t a, b;
    int ra = 11, rb = 22;
    pthread_create(&a, NULL, caller, &ra);
    pthread_create(&b, NULL, caller, &rb);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(ra == 0 && rb == 0, "two callers: %d and %d failures", ra, rb);

    pool_run(0, count_item, NULL);  // nothing to do: returns
    return test_finish("test_pool");
}
