// gemm_bf16.h — bf16 matrix products with fp32 accumulation, for training
// with --precision bf16: oneDNN's public matmul primitive (libdnnl, Debian),
// which runs them on AVX512_BF16 at about twice the fp32 rate.
//
// Like sgemm_det (ops_backward.h), every result is the same bit for bit at
// any thread count: C is cut into the same tiles, chosen from M and N alone,
// each tile one single-threaded oneDNN matmul over the whole of K (its
// primitive is created for one thread, so oneDNN never splits K), the tiles
// spread over OpenMP threads. Primitives are created once per tile shape and
// kept.
#ifndef TRIT_GEMM_BF16_H
#define TRIT_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

// 0 when oneDNN can run a bf16 matmul on this machine (a 2x2x2 product is
// created and checked); GEMM_BF16_UNSUPPORTED with err when this CPU lacks
// AVX512_BF16 and oneDNN has no bf16 product for it, so tests can tell a
// missing instruction set from a broken library or a wrong result (-1 with
// err). Call before the first product.
#define GEMM_BF16_UNSUPPORTED (-2)
int gemm_bf16_check(char *err);

// Row-major C[M][N] = op(A)[M][K] · op(B)[K][N] + beta·C with A, B bf16 and
// C fp32; beta is 0 or 1 (op(A) = A^T when transA, A then stored K×M).
// Products of two bf16 values are exact in fp32, so the only rounding is
// that of the fp32 sums.
void gemm_bf16_det(int transA, int transB, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B,
                   int ldb, float beta, float *C, int ldc);

// dst[i] = bf16(src[i]), rounding to nearest even (util.h f32_to_bf16).
void bf16_round(uint16_t *dst, const float *src, size_t n);

// The plain reference: each C element summed in double over k in order,
// then rounded to fp32 (tests compare gemm_bf16_det against it).
void gemm_bf16_ref(int transA, int transB, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B,
                   int ldb, float beta, float *C, int ldc);

#endif
