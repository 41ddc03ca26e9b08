// bench_train_gemm.c — the matrix products of one training step alone, the
// baseline bench_train.sh holds a step against.
//
// usage: bench_train_gemm CONFIG.json [B] [T] [reps]
// Times, for every layer, the forward product (x·Wᵀ, NT), the input
// gradient (dY·W, NN) and the weight gradient (dYᵀ·x, TN) of the seven
// projections, and the LM head's three products in the training chunking
// (256 rows): once as bare threaded cblas_sgemm calls (this machine's fp32
// BLAS rate) and once as the bf16 products trit's --precision bf16 runs
// (gemm_bf16_det: oneDNN's matmul, fp32 sums). Best of reps passes each.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "arch/config.h"
#include "base/util.h"
#include "kernels/gemm_bf16.h"

#define HEAD_ROWS 256  // model.c TRAIN_HEAD_ROWS

typedef struct { int m, n, k, ta, tb; } Shape;

// The step's products: 3 per projection per layer, 3 per LM-head chunk.
static int step_shapes(const ModelConfig *c, int BT, Shape *s) {
    const int C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    const int QD = c->num_attention_heads * c->head_dim, KD = c->num_key_value_heads * c->head_dim;
    const int proj[7][2] = {{QD, C}, {KD, C}, {KD, C}, {C, QD}, {F, C}, {F, C}, {C, F}};  // (out, in)
    int n = 0;
    for (int p = 0; p < 7; p++) {
        const int N = proj[p][0], K = proj[p][1];
        s[n++] = (Shape){BT, N, K, 0, 1};  // y = x·Wᵀ
        s[n++] = (Shape){BT, K, N, 0, 0};  // dx = dy·W
        s[n++] = (Shape){N, K, BT, 1, 0};  // dW = dyᵀ·x
    }
    const int r = BT < HEAD_ROWS ? BT : HEAD_ROWS;
    s[n++] = (Shape){r, V, C, 0, 1};
    s[n++] = (Shape){r, C, V, 0, 0};
    s[n++] = (Shape){V, C, r, 1, 0};
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG.json [B] [T] [reps]\n", argv[0]);
        return 2;
    }
    const int B = argc > 2 ? atoi(argv[2]) : 2, T = argc > 3 ? atoi(argv[3]) : 256, reps = argc > 4 ? atoi(argv[4]) : 2;
    char err[ERR_LEN];
    ModelConfig c;
    if (config_load(&c, argv[1], err)) die("%s", err);
    // Where this CPU has no bf16 product, only the fp32 rate is measured.
    const int rc = gemm_bf16_check(err), precs = rc == GEMM_BF16_UNSUPPORTED ? 1 : 2;
    if (rc && rc != GEMM_BF16_UNSUPPORTED) die("%s", err);
    const int BT = B * T, L = c.num_hidden_layers;
    Shape s[24];
    const int ns = step_shapes(&c, BT, s), head_chunks = (BT + HEAD_ROWS - 1) / HEAD_ROWS;
    size_t most = 0;
    double flops = 0;
    for (int i = 0; i < ns; i++) {
        const size_t a = (size_t)s[i].m * s[i].k, b = (size_t)s[i].k * s[i].n, o = (size_t)s[i].m * s[i].n;
        most = a > most ? a : most;
        most = b > most ? b : most;
        most = o > most ? o : most;
        flops += 2.0 * s[i].m * s[i].n * s[i].k * (i < ns - 3 ? L : head_chunks);
    }
    float *A = xmalloc_aligned(4 * most), *Bm = xmalloc_aligned(4 * most), *Cm = xmalloc_aligned(4 * most);
    uint16_t *A16 = xmalloc_aligned(2 * most), *B16 = xmalloc_aligned(2 * most);
    for (size_t i = 0; i < most; i++) A[i] = Bm[i] = 0.01f * (float)(i % 7);
    bf16_round(A16, A, most);
    bf16_round(B16, Bm, most);
    double best32 = 1e30, best16 = 1e30;
    for (int r = 0; r < reps; r++) {
        for (int prec = 0; prec < precs; prec++) {
            double t0 = now_seconds();
            for (int i = 0; i < ns; i++) {
                const Shape *q = &s[i];
                const int lda = q->ta ? q->m : q->k, ldb = q->tb ? q->k : q->n;
                for (int rep = 0; rep < (i < ns - 3 ? L : head_chunks); rep++) {
                    if (prec == 0)
                        cblas_sgemm(CblasRowMajor, q->ta ? CblasTrans : CblasNoTrans, q->tb ? CblasTrans : CblasNoTrans,
                                    q->m, q->n, q->k, 1.0f, A, lda, Bm, ldb, 0.0f, Cm, q->n);
                    else
                        gemm_bf16_det(q->ta, q->tb, q->m, q->n, q->k, A16, lda, B16, ldb, 0.0f, Cm, q->n);
                }
            }
            const double t = now_seconds() - t0;
            if (prec == 0) best32 = t < best32 ? t : best32;
            else best16 = t < best16 ? t : best16;
        }
    }
    printf("training step products: %s  B=%d T=%d  %.1f GFLOP (forward, dX, dW; best of %d)\n", argv[1], B, T,
           flops / 1e9, reps);
    printf("fp32 sgemm alone     : %7.3f s  %6.1f GFLOP/s\n", best32, flops / best32 / 1e9);
    if (precs == 2) printf("bf16 oneDNN alone    : %7.3f s  %6.1f GFLOP/s\n", best16, flops / best16 / 1e9);
    else printf("bf16 oneDNN alone    : n/a (%s)\n", err);
    free(A); free(Bm); free(Cm); free(A16); free(B16);
    return 0;
}
