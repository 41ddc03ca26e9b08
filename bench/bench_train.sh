#!/bin/sh
# Training step at the Qwen3-0.6B shape (random weights from `trit init`),
# the recipe's batch 2 x 256, ternary QAT: seconds per step and peak memory,
# against the time the step's matrix products alone take at this machine's
# BLAS speed, measured in the same run (bench_forward's sgemm baseline for
# one forward pass; a training step does 3x those FLOPs: forward, dX, dW).
# usage: bench/bench_train.sh BUILD_DIR DATA_DIR [STEPS]
set -eu
BUILD=${1:-build}
DATA=${2:-../shared/data}
STEPS=${3:-3}
OUT=${BENCH_DIR:-/tmp/trit-bench}
CONFIG=$DATA/qwen3-0.6b/config.json
mkdir -p "$OUT"
[ -f "$OUT/qwen3-0.6b-random/model.safetensors" ] ||
    "$BUILD/trit" init --config "$CONFIG" --out "$OUT/qwen3-0.6b-random" --seed 1 \
        --tokenizer "$DATA/qwen3-tokenizer/tokenizer.json"
base=$("$BUILD/bench_forward" "$CONFIG" 2 256 2 | sed -nE 's/^baseline sgemm alone : +([0-9.]+) s.*/\1/p')
rm -rf "$OUT/train-0.6b"
/usr/bin/time -v "$BUILD/trit" train --model "$OUT/qwen3-0.6b-random" --data "$DATA/wikitext-2/train.txt" \
    --save-path "$OUT/train-0.6b" --steps "$STEPS" --batch-size 2 --seq-len 256 --eval-every 0 \
    2> "$OUT/train.err" || { tail -n 5 "$OUT/train.err"; exit 1; }
grep -E '^step ' "$OUT/train.err"
# Steps after the first (which also faults in the optimizer state).
step_s=$(sed -nE 's/^\{"step":([0-9]+),"loss".*"elapsed_s":([0-9.]+)\}$/\1 \2/p' "$OUT/train-0.6b/train.jsonl" |
    awk 'NR == 1 { t1 = $2 } { n = $1; t = $2 } END { if (n > 1) printf "%.2f", (t - t1) / (n - 1); else printf "%.2f", t }')
rss=$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$OUT/train.err")
echo "seconds per step (after the first): $step_s"
echo "peak memory: $(awk -v k="$rss" 'BEGIN { printf "%.2f GB", k * 1024 / 1e9 }')"
echo "matrix products alone (3 x forward sgemm baseline, same run): $(awk -v b="$base" 'BEGIN { printf "%.2f s", 3 * b }')"
echo "ratio step / matrix products alone: $(awk -v s="$step_s" -v b="$base" 'BEGIN { printf "%.2fx", s / (3 * b) }')"
