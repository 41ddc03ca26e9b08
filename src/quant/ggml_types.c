// ggml_types.c — see ggml_types.h.
//
// Each dequantizer follows gguf-py's numpy reference (gguf/quants.py)
// operation by operation: the same float32 products and sums in the same
// order, so the results are bit-identical. The element order inside a block
// is spelled out in the comment of each function (derived from the reshapes
// in quants.py and the structs in ggml-common.h).
#include "quant/ggml_types.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "base/util.h"
#include "quant/tpack.h"

// numpy rounds every float32 multiply and add separately; a compiler that
// contracts d*q + m into one FMA would round once and differ in the last bit.
// GCC in ISO C mode (-std=c11, as the Makefile builds) does not contract;
// clang does by default within an expression, which this pragma turns off.
// GCC in GNU mode would contract across statements, hence its own pragma.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static_assert(sizeof(GgmlBlockQ4_0) == 18, "block_q4_0 is 18 bytes");
static_assert(sizeof(GgmlBlockQ4_1) == 20, "block_q4_1 is 20 bytes");
static_assert(sizeof(GgmlBlockQ5_0) == 22, "block_q5_0 is 22 bytes");
static_assert(sizeof(GgmlBlockQ5_1) == 24, "block_q5_1 is 24 bytes");
static_assert(sizeof(GgmlBlockQ8_0) == 34, "block_q8_0 is 34 bytes");
static_assert(sizeof(GgmlBlockQ2_K) == 84, "block_q2_K is 84 bytes");
static_assert(sizeof(GgmlBlockQ3_K) == 110, "block_q3_K is 110 bytes");
static_assert(sizeof(GgmlBlockQ4_K) == 144, "block_q4_K is 144 bytes");
static_assert(sizeof(GgmlBlockQ5_K) == 176, "block_q5_K is 176 bytes");
static_assert(sizeof(GgmlBlockQ6_K) == 210, "block_q6_K is 210 bytes");
static_assert(sizeof(GgmlBlockTQ1_0) == 54, "block_tq1_0 is 54 bytes");
static_assert(sizeof(GgmlBlockTQ2_0) == 66, "block_tq2_0 is 66 bytes");
static_assert(sizeof(GgmlBlockQ2_0) == 18, "block_q2_0 is 18 bytes");
// The scale of TQ1_0 / TQ2_0 comes last, of Q2_0 first; a padded struct
// would move them.
static_assert(offsetof(GgmlBlockTQ1_0, d) == 52, "TQ1_0 scale at byte 52");
static_assert(offsetof(GgmlBlockTQ2_0, d) == 64, "TQ2_0 scale at byte 64");
static_assert(offsetof(GgmlBlockQ2_0, qs) == 2, "Q2_0 codes after the scale");

// Little-endian fields at any address.
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline float half(const uint8_t *p) { return f16_to_f32(rd16(p)); }

#define FIELD(T, b, f) ((const uint8_t *)(b) + offsetof(T, f))

static void f32_to_float(const void *src, float *out, int64_t n) {
    memcpy(out, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) out[i] = half(p + 2 * i);
}

static void bf16_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(rd16(p + 2 * i));
}

// Legacy 32-weight blocks: element l (l < 16) is the low nibble of qs[l],
// element l + 16 its high nibble; Q5's fifth bit of element e is bit e of the
// little-endian uint32 qh.

static void q4_0_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK; i++, b += sizeof(GgmlBlockQ4_0), out += GGML_QK) {
        float d = half(FIELD(GgmlBlockQ4_0, b, d));
        const uint8_t *qs = FIELD(GgmlBlockQ4_0, b, qs);
        for (int l = 0; l < 16; l++) {
            out[l] = d * (float)((qs[l] & 0x0F) - 8);
            out[l + 16] = d * (float)((qs[l] >> 4) - 8);
        }
    }
}

static void q4_1_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK; i++, b += sizeof(GgmlBlockQ4_1), out += GGML_QK) {
        float d = half(FIELD(GgmlBlockQ4_1, b, d)), m = half(FIELD(GgmlBlockQ4_1, b, m));
        const uint8_t *qs = FIELD(GgmlBlockQ4_1, b, qs);
        for (int l = 0; l < 16; l++) {
            float lo = d * (float)(qs[l] & 0x0F), hi = d * (float)(qs[l] >> 4);
            out[l] = lo + m;
            out[l + 16] = hi + m;
        }
    }
}

