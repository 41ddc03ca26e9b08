#!/usr/bin/env python3
"""GGUF and ggml-dequantization fixtures from the PyPI `gguf` package (gguf-py).

Writes into tests/fixtures/gguf/ (read by tests/test_gguf.c):

  dequant.bin   for each of the 15 ggml types that both trit and gguf-py
                dequantize (TQ1_0 and TQ2_0 included), random blocks and
                gguf.quants.dequantize(blocks) (numpy, float32). Block bytes are
                random except the fp16 scale fields (d, m, dmin), which are set
                to finite values (mostly 2^-14..1, plus 0, -0, subnormals and
                65504) so no NaN/Inf appears; F16/BF16/F32 values are random
                finite bit patterns (subnormals and zeros included). Random
                TQ1_0 bytes include the values above 242 that no quantizer
                writes, random TQ2_0 bytes the unused code 3: dequantization
                must agree on those too.
                Layout, little-endian:
                  "TRITGQ01", u32 n_types, then per type
                  u32 ggml type id, u32 n_weights, u32 n_bytes,
                  n_bytes block bytes, n_weights float32
  tiny.gguf     written by gguf.GGUFWriter (arch "qwen3", general.alignment 64):
                one KV of every value type and arrays of every element type
                (incl. strings with an empty element), qwen3.* hyper-parameters,
                tokenizer keys, and tensors F32, F16, Q8_0, Q4_K, Q4_1, BF16 and
                a 3-D F32. The values are the ones tests/test_gguf.c expects.
  tiny_expected.bin  each tensor of tiny.gguf, dequantized by gguf-py:
                  "TRITGT01", u32 n_tensors, then per tensor
                  u32 name_len, name, u32 ggml type, u32 n_dims, u64 ne[n_dims]
                  (ggml order), float32 values[prod(ne)]
and the fuzz seeds in fuzz/seeds/gguf/ (fuzz/fuzz_gguf.c): tiny.gguf; all_types.gguf
(alignment 1, so tensors sit at odd offsets: one or two blocks of every type gguf-py
knows that trit lists, TQ1_0 and TQ2_0 included); vocab.gguf (a small llama-style
tokenizer: tokens, merges, token types, scores, special ids); header_only.gguf.

  smollm2.txt   (only when models/SmolLM2-135M-Instruct.Q4_1.gguf exists; made
                by scripts/fetch-smollm2.sh) the tensor count, a few KVs and,
                for token_embd.weight (Q8_0) and blk.0.attn_q.weight (Q4_1),
                a 64-bit hash and sample values of gguf.quants.dequantize.
                hash64 = sum over i of splitmix64(bits_i + i * 0x9E3779B97F4A7C15)
                mod 2^64, bits_i the float32 bit pattern of element i (a hash
                numpy computes in vectorized form; FNV-1a would need a Python
                loop over 113 MB).

Run:   python3 tools/reference/make_gguf_fixtures.py [--out tests/fixtures/gguf]
Needs: pip install numpy gguf   (checked with gguf 0.19)
"""
import argparse
import importlib.metadata
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V
from gguf.quants import dequantize

SEED = 20261201

# Byte offsets of the fp16 scale fields inside one block (ggml-common.h).
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.TQ1_0: [52], T.TQ2_0: [64],
}
TYPES = [T.F32, T.F16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
         T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.BF16]
# Appended after TYPES, so the random blocks of the older types stay as they were.
DEQUANT_TYPES = TYPES + [T.TQ1_0, T.TQ2_0]


