#!/bin/sh
# test_golden.sh — what the command line prints, pinned: greedy and sampled
# ids of a real model (SmolLM2-135M-Instruct imported in fp32, and its
# absmean ternary form packed), beams, speculative decoding (lookup, a draft
# model, a tree) and eval perplexity to the last printed digit, compared with
# tests/fixtures/golden/expected.txt. A refactor that moves any of them fails
# here. The models are made by trit itself (import, quantize, export), so the
# fixture is the expected text alone; every command below is deterministic
# by construction (fixed summation orders, seeded sampling, prompts under 64
# tokens so fp32 products use the fixed-order kernels), and each runs under
# every packed-kernel set this CPU has (TRIT_QKERNELS), which must agree bit
# for bit.
# Deterministic is not portable: OpenBLAS picks its kernels by CPU, and the
# compiler vectorises `omp simd` sums only at -O2 and above, so the last bits
# (and, through a near-uniform sampling draw or an int8 activation rounding,
# whole tokens) depend on the CPU and the build. The expected file names the
# CPU it was made on; the exact comparison runs on that CPU with the shipped
# build. Elsewhere (another CPU, or make san's -O1) every command must still
# succeed and print its line, and the kernel sets must agree with each other.
#   tests/test_golden.sh --update   rewrites the expected file (review the diff)
BIN=${TRIT_BIN:-build/trit}
DATA=${TRIT_DATA:-../shared/data}
SMOL=models/SmolLM2-135M-Instruct.Q4_1.gguf
WIKI=$DATA/wikitext-2-raw/wiki.test.raw
EXPECTED=tests/fixtures/golden/expected.txt
T=$(mktemp -d /tmp/trit_test_golden_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0

if [ ! -f "$SMOL" ] || [ ! -f "$WIKI" ]; then
    if [ "$CI" = true ]; then echo "FAIL test_golden: CI=true and $SMOL or $WIKI is missing"; fail=1
    else echo "SKIP test_golden: needs $SMOL (scripts/fetch-smollm2.sh) and $WIKI (TRIT_DATA)"; fi
    if synth_chat_check; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL test_golden: synth --chat"; fi
echo "test_golden: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit
fi

set -e
"$BIN" import --gguf "$SMOL" --out "$T/m" >/dev/null 2>&1
"$BIN" quantize --model "$T/m" --out "$T/q" --group-size 64 --method absmean >/dev/null 2>&1
"$BIN" export --model "$T/q" --out "$T/q.gguf" >/dev/null 2>&1
set +e
head -c 20000 "$WIKI" > "$T/wiki.txt"

PR="The capital of France is"
PR2="The tower is 324 metres tall, about the same height as an 81-storey building. The tower is"
# One line per command: its label, then its stdout (JSON or the ppl line).
run_all() {
    # A speculative run's "spec" figures (timings) are not outputs: left out.
    g() { label=$1; shift; printf '%s ' "$label"; "$BIN" generate --json "$@" 2>/dev/null | tr -d '\n' |
          sed 's/, "spec": {[^}]*}//'; echo; }
    g greedy_fp32       --model "$T/m" --prompt "$PR" --max-tokens 12 --greedy
    g chat_fp32         --model "$T/m" --prompt "What is the capital of France?" --chat --max-tokens 16 --greedy
    g greedy_packed     --model "$T/q.gguf" --prompt "$PR2" --max-tokens 12 --greedy
    g greedy_pack_load  --model "$T/q" --pack auto --prompt "$PR2" --max-tokens 12 --greedy
    g sample_fp32       --model "$T/m" --prompt "$PR" --max-tokens 12 --seed 5 --temperature 0.9 --top-k 50 --top-p 0.9
    g sample_packed     --model "$T/q.gguf" --prompt "$PR" --max-tokens 12 --seed 5 --temperature 1.2 --top-k 0
    g beams_fp32        --model "$T/m" --prompt "$PR" --max-tokens 8 --num-beams 3 --num-return-sequences 2
    g beams_packed_lp   --model "$T/q.gguf" --prompt "$PR2" --max-tokens 6 --num-beams 2 --length-penalty 0.5 \
                        --early-stopping true
    g spec_lookup       --model "$T/m" --prompt "$PR2" --max-tokens 16 --greedy --draft lookup --draft-tokens 3
    g spec_lookup_samp  --model "$T/m" --prompt "$PR2" --max-tokens 16 --seed 9 --temperature 0.8 --draft lookup
    g spec_draft_chain  --model "$T/m" --prompt "$PR" --max-tokens 12 --greedy --draft "$T/q.gguf"
    g spec_draft_tree   --model "$T/m" --prompt "$PR" --max-tokens 12 --greedy --draft "$T/q" --draft-pack auto \
                        --draft-tree 2
    g spec_draft_samp   --model "$T/m" --prompt "$PR" --max-tokens 10 --seed 3 --temperature 0.7 --draft "$T/q.gguf"
    e() { label=$1; shift; printf '%s ' "$label"; "$BIN" eval --data "$T/wiki.txt" "$@" 2>/dev/null | tail -n 1; }
    e eval_fp32         --model "$T/m" --seq-len 32 --batch-size 2 --max-tokens 512
    e eval_packed       --model "$T/q.gguf" --seq-len 128 --max-tokens 1024
    e eval_pack_load    --model "$T/q" --pack auto --seq-len 48 --batch-size 3 --max-tokens 700
}

# trit synth --chat with top-k 1 writes, per prompt, the chat-formatted
# prompt and exactly the answer `generate --chat --greedy` gives (the
# sampler at k = 1 is the argmax; the samples decode side by side).
synth_chat_check() {
    printf 'Name a planet.\nWhat is 7 + 6?\n' > "$T/chat.txt"
    "$BIN" synth --chat --model "$T/m" --prompts "$T/chat.txt" --out "$T/chat.tokens" --samples 2 --batch-size 2 \
        --top-k 1 --max-tokens 16 >/dev/null 2>&1 || { echo "FAIL test_golden: synth --chat failed"; return 1; }
    for p in "Name a planet." "What is 7 + 6?"; do
        "$BIN" generate --json --model "$T/m" --chat --greedy --max-tokens 16 --prompt "$p" 2>/dev/null; echo
    done > "$T/chat.json"
    python3 - "$T/chat.tokens" "$T/chat.json" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[32:40])[0]
got = list(struct.unpack("<%dI" % n, b[40:40 + 4 * n]))
want = []
for line in open(sys.argv[2]):
    if line.strip():
        g = json.loads(line)
        want += g["prompt_ids"] + g["ids"]
        want.append(got[len(want)])  # the end-of-text id synth puts after each sample
sys.exit(0 if got == want else "synth --chat %s != generate --chat --greedy %s" % (got, want))
PY
}
# The CPU: its model name and a digest of its feature flags.
cpu_id() {
    printf '%s %s' "$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //')" \
        "$(grep -m1 '^flags' /proc/cpuinfo | md5sum | cut -c1-12)"
}
if [ "$1" = --update ]; then
    { echo "# made on: $(cpu_id)"; run_all; } > "$EXPECTED"
    echo "wrote $EXPECTED ($(wc -l < "$EXPECTED") lines)"
    exit 0
