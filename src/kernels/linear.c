// linear.c — see linear.h.
#include "kernels/linear.h"

#include <cblas.h>

#include "kernels/ops.h"

void linear_forward(float *out, const float *inp, const WTensor *W, int n) {
    switch (W->type) {
    case WT_F32:
        if (n == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, W->rows, W->cols, 1.0f, W->data, W->cols, inp, 1, 0.0f, out, 1);
        else
            matmul_forward(out, inp, W->data, n, W->rows, W->cols);
        break;
    }
}

void embedding_lookup(float *out, const int32_t *tokens, int n, const WTensor *E) {
    switch (E->type) {
    case WT_F32: embedding_forward(out, tokens, E->data, n, E->cols); break;
    }
}
