// reference.h — the reference.bin files of the fixture scripts
// (tools/reference/make_model_fixtures.py, make_gguf_model_fixtures.py):
//   int32 magic 'TRIT', version 1, B, T, V; int32 tokens[B][T+1];
//   float32 logits[B][T][V] for tokens[:, :T]; float32 mean loss.
#ifndef TRIT_TEST_REFERENCE_H
#define TRIT_TEST_REFERENCE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    int B, T, V;
    int32_t *tokens;  // (B, T+1)
    float *logits;    // (B, T, V)
    float loss;
} Reference;

static inline int read_reference(const char *path, Reference *r) {
    char err[ERR_LEN];
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) { fprintf(stderr, "%s\n", err); return -1; }
    int32_t h[5];
    if (len < sizeof h) { free(buf); return -1; }
    memcpy(h, buf, sizeof h);
    r->B = h[2]; r->T = h[3]; r->V = h[4];
    size_t nt = (size_t)r->B * (r->T + 1), nl = (size_t)r->B * r->T * r->V;
    if (h[0] != 0x54524954 || h[1] != 1 || len != sizeof h + 4 * (nt + nl + 1)) { free(buf); return -1; }
    r->tokens = xmalloc(4 * nt);
    r->logits = xmalloc(4 * nl);
    memcpy(r->tokens, buf + sizeof h, 4 * nt);
    memcpy(r->logits, buf + sizeof h + 4 * nt, 4 * nl);
    memcpy(&r->loss, buf + sizeof h + 4 * (nt + nl), 4);
    free(buf);
    return 0;
}

#endif
