// membw.h — the machine's memory read bandwidth, the denominator of every
// "percent of the bandwidth bound" figure the benchmarks print: a
// multi-threaded sum over a 1 GB buffer (past any last-level cache), best of
// `passes`, in GB/s. Threads: the OpenMP default (OMP_NUM_THREADS).
#ifndef TRIT_BENCH_MEMBW_H
#define TRIT_BENCH_MEMBW_H

#include <stdlib.h>

#include "base/util.h"

static double membw_read_gbs(int passes) {
    const size_t n = (size_t)256 << 20;  // floats
    float *a = xmalloc_aligned(n * sizeof *a);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int r = 0; r < passes; r++) {
        double t = now_seconds(), s = 0;
        // 64 independent partial sums: the loads, not the add latency, bound it.
#pragma omp parallel reduction(+ : s)
        {
            float acc[64] = {0};
#pragma omp for schedule(static)
            for (size_t j = 0; j < n / 64; j++)
#pragma omp simd
                for (int k = 0; k < 64; k++) acc[k] += a[j * 64 + k];
            for (int k = 0; k < 64; k++) s += acc[k];
        }
        t = now_seconds() - t;
        sink += s;
        if (t < best) best = t;
    }
    free(a);
    // sink keeps the sums alive; it is never negative.
    return (double)(n * sizeof *a) / best / 1e9 + (sink < 0 ? 1 : 0);
}

#endif
