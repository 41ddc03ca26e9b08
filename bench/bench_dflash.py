#!/usr/bin/env python3
"""A DFlash drafter against plain decoding, the ternary student as a chain
drafter and prompt lookup: one run, same machine, same threads.

usage: bench/bench_dflash.py --trit build/trit --target DIR --drafter DIR
                             [--student DIR|FILE.gguf] [--max-tokens N] [--chat-prompts FILE]
                             [--wiki FILE] [--n K]

Prompt sets the drafter never trained on: chat (the user messages of
prompts/chat-eval.tsv, the target's chat template), code (a few editing and
writing requests, chat template) and WikiText (windows of wiki.test.raw,
continued as plain text). Each configuration runs `trit generate --json
--greedy` on every prompt; the figures come from its stderr and JSON (the
loop's own timers, prefill excluded): tau (tokens a target pass commits),
acceptance per block position, decode tokens/s, and the speed-up over plain
greedy decoding of the same prompts. Every speculative output must equal the
plain greedy ids (the script exits 1 otherwise).
"""
import argparse
import json
import re
import subprocess
import sys

CODE = [
    "Write a Python function that returns the n-th Fibonacci number iteratively.",
    "Write a Python function that checks whether a string is a palindrome, ignoring case.",
    "Write a C function that reverses a null-terminated string in place.",
    "Write a Python class Stack with push, pop and is_empty methods.",
    "Write a SQL query that lists the ten customers with the highest total order amount.",
    "Write a JavaScript function that removes duplicate numbers from an array.",
]


def run(trit, model, prompt, chat, max_tokens, extra):
    cmd = [trit, "generate", "--model", model, "--prompt", prompt, "--greedy", "--max-tokens", str(max_tokens),
           "--json"] + (["--chat"] if chat else []) + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    n = int(re.search(r"generated tokens: (\d+)", p.stderr).group(1))
    m = re.search(r"decode: +([0-9.]+) tok/s", p.stderr)
    rate = float(m.group(1)) if m else 0.0
    return out, n, (n / rate if rate > 0 else 0.0)


def bench_set(args, name, prompts, chat, configs):
    plain_ids, plain_n, plain_t = [], 0, 0.0
    for p in prompts:
        o, n, t = run(args.trit, args.target, p, chat, args.max_tokens, [])
        plain_ids.append(o["ids"])
        plain_n += n
        plain_t += t
    base = plain_n / plain_t if plain_t else 0.0
    print(f"{name}: {len(prompts)} prompts, plain greedy {plain_n} tokens at {base:.1f} tok/s")
    for label, extra in configs:
        n_tot, t_tot, passes, committed, at = 0, 0.0, 0, 0, None
        draft_ms = verify_ms = 0.0
        for p, want in zip(prompts, plain_ids):
            o, n, t = run(args.trit, args.target, p, chat, args.max_tokens, extra)
            if o["ids"] != want:
                sys.exit(f"{name}, {label}: output differs from plain greedy decoding for {p!r}")
            s = o["spec"]
            n_tot += n
            t_tot += t
            passes += s["passes"]
            committed += n - 1
            draft_ms += s["draft_ms"]
            verify_ms += s["verify_ms"]
            acc = [x * s["passes"] for x in s["accepted_at"]]
            at = acc if at is None else [a + b for a, b in zip(at, acc)]
        rate = n_tot / t_tot if t_tot else 0.0
        tau = committed / passes if passes else 0.0
        shares = " ".join(f"{a / passes:.2f}" for a in (at or [])[:8]) if passes else ""
        print(f"  {label:<28} tau {tau:5.2f}  {rate:7.1f} tok/s  {rate / base if base else 0:5.2f}x plain  "
              f"draft {draft_ms / max(passes, 1):6.2f} ms, verify {verify_ms / max(passes, 1):6.2f} ms a pass; "
              f"accepted by position: {shares}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--target", required=True)
    ap.add_argument("--drafter", required=True)
    ap.add_argument("--student")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--chat-prompts", default="prompts/chat-eval.tsv")
    ap.add_argument("--wiki", default="../shared/data/wikitext-2-raw/wiki.test.raw")
    ap.add_argument("--n", type=int, default=12, help="prompts per set")
    args = ap.parse_args()
    chat = [line.split("\t")[0] for line in open(args.chat_prompts, encoding="utf-8")
            if line.strip() and not line.startswith("#")][:args.n]
    text = open(args.wiki, encoding="utf-8").read()
    paras = [p.strip() for p in text.split("\n") if len(p.strip()) > 400 and not p.strip().startswith("=")]
    wiki = [p[:300] for p in paras[:: max(1, len(paras) // args.n)][:args.n]]
    configs = [("DFlash", ["--draft", args.drafter]), ("lookup, 4 tokens", ["--draft", "lookup"])]
    if args.student:
        configs.insert(1, ("student chain, 3 tokens", ["--draft", args.student, "--draft-tokens", "3"]))
    bench_set(args, "chat", chat, True, configs)
    bench_set(args, "code", CODE[:args.n], True, configs)
    bench_set(args, "wikitext", wiki, False, configs)


if __name__ == "__main__":
    main()
