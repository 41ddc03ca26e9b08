// linear.h — weight tensors that carry their storage type, and the one
// type-dispatched matrix product every forward pass goes through.
//
// A WTensor is a row-major matrix W[rows][cols] as HF stores it (out, in),
// in any ggml storage type (the ids of src/quant/ggml_types.h): fp32 (the
// latent weights, or their ternary projection t·s during training), or
// packed: the ternary types (Q2_0, TQ2_0, TQ1_0) in the run layout that
// qpack makes from a GGUF file's blocks (kernels/cpu/qpack.h: rows 8 at a
// time), F16 / Q8_0 (an embedding kept apart) as GGUF rows of blocks. Never
// expanded to fp32: the products run on the packed bytes
// (src/kernels/qmatmul.h).
#ifndef TRIT_LINEAR_H
#define TRIT_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "quant/ggml_types.h"

// An optional low-rank correction (an adapter, --adapter-rank) makes the
// product W + B·A: A (rank, cols) and B (rows, rank), fp32, beside weights
// of any type.
typedef struct {
    uint32_t type;  // GGML_TYPE_*
    const void *data;
    int rows, cols;
    int rank;                      // 0: no adapter
    const float *lora_a, *lora_b;  // A (rank, cols), B (rows, rank)
} WTensor;

static inline WTensor wt_f32(const float *data, int rows, int cols) {
    return (WTensor){.type = GGML_TYPE_F32, .data = data, .rows = rows, .cols = cols};
}

// Bytes of the whole matrix in its storage type (the ternary types: in the
// run layout).
size_t wt_bytes(const WTensor *W);

// Whether linear_forward and embedding_lookup run weights of this type with
// rows of `cols` weights (packed types: whole activation blocks of 64).
int wt_supported(uint32_t type, int cols);

// Up to this many rows, an fp32 or bf16 product runs qmatmul's F32 / BF16
// kernels: every output summed in one fixed order, so a row's result is the
// same bit for bit whether it is computed alone (a decode step) or with up
// to 63 others (a speculative draft verified in one pass, a step of several
// beams). More rows (prefill, eval, training) go to OpenBLAS's sgemm or
// oneDNN.
#define LINEAR_DECODE_ROWS 64

// out[n][rows] = inp[n][cols] · W^T, plus (inp · A^T) · B^T with an
// adapter (the same way: linear_forward of A, then of B). fp32: see LINEAR_DECODE_ROWS (cols not
// a multiple of 8 always take sgemm). Packed types: qmatmul (activations
// quantized to int8, row-independent at any n).
// BF16 (training with --precision bf16, kept bf16 tensors): the activations
// are rounded to bf16, products exact, fp32 sums; up to LINEAR_DECODE_ROWS
// rows on qmatmul, more on oneDNN (gemm_bf16.h).
void linear_forward(float *out, const float *inp, const WTensor *W, int n);

// linear_forward of count (<= 4) matrices with one input, out[i] = inp ·
// W[i]^T, the same results; where qmatmul runs them (one type and width),
// one call: the input quantized once, one parallel loop (q, k, v of a
// decode step).
void linear_forward_multi(int count, float *const out[], const WTensor *const W[], const float *inp, int n);

// The training products, F32 or BF16 weights only, bit-identical at any
// thread count (sgemm_det / gemm_bf16_det):
//   linear_forward_det: out[n][rows] = inp[n][cols] · W^T
//   linear_backward:    dinp[n][cols] += dout[n][rows] · W,
//                       dW[rows][cols] += dout^T · inp  (either may be NULL)
// With BF16 weights dout and inp are rounded to bf16 as well; dW stays fp32
// (it is the latent weights' gradient). An adapter joins the forward and
// dinp (fp32 products); its own gradients are not computed here: training
// folds B·A into the weights it runs (train.h) and takes them from dW.
void linear_forward_det(float *out, const float *inp, const WTensor *W, int n);
void linear_backward(float *dinp, float *dW, const float *dout, const float *inp, const WTensor *W, int n);

// out[i][:] = E[tokens[i]][:] for i < n: the embedding lookup, from any
// storage type (a packed row is dequantized). Token ids must be in [0, E->rows).
void embedding_lookup(float *out, const int32_t *tokens, int n, const WTensor *E);

#endif
