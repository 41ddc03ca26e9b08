#!/usr/bin/env python3
"""Writes tests/fixtures/tok_gguf/*.ids: what llama.cpp's own tokenizer and
Hugging Face `tokenizers` give for GGUF vocabularies, the reference for
trit's GGUF vocabulary import (src/tok/gguf_vocab.c) and tests/test_tok_gguf.c.

For each vocabulary:
  tiny-smollm      the small vocabulary built in test_tok_gguf.c, pre smollm
  smollm2          the real SmolLM2-135M-Instruct GGUF (scripts/fetch-smollm2.sh)
  qwen3-qwen2      the Qwen3 vocabulary (../shared/data/qwen3-tokenizer) as a
  qwen3-llama-bpe  GGUF holds it (every token by id, special added tokens as
  qwen3-gpt-2      control, the others user-defined), with these pre names
the texts (the repository's tokenizer test strings and random strings from
tools/reference/make_tokenizer_fixtures.py, llama.cpp's qwen2 test vectors,
digit and whitespace edge cases, chat text with special tokens, and
wiki.test.raw: all of it for smollm2, its first 256 KiB for the others) are
tokenized by
  - llama.cpp (llama-cpp-python 0.3.36, vocab_only) with add_bos=False and
    special=True: HF always cuts added tokens written in the text out first,
    which is llama.cpp's parse_special; with special=False llama.cpp would
    spell "<|im_end|>" as plain text (checked below: the two agree on every
    text without special-token text in it);
  - HF tokenizers on the tokenizer.json that trit's tokenizer_json_from_gguf
    writes (test_tok_gguf with TRIT_TOK_GGUF_WRITE=DIR writes them);
and the two must agree. Where they do not, the text must hold a letter or
number new in Unicode 16.0 (llama.cpp's character tables are older; HF's
regex engine and char::is_numeric know 16.0; see gguf_vocab.c): any other
disagreement fails the script. It also checks that transformers'
AutoTokenizer, given the tokenizer.json and tokenizer_config.json written for
SmolLM2, gives the same ids and renders the chat template.

Format (little-endian):
  char magic[8] = "TRIT_TGG"; uint32 n_cases; per case:
  uint32 flags   bit 0: text is wiki.test.raw[offset, offset + length)
                 bit 1: llama.cpp and HF disagree here (a known difference)
  bit 0 set: uint64 offset, uint64 length; else uint32 length, bytes (UTF-8)
  uint32 n, int32 ids[n]   llama.cpp
  uint32 n, int32 ids[n]   HF tokenizers; n = 0xFFFFFFFF: the same as llama.cpp

Run (after `make build/test_tok_gguf`):
    python3 tools/reference/make_gguf_tokenizer_fixtures.py [DATA_DIR]
Needs: pip install tokenizers transformers gguf numpy
       CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python==0.3.36
"""
import importlib.util
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

import gguf
import llama_cpp
from tokenizers import Tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "tests", "fixtures", "tok_gguf")
SMOLLM2 = os.path.join(os.environ.get("MODELS", os.path.join(REPO, "models")), "SmolLM2-135M-Instruct.Q4_1.gguf")
WIKI_SLICE = 256 * 1024  # bytes of wiki.test.raw for the Qwen3 layouts (all of it for SmolLM2)


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", "reference", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Digits next to letters, spaces and punctuation; number characters that are
# not ASCII; whitespace runs; emoji and CJK; the control bytes SmolLM2 has no
# token for (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D).
EXTRA = [
    "a  1", "½", "12345", "3.14", " 2024", "٣", "①", "x٣①½Ⅷ 12", "1,000,000.50", "v1.2.3-rc4", "0x1F 0b1010 1e-9",
    "2024-11-27T12:00:00Z", "$5.99 (10%) #1", "a1b2c3", "   12   34   ", "\t1\n2\r\n3", "١٢٣ ४५६ ๗๘๙ 〇一二",
    "²³¹ ⁴⁵ ₆₇ ⅓ ⅔ Ⅻ ⓵ ❶", "👍🏽1 🦙2 🇫🇷3", "日本語123中文", "line\n\n\n  \n\t\t x", "   ", "\n", " \n \n ",
    "a\x04b", ".\x04.", "hi\x06there \x13\x14x \x16\x1d", "  \x04", "ab\x00cd\x01\x7f",
    "'s 'S 'll 'LL 'Re 'ſ 'K", "don't I'm they've we'd", "<|im_end|>", "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "x<|endoftext|>y<repo_name>z<file_sep>w<think>1</think>", "<|im_end <|im_end| <<|im_end|>>",
]

