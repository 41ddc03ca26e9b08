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

bench/bench_packed.sh "$BUILD" "$DATA"

echo "== decoding alone and beside another OpenMP job (trit eval in a loop), 2 threads"
bench/bench_load.sh "$BUILD" "$DATA" "$OUT/smollm2-q2_0.gguf" "$OUT/smollm2-keep.gguf" "$OUT/q06-tq2_0.gguf"

echo "== beam search and speculative decoding: SmolLM2-135M (fp32) as the target"
# The drafter here is the untrained ternary projection (what make bench can
# build in seconds); the README's figures use a trained student:
# python3 bench/bench_spec.py --target DIR --student STUDENT.gguf
OMP_NUM_THREADS=2 python3 bench/bench_spec.py --trit "$BUILD/trit" --target "$OUT/smollm2" --student "$OUT/smollm2-q2_0.gguf"

echo "== DFlash's block size: a target pass over B tokens against one decode step, SmolLM2-135M (fp32, then Q2_0)"
"$BUILD/bench_verify" "$OUT/smollm2" 128 16 5
"$BUILD/bench_verify" "$OUT/smollm2-q2_0.gguf" 128 16 5
if [ -n "${DRAFTER:-}" ]; then
    # A drafter made by scripts/make-drafter.sh for the same target.
    echo "== DFlash drafter $DRAFTER against plain decoding, the student chain and lookup (SmolLM2-135M fp32)"
    OMP_NUM_THREADS=2 python3 bench/bench_dflash.py --trit "$BUILD/trit" --target "$OUT/smollm2" --drafter "$DRAFTER" \
        --student "$OUT/smollm2-q2_0.gguf"
fi

if [ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    echo "== serving: trit serve vs llama.cpp's server (llama-cpp-python), SmolLM2-135M-Instruct, 2 threads"
    # Not the same weight format: llama.cpp serves the Q4_1 GGUF as it is,
    # trit its fp32 import of that file ($OUT/smollm2, made above; trit runs
    # fp32 or its own packed types, not Q4_1). Same model, prompts and greedy
    # decoding; trit's fp32 weights are several times Q4_1's bytes per step.
    echo "(llama.cpp runs the Q4_1 GGUF, trit the fp32 import of it)"
    python3 bench/bench_serve.py --trit "$BUILD/trit" --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --hf "$OUT/smollm2" --threads 2 --json "$OUT/serve.json"
fi

if [ -x bench/bench_tokenizer.sh ]; then
    echo "== tokenizer: WikiText-2 train (10.8 MB), trit vs HF tokenizers"
    bench/bench_tokenizer.sh "$BUILD/trit" "$DATA"
fi
