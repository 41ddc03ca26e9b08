// gptq.c — ternary GPTQ; see gptq.h.
#include "quant/gptq.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "quant/ternary.h"

// LAPACK (in OpenBLAS): Cholesky factor, the inverse from it, and solves with it; column-major.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info);

// The row-major upper factor U of the inverse of the symmetric positive
// definite row-major H (n × n), H⁻¹ = UᵀU, into u (floats; below the
// diagonal zero). LAPACK reads a row-major matrix as its transpose: its
// lower triangle is our upper one.
static int inverse_upper_factor(double *H, int n, float *u, char *err) {
    int info = 0;
    dpotrf_("L", &n, H, &n, &info);
    if (info == 0) dpotri_("L", &n, H, &n, &info);
    if (info != 0) return set_err(err, "the calibration Hessian is not positive definite (LAPACK info %d): raise the damping", info);
    for (int i = 0; i < n; i++)  // H⁻¹ is in our upper triangle: mirror it
        for (int j = i + 1; j < n; j++) H[(size_t)j * n + i] = H[(size_t)i * n + j];
    dpotrf_("L", &n, H, &n, &info);
    if (info != 0) return set_err(err, "the inverse calibration Hessian is not positive definite (LAPACK info %d)", info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) u[(size_t)i * n + j] = j >= i ? (float)H[(size_t)i * n + j] : 0.0f;
    return 0;
}

int ternary_gptq(float *w, int64_t rows, int64_t cols, int group, double *H, double damp, char *err) {
    if (ternary_check_shape("gptq", cols, group, err)) return -1;
    if (cols > 1 << 16) return set_err(err, "gptq: %lld columns is more than this implementation takes", (long long)cols);
    const int n = (int)cols;
    double mean = 0.0;
    for (int i = 0; i < n; i++) mean += H[(size_t)i * n + i];
    mean /= n;
    if (!(mean > 0.0)) return set_err(err, "gptq: the calibration Hessian is zero (no calibration input?)");
    for (int i = 0; i < n; i++) {
        double *d = &H[(size_t)i * n + i];
        if (*d == 0.0) {  // an input that is always 0: its weights do nothing, round them to 0
            *d = 1.0;
            for (int64_t r = 0; r < rows; r++) w[r * n + i] = 0.0f;
        }
        *d += damp * mean;
    }
    float *u = xmalloc(sizeof(float) * (size_t)n * (size_t)n);
    if (inverse_upper_factor(H, n, u, err)) {
        free(u);
        return -1;
    }
    // Columns in blocks of B (a multiple of the group, so a group's first
    // column sees all of its group's updates): within a block each row
    // updates its own not-yet-rounded columns; at the block's end, one
    // product carries the block's errors into every later column.
    const int B = group >= 128 ? group : group * ((128 + group - 1) / group);
    float *errs = xmalloc(sizeof(float) * (size_t)rows * (size_t)B);
    for (int b0 = 0; b0 < n; b0 += B) {
        const int b1 = b0 + B < n ? b0 + B : n, nb = b1 - b0;
#pragma omp parallel
        {
            int32_t *tmp = xmalloc(3 * sizeof(int32_t) * (size_t)group);
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                float *wr = w + r * n, *er = errs + r * nb, s = 0.0f;
                for (int j = b0; j < b1; j++) {
                    if ((j - b0) % group == 0) s = ternary_mse_scale(wr + j, NULL, group, tmp);
                    float q;
                    ternary_round_group(&q, wr + j, 1, s);
                    const float e = (wr[j] - q) / u[(size_t)j * n + j];
                    wr[j] = q;
                    er[j - b0] = e;
                    const float *uj = u + (size_t)j * n;
                    for (int k = j + 1; k < b1; k++) wr[k] -= e * uj[k];
                }
            }
            free(tmp);
        }
        if (b1 < n)  // w[:, b1:] -= errs · U[b0:b1, b1:]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, n - b1, nb, -1.0f, errs, nb,
                        u + (size_t)b0 * n + b1, n, 1.0f, w + b1, n);
    }
    free(errs);
    free(u);
    return 0;
}

int qep_correct(float *w, int64_t rows, int64_t cols, const double *H, const double *P, double alpha, double damp,
                char *err) {
    if (cols > 1 << 16 || rows > 1 << 30) return set_err(err, "qep: a %lld x %lld matrix is more than this implementation takes", (long long)rows, (long long)cols);
    const int n = (int)cols, nr = (int)rows;
    const size_t nn = (size_t)n * n;
    double *A = xmalloc(sizeof(double) * nn), *D = xmalloc(sizeof(double) * nn),
           *M = xmalloc(sizeof(double) * (size_t)rows * n), *W = xmalloc(sizeof(double) * (size_t)rows * n);
    double mean = 0.0;
    for (int i = 0; i < n; i++) mean += H[(size_t)i * n + i];
    mean /= n;
    for (size_t i = 0; i < nn; i++) {
        A[i] = H[i];
        D[i] = P[i] - H[i];
    }
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] += (A[(size_t)i * n + i] == 0.0 ? 1.0 : 0.0) + damp * mean;
    for (size_t i = 0; i < (size_t)rows * n; i++) W[i] = w[i];
    // M = W·D (rows × n), then M·A⁻¹: A is symmetric, so LAPACK's column-major
    // solve A·Z = Mᵀ reads the row-major M as Mᵀ and leaves Z ᵀ = M·A⁻¹ in it.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, n, n, 1.0, W, n, D, n, 0.0, M, n);
    int info = 0;
    if (mean > 0.0) dpotrf_("L", &n, A, &n, &info);
    if (!(mean > 0.0) || info != 0) {
        free(W);
        free(M);
        free(D);
        free(A);
        return set_err(err, "qep: the calibration Hessian is %s", mean > 0.0 ? "not positive definite" : "zero");
    }
    dpotrs_("L", &n, &nr, A, &n, M, &n, &info);
    for (size_t i = 0; i < (size_t)rows * n; i++) w[i] = (float)(W[i] + alpha * M[i]);
    free(W);
    free(M);
    free(D);
    free(A);
    return 0;
}
