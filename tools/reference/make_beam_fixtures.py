#!/usr/bin/env python3
"""Writes the reference fixtures for trit's beam search (and greedy search).

Uses Hugging Face transformers (with torch) as the independent reference: it
loads tiny checkpoints from tests/fixtures/models/ in fp32 and records what
`model.generate(..., do_sample=False, num_beams=N)` returns for fixed prompts,
so that trit's C beam search can be checked token for token and score for
score against HF's (vectorised, post-2025 refactor) implementation.

Each model lands in tests/fixtures/beam/<model>.json:
    {"model": name, "vocab_size": V, "cases": [
        {"prompt": [ids], "num_beams": N, "length_penalty": lp,
         "early_stopping": true | false | "never", "num_return_sequences": K,
         "max_new_tokens": M, "eos": [ids],
         "sequences": [[generated ids], ...],   # K of them, best first
         "scores": [float, ...]},               # out.sequences_scores; [] when N == 1
        ...]}
`sequences` hold only the ids generated after the prompt; HF pads them to a
common length with pad_token_id (= eos[0] here), so each is cut right after
its first EOS id (the EOS is kept). A sequence without EOS ran to
max_new_tokens. With N == 1 HF runs greedy search: K is 1 and there are no
scores.

Per model and per N in 1, 2, 4, 8 there are cases (a) whose beams reach EOS
(the EOS id is a token that greedy search produces early on), (b) that never
produce their EOS id, and (c) with two EOS ids (HF then keeps
(1 + n_eos) * N candidates a step), spread over length_penalty
{1, 0, 2, -0.5}, early_stopping {true, false, "never"} and
num_return_sequences {1, N}.

Every case is checked before it is written:
  * no logits processor is active (HF's list is empty), so the log-probs are
    plain log_softmax of the fp32 logits;
  * each returned score equals sum(log p(token)) / len ** length_penalty,
    recomputed with one forward pass over prompt + sequence, where len counts
    the generated ids including the EOS;
  * the same sequences come out when the model runs in float64, so a case does
    not hinge on a near-tie that a different (correct) implementation could
    break the other way; a fragile case is replaced by one with a new prompt.

Run:  python3 tools/reference/make_beam_fixtures.py [--models DIR] [--out tests/fixtures/beam] [--only NAME ...]
Needs: pip install torch transformers safetensors
"""
import argparse
import collections
import json
import os

import numpy as np
import torch

from transformers import AutoModelForCausalLM, GenerationConfig

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["tiny_tied_fp32", "tiny_untied_bf16", "llama_tied_fp32", "llama_untied_bf16_rope3"]
LPS = [1.0, 0.0, 2.0, -0.5]
SCORE_TOL = 1e-4
STATS = collections.Counter()  # largest relative score error seen when rescoring
REDRAWN = collections.Counter()  # why a drawn prompt or EOS choice was not used

# (kind, early_stopping, lp index offset, num_return_sequences: "1" or "N") for N >= 2.
# The lp index is rotated with N so that each early_stopping value meets several penalties.
BEAM_PLAN = [
    ("a", True, 0, "N"),
    ("a", False, 1, "1"),
    ("a", "never", 2, "N"),
    ("a", False, 3, "N"),
    ("b", True, 1, "1"),
    ("b", "never", 3, "N"),
    ("c", True, 2, "N"),
    ("c", False, 0, "1"),
    ("c", "never", 1, "N"),
    ("c", "never", 3, "1"),
]
GREEDY_PLAN = ["a", "a", "b", "c"]


class ProcessorSpy:
    """Records the logits processors and stopping criteria HF builds for a generate call."""

    def __init__(self, model):
        self.processors = None
        self.criteria = None
        orig_lp = model._get_logits_processor
        orig_sc = model._get_stopping_criteria

        def lp(*a, **k):
            self.processors = orig_lp(*a, **k)
            return self.processors

        def sc(*a, **k):
            self.criteria = orig_sc(*a, **k)
            return self.criteria

        model._get_logits_processor = lp
        model._get_stopping_criteria = sc


