// qact.h — the int8 activation blocks that every packed-weight kernel
// multiplies with (kernels/qmatmul.h).
//
// Each input row x[cols] is cut into blocks of QA_BLOCK = 64 consecutive
// values; block b gets
//     d_b = max|x_b| / 127            (float32 division)
//     q_k = round_half_even(x_k / d_b) clamped to [-127, 127]   (0 when d_b is 0)
//     sum_b = Σ q_k
// The dot of a weight row with the row is then Σ_b (dw * d_b) * isum_b with
// isum_b the exact integer Σ t_k q_k: one float scale per 64 values, so a
// few large activations spoil only their own block, and 64 divides every
// block size of the weight types (Q2_0 64, TQ1_0/TQ2_0 256, Q8_0 2 x 32).
// The weights are stored as unsigned codes t + offset (1 for the ternary
// types), so the kernels compute Σ code_k q_k (unsigned x signed bytes, what
// vpmaddubsw and vpdpbusd take) and subtract offset * sum_b.
//
// Why division and not a multiply by 127 / max: x / d is what the
// definition says, and each of the ref / AVX2 / AVX-512 paths computes it
// with the same correctly rounded IEEE operations, so they all see the same
// q. A block that holds a NaN or an infinity gets d = NaN and q = 0, so the
// outputs it touches become NaN instead of quietly finite.
//
// What varies by kernel, never the values: `lanes`. 1 stores row i at
// q + i * cols (the GEMV and reference layout); L > 1 interleaves groups of
// L rows four values at a time, q[((g * cols/4 + k/4) * L + l) * 4 + k%4]
// for row g*L + l, so one L*4-byte load holds four values of L rows (the
// GEMM kernels broadcast four weight codes against it). d and sum are laid
// out alike: [(g * nblocks + b) * L + l]. Rows past n in the last group are
// zero.
#ifndef TRIT_QACT_H
#define TRIT_QACT_H

#include <stdint.h>

#define QA_BLOCK 64

typedef struct {
    int n, cols, lanes;  // rows, values per row (a multiple of QA_BLOCK), interleave
    int8_t *q;
    float *d;
    int32_t *sum;
    void *mem;           // the one allocation behind q, d and sum
} QAct;

// Quantizes x[n][cols] (cols a multiple of QA_BLOCK, n >= 1) into a; free
// with qact_free.
void qact_quantize(QAct *a, const float *x, int n, int cols, int lanes);
void qact_free(QAct *a);

#endif
