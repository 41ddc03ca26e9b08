#!/usr/bin/env python3
"""trit's exported GGUF files against the real clients: stock llama.cpp
(llama-cpp-python 0.3.36, which builds the ggml-org/llama.cpp it vendors) and
the PyPI `gguf` package (0.19). Run by tests/test_interop.sh (in CI) and by hand.

For each model directory given (exactly ternary, as `trit train` writes them)
and each export type that holds it:
1. `trit export --model DIR --out F.gguf --type T [--embedding-type E]`.
2. gguf-py reads F.gguf; for TQ1_0 / TQ2_0 tensors gguf.quants.dequantize
   equals the model's weights exactly (Llama q/k rows in llama.cpp's rotary
   order); every tensor's type and shape are what was asked.
3. llama.cpp loads F.gguf (f32 KV cache, flash attention off) and tokenizes
   the prompt as trit does; its logits over the prompt are compared with the
   exact fp32 t*s model's (trit generate --logits on DIR, which equals
   transformers' within 1e-4, see test_model): relative L2 error per
   position, of logits centred on their row mean. llama.cpp quantizes
   activations to int8 (Q8_0 / Q8_K), so the error is not zero; it must stay
   below 5 % and below half of what a wrong export gives: controls written
   here as fp32 models with half the group scales doubled (and, printed, with
   the q/k rotary order wrong).
4. trit's own packed runtime on the same file (trit generate --logits on
   F.gguf) is held to the same bound.
5. Greedy continuation of --new-tokens tokens: llama.cpp's against trit's
   from DIR (the exact fp32 model; with --strict-greedy a divergence fails)
   and from F.gguf (trit's packed runtime: two int8 activation schemes, so a
   divergence at a near tie is reported with llama.cpp's top-2 margin there).

Usage: check_llama_cpp.py --trit build/trit --work DIR MODEL_DIR...
       [--types auto,q2_0,tq1_0,...] [--prompt TEXT] [--new-tokens 32] [--strict-greedy]
Exit status 1 on any failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

import gguf
from gguf.quants import dequantize
import llama_cpp

import llama_cpp_plain  # noqa: F401  (llama.cpp without its extra buffer types: see there)

GGML = {"F32": 0, "F16": 1, "Q8_0": 8, "BF16": 30, "TQ1_0": 34, "TQ2_0": 35, "Q2_0": 42}
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()[-2000:]))
    return r.stdout


def trit_generate(trit, model, prompt, n, logits_path=None):
    args = [trit, "generate", "--model", model, "--prompt", prompt, "--max-tokens", str(n), "--greedy", "--json"]
    if logits_path:
        args += ["--logits", logits_path]
    return json.loads(run(*args).strip().splitlines()[-1])


def config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def rotary_to_gguf(w, heads):
    """llama.cpp's converter order of q/k rows: HF row i*HD/2 + j -> 2j + i."""
    rows, cols = w.shape
    hd = rows // heads
    return w.reshape(heads, 2, hd // 2, cols).swapaxes(1, 2).reshape(rows, cols)


GGUF_KIND = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


def kept_linear(cfg):
    """The GGUF kinds of the linears `--keep-linear` kept in bf16, from the
    note trit writes into config.json (", kept bf16 v_proj,down_proj: ...")."""
    m = re.search(r", kept bf16 ([a-z_,]+):", cfg.get("trit_quantization", ""))
    return {GGUF_KIND[k] for k in m.group(1).split(",")} if m else set()


def check_gguf_py(path, model_dir, want_type, want_embed):
    """Types and shapes as asked (kept linears BF16 beside ternary matrices);
    TQ1_0/TQ2_0 dequantize to the model's weights."""
    cfg = config(model_dir)
    kept = kept_linear(cfg)
    st = load_file(os.path.join(model_dir, "model.safetensors"))
    if "Q2_0" in (want_type, want_embed):
        return None  # gguf-py 0.19 does not know type 42: its reader refuses the whole file
    r = gguf.GGUFReader(path)
    by_name = {t.name: t for t in r.tensors}
    checked = 0
    for t in r.tensors:
        is_embed = t.name in ("token_embd.weight", "output.weight")
        is_matrix = len(t.shape) == 2
        want = GGML[want_embed if is_embed else want_type] if is_matrix else 0
        if is_matrix and not is_embed and t.name.split(".")[2] in kept and want_type in ("Q2_0", "TQ1_0", "TQ2_0"):
            want = GGML["BF16"]
        if int(t.tensor_type) != want:
            fail("%s: %s is type %d, asked %d" % (path, t.name, int(t.tensor_type), want))
        if int(t.tensor_type) not in (GGML["TQ1_0"], GGML["TQ2_0"]):
            continue
        hf = hf_name(t.name, cfg)
        w = st[hf]
        if cfg["model_type"] == "llama" and (".attn_q." in t.name or ".attn_k." in t.name):
            heads = cfg["num_attention_heads"] if ".attn_q." in t.name else cfg["num_key_value_heads"]
            w = rotary_to_gguf(w, heads)
        d = dequantize(t.data, t.tensor_type).reshape(w.shape)
        if not np.array_equal(d, w):
            fail("%s: gguf-py dequantizes %s to something else (%d values differ)" % (path, t.name,
                                                                                     int((d != w).sum())))
        checked += 1
    if "output.weight" not in by_name and not cfg.get("tie_word_embeddings", False):
        fail("%s: untied model without output.weight" % path)
    return checked


HF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
HF_LAYER = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def hf_name(name, cfg):
    if name in HF_NAMES:
        return HF_NAMES[name]
    _, layer, kind, _ = name.split(".")
    return "model.layers.%s.%s.weight" % (layer, HF_LAYER[kind])


def write_control(model_dir, out_dir, how):
    """A copy of the model with one deliberate export bug, as fp32."""
    shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
    cfg = config(model_dir)
    st = load_file(os.path.join(model_dir, "model.safetensors"))
    for name, w in st.items():
        if w.ndim != 2 or ".lora_" in name:  # the adapters as they are
            continue
        if how == "scale" and "embed" not in name:
            w = w.copy()
            w.reshape(w.shape[0], -1, 64)[:, ::2, :] *= 2  # every other group's scale doubled
        if how == "rotary" and ("q_proj" in name or "k_proj" in name):
            heads = cfg["num_attention_heads"] if "q_proj" in name else cfg["num_key_value_heads"]
            w = rotary_to_gguf(w, heads)
        st[name] = np.ascontiguousarray(w)
    save_file(st, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


def rel_l2(a, b):
    """Relative L2 distance per position of logits centred on their mean (a
    shift common to a row changes no probability, and would hide the rest)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)


def lora_of(path):
    """The LoRA adapter file trit exported beside a GGUF model, or None."""
    lora = path[:-len(".gguf")] + ".lora.gguf"
    return lora if os.path.exists(lora) else None


def llama_load(path, n_ctx, lora=True):
    """The model, with its LoRA adapter file (unless lora is False)."""
    return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=2, logits_all=True,
                           verbose=False, flash_attn=False, type_k=0, type_v=0,
                           lora_path=lora_of(path) if lora else None)


def llama_greedy(llm, ids, n, eos):
    llm.reset()
    llm.eval(ids)
    out = []
    margins = []
    for _ in range(n):
        lg = np.array(llm.scores[llm.n_tokens - 1])
        top = np.argsort(lg)[-2:]
        nxt = int(top[-1])
        if nxt in eos:
            break
        out.append(nxt)
        margins.append(float(lg[top[-1]] - lg[top[-2]]))
        llm.eval([nxt])
    return out, margins


def first_divergence(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def check_model(args, model_dir, work):
    cfg = config(model_dir)
    V = cfg["vocab_size"]
    name = os.path.basename(os.path.normpath(model_dir))
    exact_logits = os.path.join(work, name + ".exact.f32")
    ref = trit_generate(args.trit, model_dir, args.prompt, args.new_tokens, exact_logits)
    ids = ref["prompt_ids"]
    exact = np.fromfile(exact_logits, dtype=np.float32).reshape(len(ids), V)
    control_err = {}
    for how in ("scale", "rotary"):
        cdir = os.path.join(work, name + ".control-" + how)
        write_control(model_dir, cdir, how)
        cpath = os.path.join(work, name + ".control.f32")
        trit_generate(args.trit, cdir, args.prompt, 1, cpath)
        control_err[how] = float(rel_l2(np.fromfile(cpath, dtype=np.float32).reshape(len(ids), V), exact).mean())
    # The bound: below half of what doubled scales give, and below 5 % (the
    # int8 activations of llama.cpp cost 2.4-3.2 % on real models). A wrong
    # q/k order shows only where attention is sharp (not in barely trained
    # models): that control is printed, and the order itself is checked
    # exactly by gguf-py on TQ files and by trit's read-back.
    bound = min(0.5 * control_err["scale"], 0.05)
    print("%s: controls (wrong export) give rel. L2 logit error %s; llama.cpp must stay below %.4f" %
          (name, ", ".join("%s %.4f" % kv for kv in control_err.items()), bound))
    for spec in args.types.split(","):
        want, _, embed = spec.partition("+")
        path = os.path.join(work, "%s.%s.gguf" % (name, spec.replace("+", "-")))
        cmd = [args.trit, "export", "--model", model_dir, "--out", path, "--type", want]
        if embed:
            cmd += ["--embedding-type", embed]
        try:
            line = run(*cmd).splitlines()[0]
        except RuntimeError as e:
            fail("%s: export %s: %s" % (name, spec, e))
            continue
        got_type = line.split("matrices ")[1].split(" ")[0].rstrip(",")  # "TQ2_0 (v_proj,down_proj BF16),"
        got_embed = line.split("embedding ")[1].split(",")[0]
        n_tq = check_gguf_py(path, model_dir, got_type, got_embed)
        llm = llama_load(path, max(64, len(ids) + args.new_tokens + 1))
        lids = llm.tokenize(args.prompt.encode(), add_bos=False, special=True)
        if lids != ids:
            fail("%s %s: llama.cpp tokenizes the prompt as %s, trit as %s" % (name, spec, lids, ids))
            continue
        llm.eval(ids)
        lg = np.array(llm.scores[:len(ids)], dtype=np.float32)
        err = rel_l2(lg, exact)
        agree = float((lg.argmax(-1) == exact.argmax(-1)).mean())
        ok = err.mean() < bound
        print("%s %-12s %s/%s: %s; llama.cpp logits rel. L2 %.4f mean, %.4f max, "
              "argmax agrees at %.0f%% of %d positions" % (name, spec, got_type, got_embed,
                                                          "gguf-py cannot read Q2_0" if n_tq is None else
                                                          "%d TQ tensors equal in gguf-py" % n_tq, err.mean(),
                                                          err.max(), 100 * agree, len(ids)))
        if not ok:
            fail("%s %s: llama.cpp's logits are %.4f from the exact model's (bound %.4f)" % (name, spec, err.mean(),
                                                                                          bound))
        if lora_of(path):  # the adapters matter: without them llama.cpp is much further off
            bare = llama_load(path, max(64, len(ids) + 1), lora=False)
            bare.eval(ids)
            berr = rel_l2(np.array(bare.scores[:len(ids)], dtype=np.float32), exact).mean()
            del bare
            print("    without its LoRA adapter file: rel. L2 %.4f mean" % berr)
            if not berr > 4 * err.mean():
                fail("%s %s: the adapters change llama.cpp's logits too little to be checked (%.4f without, %.4f "
                     "with)" % (name, spec, berr, err.mean()))
        # trit's own packed runtime on the same file, held to the same bound.
        tpath = os.path.join(work, name + ".packed.f32")
        trit_generate(args.trit, path, args.prompt, 1, tpath)
        terr = rel_l2(np.fromfile(tpath, dtype=np.float32).reshape(len(ids), V), exact)
        print("    trit packed runtime logits rel. L2 %.4f mean, %.4f max" % (terr.mean(), terr.max()))
        if not terr.mean() < bound:
            fail("%s %s: trit's packed logits are %.4f from the exact model's (bound %.4f)" % (name, spec, terr.mean(),
                                                                                            bound))
        eos = {cfg.get("eos_token_id")} - {None}
        # The noise of llama.cpp's logits: the spread of their difference to
        # the exact ones over the prompt. A greedy divergence where llama.cpp's
        # top two are closer than 4 of it is a near tie that noise explains.
        diff = (lg - lg.mean(-1, keepdims=True)) - (exact - exact.mean(-1, keepdims=True))
        noise = float(diff.std())
        lgen, margins = llama_greedy(llm, ids, args.new_tokens, eos)
        for label, model in (("trit fp32 (DIR)", model_dir), ("trit packed (GGUF)", path)):
            tgen = trit_generate(args.trit, model, args.prompt, args.new_tokens)["ids"]
            d = first_divergence(lgen, tgen)
            if d is None:
                print("    greedy %d tokens: llama.cpp == %s" % (len(lgen), label))
                continue
            m = margins[d] if d < len(margins) else float("nan")
            msg = "%s %s: greedy: llama.cpp and %s diverge at token %d of %d (llama.cpp's top-2 margin there " \
                  "%.4f, its logit noise %.4f)" % (name, spec, label, d, len(lgen), m, noise)
            if args.strict_greedy and model == model_dir and not m < 4 * noise:
                fail(msg)
            else:
                print("    " + msg + ("" if m < 4 * noise else " - not a near tie"))
        del llm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--work", required=True)
    ap.add_argument("--types", default="auto")
    ap.add_argument("--prompt", default="The history of the city begins in the year")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--strict-greedy", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    for m in args.models:
        try:
            check_model(args, m, args.work)
        except RuntimeError as e:
            fail(str(e))
    print("check_llama_cpp: %s" % ("ok" if failures == 0 else "%d failure(s)" % failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