def load(path, dtype):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager").eval()
    # A fresh config: nothing from the checkpoint's generation_config.json (eos, bos,
    # min_length, suppress/forced tokens, ...) may reach generate().
    model.generation_config = GenerationConfig()
    return model


# min_new_tokens is left unset on purpose: HF turns min_new_tokens=0 into
# min_length = prompt length and adds a (no-op) MinLengthLogitsProcessor;
# min_length=0 adds none, so the processor list can be checked to be empty.


def generate(model, spy, prompt, n, lp, es, k, m, eos):
    ids = torch.tensor([prompt], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=n,
            length_penalty=lp, early_stopping=es, num_return_sequences=k, max_new_tokens=m,
            eos_token_id=list(eos), pad_token_id=eos[0], return_dict_in_generate=True,
            output_scores=True, min_length=0, repetition_penalty=1.0, no_repeat_ngram_size=0,
            temperature=None, top_k=None, top_p=None, use_cache=True)
    if spy is not None:
        assert len(spy.processors) == 0, f"unexpected logits processors: {spy.processors}"
        names = sorted(type(c).__name__ for c in spy.criteria)
        assert names == ["EosTokenCriteria", "MaxLengthCriteria"], names
    seqs = []
    for row in out.sequences.tolist():
        assert row[:len(prompt)] == prompt
        gen = row[len(prompt):]
        cut = next((i + 1 for i, t in enumerate(gen) if t in eos), len(gen))
        assert all(t == eos[0] for t in gen[cut:]), f"padding is not eos[0]: {gen}"
        assert 1 <= cut <= m
        assert cut == m or gen[cut - 1] in eos
        seqs.append(gen[:cut])
    scores = out.sequences_scores.tolist() if n > 1 else []
    assert len(seqs) == k and len(scores) == (k if n > 1 else 0)
    return seqs, scores


def rescore(model, prompt, gen, lp):
    """sum log p(gen | prompt) / len(gen) ** lp from a single fp32 forward pass."""
    ids = torch.tensor([prompt + gen], dtype=torch.long)
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    logp = torch.log_softmax(logits[len(prompt) - 1:-1], dim=-1)
    total = logp.gather(1, torch.tensor(gen).view(-1, 1)).sum().item()
    return total / (len(gen) ** lp)


