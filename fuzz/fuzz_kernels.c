// fuzz_kernels.c — libFuzzer target: the dequantizers and the packed-weight
// products on arbitrary block bytes (any code, any fp16 scale: zero,
// subnormal, inf, NaN) and arbitrary activations (zeros, huge, inf, NaN).
//
// Input: byte 0 picks the ggml type (index into the type table), byte 1 the
// rows (1..8), byte 2 the activation rows n (1..4), byte 3 the columns (a
// multiple of the block and of 64, 1..4 of them), byte 4 the activations
// (a pattern, all zeros, one huge value, or raw floats from the input's
// tail), then the weight bytes, copied into a buffer of exactly the size the
// shape needs (zero-padded) so that ASan sees any read past it.
// Checks:
//   - to_float, where the type has one, reads only its blocks;
//   - qpack (the ternary types' run layout) reads only its blocks and gives
//     back every row as to_float does;
//   - qmatmul, where the type and shape are supported, gives the same bits
//     on every kernel set this CPU runs (ref, AVX2, AVX-512) as on the plain
//     reference, and each row of the n-row product equals the 1-row product
//     of that row (NaN where the other is NaN).
//
//   make fuzz && build-fuzz/fuzz_kernels -max_total_time=60 build-fuzz/corpus-kernels fuzz/seeds/kernels
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/qpack.h"
#include "kernels/qmatmul.h"
#include "quant/ggml_types.h"

#define MAX_ROWS 8
#define MAX_N 4

static int same(float a, float b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

static void same_or_abort(const float *a, const float *b, size_t n, const char *what, const GgmlType *t) {
    for (size_t i = 0; i < n; i++)
        if (!same(a[i], b[i])) {
            fprintf(stderr, "%s: %s output %zu is %.9g, the reference %.9g\n", t->name, what, i, a[i], b[i]);
            abort();
        }
}

static void activations(float *x, int n, uint8_t mode, const uint8_t *tail, size_t tail_len) {
    for (int i = 0; i < n; i++) x[i] = (float)(i % 7) - 3.0f + 0.25f * (float)(i % 5);
    switch (mode % 4) {
    case 1: memset(x, 0, sizeof(float) * (size_t)n); break;
    case 2: x[mode % n] = mode & 0x80 ? 3.0e38f : -1.0e30f; break;
    case 3:  // raw floats, inf and NaN included
        for (size_t i = 0; i < (size_t)n && 4 * i + 4 <= tail_len; i++) memcpy(&x[i], tail + 4 * i, 4);
        break;
    }
}

static const char *const ISAS[] = {"ref", "avx2", "avx512"};

static void check_products(const GgmlType *t, const void *w, const float *x, int rows, int cols, int n) {
    size_t out_n = (size_t)n * (size_t)rows;
    float *ref = malloc(sizeof(float) * out_n), *y = malloc(sizeof(float) * out_n), *one = malloc(sizeof(float) * (size_t)rows);
    if (qkernels_force("ref") != 0) abort();
    qmatmul(ref, x, w, t->id, rows, cols, n);
    for (size_t k = 0; k < sizeof ISAS / sizeof ISAS[0]; k++) {
        if (qkernels_force(ISAS[k]) != 0) continue;  // this CPU lacks it
        qmatmul(y, x, w, t->id, rows, cols, n);
        same_or_abort(y, ref, out_n, ISAS[k], t);
        for (int i = 0; i < n && n > 1; i++) {
            qmatmul(one, x + (size_t)i * (size_t)cols, w, t->id, rows, cols, 1);
            same_or_abort(one, ref + (size_t)i * (size_t)rows, (size_t)rows, "1-row product", t);
        }
    }
    qkernels_force("auto");
    free(ref);
    free(y);
    free(one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    const GgmlType *t = ggml_type_at(data[0] % ggml_type_count());
    int rows = 1 + data[1] % MAX_ROWS, n = 1 + data[2] % MAX_N;
    int unit = t->block_size;
    while (unit % 64) unit += t->block_size;  // qmatmul's columns: whole blocks, whole activation blocks
    int cols = unit * (1 + data[3] % 4);
    uint8_t mode = data[4];
    data += 5;
    size -= 5;

    size_t wbytes = (size_t)rows * (size_t)cols / (size_t)t->block_size * (size_t)t->type_size;
    uint8_t *w = calloc(wbytes, 1);
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)cols), *deq = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    if (!w || !x || !deq) abort();
    size_t used = size < wbytes ? size : wbytes;
    memcpy(w, data, used);
    activations(x, n * cols, mode, data + used, size - used);

    if (t->to_float) t->to_float(w, deq, (int64_t)rows * cols);
    if (qmatmul_shape_ok(t->id, cols)) {
        if (qpack_type_ok(t->id)) {  // the ternary types run in their run layout, read back exactly
            uint8_t *p = malloc(qpack_bytes(t->id, rows, cols));
            float *row = malloc(sizeof(float) * (size_t)cols);
            if (!p || !row) abort();
            qpack(t->id, w, rows, cols, p);
            for (int r = 0; r < rows; r++) {
                qpack_row_to_float(p, rows, cols, t->block_size, r, row);
                same_or_abort(row, deq + (size_t)r * cols, (size_t)cols, "qpack row", t);
            }
            check_products(t, p, x, rows, cols, n);
            free(p);
            free(row);
        } else {
            check_products(t, w, x, rows, cols, n);
        }
    }
    free(w);
    free(x);
    free(deq);
    return 0;
}
