#!/bin/sh
# Installs the Python clients the interop test checks trit's files with
# (tests/test_interop.sh, tools/reference/check_llama_cpp.py): stock
# llama.cpp through llama-cpp-python 0.3.36 (sdist only: pip builds the
# llama.cpp it vendors, ~11 minutes on 2 cores, then reuses the cached
# wheel), the PyPI gguf package 0.19, safetensors and numpy.
set -eu
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}"
PKGS="llama-cpp-python==0.3.36 gguf==0.19.0 safetensors numpy"
if ! python3 -m pip install --quiet $PKGS 2>/tmp/pip-err.$$; then
    # Debian's own python3 refuses system-wide installs without this flag.
    if grep -q externally-managed /tmp/pip-err.$$; then
        python3 -m pip install --quiet --break-system-packages $PKGS
    else
        cat /tmp/pip-err.$$ >&2; rm -f /tmp/pip-err.$$; exit 1
    fi
fi
rm -f /tmp/pip-err.$$
python3 -c "import llama_cpp, gguf; print('llama-cpp-python', llama_cpp.__version__, '/ gguf', gguf.__version__ if hasattr(gguf, '__version__') else '0.19')"
