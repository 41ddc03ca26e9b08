#!/bin/sh
# Decode speed of `trit generate` against the memory-bandwidth bound.
#
# usage: bench/bench_generate.sh MODEL_DIR [TRIT_BIN] [TOKENIZER]
#
# Generates 64 tokens (sampling, fixed seed) from a short prompt and prints
# the decode tok/s. A decode step reads every weight once (the LM head in
# full; of an untied embedding only one row), so memory bandwidth / weight
# bytes is an upper bound on decode tok/s. The bandwidth is measured here
# with a multi-threaded read of a 1 GB buffer; the weights are fp32 (4
# bytes a parameter) in memory whatever their dtype on disk. A model that
# fits in the last-level cache (small test models) can beat this bound.
set -eu
MODEL=${1:?usage: bench/bench_generate.sh MODEL_DIR [TRIT_BIN] [TOKENIZER]}
TRIT=${2:-build/trit}
TOK=${3:-}
[ -n "$TOK" ] || { [ -f "$MODEL/tokenizer.json" ] && TOK=$MODEL/tokenizer.json; } ||
    TOK=../shared/data/qwen3-tokenizer/tokenizer.json

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/bw.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(void) {
    const size_t n = (size_t)256 << 20;  /* 1 GB of floats: past an L3 of hundreds of MB */
    float *a = malloc(n * sizeof *a);
    if (!a) return 1;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int r = 0; r < 5; r++) {
        double t = now(), s = 0;
        /* 64 independent partial sums: the loads, not the add latency, bound it */
#pragma omp parallel reduction(+ : s)
        {
            float acc[64] = {0};
#pragma omp for
            for (size_t j = 0; j < n / 64; j++)
#pragma omp simd
                for (int k = 0; k < 64; k++) acc[k] += a[j * 64 + k];
            for (int k = 0; k < 64; k++) s += acc[k];
        }
        t = now() - t;
        sink += s;
        if (t < best) best = t;
    }
    printf("%.2f\n", n * sizeof *a / best / 1e9 + 0 * sink);
    free(a);
    return 0;
}
EOF
cc -O3 -march=native -ffast-math -fopenmp "$TMP/bw.c" -o "$TMP/bw"
BW=$("$TMP/bw")

"$TRIT" generate --model "$MODEL" --tokenizer "$TOK" --prompt "The history of the city begins" \
    --max-tokens 64 --seed 1 >"$TMP/out.txt" 2>"$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }
NPARAM=$(sed -n 's/^loaded .*: \([0-9]*\) parameters.*/\1/p' "$TMP/err.txt")
DECODE=$(sed -n 's/^decode: *\([0-9.]*\) tok\/s.*/\1/p' "$TMP/err.txt")
GEN=$(sed -n 's/^generated tokens: *\([0-9]*\).*/\1/p' "$TMP/err.txt")
cfg() { tr -d ' \n' <"$MODEL/config.json" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }
TIED=$(cfg tie_word_embeddings)
V=$(cfg vocab_size)
C=$(cfg hidden_size)
awk -v bw="$BW" -v np="$NPARAM" -v tied="$TIED" -v V="$V" -v C="$C" -v dec="$DECODE" -v gen="$GEN" 'BEGIN {
    bytes = 4 * (np - (tied == "true" ? 0 : V * C))
    bound = bw * 1e9 / bytes
    printf "model: %d parameters, %.1f MB of fp32 weights read per decode step\n", np, bytes / 1e6
    printf "memory bandwidth (read): %.2f GB/s -> bound %.2f tok/s\n", bw, bound
    printf "decode: %.2f tok/s over %d generated tokens = %.0f%% of the bound\n", dec, gen, 100 * dec / bound
}'
