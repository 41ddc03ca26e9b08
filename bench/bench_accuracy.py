#!/usr/bin/env python3
"""How far the packed runtimes are from the exact model (make bench; not a
test): trit's packed kernels (int8 activations in blocks of 64) and stock
llama.cpp (llama-cpp-python 0.3.36: Q8_K activations for TQ2_0, Q8_0 blocks
of 32 for Q2_0) on the same GGUF, against the exact fp32 t*s model the file
holds (trit generate --logits on the HF directory, which equals transformers'
within 1e-4: test_model).

Over --windows stretches of --text (each about --chars characters, tokenized
by trit; llama.cpp is fed trit's ids), per position: KL(exact || runtime) of
the next-token distributions (float64), whether the argmax agrees, and the
exact model's top-2 margin where it does not.

Usage: bench_accuracy.py --trit build/trit --model DIR --text FILE GGUF...
       [--windows 16] [--chars 600]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tools/reference"))


def trit_logits(trit, model, prompt, path):
    r = subprocess.run([trit, "generate", "--model", model, "--prompt", prompt, "--max-tokens", "1", "--greedy",
                        "--json", "--logits", path], capture_output=True, text=True, errors="replace", check=True)
    ids = json.loads(r.stdout.strip().splitlines()[-1])["prompt_ids"]
    return ids, np.fromfile(path, dtype=np.float32).reshape(len(ids), -1)


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def compare(exact, got):
    """Per position: KL(exact || got), argmax agreement, exact's top-2 margin."""
    le, lg = log_softmax(exact), log_softmax(got)
    kl = (np.exp(le) * (le - lg)).sum(-1)
    top2 = np.sort(exact, -1)[:, -2:]
    return kl, exact.argmax(-1) == got.argmax(-1), top2[:, 1] - top2[:, 0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ggufs", nargs="+")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--model", required=True, help="the exact model (HF directory) the GGUF files hold")
    ap.add_argument("--text", required=True)
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--chars", type=int, default=600)
    args = ap.parse_args()
    import llama_cpp
    import llama_cpp_plain  # noqa: F401  (no AMX buffer type: it segfaults on some VMs)
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    step = max(args.chars, len(text) // max(1, args.windows + 1))
    prompts = [text[i * step:i * step + args.chars] for i in range(args.windows)]
    tmp = tempfile.mkdtemp()
    exact = [trit_logits(args.trit, args.model, p, os.path.join(tmp, "exact.f32")) for p in prompts]
    n_pos = sum(len(ids) for ids, _ in exact)
    print("%s: %d windows, %d positions; against the exact fp32 t*s model" % (os.path.basename(
        os.path.normpath(args.model)), len(prompts), n_pos))
    print("%-26s %-10s %12s %12s %10s %s" % ("GGUF", "runtime", "mean KL", "max KL", "argmax", "exact top-2 margin "
                                             "where the argmax differs (median)"))
    for path in args.ggufs:
        rows = {"trit": [], "llama.cpp": []}
        llm = llama_cpp.Llama(model_path=path, n_ctx=max(len(ids) for ids, _ in exact) + 8, n_batch=512,
                              n_threads=2, logits_all=True, verbose=False, flash_attn=False, type_k=0, type_v=0)
        for p, (ids, ex) in zip(prompts, exact):
            tids, tl = trit_logits(args.trit, path, p, os.path.join(tmp, "packed.f32"))
            assert tids == ids, "the GGUF's tokenizer gives other ids than the model directory's"
            rows["trit"].append(compare(ex, tl))
            llm.reset()
            llm.eval(ids)
            rows["llama.cpp"].append(compare(ex, np.array(llm.scores[:len(ids)], dtype=np.float32)))
        del llm
        for name, r in rows.items():
            kl = np.concatenate([x[0] for x in r])
            agree = np.concatenate([x[1] for x in r])
            margin = np.concatenate([x[2] for x in r])[~agree]
            print("%-26s %-10s %12.3e %12.3e %9.2f%% %s" % (os.path.basename(path), name, kl.mean(), kl.max(),
                                                          100 * agree.mean(),
                                                          "%.4f (%d positions)" % (np.median(margin), len(margin))
                                                          if len(margin) else "-"))


if __name__ == "__main__":
    main()
