// balance.c — input-channel balancing; see balance.h.
#include "quant/balance.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "base/util.h"
#include "quant/ternary.h"

#define B_MIN (1.0 / 32.0)
#define B_MAX 32.0

// b for one α: each class's mean diag(H) to the power α/2, over the
// geometric mean of the live classes, clamped. A dead class (its inputs
// always 0, its weights doing nothing) keeps 1, so α = 0 is b = 1.
static void balance_vector(float *b, const double *d, const int *tie, int n, int n_class, double alpha) {
    double mean = 0.0;
    int live = 0;
    for (int c = 0; c < n_class; c++)
        if (d[c] > 0.0) {
            mean += 0.5 * alpha * log(d[c]);
            live++;
        }
    mean = live ? mean / live : 0.0;
    for (int i = 0; i < n; i++) {
        const double dc = d[tie ? tie[i] : i];
        const double v = dc > 0.0 ? exp(0.5 * alpha * log(dc) - mean) : 1.0;
        b[i] = (float)(v < B_MIN ? B_MIN : v > B_MAX ? B_MAX : v);
    }
}

// Σ_k tr(E_k H E_kᵀ) for the balance b; e and t: scratch of the largest
// rows × n.
static double balance_error(const float *const *W, const int64_t *rows, int nmat, int n, int group, const float *Hf,
                            const float *b, float *e, float *t) {
    double sum = 0.0;
    for (int k = 0; k < nmat; k++) {
        const int64_t r = rows[k];
        for (int64_t i = 0; i < r; i++)
            for (int j = 0; j < n; j++) e[i * n + j] = W[k][i * n + j] * b[j];
        ternary_project_mse(e, e, r, n, group, NULL);
        for (int64_t i = 0; i < r; i++)
            for (int j = 0; j < n; j++) e[i * n + j] = e[i * n + j] / b[j] - W[k][i * n + j];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, n, n, 1.0f, e, n, Hf, n, 0.0f, t, n);
        for (int64_t i = 0; i < r * n; i++) sum += (double)e[i] * t[i];
    }
    return sum;
}

float ternary_balance(const float *const *W, const int64_t *rows, int nmat, int n, int group, const double *H,
                      const int *tie, int n_class, float *b, double *err_out, double *err0) {
    if (!tie) n_class = n;
    double *d = xcalloc((size_t)n_class, sizeof(double));
    int *members = xcalloc((size_t)n_class, sizeof(int));
    for (int i = 0; i < n; i++) {
        const int c = tie ? tie[i] : i;
        d[c] += H[(size_t)i * n + i];
        members[c]++;
    }
    for (int c = 0; c < n_class; c++) d[c] = members[c] ? d[c] / members[c] : 0.0;
    int64_t widest = 0;
    for (int k = 0; k < nmat; k++) widest = rows[k] > widest ? rows[k] : widest;
    float *Hf = xmalloc(sizeof(float) * (size_t)n * n), *e = xmalloc(sizeof(float) * (size_t)widest * n),
          *t = xmalloc(sizeof(float) * (size_t)widest * n), *trial = xmalloc(sizeof(float) * (size_t)n);
    for (size_t i = 0; i < (size_t)n * n; i++) Hf[i] = (float)H[i];
    double best = INFINITY;
    float best_alpha = 0.0f;
    for (int g = 0; g < BALANCE_GRID; g++) {
        const float alpha = (float)g / (BALANCE_GRID - 1);
        balance_vector(trial, d, tie, n, n_class, alpha);
        const double err = balance_error(W, rows, nmat, n, group, Hf, trial, e, t);
        if (g == 0 && err0) *err0 = err;
        if (err < best) {  // strictly: a tie keeps the smaller α
            best = err;
            best_alpha = alpha;
            for (int i = 0; i < n; i++) b[i] = trial[i];
        }
    }
    if (err_out) *err_out = best;
    free(trial);
    free(t);
    free(e);
    free(Hf);
    free(members);
    free(d);
    return best_alpha;
}
