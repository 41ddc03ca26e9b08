#!/usr/bin/env bash
# Runs each libFuzzer target (make fuzz) for SECONDS from its seeds, its
# corpus kept between runs, and prints a table: executions, executions a
# second, coverage (edges and features), corpus size, findings. Any
# sanitizer report, crash, leak, timeout or out-of-memory is a finding: the
# fuzz builds stop at the first report (-fno-sanitize-recover=all), its
# reproducer is kept under build-fuzz/findings/, its log is printed, and
# the script exits 1.
#
#   scripts/fuzz.sh SECONDS [TARGET...]      TARGET: tokenizer, gguf, ... (default: all)
#   FUZZ_JOBS=2 scripts/fuzz.sh 600          two targets at a time (one core each)
#   make fuzz-long                           every target for FUZZ_SECONDS (600)
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
jobs=${FUZZ_JOBS:-1}
corpus_root=${FUZZ_CORPUS:-build-fuzz/corpus}
findings=build-fuzz/findings
logs=build-fuzz/logs
mkdir -p "$findings" "$logs"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in build-fuzz/fuzz_*; do targets+=("${f#build-fuzz/fuzz_}"); done
fi

# A target's seeds: fuzz/seeds/NAME, or those of the format it reads.
seeds_of() {
    case $1 in
    gguf_import) echo fuzz/seeds/gguf ;;
    *) echo "fuzz/seeds/$1" ;;
    esac
}

run_one() {
    local name=$1 bin=build-fuzz/fuzz_$1 log=$logs/$1.log
    [ -x "$bin" ] || { echo "no $bin: run make fuzz" >"$log"; return 1; }
    mkdir -p "$corpus_root/$name"
    local dict=() seeds
    seeds=$(seeds_of "$name")
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=30 -rss_limit_mb=2048 \
        -artifact_prefix="$findings/$name-" "${dict[@]}" "$corpus_root/$name" "$seeds" >"$log" 2>&1
}

status=0
pids=()
for name in "${targets[@]}"; do
    run_one "$name" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait

printf '%-14s %8s %12s %10s %7s %8s %7s  %s\n' target seconds executions 'exec/s' cov ft corpus findings
for name in "${targets[@]}"; do
    log=$logs/$name.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(find "$corpus_root/$name" -type f | wc -l)
    # The run's own verdict, and any report it printed (a sanitizer that
    # carried on would still say so here).
    found=0
    if grep -qE 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|SUMMARY: |^no build-fuzz' "$log" ||
        ! grep -q '^Done [0-9]* runs' "$log"; then
        found=1
    fi
    printf '%-14s %8s %12s %10s %7s %8s %7s  %s\n' "$name" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corp" \
        "$([ $found = 1 ] && echo "FOUND (log: $log)" || echo none)"
    if [ $found = 1 ]; then
        status=1
        tail -n 40 "$log" | sed "s/^/  $name: /" >&2
    fi
done
exit $status
