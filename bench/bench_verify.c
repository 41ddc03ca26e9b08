// bench_verify.c — what a target pass over B tokens costs against one
// decode step: the curve that decides a speculative drafter's block size
// (a DFlash drafter drafts B - 1 tokens the target verifies in one pass).
//
// usage: bench_verify MODEL [context] [max_B] [reps] [ops]
//   MODEL: a GGUF file or an HF directory (as trit generate takes it). The
//   KV cache holds `context` positions (default 128); a chain of B tokens
//   (B = 1..max_B, default 16) is then scored in one pass after them, as the
//   verification of a block is, `reps` times (default 10, the best kept);
//   nothing is committed. Printed per B: milliseconds, the ratio to B = 1,
//   and tokens a pass must commit to beat plain decoding (the ratio itself).
//   ops (any fifth argument): also one more pass per B with base/prof.h on,
//   its milliseconds per operation (where the extra rows' time goes).
#include <stdio.h>
#include <stdlib.h>

#include "base/prof.h"
#include "base/util.h"
#include "infer/generate.h"
#include "model/weights.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_verify MODEL [context] [max_B] [reps]\n");
        return 2;
    }
    const int P = argc > 2 ? atoi(argv[2]) : 128, maxB = argc > 3 ? atoi(argv[3]) : 16;
    const int reps = argc > 4 ? atoi(argv[4]) : 10, ops = argc > 5;
    char err[512];
    ModelWeights w;
    if (weights_open(&w, argv[1], NULL, err)) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    const ModelConfig *c = &w.config;
    KVCache kv;
    if (P < 1 || maxB < 1 || maxB > 64 || reps < 1 || kvcache_init(&kv, c, P + maxB, err)) {
        fprintf(stderr, "bench_verify: %s\n", P < 1 || maxB < 1 || maxB > 64 || reps < 1 ? "bad arguments" : err);
        return 1;
    }
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(P + maxB));
    for (int i = 0; i < P + maxB; i++) ids[i] = 1 + (int32_t)(i * 7919 % (c->vocab_size - 1));
    float *logits = xmalloc(sizeof(float) * (size_t)maxB * c->vocab_size);
    int parent[64];
    for (int i = 0; i < 64; i++) parent[i] = i - 1;
    if (generate_forward(&kv, &w, ids, P, 0, logits, err)) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    printf("%-4s %10s %8s\n", "B", "ms/pass", "vs B=1");
    double one = 0.0;
    for (int B = 1; B <= maxB; B++) {
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            const double t0 = now_seconds();
            if (generate_forward_tree(&kv, &w, ids + P, parent, B, 0, logits, err)) {
                fprintf(stderr, "bench_verify: %s\n", err);
                return 1;
            }
            const double t = now_seconds() - t0;
            best = t < best ? t : best;
        }
        if (B == 1) one = best;
        printf("%-4d %10.3f %8.2f", B, 1e3 * best, best / one);
        if (ops) {
            double pr[PROF_COUNT] = {0};
            prof_seconds = pr;
            const int rc = generate_forward_tree(&kv, &w, ids + P, parent, B, 0, logits, err);
            prof_seconds = NULL;
            if (rc) {
                fprintf(stderr, "bench_verify: %s\n", err);
                return 1;
            }
            for (int k = 0; k < PROF_COUNT; k++) printf("  %s %.2f", prof_names[k], 1e3 * pr[k]);
        }
        printf("\n");
    }
    free(ids);
    free(logits);
    kvcache_free(&kv);
    weights_free(&w);
    return 0;
}
