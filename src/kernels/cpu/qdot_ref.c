// qdot_ref.c — the reference kernels: plain C, one output at a time, in the
// order that qkernels.h defines. The SIMD paths are tested against these.
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
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

// A weight row (codes in column order, one scale per qk columns) times
// activation row i.
static float row_dot(const uint8_t *code, const float *dw, int qk, const QAct *a, int i) {
    const int nb = a->cols / QA_BLOCK;
    const int8_t *q = a->q + (size_t)i * a->cols;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int k = 0; k < QA_BLOCK; k++) isum += code[b * QA_BLOCK + k] * q[b * QA_BLOCK + k];
        isum -= a->sum[(size_t)i * nb + b];  // offset 1: code - 1 = t
        acc += (dw[b * QA_BLOCK / qk] * a->d[(size_t)i * nb + b]) * (float)isum;
    }
    return acc;
}

// The ternary types in the run layout (qpack.h): each row decoded once.
static void gemm_ternary(float *out, int ldo, const QAct *a, const QMat *m, int r0, int r1) {
    uint8_t *code = xmalloc((size_t)m->cols);
    float *dw = xmalloc(sizeof(float) * (size_t)(m->cols / m->qk));
    for (int r = r0; r < r1; r++) {
        qpack_row(m->w, m->rows, m->cols, m->qk, r, code, dw);
        for (int i = 0; i < a->n; i++) out[(size_t)i * ldo + r] = row_dot(code, dw, m->qk, a, i);
    }
    free(code);
    free(dw);
}

static void gemv_ternary(float *out, const QAct *a, const QMat *m, int r0, int r1) { gemm_ternary(out, 0, a, m, r0, r1); }

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

static void gemm_q8_0(float *out, int ldo, const QAct *a, const QMat *m, int r0, int r1) {
    const size_t row_bytes = (size_t)(a->cols / GGML_QK) * sizeof(GgmlBlockQ8_0);
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < a->n; i++) out[(size_t)i * ldo + r] = row_dot_q8_0(m->w + r * row_bytes, a, i);
}

static void gemv_q8_0(float *out, const QAct *a, const QMat *m, int r0, int r1) { gemm_q8_0(out, 0, a, m, r0, r1); }

// F16, BF16 and F32: eight fused partial sums, folded as one 8-lane register folds.
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
static float rd_bf16(const uint8_t *p) { return bf16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
static void gemm_bf16(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    gemm_float(rd_bf16, 2, out, ldo, x, n, cols, W, r0, r1);
}
static void gemv_bf16(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1) {
    gemm_bf16(out, 0, x, 1, cols, W, r0, r1);
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
    .ternary = {gemv_ternary, gemm_ternary},
    .q8_0 = {gemv_q8_0, gemm_q8_0},
    .f16 = {gemv_f16, gemm_f16},
    .bf16 = {gemv_bf16, gemm_bf16},
    .f32 = {gemv_f32, gemm_f32},
};
