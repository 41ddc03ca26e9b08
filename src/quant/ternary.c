// ternary.c — group-wise ternary projection and its verifier; see ternary.h.
#include "quant/ternary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int ternary_check_shape(const char *name, int64_t cols, int group, char *err) {
    if (group <= 0) return set_err(err, "group size must be positive, not %d", group);
    if (cols % group != 0)
        return set_err(err, "%s: group size %d does not divide the row length %lld", name, group, (long long)cols);
    return 0;
}

// The largest finite fp16 value: a larger scale is clamped to it rather
// than turned into an infinity (t then saturates at +-1, as for any w > s).
#define F16_MAX 65504.0

static float group_scale(const float *w, int n, TernaryScale mode) {
    // Summed in double: the scale is then the same whatever the group size
    // (rounded to fp16 below, the order of a double sum never shows). Eight
    // partial sums, so the adds vectorise instead of waiting on each other.
    double s = 0.0;
    if (mode == SCALE_ABSMAX) {
        for (int i = 0; i < n; i++) s = fmax(s, fabs((double)w[i]));
    } else {
        double part[8] = {0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) part[k] += fabs((double)w[i + k]);
        for (; i < n; i++) part[0] += fabs((double)w[i]);
        s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        s /= n;
    }
    // Rounded to fp16 (through float32, as torch's .float().half() does),
    // the precision every packed format stores the scale in: training,
    // verify and export then agree bit for bit.
    return ternary_scale_f16((float)s);
}

// A signed int in the order of the float: a total order over every bit
// pattern (NaN included), so that the ranks below are a permutation.
static int32_t order_key(float x) {
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i < 0 ? i ^ 0x7fffffff : i;
}

float ternary_mse_scale(const float *w, const float *h, int n, int32_t *tmp) {
    // The pairs (|w|, h) in descending order, ties by index, as a rank per
    // element: n² branch-free compares that vectorize, 4x faster than a
    // comparison sort on the groups of 64-256 that training projects every
    // step (qsort was a third of a distilled step). Equal pairs are equal
    // values, so the sums below do not depend on how ties are ordered.
    int32_t *ka = tmp, *kh = tmp + n, *idx = tmp + 2 * n;
    for (int i = 0; i < n; i++) {
        ka[i] = order_key(fabsf(w[i]));
        if (h) kh[i] = order_key(h[i]);  // only the weighted ranks read it
    }
    for (int i = 0; i < n; i++) {
        const int32_t a = ka[i], b = kh[i];
        int r = 0;
        if (!h) {  // the hot path: training's projection
            for (int j = 0; j < i; j++) r += ka[j] >= a;
            for (int j = i + 1; j < n; j++) r += ka[j] > a;
        } else {
            for (int j = 0; j < i; j++) r += (ka[j] > a) | ((ka[j] == a) & (kh[j] >= b));
            for (int j = i + 1; j < n; j++) r += (ka[j] > a) | ((ka[j] == a) & (kh[j] > b));
        }
        idx[r] = i;
    }
    // Support S = the k largest |w|: the best s is Σ_S h|w| / Σ_S h and it
    // removes (Σ_S h|w|)² / Σ_S h of the error Σ h w².
    double num = 0.0, den = 0.0, best_gain = 0.0, best = 0.0;
    for (int k = 0; k < n; k++) {
        const float hk = h ? h[idx[k]] : 1.0f;
        num += (double)fabsf(w[idx[k]]) * hk;
        den += hk;
        if (den > 0.0 && num * num / den > best_gain) {
            best_gain = num * num / den;
            best = num / den;
        }
    }
    return ternary_scale_f16((float)best);
}

// t for w at the scale s > 0: the nearest of {-1, 0, 1} to w / s. A true
// division (not a multiply by 1/s), so the rounding decisions are
// bit-identical to the torch reference's w / s; half to even, as torch.round.
static inline float ternary_level(float w, float s) {
    const float t = nearbyintf(w / s);
    return t > 1.0f ? 1.0f : t < -1.0f ? -1.0f : t;
}

void ternary_round_group(float *q, const float *w, int n, float s) {
    if (!(s > 0.0f)) {  // an all-zero group (or NaN scale): all t = 0
        for (int i = 0; i < n; i++) q[i] = s == 0.0f ? 0.0f : s;
        return;
    }
    for (int i = 0; i < n; i++)
        q[i] = ternary_level(w[i], s) * s + 0.0f;  // + 0: a zero is +0.0, as a packed zero decodes, never -0.0
}

