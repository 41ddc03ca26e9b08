#!/usr/bin/env python3
"""Checks trit's GGUF writer (src/format/gguf_write.c) against gguf-py's reader.

Runs build/test_gguf_write with TRIT_GGUF_WRITE_KEEP=DIR, which leaves
DIR/interop.gguf: every KV type (scalars and arrays) and one tensor per ggml
type of trit's table that gguf-py knows (all but Q2_0), alignment 64. Then
gguf.GGUFReader (gguf 0.19) must read it and see exactly the values, types,
tensor names, ggml types, shapes (ggml order), byte counts, aligned offsets and
bytes that tests/test_gguf_write.c wrote (the tensor bytes come from the same
LCG). Prints OK, or each mismatch and exits 1.

Usage: python3 tools/reference/check_gguf_writer.py [--bin build/test_gguf_write]
Needs: pip install gguf==0.19.0 numpy
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType

V = GGUFValueType
ALIGNMENT = 64

# Keep in step with add_all_kvs in tests/test_gguf_write.c.
SCALARS = [
    ("general.alignment", V.UINT32, ALIGNMENT),
    ("general.architecture", V.STRING, "qwen3"),
    ("s.u8", V.UINT8, 200), ("s.i8", V.INT8, -100), ("s.u16", V.UINT16, 60000), ("s.i16", V.INT16, -30000),
    ("s.u32", V.UINT32, 4000000000), ("s.i32", V.INT32, -2000000000),
    ("s.f32", V.FLOAT32, float(np.float32(-1.5e-3))), ("s.bool_true", V.BOOL, True), ("s.bool_false", V.BOOL, False),
    ("s.str", V.STRING, "h\u00e9llo, gguf"), ("s.empty_str", V.STRING, ""),
    ("s.u64", V.UINT64, 2**63 + 5), ("s.i64", V.INT64, -(2**62) - 3), ("s.f64", V.FLOAT64, 0.1),
]
ARRAYS = [
    ("arr.u8", V.UINT8, [0, 7, 255]), ("arr.i8", V.INT8, [-128, 0, 127]),
    ("arr.u16", V.UINT16, [0, 65535]), ("arr.i16", V.INT16, [-32768, 5]),
    ("arr.u32", V.UINT32, [4294967295, 1]), ("arr.i32", V.INT32, [-1, 0, 7, 2147483647]),
    ("arr.f32", V.FLOAT32, [float(np.float32(x)) for x in (0.5, -2.25, 1e-7)]),
    ("arr.bool", V.BOOL, [True, False, True]),
    ("arr.u64", V.UINT64, [2**64 - 1, 0]), ("arr.i64", V.INT64, [-(2**63), 2**63 - 1]),
    ("arr.f64", V.FLOAT64, [3.141592653589793, -0.0]), ("arr.empty_i32", V.INT32, []),
    ("arr.str", V.STRING, ["x", "", "yz", "h\u00e9llo", "\U0001f999"]),
]

# trit's ggml type table in its order (src/quant/ggml_types.c) without Q2_0:
# the tensor of table index i is "blk.{i}.{name}".
TABLE = [0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30, 34, 35]


class Lcg:
    """make_tensors' byte stream: a 64-bit LCG, the top byte of each state."""

    def __init__(self):
        self.s = 0x9E3779B97F4A7C15

    def bytes(self, n):
        out = bytearray(n)
        for k in range(n):
            self.s = (self.s * 6364136223846793005 + 1442695040888963407) % 2**64
            out[k] = self.s >> 56
        return bytes(out)


def expected_tensors():
    lcg, out = Lcg(), []
    shapes = []
    for i, tid in enumerate(TABLE):
        qt = GGMLQuantizationType(tid)
        bs, ts = GGML_QUANT_SIZES[qt]
        ne = [2 * bs, 3, 2][: 1 + i % 3]
        nbytes = 2 * ts * int(np.prod(ne[1:], dtype=np.int64))
        shapes.append((f"blk.{i}.{qt.name}", qt, ne, nbytes))
    shapes.append(("four.dims", GGMLQuantizationType.F32, [5, 2, 3, 2], 5 * 2 * 3 * 2 * 4))
    for name, qt, ne, nbytes in shapes:
        out.append((name, qt, ne, nbytes, lcg.bytes(nbytes)))
    return out


def same(a, b):
    # -0.0 and float bits: compare reprs, so 0.0 != -0.0.
    return repr(a) == repr(b)


def check(path):
    bad = []
    r = GGUFReader(path)
    fields = [f for f in r.fields.values() if not f.name.startswith("GGUF.")]
    want_keys = [k for k, _, _ in SCALARS] + [k for k, _, _ in ARRAYS]
    if [f.name for f in fields] != want_keys:
        bad.append(f"keys in file order: {[f.name for f in fields]}")
    for key, vt, val in SCALARS:
        f = r.fields.get(key)
        if f is None or f.types != [vt]:
            bad.append(f"{key}: types {None if f is None else f.types}, want [{vt.name}]")
            continue
        got = f.contents()
        if isinstance(val, float):
            got = float(got)
        if not same(got, val):
            bad.append(f"{key} = {got!r}, want {val!r}")
    for key, vt, val in ARRAYS:
        f = r.fields.get(key)
        if f is None or f.types[0] != V.ARRAY or (val and f.types[-1] != vt):
            bad.append(f"{key}: types {None if f is None else f.types}, want [ARRAY, {vt.name}]")
            continue
        got = f.contents()
        got = [float(x) for x in got] if vt in (V.FLOAT32, V.FLOAT64) else [bool(x) if vt == V.BOOL else x for x in got]
        if len(got) != len(val) or not all(same(g, w) for g, w in zip(got, val)):
            bad.append(f"{key} = {got!r}, want {val!r}")
    if r.alignment != ALIGNMENT or r.data_offset % ALIGNMENT:
        bad.append(f"alignment {r.alignment}, data offset {r.data_offset}")
    want = expected_tensors()
    if len(r.tensors) != len(want):
        bad.append(f"{len(r.tensors)} tensors, want {len(want)}")
    for t, (name, qt, ne, nbytes, data) in zip(r.tensors, want):
        what = f"tensor {name}"
        if t.name != name or t.tensor_type != qt:
            bad.append(f"{what}: read as {t.name} of type {t.tensor_type.name}")
        if [int(x) for x in t.shape] != ne or t.n_bytes != nbytes:
            bad.append(f"{what}: shape {list(t.shape)} / {t.n_bytes} bytes, want {ne} / {nbytes}")
        if t.data_offset % ALIGNMENT:
            bad.append(f"{what}: data at {t.data_offset}, not aligned to {ALIGNMENT}")
        if np.ascontiguousarray(t.data).tobytes() != data:
            bad.append(f"{what}: bytes differ")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/test_gguf_write")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, TRIT_GGUF_WRITE_KEEP=d)
        run = subprocess.run([a.bin], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{a.bin} failed:\n{run.stdout}{run.stderr}")
            sys.exit(1)
        bad = check(os.path.join(d, "interop.gguf"))
    for b in bad:
        print("MISMATCH", b)
    if bad:
        sys.exit(1)
    print(f"OK: gguf-py reads trit's GGUF as written: {len(SCALARS)} scalar and {len(ARRAYS)} array KVs of every "
          f"type, {len(TABLE) + 1} tensors of {len(TABLE)} ggml types, alignment {ALIGNMENT}")


if __name__ == "__main__":
    main()
