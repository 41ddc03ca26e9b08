// lowrank.c — see lowrank.h.
#include "quant/lowrank.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// LAPACK (in OpenBLAS), column-major.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);

// The lower Cholesky factor of H + δI, row-major (n × n, zero above the
// diagonal). LAPACK's "L" factor of the row-major buffer (its transpose,
// the same symmetric matrix) lies in our upper triangle: L[i][j] = buf[j][i].
static double *cholesky_lower(const double *H, int n, double damp, char *err) {
    double mean = 0.0;
    for (int i = 0; i < n; i++) mean += H[(size_t)i * n + i];
    mean /= n;
    double *f = xmalloc(sizeof(double) * (size_t)n * n);
    memcpy(f, H, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++) f[(size_t)i * n + i] += damp * mean + (mean > 0 ? 0.0 : 1.0);
    int info = 0;
    dpotrf_("L", &n, f, &n, &info);
    if (info != 0) {
        free(f);
        set_err(err, "the calibration Hessian is not positive definite (LAPACK info %d): raise the damping", info);
        return NULL;
    }
    double *L = xcalloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) L[(size_t)i * n + j] = f[(size_t)j * n + i];
    free(f);
    return L;
}

int lowrank_fit(const float *E, int64_t rows64, int64_t cols64, const double *H, double damp, int rank, float *A,
                float *B, char *err) {
    const int rows = (int)rows64, cols = (int)cols64, k = rows < cols ? rows : cols;
    if (rank < 1 || rank > k) return set_err(err, "adapter rank %d must be between 1 and %d", rank, k);
    double *L = H ? cholesky_lower(H, cols, damp, err) : NULL;
    if (H && !L) return -1;
    double *M = xmalloc(sizeof(double) * (size_t)rows * cols);  // E·L (rows × cols), or E
    for (size_t i = 0; i < (size_t)rows * cols; i++) M[i] = E[i];
    if (L) {
        double *EL = xmalloc(sizeof(double) * (size_t)rows * cols);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, cols, 1.0, M, cols, L, cols, 0.0, EL, cols);
        free(M);
        M = EL;
    }
    // The row-major M is, to LAPACK, Mᵀ (cols × rows) = V·Σ·Uᵀ: its "U" is
    // our V (cols × k) and its "Vᵀ" our Uᵀ (k × rows), both column-major.
    double *s = xmalloc(sizeof(double) * (size_t)k), *V = xmalloc(sizeof(double) * (size_t)cols * k),
           *Ut = xmalloc(sizeof(double) * (size_t)k * rows), wq;
    int *iwork = xmalloc(sizeof(int) * 8 * (size_t)k), info = 0, lwork = -1;
    dgesdd_("S", &cols, &rows, M, &cols, s, V, &cols, Ut, &k, &wq, &lwork, iwork, &info);
    lwork = (int)wq;
    double *work = xmalloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1));
    if (info == 0) dgesdd_("S", &cols, &rows, M, &cols, s, V, &cols, Ut, &k, work, &lwork, iwork, &info);
    int rc = 0;
    if (info != 0) {
        rc = set_err(err, "the SVD of a rounding error did not converge (LAPACK info %d)", info);
    } else {
        for (int j = 0; j < rank; j++) {
            const double sq = sqrt(s[j]);
            for (int r = 0; r < rows; r++) B[(size_t)r * rank + j] = (float)(Ut[j + (size_t)r * k] * sq);
            // A's row j: x·L = √σ_j·v_jᵀ, solved from the last column back (L lower).
            double *x = M;  // reused: the SVD consumed it
            for (int i = 0; i < cols; i++) x[i] = sq * V[i + (size_t)j * cols];
            for (int i = cols - 1; i >= 0 && L; i--) {
                double acc = x[i];
                for (int m = i + 1; m < cols; m++) acc -= x[m] * L[(size_t)m * cols + i];
                x[i] = acc / L[(size_t)i * cols + i];
            }
            for (int i = 0; i < cols; i++) A[(size_t)j * cols + i] = (float)x[i];
        }
    }
    free(work);
    free(iwork);
    free(Ut);
    free(V);
    free(s);
    free(M);
    free(L);
    return rc;
}
