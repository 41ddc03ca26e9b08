#!/bin/sh
# Installs the Python clients the interop test checks trit's files with
# (tests/test_interop.sh, tools/reference/check_llama_cpp.py): stock
# llama.cpp through llama-cpp-python 0.3.36 (sdist only: pip builds the
# llama.cpp it vendors, ~11 minutes on 2 cores, then reuses the cached
# wheel), the PyPI gguf package 0.19, safetensors and numpy; trit serve's
# clients: the official openai client, selenium (the chat page in chromium),
# and llama-cpp-python's own server's extras (bench/bench_serve.py's baseline).
set -eu
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}"
PKGS="llama-cpp-python==0.3.36 gguf==0.19.0 safetensors numpy openai==3.63.0 selenium==4.51.0 jinja2
      uvicorn==0.55.0 fastapi==0.165.0 sse-starlette==3.7.1 starlette-context==0.3.6 pydantic-settings==2.14.1"
if ! python3 -m pip install --quiet $PKGS 2>/tmp/pip-err.$$; then
    # Debian's own python3 refuses system-wide installs without this flag.
    if grep -q externally-managed /tmp/pip-err.$$; then
        python3 -m pip install --quiet --break-system-packages $PKGS
    else
        cat /tmp/pip-err.$$ >&2; rm -f /tmp/pip-err.$$; exit 1
    fi
fi
rm -f /tmp/pip-err.$$
python3 -c "import llama_cpp, llama_cpp.server.app, gguf, openai, selenium; print('llama-cpp-python', llama_cpp.__version__, '/ gguf', gguf.__version__ if hasattr(gguf, '__version__') else '0.19')"
