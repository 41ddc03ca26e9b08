#!/usr/bin/env bash
# The levers of trit convert's stages, one at a time, for README "trit convert":
# SmolLM2-135M-Instruct (runs/study-quantize/parent, scripts/study_quantize.sh
# imports it), group 64, embedding / LM head kept in bf16.
#
#   scripts/study_convert.sh                      # every arm
#   ARMS="e2e-lr5e-4" scripts/study_convert.sh    # one arm
#
# Arms:
#   blocks-b4e2    the blocks stage as first run: batch 4, 2 epochs, lr 1e-3 (no e2e)
#   blocks-b1e4    batch 1, 4 epochs, lr 1e-3: 8x the steps on the same sequences
#   e2e-lr1e-4     E2E_STEPS of e2e at lr 1e-4 from blocks-b1e4's blocks, WikiText only
#   e2e-lr5e-4     the same at lr 5e-4
#   e2e-hidden     lr 5e-4 with the hidden-state term (--e2e-hidden 1)
#   e2e-chat       lr 5e-4 with the parent's chat answers mixed in (30 % of the text)
# The e2e arms start from a copy of blocks-b1e4's start and blocks stages, so
# they differ in the one flag. Each arm's line in $OUT/results.tsv: perplexity
# on the first EVAL_TOKENS tokens of wiki.valid.raw after its last stage (trit
# convert's own report) and of wiki.test.raw (trit eval, windows of 512), the
# chat score on prompts/chat-eval.tsv, tokens and minutes of its stages. An arm
# already there is skipped (delete its line to rerun it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/study-convert}
TRIT=${TRIT:-build/trit}
EVAL_TOKENS=${EVAL_TOKENS:-16384}
E2E_STEPS=${E2E_STEPS:-80}
ARMS=${ARMS:-blocks-b4e2 blocks-b1e4 e2e-lr1e-4 e2e-lr5e-4 e2e-hidden e2e-chat}
PARENT=runs/study-quantize/parent
TEST=$DATA/wikitext-2-raw/wiki.test.raw
[ -f "$PARENT/config.json" ] || "$TRIT" import --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --out "$PARENT"
mkdir -p "$OUT"
RES=$OUT/results.tsv
[ -f "$RES" ] || printf 'arm\tflags\twiki_valid_ppl\twiki_test_ppl\tchat\tstage_tokens\tstage_minutes\n' > "$RES"
COMMON=(--model "$PARENT" --group-size 64 --keep-embedding bf16 --eval-tokens "$EVAL_TOKENS")

for arm in $ARMS; do
    grep -q "^$arm	" "$RES" && { echo "$arm: done"; continue; }
    case $arm in
    blocks-b4e2) flags="--block-batch 4 --block-epochs 2 --block-lr 1e-3 --e2e-steps 0" ;;
    blocks-b1e4) flags="--block-batch 1 --block-epochs 4 --block-lr 1e-3 --e2e-steps 0" ;;
    e2e-lr1e-4) flags="--e2e-steps $E2E_STEPS --e2e-lr 1e-4 --chat-prompts none" ;;
    e2e-lr5e-4) flags="--e2e-steps $E2E_STEPS --e2e-lr 5e-4 --chat-prompts none" ;;
    e2e-hidden) flags="--e2e-steps $E2E_STEPS --e2e-lr 5e-4 --e2e-hidden 1 --chat-prompts none" ;;
    e2e-chat) flags="--e2e-steps $E2E_STEPS --e2e-lr 5e-4" ;;
    *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    dir=$OUT/$arm
    case $arm in
    e2e-*)  # the start and blocks stages of blocks-b1e4, as they are
        base=$OUT/blocks-b1e4.work
        [ -f "$base/blocks/config.json" ] || { echo "$arm needs the arm blocks-b1e4 first" >&2; exit 1; }
        mkdir -p "$dir.work"
        for s in start start.json blocks blocks.json; do [ -e "$dir.work/$s" ] || cp -r "$base/$s" "$dir.work/"; done ;;
    esac
    # shellcheck disable=SC2086
    "$TRIT" convert "${COMMON[@]}" --out "$dir" $flags 2>&1 | tee "$OUT/$arm.log" | grep '^convert:'
    valid=$(python3 -c "import json,sys; print('%.2f' % json.load(open(sys.argv[1]))['stages'][-1]['ppl'])" "$dir/convert.json")
    test=$("$TRIT" eval --model "$dir" --data "$TEST" --seq-len 512 --batch-size 4 --max-tokens "$EVAL_TOKENS" 2>/dev/null | tail -n 1 | awk '{print $2}')
    chat=$(python3 scripts/chat_score.py "$dir" --trit "$TRIT" --show 0 --out "$OUT/$arm.chat.tsv" |
        sed -n 's/.*: \([0-9]* of [0-9]*\) answered correctly/\1/p')
    stages=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['stages']; print(' '.join('%s:%d' % (x['stage'], x['tokens']) for x in s) + '\t' + ' '.join('%s:%.1f' % (x['stage'], x['seconds'] / 60) for x in s))" "$dir/convert.json")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$arm" "$flags" "$valid" "$test" "$chat" "$stages" >> "$RES"
    tail -n 1 "$RES"
done
