#!/usr/bin/env python3
"""Beam search and speculative decoding against plain decoding, one run, same machine.

usage: bench/bench_spec.py --trit build/trit --target DIR [--student DIR|FILE.gguf]
                           [--max-tokens N]

Every configuration runs `trit generate --json` on the same prompt and threads;
the figures are parsed from its stderr (the loop's own timers, prefill excluded):

  * beam search: the time of one N-beam step (an N-row product per weight, the
    KV cache reordered) against one greedy step of the same prompt and length;
  * speculative decoding: tokens per target pass, acceptance, decode tok/s and
    the speed-up over plain greedy decoding of the same prompt, for the student
    as a chain drafter (K tokens) and as a tree drafter at the same node budget,
    and for prompt lookup on a prompt whose answer repeats its text (code).
    Each speculative output is compared with the plain greedy ids: it must be
    identical (the script exits 1 otherwise).
"""
import argparse
import json
import re
import subprocess
import sys

CHAT = "Explain in a few sentences why the sky is blue."
CODE = ("Here is a Python function:\n\n"
        "def moving_average(values, window):\n"
        "    if window <= 0:\n"
        "        raise ValueError('window must be positive')\n"
        "    out = []\n"
        "    total = 0.0\n"
        "    for i, v in enumerate(values):\n"
        "        total += v\n"
        "        if i >= window:\n"
        "            total -= values[i - window]\n"
        "        if i >= window - 1:\n"
        "            out.append(total / window)\n"
        "    return out\n\n"
        "Rewrite this function with the variable `values` renamed to `xs`, and nothing else changed.")


def run(trit, model, prompt, max_tokens, extra):
    cmd = [trit, "generate", "--model", model, "--prompt", prompt, "--chat", "--max-tokens", str(max_tokens),
           "--json"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    err = p.stderr
    r = {"json": [json.loads(line) for line in p.stdout.splitlines() if line.strip()]}
    m = re.search(r"generated tokens: (\d+)", err)
    r["gen"] = int(m.group(1)) if m else None
    m = re.search(r"decode: +[0-9.]+ tok/s \((\d+) forward steps, ([0-9.]+) ms each; ([0-9.]+) tok/s", err)
    if m:
        r["steps"], r["ms_step"], r["tok_s"] = int(m.group(1)), float(m.group(2)), float(m.group(3))
    m = re.search(r"beam search: +(\d+) beams, (\d+) steps of \d+ rows, ([0-9.]+) ms a step", err)
    if m:
        r["steps"], r["ms_step"] = int(m.group(2)), float(m.group(3))
    m = re.search(r"speculative: +(\d+) target passes, ([0-9.]+) tokens per pass; (\d+) of (\d+) drafted", err)
    if m:
        r["passes"], r["per_pass"] = int(m.group(1)), float(m.group(2))
        r["accepted"], r["drafted"] = int(m.group(3)), int(m.group(4))
        r["tok_s"] = float(re.search(r"\ndecode: +([0-9.]+) tok/s", err).group(1))
        m = re.search(r"draft ([0-9.]+) s \((\d+) passes\), verify ([0-9.]+) s", err)
        r["t_draft"], r["t_verify"] = float(m.group(1)), float(m.group(3))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--target", required=True)
    ap.add_argument("--student")
    ap.add_argument("--max-tokens", type=int, default=96)
    a = ap.parse_args()
    bad = 0

    print(f"target {a.target}, student {a.student or '(none)'}, {a.max_tokens} tokens, chat prompts, greedy")
    plain = {}
    for name, prompt in (("chat", CHAT), ("code", CODE)):
        plain[name] = run(a.trit, a.target, prompt, a.max_tokens, ["--greedy"])
        p = plain[name]
        print(f"plain greedy, {name} prompt: {p['gen']} tokens, {p['ms_step']:.1f} ms a step, {p['tok_s']:.2f} tok/s")

    print("\n== beam search: one N-beam step against one greedy step (chat prompt, same length)")
    g = plain["chat"]
    for n in (2, 4, 8):
        b = run(a.trit, a.target, CHAT, a.max_tokens, ["--num-beams", str(n)])
        print(f"beams {n}: {b['steps']} steps, {b['ms_step']:.1f} ms a step = {b['ms_step'] / g['ms_step']:.2f}x "
              f"the greedy step ({g['ms_step']:.1f} ms)")

    print("\n== speculative decoding (greedy; output compared with plain greedy ids)")
    print(f"{'prompt':6} {'drafter':28} {'nodes':>5} {'tok/pass':>8} {'accept':>7} {'tok/s':>7} {'speed-up':>8} "
          f"{'draft s':>7} {'verify s':>8} {'ms/pass':>7}  identical   (ms/pass: one verification pass;"
          f" a plain step is above)")
    configs = []
    if a.student:
        for k in (2, 4, 6):
            configs.append(("chat", f"student chain K={k}", ["--draft", a.student, "--draft-tokens", str(k)], k))
        for w, k in ((2, 2), (2, 3), (3, 2)):
            configs.append(("chat", f"student tree W={w} K={k}",
                            ["--draft", a.student, "--draft-tokens", str(k), "--draft-tree", str(w)], w * k))
        configs.append(("code", "student chain K=4", ["--draft", a.student, "--draft-tokens", "4"], 4))
    for k in (4, 8):
        configs.append(("code", f"lookup chain K={k}", ["--draft", "lookup", "--draft-tokens", str(k)], k))
    configs.append(("code", "lookup tree W=2 K=4", ["--draft", "lookup", "--draft-tokens", "4", "--draft-tree", "2"], 8))
    configs.append(("chat", "lookup chain K=4", ["--draft", "lookup", "--draft-tokens", "4"], 4))
    for prompt_name, label, extra, nodes in configs:
        s = run(a.trit, a.target, CHAT if prompt_name == "chat" else CODE, a.max_tokens, ["--greedy"] + extra)
        same = s["json"][0]["ids"] == plain[prompt_name]["json"][0]["ids"]
        bad += not same
        acc = s["accepted"] / s["drafted"] if s["drafted"] else 0.0
        print(f"{prompt_name:6} {label:28} {nodes:5d} {s['per_pass']:8.2f} {100 * acc:6.1f}% {s['tok_s']:7.2f} "
              f"{s['tok_s'] / plain[prompt_name]['tok_s']:7.2f}x {s['t_draft']:7.2f} {s['t_verify']:8.2f} "
              f"{1e3 * s['t_verify'] / s['passes']:7.1f}  {'yes' if same else 'NO'}")
    if bad:
        sys.exit(f"{bad} speculative outputs differ from plain greedy decoding")


if __name__ == "__main__":
    main()
