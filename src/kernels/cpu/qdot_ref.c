// qdot_ref.c — the reference kernels: plain C, one output at a time, in the
// order that qkernels.h defines. The SIMD paths are tested against these.
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "base/util.h"
#include "kernels/cpu/qkernels.h"
#include "quant/ggml_types.h"

// The sequence is two roundings per block then an add; a compiler that
// contracted (dw * d) * isum + acc into an FMA would change the last bit.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static float rd_half(const uint8_t *p) { return f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

// Decoders: the codes of one block in the order its activations are stored
// (qact.h QOrder) and the block's scale.

// Q2_0, planes order: position 16p + i holds weight 4i + p.
static float decode_q2_0(const uint8_t *b, uint8_t *code) {
    const uint8_t *qs = b + offsetof(GgmlBlockQ2_0, qs);
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < 16; i++) code[16 * p + i] = (qs[i] >> (2 * p)) & 3;
    return rd_half(b + offsetof(GgmlBlockQ2_0, d));
}

// TQ2_0, natural order (see ggml_types.c for the bit positions).
static float decode_tq2_0(const uint8_t *b, uint8_t *code) {
    for (int e = 0; e < GGML_QK_K; e++) code[e] = (b[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    return rd_half(b + offsetof(GgmlBlockTQ2_0, d));
}

static uint8_t trit(uint8_t byte, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    return (uint8_t)(((uint8_t)(byte * pow3[n]) * 3) >> 8);
}

// TQ1_0, natural order.
static float decode_tq1_0(const uint8_t *b, uint8_t *code) {
    const uint8_t *qh = b + offsetof(GgmlBlockTQ1_0, qh);
    for (int n = 0; n < 5; n++) {
        for (int m = 0; m < 32; m++) code[32 * n + m] = trit(b[m], n);
        for (int m = 0; m < 16; m++) code[160 + 16 * n + m] = trit(b[32 + m], n);
    }
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++) code[240 + 4 * n + j] = trit(qh[j], n);
    return rd_half(b + offsetof(GgmlBlockTQ1_0, d));
}

typedef float (*Decoder)(const uint8_t *block, uint8_t *code);

// Weight row w (cols / qk blocks of ts bytes) times activation row i.
static float row_dot(Decoder decode, int qk, int ts, const uint8_t *w, const QAct *a, int i) {
    const int nb = a->cols / QA_BLOCK;
    const int8_t *q = a->q + (size_t)i * a->cols;
    float acc = 0.0f;
    uint8_t code[GGML_QK_K];
    float dw = 0.0f;
    for (int b = 0; b < nb; b++) {
        int j = b % (qk / QA_BLOCK);  // activation block inside the weight block
        if (j == 0) dw = decode(w + (size_t)(b * QA_BLOCK / qk) * ts, code);
        int32_t isum = 0;
        for (int k = 0; k < QA_BLOCK; k++) isum += code[j * QA_BLOCK + k] * q[b * QA_BLOCK + k];
        isum -= a->sum[(size_t)i * nb + b];  // offset 1: code - 1 = t
        acc += (dw * a->d[(size_t)i * nb + b]) * (float)isum;
    }
    return acc;
}

static void gemm(Decoder decode, int qk, int ts, float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1) {
    const size_t row_bytes = (size_t)(a->cols / qk) * ts;
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < a->n; i++) out[(size_t)i * ldo + r] = row_dot(decode, qk, ts, W + r * row_bytes, a, i);
}

#define REF_TYPE(name, qk, block)                                                                    \
    static void gemm_##name(float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1) { \
        gemm(decode_##name, qk, sizeof(block), out, ldo, a, W, r0, r1);                             \
    }                                                                                                \
    static void gemv_##name(float *out, const QAct *a, const uint8_t *W, int r0, int r1) {          \
        gemm(decode_##name, qk, sizeof(block), out, 0, a, W, r0, r1);                               \
    }
REF_TYPE(q2_0, GGML_QK2_0, GgmlBlockQ2_0)
REF_TYPE(tq1_0, GGML_QK_K, GgmlBlockTQ1_0)
REF_TYPE(tq2_0, GGML_QK_K, GgmlBlockTQ2_0)

// Q8_0: two 32-weight blocks per activation block, each its own scale.
static float row_dot_q8_0(const uint8_t *w, const QAct *a, int i) {
    const int nb = a->cols / QA_BLOCK;
    const int8_t *q = a->q + (size_t)i * a->cols;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++)
        for (int h = 0; h < 2; h++) {
            const uint8_t *blk = w + (size_t)(2 * b + h) * sizeof(GgmlBlockQ8_0);
            const int8_t *qs = (const int8_t *)(blk + offsetof(GgmlBlockQ8_0, qs));
            int32_t isum = 0;
            for (int k = 0; k < GGML_QK; k++) isum += qs[k] * q[b * QA_BLOCK + h * GGML_QK + k];
            acc += (rd_half(blk) * a->d[(size_t)i * nb + b]) * (float)isum;
        }
    return acc;
}

static void gemm_q8_0(float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1) {
    const size_t row_bytes = (size_t)(a->cols / GGML_QK) * sizeof(GgmlBlockQ8_0);
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < a->n; i++) out[(size_t)i * ldo + r] = row_dot_q8_0(W + r * row_bytes, a, i);
}

static void gemv_q8_0(float *out, const QAct *a, const uint8_t *W, int r0, int r1) { gemm_q8_0(out, 0, a, W, r0, r1); }

// F16 and F32: eight fused partial sums, folded as one 8-lane register folds.
static float rd_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);  // rows may sit at any address
    return f;
}

static float row_dot_float(float (*rd)(const uint8_t *), int esize, const uint8_t *w, const float *x, int cols) {
    float s[8] = {0};
    for (int k = 0; k < cols; k++) s[k % 8] = fmaf(rd(w + (size_t)esize * k), x[k], s[k % 8]);
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

static void gemm_float(float (*rd)(const uint8_t *), int esize, float *out, int ldo, const float *x, int n, int cols,
                       const uint8_t *W, int r0, int r1) {
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < n; i++)
            out[(size_t)i * ldo + r] = row_dot_float(rd, esize, W + (size_t)r * cols * esize, x + (size_t)i * cols, cols);
}

static void gemm_f16(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    gemm_float(rd_half, 2, out, ldo, x, n, cols, W, r0, r1);
}
static void gemv_f16(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1) {
    gemm_f16(out, 0, x, 1, cols, W, r0, r1);
}
static void gemm_f32(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    gemm_float(rd_f32, 4, out, ldo, x, n, cols, W, r0, r1);
}
static void gemv_f32(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1) {
    gemm_f32(out, 0, x, 1, cols, W, r0, r1);
}

const QIsa qisa_ref = {
    .name = "ref",
    .gemm_lanes = 1,
    .q2_0 = {gemv_q2_0, gemm_q2_0},
    .tq1_0 = {gemv_tq1_0, gemm_tq1_0},
    .tq2_0 = {gemv_tq2_0, gemm_tq2_0},
    .q8_0 = {gemv_q8_0, gemm_q8_0},
    .f16 = {gemv_f16, gemm_f16},
    .f32 = {gemv_f32, gemm_f32},
};
