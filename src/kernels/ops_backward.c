// ops_backward.c — backward kernels of the transformer block; see ops_backward.h
// for shapes and the accumulation convention of each function.
//
// As in ops.c: matrix products go to BLAS, everything else is a plain loop,
// parallel over rows (or columns, where rows would race) with OpenMP and
// vectorised with `omp simd`. Training must be bit-reproducible, so no
// reduction here depends on how the work is split between threads.
#include "kernels/ops_backward.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/vmath.h"

// Columns of dembed per task: one 256-byte stretch of each row, so tasks
// never share a cache line and every task scans all BT tokens in order.
#define EMB_COLS 64

void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, int BT, int C) {
    const int nblk = (C + EMB_COLS - 1) / EMB_COLS;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * EMB_COLS, c1 = c0 + EMB_COLS < C ? c0 + EMB_COLS : C;
        for (int i = 0; i < BT; i++) {
            float *d = dembed + (size_t)tokens[i] * C;
            const float *g = dout + (size_t)i * C;
#pragma omp simd
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}

// Rows per block of the dw reduction. Fixed (not derived from the thread
// count) so the partial sums, and the order they are added in, depend only
// on N: the price is N/64 × D floats of scratch, 1/64 of the input.
#define RMS_ROWS 64

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int D) {
    const int nblk = (N + RMS_ROWS - 1) / RMS_ROWS;
    float *part = dw ? xmalloc_aligned(sizeof(float) * (size_t)nblk * D) : NULL;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        float *pw = part ? part + (size_t)blk * D : NULL;
        if (pw) memset(pw, 0, sizeof(float) * D);
        const int n1 = (blk + 1) * RMS_ROWS < N ? (blk + 1) * RMS_ROWS : N;
        for (int n = blk * RMS_ROWS; n < n1; n++) {
            const float *g = dout + (size_t)n * D, *xr = x + (size_t)n * D;
            const float r = rstd[n];
            if (dx) {
                // y_i = x_i·r·w_i with r = (mean(x²) + eps)^(-1/2), so
                // ∂r/∂x_j = −r³·x_j/D and dx_j = r·g_j·w_j − x_j·r³/D·Σ_i g_i·w_i·x_i.
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int i = 0; i < D; i++) dot += g[i] * w[i] * xr[i];
                const float c = dot * r * r / (float)D;
                float *d = dx + (size_t)n * D;
#pragma omp simd
                for (int i = 0; i < D; i++) d[i] += r * (g[i] * w[i] - xr[i] * c);
            }
            if (pw) {
#pragma omp simd
                for (int i = 0; i < D; i++) pw[i] += g[i] * xr[i] * r;
            }
        }
    }
    if (dw) {
        // Blocks in order, in double: cheap (N/64 terms a column) and it keeps
        // the norm-weight gradient accurate over the BT·NH rows of a head norm.
#pragma omp parallel for schedule(static)
        for (int i = 0; i < D; i++) {
            double s = 0.0;
            for (int blk = 0; blk < nblk; blk++) s += part[(size_t)blk * D + i];
            dw[i] += (float)s;
        }
        free(part);
    }
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int H, int HD) {
    // The forward multiplies each pair (x1, x2) by the rotation [[c, −s], [s, c]];
    // its Jacobian is that rotation, so the gradient goes through its
    // transpose [[c, s], [−s, c]], a rotation by −angle.
    const int half = HD / 2;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
            for (int h = 0; h < H; h++) {
                float *g = dx + (((size_t)b * T + t) * H + h) * HD;
#pragma omp simd
                for (int i = 0; i < half; i++) {
                    float g1 = g[i], g2 = g[i + half];
                    g[i] = g1 * c[i] + g2 * s[i];
                    g[i + half] = g2 * c[i] - g1 * s[i];
                }
            }
        }
    }
}

