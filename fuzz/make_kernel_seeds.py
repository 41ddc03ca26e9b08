#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/fuzz_kernels.c into fuzz/seeds/kernels/:
for every entry of trit's ggml type table (index 0..N-1, taken modulo the
table size by the target), a few shapes and activation modes over random
block bytes. Deterministic (seed 0), so rerunning rewrites the same files.

    python3 fuzz/make_kernel_seeds.py
"""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "kernels")
N_TYPES = 16  # at least trit's table size; larger indices wrap around


def main():
    rng = random.Random(0)
    os.makedirs(OUT, exist_ok=True)
    for t in range(N_TYPES):
        for k, (rows, n, cols, mode) in enumerate([(0, 0, 0, 0), (3, 2, 1, 1), (7, 3, 3, 2), (1, 1, 0, 0x83)]):
            body = bytes(rng.randrange(256) for _ in range(rng.choice([64, 512, 2048])))
            with open(os.path.join(OUT, f"type{t:02d}_{k}.bin"), "wb") as f:
                f.write(bytes([t, rows, n, cols, mode]) + body)


if __name__ == "__main__":
    main()
