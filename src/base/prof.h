// prof.h — optional wall time per operation of a forward pass, for the
// decode profile of `make bench` (bench/bench_decode.c). Off (one branch an
// operation) unless a caller points prof_seconds at an array of PROF_COUNT.
#ifndef TRIT_PROF_H
#define TRIT_PROF_H

#include "base/util.h"

typedef enum {
    PROF_EMBED,    // the embedding lookup
    PROF_NORM,     // RMSNorms: the two per layer, the head norms, the final one
    PROF_QKV,      // the q, k, v products (activation quantization included)
    PROF_ROPE,     // RoPE on q and k
    PROF_ATTN,     // attention against the KV cache
    PROF_O,        // the output projection
    PROF_RESID,    // the residual adds
    PROF_GATEUP,   // the gate and up products
    PROF_SWIGLU,   // silu(gate) * up
    PROF_DOWN,     // the down product
    PROF_HEAD,     // the LM head
    PROF_COUNT
} ProfOp;

extern double *prof_seconds;
extern const char *const prof_names[PROF_COUNT];

// t = prof_start(); ...op...; prof_lap(PROF_X, &t); ...
static inline double prof_start(void) { return prof_seconds ? now_seconds() : 0.0; }
static inline void prof_lap(ProfOp op, double *t) {
    if (!prof_seconds) return;
    const double now = now_seconds();
    prof_seconds[op] += now - *t;
    *t = now;
}

#endif
