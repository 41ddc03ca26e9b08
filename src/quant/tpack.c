// tpack.c — see tpack.h. The element orders are those of ggml_types.c's
// dequantizers; the TQ1_0 byte encoding is ggml's quantize_row_tq1_0_ref.
#include "quant/tpack.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "base/util.h"
#include "quant/ggml_blocks.h"

// Codes t + 1 in {0, 1, 2} of one block and its fp16 scale; 0 when the block
// is not exactly ternary with an fp16 scale.
static int ternary_codes(const float *q, int n, uint8_t *code, uint16_t *d) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s = fmaxf(s, fabsf(q[i]));
    if (!isfinite(s)) return 0;
    *d = f32_to_f16(s);
    if (f16_to_f32(*d) != s) return 0;
    for (int i = 0; i < n; i++) {
        if (q[i] == 0.0f) code[i] = 1;
        else if (q[i] == s) code[i] = 2;
        else if (q[i] == -s) code[i] = 0;
        else return 0;  // also NaN
    }
    return 1;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

// Base-3 digits, the first most significant, as a byte that the dequantizer's
// "top of b * 3^n" reads back: ceil(q * 256 / 243). `stride` apart in c.
static uint8_t trits_byte(const uint8_t *c, int count, int stride) {
    unsigned q = 0;
    for (int k = 0; k < count; k++) q = q * 3 + c[k * stride];
    if (count == 4) q *= 3;  // qh: four digits, moved to the top as well
    return (uint8_t)((q * 256 + 242) / 243);
}

static void tq1_0_block(const uint8_t *c, uint16_t d, uint8_t *b) {
    for (int m = 0; m < 32; m++) b[m] = trits_byte(c + m, 5, 32);
    for (int m = 0; m < 16; m++) b[32 + m] = trits_byte(c + 160 + m, 5, 16);
    for (int j = 0; j < 4; j++) b[offsetof(GgmlBlockTQ1_0, qh) + j] = trits_byte(c + 240 + j, 4, 4);
    put16(b + offsetof(GgmlBlockTQ1_0, d), d);
}

static void tq2_0_block(const uint8_t *c, uint16_t d, uint8_t *b) {
    memset(b, 0, sizeof(GgmlBlockTQ2_0));
    for (int e = 0; e < GGML_QK_K; e++) b[32 * (e / 128) + e % 32] |= (uint8_t)(c[e] << (2 * ((e % 128) / 32)));
    put16(b + offsetof(GgmlBlockTQ2_0, d), d);
}

static void q2_0_block(const uint8_t *c, uint16_t d, uint8_t *b) {
    memset(b, 0, sizeof(GgmlBlockQ2_0));
    put16(b + offsetof(GgmlBlockQ2_0, d), d);
    uint8_t *qs = b + offsetof(GgmlBlockQ2_0, qs);
    for (int j = 0; j < GGML_QK2_0; j++) qs[j / 4] |= (uint8_t)(c[j] << (2 * (j % 4)));
}

// Packs n weights into blocks of bs weights, sz bytes, with `block`.
static int pack_rows(const float *q, int64_t n, void *out, int64_t *bad_block, int bs, size_t sz,
                     void (*block)(const uint8_t *, uint16_t, uint8_t *)) {
    *bad_block = -1;
    if (n < 0 || n % bs) return -1;
    uint8_t code[GGML_QK_K], *b = out;
    for (int64_t i = 0; i < n / bs; i++, b += sz) {
        uint16_t d;
        if (!ternary_codes(q + i * bs, bs, code, &d)) {
            *bad_block = i;
            return -1;
        }
        block(code, d, b);
    }
    return 0;
}

int tq1_0_pack(const float *q, void *out, int64_t n, int64_t *bad_block) {
    return pack_rows(q, n, out, bad_block, GGML_QK_K, sizeof(GgmlBlockTQ1_0), tq1_0_block);
}

int tq2_0_pack(const float *q, void *out, int64_t n, int64_t *bad_block) {
    return pack_rows(q, n, out, bad_block, GGML_QK_K, sizeof(GgmlBlockTQ2_0), tq2_0_block);
}

int q2_0_pack(const float *q, void *out, int64_t n, int64_t *bad_block) {
    return pack_rows(q, n, out, bad_block, GGML_QK2_0, sizeof(GgmlBlockQ2_0), q2_0_block);
}

int ternary_pack(uint32_t ggml_type, const float *q, int64_t n, void *out, int64_t *bad_block) {
    switch (ggml_type) {
    case GGML_TYPE_TQ1_0: return tq1_0_pack(q, out, n, bad_block);
    case GGML_TYPE_TQ2_0: return tq2_0_pack(q, out, n, bad_block);
    case GGML_TYPE_Q2_0: return q2_0_pack(q, out, n, bad_block);
    default: *bad_block = -1; return -1;
    }
}