fi
[ -f "$EXPECTED" ] || { echo "FAIL test_golden: no $EXPECTED (tests/test_golden.sh --update)"; echo "test_golden: 0 passed, 1 failed"; exit 1; }

# Under the sanitizers (make san) one kernel set: the commands are the same,
# and the ISAs' agreement is make test's to check.
ISAS="ref avx2 avx512"; [ "${TRIT_SAN:-}" = 1 ] && ISAS=auto
EXACT=1
if [ "${TRIT_SAN:-}" = 1 ]; then EXACT=0; echo "test_golden: sanitizer build (-O1), outputs checked for shape only"
elif [ "$(head -n 1 "$EXPECTED")" != "# made on: $(cpu_id)" ]; then
    EXACT=0; echo "test_golden: $EXPECTED was made on another CPU ($(head -n 1 "$EXPECTED" | cut -c12-)," \
        "this is $(cpu_id)): outputs checked for shape and ISA agreement only"
fi
first=
for isa in $ISAS; do
    case $isa in
        avx2) grep -q -w avx2 /proc/cpuinfo || continue ;;
        avx512) grep -q -w avx512_vnni /proc/cpuinfo && grep -q -w avx512bw /proc/cpuinfo || continue ;;
    esac
    TRIT_QKERNELS=$isa run_all > "$T/got-$isa.txt"
    grep -v '^#' "$EXPECTED" | while IFS= read -r line; do
        label=${line%% *}
        got=$(grep "^$label " "$T/got-$isa.txt")
        if [ "$EXACT" = 1 ]; then
            [ "$got" = "$line" ] && echo ok || { echo "FAIL test_golden [$isa] $label:"; echo "  want: $line"; echo "  got:  $got"; }
        else case $got in
            "$label {"*'"ids": ['*|"$label "*"ppl "[0-9]*) echo ok ;;
            *) echo "FAIL test_golden [$isa] $label: no output ($got)" ;;
        esac; fi
    done > "$T/res-$isa.txt"
    pass=$((pass + $(grep -c '^ok$' "$T/res-$isa.txt"))); fail=$((fail + $(grep -c '^FAIL' "$T/res-$isa.txt")))
    grep -v '^ok$' "$T/res-$isa.txt"
    if [ -z "$first" ]; then first=$isa
    elif cmp -s "$T/got-$first.txt" "$T/got-$isa.txt"; then pass=$((pass + 1))
    else fail=$((fail + 1)); echo "FAIL test_golden: TRIT_QKERNELS=$isa does not print what $first does:"
        diff "$T/got-$first.txt" "$T/got-$isa.txt" | head -n 6; fi
done
if synth_chat_check; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL test_golden: synth --chat"; fi
echo "test_golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
