// ternary.c — group-wise ternary projection and its verifier; see ternary.h.
#include "quant/ternary.h"

#include <math.h>

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
    if (s > F16_MAX) s = F16_MAX;
    // Rounded to fp16 (through float32, as torch's .float().half() does),
    // the precision every packed format stores the scale in: training,
    // verify and export then agree bit for bit.
    return f16_to_f32(f32_to_f16((float)s));
}

void ternary_project(float *q, const float *w, int64_t rows, int64_t cols, int group, TernaryScale mode) {
    const int64_t ngroups = rows * (cols / group);
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < ngroups; g++) {
        const float *wg = w + g * group;
        float *qg = q + g * group;
        float s = group_scale(wg, group, mode);
        if (!(s > 0.0f)) {  // an all-zero group (or NaN scale): all t = 0
            for (int i = 0; i < group; i++) qg[i] = s == 0.0f ? 0.0f : s;
            continue;
        }
        for (int i = 0; i < group; i++) {
            // A true division (not a multiply by 1/s), so the rounding
            // decisions are bit-identical to the torch reference's w / s.
            float t = nearbyintf(wg[i] / s);  // default rounding: half to even, as torch.round
            t = t > 1.0f ? 1.0f : t < -1.0f ? -1.0f : t;
            qg[i] = t * s + 0.0f;  // + 0: a zero is +0.0, as a packed zero decodes, never -0.0
        }
    }
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
