#!/usr/bin/env bash
# The e2e stage's levers at equal steps, for README "trit convert": each arm
# distils the same calibrated start for STEPS steps (2 x 256 tokens, warm-up
# a tenth, cosine to 2.5e-5) on the same text as trit convert's e2e stage,
# with the stage's flags but one, and scores the first 16,384 tokens of
# wiki.valid.raw at the end.
#
#   scripts/study_e2e.sh WORK PARENT             # every arm
#   ARMS="learned-lr1e-3" scripts/study_e2e.sh WORK PARENT
#
# WORK is a trit convert work folder (DIR.work) that holds start/ and
# e2e-text.tokens; PARENT the full-precision parent (the teacher).
# Arms:
#   mse             each step's MSE-optimal group scales (the stage before), lr 5e-4
#   learned         learned group scales (--scale learned), lr 5e-4
#   learned-lr1e-3  learned scales, lr 1e-3
#   learned-lr2e-3  learned scales, lr 2e-3
#   learned-mult4   learned scales, lr 5e-4, the scales' at 4x (--scale-lr-mult 4)
#   learned-lr1e-3-mult4  learned scales, lr 1e-3, the scales' at 4x
#   learned-lr2e-4-mult4  learned scales, lr 2e-4, the scales' at 4x (a start that is
#                   better already may need gentler steps)
#   reverse0.5      learned-mult4 with half the KL reversed (--distill-reverse 0.5)
#   reverse1        learned-mult4 with the reverse KL alone (--distill-reverse 1)
# Each arm's line in $OUT/results.tsv: name, wiki.valid.raw perplexity, the
# mean tokens/s of its steps, and on the validation chat prompts
# (prompts/chat-val.tsv, never prompts/chat-eval.tsv: that set only scores
# the recipe chosen) the answers right and the share of the parent's answer
# words repeated from the start (scripts/chat_score.py). An arm already
# there is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 WORK PARENT" >&2; exit 2; }
WORK=$1 PARENT=$2
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/study-e2e}
TRIT=${TRIT:-build/trit}
STEPS=${STEPS:-200}
ARMS=${ARMS:-mse learned learned-lr1e-3 learned-lr2e-3 learned-mult4 learned-lr1e-3-mult4}
mkdir -p "$OUT"
RES=$OUT/results.tsv
[ -f "$RES" ] || printf 'arm\twiki_valid_ppl\ttokens_per_s\tchat_val\tparent_words_pct\n' > "$RES"
for arm in $ARMS; do
    grep -q "^$arm	" "$RES" && { echo "$arm: done"; continue; }
    case $arm in
        mse) flags=(--scale mse --lr 5e-4) ;;
        learned) flags=(--scale learned --lr 5e-4) ;;
        learned-lr1e-3) flags=(--scale learned --lr 1e-3) ;;
        learned-lr2e-3) flags=(--scale learned --lr 2e-3) ;;
        learned-mult4) flags=(--scale learned --lr 5e-4 --scale-lr-mult 4) ;;
        learned-lr1e-3-mult4) flags=(--scale learned --lr 1e-3 --scale-lr-mult 4) ;;
        learned-lr2e-4-mult4) flags=(--scale learned --lr 2e-4 --scale-lr-mult 4) ;;
        reverse0.5) flags=(--scale learned --lr 5e-4 --scale-lr-mult 4 --distill-reverse 0.5) ;;
        reverse1) flags=(--scale learned --lr 5e-4 --scale-lr-mult 4 --distill-reverse 1) ;;
        *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    rm -rf "${OUT:?}/$arm"
    "$TRIT" train --model "$WORK/start" --teacher "$PARENT" --data "$WORK/e2e-text.tokens" --out "$OUT/$arm" \
        --steps "$STEPS" --warmup $((STEPS / 10)) --batch-size 2 --seq-len 256 --distill --distill-alpha 0 \
        --keep-embedding bf16 --group-size 64 --weight-decay 0 --min-lr 2.5e-5 \
        --val "$DATA/wikitext-2-raw/wiki.valid.raw" --eval-tokens 16384 --eval-every 0 --checkpoint-every 0 \
        "${flags[@]}" > "$OUT/$arm.log" 2>&1
    ppl=$(grep -o "step $STEPS: validation ppl [0-9.]*" "$OUT/$arm.log" | awk '{print $NF}')
    tps=$(python3 -c "import json,sys; r=[x for x in map(json.loads, open(sys.argv[1])) if 'tokens_per_s' in x]; \
print(round(sum(x['tokens_per_s'] for x in r[1:]) / max(1, len(r) - 1), 1))" "$OUT/$arm/train.jsonl")
    python3 scripts/chat_score.py "$PARENT" "$OUT/$arm" --prompts prompts/chat-val.tsv --trit "$TRIT" \
        > "$OUT/$arm.chat" 2>&1
    chat=$(grep -o "^$OUT/$arm: [0-9]* of [0-9]* answered" "$OUT/$arm.chat" | awk '{print $2}')
    words=$(grep -o "[0-9.]* % of .*'s words" "$OUT/$arm.chat" | awk '{print $1}')
    printf '%s\t%s\t%s\t%s\t%s\n' "$arm" "$ppl" "$tps" "$chat" "$words" >> "$RES"
    echo "$arm: wiki.valid.raw $ppl, $tps tok/s, chat-val $chat, parent's words $words %"
done
