// gemm.h — fp32 matrix products on OpenBLAS: the plain product, and the
// fixed-order one (sgemm_det) with the backward of a linear layer on it,
// bit-identical for any OpenMP thread count.
#ifndef TRIT_GEMM_H
#define TRIT_GEMM_H

// out[M][N] = inp[M][K] · W[N][K]^T   (BLAS sgemm, NT)
void matmul_forward(float *out, const float *inp, const float *W, int M, int N, int K);

// Row-major C[M][N] = alpha·op(A)[M][K]·op(B)[K][N] + beta·C, as cblas_sgemm
// (op(A) = A^T when transA, A then stored K×M), bit-identical for any thread
// count: C is cut into tiles chosen from M and N alone (512×512, smaller
// when C is small), each computed by a single-threaded sgemm over all of K,
// the tiles spread over OpenMP threads.
// Threaded OpenBLAS cuts C by the number of threads and its edge kernels sum
// in another order, so its results change with OMP_NUM_THREADS (seen with
// 0.3.21 on 100×1000×777). matmul_forward keeps the threaded call: it only
// serves evaluation, where the fixed order is not promised.
void sgemm_det(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc);
// The tile size sgemm_det cuts an M×N result into (gemm_bf16.h cuts the same).
void sgemm_det_tiles(int M, int N, int *tm, int *tn);

// For out[M][N] = inp[M][K] · W[N][K]^T:
//   dinp[M][K] += dout[M][N] · W[N][K]        (sgemm NN)
//   dW[N][K]   += dout[M][N]^T · inp[M][K]    (sgemm TN)
// Either of dinp, dW may be NULL to skip it. Both via sgemm_det.
void matmul_backward(float *dinp, float *dW, const float *dout, const float *inp, const float *W, int M, int N, int K);

#endif
