#!/usr/bin/env python3
"""Reference renderings of chat templates for tests/test_chat.c.

For each template (Qwen3's from ../shared/data/qwen3-tokenizer, SmolLM2's from
its GGUF's tokenizer.chat_template), renders one user message (and each
conversation of CONVERSATIONS) with add_generation_prompt=True through jinja2 as transformers'
apply_chat_template does, and writes tests/fixtures/chat/<name>.template and
<name>.<k>.expected (message k of MESSAGES) and <name>.conv<k>.expected.

Run: python3 tools/reference/make_chat_fixtures.py [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install jinja2 gguf
"""
import argparse
import json
import os

import jinja2

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "../../tests/fixtures/chat")
MESSAGES = ["What is the capital of France?", "Line one\nline two, ünïcode ✓", ""]
# Conversations (trit serve's requests); tests/test_chat.c holds the same.
CONVERSATIONS = [
    [("system", "You answer in one word."), ("user", "Capital of Italy?")],
    [("user", "Hi!"), ("assistant", "Hello! How can I help?"), ("user", "Name a colour.")],
    [("user", "2+2?"), ("assistant", "<think>\nadd them\n</think>\n\n4"), ("user", "And 3+3?")],
    [("system", "Be brief."), ("user", "a"), ("assistant", "b"), ("user", "c")],
]


def render(template, message):
    return render_conversation(template, [("user", message)])


def render_conversation(template, conv):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as transformers' chat rendering
    return env.from_string(template).render(messages=[{"role": r, "content": c} for r, c in conv],
                                            add_generation_prompt=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(HERE, "../../models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--data", default=os.path.join(HERE, "../../../shared/data"))
    args = ap.parse_args()
    from gguf import GGUFReader
    templates = {
        "qwen3": json.load(open(os.path.join(args.data, "qwen3-tokenizer/tokenizer_config.json")))["chat_template"],
        "smollm2": GGUFReader(args.gguf).fields["tokenizer.chat_template"].contents(),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, t in templates.items():
        with open(os.path.join(OUT, name + ".template"), "w") as f:
            f.write(t)
        for k, m in enumerate(MESSAGES):
            with open(os.path.join(OUT, f"{name}.{k}.expected"), "w") as f:
                f.write(render(t, m))
        for k, conv in enumerate(CONVERSATIONS):
            with open(os.path.join(OUT, f"{name}.conv{k}.expected"), "w") as f:
                f.write(render_conversation(t, conv))
        print(name, repr(render(t, MESSAGES[0])))


if __name__ == "__main__":
    main()