def greedy_tokens(model, prompt, m):
    """The first m ids greedy search produces with no EOS (to pick EOS ids from)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                             max_new_tokens=m, min_new_tokens=m, eos_token_id=None, pad_token_id=0,
                             temperature=None, top_k=None, top_p=None)
    return out[0, len(prompt):].tolist()


def eos_candidates(greedy):
    """EOS ids likely to be reached: the ids greedy search first produces at steps 2, 3, 1, 4, ...

    Ids that greedy already produced at step 0 come last (they would end a beam at once)."""
    first = {}
    for i, t in enumerate(greedy):
        first.setdefault(t, i)
    order = [2, 3, 1, 4, 5, 6, 7, 0]
    return sorted(first, key=lambda t: order.index(first[t]) if first[t] in order else len(order))


def make_case(model, model64, spy, rng, vocab, kind, n, lp, es, k, m):
    """One verified case of the given kind, or None when the drawn prompt does not suit it."""
    plen = int(rng.integers(3, 13))
    prompt = [int(t) for t in rng.integers(0, vocab, plen)]
    greedy = greedy_tokens(model, prompt, 8)
    # Greedy search (N == 1) would end at once on an id it produces at step 0: skip those.
    reach = [t for t in eos_candidates(greedy) if (1 if n == 1 else 0) <= greedy.index(t) < m]
    never = [int(t) for t in rng.permutation(vocab)[:8]]
    if kind == "a":
        eos_lists = [[t] for t in reach[:4]]
    elif kind == "b":
        eos_lists = [[t] for t in never]
    else:
        # Two ids; half the time the reachable one comes second, so that the padding
        # (eos[0]) differs from the id that ends a sequence.
        eos_lists = []
        for i, t in enumerate(reach[:4]):
            u = next(x for x in never if x != t)
            eos_lists.append([t, u] if (i + n) % 2 == 0 else [u, t])
    for eos in eos_lists:
        seqs, scores = generate(model, spy, prompt, n, lp, es, k, m, eos)
        if kind in ("a", "c") and not any(s[-1] in eos for s in seqs):
            REDRAWN["no EOS"] += 1
            continue
        if kind == "b" and any(t in eos for s in seqs for t in s):
            REDRAWN["EOS hit"] += 1
            continue
        for s, sc in zip(seqs, scores):
            ref = rescore(model, prompt, s, lp)
            assert abs(ref - sc) <= SCORE_TOL * max(1.0, abs(sc)), (prompt, s, sc, ref)
            STATS["max_score_err"] = max(STATS["max_score_err"], abs(ref - sc) / max(1.0, abs(sc)))
        seqs64, _ = generate(model64, None, prompt, n, lp, es, k, m, eos)
        if seqs64 != seqs:
            REDRAWN["fragile"] += 1
            return None  # fragile: a near-tie decides it
        return dict(prompt=prompt, num_beams=n, length_penalty=lp, early_stopping=es,
                    num_return_sequences=k, max_new_tokens=m, eos=eos, sequences=seqs, scores=scores)
    REDRAWN["no eos fits"] += 1
    return None


def build_cases(model, model64, spy, seed, vocab):
    rng = np.random.default_rng(seed)
    plan = [(1, kind, 1.0, False, "1") for kind in GREEDY_PLAN]
    for ni, n in enumerate([2, 4, 8]):
        for kind, es, lpi, k in BEAM_PLAN:
            plan.append((n, kind, LPS[(lpi + ni) % len(LPS)], es, k))
    cases, retries = [], 0
    for ci, (n, kind, lp, es, k) in enumerate(plan):
        k = n if k == "N" else 1
        m = 4 + (ci * 5) % 9  # 4..12, spread
        for attempt in range(40):
            case = make_case(model, model64, spy, rng, vocab, kind, n, lp, es, k, m)
            if case is not None:
                break
            retries += 1
        else:
            raise RuntimeError(f"no case of kind {kind} for N={n} lp={lp} es={es}")
        case["kind"] = kind
        cases.append(case)
    return cases, retries


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(HERE, "../../tests/fixtures/models"))
    ap.add_argument("--out", default=os.path.join(HERE, "../../tests/fixtures/beam"))
    ap.add_argument("--only", nargs="*", help="write only these models")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    for i, name in enumerate(MODELS):
        if args.only and name not in args.only:
            continue
        path = os.path.join(args.models, name)
        model = load(path, torch.float32)
        model64 = load(path, torch.float64)
        spy = ProcessorSpy(model)
        vocab = model.config.vocab_size
        cases, retries = build_cases(model, model64, spy, seed=4242 + i, vocab=vocab)
        reached = sum(any(s and s[-1] in c["eos"] for s in c["sequences"]) for c in cases)
        for c in cases:
            del c["kind"]
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            f.write('{"model": %s, "vocab_size": %d, "cases": [\n' % (json.dumps(name), vocab))
            f.write(",\n".join(json.dumps(c) for c in cases))
            f.write("\n]}\n")
        per_n = {n: sum(c["num_beams"] == n for c in cases) for n in (1, 2, 4, 8)}
        print(f"{name}: {len(cases)} cases {per_n}, {reached} reach EOS, "
              f"{len(cases) - reached} do not, {retries} prompts redrawn ({dict(REDRAWN)})")
        print(f"  scores match a plain forward pass to {STATS['max_score_err']:.1e} (relative)")
        REDRAWN.clear()
        STATS.clear()


if __name__ == "__main__":
    main()
