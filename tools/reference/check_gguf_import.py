#!/usr/bin/env python3
"""Checks `trit import` against transformers' own GGUF loading (run by hand and by
scripts/quickstart.sh's check step; needs torch, transformers, gguf, tokenizers).

1. `trit import --gguf FILE --out DIR`.
2. transformers loads DIR with from_pretrained: no missing, unexpected or
   mismatched keys.
3. transformers loads the GGUF itself (from_pretrained(..., gguf_file=...)):
   every tensor equals DIR's, and the logits of both on the same tokens agree
   within 1e-4.
4. `trit eval` on DIR gives the perplexity transformers gives over the same
   non-overlapping windows of wiki.test.raw, within 1e-4 relative.
5. HF `tokenizers` loading DIR/tokenizer.json gives the ids `trit tokenize`
   gives on wiki.test.raw.

Usage: python3 tools/reference/check_gguf_import.py [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]
       [--trit build/trit] [--data ../shared/data] [--tokens 4096] [--seq-len 512]
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def hf_perplexity(model, ids, T):
    nll, n, pos = 0.0, 0, 0
    with torch.no_grad():
        while pos < len(ids) - 1:
            t = min(T, len(ids) - 1 - pos)
            logits = model(torch.tensor([ids[pos:pos + t]])).logits[0].double()
            nll += torch.nn.functional.cross_entropy(logits, torch.tensor(ids[pos + 1:pos + t + 1]),
                                                     reduction="sum").item()
            n, pos = n + t, pos + t
    return math.exp(nll / n), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--seq-len", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    text_path = os.path.join(args.data, "wikitext-2-raw/wiki.test.raw")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "model")
        subprocess.run([args.trit, "import", "--gguf", args.gguf, "--out", out], check=True)
        model, info = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
        model.eval()
        bad = {k: v for k, v in info.items() if v}
        print(f"transformers loading {out}: {bad or 'clean'}")
        failures += bool(info.get("missing_keys") or info.get("unexpected_keys") or info.get("mismatched_keys"))

        ref = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(args.gguf)),
                                                   gguf_file=os.path.basename(args.gguf), dtype=torch.float32)
        ref.eval()
        sd, rsd = model.state_dict(), ref.state_dict()
        diff = max((sd[k] - rsd[k]).abs().max().item() for k in rsd)
        print(f"weights: {len(rsd)} tensors, max |trit import - transformers GGUF| = {diff}")
        failures += diff != 0 or set(sd) != set(rsd)

        tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        text = open(text_path, encoding="utf-8").read()
        hf_ids = tok.encode(text).ids
        res = subprocess.run([args.trit, "tokenize", "--tokenizer", out, text_path], check=True, capture_output=True,
                             text=True).stdout
        trit_ids = [int(x) for x in res.split()]
        same = trit_ids == hf_ids
        print(f"tokenizer: wiki.test.raw, {len(hf_ids)} ids from HF tokenizers on DIR/tokenizer.json, "
              f"trit {'identical' if same else 'DIFFERENT'}")
        failures += not same

        ids = hf_ids[: args.tokens + 1]
        x = torch.tensor([ids[: args.seq_len]])
        with torch.no_grad():
            a, b = model(x).logits, ref(x).logits
        ldiff = (a - b).abs().max().item()
        print(f"logits over {args.seq_len} tokens: max |DIR - GGUF in transformers| = {ldiff:.3g}")
        failures += ldiff > 1e-4

        ppl_hf, n = hf_perplexity(model, ids, args.seq_len)
        res = subprocess.run([args.trit, "eval", "--model", out, "--data", text_path, "--seq-len", str(args.seq_len),
                              "--max-tokens", str(args.tokens)], check=True, capture_output=True, text=True).stdout
        ppl_trit = float(re.search(r"^ppl (\S+)$", res, re.M).group(1))
        rel = abs(ppl_trit - ppl_hf) / ppl_hf
        print(f"perplexity over {n} tokens (windows of {args.seq_len}): trit {ppl_trit:.6f}  transformers "
              f"{ppl_hf:.6f}  rel diff {rel:.2e}")
        failures += rel > 1e-4
    print("OK" if not failures else f"{failures} FAILURE(S)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
