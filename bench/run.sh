#!/bin/sh
# make bench: the benchmarks, each printing its figures beside a baseline
# measured in the same run. Usage: bench/run.sh BUILD_DIR DATA_DIR
# Set BENCH_DIR to keep the generated Qwen3-0.6B-shape model somewhere else
# than /tmp (it takes 1.2 GB).
set -eu
BUILD=${1:-build}
DATA=${2:-../shared/data}
OUT=${BENCH_DIR:-/tmp/trit-bench}
CONFIG=$DATA/qwen3-0.6b/config.json
mkdir -p "$OUT"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

echo "== forward pass, Qwen3-0.6B shape, random weights, 1 x 512 tokens"
"$BUILD/bench_forward" "$CONFIG" 1 512 3

echo "== trit eval end to end: Qwen3-0.6B shape from trit init, WikiText-2 raw test, 4096 tokens"
[ -f "$OUT/qwen3-0.6b-random/model.safetensors" ] ||
    "$BUILD/trit" init --config "$CONFIG" --out "$OUT/qwen3-0.6b-random" --seed 1 \
        --tokenizer "$DATA/qwen3-tokenizer/tokenizer.json"
/usr/bin/time -v "$BUILD/trit" eval --model "$OUT/qwen3-0.6b-random" --data "$DATA/wikitext-2-raw/wiki.test.raw" \
    --seq-len 512 --batch-size 1 --max-tokens 4096 2>"$OUT/eval.time" | tail -n 6
grep -E 'Maximum resident|Elapsed' "$OUT/eval.time"

echo "== training step, Qwen3-0.6B shape, ternary QAT, batch 2 x 256"
bench/bench_train.sh "$BUILD" "$DATA" 3

echo "== decode (trit generate), Qwen3-0.6B shape, fp32 weights"
bench/bench_generate.sh "$OUT/qwen3-0.6b-random" "$BUILD/trit"

if [ -x bench/bench_tokenizer.sh ]; then
    echo "== tokenizer: WikiText-2 train (10.8 MB), trit vs HF tokenizers"
    bench/bench_tokenizer.sh "$BUILD/trit" "$DATA"
fi
