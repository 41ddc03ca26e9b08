// qact.c — see qact.h.
#include "kernels/cpu/qact.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Round half to even for |v| <= 127: adding 1.5 * 2^23 pushes the fraction
// out of a float's mantissa under the default rounding mode, subtracting it
// gives the rounded value. The same as nearbyintf, but plain adds.
#define ROUND_MAGIC 12582912.0f

// q = round(x / d) clamped to ±127 (d > 0 and finite), returns Σq. The
// AVX2 version is this loop's operations in the same order (the clamp can
// matter only when d is subnormal and inexact); it exists because GCC
// narrows int32 to int8 with masks and permutes at about five instructions
// a value. Builds without AVX2 (the fuzz targets) take the loop.
#ifdef __AVX2__
static int32_t quantize_values(const float *restrict x, float d, int8_t *restrict q) {
    const __m256 dv = _mm256_set1_ps(d), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    const __m256 magic = _mm256_set1_ps(ROUND_MAGIC);
    __m256i sum = _mm256_setzero_si256(), v[8];
    for (int k = 0; k < 8; k++) {
        __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(_mm256_loadu_ps(x + 8 * k), dv), lo), hi);
        v[k] = _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(f, magic), magic));
        sum = _mm256_add_epi32(sum, v[k]);
    }
    // Saturating packs (no value saturates) interleave 128-bit halves; one
    // dword permute per 32 values restores the order.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int h = 0; h < 2; h++) {
        __m256i w0 = _mm256_packs_epi32(v[4 * h], v[4 * h + 1]), w1 = _mm256_packs_epi32(v[4 * h + 2], v[4 * h + 3]);
        _mm256_storeu_si256((__m256i *)(q + 32 * h), _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w0, w1), order));
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    return _mm_cvtsi128_si32(s4);
}
#else
static int32_t quantize_values(const float *restrict x, float d, int8_t *restrict q) {
    int32_t s = 0;
    for (int k = 0; k < QA_BLOCK; k++) {
        float v = x[k] / d;
        v = v < -127.0f ? -127.0f : v > 127.0f ? 127.0f : v;
        int qk = (int)((v + ROUND_MAGIC) - ROUND_MAGIC);
        q[k] = (int8_t)qk;
        s += qk;
    }
    return s;
}
#endif

// One block of QA_BLOCK values: q in natural order, returns d.
static float quantize_block(const float *restrict x, int8_t *restrict q, int32_t *sum) {
    float m = 0.0f;
    int bad = 0;
#pragma omp simd reduction(max : m) reduction(| : bad)
    for (int k = 0; k < QA_BLOCK; k++) {
        float a = fabsf(x[k]);
        m = a > m ? a : m;
        bad |= !(a <= FLT_MAX);  // NaN or infinite
    }
    float d = bad ? NAN : m / 127.0f;
    if (d > 0.0f) {
        *sum = quantize_values(x, d, q);
    } else {  // zero (or underflowed) block, or NaN
        memset(q, 0, QA_BLOCK);
        *sum = 0;
    }
    return d;
}

void qact_quantize(QAct *a, const float *x, int n, int cols, int lanes) {
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
        int8_t blk[QA_BLOCK];
        for (int b = 0; b < nb; b++) {
            size_t s = ((size_t)g * nb + b) * lanes + l;
            a->d[s] = quantize_block(x + (size_t)i * cols + (size_t)b * QA_BLOCK, blk, &a->sum[s]);
            // Four values at a time, lanes * 4 bytes apart.
            int8_t *dst = a->q + (size_t)g * lanes * cols + (size_t)b * QA_BLOCK * lanes + (size_t)l * 4;
            for (int c = 0; c < QA_BLOCK / 4; c++) memcpy(dst + (size_t)c * 4 * lanes, blk + 4 * c, 4);
        }
    }
}

void qact_free(QAct *a) {
    free(a->mem);
    a->mem = NULL;
}
