// linear.c — see linear.h.
#include "kernels/linear.h"

#include <string.h>

#include "base/util.h"
#include "kernels/gemm.h"
#include "kernels/cpu/qpack.h"
#include "kernels/gemm_bf16.h"
#include "kernels/qmatmul.h"

static size_t row_bytes(uint32_t type, int cols) {
    const GgmlType *t = ggml_type_find(type);
    return (size_t)(cols / t->block_size) * (size_t)t->type_size;
}

size_t wt_bytes(const WTensor *W) {
    if (qpack_type_ok(W->type)) return qpack_bytes(W->type, W->rows, W->cols);
    return row_bytes(W->type, W->cols) * (size_t)W->rows;
}

int wt_supported(uint32_t type, int cols) {
    return type == GGML_TYPE_F32 || type == GGML_TYPE_BF16 || qmatmul_shape_ok(type, cols);
}

// bf16 operands: the activations rounded once per product into a scratch
// buffer, the weights already bf16.
static void forward_bf16(float *out, const float *inp, const WTensor *W, int n) {
    uint16_t *x16 = scratch_get(SCRATCH_BF16_X, sizeof(uint16_t) * (size_t)n * W->cols);
    bf16_round(x16, inp, (size_t)n * W->cols);
    gemm_bf16_det(0, 1, n, W->rows, W->cols, x16, W->cols, W->data, W->cols, 0.0f, out, W->rows);
}

// The input through an adapter's A: (n, rank), in a scratch buffer.
static float *adapter_in(const float *inp, const WTensor *W, int n, int det) {
    float *u = scratch_get(SCRATCH_LORA_U, sizeof(float) * (size_t)n * W->rank);
    if (det) {
        sgemm_det(0, 1, n, W->rank, W->cols, 1.0f, inp, W->cols, W->lora_a, W->cols, 0.0f, u, W->rank);
    } else {
        const WTensor A = wt_f32(W->lora_a, W->rank, W->cols);
        linear_forward(u, inp, &A, n);
    }
    return u;
}

void linear_forward_det(float *out, const float *inp, const WTensor *W, int n) {
    if (W->type == GGML_TYPE_BF16)
        forward_bf16(out, inp, W, n);
    else
        sgemm_det(0, 1, n, W->rows, W->cols, 1.0f, inp, W->cols, W->data, W->cols, 0.0f, out, W->rows);
    if (W->rank)
        sgemm_det(0, 1, n, W->rows, W->rank, 1.0f, adapter_in(inp, W, n, 1), W->rank, W->lora_b, W->rank, 1.0f, out,
                  W->rows);
}

void linear_backward(float *dinp, float *dW, const float *dout, const float *inp, const WTensor *W, int n) {
    const int N = W->rows, K = W->cols;
    if (dinp && W->rank) {  // dinp += (dout · B) · A
        float *du = scratch_get(SCRATCH_LORA_U, sizeof(float) * (size_t)n * W->rank);
        sgemm_det(0, 0, n, W->rank, N, 1.0f, dout, N, W->lora_b, W->rank, 0.0f, du, W->rank);
        sgemm_det(0, 0, n, K, W->rank, 1.0f, du, W->rank, W->lora_a, K, 1.0f, dinp, K);
    }
    if (W->type != GGML_TYPE_BF16) {
        matmul_backward(dinp, dW, dout, inp, W->data, n, N, K);
        return;
    }
    uint16_t *d16 = scratch_get(SCRATCH_BF16_DOUT, sizeof(uint16_t) * (size_t)n * N);
    bf16_round(d16, dout, (size_t)n * N);
    if (dinp) gemm_bf16_det(0, 0, n, K, N, d16, N, W->data, K, 1.0f, dinp, K);
    if (dW) {
        uint16_t *x16 = scratch_get(SCRATCH_BF16_X, sizeof(uint16_t) * (size_t)n * K);
        bf16_round(x16, inp, (size_t)n * K);
        gemm_bf16_det(1, 0, N, K, n, d16, N, x16, K, 1.0f, dW, K);
    }
}

// Whether linear_forward sends W's product over n rows to qmatmul: every
// packed type, and fp32 and bf16 up to LINEAR_DECODE_ROWS rows (more rows:
// sgemm, oneDNN).
static int on_qmatmul(const WTensor *W, int n) {
    if (W->type != GGML_TYPE_F32 && W->type != GGML_TYPE_BF16) return 1;
    return n <= LINEAR_DECODE_ROWS && qmatmul_shape_ok(W->type, W->cols);
}

// out += (inp · A^T) · B^T, each product as linear_forward runs an fp32 one.
static void adapter_add(float *out, const float *inp, const WTensor *W, int n) {
    const float *u = adapter_in(inp, W, n, 0);
    float *v = scratch_get(SCRATCH_LORA_V, sizeof(float) * (size_t)n * W->rows);
    const WTensor B = wt_f32(W->lora_b, W->rows, W->rank);
    linear_forward(v, u, &B, n);
    for (size_t i = 0; i < (size_t)n * W->rows; i++) out[i] += v[i];
}

void linear_forward(float *out, const float *inp, const WTensor *W, int n) {
    if (on_qmatmul(W, n))
        qmatmul(out, inp, W->data, W->type, W->rows, W->cols, n);
    else if (W->type == GGML_TYPE_BF16)
        forward_bf16(out, inp, W, n);
    else
        matmul_forward(out, inp, W->data, n, W->rows, W->cols);
    if (W->rank) adapter_add(out, inp, W, n);
}

void linear_forward_multi(int count, float *const out[], const WTensor *const W[], const float *inp, int n) {
    int same = count <= QMATMUL_MAX_MULTI, rows[QMATMUL_MAX_MULTI];
    const void *data[QMATMUL_MAX_MULTI];
    for (int i = 0; i < count && same; i++) {
        same = W[i]->type == W[0]->type && W[i]->cols == W[0]->cols;
        rows[i] = W[i]->rows;
        data[i] = W[i]->data;
    }
    // The products linear_forward would send to qmatmul, in one call.
    if (same && on_qmatmul(W[0], n)) {
        qmatmul_multi(count, out, data, rows, W[0]->type, inp, W[0]->cols, n);
        for (int i = 0; i < count; i++)
            if (W[i]->rank) adapter_add(out[i], inp, W[i], n);
        return;
    }
    for (int i = 0; i < count; i++) linear_forward(out[i], inp, W[i], n);
}

void embedding_lookup(float *out, const int32_t *tokens, int n, const WTensor *E) {
    // One thread: a row copy is far cheaper than a parallel region, and a
    // decode step's one row must not wake an OpenMP team beside the pool.
    if (E->type == GGML_TYPE_F32) {
        for (int i = 0; i < n; i++)
            memcpy(out + (size_t)i * E->cols, (const float *)E->data + (size_t)tokens[i] * E->cols,
                   sizeof(float) * E->cols);
        return;
    }
    const GgmlType *t = ggml_type_find(E->type);
    if (qpack_type_ok(E->type)) {
        for (int i = 0; i < n; i++)
            qpack_row_to_float(E->data, E->rows, E->cols, t->block_size, tokens[i], out + (size_t)i * E->cols);
        return;
    }
    const size_t rb = row_bytes(E->type, E->cols);
    for (int i = 0; i < n; i++)
        t->to_float((const uint8_t *)E->data + (size_t)tokens[i] * rb, out + (size_t)i * E->cols, E->cols);
}
