// linear.c — see linear.h.
#include "kernels/linear.h"

#include <string.h>

#include "kernels/ops.h"
#include "kernels/qmatmul.h"

size_t wt_row_bytes(const WTensor *W) {
    const GgmlType *t = ggml_type_find(W->type);
    return (size_t)(W->cols / t->block_size) * (size_t)t->type_size;
}

size_t wt_bytes(const WTensor *W) { return wt_row_bytes(W) * (size_t)W->rows; }

int wt_supported(uint32_t type, int cols) { return type == GGML_TYPE_F32 || qmatmul_shape_ok(type, cols); }

void linear_forward(float *out, const float *inp, const WTensor *W, int n) {
    if (W->type != GGML_TYPE_F32) {
        qmatmul(out, inp, W->data, W->type, W->rows, W->cols, n);
        return;
    }
    if (n <= LINEAR_DECODE_ROWS && qmatmul_shape_ok(GGML_TYPE_F32, W->cols))
        qmatmul(out, inp, W->data, GGML_TYPE_F32, W->rows, W->cols, n);
    else
        matmul_forward(out, inp, W->data, n, W->rows, W->cols);
}

void embedding_lookup(float *out, const int32_t *tokens, int n, const WTensor *E) {
    if (E->type == GGML_TYPE_F32) {
        embedding_forward(out, tokens, E->data, n, E->cols);
        return;
    }
    const GgmlType *t = ggml_type_find(E->type);
    const size_t rb = wt_row_bytes(E);
    for (int i = 0; i < n; i++)
        t->to_float((const uint8_t *)E->data + (size_t)tokens[i] * rb, out + (size_t)i * E->cols, E->cols);
}
