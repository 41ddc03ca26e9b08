// test_optim.c — AdamW against a double-precision transcription of
// torch.optim.AdamW, the schedule's end points, and the clipping rule.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "test.h"
#include "train/optim.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static void test_adamw(void) {
    enum { N = 1000, STEPS = 20 };
    float *w = xmalloc(4 * N), *g = xmalloc(4 * N), *m = xcalloc(N, 4), *v = xcalloc(N, 4);
    double *rw = xmalloc(8 * N), *rm = xcalloc(N, 8), *rv = xcalloc(N, 8);
    for (int i = 0; i < N; i++) rw[i] = w[i] = sinf(i * 0.37f);
    ParamRange ranges[2] = {{0, 600, 1}, {600, 400, 0}};  // a decayed matrix and a norm vector
    AdamWConfig c = {0.9f, 0.95f, 1e-8f, 0.01f};
    for (int t = 1; t <= STEPS; t++) {
        float lr = lr_cosine(t - 1, STEPS, 5, 1e-2f, 1e-3f);
        for (int i = 0; i < N; i++) g[i] = cosf(i * 0.11f + t) * (i % 3 ? 1.0f : 1e-3f);
        adamw_step(w, g, m, v, ranges, 2, &c, lr, t, 1.0f);
        for (int i = 0; i < N; i++) {
            double wd = i < 600 ? 0.01 : 0.0;
            rw[i] *= 1 - lr * wd;
            rm[i] = 0.9 * rm[i] + 0.1 * g[i];
            rv[i] = 0.95 * rv[i] + 0.05 * (double)g[i] * g[i];
            double denom = sqrt(rv[i]) / sqrt(1 - pow(0.95, t)) + 1e-8;
            rw[i] -= lr / (1 - pow(0.9, t)) * rm[i] / denom;
        }
    }
    double e = 0;
    for (int i = 0; i < N; i++) e = fmax(e, fabs(w[i] - rw[i]));
    CHECK(e < 1e-5, "AdamW drifts from the reference by %.3g after %d steps", e, STEPS);
    // The norm range did not decay: with g = 0 and no decay, w stays.
    memset(g, 0, 4 * N);
    float before = w[700];
    adamw_step(w, g, m, v, ranges, 2, &c, 0.0f, STEPS + 1, 1.0f);
    CHECK(w[700] == before, "lr 0 changed a weight");
    free(w); free(g); free(m); free(v); free(rw); free(rm); free(rv);
}

static void test_schedule(void) {
    CHECK(fabsf(lr_cosine(0, 250, 25, 1e-4f, 5e-6f) - 4e-6f) < 1e-12f, "first warm-up step");
    CHECK(fabsf(lr_cosine(24, 250, 25, 1e-4f, 5e-6f) - 1e-4f) < 1e-12f, "end of warm-up");
    CHECK(fabsf(lr_cosine(25, 250, 25, 1e-4f, 5e-6f) - 1e-4f) < 1e-12f, "start of decay");
    CHECK(fabsf(lr_cosine(249, 250, 25, 1e-4f, 5e-6f) - 5e-6f) < 1e-12f, "last step is min_lr");
    float mid = lr_cosine(137, 250, 25, 1e-4f, 5e-6f);
    CHECK(fabsf(mid - 5.25e-5f) < 1e-9f, "half-way is the mean of lr and min_lr: %g", mid);
    long rises = 0;
    for (long s = 26; s < 250; s++) rises += lr_cosine(s, 250, 25, 1e-4f, 5e-6f) > lr_cosine(s - 1, 250, 25, 1e-4f, 5e-6f);
    CHECK(rises == 0, "the decay rises %ld times", rises);
}

static void test_clip(void) {
    size_t n = 200000;
    float *g = xmalloc(4 * n);
    double ref = 0;
    for (size_t i = 0; i < n; i++) {
        g[i] = (float)((i % 17) - 8) * 0.25f;
        ref += (double)g[i] * g[i];
    }
    ref = sqrt(ref);
    double norm = grad_global_norm(g, n);
    CHECK(fabs(norm - ref) < 1e-9 * ref, "norm %.12g vs %.12g", norm, ref);
#ifdef _OPENMP
    omp_set_num_threads(1);
    double n1 = grad_global_norm(g, n);
    omp_set_num_threads(2);
    CHECK(n1 == grad_global_norm(g, n), "norm depends on the thread count");
#endif
    const float f = grad_clip_factor(norm, 1.0);
    for (size_t i = 0; i < n; i++) g[i] *= f;
    CHECK(fabs(grad_global_norm(g, n) - 1.0) < 1e-5 && f < 1, "clipped norm is %.8f", grad_global_norm(g, n));
    CHECK(grad_clip_factor(0.5, 1.0) == 1.0f, "clipped below the threshold");
    // AdamW on gscale·g is AdamW on the clipped gradient, bit for bit.
    enum { K = 1000 };
    ParamRange r = {0, K, 1};
    AdamWConfig c = {0.9f, 0.95f, 1e-8f, 0.01f};
    float *w1 = xmalloc(4 * K), *w2 = xmalloc(4 * K), *m1 = xcalloc(K, 4), *v1 = xcalloc(K, 4), *m2 = xcalloc(K, 4),
          *v2 = xcalloc(K, 4), *gc = xmalloc(4 * K);
    for (int i = 0; i < K; i++) {
        w1[i] = w2[i] = sinf(i * 0.3f);
        g[i] = cosf(i * 0.7f);
        gc[i] = g[i] * 0.37f;
    }
    adamw_step(w1, g, m1, v1, &r, 1, &c, 1e-3f, 1, 0.37f);
    adamw_step(w2, gc, m2, v2, &r, 1, &c, 1e-3f, 1, 1.0f);
    CHECK(!memcmp(w1, w2, 4 * K) && !memcmp(m1, m2, 4 * K) && !memcmp(v1, v2, 4 * K), "gscale differs from scaling g");
    free(g); free(w1); free(w2); free(m1); free(v1); free(m2); free(v2); free(gc);
}

int main(void) {
    test_adamw();
    test_schedule();
    test_clip();
    return test_finish("test_optim");
}
