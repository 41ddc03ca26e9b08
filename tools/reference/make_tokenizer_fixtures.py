#!/usr/bin/env python3
"""Writes the reference fixtures for trit's tokenizer, using Hugging Face
`tokenizers` (the implementation trit must match id for id).

Outputs, in tests/fixtures/ (all integers little-endian):

  wiki_test_raw.ids   ids of the whole wikitext-2-raw/wiki.test.raw
      char magic[8] = "TRIT_IDS"
      uint64 count
      uint32 ids[count]

  tokenizer_cases.bin tricky strings (special tokens inside text, CJK, emoji,
                      CRLF, whitespace runs, NFC-changing input, ...) plus
                      random strings drawn from an alphabet of awkward
                      characters, each with HF's ids and HF's decoding
      char magic[8] = "TRIT_TKC"
      uint32 n_cases
      n_cases times:
          uint32 text_len,    bytes text[text_len]      (UTF-8 input)
          uint32 n_ids,       uint32 ids[n_ids]         (encode, add_special_tokens=False)
          uint32 decoded_len, bytes decoded[decoded_len] (decode, skip_special_tokens=False)

Run:  python3 tools/reference/make_tokenizer_fixtures.py [DATA_DIR]
      (DATA_DIR defaults to ../shared/data relative to the repository root)
Needs: pip install tokenizers
"""
import os
import random
import struct
import sys
import unicodedata

from tokenizers import Tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = [
    "",
    " ",
    "Hello world",
    " Hello World!",
    "<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_end|><|im_end|>x<|endoftext|>",
    "<|im_end <|im_end| <<|im_end|>> |im_end|>",
    "<think>\n\n</think>\n\nThe answer is 42.",
    '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',
    "a<|fim_prefix|>b<|fim_middle|>c<|fim_suffix|>d<|fim_pad|><|repo_name|><|file_sep|>",
    "日本語のテキスト、中文测试。한국어 텍스트",
    "emoji 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🦙🦙",
    "line1\r\nline2\r\n\r\n\rline3\n\n\n",
    "many     spaces   \t\t  end   ",
    " " * 300 + "x" + "\n" * 50 + "\t" * 7,
    "e\u0301 cafe\u0301 A\u030a \u1100\u1161\u11a8 \u212b \u2126 o\u0308\u0304",
    "It's I'M we'RE they'Ve you'LL he'd ſ 'ſ 'S'T 'Ll",
    "\x85 NEL\x85x\x85\n \u00a0nbsp \u2028 \u2029 \u3000 \u180e \u200b \x1c\x1f",
    "12345678901234567890 1.5e-10 3,000,000 ²½Ⅻ١٢٣",
    "ab\x00cd\x01\x7f",
    "Ελληνικά Кириллица العربية עברית हिन्दी ไทย ខ្មែរ",
    "```c\nint main(void) { return 0; }\n```\n",
    "\u00e9\u00e9\u00e9 \u00c5ngstr\u00f6m na\u00efve",
    # Unicode-version edges: HF's regex knows Unicode 16.0 letters and digits,
    # its NFC only Unicode 9.0 (U+089B, U+1DF6, U+11935/U+11930 stay as they are).
    "\u1c8a's x\U00013ade_o \U00010d40\U00010d41 \U0002ebf0\U0002ebf1 \U00016d70",
    "o\u089b\u0327 a\u1df6\u0327 \U00011935\U00011930 e\u0301\u1df6",
]

# Random strings from an alphabet chosen to stress the regex, NFC and the
# added-token scan: letters, digits, punctuation, every kind of whitespace,
# combining marks, CJK, emoji and pieces of special tokens.
ALPHABET = (
    list("aeiouxyzAEIOUST019'\"!?.,-_/()[]{}<>|")
    + [" ", " ", " ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u00a0", "\u2028", "\u3000"]
    + ["\u0301", "\u0308", "\u0327", "\u030a", "\u1100", "\u1161", "\u11a8", "\u212b", "\u00e9", "\u00c5"]
    + ["日", "本", "中", "の", "한", "ខ្", "ـ", "ا", "я", "ß", "ſ", "İ", "\u0130"]
    + ["👍", "🏽", "\u200d", "🦙", "\U0001f1eb", "²", "½", "١"]
    + ["<|im_end|>", "<|im_start|>", "<|endoftext|>", "<think>", "<|im_", "|>", "'s", "'LL", "  "]
)


def random_cases(n, seed=1234):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "data")
    tok = Tokenizer.from_file(os.path.join(data, "qwen3-tokenizer", "tokenizer.json"))
    out_dir = os.path.join(REPO, "tests", "fixtures")
    os.makedirs(out_dir, exist_ok=True)

    # newline="" keeps the file's bytes: no newline translation.
    with open(os.path.join(data, "wikitext-2-raw", "wiki.test.raw"), encoding="utf-8", newline="") as f:
        text = f.read()
    ids = tok.encode(text, add_special_tokens=False).ids
    path = os.path.join(out_dir, "wiki_test_raw.ids")
    with open(path, "wb") as f:
        f.write(b"TRIT_IDS" + struct.pack("<Q", len(ids)) + struct.pack("<%dI" % len(ids), *ids))
    print(f"{path}: {len(ids)} ids")

    cases = CASES + random_cases(300)
    blob = [b"TRIT_TKC", struct.pack("<I", len(cases))]
    for s in cases:
        enc = tok.encode(s, add_special_tokens=False).ids
        dec = tok.decode(enc, skip_special_tokens=False)
        if dec != unicodedata.normalize("NFC", s):
            print(f"note: HF decode differs from NFC(input) for {s!r}", file=sys.stderr)
        b, d = s.encode("utf-8"), dec.encode("utf-8")
        blob += [struct.pack("<I", len(b)), b, struct.pack("<I", len(enc)), struct.pack("<%dI" % len(enc), *enc),
                 struct.pack("<I", len(d)), d]
    path = os.path.join(out_dir, "tokenizer_cases.bin")
    with open(path, "wb") as f:
        f.write(b"".join(blob))
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