static void q5_0_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK; i++, b += sizeof(GgmlBlockQ5_0), out += GGML_QK) {
        float d = half(FIELD(GgmlBlockQ5_0, b, d));
        uint32_t qh = rd32(FIELD(GgmlBlockQ5_0, b, qh));
        const uint8_t *qs = FIELD(GgmlBlockQ5_0, b, qs);
        for (int l = 0; l < 16; l++) {
            int lo = (qs[l] & 0x0F) | (int)((qh >> l) & 1) << 4;
            int hi = (qs[l] >> 4) | (int)((qh >> (l + 16)) & 1) << 4;
            out[l] = d * (float)(lo - 16);
            out[l + 16] = d * (float)(hi - 16);
        }
    }
}

static void q5_1_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK; i++, b += sizeof(GgmlBlockQ5_1), out += GGML_QK) {
        float d = half(FIELD(GgmlBlockQ5_1, b, d)), m = half(FIELD(GgmlBlockQ5_1, b, m));
        uint32_t qh = rd32(FIELD(GgmlBlockQ5_1, b, qh));
        const uint8_t *qs = FIELD(GgmlBlockQ5_1, b, qs);
        for (int l = 0; l < 16; l++) {
            int lo = (qs[l] & 0x0F) | (int)((qh >> l) & 1) << 4;
            int hi = (qs[l] >> 4) | (int)((qh >> (l + 16)) & 1) << 4;
            float plo = d * (float)lo, phi = d * (float)hi;
            out[l] = plo + m;
            out[l + 16] = phi + m;
        }
    }
}

static void q8_0_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK; i++, b += sizeof(GgmlBlockQ8_0), out += GGML_QK) {
        float d = half(FIELD(GgmlBlockQ8_0, b, d));
        const uint8_t *qs = FIELD(GgmlBlockQ8_0, b, qs);
        for (int l = 0; l < GGML_QK; l++) out[l] = (float)(int8_t)qs[l] * d;
    }
}

// K-quants, 256-weight super-blocks. For the 2-bit planes (Q2_K, Q3_K qs):
// element 128*h + 32*j + l is bits 2j..2j+1 of qs[32*h + l].

static void q2_k_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockQ2_K), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockQ2_K, b, d)), dmin = half(FIELD(GgmlBlockQ2_K, b, dmin));
        const uint8_t *sc = FIELD(GgmlBlockQ2_K, b, scales), *qs = FIELD(GgmlBlockQ2_K, b, qs);
        for (int e = 0; e < GGML_QK_K; e++) {
            int s = e / 16, h = e / 128, j = (e % 128) / 32, l = e % 32;
            float dl = d * (float)(sc[s] & 0x0F), ml = dmin * (float)(sc[s] >> 4);
            float q = (float)((qs[32 * h + l] >> (2 * j)) & 3);
            float p = dl * q;
            out[e] = p - ml;
        }
    }
}

// Q3_K: 16 signed 6-bit scales; scale k takes its low 4 bits from nibble
// k/8 of scales[k%8] and its high 2 bits from bits 2(k/4).. of scales[8 + k%4],
// minus 32. Code = low 2 bits - 4 unless the hmask bit (bit e/32 of
// hmask[e%32]) is set.
static void q3_k_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockQ3_K), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockQ3_K, b, d));
        const uint8_t *sc = FIELD(GgmlBlockQ3_K, b, scales), *qs = FIELD(GgmlBlockQ3_K, b, qs);
        const uint8_t *hm = FIELD(GgmlBlockQ3_K, b, hmask);
        float dl[16];
        for (int k = 0; k < 16; k++) {
            int lo = (sc[k % 8] >> (4 * (k / 8))) & 0x0F;
            int hi = (sc[8 + k % 4] >> (2 * (k / 4))) & 0x03;
            dl[k] = d * (float)((lo | hi << 4) - 32);
        }
        for (int e = 0; e < GGML_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int ql = (qs[32 * h + l] >> (2 * j)) & 3;
            int high = (hm[l] >> (e / 32)) & 1;
            out[e] = dl[e / 16] * (float)(ql - ((high ^ 1) << 2));
        }
    }
}

// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scale and min each, packed in 12
// bytes: j < 4: sc = s[j] & 63, min = s[j+4] & 63; j >= 4: the low 4 bits
// from s[j+4] (sc: low nibble, min: high nibble), the high 2 bits from the
// top bits of s[j-4] (sc) and s[j] (min).
static void k_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30);
    }
}

// Element 64*c + 32*k + l (sub-block 2c + k) is nibble k of qs[32*c + l].
static void q4_k_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockQ4_K), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockQ4_K, b, d)), dmin = half(FIELD(GgmlBlockQ4_K, b, dmin));
        const uint8_t *s = FIELD(GgmlBlockQ4_K, b, scales), *qs = FIELD(GgmlBlockQ4_K, b, qs);
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            k_scale_min(s, j, &sc, &mn);
            float ds = d * (float)sc, dm = dmin * (float)mn;
            const uint8_t *q = qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                float p = ds * (float)((q[l] >> shift) & 0x0F);
                out[32 * j + l] = p - dm;
            }
        }
    }
}

