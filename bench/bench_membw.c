// bench_membw — the machine's memory read bandwidth, the denominator of every
// "percent of the bandwidth bound" figure the benchmarks print: a
// multi-threaded sum over a 1 GB buffer (past any last-level cache), best of
// 5 passes, in GB/s on stdout. Threads: OMP_NUM_THREADS (default: all).
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"

int main(void) {
    const size_t n = (size_t)256 << 20;  // floats
    float *a = xmalloc_aligned(n * sizeof *a);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int r = 0; r < 5; r++) {
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
    printf("%.2f GB/s%s\n", (double)(n * sizeof *a) / best / 1e9, sink < 0 ? " " : "");
    free(a);
    return 0;
}
