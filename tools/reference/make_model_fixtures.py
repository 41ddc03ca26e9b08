#!/usr/bin/env python3
"""Writes the reference fixtures for trit's forward pass (Qwen3 and Llama).

Uses Hugging Face transformers (with torch) as the independent reference:
it builds tiny random Qwen3 and Llama models, saves each with `save_pretrained` (so the
checkpoint is exactly what transformers writes: config.json + safetensors,
sharded with an index for one variant), reloads it in fp32 and records the
logits and the cross-entropy loss on fixed tokens.

Each model lands in tests/fixtures/models/<name>/ with `reference.bin`:
    int32 magic 0x54524954 ('TRIT'), version 1, B, T, V
    int32 tokens[B][T+1]      inputs are tokens[:, :T], targets tokens[:, 1:]
    float32 logits[B][T][V]   for the inputs
    float32 loss              mean next-token cross-entropy over B*T

One Llama variant has its config.json rewritten in transformers 4.x's layout
(top-level rope_theta and rope_scaling instead of 5.x's rope_parameters); its
reference is computed after reloading that file, so both layouts are checked.

Run:  python3 tools/reference/make_model_fixtures.py [--out tests/fixtures/models] [--only NAME ...]
Needs: pip install torch transformers safetensors
"""
import argparse
import os
import shutil
import struct

import numpy as np
import torch
import json

from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

# Shapes chosen to catch the usual mistakes: several layers, GQA with
# n_kv < n_heads, head_dim != hidden / heads, tied and untied heads, bf16 and
# fp32 storage, one sharded checkpoint.
VARIANTS = [
    dict(name="tiny_tied_fp32", dtype=torch.float32, tie=True, shard=None,
         hidden=64, inter=160, layers=3, heads=4, kv=2, head_dim=32, theta=10000.0),
    dict(name="tiny_untied_bf16", dtype=torch.bfloat16, tie=False, shard=None,
         hidden=64, inter=128, layers=2, heads=4, kv=1, head_dim=24, theta=1000000.0),
    dict(name="tiny_untied_fp32_sharded", dtype=torch.float32, tie=False, shard="150KB",
         hidden=48, inter=96, layers=3, heads=6, kv=3, head_dim=16, theta=500000.0),
    dict(name="tiny_tied_bf16", dtype=torch.bfloat16, tie=True, shard=None,
         hidden=64, inter=192, layers=2, heads=8, kv=2, head_dim=16, theta=10000.0),
    # Llama: no head norms; llama3 RoPE scaling with a short original context
    # so that all three frequency bands occur at head_dim 32.
    dict(name="llama_tied_fp32", arch="llama", dtype=torch.float32, tie=True, shard=None,
         hidden=64, inter=160, layers=3, heads=4, kv=2, head_dim=16, theta=10000.0),
    dict(name="llama_untied_bf16_rope3", arch="llama", dtype=torch.bfloat16, tie=False, shard=None,
         hidden=64, inter=128, layers=2, heads=4, kv=1, head_dim=32, theta=500000.0,
         rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                           original_max_position_embeddings=64)),
    dict(name="llama_tied_fp32_rope3_v4", arch="llama", dtype=torch.float32, tie=True, shard=None,
         hidden=48, inter=96, layers=2, heads=6, kv=3, head_dim=8, theta=100000.0, v4_config=True,
         rope_scaling=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0, high_freq_factor=2.0,
                           original_max_position_embeddings=32)),
]
VOCAB = 384
B, T = 2, 19
MAGIC = 0x54524954


def model_class(v):
    return LlamaForCausalLM if v.get("arch") == "llama" else Qwen3ForCausalLM


def build(v, seed):
    torch.manual_seed(seed)
    kw = dict(
        vocab_size=VOCAB, hidden_size=v["hidden"], intermediate_size=v["inter"],
        num_hidden_layers=v["layers"], num_attention_heads=v["heads"],
        num_key_value_heads=v["kv"], head_dim=v["head_dim"],
        rms_norm_eps=1e-6, max_position_embeddings=256, tie_word_embeddings=v["tie"],
        initializer_range=0.08, bos_token_id=1, eos_token_id=2,
    )
    rope = dict(rope_type="default")
    rope.update(v.get("rope_scaling", {}))
    rope["rope_theta"] = v["theta"]
    kw["rope_parameters"] = rope
    cfg = (LlamaConfig if v.get("arch") == "llama" else Qwen3Config)(**kw)
    model = model_class(v)(cfg).eval()
    with torch.no_grad():
        # Norm weights default to 1, which would hide a missing norm multiply.
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    return model.to(v["dtype"])


def to_v4_layout(path):
    """config.json as transformers 4.x writes it: rope_theta and rope_scaling at the top."""
    with open(path) as f:
        cfg = json.load(f)
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg["transformers_version"] = "4.51.0"
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../tests/fixtures/models"))
    ap.add_argument("--only", nargs="*", help="write only these variants")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i, v in enumerate(VARIANTS):
        if args.only and v["name"] not in args.only:
            continue
        d = os.path.join(args.out, v["name"])
        shutil.rmtree(d, ignore_errors=True)
        model = build(v, seed=1234 + i)
        kw = dict(safe_serialization=True)
        if v["shard"]:
            kw["max_shard_size"] = v["shard"]
        model.save_pretrained(d, **kw)
        if v.get("v4_config"):
            to_v4_layout(os.path.join(d, "config.json"))
        # Reload from disk in fp32: the reference sees exactly the stored values.
        ref = model_class(v).from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        g = torch.Generator().manual_seed(99 + i)
        tokens = torch.randint(0, VOCAB, (B, T + 1), generator=g)
        with torch.no_grad():
            logits = ref(tokens[:, :T]).logits.float()
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
        with open(os.path.join(d, "reference.bin"), "wb") as f:
            f.write(struct.pack("<5i", MAGIC, 1, B, T, VOCAB))
            f.write(tokens.numpy().astype("<i4").tobytes())
            f.write(logits.numpy().astype("<f4").tobytes())
            f.write(struct.pack("<f", loss.item()))
        print(f"{v['name']}: files {sorted(os.listdir(d))} loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
