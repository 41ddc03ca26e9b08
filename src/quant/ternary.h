// ternary.h — the one definition of trit's ternary weights.
//
// A weight matrix W[rows][cols] is cut into groups of `group` consecutive
// weights along the input dimension (each row holds cols/group groups). Each
// group g gets one scale s_g and ternary values t in {-1, 0, +1}:
//     s_g = fp16(mean(|W_g|))  (absmean, BitNet b1.58)   or  fp16(max(|W_g|))  (absmax)
//     t   = clamp(round(W / s_g), -1, 1)                  (round half to even)
// where fp16() rounds to the nearest IEEE half (ties to even; above 65504
// clamped to it): the GGUF ternary types (Q2_0, TQ1_0, TQ2_0) store each
// scale as fp16, so a model trained with these scales exports losslessly.
// and the forward pass uses t * s_g. Training keeps W in fp32 and passes the
// gradient of t * s_g straight through to W (the straight-through estimator),
// so there is no backward function here: dW = d(t*s).
#ifndef TRIT_TERNARY_H
#define TRIT_TERNARY_H

#include <stddef.h>
#include <stdint.h>

// SCALE_MSE: each group's MSE-optimal scale (ternary_mse_scale below); a
// group that is already t*s keeps its s, so training from a calibrated start
// (trit quantize) begins where that start is. SCALE_LEARNED: the scales are
// parameters of their own, trained beside the weights (train.h); they start
// as SCALE_MSE's.
typedef enum { SCALE_ABSMEAN, SCALE_ABSMAX, SCALE_MSE, SCALE_LEARNED } TernaryScale;

// "absmean", "absmax", "mse", "learned".
const char *ternary_scale_name(TernaryScale mode);

// Checks that `group` is positive and divides `cols`; names the tensor.
int ternary_check_shape(const char *name, int64_t cols, int group, char *err);

// q = t * s for every group of w. q and w may be the same array.
void ternary_project(float *q, const float *w, int64_t rows, int64_t cols, int group, TernaryScale mode);

// t·s for n weights with the scale s: t the nearest of {-1, 0, 1} to w / s
// (half to even, a true division); an s that is 0 or NaN gives 0 or NaN.
void ternary_round_group(float *q, const float *w, int n, float s);

// The fp16 scale minimising sum h_i (w_i - s t_i)^2 over the n weights, t
// the nearest level: the best of the supports "the k largest |w|" (for a
// support S the best s is sum_S h|w| / sum_S h), rounded to fp16. h NULL:
// unweighted. tmp: 3n values of scratch.
float ternary_mse_scale(const float *w, const float *h, int n, int32_t *tmp);

// ternary_project with each group's MSE-optimal scale; h (cols values, or
// NULL) weighs each input column's error (its mean square input).
void ternary_project_mse(float *q, const float *w, int64_t rows, int64_t cols, int group, const float *h);

// s rounded to the fp16 the packed formats store (clamped to the largest
// finite fp16): the scale a learned group's forward uses.
float ternary_scale_f16(float s);

// ternary_project with given scales, one per group in row order (rounded
// to fp16 first); the forward of SCALE_LEARNED.
void ternary_project_scales(float *q, const float *w, int64_t rows, int64_t cols, int group, const float *scales);

// The gradient of each group's scale, LSQ's (Esser et al.): with v = w/s
// (s the fp16 scale the forward used) and t its ternary rounding, the
// forward q = s·t has dq/ds = t − v where |v| <= 1 (rounding passed
// straight through) and t outside (the clamp). ds[g] = sum g_i·dq_i/ds over
// the group, g the gradient of q; a group whose scale is 0 gets 0.
void ternary_scale_grad(float *ds, const float *g, const float *w, const float *scales, int64_t rows, int64_t cols,
                        int group);

typedef struct {
    uint64_t neg, zero, pos;  // how many weights are -s, 0, +s
    uint64_t bad_groups;      // groups whose values are not exactly {-s, 0, +s}
} TernaryCounts;

// Checks that every group of q holds only 0 and ±s for one s >= 0 (bit-exact;
// s is the group's largest magnitude) and counts the values. Returns 0 when
// all groups pass. `counts` is accumulated into (zero it first).
int ternary_verify(const float *q, int64_t rows, int64_t cols, int group, TernaryCounts *counts);

#endif
