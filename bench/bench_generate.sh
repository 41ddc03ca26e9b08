#!/bin/sh
# Decode speed of `trit generate` against the memory-bandwidth bound.
#
# usage: bench/bench_generate.sh MODEL_DIR|FILE.gguf [TRIT_BIN] [TOKENIZER]
#
# Generates 64 tokens (sampling, fixed seed) from a short prompt and prints
# the decode tok/s. A decode step reads every weight once (the LM head in
# full; of an untied embedding only one row), so memory bandwidth / weight
# bytes is an upper bound on decode tok/s. The bandwidth is measured in the
# same run (build/bench_membw); the weight bytes are what trit holds in
# memory (fp32 for a directory, the packed blocks for a GGUF; an untied
# embedding is counted whole although a step reads one row). A model that
# fits in the last-level cache (small test models) can beat this bound.
set -eu
MODEL=${1:?usage: bench/bench_generate.sh MODEL_DIR|FILE.gguf [TRIT_BIN] [TOKENIZER]}
TRIT=${2:-build/trit}
TOK=${3:-}
# A GGUF carries its vocabulary; a directory without tokenizer.json gets Qwen3's.
if [ -z "$TOK" ] && [ -d "$MODEL" ] && [ ! -f "$MODEL/tokenizer.json" ]; then
    TOK=../shared/data/qwen3-tokenizer/tokenizer.json
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
BW=$("$(dirname "$TRIT")/bench_membw" | cut -d' ' -f1)

"$TRIT" generate --model "$MODEL" ${TOK:+--tokenizer "$TOK"} --prompt "The history of the city begins" \
    --max-tokens 64 --seed 1 >"$TMP/out.txt" 2>"$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }
WMB=$(sed -n 's/^loaded .*weights, \([0-9.]*\) MB.*/\1/p' "$TMP/err.txt")
DECODE=$(sed -n 's/^decode: *\([0-9.]*\) tok\/s.*/\1/p' "$TMP/err.txt")
GEN=$(sed -n 's/^generated tokens: *\([0-9]*\).*/\1/p' "$TMP/err.txt")
awk -v bw="$BW" -v mb="$WMB" -v dec="$DECODE" -v gen="$GEN" 'BEGIN {
    bound = bw * 1e3 / mb
    printf "model: %.1f MB of weights read per decode step\n", mb
    printf "memory bandwidth (read, bench_membw): %.2f GB/s -> bound %.2f tok/s\n", bw, bound
    printf "decode: %.2f tok/s over %d generated tokens = %.0f%% of the bound\n", dec, gen, 100 * dec / bound
}'
