#!/usr/bin/env python3
"""How many chat prompts with expected answers a model answers correctly.

    scripts/chat_score.py PARENT [STUDENT ...] [--prompts prompts/chat-eval.tsv]
                          [--trit build/trit] [--max-tokens 48] [--show 4] [--out FILE.tsv]

Each prompt goes through `trit generate --chat --greedy` (the model's own chat
template, greedy decoding, at most --max-tokens tokens); an answer counts as
correct when it contains the prompt's expected regular expression
(case-insensitive). Prints each model's score, for every model after the first
the share of the first model's correct answers it also gets right (the issue's
"answers at least 80 % of the prompts the parent answers") and how many of the
first model's words, from the start, its answers repeat (a finer measure than
the count when few answers are right), and the first
--show answers of every model in full for a person to read. --out writes every
answer (model, prompt, correct, text) as TSV.
"""
import argparse
import json
import re
import subprocess
import sys


def load_prompts(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            prompt, expected = line.split("\t")
            rows.append((prompt, re.compile(expected, re.I)))
    return rows


def generate_json(trit, model, prompt, max_tokens):
    """`trit generate --chat --greedy --json`'s object: prompt_ids, ids, text."""
    r = subprocess.run([trit, "generate", "--model", model, "--prompt", prompt, "--chat", "--greedy",
                        "--max-tokens", str(max_tokens), "--json"], capture_output=True, text=True,
                       errors="replace")
    if r.returncode != 0:
        sys.exit(f"chat_score: {model}: trit generate failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout)


def answer(trit, model, prompt, max_tokens):
    return generate_json(trit, model, prompt, max_tokens)["text"]


def shared_words(refs, texts):
    """The words of refs that texts repeat from the start, over all words of refs."""
    same = total = 0
    for r, t in zip(refs, texts):
        rw, tw = r.split(), t.split()
        total += len(rw)
        for x, y in zip(rw, tw):
            if x != y:
                break
            same += 1
    return same / max(1, total)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--prompts", default="prompts/chat-eval.tsv")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--show", type=int, default=4)
    ap.add_argument("--out")
    a = ap.parse_args()
    prompts = load_prompts(a.prompts)
    correct, texts = {}, {}
    for m in a.models:
        texts[m] = [answer(a.trit, m, p, a.max_tokens) for p, _ in prompts]
        correct[m] = [bool(rx.search(t)) for (_, rx), t in zip(prompts, texts[m])]
        print(f"{m}: {sum(correct[m])} of {len(prompts)} answered correctly", flush=True)
    first = a.models[0]
    for m in a.models[1:]:
        both = sum(1 for x, y in zip(correct[first], correct[m]) if x and y)
        share = both / max(1, sum(correct[first]))
        print(f"{m}: {both} of the {sum(correct[first])} that {first} answers ({100 * share:.0f} %); "
              f"{100 * shared_words(texts[first], texts[m]):.1f} % of {first}'s words repeated from the start")
    for m in a.models:
        print(f"\n--- {m}")
        for (p, _), t, ok in list(zip(prompts, texts[m], correct[m]))[: a.show]:
            print(f"[{'ok' if ok else '--'}] {p}\n     {t.strip()!r}")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write("model\tprompt\tcorrect\ttext\n")
            for m in a.models:
                for (p, _), t, ok in zip(prompts, texts[m], correct[m]):
                    f.write(f"{m}\t{p}\t{int(ok)}\t{json.dumps(t)}\n")


if __name__ == "__main__":
    main()
