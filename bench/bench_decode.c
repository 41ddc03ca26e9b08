// bench_decode.c — where the time of a decode step goes, against the
// memory-bandwidth bound measured in the same run.
//
// usage: bench_decode MODEL [tokens] [context]
//   MODEL: a GGUF file or an HF directory (as trit generate takes it). The
//   KV cache is filled with `context` positions (default 8), then `tokens`
//   (default 64) greedy decode steps run with the per-operation timer of
//   base/prof.h on. Printed: the step's milliseconds and tokens/s, each
//   operation's share, the bytes a step reads (every weight once, the
//   tied embedding once as the LM head, plus the KV cache at the mean
//   position) and the bound those bytes allow at the read bandwidth
//   measured here (bench/membw.h), and the linears' own rate (the products'
//   bytes over their time). Then the same per operation for the prefill
//   that filled the cache (a 512-token prompt with context 512).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/prof.h"
#include "base/util.h"
#include "infer/generate.h"
#include "infer/sample.h"
#include "membw.h"
#include "model/weights.h"

// Each operation's time over `per` (the steps it spans), its share of
// `total`, and what no operation holds as "other"; lines indented by `indent`.
static void print_ops(const double *t, double total, int per, const char *indent) {
    double listed = 0;
    for (int k = 0; k < PROF_COUNT; k++) {
        listed += t[k];
        printf("%s%-10s %8.3f ms %5.1f %%\n", indent, prof_names[k], t[k] / per * 1e3, 100.0 * t[k] / total);
    }
    printf("%s%-10s %8.3f ms %5.1f %%\n", indent, "other", (total - listed) / per * 1e3,
           100.0 * (total - listed) / total);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_decode MODEL [tokens] [context]\n");
        return 2;
    }
    const int N = argc > 2 ? atoi(argv[2]) : 64, P = argc > 3 ? atoi(argv[3]) : 8;
    char err[512];
    ModelWeights w;
    if (weights_open(&w, argv[1], NULL, err)) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return 1;
    }
    const ModelConfig *c = &w.config;
    KVCache kv;
    if (N < 1 || P < 1 || kvcache_init(&kv, c, P + N, err)) {
        fprintf(stderr, "bench_decode: %s\n", N < 1 || P < 1 ? "tokens and context must be at least 1" : err);
        return 1;
    }
    const double gbs = membw_read_gbs(3);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(P + N));
    for (int i = 0; i < P; i++) ids[i] = 1 + (int32_t)(i * 7919 % (c->vocab_size - 1));
    float *logits = xmalloc(sizeof(float) * (size_t)c->vocab_size);
    double pre[PROF_COUNT] = {0}, prof[PROF_COUNT] = {0};
    prof_seconds = pre;
    const double tp = now_seconds();
    if (generate_forward(&kv, &w, ids, P, 0, logits, err)) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return 1;
    }
    const double prefill = now_seconds() - tp;
    prof_seconds = prof;
    const double t0 = now_seconds();
    for (int i = 0; i < N; i++) {
        ids[P + i] = sample_argmax(logits, c->vocab_size);
        if (generate_forward(&kv, &w, ids + P + i, 1, P + i, logits, err)) {
            fprintf(stderr, "bench_decode: %s\n", err);
            return 1;
        }
    }
    const double total = now_seconds() - t0;
    prof_seconds = NULL;

    const double wbytes = (double)weights_bytes(&w);
    const double kv_pos = 2.0 * sizeof(float) * c->num_hidden_layers * c->num_key_value_heads * c->head_dim;
    const double bytes = wbytes + kv_pos * (P + (N + 1) / 2.0);
    const double step = total / N, bound = gbs * 1e9 / bytes;
    double linear = 0;
    for (int k = 0; k < PROF_COUNT; k++)
        if (k == PROF_QKV || k == PROF_O || k == PROF_GATEUP || k == PROF_DOWN || k == PROF_HEAD) linear += prof[k];
    printf("%s: %d threads, %d steps after %d positions: %.3f ms a step, %.1f tok/s\n", argv[1], omp_get_max_threads(),
           N, P, step * 1e3, 1.0 / step);
    printf("  reads %.1f MB a step (weights %.1f, KV cache %.1f); read bandwidth %.1f GB/s: bound %.1f tok/s, "
           "this run %.1f %% of it\n", bytes / 1e6, wbytes / 1e6, (bytes - wbytes) / 1e6, gbs, bound,
           100.0 / step / bound);
    printf("  the products: %.3f ms a step, %.1f GB/s of weights\n", linear / N * 1e3, wbytes / (linear / N) / 1e9);
    print_ops(prof, total, N, "  ");
    // The prefill that filled the context (one forward pass over P positions
    // from 0; there "attention" is the tiled whole-sequence kernel).
    printf("  prefill of the %d context positions: %.1f ms, %.1f tok/s\n", P, prefill * 1e3, P / prefill);
    print_ops(pre, prefill, 1, "    ");
    free(ids);
    free(logits);
    kvcache_free(&kv);
    weights_free(&w);
    return 0;
}
