// test_ternary.c — the ternary projection against a double-precision
// reference, and the verifier on good and corrupted tensors.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "quant/ternary.h"
#include "test.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
static float gauss(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    double u1 = ((rng >> 11) + 1) / 9007199254740993.0;
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    double u2 = (rng >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

static void check_projection(TernaryScale mode, int group) {
    const int64_t rows = 24, cols = 384;
    float *w = xmalloc(4 * rows * cols), *q = xmalloc(4 * rows * cols);
    for (int64_t i = 0; i < rows * cols; i++) w[i] = 0.02f * gauss();
    memset(w + 5 * cols, 0, 4 * group);  // one all-zero group
    ternary_project(q, w, rows, cols, group, mode);
    int bad_scale = 0, bad_t = 0;
    for (int64_t g = 0; g < rows * cols / group; g++) {
        double s = 0;
        for (int i = 0; i < group; i++) {
            double a = fabs(w[g * group + i]);
            s = mode == SCALE_ABSMEAN ? s + a / group : fmax(s, a);
        }
        s = f16_to_f32(f32_to_f16((float)s));  // the scale every packed format stores
        for (int i = 0; i < group; i++) {
            double x = w[g * group + i], t = s > 0 ? fmax(-1, fmin(1, nearbyint(x / s))) : 0;
            float want = (float)t * (float)s;
            if (fabs(q[g * group + i] - want) > 1e-6 * s) bad_t++;
            if (q[g * group + i] != 0 && fabs(fabs(q[g * group + i]) - s) > 1e-6 * s) bad_scale++;
        }
    }
    CHECK(bad_t == 0 && bad_scale == 0, "mode %d group %d: %d wrong values, %d wrong scales", mode, group, bad_t,
          bad_scale);
    TernaryCounts c = {0};
    CHECK(ternary_verify(q, rows, cols, group, &c) == 0 && c.bad_groups == 0, "verify rejects a projection");
    CHECK(c.neg + c.zero + c.pos == (uint64_t)(rows * cols), "counts do not add up");
    if (mode == SCALE_ABSMEAN) {
        // For Gaussian weights absmean gives roughly 31% zeros (|x| < s/2).
        double zf = (double)c.zero / (rows * cols);
        CHECK(zf > 0.25 && zf < 0.40, "zero share %.3f out of the expected range", zf);
    }
    // Projecting a projected tensor changes nothing for absmax (s = max|q|).
    if (mode == SCALE_ABSMAX) {
        float *q2 = xmalloc(4 * rows * cols);
        ternary_project(q2, q, rows, cols, group, mode);
        CHECK(memcmp(q, q2, 4 * rows * cols) == 0, "absmax projection is not idempotent");
        free(q2);
    }
    // One value off by one ulp, and one value in a third level, are caught.
    q[7] = nextafterf(q[7], 1.0f);
    memset(&c, 0, sizeof c);
    CHECK(ternary_verify(q, rows, cols, group, &c) != 0 && c.bad_groups == 1, "verify missed an off value");
    ternary_project(q, w, rows, cols, group, mode);
    q[cols + 3] = 0.5f * fabsf(q[cols + 3]) + 1e-9f;
    memset(&c, 0, sizeof c);
    CHECK(ternary_verify(q, rows, cols, group, &c) != 0, "verify missed a half-scale value");
    free(w);
    free(q);
}

// The MSE-optimal scale by the definition: every support "the k largest
// (|w|, h)" in a sorted order, summed in that order in double, the best
// kept, rounded to fp16. ternary_mse_scale ranks instead of sorting; on
// groups full of ties (equal |w|, equal h, zeros) it must agree bit for bit.
static int by_pair_desc(const void *a, const void *b) {
    const float *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? 1 : x[1] > y[1] ? -1 : 0;
}

static float mse_scale_ref(const float *w, const float *h, int n) {
    float *p = malloc(2 * sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        p[2 * i] = fabsf(w[i]);
        p[2 * i + 1] = h ? h[i] : 1.0f;
    }
    qsort(p, (size_t)n, 2 * sizeof(float), by_pair_desc);
    double num = 0.0, den = 0.0, best_gain = 0.0, best = 0.0;
    for (int k = 0; k < n; k++) {
        num += (double)p[2 * k] * p[2 * k + 1];
        den += p[2 * k + 1];
        if (den > 0.0 && num * num / den > best_gain) {
            best_gain = num * num / den;
            best = num / den;
        }
    }
    free(p);
    return f16_to_f32(f32_to_f16((float)(best > 65504.0 ? 65504.0 : best)));  // the largest fp16
}

static void check_mse_scale(void) {
    const int sizes[] = {1, 3, 8, 64, 128, 256};
    int bad = 0, total = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int n = sizes[si];
        float *w = malloc(sizeof(float) * (size_t)n), *h = malloc(sizeof(float) * (size_t)n);
        int32_t *tmp = malloc(3 * sizeof(int32_t) * (size_t)n);
        for (int trial = 0; trial < 200; trial++) {
            const int levels = 1 + trial % 7;  // few distinct values: many ties
            for (int i = 0; i < n; i++) {
                w[i] = trial % 3 == 0 ? gauss() : (float)((int)(fabsf(gauss()) * levels) % levels) * (gauss() < 0 ? -0.25f : 0.25f);
                h[i] = trial % 2 ? (float)(1 + (int)fabsf(gauss() * 2)) : fabsf(gauss());
            }
            for (int weighted = 0; weighted < 2; weighted++) {
                const float *hw = weighted ? h : NULL;
                float got = ternary_mse_scale(w, hw, n, tmp), want = mse_scale_ref(w, hw, n);
                bad += memcmp(&got, &want, sizeof got) != 0;
                total++;
            }
        }
        free(w);
        free(h);
        free(tmp);
    }
    CHECK(bad == 0, "ternary_mse_scale differs from the sorted reference in %d of %d groups", bad, total);
}

// ternary_scale_grad against its definition summed in order, in double: the
// gradient of each group's scale, g·(t − w/s) inside the clamp and g·t
// outside, for groups with and without a tail past a multiple of 8, and a
// group of scale 0 (gradient 0).
static void check_scale_grad(int group) {
    const int rows = 3, cols = group * 4, ng = rows * 4;
    float *w = xmalloc(sizeof(float) * rows * cols), *g = xmalloc(sizeof(float) * rows * cols);
    float sc[12], ds[12];
    uint64_t st = 99;
    for (int i = 0; i < rows * cols; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = (float)((int)(st >> 40 & 0xffff) - 32768) / 16384.0f;
        g[i] = (float)((int)(st >> 20 & 0xfff) - 2048) / 1024.0f;
    }
    for (int k = 0; k < ng; k++) sc[k] = k == 5 ? 0.0f : 0.3f + 0.05f * (float)k;
    ternary_scale_grad(ds, g, w, sc, rows, cols, group);
    double worst = 0;
    for (int k = 0; k < ng; k++) {
        const float s = ternary_scale_f16(sc[k]);
        double want = 0;
        for (int i = 0; i < group && s > 0; i++) {
            const float wi = w[k * group + i], v = wi / s;
            const float t = fminf(1.0f, fmaxf(-1.0f, nearbyintf(v)));
            want += (double)g[k * group + i] * (fabsf(v) <= 1.0f ? (double)t - (double)v : (double)t);
        }
        worst = fmax(worst, fabs(ds[k] - want) / fmax(1.0, fabs(want)));
        if (k == 5) CHECK(ds[k] == 0.0f, "group %d of scale 0: gradient %g", group, ds[k]);
    }
    CHECK(worst < 1e-5, "scale gradients, group %d: worst relative error %.3g", group, worst);
    free(w);
    free(g);
}

int main(void) {
    char err[ERR_LEN];
    check_mse_scale();
    check_scale_grad(64);
    check_scale_grad(13);
    CHECK(ternary_check_shape("w", 1024, 128, err) == 0, "1024 / 128");
    CHECK(ternary_check_shape("w", 1000, 128, err) != 0 && strstr(err, "does not divide"), "1000 / 128: %s", err);
    CHECK(ternary_check_shape("w", 1024, 0, err) != 0, "group 0 accepted");
    check_projection(SCALE_ABSMEAN, 128);
    check_projection(SCALE_ABSMEAN, 64);
    check_projection(SCALE_ABSMAX, 128);
    // Half-way values round to even, as torch.round does: with s = 1,
    // 0.5 -> 0 and 1.5 -> 2 -> clamped 1.
    float w[4] = {0.5f, -0.5f, 1.5f, 2.0f}, q[4];  // absmax scale = 2: 0.25, -0.25, 0.75, 1
    ternary_project(q, w, 1, 4, 4, SCALE_ABSMAX);
    CHECK(q[0] == 0 && q[1] == 0 && q[2] == 2 && q[3] == 2, "rounding: %g %g %g %g", q[0], q[1], q[2], q[3]);
    float h[2] = {1.0f, 3.0f}, hq[2];  // absmean 2: 0.5 -> 0 (even), 1.5 -> 2 -> 1
    ternary_project(hq, h, 1, 2, 2, SCALE_ABSMEAN);
    CHECK(hq[0] == 0 && hq[1] == 2, "half to even: %g %g", hq[0], hq[1]);
    // The scale is rounded to fp16 before t is chosen: absmean 0.1 becomes
    // 0.0999755859375, and 0.05 / that is just above one half, so t = 1
    // (with the float32 scale 0.05 / 0.1 is one half and rounds to 0).
    float f[2] = {0.05f, 0.15f}, fq[2];
    ternary_project(fq, f, 1, 2, 2, SCALE_ABSMEAN);
    CHECK(fq[0] == 0.0999755859375f && fq[1] == 0.0999755859375f, "fp16 scale: %.10g %.10g", fq[0], fq[1]);
    // A scale beyond fp16's range is clamped to 65504 instead of infinity.
    float big[2] = {1e6f, -1e6f}, bq[2];
    ternary_project(bq, big, 1, 2, 2, SCALE_ABSMAX);
    CHECK(bq[0] == 65504.0f && bq[1] == -65504.0f, "clamped scale: %g %g", bq[0], bq[1]);
    return test_finish("test_ternary");
}
