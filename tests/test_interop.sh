#!/bin/sh
# test_interop: trit's exported GGUF files in the real clients, stock
# llama.cpp (llama-cpp-python 0.3.36) and gguf-py 0.19, through
# tools/reference/check_llama_cpp.py. Tiny exactly ternary models with the
# real Qwen3 vocabulary, Qwen3 (tied, group 64: Q2_0) and Llama (untied,
# group 256: TQ2_0, TQ1_0 and Q2_0, its q/k order checked by gguf-py), two
# steps (barely trained: attention and every scale still
# shape the logits, so a wrong export shows), exported in every format that
# holds them; Qwen3 with v_proj and down_proj kept in bf16 (--keep-linear);
# and Llama with rank-8 adapters (quantize --adapter-rank, then two steps),
# run by llama.cpp with its LoRA adapter file (q/k B rows in rotary order).
# Without the Python packages (scripts/install-python-deps.sh) this is a
# skip, and a failure under CI=true.
BIN=${TRIT_BIN:-build/trit}
DATA=${TRIT_DATA:-../shared/data}
TOK="$DATA/qwen3-tokenizer"
cd "$(dirname "$0")/.."
if [ "${TRIT_SAN:-}" = 1 ]; then
    echo "test_interop: runs in make test only (under make san, test_cli covers export and the packed runtime)"
    echo "test_interop: 0 passed, 0 failed"; exit 0
fi
if ! python3 -c "import llama_cpp, gguf, safetensors, numpy" 2>/dev/null || [ ! -d "$TOK" ]; then
    if [ "${CI:-}" = true ]; then
        echo "FAIL test_interop: CI=true and llama-cpp-python / gguf / the shared data are missing"
        echo "test_interop: 0 passed, 1 failed"; exit 1
    fi
    echo "SKIP test_interop: needs llama-cpp-python, gguf (scripts/install-python-deps.sh) and $TOK"
    echo "test_interop: 0 passed, 0 failed"; exit 0
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
head -c 40000 "$DATA/wikitext-2-raw/wiki.valid.raw" > "$T/text.txt"
pass=0; fail=0
model() {  # name hf-class model-type tied group [train flags]
    cat > "$T/$1.json" <<JSON
{"architectures": ["$2"], "model_type": "$3", "vocab_size": 151936, "hidden_size": 256,
 "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "head_dim": 64, "max_position_embeddings": 256, "tie_word_embeddings": $4, "torch_dtype": "float32",
 "eos_token_id": 151645}
JSON
    "$BIN" init --config "$T/$1.json" --out "$T/$1-init" --seed 7 --tokenizer "$TOK" >/dev/null &&
    "$BIN" train --model "$T/$1-init" --data "$T/text.txt" --out "$T/$1" --steps 2 --warmup 1 \
        --seq-len 32 --batch-size 2 --group-size "$5" --eval-tokens 32 ${6:-} >/dev/null 2>&1
}
adapted() {  # name hf-class model-type: rank-8 adapters fitted by quantize, then trained
    model "$1-fp" "$2" "$3" false 64 "--quant none" &&
    "$BIN" quantize --model "$T/$1-fp" --out "$T/$1-q" --method mse --group-size 64 --adapter-rank 8 >/dev/null &&
    "$BIN" train --model "$T/$1-q" --data "$T/text.txt" --out "$T/$1" --steps 2 --warmup 1 --lr 1e-2 \
        --seq-len 32 --batch-size 2 --group-size 64 --eval-tokens 32 >/dev/null 2>&1
}
model qwen3_g64 Qwen3ForCausalLM qwen3 true 64 && model llama_g256 LlamaForCausalLM llama false 256 &&
    model qwen3_kept Qwen3ForCausalLM qwen3 true 256 "--keep-linear v_proj,down_proj" &&
    adapted llama_lora LlamaForCausalLM llama ||
    { echo "FAIL test_interop: could not make the tiny models"; echo "test_interop: 0 passed, 1 failed"; exit 1; }
run_check() {  # types model
    if python3 tools/reference/check_llama_cpp.py --trit "$BIN" --work "$T/work" --types "$1" --strict-greedy "$2"; then
        pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: check_llama_cpp $1 $2"; fi
}
run_check auto,auto+f16,auto+q8_0 "$T/qwen3_g64"
run_check auto,tq1_0,q2_0,auto+f16 "$T/llama_g256"
run_check auto "$T/qwen3_kept"  # v_proj and down_proj BF16 beside TQ2_0
run_check auto "$T/llama_lora"  # Q2_0 and the LoRA adapter file
# A format that cannot hold the model is refused, and nothing is written.
if "$BIN" export --model "$T/qwen3_g64" --out "$T/x.gguf" --type tq2_0 2>"$T/err" ||
   ! grep -q "trit: error: .*TQ2_0 cannot hold it losslessly" "$T/err" || [ -e "$T/x.gguf" ]; then
    fail=$((fail + 1)); echo "FAIL: group-64 model exported as TQ2_0"; cat "$T/err"; else pass=$((pass + 1)); fi
echo "test_interop: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
