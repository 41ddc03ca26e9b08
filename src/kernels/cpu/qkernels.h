// qkernels.h — the CPU kernels behind qmatmul (kernels/qmatmul.h): one table
// per instruction set (ref, AVX2, AVX-512 VNNI), one entry per weight type.
//
// Every path of a type computes, for each output, the same thing in the
// same order, so all paths agree bit for bit (tests/test_quant.c):
//     acc = 0.0f
//     for each activation block b (QA_BLOCK values, in column order):
//         isum = Σ code_k q_k - offset * sum_b        (exact int32)
//         acc  = acc + (dw * d_b) * (float)isum       (two products, one add,
//                                                      never fused)
// with dw the fp16 scale of the weight block that holds b. Only the integer
// sums are free to be taken in any order; the SIMD kernels reach lane-level
// parallelism by running that same sequence for 8 outputs at once (8 weight
// rows in GEMV, 8 activation rows in GEMM), never by reassociating it.
#ifndef TRIT_QKERNELS_H
#define TRIT_QKERNELS_H

#include <stdint.h>

#include "kernels/cpu/qact.h"

// Rows of the GEMM activation layout interleaved together (qact.h `lanes`):
// one 256-bit vector of int32 is one accumulator for each of 8 rows.
#define QGEMM_LANES 8

typedef struct {
    // out[r] for r in [r0, r1): weight row r times activation row 0.
    // a->lanes == 1.
    void (*gemv)(float *out, const QAct *a, const uint8_t *W, int r0, int r1);
    // out[i * ldo + r] for i < a->n and r in [r0, r1). a->lanes == gemm_lanes.
    void (*gemm)(float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1);
} QTypeKernels;

typedef struct {
    const char *name;  // "ref", "avx2", "avx512"
    int gemm_lanes;    // the `lanes` its gemm wants its activations in
    QTypeKernels q2_0, tq1_0, tq2_0;
} QIsa;

extern const QIsa qisa_ref, qisa_avx2, qisa_avx512;

#endif
