#!/usr/bin/env python3
"""End-to-end interop check between trit and HF transformers (run by hand;
needs torch, transformers, tokenizers).

1. `trit init` writes a small random Qwen3 with the real Qwen3 vocabulary, in
   bf16 and in fp32.
2. transformers loads each with from_pretrained: no missing or unexpected
   tensors, and every tensor equals what is in the safetensors file.
3. transformers computes the perplexity of a text over the same
   non-overlapping windows `trit eval` uses; the two perplexities must agree
   to 1e-4 relative.

Usage: python3 tools/reference/check_hf_roundtrip.py [--trit build/trit] [--data ../shared/data]
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import Qwen3ForCausalLM


def hf_perplexity(model, ids, T):
    nll, n = 0.0, 0
    pos = 0
    with torch.no_grad():
        while pos < len(ids) - 1:
            t = min(T, len(ids) - 1 - pos)
            x = torch.tensor([ids[pos:pos + t]])
            y = torch.tensor(ids[pos + 1:pos + t + 1])
            logits = model(x).logits[0].double()
            nll += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
            n += t
            pos += t
    return math.exp(nll / n), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tokens", type=int, default=1500)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--model", help="check this trit-written model directory instead of fresh `trit init` ones")
    args = ap.parse_args()
    tok_path = os.path.join(args.data, "qwen3-tokenizer/tokenizer.json")
    text_path = os.path.join(args.data, "wikitext-2-raw/wiki.valid.raw")
    tok = Tokenizer.from_file(tok_path)
    ids = tok.encode(open(text_path, encoding="utf-8").read()).ids[: args.tokens + 1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in (["given"] if args.model else ["bfloat16", "float32"]):
            cfg = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", vocab_size=151936,
                       hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000,
                       max_position_embeddings=4096, tie_word_embeddings=(dtype == "bfloat16"),
                       torch_dtype=dtype, hidden_act="silu", bos_token_id=151643, eos_token_id=151645)
            cfg_path = os.path.join(tmp, f"cfg-{dtype}.json")
            json.dump(cfg, open(cfg_path, "w"))
            out = args.model or os.path.join(tmp, f"model-{dtype}")
            if not args.model:
                subprocess.run([args.trit, "init", "--config", cfg_path, "--out", out, "--seed", "7",
                                "--tokenizer", tok_path], check=True)
            model, info = Qwen3ForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
            model.eval()
            bad = {k: v for k, v in info.items() if v}
            print(f"{dtype}: transformers loading info: {bad or 'clean'}")
            failures += bool(info.get("missing_keys") or info.get("unexpected_keys") or info.get("mismatched_keys"))
            tensors = {}
            for f in sorted(os.listdir(out)):
                if f.endswith(".safetensors"):
                    tensors.update(load_file(os.path.join(out, f)))
            sd = model.state_dict()
            diff = max((sd[k].float() - v.float()).abs().max().item() for k, v in tensors.items())
            print(f"{dtype}: {len(tensors)} tensors, max |HF param - file| = {diff}")
            failures += diff != 0
            ppl_hf, n = hf_perplexity(model, ids, args.seq_len)
            text_file = os.path.join(tmp, "text.txt")
            open(text_file, "w", encoding="utf-8").write(open(text_path, encoding="utf-8").read())
            res = subprocess.run([args.trit, "eval", "--model", out, "--tokenizer", tok_path, "--data", text_file, "--seq-len",
                                  str(args.seq_len), "--max-tokens", str(args.tokens)],
                                 check=True, capture_output=True, text=True).stdout
            ppl_trit = float(re.search(r"^ppl (\S+)$", res, re.M).group(1))
            rel = abs(ppl_trit - ppl_hf) / ppl_hf
            print(f"{dtype}: perplexity over {n} tokens: trit {ppl_trit:.6f}  HF {ppl_hf:.6f}  rel diff {rel:.2e}")
            failures += rel > 1e-4
    print("OK" if not failures else f"{failures} FAILURE(S)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
