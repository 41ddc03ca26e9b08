#!/bin/sh
# The packed ternary runtime (part of make bench): a decode step per
# operation against the read-bandwidth bound of the same run (bench_decode),
# the kernels alone (bench_qmatmul), and trit against stock llama.cpp on the
# same GGUF files (bench_vs_llama.py), each with trit's best kernels for this
# CPU and its AVX2 kernels forced; then how far both runtimes' next-token
# distributions are from the exact model's (bench_accuracy.py). Usage: bench/bench_packed.sh BUILD_DIR DATA_DIR
# (BENCH_DIR as in bench/run.sh; the Qwen3-0.6B-shape model is made there or here).
set -eu
BUILD=${1:-build}
DATA=${2:-../shared/data}
OUT=${BENCH_DIR:-/tmp/trit-bench}
CONFIG=$DATA/qwen3-0.6b/config.json
mkdir -p "$OUT"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
[ -f "$OUT/qwen3-0.6b-random/model.safetensors" ] ||
    "$BUILD/trit" init --config "$CONFIG" --out "$OUT/qwen3-0.6b-random" --seed 1 \
        --tokenizer "$DATA/qwen3-tokenizer/tokenizer.json"
# The Qwen3-0.6B shape projected to ternary (groups of 256: TQ2_0, TQ1_0 and
# Q2_0 all hold it), and SmolLM2-135M-Instruct projected at groups of 64
# (Q2_0; its rows of 576 are no whole TQ2_0 blocks). Speed does not depend on
# training, so the projections stand in for trained students.
Q06=$OUT/q06-g256
[ -f "$Q06/model.safetensors" ] || "$BUILD/trit" quantize --model "$OUT/qwen3-0.6b-random" --out "$Q06" --group-size 256
for t in tq2_0 tq1_0 q2_0; do
    [ -f "$OUT/q06-$t.gguf" ] || "$BUILD/trit" export --model "$Q06" --out "$OUT/q06-$t.gguf" --type $t
done
SMOL_GGUF=$(scripts/fetch-smollm2.sh)
[ -d "$OUT/smollm2" ] || "$BUILD/trit" import --gguf "$SMOL_GGUF" --out "$OUT/smollm2"
[ -f "$OUT/smollm2-g64/model.safetensors" ] || "$BUILD/trit" quantize --model "$OUT/smollm2" --out "$OUT/smollm2-g64" --group-size 64
[ -f "$OUT/smollm2-q2_0.gguf" ] || "$BUILD/trit" export --model "$OUT/smollm2-g64" --out "$OUT/smollm2-q2_0.gguf"
# As trit convert makes it: the tied embedding / LM head kept in bf16.
[ -f "$OUT/smollm2-keep/model.safetensors" ] ||
    "$BUILD/trit" quantize --model "$OUT/smollm2" --out "$OUT/smollm2-keep" --group-size 64 --keep-embedding bf16
[ -f "$OUT/smollm2-keep.gguf" ] || "$BUILD/trit" export --model "$OUT/smollm2-keep" --out "$OUT/smollm2-keep.gguf"

echo "== a decode step per operation (bench_decode), against the read-bandwidth bound of the same run, 2 threads"
for m in q06-tq2_0.gguf q06-tq1_0.gguf q06-q2_0.gguf smollm2-q2_0.gguf smollm2-keep.gguf qwen3-0.6b-random smollm2; do
    OMP_NUM_THREADS=2 "$BUILD/bench_decode" "$OUT/$m" 64
done
# trit's AVX2 kernels forced as well where the CPU has better ones.
KERNELS=auto
if grep -q avx512_vnni /proc/cpuinfo; then
    KERNELS=auto,avx2
    echo "(the AVX2 kernels forced on this CPU)"
    TRIT_QKERNELS=avx2 OMP_NUM_THREADS=2 "$BUILD/bench_decode" "$OUT/q06-tq2_0.gguf" 64
fi

echo "== packed ternary kernels (bench_qmatmul), each ISA path against fp32 OpenBLAS, Qwen3-0.6B shapes"
"$BUILD/bench_qmatmul" 3

echo "== packed ternary models: trit vs llama.cpp (llama-cpp-python), same GGUF, 2 threads"
# --kernels: trit's best kernels for this CPU, then (AVX-512 hosts) its AVX2 kernels forced.
OMP_NUM_THREADS=2 python3 bench/bench_vs_llama.py --trit "$BUILD/trit" --membw "$BUILD/bench_membw" --kernels $KERNELS \
    --text "$DATA/wikitext-2-raw/wiki.test.raw" "$OUT/q06-tq2_0.gguf" "$OUT/q06-q2_0.gguf" "$OUT/smollm2-q2_0.gguf"

echo "== accuracy: KL of the packed runtimes (trit, llama.cpp) to the exact fp32 model, same GGUF"
python3 bench/bench_accuracy.py --trit "$BUILD/trit" --model "$OUT/smollm2-g64" \
    --text "$DATA/wikitext-2-raw/wiki.test.raw" "$OUT/smollm2-q2_0.gguf"
python3 bench/bench_accuracy.py --trit "$BUILD/trit" --model "$Q06" --windows 8 \
    --text "$DATA/wikitext-2-raw/wiki.test.raw" "$OUT/q06-tq2_0.gguf" "$OUT/q06-q2_0.gguf"
