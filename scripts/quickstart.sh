#!/bin/sh
# One command on a fresh machine: install dependencies, build, and run the
# main job available so far — WikiText-2 perplexity of a Qwen3 model.
#
#   scripts/quickstart.sh                 # a random model at the Qwen3-0.6B shape
#   scripts/quickstart.sh ~/Qwen3-0.6B    # your own HF checkpoint directory
#
# Environment: DATA (default ../shared/data), MAX_TOKENS (default 4096; 0 = all),
# SEQ_LEN (default 512).
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MAX_TOKENS=${MAX_TOKENS:-4096}
SEQ_LEN=${SEQ_LEN:-512}
scripts/install-deps.sh
make -j2
MODEL=${1:-runs/qwen3-0.6b-random}
if [ $# -eq 0 ] && [ ! -f "$MODEL/config.json" ]; then
    build/trit init --config "$DATA/qwen3-0.6b/config.json" --out "$MODEL" --seed 1 \
        --tokenizer "$DATA/qwen3-tokenizer/tokenizer.json"
fi
build/trit info "$MODEL"
TOK="$MODEL/tokenizer.json"; [ -f "$TOK" ] || TOK="$DATA/qwen3-tokenizer/tokenizer.json"
if [ "$MAX_TOKENS" -gt 0 ]; then LIMIT="--max-tokens $MAX_TOKENS"; else LIMIT=""; fi
# shellcheck disable=SC2086
build/trit eval --model "$MODEL" --tokenizer "$TOK" --data "$DATA/wikitext-2-raw/wiki.test.raw" \
    --seq-len "$SEQ_LEN" $LIMIT
