#!/bin/sh
# Training step at the Qwen3-0.6B shape (random weights from `trit init`),
# the recipe's batch 2 x 256, ternary QAT, at --precision fp32 and bf16:
# seconds per step and peak memory, against the time the step's matrix
# products alone take (forward, dX, dW of every projection and the LM head)
# at this machine's fp32 sgemm rate and at the bf16 oneDNN rate, both
# measured in the same run (bench_train_gemm).
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
"$BUILD/bench_train_gemm" "$CONFIG" 2 256 2 | tee "$OUT/gemm.txt"
f32=$(sed -nE 's/^fp32 sgemm alone +: +([0-9.]+) s.*/\1/p' "$OUT/gemm.txt")
b16=$(sed -nE 's/^bf16 oneDNN alone +: +([0-9.]+) s.*/\1/p' "$OUT/gemm.txt")
# A CPU without bf16 products (bench_train_gemm says n/a) runs fp32 alone.
precs="fp32"; [ -n "$b16" ] && precs="fp32 bf16"
for p in $precs; do
    rm -rf "$OUT/train-0.6b-$p"
    /usr/bin/time -v "$BUILD/trit" train --model "$OUT/qwen3-0.6b-random" --data "$DATA/wikitext-2/train.txt" \
        --out "$OUT/train-0.6b-$p" --steps "$STEPS" --batch-size 2 --seq-len 256 --eval-every 0 --precision $p \
        2> "$OUT/train-$p.err" || { tail -n 5 "$OUT/train-$p.err"; exit 1; }
    # Steps after the first (which also faults in the optimizer state).
    step_s=$(sed -nE 's/^\{"step":([0-9]+),"loss".*"elapsed_s":([0-9.]+).*\}$/\1 \2/p' "$OUT/train-0.6b-$p/train.jsonl" |
        awk 'NR == 1 { t1 = $2 } { n = $1; t = $2 } END { if (n > 1) printf "%.2f", (t - t1) / (n - 1); else printf "%.2f", t }')
    rss=$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$OUT/train-$p.err")
    echo "--precision $p: $step_s s per step (after the first), peak memory" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.2f GB", k * 1024 / 1e9 }'), step / products at the fp32 rate" \
        "$(awk -v s="$step_s" -v b="$f32" 'BEGIN { printf "%.2fx", s / b }')${b16:+, at the bf16 rate }" \
        "$([ -z "$b16" ] || awk -v s="$step_s" -v b="$b16" 'BEGIN { printf "%.2fx", s / b }')"
done
