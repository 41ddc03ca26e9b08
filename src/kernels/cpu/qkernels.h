// qkernels.h — the CPU kernels behind qmatmul (kernels/qmatmul.h): one table
// per instruction set (ref, AVX2, AVX-512 VNNI), one entry per weight type.
//
// Every path of a type computes, for each output, the same thing in the
// same order, so all paths agree bit for bit (tests/test_quant.c). For the
// packed types against int8 activation blocks (qact.h):
//     acc = 0.0f
//     for each activation block b (QA_BLOCK values, in column order):
//         for each weight block part p that b covers (Q8_0: two halves of
//         32; the others: one, b itself or a quarter of a 256-block):
//             isum = Σ w_k q_k over p                      (exact int32)
//             acc  = acc + (dw_p * d_b) * (float)isum      (two products,
//                                                           one add, never fused)
// with dw_p the fp16 scale of the weight block holding p, and w_k the
// weight's integer (t = code - 1 for the ternary types, taken as
// Σ code q - sum_b; the int8 itself for Q8_0). Only the integer sums are
// free to be taken in any order; the SIMD kernels reach lane-level
// parallelism by running that same sequence for 8 outputs at once (8 weight
// rows in GEMV, 8 activation rows in GEMM), never by reassociating it.
//
// F16 weights meet fp32 activations directly (no quantization; the
// embedding / LM head of files that keep it unquantized): per output, 8
// partial sums s_l, s_l = fma(w_k, x_k, s_l) for k = l mod 8 in column
// order, then ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)) — the order
// in which one 8-lane register folds its halves. F32 and BF16 weights (an
// fp32 model's decode-sized products; a kept bf16 embedding / LM head or
// linear) the same way; for BF16 qmatmul rounds the activations to bf16
// first, so every product is one of two bf16 values, exact in fp32.
#ifndef TRIT_QKERNELS_H
#define TRIT_QKERNELS_H

#include <stdint.h>

#include "kernels/cpu/qact.h"
#include "kernels/cpu/qpack.h"

// Rows of the GEMM activation layout interleaved together (qact.h `lanes`):
// one 256-bit vector of int32 is one accumulator for each of 8 rows.
#define QGEMM_LANES 8

// A packed weight matrix as the kernels see it: the ternary types in the
// run layout (qpack.h: codes, then scales, qk the type's block size), Q8_0
// as GGUF rows (w only).
typedef struct {
    const uint8_t *w;
    const uint8_t *scales;  // qpack_scales: fp16 at any alignment
    int rows, cols, qk;
} QMat;

typedef struct {
    // out[r] for r in [r0, r1): weight row r times activation row 0.
    // a->lanes == 1. Ternary: r0 a multiple of QPACK_ROWS.
    void (*gemv)(float *out, const QAct *a, const QMat *m, int r0, int r1);
    // out[i * ldo + r] for i < a->n and r in [r0, r1). a->lanes == gemm_lanes.
    void (*gemm)(float *out, int ldo, const QAct *a, const QMat *m, int r0, int r1);
} QTypeKernels;

// F16, BF16 and F32: the same shapes, fp32 activations x[n][cols].
typedef struct {
    void (*gemv)(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1);
    void (*gemm)(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1);
} QFloatKernels;

typedef struct {
    const char *name;  // "ref", "avx2", "avx512"
    int gemm_lanes;    // the `lanes` its gemm wants its activations in
    QTypeKernels ternary, q8_0;  // ternary: Q2_0, TQ1_0, TQ2_0 in the run layout
    QFloatKernels f16, bf16, f32;
} QIsa;

extern const QIsa qisa_ref, qisa_avx2, qisa_avx512;

#endif
