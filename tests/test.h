// test.h — the tiny harness every test binary uses.
//
// CHECK counts a pass or prints the failure with file:line; test_main() runs
// and the binary exits with status 1 if anything failed. Each binary ends by
// printing "<name>: P passed, F failed" for tests/run.sh to sum.
#ifndef TRIT_TEST_H
#define TRIT_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tests_passed, tests_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            tests_passed++;                                                \
        } else {                                                           \
            tests_failed++;                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

// Directory with the shared data (WikiText-2, the Qwen3 tokenizer); NULL and
// a clear message when it is missing, so a test can say what it skipped.
// In CI (CI=true) missing data is a failure, not a skip: a green CI must mean
// that the data-dependent checks ran.
static inline const char *test_data_dir(const char *what) {
    const char *d = getenv("TRIT_DATA");
    static char buf[4096];
    if (!d) d = "../shared/data";
    snprintf(buf, sizeof buf, "%s/qwen3-tokenizer/tokenizer.json", d);
    FILE *f = fopen(buf, "rb");
    if (!f) {
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true")) {
            tests_failed++;
            fprintf(stderr, "FAIL %s: CI=true and the shared data is missing at %s\n", what, d);
        } else {
            fprintf(stderr, "SKIP %s: needs the shared data at %s (set TRIT_DATA to its path)\n", what, d);
        }
        return NULL;
    }
    fclose(f);
    return d;
}

// n pseudo-random token ids below vocab (an LCG: the same for a seed everywhere).
static inline void random_ids(int32_t *ids, size_t n, int vocab, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((seed >> 33) % (uint64_t)vocab);
    }
}

// Token id sequences, for the tokenizer tests: equality, and the first ids
// of one in a failure message.
static inline int ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

static inline void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n && i < 64; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 64 ? " ..." : "");
}

static inline int test_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}

#endif
