// vmath.h — an exp() the compiler can vectorise.
//
// glibc's expf is a scalar call unless the whole build uses -ffast-math, and
// the softmax, cross-entropy and SiLU loops spend most of their time in it.
// This is the Cephes single-precision algorithm: x = n ln2 + r with a two-part
// ln2 (Cody-Waite), a degree-6 polynomial for e^r on |r| <= ln2/2, and 2^n
// built in the exponent bits. Relative error < 2e-7 over the clamped range;
// inputs below -87.3 return ~1e-38 instead of 0, which no sum here can see.
#ifndef TRIT_VMATH_H
#define TRIT_VMATH_H

#include <stdint.h>

static inline float vexpf(float x) {
    x = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
    // Round to nearest even by adding and removing 1.5 * 2^23 (exact here:
    // |x log2e| < 128); plain arithmetic, so it vectorises everywhere.
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;  // ln2 split in two, the first part exact
    r = r + n * 2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    // 2^n, n in [-126, 127]. A NaN x leaves n NaN, whose int conversion is
    // undefined: the comparison sends it to -126, and p keeps the NaN.
    const float nb = n > -126.0f ? n : -126.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)nb + 127) << 23};
    return p * scale.f;
}

#endif
