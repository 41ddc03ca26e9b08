// bench_membw — the machine's memory read bandwidth (bench/membw.h), best
// of 5 passes, in GB/s on stdout. Threads: OMP_NUM_THREADS (default: all).
#include <stdio.h>

#include "membw.h"

int main(void) {
    printf("%.2f GB/s\n", membw_read_gbs(5));
    return 0;
}
