#!/usr/bin/env bash
# The calibrated-start ladder of README "A calibrated ternary start": SmolLM2-135M-
# Instruct (imported from its PyPI GGUF), group 64, `trit quantize` by each method,
# no training; each arm's perplexity on the first EVAL_TOKENS tokens of
# wiki.test.raw (windows of 512; the calibration text is WikiText-2 train, which
# the test split does not overlap), with the embedding / LM head kept in bf16 and
# all-ternary, and the seconds the conversion took.
#
#   scripts/study_quantize.sh                       # every arm
#   ARMS="gptq-32k-bf16" scripts/study_quantize.sh  # one arm
#
# Arms: parent; absmean, mse, mse-32k (weighted by calibration), gptq-8k, gptq-32k,
# gptq-32k-bal (the inputs balanced first, --balance), gptq-32k-qep (QEP's
# correction first, --qep 1), each with -bf16 (embedding kept) or -t (all ternary). Results go to $OUT
# (runs/study-quantize)/results.tsv, one line per arm; an arm already there is
# skipped (delete its line to rerun it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/study-quantize}
TRIT=${TRIT:-build/trit}
EVAL_TOKENS=${EVAL_TOKENS:-16384}
GROUP=${GROUP:-64}
ARMS=${ARMS:-parent absmean-bf16 mse-bf16 mse-32k-bf16 gptq-8k-bf16 gptq-32k-bf16 gptq-32k-bal-bf16 gptq-32k-qep-bf16 absmean-t mse-t gptq-32k-t gptq-32k-bal-t gptq-32k-qep-t}
PARENT=$OUT/parent
TEST=$DATA/wikitext-2-raw/wiki.test.raw
CALIB=$DATA/wikitext-2/train.txt
mkdir -p "$OUT"
[ -f "$PARENT/config.json" ] || "$TRIT" import --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --out "$PARENT"
RES=$OUT/results.tsv
[ -f "$RES" ] || printf 'arm\tmethod\tcalib_tokens\tembedding\tseconds\twiki_test_ppl\n' > "$RES"

for arm in $ARMS; do
    grep -q "^$arm	" "$RES" && { echo "$arm: done"; continue; }
    dir=$OUT/$arm
    if [ "$arm" = parent ]; then
        method=- tokens=0 keep=fp32 secs=0 dir=$PARENT
    else
        method=${arm%%-*}
        case $arm in *-bf16) keep=bf16 ;; *) keep=none ;; esac
        case $arm in *-32k-*) tokens=32768 ;; *-8k-*) tokens=8192 ;; *) tokens=0 ;; esac
        calib=()
        [ "$tokens" -gt 0 ] && calib=(--calib "$CALIB" --calib-tokens "$tokens")
        case $arm in *-bal-*) calib+=(--balance) ;; *-qep-*) calib+=(--qep 1) ;; esac
        t0=$(date +%s.%N)
        "$TRIT" quantize --model "$PARENT" --out "$dir" --group-size "$GROUP" --method "$method" \
            --keep-embedding "$keep" "${calib[@]}" >/dev/null
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
        "$TRIT" verify "$dir" --quiet >/dev/null
    fi
    ppl=$("$TRIT" eval --model "$dir" --data "$TEST" --max-tokens "$EVAL_TOKENS" --batch-size 4 2>/dev/null | awk '/^ppl/ {print $2}')
    printf '%s\t%s\t%s\t%s\t%.0f\t%s\n' "$arm" "$method" "$tokens" "$keep" "$secs" "$ppl" | tee -a "$RES"
done
column -t -s "$(printf '\t')" "$RES"
