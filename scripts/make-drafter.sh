#!/bin/sh
# make-drafter.sh TARGET OUT [MINUTES]: a DFlash drafter for TARGET (an HF
# directory or a GGUF) in OUT, in about MINUTES (default 60) of this machine:
#   1. the target's own greedy answers to the repository's training prompts
#      (prompts/chat-train.txt) in its chat template (trit synth --chat), the
#      data the published drafters train on (the target's answers, so the
#      labels are what greedy decoding will verify);
#   2. trit train-drafter on them with the rest of the budget, the held-out
#      tau measured on prompts/drafter-val.txt (prompts no stage trains on).
# Rerunning the same command after a kill goes on where it stopped (the
# answers are kept in OUT.data/, training resumes from its checkpoint).
# Extra train-drafter flags: TRAIN_FLAGS="--layers 2 --block 16".
set -eu
[ $# -ge 2 ] || { echo "usage: scripts/make-drafter.sh TARGET OUT [MINUTES]" >&2; exit 2; }
TARGET=$1
OUT=$2
MINUTES=${3:-60}
BIN=${TRIT_BIN:-build/trit}
W=$OUT.data
mkdir -p "$W"
start=$(date +%s)
if [ ! -s "$W/answers.tokens" ]; then
    n=$(grep -cv '^\s*\(#\|$\)' prompts/chat-train.txt)
    "$BIN" synth --model "$TARGET" --prompts prompts/chat-train.txt --chat --samples "$n" --top-k 1 \
        --max-tokens 256 --batch-size 16 --out "$W/answers.tokens"
fi
spent=$(( ($(date +%s) - start + 59) / 60 ))
left=$((MINUTES - spent))
[ "$left" -ge 1 ] || { echo "make-drafter: the answers took the whole budget of $MINUTES minutes" >&2; exit 1; }
# shellcheck disable=SC2086
"$BIN" train-drafter --target "$TARGET" --data "$W/answers.tokens" --out "$OUT" --minutes "$left" \
    --seq-len 256 --val-prompts prompts/drafter-val.txt --val-tokens 64 ${TRAIN_FLAGS:-}
