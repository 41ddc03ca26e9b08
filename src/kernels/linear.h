// linear.h — weight tensors that carry their storage type, and the one
// type-dispatched matrix product every forward pass goes through.
//
// A WTensor is a row-major matrix W[rows][cols] as HF stores it (out, in).
// Today the only storage is fp32 (the latent weights, or their ternary
// projection t·s as fp32 during training); bf16 and packed ternary blocks
// are new WType values with their own kernels behind linear_forward, so
// the transformer block does not change when they arrive.
#ifndef TRIT_LINEAR_H
#define TRIT_LINEAR_H

#include <stdint.h>

typedef enum { WT_F32 } WType;

typedef struct {
    WType type;
    const void *data;
    int rows, cols;
} WTensor;

static inline WTensor wt_f32(const float *data, int rows, int cols) {
    return (WTensor){.type = WT_F32, .data = data, .rows = rows, .cols = cols};
}

// out[n][rows] = inp[n][cols] · W^T. One row (a decode step) is a
// matrix-vector product: OpenBLAS's sgemv streams W about 2.5x faster than
// its sgemm does with one row (measured single-threaded, N=3072 K=1024:
// 0.81 vs 2.56 ms).
void linear_forward(float *out, const float *inp, const WTensor *W, int n);

// out[i][:] = E[tokens[i]][:] for i < n: the embedding lookup, from any
// storage type. Token ids must be in [0, E->rows).
void embedding_lookup(float *out, const int32_t *tokens, int n, const WTensor *E);

#endif
