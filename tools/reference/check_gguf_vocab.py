#!/usr/bin/env python3
"""Checks trit's tokenizer export (src/tok/gguf_vocab_export.c) with llama.cpp itself.

Runs build/test_vocab_export with TRIT_VOCAB_EXPORT_KEEP=DIR, which leaves two
vocab-only GGUFs that trit wrote (general.architecture and the tokenizer keys:
llama.cpp reads no other key when it loads with vocab_only):
  qwen3.gguf    the shared data's Qwen3 tokenizer (+ qwen3-0.6b's config.json),
                151936 rows
  smollm2.gguf  SmolLM2's vocabulary, imported from its GGUF as tokenizer.json
                and exported back
Then llama-cpp-python loads each (Llama(vocab_only=True)) and tokenizes a set
of strings (ASCII, digits, whitespace runs, contractions, CJK, Cyrillic,
emoji, code, chat and tool tokens) and the start of wiki.test.raw, with
special tokens parsed and nothing added:
  qwen3:   llama.cpp's ids must equal `trit tokenize` on the original
           tokenizer.json (which gives HF tokenizers' ids, tests/test_tokenizer.c);
  smollm2: llama.cpp's ids must equal llama.cpp's on the original GGUF, and
           the tokenizer metadata llama.cpp reports must be the original's.
Also vocabulary size, BOS / EOS ids and that no BOS is added (add_bos_token
false in both). Prints OK, or each mismatch and exits 1.

Usage: python3 tools/reference/check_gguf_vocab.py [--bin build/test_vocab_export] [--trit build/trit]
       [--data ../shared/data] [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf] [--wiki-bytes 20000]
Needs: llama-cpp-python (0.3.36 used), and the SmolLM2 GGUF (scripts/fetch-smollm2.sh).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import llama_cpp

TEXTS = [
    "Hello, world! It's 2025 and we've 12345 tokens.",
    "  leading spaces, trailing   \n\n\ttabs\r\n\r\n   \n",
    "3.14159 1,000,000 0x7FFF 2025-12-02 10:30",
    "I'M SURE THEY'LL SAY 'HELLO' -- DON'T WE'VE",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438",
    "\U0001f999\U0001f680 \u2705 \U0001f636\u200d\U0001f32b\ufe0f (emoji) caf\u00e9 na\u00efve Z\u00fcrich",
    "def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 3+4?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<think>\nLet me add.\n</think>\n\n7<|im_end|><|endoftext|>",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>",
    "<|fim_prefix|>a = <|fim_suffix|>\nb = 2<|fim_middle|>",
    "''''''```````\"\"\"\"......!!!!!!?????? ------=======",
]


def llama_ids(llm, text):
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)


def trit_ids(trit, tokenizer_dir, text):
    out = subprocess.run([trit, "tokenize", "--tokenizer", tokenizer_dir], input=text.encode("utf-8"),
                         capture_output=True, check=True).stdout.decode()
    return [int(x) for x in out.split()]


def load(path):
    return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)


def check_basics(name, llm, n_vocab, bos, eos, bad):
    if llm.n_vocab() != n_vocab or llm.token_bos() != bos or llm.token_eos() != eos:
        bad.append(f"{name}: n_vocab {llm.n_vocab()} bos {llm.token_bos()} eos {llm.token_eos()}, "
                   f"want {n_vocab} {bos} {eos}")
    if llm.tokenize(b"hi", add_bos=True, special=True) != llm.tokenize(b"hi", add_bos=False, special=True):
        bad.append(f"{name}: llama.cpp adds a BOS (add_bos_token should be false)")


def compare(name, texts, got, want, bad):
    n = 0
    for text, a, b in zip(texts, got, want):
        if a != b:
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            bad.append(f"{name}: {text[:40]!r}: llama.cpp {a[max(0, k - 4):k + 4]} vs {b[max(0, k - 4):k + 4]} "
                       f"at {k} ({len(a)} vs {len(b)} ids)")
        n += len(a)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/test_vocab_export")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--gguf", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--wiki-bytes", type=int, default=20000)
    a = ap.parse_args()
    with open(os.path.join(a.data, "wikitext-2-raw", "wiki.test.raw"), encoding="utf-8") as f:
        texts = TEXTS + [f.read(a.wiki_bytes)]
    bad = []
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, TRIT_VOCAB_EXPORT_KEEP=d, TRIT_DATA=a.data, MODELS=os.path.dirname(a.gguf))
        run = subprocess.run([a.bin], env=env, capture_output=True, text=True)
        if run.returncode != 0 or not os.path.exists(os.path.join(d, "smollm2.gguf")):
            print(f"{a.bin} failed or skipped:\n{run.stdout}{run.stderr}")
            sys.exit(1)

        qwen = load(os.path.join(d, "qwen3.gguf"))
        check_basics("qwen3", qwen, 151936, 151643, 151645, bad)
        tok_dir = os.path.join(a.data, "qwen3-tokenizer")
        n_qwen = compare("qwen3", texts, [llama_ids(qwen, t) for t in texts],
                         [trit_ids(a.trit, tok_dir, t) for t in texts], bad)

        exported, original = load(os.path.join(d, "smollm2.gguf")), load(a.gguf)
        check_basics("smollm2", exported, 49152, 1, 2, bad)
        n_smol = compare("smollm2", texts, [llama_ids(exported, t) for t in texts],
                         [llama_ids(original, t) for t in texts], bad)
        meta_e = {k: v for k, v in exported.metadata.items() if k.startswith("tokenizer.")}
        meta_o = {k: v for k, v in original.metadata.items()
                  if k.startswith("tokenizer.") and k != "tokenizer.ggml.add_space_prefix"}
        if meta_e != meta_o:
            bad.append(f"smollm2 metadata: {sorted(set(meta_e.items()) ^ set(meta_o.items()))}")
    for b in bad:
        print("MISMATCH", b)
    if bad:
        sys.exit(1)
    print(f"OK: llama.cpp {llama_cpp.__version__} loads trit's Qwen3 and SmolLM2 vocabulary GGUFs; "
          f"{len(texts)} texts: {n_qwen} Qwen3 ids equal trit/HF's, {n_smol} SmolLM2 ids equal the original GGUF's, "
          f"tokenizer metadata identical")


if __name__ == "__main__":
    main()
