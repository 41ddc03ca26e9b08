#!/bin/sh
# Decoding beside other work (part of make bench): a decode step's time
# (bench_decode, 2 threads) alone, then while another OpenMP job runs on the
# same cores (trit eval of the same model in a loop, 2 threads: what a
# second trit job, a server's batch or a training run does to a decode).
# Usage: bench/bench_load.sh BUILD_DIR DATA_DIR MODEL...
# To compare two builds, run it once with each, one after the other.
set -eu
BUILD=$1
DATA=$2
shift 2
TEXT=$DATA/wikitext-2-raw/wiki.test.raw
step() { OMP_NUM_THREADS=2 "$BUILD/bench_decode" "$1" 64 2>&1 | head -n 1 | sed 's/.*positions: //'; }
for m in "$@"; do
    echo "$m alone:        $(step "$m")"
    OMP_NUM_THREADS=2 sh -c "while :; do \"$BUILD/trit\" eval --model \"$m\" --data \"$TEXT\" --max-tokens 8192 \
        --seq-len 512 > /dev/null 2>&1; done" &
    busy=$!
    sleep 3
    echo "$m beside eval:  $(step "$m")"
    kill $busy
    wait $busy 2>/dev/null || true
    pkill -f "$BUILD/trit eval --model $m" 2>/dev/null || true
done
