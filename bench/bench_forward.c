// bench_forward.c — forward-pass speed of the model against the BLAS
// baseline measured in the same run.
//
// usage: bench_forward CONFIG.json [B] [T] [reps]
// Builds the model in memory with random weights (no disk), then times
//   1. the matrix products of one forward pass alone, as bare sgemm calls
//      with the same shapes (the baseline: what BLAS can do), and
//   2. forward_params over B×T tokens (everything: norms, RoPE, attention,
//      SwiGLU, the chunked LM head and the loss),
// and prints tokens/s, effective GFLOP/s and the ratio of the two.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "kernels/gemm.h"
#include "kernels/head.h"
#include "kernels/ops.h"
#include "model/forward.h"
#include "model/model.h"

static double time_gemms(const ModelConfig *c, int BT, int reps) {
    const int C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    const int QD = c->num_attention_heads * c->head_dim, KD = c->num_key_value_heads * c->head_dim;
    int shapes[][2] = {{QD, C}, {KD, C}, {KD, C}, {C, QD}, {F, C}, {F, C}, {C, F}};  // (N, K) per layer
    size_t maxw = (size_t)F * C > (size_t)QD * C ? (size_t)F * C : (size_t)QD * C;
    int mx = F > QD ? F : QD;
    mx = mx > C ? mx : C;
    float *w = xmalloc_aligned(4 * maxw), *x = xmalloc_aligned(4 * (size_t)BT * mx), *y = xmalloc_aligned(4 * (size_t)BT * mx);
    int rows = lm_head_chunk_rows(V);  // the LM head's chunking, as in ops.c
    float *head = xmalloc_aligned(4 * (size_t)V * C), *lg = xmalloc_aligned(4 * (size_t)rows * V);
    for (size_t i = 0; i < maxw; i++) w[i] = 0.01f;
    for (size_t i = 0; i < (size_t)BT * mx; i++) x[i] = 0.01f;
    for (size_t i = 0; i < (size_t)V * C; i++) head[i] = 0.01f;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        for (int l = 0; l < c->num_hidden_layers; l++)
            for (int s = 0; s < 7; s++) matmul_forward(y, x, w, BT, shapes[s][0], shapes[s][1]);
        for (int r0 = 0; r0 < BT; r0 += rows) matmul_forward(lg, x, head, BT - r0 < rows ? BT - r0 : rows, V, C);
        double t = now_seconds() - t0;
        best = t < best ? t : best;
    }
    free(w); free(x); free(y); free(head); free(lg);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG.json [B] [T] [reps]\n", argv[0]);
        return 2;
    }
    int B = argc > 2 ? atoi(argv[2]) : 1, T = argc > 3 ? atoi(argv[3]) : 512, reps = argc > 4 ? atoi(argv[4]) : 3;
    char err[ERR_LEN];
    ModelConfig c;
    if (config_load(&c, argv[1], err)) die("%s", err);
    Model m;
    if (model_alloc(&m, &c, err)) die("%s", err);
    model_init_random(&m, 1);
    Workspace ws;
    workspace_init(&ws, &c);
    const int BT = B * T;
    int32_t *tok = xmalloc(4 * (size_t)BT);
    for (int i = 0; i < BT; i++) tok[i] = (int32_t)((unsigned)(i * 2654435761u) % (unsigned)c.vocab_size);
    const double C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, L = c.num_hidden_layers;
    const double QD = (double)c.num_attention_heads * c.head_dim, KD = (double)c.num_key_value_heads * c.head_dim;
    double flops = 2.0 * BT * (L * (2 * QD * C + 2 * KD * C + 3 * F * C) + V * C);

    double t_gemm = time_gemms(&c, BT, reps);
    forward_params(&ws, &m, &m.params, tok, tok, B, T, 0, NULL, NULL);  // warm-up, allocates activations
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        forward_params(&ws, &m, &m.params, tok, tok, B, T, 0, NULL, NULL);
        double t = now_seconds() - t0;
        best = t < best ? t : best;
    }
    printf("model: %s  B=%d T=%d  %.1f GFLOP of matrix products per pass (best of %d)\n", argv[1], B, T, flops / 1e9,
           reps);
    printf("baseline sgemm alone : %7.3f s  %6.1f GFLOP/s\n", t_gemm, flops / t_gemm / 1e9);
    printf("forward_params       : %7.3f s  %6.1f GFLOP/s effective  %7.1f tok/s\n", best, flops / best / 1e9,
           BT / best);
    printf("ratio forward/sgemm-alone time: %.2fx\n", best / t_gemm);
    workspace_free(&ws);
    model_free(&m);
    free(tok);
    return 0;
}