// As Q4_K, plus the fifth bit of element 32*j + l: bit j of qh[l].
static void q5_k_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockQ5_K), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockQ5_K, b, d)), dmin = half(FIELD(GgmlBlockQ5_K, b, dmin));
        const uint8_t *s = FIELD(GgmlBlockQ5_K, b, scales), *qs = FIELD(GgmlBlockQ5_K, b, qs);
        const uint8_t *qh = FIELD(GgmlBlockQ5_K, b, qh);
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            k_scale_min(s, j, &sc, &mn);
            float ds = d * (float)sc, dm = dmin * (float)mn;
            const uint8_t *q = qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 0x0F) | ((qh[l] >> j) & 1) << 4;
                float p = ds * (float)v;
                out[32 * j + l] = p - dm;
            }
        }
    }
}

// Q6_K: element 128*h + 64*k + l' (l' < 64) has its low 4 bits in nibble k
// of ql[64*h + l']; element 128*h + 32*j + l has its high 2 bits in bits
// 2j..2j+1 of qh[32*h + l]. Code - 32, times d * scales[e/16].
static void q6_k_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockQ6_K), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockQ6_K, b, d));
        const uint8_t *ql = FIELD(GgmlBlockQ6_K, b, ql), *qh = FIELD(GgmlBlockQ6_K, b, qh);
        const uint8_t *sc = FIELD(GgmlBlockQ6_K, b, scales);
        for (int e = 0; e < GGML_QK_K; e++) {
            int h = e / 128, r = e % 128;
            int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
            int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
            float ds = d * (float)(int8_t)sc[e / 16];
            out[e] = ds * (float)((lo | hi << 4) - 32);
        }
    }
}

// Packed ternary. A code c stands for the weight (c - 1) * d, computed as
// gguf-py does: the int8 c - 1 converted to float, times d (one product).

// TQ1_0: five base-3 digits per byte of qs, four per byte of qh (times 3 once
// more, so that they too start at the top). Digit n of byte b is the top of
// b * 3^n (mod 256): ((uint8_t)(b * 3^n) * 3) >> 8. Element order:
// qs[m], m < 32: elements m + 32n; qs[32 + m], m < 16: 160 + m + 16n;
// qh[j]: 240 + j + 4n.
static inline int trit(uint8_t b, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t q = (uint8_t)(b * pow3[n]);
    return (q * 3) >> 8;
}

static void tq1_0_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockTQ1_0), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockTQ1_0, b, d));
        const uint8_t *qs = FIELD(GgmlBlockTQ1_0, b, qs), *qh = FIELD(GgmlBlockTQ1_0, b, qh);
        for (int t = 0; t < 5; t++) {
            for (int m = 0; m < 32; m++) out[m + 32 * t] = d * (float)(trit(qs[m], t) - 1);
            for (int m = 0; m < 16; m++) out[160 + m + 16 * t] = d * (float)(trit(qs[32 + m], t) - 1);
        }
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < 4; j++) out[240 + j + 4 * t] = d * (float)(trit(qh[j], t) - 1);
    }
}

// TQ2_0: in each 32-byte half h, bits 2n..2n+1 of qs[32h + m] are the code of
// element 128h + 32n + m.
static void tq2_0_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK_K; i++, b += sizeof(GgmlBlockTQ2_0), out += GGML_QK_K) {
        float d = half(FIELD(GgmlBlockTQ2_0, b, d));
        const uint8_t *qs = FIELD(GgmlBlockTQ2_0, b, qs);
        for (int e = 0; e < GGML_QK_K; e++) {
            int h = e / 128, t = (e % 128) / 32, m = e % 32;
            out[e] = d * (float)(((qs[32 * h + m] >> (2 * t)) & 3) - 1);
        }
    }
}

// Q2_0: element j in bits 2(j%4)..2(j%4)+1 of qs[j/4]. Not in gguf-py; the
// same product (c - 1) * d as TQ2_0.
static void q2_0_to_float(const void *src, float *out, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GGML_QK2_0; i++, b += sizeof(GgmlBlockQ2_0), out += GGML_QK2_0) {
        float d = half(FIELD(GgmlBlockQ2_0, b, d));
        const uint8_t *qs = FIELD(GgmlBlockQ2_0, b, qs);
        for (int j = 0; j < GGML_QK2_0; j++) out[j] = d * (float)(((qs[j / 4] >> (2 * (j % 4))) & 3) - 1);
    }
}

// ---------------------------------------------------------------------------
// Writers

