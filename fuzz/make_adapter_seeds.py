#!/usr/bin/env python3
"""Seeds for fuzz_adapters: LoRA adapter GGUF files, as trit export writes
them (general.type "adapter", adapter.type "lora", adapter.lora.alpha; per
linear blk.L.<name>.weight.lora_a of ggml shape [in, r] and .lora_b of
[r, out]), for the fuzz target's fixed config: Llama, hidden 64,
intermediate 128, 1 layer, 4 heads of 16, 2 KV heads, adapter rank 2. One
in F32, one in BF16 with a tensor missing (an error path). Written with
gguf-py (pip install gguf).
Run: python3 fuzz/make_adapter_seeds.py
"""
import os

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "adapters")
C, F, QD, KD, R = 64, 128, 64, 32, 2
LINEARS = [("attn_q", QD, C), ("attn_k", KD, C), ("attn_v", KD, C), ("attn_output", C, QD),
           ("ffn_gate", F, C), ("ffn_up", F, C), ("ffn_down", C, F)]


def write(name, dtype, drop=None):
    rng = np.random.default_rng(len(name))
    w = GGUFWriter(os.path.join(OUT, name), "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", float(R))
    for kind, out, inp in LINEARS:
        for part, shape in (("lora_a", (R, inp)), ("lora_b", (out, R))):
            tname = f"blk.0.{kind}.weight.{part}"
            if tname == drop:
                continue
            a = (rng.standard_normal(shape) * 0.05).astype(np.float32)
            if dtype == "bf16":
                w.add_tensor(tname, (a.view(np.uint32) >> 16).astype(np.uint16), raw_dtype=GGMLQuantizationType.BF16)
            else:
                w.add_tensor(tname, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("f32.gguf", "f32")
    write("bf16-missing.gguf", "bf16", drop="blk.0.ffn_up.weight.lora_b")
