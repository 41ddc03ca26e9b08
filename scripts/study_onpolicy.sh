#!/usr/bin/env bash
# Lever E of issue 27 (../shared/reference/ternary-token-efficiency.md §6): an
# on-policy finish for a ternary student. The student answers the training
# chat prompts itself (trit synth --chat, sampled), then trains on its own
# answers against the parent's distribution (KL only, --distill-alpha 0), so
# that it learns what the parent would say after the student's own words
# rather than only after the parent's. Prints, for the parent, the student and
# the finished student: perplexity on the first EVAL_TOKENS tokens of
# wiki.test.raw (windows of 512) and the chat score on prompts/chat-eval.tsv
# (neither is trained on).
#
#   scripts/study_onpolicy.sh STUDENT PARENT OUT
# Environment: STEPS (200), LR (1e-4), SAMPLES (804: two answers a prompt),
# EVAL_TOKENS (16384), DATA (../shared/data), TRIT (build/trit).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 3 ] || { echo "usage: $0 STUDENT PARENT OUT" >&2; exit 2; }
STUDENT=$1 PARENT=$2 OUT=$3
DATA=${DATA:-../shared/data}
TRIT=${TRIT:-build/trit}
STEPS=${STEPS:-200}
LR=${LR:-1e-4}
SAMPLES=${SAMPLES:-804}
EVAL_TOKENS=${EVAL_TOKENS:-16384}

[ -f "$OUT.tokens" ] || "$TRIT" synth --chat --model "$STUDENT" --prompts prompts/chat-train.txt --out "$OUT.tokens" \
    --samples "$SAMPLES" --max-tokens 128 --temperature 0.7 --top-p 0.95 --seed 1
# Resumable: a kill leaves checkpoints every 50 steps.
last=$(ls -d "$OUT"/ckpt-* 2>/dev/null | sort -t- -k2 -n | tail -n 1 || true)
[ -f "$OUT/model.safetensors" ] || "$TRIT" train --model "$STUDENT" --data "$OUT.tokens" --out "$OUT" \
    --distill --distill-alpha 0 --teacher "$PARENT" --scale mse --keep-embedding bf16 --group-size 64 \
    --lr "$LR" --warmup 10 --steps "$STEPS" --batch-size 2 --seq-len 256 --eval-every 0 --checkpoint-every 50 \
    ${last:+--resume "$last"}
"$TRIT" verify "$OUT" --quiet > /dev/null
for m in "$PARENT" "$STUDENT" "$OUT"; do
    printf '%s\twiki.test.raw %s\n' "$m" "$("$TRIT" eval --model "$m" --data "$DATA/wikitext-2-raw/wiki.test.raw" \
        --seq-len 512 --batch-size 4 --max-tokens "$EVAL_TOKENS" 2>/dev/null | tail -n 1)"
done
python3 scripts/chat_score.py "$PARENT" "$STUDENT" "$OUT" --show 3
