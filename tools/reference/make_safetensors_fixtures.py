#!/usr/bin/env python3
"""safetensors interop between trit and the reference implementation.

Mode 1 (default): writes tiny fixtures with the pip `safetensors` package into
tests/fixtures/safetensors/, which tests/test_safetensors.c reads back:

  numpy_mixed.safetensors  (safetensors.numpy.save_file, metadata format=np)
      f32.source     float32 [16, 16]: crafted rounding cases + random normals
      f16.values     f32.source.astype(float16)   (numpy: round to nearest even)
      f16.as_f32     f16.values.astype(float32)   (exact widening)
      f64.values, i64.ids, i32.vals, i16.vals, i8.vals, u8.vals, bool.mask,
      scalar (shape []), empty (shape [0, 4]), "ünïcode/näme" (float32 [2])
  torch_bf16.safetensors   (safetensors.torch.save_file, metadata format=pt)
      f32.source     the same float32 [16, 16]
      bf16.values    f32.source.to(bfloat16)      (torch: round to nearest even)
      bf16.as_f32    bf16.values.float()          (exact widening)
      f16.values     f32.source.half(), f16.as_f32
      u16.vals, u32.vals, u64.vals, f8_e4m3.vals, f8_e5m2.vals

Mode 2 (--check-trit BIN): runs trit's test binary (build/test_safetensors)
with TRIT_ST_EXPORT=<tmp dir>, which makes it write files with trit's writer,
then checks them with the reference libraries:
  - trit_{f32,bf16,f16}.safetensors load in safetensors.numpy / .torch with
    exactly the values numpy/torch get converting values.f32 themselves;
  - the header is padded to 8 bytes, sorted, contiguous, metadata format=pt;
  - model_sharded/ and model_single/ (config.json + weights from config_save
    and st_write_dir) load in transformers' AutoConfig and
    Qwen3ForCausalLM.from_pretrained with no missing/unexpected keys, every
    parameter equal to the file, and config.json / the index byte-identical
    to json.dumps(..., indent=2, sort_keys=True) + "\\n" as transformers writes.
Prints one line per check and exits 1 on any failure.

Run:  python3 tools/reference/make_safetensors_fixtures.py [--out tests/fixtures/safetensors]
      python3 tools/reference/make_safetensors_fixtures.py --check-trit build/test_safetensors
Needs: pip install numpy safetensors torch transformers
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np


def crafted_f32():
    """256 float32 values: rounding ties and edges for bf16/f16, specials, random."""
    v = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.14159265, 1 / 3, 0.1, -0.1,
         1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -(1 + 2**-8), 1 + 2**-9, 1 - 2**-9,  # bf16 ties
         1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-11 + 2**-20, 2049.0, 2051.0,                    # f16 ties
         65504.0, 65519.0, 65520.0, 70000.0, -70000.0, 1e5,                                  # f16 max/overflow
         2**-14, 2**-14 - 2**-24, 2**-24, 2**-25, 3 * 2**-25, 2**-26, 1e-8, 5.96e-8,          # f16 subnormals
         2**-126, 2**-149, 3 * 2**-149, 2**-130, 1e-40,                                       # f32 subnormals
         3.4028234663852886e38, -3.4028234663852886e38, 3.3961e38, 1e30, -1e-30,
         float("inf"), float("-inf"), float("nan")]
    bits = [0x7F7F8000, 0x7F7F7FFF, 0x3F808000, 0x3F818000, 0x00008000, 0x00018000,        # bf16 ties by bit
            0x80008000, 0x7FC00000, 0x7F800001, 0xFFC00001]                                 # NaNs
    arr = np.array(v, dtype=np.float32)
    arr = np.concatenate([arr, np.array(bits, dtype=np.uint32).view(np.float32)])
    rng = np.random.default_rng(20240601)
    scales = np.array([1e-3, 1.0, 1e3, 1e-6], dtype=np.float32)
    rest = (rng.standard_normal(256 - len(arr)) * np.resize(scales, 256 - len(arr))).astype(np.float32)
    return np.concatenate([arr, rest]).reshape(16, 16)


def make_fixtures(out):
    import torch
    from safetensors.numpy import save_file as np_save
    from safetensors.torch import save_file as torch_save

    os.makedirs(out, exist_ok=True)
    src = crafted_f32()
    with np.errstate(over="ignore", invalid="ignore"):
        f16 = src.astype(np.float16)
    tensors = {
        "f32.source": src,
        "f16.values": f16,
        "f16.as_f32": f16.astype(np.float32),
        "f64.values": np.array([1.5, -2.25, 1e300], dtype=np.float64),
        "i64.ids": np.array([0, 151643, -1, 2**40], dtype=np.int64),
        "i32.vals": np.arange(-3, 3, dtype=np.int32).reshape(2, 3),
        "i16.vals": np.array([-32768, 32767, 5], dtype=np.int16),
        "i8.vals": np.array([-128, 127, 0, 1, 2], dtype=np.int8),
        "u8.vals": np.array([0, 255, 7], dtype=np.uint8),
        "bool.mask": np.array([True, False, True], dtype=np.bool_),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "ünïcode/näme": np.array([1.25, -2.5], dtype=np.float32),
    }
    np_save(tensors, os.path.join(out, "numpy_mixed.safetensors"), metadata={"format": "np", "made_by": "numpy"})

    s = torch.from_numpy(src.copy())
    tt = {
        "f32.source": s,
        "bf16.values": s.to(torch.bfloat16),
        "bf16.as_f32": s.to(torch.bfloat16).float(),
        "f16.values": s.half(),
        "f16.as_f32": s.half().float(),
        "u16.vals": torch.tensor([0, 65535, 300], dtype=torch.int32).to(torch.uint16),
        "u32.vals": torch.tensor([0, 2**32 - 1], dtype=torch.int64).to(torch.uint32),
        "u64.vals": torch.tensor([0, 2**63 - 1], dtype=torch.int64).to(torch.uint64),
        "f8_e4m3.vals": torch.tensor([1.0, -2.0, 0.5]).to(torch.float8_e4m3fn),
        "f8_e5m2.vals": torch.tensor([1.0, -2.0, 0.5]).to(torch.float8_e5m2),
    }
    torch_save(tt, os.path.join(out, "torch_bf16.safetensors"), metadata={"format": "pt"})
    for f in sorted(os.listdir(out)):
        print(f"wrote {os.path.join(out, f)} ({os.path.getsize(os.path.join(out, f))} bytes)")


# ---------------------------------------------------------------------------


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        self.failures += not ok


def same_bits_or_nan(a, b, float_view):
    """Arrays of 16-bit patterns: equal, or both NaN."""
    a = np.asarray(a).view(np.uint16).ravel()
    b = np.asarray(b).view(np.uint16).ravel()
    na = np.isnan(float_view(a)) & np.isnan(float_view(b))
    return bool(np.all((a == b) | na))


def bf16_bits_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
        size = os.path.getsize(path)
    return n, raw, size


def check_header(c, path):
    n, raw, size = read_header(path)
    hdr = json.loads(raw)
    c.check(n % 8 == 0 and raw.rstrip(b" ") == raw.rstrip(), f"{os.path.basename(path)}: header padded to 8 with spaces")
    c.check(hdr.get("__metadata__") == {"format": "pt"}, f"{os.path.basename(path)}: metadata format=pt")
    names = [k for k in hdr if k != "__metadata__"]
    c.check(names == sorted(names), f"{os.path.basename(path)}: tensors in name order")
    spans = sorted((v["data_offsets"] for k, v in hdr.items() if k != "__metadata__"))
    pos, contiguous = 0, True
    for b, e in spans:
        contiguous &= b == pos
        pos = e
    c.check(contiguous and 8 + n + pos == size, f"{os.path.basename(path)}: data contiguous, file size exact")


def check_model_dir(c, d, expect_shards):
    """expect_shards: the max_shard_bytes trit used (0: a single file)."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, Qwen3ForCausalLM

    name = os.path.basename(d)
    text = open(os.path.join(d, "config.json")).read()
    c.check(text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n",
            f"{name}: config.json byte-identical to json.dumps(indent=2, sort_keys=True)")
    cfg = AutoConfig.from_pretrained(d)
    want = json.load(open(os.path.join(d, "expected.json")))
    got = {k: getattr(cfg, k) for k in want if k not in ("rope_theta", "torch_dtype")}
    got["rope_theta"] = cfg.rope_parameters["rope_theta"]
    got["torch_dtype"] = str(cfg.dtype).replace("torch.", "")
    c.check(all(got[k] == want[k] for k in want) and cfg.model_type == "qwen3",
            f"{name}: AutoConfig fields {got if got != want else 'as expected'}")
    c.check(getattr(cfg, "trit_quantization", None) == "group absmean, g=\"128\"\nline 2",
            f"{name}: trit_quantization note survives")
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    tensors = {}
    for f in files:
        check_header(c, os.path.join(d, f))
        with safe_open(os.path.join(d, f), "pt") as sf:
            for k in sf.keys():
                tensors[k] = sf.get_tensor(k)
    if expect_shards:
        text = open(os.path.join(d, "model.safetensors.index.json")).read()
        idx = json.loads(text)
        c.check(text == json.dumps(idx, indent=2, sort_keys=True) + "\n", f"{name}: index byte-identical to json.dumps")
        # The same tensors, in transformers' state_dict order, split by huggingface_hub.
        from huggingface_hub import split_torch_state_dict_into_shards
        order = list(Qwen3ForCausalLM(AutoConfig.from_pretrained(d)).state_dict().keys())
        split = split_torch_state_dict_into_shards({k: tensors[k] for k in order if k in tensors},
                                                   filename_pattern="model{suffix}.safetensors", max_shard_size=expect_shards)
        c.check(split.tensor_to_filename == idx["weight_map"] and files == sorted(set(idx["weight_map"].values())),
                f"{name}: {len(files)} shards, tensor -> shard exactly as huggingface_hub splits at {expect_shards} bytes")
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        c.check(idx["metadata"]["total_size"] == total, f"{name}: index total_size {total}")
        ok = True
        for k, f in idx["weight_map"].items():
            with safe_open(os.path.join(d, f), "pt") as sf:
                ok &= k in sf.keys()
        c.check(ok and set(idx["weight_map"]) == set(tensors), f"{name}: weight_map matches the shards")
    else:
        c.check(files == ["model.safetensors"], f"{name}: a single model.safetensors")
    model, info = Qwen3ForCausalLM.from_pretrained(d, dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    c.check(not bad, f"{name}: from_pretrained loading info {bad or 'clean'}")
    sd = model.state_dict()
    diff = max((sd[k].float() - v.float()).abs().max().item() for k, v in tensors.items())
    c.check(diff == 0, f"{name}: {len(tensors)} tensors, max |HF param - file| = {diff}")


def check_trit(binary):
    import torch
    from safetensors.numpy import load_file as np_load
    from safetensors.torch import load_file as torch_load

    c = Checker()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TRIT_ST_EXPORT=tmp)
        r = subprocess.run([binary], env=env, capture_output=True, text=True)
        print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "(no output)")
        c.check(r.returncode == 0, f"{binary} exits 0 (stderr: {r.stderr.strip()[-300:]})")
        src = np.fromfile(os.path.join(tmp, "values.f32"), dtype="<f4")
        print(f"{len(src)} source values")
        for dt in ["f32", "bf16", "f16"]:
            path = os.path.join(tmp, f"trit_{dt}.safetensors")
            check_header(c, path)
            if dt == "f32":
                t = np_load(path)
                c.check(np.array_equal(t["values"].view(np.uint32), src.view(np.uint32)),
                        "trit_f32: safetensors.numpy values bit-identical")
                c.check(t["matrix"].shape == (7, 9) and np.array_equal(t["matrix"].ravel().view(np.uint32), src[:63].view(np.uint32)),
                        "trit_f32: matrix [7, 9]")
                c.check(t["scalar"].shape == () and t["scalar"] == src[5], "trit_f32: 0-dim scalar")
                c.check(t["empty"].shape == (0, 3), "trit_f32: empty [0, 3]")
                c.check(np.array_equal(t["ünï/näme"], src[:2]), "trit_f32: unicode name")
            elif dt == "f16":
                t = np_load(path)
                with np.errstate(over="ignore", invalid="ignore"):
                    want = src.astype(np.float16)
                c.check(t["values"].dtype == np.float16 and
                        same_bits_or_nan(t["values"], want, lambda u: u.view(np.float16)),
                        "trit_f16: safetensors.numpy values == numpy's own float32->float16 (bitwise, NaN as NaN)")
            else:
                t = torch_load(path)
                want = torch.from_numpy(src.copy()).to(torch.bfloat16)
                got = t["values"]
                c.check(got.dtype == torch.bfloat16 and
                        same_bits_or_nan(got.view(torch.int16).numpy(), want.view(torch.int16).numpy(), bf16_bits_to_f32),
                        "trit_bf16: safetensors.torch values == torch's own float32->bfloat16 (bitwise, NaN as NaN)")
                c.check(t["matrix"].shape == (7, 9), "trit_bf16: matrix [7, 9]")
        mixed = torch_load(os.path.join(tmp, "mixed.safetensors"))
        n3 = {k: v.numel() for k, v in mixed.items()}
        s = torch.from_numpy(src.copy())
        ok = torch.equal(mixed["x.f32"].view(torch.int32), s[:13].view(torch.int32))
        ok &= torch.equal(mixed["x.bf16"].view(torch.int16), s[:7].to(torch.bfloat16).view(torch.int16))
        ok &= torch.equal(mixed["x.f16"].view(torch.int16), s[:5].half().view(torch.int16))
        c.check(ok and n3 == {"x.f32": 13, "x.bf16": 7, "x.f16": 5}, "mixed (unaligned offsets): torch loads all three dtypes")
        check_model_dir(c, os.path.join(tmp, "model_sharded"), expect_shards=10000)  # the limit test_safetensors uses
        check_model_dir(c, os.path.join(tmp, "model_single"), expect_shards=0)
    print(f"{c.failures} failures")
    return 1 if c.failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/safetensors")
    ap.add_argument("--check-trit", metavar="BIN", help="run BIN (build/test_safetensors) and check what it writes")
    args = ap.parse_args()
    if args.check_trit:
        sys.exit(check_trit(args.check_trit))
    make_fixtures(args.out)


if __name__ == "__main__":
    main()
