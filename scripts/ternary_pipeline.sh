#!/bin/sh
# Parent -> ternary -> verify -> evaluate -> generate. See scripts/quickstart.sh.
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
TRIT=build/trit
TOK=$DATA/qwen3-tokenizer/tokenizer.json
TRAIN=$DATA/wikitext-2/train.txt
VALID=$DATA/wikitext-2/valid.txt
TEST_RAW=$DATA/wikitext-2-raw/wiki.test.raw
PARENT_STEPS=${PARENT_STEPS:-1000}
STEPS=${STEPS:-250}
EVAL_TOKENS=${EVAL_TOKENS:-65536}
mkdir -p runs

if [ $# -ge 1 ]; then
    PARENT=$1
    [ -f "$PARENT/tokenizer.json" ] || TOKARG="--tokenizer $TOK"
else
    # A small full-precision Qwen3 with the real tokenizer, pretrained by trit.
    PARENT=runs/parent
    if [ ! -f "$PARENT/model.safetensors" ]; then
        $TRIT init --config configs/wikitext-parent.json --out runs/init --seed 1 --tokenizer "$TOK"
        $TRIT train --model runs/init --data "$TRAIN" --val "$VALID" --save-path "$PARENT" --quant none \
            --steps "$PARENT_STEPS" --batch-size 8 --seq-len 128 --lr 1e-3 --min-lr 1e-4 --warmup 50 \
            --eval-every 200 --eval-tokens 16384 --checkpoint-every 200 --seed 1
    fi
fi
TOKARG=${TOKARG:-}

# The recipe: ternary QAT with the defaults (group 128 absmean, AdamW, cosine, clip 1.0).
# shellcheck disable=SC2086
$TRIT train --model "$PARENT" $TOKARG --data "$TRAIN" --val "$VALID" --save-path runs/ternary \
    --steps "$STEPS" --eval-every 50 --eval-tokens 16384 --checkpoint-every 50 --seed 1
$TRIT verify runs/ternary --quiet

LIMIT=""; [ "$EVAL_TOKENS" -gt 0 ] && LIMIT="--max-tokens $EVAL_TOKENS"
for m in "$PARENT" runs/ternary; do
    for d in "$VALID" "$TEST_RAW"; do
        # shellcheck disable=SC2086
        printf '%s on %s: ' "$m" "$(basename "$d")"
        $TRIT eval --model "$m" --tokenizer "$TOK" --data "$d" --seq-len 256 --batch-size 4 $LIMIT 2>/dev/null | tail -n 1
    done
done
for p in "The game was released in" "He was born in"; do
    echo "== $p"
    $TRIT generate --model runs/ternary --prompt "$p" --max-tokens 40 --seed 1 --temperature 0.7
    echo
done
