#!/bin/sh
# The main job on a fresh machine: install dependencies, build, and make a
# ternary model from a pretrained one, on WikiText-2 from ../shared/data.
#
#   scripts/quickstart.sh ~/Qwen3-0.6B   # your HF Qwen3 checkpoint directory
#   scripts/quickstart.sh                # no checkpoint at hand: first pretrain a small
#                                        # full-precision Qwen3 on WikiText-2 (configs/)
#
# Then, on that parent: perplexity, the ternary recipe (trit train), trit verify,
# perplexity of the ternary model on WikiText-2 valid and raw test, a few
# generations. Everything lands in runs/. Environment: DATA (../shared/data),
# PARENT_STEPS (1000), STEPS (250, the recipe), EVAL_TOKENS (65536 per file; 0 = whole files).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2
exec scripts/ternary_pipeline.sh "$@"