DIGIT_ALPHABET = list("0123456789 .,-+/:ab xyzAZ'\n\t") + ["  ", "١", "٣", "①", "½", "²", "Ⅻ", "〇", "\u00a0", "ß", "日", "👍", "\x04"]


def digit_cases(n, seed=4321):
    rng = random.Random(seed)
    return ["".join(rng.choice(DIGIT_ALPHABET) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def ggml_vectors(data):
    with open(os.path.join(data, "tokenizer-tests", "ggml-vocab-qwen2.gguf.inp"), encoding="utf-8", newline="") as f:
        return f.read().split("\n__ggml_vocab_test__\n")[:-1]


TINY_TEXTS = ["12", " 12", "hi 1hi", "a1b22 333", "٣12 ①½", " 2024", "x's<|s|>aaa<u><unk>", "\U00010d40 1", "aaaa 1 2  3"]


def unicode16_ranges():
    """The Unicode 16.0 letters and numbers PCRE2 lacks, from trit's own tables."""
    src = open(os.path.join(REPO, "src", "tok", "tokenizer.c"), encoding="utf-8").read()
    ranges = []
    for name in ("EXTRA_L", "EXTRA_N"):
        body = re.search(name + r"\[\]\[2\] = \{(.*?)\};", src, re.S).group(1)
        ranges += [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+)\}", body)]
    return ranges


def write_gguf(path, tokens, types, merges, pre, bos, eos, unk, pad, add_bos):
    w = gguf.GGUFWriter(path, "llama")
    # llama.cpp reads these even with vocab_only.
    w.add_block_count(1)
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for setter, v in ((w.add_bos_token_id, bos), (w.add_eos_token_id, eos), (w.add_unk_token_id, unk), (w.add_pad_token_id, pad)):
        if v is not None:
            setter(v)
    w.add_add_bos_token(add_bos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def vocab_from_tokenizer_json(path):
    """Tokens by id, llama.cpp token types and "a b" merges, as a GGUF holds them."""
    d = json.load(open(path, encoding="utf-8"))
    n = 1 + max(list(d["model"]["vocab"].values()) + [a["id"] for a in d["added_tokens"]])
    tokens, types = [None] * n, [1] * n
    for t, i in d["model"]["vocab"].items():
        tokens[i] = t
    for a in d["added_tokens"]:
        tokens[a["id"]] = a["content"]
        types[a["id"]] = 3 if a["special"] else 4
    assert None not in tokens, path
    merges = [m if isinstance(m, str) else " ".join(m) for m in d["model"]["merges"]]
    return tokens, types, merges


def has_unicode16(text, u16):
    return any(a <= ord(c) <= b for c in text for a, b in u16)


class Layout:
    def __init__(self, name, gguf_path, json_path, texts, wiki_len):
        self.name, self.texts, self.wiki_len = name, texts, wiki_len
        self.llama = llama_cpp.Llama(model_path=gguf_path, vocab_only=True, verbose=False)
        self.hf = Tokenizer.from_file(json_path)
        self.added = [a["content"] for a in json.load(open(json_path, encoding="utf-8"))["added_tokens"]]

    def llama_ids(self, text, special=True):
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def run(self, wiki, u16):
        cases = [(0, t) for t in self.texts]
        if self.wiki_len:
            cases.append((1, wiki[: self.wiki_len]))
        blob, stats = [b"TRIT_TGG", struct.pack("<I", len(cases))], {"ids": 0, "mismatch": {}, "special_false_differs": 0}
        for kind, text in cases:
            llama, hf = self.llama_ids(text), self.hf.encode(text, add_special_tokens=False).ids
            if not any(a in text for a in self.added) and self.llama_ids(text, special=False) != llama:
                stats["special_false_differs"] += 1
            flags = kind
            if llama != hf:
                if not has_unicode16(text, u16):
                    raise SystemExit(f"{self.name}: llama.cpp and HF disagree on {text[:200]!r}\n  llama.cpp {llama[:40]}\n  HF        {hf[:40]}")
                stats["mismatch"]["unicode16"] = stats["mismatch"].get("unicode16", 0) + 1
                flags |= 2
            stats["ids"] += len(llama)
            b = text.encode("utf-8")
            blob.append(struct.pack("<I", flags))
            blob.append(struct.pack("<QQ", 0, len(b)) if kind else struct.pack("<I", len(b)) + b)
            blob.append(struct.pack("<I", len(llama)) + struct.pack("<%di" % len(llama), *llama))
            blob.append(struct.pack("<I", 0xFFFFFFFF) if hf == llama else struct.pack("<I", len(hf)) + struct.pack("<%di" % len(hf), *hf))
        path = os.path.join(OUT, self.name + ".ids")
        with open(path, "wb") as f:
            f.write(b"".join(blob))
        print(f"{path}: {len(cases)} cases, {stats['ids']} llama.cpp ids; disagreements with HF: "
              f"{sum(stats['mismatch'].values())} {stats['mismatch'] or ''}; special=False differs on "
              f"{stats['special_false_differs']} texts without special tokens")
        if stats["special_false_differs"]:
            raise SystemExit(f"{self.name}: special=False changed the ids of text without special tokens")


def check_transformers(json_dir, layout, texts):
    """AutoTokenizer reads the generated files and agrees; the chat template renders."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(json_dir)
    bad = [t for t in texts if tok.encode(t, add_special_tokens=True) != layout.llama_ids(t)]
    if bad:
        raise SystemExit(f"transformers AutoTokenizer differs from llama.cpp on {len(bad)} texts, e.g. {bad[0]!r}")
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ids = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    if list(ids) != layout.llama_ids(text):
        raise SystemExit("transformers' chat template ids differ from llama.cpp's on the rendered text")
    print(f"transformers AutoTokenizer ({type(tok).__name__}): {len(texts)} texts and the chat template agree with llama.cpp")


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "data")
    data = os.path.abspath(data)
    os.makedirs(OUT, exist_ok=True)
    base = load_module("make_tokenizer_fixtures")
    texts = base.CASES + base.random_cases(300) + EXTRA + digit_cases(200) + ggml_vectors(data)
    with open(os.path.join(data, "wikitext-2-raw", "wiki.test.raw"), encoding="utf-8", newline="") as f:
        wiki = f.read()
    if wiki.encode("utf-8") != open(os.path.join(data, "wikitext-2-raw", "wiki.test.raw"), "rb").read():
        raise SystemExit("wiki.test.raw does not round-trip through UTF-8")
    # A slice ending at a line end, so that it is a natural text; its length in bytes.
    head = wiki.encode("utf-8")[:WIKI_SLICE]
    slice_len = len(head[: head.rfind(b"\n") + 1].decode("utf-8"))
    u16 = unicode16_ranges()

    with tempfile.TemporaryDirectory() as tmp:
        test = os.path.join(REPO, "build", "test_tok_gguf")
        env = dict(os.environ, TRIT_TOK_GGUF_WRITE=tmp, TRIT_DATA=data)
        subprocess.run([test], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fixtures may be missing yet
        for f in ("tiny-smollm", "smollm2", "qwen3-qwen2", "qwen3-llama-bpe", "qwen3-gpt-2"):
            if not os.path.exists(os.path.join(tmp, f + ".tokenizer.json")):
                raise SystemExit(f"{test} did not write {f}.tokenizer.json (is it built? is {SMOLLM2} there?)")

        tokens, types, merges = vocab_from_tokenizer_json(os.path.join(tmp, "tiny-smollm.tokenizer.json"))
        types[tokens.index("<unk>")] = 2  # unknown, as the C test builds it
        write_gguf(os.path.join(tmp, "tiny.gguf"), tokens, types, merges, "smollm", len(tokens) - 3, len(tokens) - 3,
                   len(tokens) - 1, None, False)
        Layout("tiny-smollm", os.path.join(tmp, "tiny.gguf"), os.path.join(tmp, "tiny-smollm.tokenizer.json"), TINY_TEXTS, 0).run(wiki, u16)

        smol = Layout("smollm2", SMOLLM2, os.path.join(tmp, "smollm2.tokenizer.json"), texts, len(wiki))
        smol.run(wiki, u16)
        hf_dir = os.path.join(tmp, "smollm2-hf")
        os.makedirs(hf_dir)
        os.rename(os.path.join(tmp, "smollm2.tokenizer.json"), os.path.join(hf_dir, "tokenizer.json"))
        os.rename(os.path.join(tmp, "smollm2.tokenizer_config.json"), os.path.join(hf_dir, "tokenizer_config.json"))
        check_transformers(hf_dir, smol, [t for t in texts[:60] + EXTRA if not has_unicode16(t, u16)])

        tokens, types, merges = vocab_from_tokenizer_json(os.path.join(data, "qwen3-tokenizer", "tokenizer.json"))
        for pre in ("qwen2", "llama-bpe", "gpt-2"):
            g = os.path.join(tmp, f"qwen3-{pre}.gguf")
            write_gguf(g, tokens, types, merges, pre, 151643, 151645, None, 151643, False)
            Layout(f"qwen3-{pre}", g, os.path.join(tmp, f"qwen3-{pre}.tokenizer.json"), texts, slice_len).run(wiki, u16)


if __name__ == "__main__":
    main()
