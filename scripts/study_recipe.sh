#!/usr/bin/env bash
# The recipe study of README "A ternary model worth using": SmolLM2-135M-Instruct
# (imported from its PyPI GGUF), group size 64, every arm from the same start and
# the same data order (seed 0, WikiText-2 train), each reported as perplexity on
# the first 65,536 tokens of wiki.test.raw and of wiki.valid.raw, bits per weight
# of its packed GGUF, and greedy chat answers.
#
#   scripts/study_recipe.sh                 # the arms at the seed's budget (250 steps x 2 x 256)
#   ARMS="distill_keep_10x" BEST_FLAGS="--distill --keep-embedding bf16" scripts/study_recipe.sh   # resumes too
#   ARMS="long" LONG_STEPS=3000 scripts/study_recipe.sh   # resumes from its last checkpoint
#   OUT=runs/study-lr5e-4 LR=5e-4 ARMS="seed distill" scripts/study_recipe.sh   # another peak learning rate
#   OUT=runs/study-bf16 PRECISION=bf16 ARMS="seed" scripts/study_recipe.sh      # trit train --precision
#
# Arms (ARMS= picks; default: parent converted seed distill distill_ramp distill_keep):
#   parent        the fp parent                converted   ternary straight after conversion
#   seed          the seed recipe              distill     + distillation from the parent
#   distill_ramp  + --quant-ramp 50            distill_keep + --keep-embedding bf16
#   distill_ramp_keep   all three              gen_distill  distillation on text the parent wrote
#                                              (trit synth: SYNTH_SAMPLES samples of 16 + 240
#                                              ids, prompts cut from WikiText-2 train; the last
#                                              64 held back and scored by every arm listed in
#                                              HELDOUT_ARMS, into heldout.tsv)
#   <best>_10x    BEST_FLAGS at 2500 steps     long        BEST_FLAGS for LONG_STEPS steps, checkpoints
# Results go to $OUT (runs/study): one directory per arm and results.tsv, one
# line per arm, which the README's table is read from. An arm whose line is
# already there is skipped; delete the line (or the directory) to rerun it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/study}
TRIT=${TRIT:-build/trit}
ARMS=${ARMS:-parent converted seed distill distill_ramp distill_keep}
EVAL_TOKENS=${EVAL_TOKENS:-65536}
STEPS=${STEPS:-250}
LR=${LR:-1e-4}
LONG_STEPS=${LONG_STEPS:-3000}
BEST_FLAGS=${BEST_FLAGS:---distill}
SYNTH_SAMPLES=${SYNTH_SAMPLES:-2000}
HELDOUT_ARMS=${HELDOUT_ARMS:-parent seed distill gen_distill}
PRECISION=${PRECISION:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

TEST=$DATA/wikitext-2-raw/wiki.test.raw
VALID=$DATA/wikitext-2-raw/wiki.valid.raw
TRAIN=$DATA/wikitext-2/train.txt
PARENT=$OUT/parent
PROMPTS=("What is the capital of France?" "Write one sentence about the sea." "How many legs does a spider have?")

[ -x "$TRIT" ] || make -j"$(nproc)"
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
[ -s "$RESULTS" ] || printf 'arm\tsteps\ttrain_tokens\ttest_ppl\tvalid_ppl\tbits_per_weight\ttrain_s\n' > "$RESULTS"

if [ ! -s "$PARENT/model.safetensors" ]; then
    GGUF=$(scripts/fetch-smollm2.sh)
    rm -rf "$PARENT"
    "$TRIT" import --gguf "$GGUF" --out "$PARENT"
fi

ppl() { "$TRIT" eval --model "$1" --data "$2" --max-tokens "$EVAL_TOKENS" 2>/dev/null | awk '/^ppl /{print $2}'; }

# Exports the arm's model packed (Q2_0; a kept embedding as bf16) and prints
# the bits per weight of the whole file's weights, as trit export reports them.
bpw() {
    local emb=q2_0 type=q2_0
    grep -q '"trit_quantization": "ternary g64 absmean, embedding bf16' "$1/config.json" && emb=bf16
    grep -q '"trit_quantization": "ternary g64 absmean, embedding fp32' "$1/config.json" && emb=f32
    grep -q '"trit_quantization"' "$1/config.json" || { type=f32; emb=f32; }
    "$TRIT" export --model "$1" --out "$1.gguf" --type "$type" --embedding-type "$emb" |
        sed -n 's/.* \([0-9.]*\) bits per weight.*/\1/p'
}

chat() {
    for p in "${PROMPTS[@]}"; do
        printf '> %s\n' "$p"
        "$TRIT" generate --model "$1" --chat --greedy --max-tokens 40 --prompt "$p" 2>/dev/null
        printf '\n'
    done > "$1.chat.txt"
}

record() {  # arm dir steps seconds
    local test valid bits
    test=$(ppl "$2" "$TEST")
    valid=$(ppl "$2" "$VALID")
    bits=$(bpw "$2")
    chat "$2"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$3" $(($3 * 512)) "$test" "$valid" "$bits" "$4" >> "$RESULTS"
    printf '%s: test ppl %s, valid ppl %s, %s bits per weight (%s s of training)\n' "$1" "$test" "$valid" "$bits" "$4"
}

# Seconds of training in DIR/train.jsonl: its last elapsed_s (a resume
# carries the clock on from the checkpoint step's).
train_seconds() {
    sed -n 's/.*"elapsed_s":\([0-9.]*\).*/\1/p' "$1/train.jsonl" | awk 'END { printf "%.0f\n", $1 }'
}

train() {  # arm steps flags... (DATA_FILE= another training file)
    local arm=$1 steps=$2 dir=$OUT/$1 resume=()
    shift 2
    local last
    last=$(ls -d "$dir"/ckpt-* 2>/dev/null | sort -t- -k2 -n | tail -n 1 || true)
    [ -n "$last" ] && resume=(--resume "$last")
    "$TRIT" train --model "$PARENT" --data "${DATA_FILE:-$TRAIN}" --val "$VALID" --out "$dir" --group-size 64 \
        --steps "$steps" --lr "$LR" --seed 0 --eval-every 50 --eval-tokens 16384 ${PRECISION:+--precision "$PRECISION"} \
        "${resume[@]}" "$@"
    record "$arm" "$dir" "$steps" "$(train_seconds "$dir")"
}

for arm in $ARMS; do
    if grep -q "^$arm	" "$RESULTS"; then echo "$arm: already in $RESULTS"; continue; fi
    case $arm in
        parent) record parent "$PARENT" 0 0 ;;
        converted)
            "$TRIT" quantize --model "$PARENT" --out "$OUT/converted" --group-size 64 --method absmean >/dev/null
            record converted "$OUT/converted" 0 0 ;;
        seed) train seed "$STEPS" ;;
        distill) train distill "$STEPS" --distill ;;
        distill_ramp) train distill_ramp "$STEPS" --distill --quant-ramp 50 ;;
        distill_keep) train distill_keep "$STEPS" --distill --keep-embedding bf16 ;;
        distill_ramp_keep) train distill_ramp_keep "$STEPS" --distill --quant-ramp 50 --keep-embedding bf16 ;;
        gen_distill)
            GEN=$OUT/parent-synth.tokens
            [ -s "$GEN" ] || "$TRIT" synth --model "$PARENT" --prompts "$TRAIN" --out "$GEN" \
                --samples $((SYNTH_SAMPLES + 64)) --holdout 64 --batch-size 16 --prompt-tokens 16 --max-tokens 240 --seed 0
            DATA_FILE=$GEN train gen_distill "$STEPS" --distill
            printf 'arm\theldout_ppl\n' > "$OUT/heldout.tsv"
            for a in $HELDOUT_ARMS; do
                [ -d "$OUT/$a" ] && printf '%s\t%s\n' "$a" "$(ppl "$OUT/$a" "$GEN.holdout.txt")" >> "$OUT/heldout.tsv"
            done
            cat "$OUT/heldout.tsv" ;;
        *_10x) train "$arm" $((10 * STEPS)) $BEST_FLAGS --checkpoint-every 250 ;;
        long) train long "$LONG_STEPS" $BEST_FLAGS --checkpoint-every 250 ;;
        *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
done
column -t -s "$(printf '\t')" "$RESULTS"
