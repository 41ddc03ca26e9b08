#!/usr/bin/env python3
"""check_layers.py — the folders of src/ form layers: each file includes only
headers of its own folder or of folders below it, and no set of modules
(a .c file and its .h) includes itself round a cycle. Exits 1, naming every
offending include and cycle; docs/architecture.md draws the same order.

    tools/check_layers.py [REPO_ROOT]
"""
import os
import re
import sys

# Bottom to top. Folders on one rank are siblings: neither includes the other.
LAYERS = [
    ["base"],
    ["quant"],            # ggml type table, ternary projection, packing
    ["format"],           # safetensors, GGUF reader and writer: bytes only
    ["tok"],
    ["kernels/cpu"],
    ["kernels"],
    ["arch"],             # tensor tables, ModelConfig, checkpoint and GGUF checks
    ["model"],
    ["train", "infer", "convert"],
    ["pipeline", "serve"],  # trit convert's stages; trit serve's HTTP API and batching
    ["apps"],
]
RANK = {folder: r for r, group in enumerate(LAYERS) for folder in group}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(path):
    """The layer folder of a file: src/<folder>/x.c, or apps/x.c."""
    parts = path.split("/")
    if parts[0] == "apps":
        return "apps"
    return "/".join(parts[1:-1])


def main(root):
    files = []
    for top in ("src", "apps"):
        for d, _, names in os.walk(os.path.join(root, top)):
            files += [os.path.relpath(os.path.join(d, n), root) for n in names if n.endswith((".c", ".h"))]
    bad = []
    edges = {}  # module -> modules it includes (module = path without extension)
    for f in sorted(files):
        here = folder_of(f)
        if here not in RANK:
            bad.append(f"{f}: folder '{here}' is in no layer (tools/check_layers.py LAYERS)")
            continue
        text = open(os.path.join(root, f), encoding="utf-8").read()
        mod = os.path.splitext(f)[0]
        for inc in INCLUDE.findall(text):
            target = os.path.join("src", inc) if "/" in inc else os.path.join(os.path.dirname(f), inc)
            there = folder_of(target) if "/" in inc else here
            if there not in RANK:
                bad.append(f"{f}: includes \"{inc}\", which is in no layer")
                continue
            if there != here and RANK[there] >= RANK[here]:
                how = "a sibling" if RANK[there] == RANK[here] else "a layer above"
                bad.append(f"{f}: includes \"{inc}\" from {how} ({there} over {here})")
            tmod = os.path.splitext(os.path.normpath(target))[0]
            if tmod != mod:
                edges.setdefault(mod, set()).add(tmod)
    # Module cycles: depth-first search, each cycle reported once.
    state, stack, cycles = {}, [], set()

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                cyc = stack[stack.index(n):]
                k = cyc.index(min(cyc))
                cycles.add(tuple(cyc[k:] + cyc[:k]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    for cyc in sorted(cycles):
        bad.append("include cycle: " + " -> ".join(cyc + (cyc[0],)))
    for line in bad:
        print("check_layers:", line)
    print(f"check_layers: {len(files)} files, {sum(len(v) for v in edges.values())} module includes, "
          f"{len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
