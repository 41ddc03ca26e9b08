// qact.c — see qact.h.
#include "kernels/cpu/qact.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Round half to even for |v| <= 127: adding 1.5 * 2^23 pushes the fraction
// out of a float's mantissa under the default rounding mode, subtracting it
// gives the rounded value. The same as nearbyintf, but a plain add that
// compilers vectorise.
#define ROUND_MAGIC 12582912.0f

// One block of QA_BLOCK values: q in natural order, returns d.
static float quantize_block(const float *x, int8_t *q, int32_t *sum) {
    float m = 0.0f;
    int bad = 0;
#pragma omp simd reduction(max : m) reduction(| : bad)
    for (int k = 0; k < QA_BLOCK; k++) {
        float a = fabsf(x[k]);
        m = a > m ? a : m;
        bad |= !(a <= FLT_MAX);  // NaN or infinite
    }
    float d = bad ? NAN : m / 127.0f;
    int32_t s = 0;
    if (!(d > 0.0f)) {  // zero (or underflowed) block, or NaN
        memset(q, 0, QA_BLOCK);
    } else {
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < QA_BLOCK; k++) {
            float v = x[k] / d;
            v = v < -127.0f ? -127.0f : v > 127.0f ? 127.0f : v;
            int qk = (int)((v + ROUND_MAGIC) - ROUND_MAGIC);
            q[k] = (int8_t)qk;
            s += qk;
        }
    }
    *sum = s;
    return d;
}

// Position of value k (< QA_BLOCK) inside its block.
static int position(QOrder order, int k) { return order == QORDER_PLANES ? 16 * (k % 4) + k / 4 : k; }

void qact_quantize(QAct *a, const float *x, int n, int cols, QOrder order, int lanes) {
    const int nb = cols / QA_BLOCK, groups = (n + lanes - 1) / lanes;
    const size_t nq = (size_t)groups * lanes * cols, ns = (size_t)groups * lanes * nb;
    // q first (a multiple of 64 bytes when lanes * cols is), then d, then sum.
    size_t qbytes = (nq + 63) & ~(size_t)63;
    a->mem = xmalloc_aligned(qbytes + ns * (sizeof(float) + sizeof(int32_t)));
    a->q = a->mem;
    a->d = (float *)((char *)a->mem + qbytes);
    a->sum = (int32_t *)(a->d + ns);
    a->n = n;
    a->cols = cols;
    a->lanes = lanes;
    if (n % lanes) {  // the padding rows of the last group
        memset(a->q, 0, nq);
        memset(a->d, 0, ns * sizeof(float));
        memset(a->sum, 0, ns * sizeof(int32_t));
    }
#pragma omp parallel for schedule(static) if (n > 1)
    for (int i = 0; i < n; i++) {
        const int g = i / lanes, l = i % lanes;
        int8_t tmp[QA_BLOCK];
        for (int b = 0; b < nb; b++) {
            size_t s = ((size_t)g * nb + b) * lanes + l;
            a->d[s] = quantize_block(x + (size_t)i * cols + (size_t)b * QA_BLOCK, tmp, &a->sum[s]);
            int8_t *dst = a->q + (size_t)g * lanes * cols + (size_t)b * QA_BLOCK * lanes + (size_t)l * 4;
            if (lanes == 1 && order == QORDER_NATURAL) {
                memcpy(dst, tmp, QA_BLOCK);
                continue;
            }
            for (int k = 0; k < QA_BLOCK; k++) {
                int p = position(order, k);
                dst[(p / 4) * 4 * lanes + p % 4] = tmp[k];
            }
        }
    }
}

void qact_free(QAct *a) {
    free(a->mem);
    a->mem = NULL;
}
