#!/bin/sh
# test_serve_http: `trit serve` through the official openai client and raw
# HTTP (tools/reference/check_serve.py): chat, completions, streaming, stop
# strings, seeded sampling, greedy answers equal to `trit generate`, eight
# concurrent clients, every bad request, disconnects, timeouts, a full
# queue, the API key, SIGTERM, a load run; the real SmolLM2 answering; the
# chat page in headless chromium. Without the openai client, selenium or
# the SmolLM2 GGUF this is a skip, and a failure under CI=true.
BIN=${TRIT_BIN:-build/trit}
cd "$(dirname "$0")/.."
SMOL=models/SmolLM2-135M-Instruct.Q4_1.gguf
missing=""
python3 -c "import openai" 2>/dev/null || missing="$missing the openai client;"
python3 -c "import selenium" 2>/dev/null && command -v chromium >/dev/null || missing="$missing selenium and chromium;"
[ -f "$SMOL" ] || missing="$missing $SMOL (scripts/fetch-smollm2.sh);"
if [ -n "$missing" ] && [ "${CI:-}" = true ]; then
    echo "FAIL test_serve_http: CI=true and missing:$missing"
    echo "test_serve_http: 0 passed, 1 failed"; exit 1
fi
if ! python3 -c "import openai" 2>/dev/null; then
    echo "SKIP test_serve_http: needs the openai client (scripts/install-python-deps.sh)"
    echo "test_serve_http: 0 passed, 0 failed"; exit 0
fi
T=$(mktemp -d /tmp/trit_test_serve_http_XXXXXX); trap 'rm -rf "$T"' EXIT
"$BIN" import --gguf tests/fixtures/gguf_models/llama.gguf --out "$T/tiny" >/dev/null || {
    echo "test_serve_http: 0 passed, 1 failed"; exit 1; }
set -- --bin "$BIN" --tiny "$T/tiny"
if [ -f "$SMOL" ]; then
    "$BIN" import --gguf "$SMOL" --out "$T/smol" >/dev/null && set -- "$@" --smol "$T/smol"
fi
python3 -c "import selenium" 2>/dev/null && command -v chromium >/dev/null && set -- "$@" --browser
[ -n "$missing" ] && echo "SKIP (part of) test_serve_http: missing:$missing"
python3 tools/reference/check_serve.py "$@"
