#!/usr/bin/env python3
"""Why a student misses chat answers: knowledge or drift.

    scripts/chat_forced.py PARENT STUDENT [--prompts prompts/chat-val.tsv]
                           [--trit build/trit] [--max-tokens 48]

For every prompt the parent answers correctly (greedy, `trit generate --chat
--greedy`, as scripts/chat_score.py scores it), the student reads the parent's
answer token by token (teacher forcing, in transformers, independent of trit's
runtime) and is scored on it:
  - key tokens: the answer tokens that overlap the expected regular
    expression's match (the fact itself, e.g. " Paris");
  - other tokens: the rest of the answer (its frame: "The capital of France is").
Prints, for each group, the share of tokens where the student's most likely
next token is the parent's, the student's mean NLL of the parent's token
(beside the parent's own: how sure the parent itself was), and the mean
KL(parent || student) per token. A student that ranks the key tokens
first under teacher forcing has the facts and loses them while decoding
(drift, exposure bias); one that does not has lost the facts.
"""
import argparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from chat_score import generate_json, load_prompts


def key_mask(pieces, match_span):
    """Which answer tokens overlap the character span of the regex match."""
    mask, pos = [], 0
    for p in pieces:
        mask.append(pos < match_span[1] and pos + len(p) > match_span[0])
        pos += len(p)
    return mask


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parent")
    ap.add_argument("student")
    ap.add_argument("--prompts", default="prompts/chat-val.tsv")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--max-tokens", type=int, default=48)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    par = AutoModelForCausalLM.from_pretrained(a.parent, dtype=torch.float32).eval()
    stu = AutoModelForCausalLM.from_pretrained(a.student, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(a.parent)
    sums = {k: [0, 0.0, 0.0, 0.0, 0] for k in ("key", "other")}  # agree, nll, kl, parent's nll, n
    answered = 0
    for prompt, expected in load_prompts(a.prompts):
        js = generate_json(a.trit, a.parent, prompt, a.max_tokens)
        ans = js["ids"]
        pieces = [tok.decode(ans[:i + 1]) for i in range(len(ans))]
        pieces = [p[len(pieces[i - 1]):] if i else p for i, p in enumerate(pieces)]
        m = expected.search("".join(pieces))
        if not m or not ans:
            continue
        answered += 1
        ids = torch.tensor([js["prompt_ids"] + ans])
        n0 = len(js["prompt_ids"])
        lp = torch.log_softmax(par(ids).logits[0, n0 - 1:-1], -1)
        ls = torch.log_softmax(stu(ids).logits[0, n0 - 1:-1], -1)
        tgt = torch.tensor(ans)
        agree = (ls.argmax(-1) == tgt).tolist()
        nll = (-ls.gather(1, tgt[:, None])[:, 0]).tolist()
        kl = (lp.exp() * (lp - ls)).sum(-1).tolist()
        pnll = (-lp.gather(1, tgt[:, None])[:, 0]).tolist()
        for i, is_key in enumerate(key_mask(pieces, m.span())):
            s = sums["key" if is_key else "other"]
            s[0] += agree[i]
            s[1] += nll[i]
            s[2] += kl[i]
            s[3] += pnll[i]
            s[4] += 1
    print(f"{a.student} on the {answered} prompts of {a.prompts} the parent answers (teacher forcing):")
    for k, (ag, nll, kl, pnll, n) in sums.items():
        if n:
            print(f"  {k:5s} tokens {n:4d}: student's top-1 is the parent's {100 * ag / n:5.1f} %, "
                  f"NLL {nll / n:.3f} (the parent's own {pnll / n:.3f}), KL(parent||student) {kl / n:.3f}")


if __name__ == "__main__":
    main()
