// balance.h — input-channel balancing before ternary rounding (AWQ's idea,
// Lin et al. 2024, on a ternary grid).
//
// A linear y = W·x computes the same as (W·diag(b))·(x / b) for any b > 0,
// and when what produces x can take the 1/b exactly (an RMSNorm's weight;
// v_proj's rows for o_proj's input; up_proj's rows for down_proj's) the
// model is unchanged. The ternary grid then sees W·diag(b): a group's one
// scale is shared by 64 inputs of very different magnitude, and raising
// the weights of the inputs that carry most of the signal gives them more
// of the scale and fewer zeros, at the cost of the quiet ones.
//
// b_i = rms_i^α (rms_i the input's root mean square over the calibration
// set, from diag(H)), divided by its geometric mean, clamped to
// [1/32, 32] (so a producer's fp16 scales times 1/b stay normal); α is
// chosen on a grid by the layer's output error on the calibration inputs,
//     err(α) = Σ_k tr(E_k H E_kᵀ),  E_k = mse(W_k·diag(b))·diag(1/b) − W_k,
// with mse() each group's MSE-optimal ternary rounding (ternary.h) as a
// stand-in for the rounding that follows. α = 0 is b = 1, no change, so
// the choice never makes that error worse than not balancing.
#ifndef TRIT_BALANCE_H
#define TRIT_BALANCE_H

#include <stdint.h>

// The grid searched: α = 0, 0.1, …, 1.
#define BALANCE_GRID 11

// Chooses b (n values) for the nmat matrices W[k] (rows[k] × n, row-major)
// that read one input whose XᵀX is H (n × n). tie (n entries, or NULL for
// none) puts input i in class tie[i] < n_class: the inputs of a class share
// one b (their rms pooled), as o_proj's inputs must for the query heads
// that read one v row. Returns the α chosen; *err_out (may be NULL) gets
// its error and *err0 (may be NULL) the error of α = 0.
float ternary_balance(const float *const *W, const int64_t *rows, int nmat, int n, int group, const double *H,
                      const int *tie, int n_class, float *b, double *err_out, double *err0);

#endif
