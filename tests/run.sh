#!/bin/sh
# Runs every test binary given as an argument, prints each one's summary and
# a final "N passed, N failed" line; exits 1 if any binary failed or crashed.
passed=0; failed=0; bad=""
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)' || true
    line=$(printf '%s\n' "$out" | grep -E ': [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    echo "${line:-$t: no summary (exit $rc)}"
    p=$(printf '%s' "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); p=${p:-0}
    f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed$/\1/'); f=${f:-0}
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        bad="$bad $t"
        [ "$f" -eq 0 ] && failed=$((failed + 1))
        printf '%s\n' "$out" | tail -n 20
    fi
done
echo "$passed passed, $failed failed"
[ -z "$bad" ] || { echo "failing:$bad"; exit 1; }
