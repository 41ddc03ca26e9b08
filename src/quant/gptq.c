// gptq.c — ternary GPTQ; see gptq.h.
#include "quant/gptq.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "quant/ternary.h"

// LAPACK (in OpenBLAS): Cholesky factor and the inverse from it, column-major.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

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
