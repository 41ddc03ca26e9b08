// gemm.c — see gemm.h.
#include "kernels/gemm.h"

#include <cblas.h>
#include <stddef.h>

void matmul_forward(float *out, const float *inp, const float *W, int M, int N, int K) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, W, K, 0.0f, out, N);
}

// Tiles of the result of sgemm_det (and gemm_bf16_det): 512×512, halved (larger side first, down
// to 128) until there are 16 of them, so that small results still spread
// over the threads. Decided by M and N alone, never by the thread count.
// Each tile is one single-threaded sgemm over the whole inner dimension: an
// element's sum then depends only on the tile shape and its place in it.
// (Single-threaded on 2048×1024×3072, 512-tiles cost ~15% over one sgemm
// call, 256-tiles ~25%: OpenBLAS blocks a larger tile better.)
void sgemm_det_tiles(int M, int N, int *tm, int *tn) {
    int a = 512, b = 512;
    while ((long)((M + a - 1) / a) * ((N + b - 1) / b) < 16 && (a > 128 || b > 128)) {
        if (a >= b && a > 128) a /= 2;
        else b /= 2;
    }
    *tm = a;
    *tn = b;
}

void sgemm_det(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
    // Threaded OpenBLAS (0.3.21) is not reproducible across thread counts:
    // it splits M and N by the number of threads, and its edge kernels add in
    // another order than the main one (e.g. 100×1000×777 NN differs between 1
    // and 2 threads). Here the split is fixed. Inside an active parallel
    // region OpenBLAS runs single-threaded; with one thread there is nothing
    // to split. So even a single tile goes through the parallel loop.
    int tm, tn;
    sgemm_det_tiles(M, N, &tm, &tn);
    const int mt = (M + tm - 1) / tm, nt = (N + tn - 1) / tn;
    const enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < mt * nt; t++) {
        const int i0 = t / nt * tm, j0 = t % nt * tn;
        const int m = M - i0 < tm ? M - i0 : tm, n = N - j0 < tn ? N - j0 : tn;
        const float *a = transA ? A + i0 : A + (size_t)i0 * lda;  // rows i0.. of op(A)
        const float *b = transB ? B + (size_t)j0 * ldb : B + j0;  // columns j0.. of op(B)
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, K, alpha, a, lda, b, ldb, beta, C + (size_t)i0 * ldc + j0, ldc);
    }
}

void matmul_backward(float *dinp, float *dW, const float *dout, const float *inp, const float *W, int M, int N, int K) {
    if (dinp) sgemm_det(0, 0, M, K, N, 1.0f, dout, N, W, K, 1.0f, dinp, K);
    if (dW) sgemm_det(1, 0, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dW, K);
}
