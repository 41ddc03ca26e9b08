#!/usr/bin/env bash
# Finishes for a trained ternary student (issue 27, the reference's lever E):
# each arm continues the student for STEPS more distilled steps (2 x 256
# tokens, warm-up 10, cosine from LR to LR/20, the e2e stage's learned
# scales at 4x, no weight decay, bf16 embedding, group 64) and differs from
# the control in one thing:
#   control      the student's own e2e text (STUDENT.work/e2e-text.tokens):
#                what more steps of the same stage buy
#   reverse0.5   the same text, half the KL reversed (--distill-reverse 0.5):
#                the mode-seeking side as a late finish
#   reverse1     the same text, the reverse KL alone
#   onpolicy     the student's own sampled answers to prompts/chat-train.txt
#                (trit synth --chat, SAMPLES of them, temperature 0.7, top-p
#                0.95) against the parent's distribution: what the parent
#                would say after the student's own words
#
#   scripts/study_finish.sh STUDENT PARENT
#   ARMS="control onpolicy" STEPS=200 scripts/study_finish.sh STUDENT PARENT
#
# STUDENT is a trit convert output (with STUDENT.work/); PARENT its parent.
# Each arm's line in $OUT/results.tsv (the student itself first, as arm
# "student", from the first arm's validation before its first step):
# wiki.valid.raw perplexity over its first 16,384 tokens (windows of 256,
# trit train's validation), and on CHAT_PROMPTS (default
# prompts/chat-val.tsv: choices never touch prompts/chat-eval.tsv) the
# answers right and the share of the parent's answer words repeated
# (scripts/chat_score.py). An arm already there is skipped; a killed arm
# resumes from its checkpoint (every 50 steps).
# Environment: OUT (runs/study-finish), STEPS (150), LR (1e-4), SAMPLES (804:
# two answers a prompt), CHAT_PROMPTS, DATA (../shared/data), TRIT (build/trit).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 STUDENT PARENT" >&2; exit 2; }
STUDENT=$1 PARENT=$2
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/study-finish}
TRIT=${TRIT:-build/trit}
STEPS=${STEPS:-150}
LR=${LR:-1e-4}
SAMPLES=${SAMPLES:-804}
CHAT_PROMPTS=${CHAT_PROMPTS:-prompts/chat-val.tsv}
ARMS=${ARMS:-control reverse0.5 onpolicy}
VAL=$DATA/wikitext-2-raw/wiki.valid.raw
mkdir -p "$OUT"
RES=$OUT/results.tsv
[ -f "$RES" ] || printf 'arm\twiki_valid_ppl\tchat_right\tparent_words_pct\n' > "$RES"

# Appends arm $1's line: perplexity $2, then model $3's chat score.
record() {
    python3 scripts/chat_score.py "$PARENT" "$3" --prompts "$CHAT_PROMPTS" --trit "$TRIT" > "$OUT/$1.chat" 2>&1
    local chat words
    chat=$(grep -o "^$3: [0-9]* of [0-9]* answered" "$OUT/$1.chat" | awk '{print $2}')
    words=$(grep -o "[0-9.]* % of .*'s words" "$OUT/$1.chat" | awk '{print $1}')
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$chat" "$words" >> "$RES"
    echo "$1: wiki.valid.raw $2, chat $chat, parent's words $words %"
}

for arm in $ARMS; do
    grep -q "^$arm	" "$RES" && { echo "$arm: done"; continue; }
    text=$STUDENT.work/e2e-text.tokens flags=()
    case $arm in
        control) ;;
        reverse0.5) flags=(--distill-reverse 0.5) ;;
        reverse1) flags=(--distill-reverse 1) ;;
        onpolicy)
            text=$OUT/onpolicy.tokens
            [ -f "$text" ] || "$TRIT" synth --chat --model "$STUDENT" --prompts prompts/chat-train.txt --out "$text" \
                --samples "$SAMPLES" --max-tokens 128 --temperature 0.7 --top-p 0.95 --seed 1 ;;
        *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    last=$(ls -d "$OUT/$arm"/ckpt-* 2>/dev/null | sort -t- -k2 -n | tail -n 1 || true)
    "$TRIT" train --model "$STUDENT" --teacher "$PARENT" --data "$text" --out "$OUT/$arm" \
        --steps "$STEPS" --warmup 10 --batch-size 2 --seq-len 256 --lr "$LR" --min-lr "$(python3 -c "print($LR / 20)")" \
        --distill --distill-alpha 0 --scale learned --scale-lr-mult 4 --weight-decay 0 \
        --keep-embedding bf16 --group-size 64 --val "$VAL" --eval-tokens 16384 --eval-every 0 \
        --checkpoint-every 50 ${last:+--resume "$last"} "${flags[@]}" >> "$OUT/$arm.log" 2>&1
    if ! grep -q "^student	" "$RES"; then  # the arm's validation before its first step
        record student "$(python3 -c "import json,sys; print([r['val_ppl'] for r in map(json.loads, open(sys.argv[1])) \
if r.get('step') == 0 and 'val_ppl' in r][0])" "$OUT/$arm/train.jsonl")" "$STUDENT"
    fi
    ppl=$(grep -o "step $STEPS: validation ppl [0-9.]*" "$OUT/$arm.log" | tail -n 1 | awk '{print $NF}')
    record "$arm" "$ppl" "$OUT/$arm"
done
