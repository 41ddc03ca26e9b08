#!/usr/bin/env python3
"""HF tokenizers' encoding speed on a text file, for bench/bench_tokenizer.sh.

Usage: hf_tokenize_speed.py TOKENIZER_JSON TEXT_FILE [--batch] [--repeat N]

Times Tokenizer.encode(text, add_special_tokens=False) on the whole file (one
call, as trit encodes it) and, with --batch, encode_batch on its lines (HF's
parallel path, using all cores; RAYON_NUM_THREADS limits it). Prints one line
per mode: "hf <mode> <bytes> bytes <tokens> tokens <seconds> s <MB/s> MB/s",
best of N runs (default 3). Loading the tokenizer is not timed.
"""
import sys
import time

from tokenizers import Tokenizer


def best_of(n, fn):
    best, out = None, None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    repeat = 3
    if "--repeat" in sys.argv:
        repeat = int(sys.argv[sys.argv.index("--repeat") + 1])
        args.remove(str(repeat))
    if len(args) != 2:
        sys.exit(__doc__)
    tok = Tokenizer.from_file(args[0])
    with open(args[1], encoding="utf-8", newline="") as f:
        text = f.read()
    nbytes = len(text.encode("utf-8"))

    dt, enc = best_of(repeat, lambda: tok.encode(text, add_special_tokens=False))
    print(f"hf encode {nbytes} bytes {len(enc.ids)} tokens {dt:.3f} s {nbytes / dt / 1e6:.1f} MB/s")
    if "--batch" in sys.argv:
        # keepends: the same bytes as the whole file, split at newlines.
        lines = text.splitlines(keepends=True)
        dt, encs = best_of(repeat, lambda: tok.encode_batch(lines, add_special_tokens=False))
        n = sum(len(e.ids) for e in encs)
        print(f"hf encode_batch {nbytes} bytes {n} tokens {dt:.3f} s {nbytes / dt / 1e6:.1f} MB/s")


if __name__ == "__main__":
    main()
