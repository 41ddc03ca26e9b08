// collect.h — a DecodeTokenFn that keeps the tokens a decoder emits, for the
// tests that compare decoders' outputs (test_generate, test_beam, test_spec).
#ifndef TRIT_TEST_COLLECT_H
#define TRIT_TEST_COLLECT_H

#include <stdint.h>

typedef struct {
    int32_t ids[512];
    int n;
} Collect;

static int collect(int32_t id, void *user) {
    Collect *c = user;
    if (c->n < 512) c->ids[c->n++] = id;
    return 0;
}

#endif