static int f32_from_float(const float *x, void *blocks, int64_t n, int64_t *bad_block) {
    *bad_block = -1;
    memcpy(blocks, x, sizeof(float) * (size_t)n);
    return 0;
}

static int f16_from_float(const float *x, void *blocks, int64_t n, int64_t *bad_block) {
    *bad_block = -1;
    uint8_t *y = blocks;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t h = f32_to_f16(x[i]);
        memcpy(y + 2 * i, &h, 2);
    }
    return 0;
}

static int bf16_from_float(const float *x, void *blocks, int64_t n, int64_t *bad_block) {
    *bad_block = -1;
    uint8_t *y = blocks;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t h = f32_to_bf16(x[i]);
        memcpy(y + 2 * i, &h, 2);
    }
    return 0;
}

// Q8_0 as ggml's quantize_row_q8_0_ref: per 32 weights d = max|x| / 127
// (stored fp16), q = round(x / d). Lossy (the user's --embedding-type q8_0).
static int q8_0_from_float(const float *x, void *blocks, int64_t n, int64_t *bad_block) {
    *bad_block = -1;
    uint8_t *y = blocks;
    for (int64_t b = 0; b < n / GGML_QK; b++, x += GGML_QK, y += sizeof(GgmlBlockQ8_0)) {
        float amax = 0.0f;
        for (int i = 0; i < GGML_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = f32_to_f16(d);
        memcpy(y, &h, 2);
        for (int i = 0; i < GGML_QK; i++) y[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
    }
    return 0;
}

// In id order.
static const GgmlType types[] = {
    {GGML_TYPE_F32, "F32", 1, 4, f32_to_float, f32_from_float, 0},
    {GGML_TYPE_F16, "F16", 1, 2, f16_to_float, f16_from_float, 0},
    {GGML_TYPE_Q4_0, "Q4_0", GGML_QK, sizeof(GgmlBlockQ4_0), q4_0_to_float, NULL, 0},
    {GGML_TYPE_Q4_1, "Q4_1", GGML_QK, sizeof(GgmlBlockQ4_1), q4_1_to_float, NULL, 0},
    {GGML_TYPE_Q5_0, "Q5_0", GGML_QK, sizeof(GgmlBlockQ5_0), q5_0_to_float, NULL, 0},
    {GGML_TYPE_Q5_1, "Q5_1", GGML_QK, sizeof(GgmlBlockQ5_1), q5_1_to_float, NULL, 0},
    {GGML_TYPE_Q8_0, "Q8_0", GGML_QK, sizeof(GgmlBlockQ8_0), q8_0_to_float, q8_0_from_float, 0},
    {GGML_TYPE_Q2_K, "Q2_K", GGML_QK_K, sizeof(GgmlBlockQ2_K), q2_k_to_float, NULL, 0},
    {GGML_TYPE_Q3_K, "Q3_K", GGML_QK_K, sizeof(GgmlBlockQ3_K), q3_k_to_float, NULL, 0},
    {GGML_TYPE_Q4_K, "Q4_K", GGML_QK_K, sizeof(GgmlBlockQ4_K), q4_k_to_float, NULL, 0},
    {GGML_TYPE_Q5_K, "Q5_K", GGML_QK_K, sizeof(GgmlBlockQ5_K), q5_k_to_float, NULL, 0},
    {GGML_TYPE_Q6_K, "Q6_K", GGML_QK_K, sizeof(GgmlBlockQ6_K), q6_k_to_float, NULL, 0},
    {GGML_TYPE_BF16, "BF16", 1, 2, bf16_to_float, bf16_from_float, 0},
    {GGML_TYPE_TQ1_0, "TQ1_0", GGML_QK_K, sizeof(GgmlBlockTQ1_0), tq1_0_to_float, tq1_0_pack, 1},
    {GGML_TYPE_TQ2_0, "TQ2_0", GGML_QK_K, sizeof(GgmlBlockTQ2_0), tq2_0_to_float, tq2_0_pack, 1},
    {GGML_TYPE_Q2_0, "Q2_0", GGML_QK2_0, sizeof(GgmlBlockQ2_0), q2_0_to_float, q2_0_pack, 1},
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

const GgmlType *ggml_type_find(uint32_t id) {
    for (int i = 0; i < N_TYPES; i++)
        if (types[i].id == id) return &types[i];
    return NULL;
}

const GgmlType *ggml_type_find_name(const char *name) {
    for (int i = 0; i < N_TYPES; i++)
        if (!strcmp(types[i].name, name)) return &types[i];
    return NULL;
}

int ggml_type_count(void) { return N_TYPES; }

const GgmlType *ggml_type_at(int i) { return i >= 0 && i < N_TYPES ? &types[i] : NULL; }
