#!/bin/sh
# Tokenizer speed: trit vs Hugging Face tokenizers on WikiText-2 train (10.8 MB).
# Usage: bench/bench_tokenizer.sh [TRIT_BIN] [DATA_DIR]   (run manually or by `make bench`)
# Prints MB/s for each (best of 3, tokenizer loading excluded) and the ratio.
# Both encode the whole file as one string, add_special_tokens=False; HF's
# encode_batch over lines (multi-threaded) is shown as well.
set -eu
TRIT=${1:-build/trit}
DATA=${2:-../shared/data}
TOK=$DATA/qwen3-tokenizer/tokenizer.json
TEXT=$DATA/wikitext-2/train.txt
HERE=$(dirname "$0")
for f in "$TRIT" "$TOK" "$TEXT"; do
    [ -e "$f" ] || { echo "bench_tokenizer: missing $f" >&2; exit 1; }
done

best=0
for i in 1 2 3; do
    # "tokenized N bytes into M tokens in S s (X MB/s)" on stderr
    line=$("$TRIT" tokenize --tokenizer "$TOK" --time --count "$TEXT" 2>&1 >/dev/null)
    mbs=$(printf '%s\n' "$line" | sed -nE 's/.*\(([0-9.]+) MB\/s\).*/\1/p')
    best=$(awk -v a="$best" -v b="$mbs" 'BEGIN { print (b > a) ? b : a }')
done
ntok=$("$TRIT" tokenize --tokenizer "$TOK" --count "$TEXT")
echo "trit encode: $ntok tokens, $best MB/s (best of 3, one thread)"

if python3 -c 'import tokenizers' 2>/dev/null; then
    out=$(python3 "$HERE/hf_tokenize_speed.py" "$TOK" "$TEXT" --batch --repeat 3)
    printf '%s\n' "$out" | sed 's/^/  /'
    hf=$(printf '%s\n' "$out" | awk '$2 == "encode" { print $(NF-1) }')
    hfb=$(printf '%s\n' "$out" | awk '$2 == "encode_batch" { print $(NF-1) }')
    hfn=$(printf '%s\n' "$out" | awk '$2 == "encode" { print $5 }')
    [ "$hfn" = "$ntok" ] && echo "  token counts agree ($ntok)" || echo "  WARNING: HF gives $hfn tokens, trit $ntok"
    awk -v t="$best" -v h="$hf" -v b="$hfb" 'BEGIN {
        printf "trit / HF encode: %.1fx   trit / HF encode_batch (%s threads): %.1fx\n", t / h, ENVIRON["RAYON_NUM_THREADS"] ? ENVIRON["RAYON_NUM_THREADS"] : "all", t / b }'
else
    echo "HF tokenizers not installed (pip install tokenizers): no comparison"
fi
