// lowrank.h — the best rank-r correction of a matrix's rounding error,
// weighted by the matrix's inputs (LQER / SVD-LLM's activation-aware SVD):
// the start of a ternary linear's adapter (W ≈ t·s + B·A).
//
// For a linear whose rounding left the error E = W − t·s (rows × cols) and
// whose calibration inputs X (n × cols) give H = XᵀX, B·A (B rows × r, A
// r × cols) minimizes ||(E − B·A)·Xᵀ||_F: with H + δI = L·Lᵀ (Cholesky,
// δ the damping), the top r singular triplets of E·L ≈ U·Σ·Vᵀ give
// B = U·√Σ and A = √Σ·Vᵀ·L⁻¹. Without H (L = I) it is the truncated SVD
// of E itself. √Σ on both sides keeps A and B on one scale for training.
#ifndef TRIT_LOWRANK_H
#define TRIT_LOWRANK_H

#include <stdint.h>

// A (rank × cols) and B (rows × rank), row-major, from E; H (cols × cols,
// symmetric) may be NULL and is not changed; damp as gptq's (a fraction of
// the mean diagonal). rank <= min(rows, cols). -1 with err when the damped
// H is not positive definite or LAPACK's SVD fails.
int lowrank_fit(const float *E, int64_t rows, int64_t cols, const double *H, double damp, int rank, float *A,
                float *B, char *err);

#endif