void ternary_project_mse(float *q, const float *w, int64_t rows, int64_t cols, int group, const float *h) {
    const int64_t per_row = cols / group, ngroups = rows * per_row;
#pragma omp parallel
    {
        int32_t *tmp = xmalloc(3 * sizeof(int32_t) * (size_t)group);
#pragma omp for schedule(static)
        for (int64_t g = 0; g < ngroups; g++) {
            const float *hg = h ? h + (g % per_row) * group : NULL;
            ternary_round_group(q + g * group, w + g * group, group,
                                ternary_mse_scale(w + g * group, hg, group, tmp));
        }
        free(tmp);
    }
}

const char *ternary_scale_name(TernaryScale mode) {
    return mode == SCALE_LEARNED ? "learned" : mode == SCALE_MSE ? "mse" : mode == SCALE_ABSMAX ? "absmax" : "absmean";
}

float ternary_scale_f16(float s) {
    return f16_to_f32(f32_to_f16(s > F16_MAX ? (float)F16_MAX : s));
}

void ternary_project_scales(float *q, const float *w, int64_t rows, int64_t cols, int group, const float *scales) {
    const int64_t ngroups = rows * (cols / group);
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < ngroups; g++)
        ternary_round_group(q + g * group, w + g * group, group, ternary_scale_f16(scales[g]));
}

// g·dq/ds of one weight (ternary_scale_grad).
static inline double scale_grad_term(float g, float w, float s) {
    const float v = w / s, t = ternary_level(w, s);  // the forward's t
    return (double)g * (double)(fabsf(v) <= 1.0f ? t - v : t);
}

void ternary_scale_grad(float *ds, const float *g, const float *w, const float *scales, int64_t rows, int64_t cols,
                        int group) {
    const int64_t ngroups = rows * (cols / group);
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < ngroups; k++) {
        const float s = ternary_scale_f16(scales[k]);
        const float *gk = g + k * group, *wk = w + k * group;
        // Eight running sums (element i into sum i mod 8), added pairwise:
        // a fixed order that vectorises, where one sum waits on every add.
        double acc[8] = {0};
        if (s > 0.0f) {
            int i = 0;
            for (; i + 8 <= group; i += 8)
                for (int j = 0; j < 8; j++) acc[j] += scale_grad_term(gk[i + j], wk[i + j], s);
            for (int j = 0; i < group; i++, j++) acc[j] += scale_grad_term(gk[i], wk[i], s);
        }
        ds[k] = (float)(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    }
}

void ternary_project(float *q, const float *w, int64_t rows, int64_t cols, int group, TernaryScale mode) {
    if (mode == SCALE_MSE || mode == SCALE_LEARNED) {  // learned scales start as the MSE-optimal ones
        ternary_project_mse(q, w, rows, cols, group, NULL);
        return;
    }
    const int64_t ngroups = rows * (cols / group);
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < ngroups; g++)
        ternary_round_group(q + g * group, w + g * group, group, group_scale(w + g * group, group, mode));
}

int ternary_verify(const float *q, int64_t rows, int64_t cols, int group, TernaryCounts *counts) {
    const int64_t ngroups = rows * (cols / group);
    uint64_t neg = 0, zero = 0, pos = 0, bad = 0;
#pragma omp parallel for reduction(+ : neg, zero, pos, bad) schedule(static)
    for (int64_t g = 0; g < ngroups; g++) {
        const float *qg = q + g * group;
        float s = 0.0f;
        for (int i = 0; i < group; i++) s = fmaxf(s, fabsf(qg[i]));
        uint64_t n = 0, z = 0, p = 0;
        int ok = isfinite(s);
        for (int i = 0; i < group && ok; i++) {
            if (qg[i] == 0.0f) z++;
            else if (qg[i] == s) p++;
            else if (qg[i] == -s) n++;
            else ok = 0;
        }
        if (ok) { neg += n; zero += z; pos += p; }
        else bad++;
    }
    counts->neg += neg;
    counts->zero += zero;
    counts->pos += pos;
    counts->bad_groups += bad;
    return bad ? -1 : 0;
}
