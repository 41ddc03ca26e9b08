#!/usr/bin/env python3
"""Time per training step: trit against torch (the reference trainer of
tools/reference/make_train_fixtures.py) on the same model, batch and recipe,
in one run, at each precision: trit --precision fp32 against torch fp32, trit
--precision bf16 against torch under bf16 autocast (bf16 matrix products,
fp32 weights and optimizer, as trit's).

The model is a Qwen3 of the given config.json written once by `trit init`;
torch trains it with the same ternary straight-through projection, AdamW,
clipping. Both use the same threads (torch.get_num_threads(), OMP_NUM_THREADS).
usage: python3 bench/bench_vs_torch.py [--config configs/wikitext-parent.json]
       [--batch 8 --seq 128 --steps 6] [--precisions fp32,bf16] [--trit build/trit] [--data ../shared/data]
Needs torch and transformers (pip).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as Fn
from transformers import Qwen3ForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tools/reference"))
from make_train_fixtures import patch_ternary  # noqa: E402  the same STE as the reference trainer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/wikitext-parent.json")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--precisions", default=default_precisions())
    a = ap.parse_args()
    precisions = a.precisions.split(",")
    tok = os.path.join(a.data, "qwen3-tokenizer/tokenizer.json")
    text = os.path.join(a.data, "wikitext-2/valid.txt")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "model")
        subprocess.run([a.trit, "init", "--config", a.config, "--out", model_dir, "--dtype", "float32",
                        "--tokenizer", tok], check=True, capture_output=True)
        results = []
        for prec in precisions:
            # trit: seconds per step from its own log, steps after the first.
            out = os.path.join(tmp, "out-" + prec)
            subprocess.run([a.trit, "train", "--model", model_dir, "--data", text, "--out", out,
                            "--steps", str(a.steps), "--batch-size", str(a.batch), "--seq-len", str(a.seq),
                            "--group-size", str(a.group), "--eval-every", "0", "--precision", prec],
                           check=True, capture_output=True)
            log = [json.loads(l) for l in open(os.path.join(out, "train.jsonl")) if '"loss"' in l]
            trit_s = (log[-1]["elapsed_s"] - log[0]["elapsed_s"]) / (len(log) - 1)
            results.append((prec, trit_s, torch_step(model_dir, a, prec)))
    tokens = a.batch * a.seq
    print(f"model {a.config}, batch {a.batch} x {a.seq}, ternary g{a.group}, {a.steps} steps, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    for prec, trit_s, torch_s in results:
        peer = "torch fp32" if prec == "fp32" else "torch bf16 autocast"
        print(f"{prec}: trit {trit_s:7.3f} s/step ({tokens / trit_s:6.1f} tok/s), {peer} {torch_s:7.3f} s/step "
              f"({tokens / torch_s:6.1f} tok/s), ratio torch/trit time {torch_s / trit_s:.2f}x")


def default_precisions():
    """fp32, and bf16 where the CPU has bf16 products (trit's --precision bf16 needs them)."""
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        flags = []
    return "fp32,bf16" if "avx512_bf16" in flags else "fp32"


def torch_step(model_dir, a, prec):
    """Mean seconds per step of torch's ternary STE step after the first."""
    model = Qwen3ForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model.train()
    patch_ternary(model, a.group, {"lam": 1.0})  # fully ternary, nothing kept
    params = [p for p in model.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(a.steps):
        x = torch.randint(0, 151643, (a.batch, a.seq + 1), generator=g)
        t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
            logits = model(x[:, :-1]).logits
        loss = Fn.cross_entropy(logits.float().reshape(-1, V), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    del model, opt, params
    return sum(times[1:]) / (len(times) - 1)


if __name__ == "__main__":
    main()
