// qpack.c — see qpack.h.
#include "kernels/cpu/qpack.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "quant/ggml_types.h"

int qpack_type_ok(uint32_t type) {
    const GgmlType *t = ggml_type_find(type);
    return t && t->is_ternary;
}

static int type_qk(uint32_t type) { return ggml_type_find(type)->block_size; }

size_t qpack_bytes(uint32_t type, int rows, int cols) {
    const size_t groups = (size_t)(rows + QPACK_ROWS - 1) / QPACK_ROWS;
    return groups * (qpack_group_bytes(cols) + (size_t)(cols / type_qk(type)) * QPACK_ROWS * 2);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

// One GGUF block: its codes in column order, returns its fp16 scale.
static uint16_t block_codes(uint32_t type, const uint8_t *b, uint8_t *code) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    switch (type) {
    case GGML_TYPE_Q2_0: {  // weight j in bits 2(j % 4) of qs[j / 4]
        const uint8_t *qs = b + offsetof(GgmlBlockQ2_0, qs);
        for (int j = 0; j < GGML_QK2_0; j++) code[j] = (qs[j / 4] >> (2 * (j % 4))) & 3;
        return rd16(b + offsetof(GgmlBlockQ2_0, d));
    }
    case GGML_TYPE_TQ2_0:  // bits 2t of qs[32h + m]: weight 128h + 32t + m
        for (int e = 0; e < GGML_QK_K; e++) code[e] = (b[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        return rd16(b + offsetof(GgmlBlockTQ2_0, d));
    default: {  // TQ1_0: digit n of a byte is the top base-3 digit of byte * 3^n (mod 256)
        const uint8_t *qh = b + offsetof(GgmlBlockTQ1_0, qh);
#define TRIT(byte, n) (uint8_t)(((uint8_t)((byte) * pow3[n]) * 3) >> 8)
        for (int n = 0; n < 5; n++) {
            for (int m = 0; m < 32; m++) code[32 * n + m] = TRIT(b[m], n);
            for (int m = 0; m < 16; m++) code[160 + 16 * n + m] = TRIT(b[32 + m], n);
        }
        for (int n = 0; n < 4; n++)
            for (int j = 0; j < 4; j++) code[240 + 4 * n + j] = TRIT(qh[j], n);
#undef TRIT
        return rd16(b + offsetof(GgmlBlockTQ1_0, d));
    }
    }
}

void qpack(uint32_t type, const void *blocks, int rows, int cols, void *dst) {
    const GgmlType *t = ggml_type_find(type);
    const int qk = t->block_size, nwb = cols / qk, nb = cols / QPACK_BLOCK;
    const int groups = (rows + QPACK_ROWS - 1) / QPACK_ROWS;
    const size_t row_bytes = (size_t)nwb * t->type_size;
    uint8_t *codes = dst;
    uint8_t *scales = (uint8_t *)qpack_scales(dst, rows, cols);
#pragma omp parallel
    {
        uint8_t *code = xmalloc((size_t)QPACK_ROWS * cols);
#pragma omp for schedule(static)
        for (int g = 0; g < groups; g++) {
            for (int l = 0; l < QPACK_ROWS; l++) {
                const int r = g * QPACK_ROWS + l;
                uint8_t *sc = scales + 2 * ((size_t)g * nwb * QPACK_ROWS + l);
                if (r >= rows) {  // padding: code 1 (t = 0), scale 0
                    memset(code + (size_t)l * cols, 1, (size_t)cols);
                    for (int wb = 0; wb < nwb; wb++) put16(sc + 2 * wb * QPACK_ROWS, 0);
                    continue;
                }
                const uint8_t *row = (const uint8_t *)blocks + (size_t)r * row_bytes;
                for (int wb = 0; wb < nwb; wb++)
                    put16(sc + 2 * wb * QPACK_ROWS,
                          block_codes(type, row + (size_t)wb * t->type_size, code + (size_t)l * cols + (size_t)wb * qk));
            }
            uint8_t *out = codes + (size_t)g * qpack_group_bytes(cols);
            for (int b = 0; b < nb; b++)
                for (int c = 0; c < 4; c++)
                    for (int l = 0; l < QPACK_ROWS; l++)
                        for (int i = 0; i < 4; i++) {
                            const uint8_t *k = code + (size_t)l * cols + (size_t)b * QPACK_BLOCK + 4 * c + i;
                            out[(size_t)b * QPACK_BLOCK_BYTES + 4 * QPACK_ROWS * c + 4 * l + i] =
                                (uint8_t)(k[0] | k[16] << 2 | k[32] << 4 | k[48] << 6);
                        }
        }
        free(code);
    }
}

void qpack_row(const void *packed, int rows, int cols, int qk, int r, uint8_t *code, float *dw) {
    const int nwb = cols / qk, nb = cols / QPACK_BLOCK;
    const int g = r / QPACK_ROWS, l = r % QPACK_ROWS;
    const uint8_t *in = (const uint8_t *)packed + (size_t)g * qpack_group_bytes(cols);
    for (int b = 0; b < nb; b++)
        for (int p = 0; p < 4; p++)
            for (int c = 0; c < 4; c++)
                for (int i = 0; i < 4; i++)
                    code[b * QPACK_BLOCK + 16 * p + 4 * c + i] =
                        (in[(size_t)b * QPACK_BLOCK_BYTES + 4 * QPACK_ROWS * c + 4 * l + i] >> (2 * p)) & 3;
    const uint8_t *sc = qpack_scales(packed, rows, cols);
    for (int wb = 0; wb < nwb; wb++) dw[wb] = f16_to_f32(qpack_scale(sc, ((size_t)g * nwb + wb) * QPACK_ROWS + l));
}

void qpack_row_to_float(const void *packed, int rows, int cols, int qk, int r, float *out) {
    uint8_t *code = xmalloc((size_t)cols);
    float *dw = xmalloc(sizeof(float) * (size_t)(cols / qk));
    qpack_row(packed, rows, cols, qk, r, code, dw);
    // (c - 1) * d, as the GGUF dequantizers compute it.
    for (int k = 0; k < cols; k++) out[k] = dw[k / qk] * (float)((int)code[k] - 1);
    free(code);
    free(dw);
}