// Query rows × keys per tile. 64×64 score tiles (16 KiB each, two of them)
// and the 64×HD slices of q, k, v, dO they multiply stay in L2, and at
// 64·64·HD multiply-adds per product the sgemm calls are big enough to run
// near BLAS speed.
#define ATTB_TILE 64

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *out, const float *lse, int B, int T, int NH, int NKV, int HD) {
    const float scale = 1.0f / sqrtf((float)HD);
    const int group = NH / NKV;
    const size_t qs = (size_t)NH * HD, ks = (size_t)NKV * HD;  // row strides
    // One task per (b, kv head): it owns dk/dv rows of that head and the dq
    // rows of the `group` query heads that read it. Inside a parallel region
    // OpenBLAS runs single-threaded, and each task's work is fixed, so the
    // sums are the same whichever thread runs the task.
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < NKV; g++) {
            float *S = xmalloc_aligned(sizeof(float) * ATTB_TILE * ATTB_TILE);   // scores, then P
            float *dP = xmalloc_aligned(sizeof(float) * ATTB_TILE * ATTB_TILE);  // dP, then scale·dS
            float *Dv = xmalloc(sizeof(float) * (size_t)group * T);             // D_i per head of the group
            const int h0 = g * group;
            for (int t = 0; t < T; t++) {
                const size_t row = (size_t)b * T + t;
                // The group's query heads are adjacent in a row of dq.
                memset(dq + row * qs + (size_t)h0 * HD, 0, sizeof(float) * group * HD);
                memset(dk + row * ks + (size_t)g * HD, 0, sizeof(float) * HD);
                memset(dv + row * ks + (size_t)g * HD, 0, sizeof(float) * HD);
                for (int hh = 0; hh < group; hh++) {
                    // D_i = dO_i·O_i = Σ_j P_ij dP_ij: the softmax Jacobian's
                    // correction term, the same for every key of row i.
                    const float *o = out + row * qs + (size_t)(h0 + hh) * HD;
                    const float *go = dout + row * qs + (size_t)(h0 + hh) * HD;
                    float d = 0.0f;
#pragma omp simd reduction(+ : d)
                    for (int e = 0; e < HD; e++) d += go[e] * o[e];
                    Dv[(size_t)hh * T + t] = d;
                }
            }
            // Key tiles outer: the tile's dK, dV rows and its K, V slices stay
            // hot while every query tile at or below the diagonal visits them.
            for (int j0 = 0; j0 < T; j0 += ATTB_TILE) {
                const int nc = j0 + ATTB_TILE < T ? ATTB_TILE : T - j0;
                const size_t krow = ((size_t)b * T + j0) * ks + (size_t)g * HD;
                const float *Kj = k + krow, *Vj = v + krow;
                float *dKj = dk + krow, *dVj = dv + krow;
                for (int hh = 0; hh < group; hh++) {
                    const int h = h0 + hh;
                    const float *lse_h = lse + ((size_t)b * NH + h) * T, *D_h = Dv + (size_t)hh * T;
                    // Causal: query rows before j0 see none of these keys.
                    for (int i0 = j0; i0 < T; i0 += ATTB_TILE) {
                        const int nr = i0 + ATTB_TILE < T ? ATTB_TILE : T - i0;
                        const size_t qrow = ((size_t)b * T + i0) * qs + (size_t)h * HD;
                        const float *Qi = q + qrow, *dOi = dout + qrow;
                        float *dQi = dq + qrow;
                        // S = scale·Q K^T, dP = dO V^T   (nr × nc)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nc, HD, scale, Qi, (int)qs, Kj,
                                    (int)ks, 0.0f, S, ATTB_TILE);
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nc, HD, 1.0f, dOi, (int)qs, Vj,
                                    (int)ks, 0.0f, dP, ATTB_TILE);
                        for (int r = 0; r < nr; r++) {
                            const int i = i0 + r;
                            // Keys after the query are masked (only on the diagonal tile).
                            const int cmax = i - j0 + 1 < nc ? i - j0 + 1 : nc;
                            const float l = lse_h[i], Di = D_h[i];
                            float *sr = S + (size_t)r * ATTB_TILE, *pr = dP + (size_t)r * ATTB_TILE;
                            // P from the saved log-sum-exp, already normalised (and
                            // with the forward's exp, so the same probabilities).
#pragma omp simd
                            for (int c = 0; c < cmax; c++) {
                                float p = vexpf(sr[c] - l);
                                sr[c] = p;
                                pr[c] = p * (pr[c] - Di) * scale;
                            }
                            for (int c = cmax; c < nc; c++) sr[c] = pr[c] = 0.0f;
                        }
                        // dV += P^T dO, dK += (scale·dS)^T Q  (nc × HD); dQ += (scale·dS) K  (nr × HD)
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nc, HD, nr, 1.0f, S, ATTB_TILE, dOi,
                                    (int)qs, 1.0f, dVj, (int)ks);
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nc, HD, nr, 1.0f, dP, ATTB_TILE, Qi,
                                    (int)qs, 1.0f, dKj, (int)ks);
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, HD, nc, 1.0f, dP, ATTB_TILE, Kj,
                                    (int)ks, 1.0f, dQi, (int)qs);
                    }
                }
            }
            free(S);
            free(dP);
            free(Dv);
        }
    }
}

void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        // Read everything first: the outputs may alias the inputs.
        float g = gate[i], u = up[i], d = dh[i];
        // σ(g) = 1/(1 + e^−g), with the forward's exp. vexpf clamps its
        // argument, so σ stays finite (≈ 5e-39 at g = −100), never NaN.
        float sg = 1.0f / (1.0f + vexpf(-g));
        dgate[i] = d * u * sg * (1.0f + g * (1.0f - sg));
        dup[i] = d * g * sg;
    }
}
