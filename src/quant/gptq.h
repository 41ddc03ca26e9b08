// gptq.h — ternary rounding that sees the layer's inputs: GPTQ / OBQ with a
// ternary grid (PT²-LLM's recipe without its asymmetric shift).
//
// For a linear y = W x with calibration inputs X (n × cols), the Hessian of
// the output error ||W X − Q X||² is H = XᵀX. Columns of W are rounded in
// order; each one's rounding error is pushed into the columns not yet
// rounded, weighted by the inverse Hessian (its upper Cholesky factor U,
// H⁻¹ = UᵀU), so the inputs' correlations absorb what one column lost. At
// a group's first column each row's fp16 scale is fitted, MSE-optimally,
// on that group's error-updated weights (ternary_mse_scale). The result is
// exactly t · s, as ternary_project's: verify passes, export is lossless.
#ifndef TRIT_GPTQ_H
#define TRIT_GPTQ_H

#include <stdint.h>

// Rounds w (rows × cols, row-major) in place to t·s with one fp16 scale per
// `group` consecutive columns of a row. H (cols × cols, symmetric, the sum
// of xᵀx over the calibration rows) is overwritten. damp: the fraction of
// the mean diagonal added to it (0.01 as in GPTQ) so that it is positive
// definite; a column no input ever reached (H_ii = 0) is rounded to 0.
// Returns 0, or -1 with a message (a Hessian that damping cannot make
// positive definite, a group that does not divide cols).
int ternary_gptq(float *w, int64_t rows, int64_t cols, int group, double *H, double damp, char *err);

// QEP's correction (Arai & Ichikawa 2025, "quantization error
// propagation"): the layers before this one are rounded already, so its
// inputs X (the converted model's) differ from the parent's Xp. The W* that
// best maps X to what the parent's layer made of Xp, min ||W* Xᵀ − W Xpᵀ||,
// is W·P·H⁻¹ with H = XᵀX and P = XpᵀX; alpha blends, W + alpha·(W* − W) =
// W + alpha·W·(P − H)·H⁻¹, so that rounding then starts from a matrix that
// undoes part of the earlier layers' error. H is damped as in ternary_gptq
// (and not changed); w (rows × cols) is replaced. -1 with err when H
// cannot be factored.
int qep_correct(float *w, int64_t rows, int64_t cols, const double *H, const double *P, double alpha, double damp,
                char *err);

#endif