def finite_scales(rng, n):
    """n fp16 scales: mostly +-2^U(-14, 0), some edge values; all finite."""
    mag = np.exp2(rng.uniform(-14, 0, n)).astype(np.float32)
    sign = np.where(rng.random(n) < 0.5, -1, 1).astype(np.float32)
    d = (mag * sign).astype(np.float16)
    edges = np.array([0.0, -0.0, 6e-8, -3e-6, 6.1e-5, 65504.0, -65504.0, 1.0], dtype=np.float16)
    k = min(len(edges), n // 4)
    pos = rng.choice(n, size=k, replace=False)
    d[pos] = edges[:k]
    assert np.all(np.isfinite(d))
    return d


def random_blocks(rng, qtype, n_blocks):
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        u = rng.integers(0, 1 << 32, n_blocks, dtype=np.uint64).astype(np.uint32)
        bad = (u & 0x7F800000) == 0x7F800000
        u[bad] &= 0xBFFFFFFF  # clear the top exponent bit: finite
        return u.view(np.uint8).reshape(n_blocks, 4)
    if qtype in (T.F16, T.BF16):
        u = rng.integers(0, 1 << 16, n_blocks, dtype=np.uint32).astype(np.uint16)
        exp_mask = 0x7C00 if qtype == T.F16 else 0x7F80
        top = 0x4000  # the top exponent bit in both formats
        bad = (u & exp_mask) == exp_mask
        u[bad] &= np.uint16(0xFFFF ^ top)
        return u.view(np.uint8).reshape(n_blocks, 2)
    b = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint16).astype(np.uint8)
    for off in SCALE_FIELDS[qtype]:
        b[:, off:off + 2] = finite_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return b


def write_dequant(out):
    rng = np.random.default_rng(SEED)
    parts = [b"TRITGQ01", struct.pack("<I", len(DEQUANT_TYPES))]
    for qt in DEQUANT_TYPES:
        block_size, _ = gguf.GGML_QUANT_SIZES[qt]
        n_blocks = {1: 2048, 32: 64, 256: 8}[block_size]
        blocks = random_blocks(rng, qt, n_blocks)
        raw = np.ascontiguousarray(blocks.reshape(1, -1))
        vals = dequantize(raw, qt).astype(np.float32, copy=False).reshape(-1)
        assert vals.size == n_blocks * block_size
        assert np.all(np.isfinite(vals)), qt.name
        parts.append(struct.pack("<III", int(qt), vals.size, raw.size))
        parts.append(raw.tobytes())
        parts.append(vals.astype("<f4").tobytes())
        print(f"  {qt.name:5s} {n_blocks:4d} blocks, {vals.size} weights")
    path = os.path.join(out, "dequant.bin")
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


# --- tiny.gguf -------------------------------------------------------------
# tests/test_gguf.c checks these exact values; keep the two in step.

TINY_KV = [
    ("test.u8", 200, V.UINT8), ("test.i8", -100, V.INT8),
    ("test.u16", 60000, V.UINT16), ("test.i16", -30000, V.INT16),
    ("test.u32", 4000000000, V.UINT32), ("test.i32", -2000000000, V.INT32),
    ("test.f32", -1.5e-3, V.FLOAT32), ("test.bool", True, V.BOOL),
    ("test.str", "hello, gguf", V.STRING), ("test.empty_str", "", V.STRING),
    ("test.u64", 2**63 + 5, V.UINT64), ("test.i64", -(2**62) - 3, V.INT64),
    ("test.f64", 0.1, V.FLOAT64),
    ("test.small_i64", 77, V.INT64),
]
TINY_ARR = [
    ("test.arr_u8", [1, 2, 255], V.UINT8), ("test.arr_i8", [-128, 0, 127], V.INT8),
    ("test.arr_u16", [0, 65535], V.UINT16), ("test.arr_i16", [-32768, 5], V.INT16),
    ("test.arr_u32", [4294967295, 1], V.UINT32), ("test.arr_i32", [-1, 0, 7, 2147483647], V.INT32),
    ("test.arr_f32", [0.5, -2.25, 1e-7], V.FLOAT32), ("test.arr_bool", [True, False, True], V.BOOL),
    ("test.arr_str", ["x", "", "yz", "h\u00e9llo"], V.STRING),
    ("test.arr_u64", [2**64 - 1, 0], V.UINT64), ("test.arr_i64", [-(2**63), 2**63 - 1], V.INT64),
    ("test.arr_f64", [3.141592653589793, -0.0], V.FLOAT64),
]


def tiny_tensors(rng):
    """(name, numpy array as written, raw ggml type or None, numpy shape)."""
    t = []
    t.append(("t.f32", rng.standard_normal((3, 5)).astype(np.float32), None))
    t.append(("t.f16", rng.standard_normal((2, 7)).astype(np.float16), None))
    q8 = gguf.quants.quantize(rng.standard_normal((2, 64)).astype(np.float32), T.Q8_0)
    t.append(("t.q80", q8, T.Q8_0))
    t.append(("t.q4k", random_blocks(rng, T.Q4_K, 2).reshape(2, 144), T.Q4_K))
    q41 = gguf.quants.quantize(rng.standard_normal((1, 32)).astype(np.float32), T.Q4_1)
    t.append(("t.q41", q41, T.Q4_1))
    t.append(("t.b16", random_blocks(rng, T.BF16, 6).reshape(2, 6), T.BF16))
    t.append(("t.3d_", rng.standard_normal((2, 3, 4)).astype(np.float32), None))
    return t


def write_tiny(out):
    rng = np.random.default_rng(SEED + 1)
    path = os.path.join(out, "tiny.gguf")
    w = gguf.GGUFWriter(path, "qwen3")
    w.add_custom_alignment(64)
    w.add_name("tiny test model")
    w.add_uint32("qwen3.block_count", 2)
    w.add_uint32("qwen3.context_length", 256)
    w.add_uint32("qwen3.embedding_length", 64)
    w.add_uint32("qwen3.feed_forward_length", 128)
    w.add_uint32("qwen3.attention.head_count", 4)
    w.add_uint32("qwen3.attention.head_count_kv", 2)
    w.add_float32("qwen3.rope.freq_base", 1000000.0)
    w.add_float32("qwen3.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "qwen2")
    w.add_key_value("tokenizer.ggml.tokens", ["a", "b", "<|x|>", "", "h\u00e9llo"], V.ARRAY, sub_type=V.STRING)
    for key, val, vt in TINY_KV:
        w.add_key_value(key, val, vt)
    for key, val, vt in TINY_ARR:
        w.add_key_value(key, val, V.ARRAY, sub_type=vt)
    tensors = tiny_tensors(rng)
    for name, arr, raw in tensors:
        w.add_tensor(name, arr, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")

    # Expected contents, read back through gguf's own reader.
    r = gguf.GGUFReader(path)
    parts = [b"TRITGT01", struct.pack("<I", len(r.tensors))]
    for ti in r.tensors:
        vals = dequantize(np.ascontiguousarray(ti.data), ti.tensor_type).astype(np.float32, copy=False).reshape(-1)
        ne = [int(x) for x in ti.shape]  # gguf-py's shape is in ggml order (ne[0] first)
        name = ti.name.encode()
        parts.append(struct.pack("<I", len(name)) + name)
        parts.append(struct.pack("<II", int(ti.tensor_type), len(ne)))
        parts.append(struct.pack(f"<{len(ne)}Q", *ne))
        assert vals.size == int(np.prod(ne))
        parts.append(vals.astype("<f4").tobytes())
    epath = os.path.join(out, "tiny_expected.bin")
    with open(epath, "wb") as f:
        f.write(b"".join(parts))
    print(f"wrote {epath} ({os.path.getsize(epath)} bytes)")


# --- the real model ----------------------------------------------------------

M64 = (1 << 64) - 1


def hash64(vals):
    """sum_i splitmix64(bits_i + i * golden) mod 2^64, in chunks."""
    bits = np.ascontiguousarray(vals, dtype=np.float32).reshape(-1).view(np.uint32)
    total = 0
    step = 1 << 20
    with np.errstate(over="ignore"):
        for s in range(0, bits.size, step):
            z = bits[s:s + step].astype(np.uint64)
            z = z + np.arange(s, s + z.size, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            total = (total + int(z.sum(dtype=np.uint64))) & M64
    return total


def write_model(out, model):
    if not os.path.exists(model):
        print(f"skip smollm2.txt: {model} is missing (scripts/fetch-smollm2.sh fetches it)")
        return
    r = gguf.GGUFReader(model)
    lines = [f"tensors {len(r.tensors)}"]
    for key in ("general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre"):
        lines.append(f"str {key} {r.fields[key].contents()}")
    for key in ("llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                "llama.attention.head_count", "llama.attention.head_count_kv", "llama.context_length"):
        lines.append(f"u32 {key} {r.fields[key].contents()}")
    lines.append(f"n_tokens tokenizer.ggml.tokens {len(r.fields['tokenizer.ggml.tokens'].data)}")
    by_name = {t.name: t for t in r.tensors}
    for name in ("token_embd.weight", "blk.0.attn_q.weight"):
        ti = by_name[name]
        vals = dequantize(np.ascontiguousarray(ti.data), ti.tensor_type).astype(np.float32, copy=False).reshape(-1)
        n = vals.size
        idx = sorted({0, 1, 2, 31, 32, 575, 576, n // 3, n // 2 + 7, n - 2, n - 1})
        bits = vals.view(np.uint32)
        samples = " ".join(f"{i}:{int(bits[i]):08x}" for i in idx)
        ne = " ".join(str(int(x)) for x in ti.shape)
        lines.append(f"tensor {name} {ti.tensor_type.name} {len(ti.shape)} {ne} {n} "
                     f"{hash64(vals):016x} {samples}")
    path = os.path.join(out, "smollm2.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}")


def write_seeds(out, tiny_path):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED + 2)
    with open(tiny_path, "rb") as f, open(os.path.join(out, "tiny.gguf"), "wb") as g:
        g.write(f.read())
    path = os.path.join(out, "all_types.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_custom_alignment(1)
    for qt in TYPES + [T.TQ1_0, T.TQ2_0]:
        block_size, type_size = gguf.GGML_QUANT_SIZES[qt]
        n_blocks = 2 if block_size == 1 else 1
        if qt in (T.TQ1_0, T.TQ2_0):
            b = rng.integers(0, 256, (1, type_size), dtype=np.uint16).astype(np.uint8)
        else:
            b = random_blocks(rng, qt, n_blocks).reshape(1, -1)
        w.add_tensor(f"w.{qt.name}", b, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    path = os.path.join(out, "vocab.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint32("llama.block_count", 1)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "smollm")
    w.add_key_value("tokenizer.ggml.tokens", ["<s>", "</s>", "a", "b", "ab", "\u0120a"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("tokenizer.ggml.merges", ["a b", "\u0120 a"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("tokenizer.ggml.token_type", [3, 3, 1, 1, 1, 1], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("tokenizer.ggml.scores", [0.0, 0.0, -1.0, -2.0, -3.0, -4.0], V.ARRAY, sub_type=V.FLOAT32)
    w.add_uint32("tokenizer.ggml.bos_token_id", 0)
    w.add_uint32("tokenizer.ggml.eos_token_id", 1)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_tensor("token_embd.weight", rng.standard_normal((6, 4)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(out, "header_only.gguf"), "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    for name in sorted(os.listdir(out)):
        print(f"seed {os.path.join(out, name)} ({os.path.getsize(os.path.join(out, name))} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/gguf")
    ap.add_argument("--seeds", default="fuzz/seeds/gguf")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    print(f"gguf {importlib.metadata.version('gguf')}, numpy {np.__version__}")
    write_dequant(a.out)
    write_tiny(a.out)
    write_model(a.out, a.model)
    write_seeds(a.seeds, os.path.join(a.out, "tiny.gguf"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
