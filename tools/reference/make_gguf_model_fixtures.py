#!/usr/bin/env python3
"""Tiny GGUF models for tests/test_import.c, and what transformers makes of them.

From two of the HF fixtures (tests/fixtures/models: a Llama and a Qwen3), writes
a GGUF the way llama.cpp's converter lays one out (its KV names, its tensor
names, Llama's q/k rows permuted for its rotary layout, the embedding in Q8_0,
linears in Q4_1 / Q5_0 / Q8_0 / F16, norms F32) with a small byte-level BPE
vocabulary, using the PyPI `gguf` package's GGUFWriter and quantizers. The
independent reference is transformers' own GGUF loading
(from_pretrained(..., gguf_file=...)): its logits on fixed tokens go to
<name>.reference.bin (the layout of tests/fixtures/models/*/reference.bin).

Also writes broken variants for the error paths: an unsupported architecture,
token arrays of different lengths, an unknown pre-tokenizer, a missing tensor.

Run: python3 tools/reference/make_gguf_model_fixtures.py   (needs torch, transformers, gguf, accelerate)
"""
import os
import struct

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter, TokenType, quants
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "../../tests/fixtures/models")
OUT = os.path.join(HERE, "../../tests/fixtures/gguf_models")
MAGIC, B, T = 0x54524954, 2, 17


def byte_symbols():
    """GPT-2's byte -> printable character map, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def vocab():
    tokens = byte_symbols()
    merges = []
    letters = "etaoinshr"
    for a in "Ġ" + letters:
        for b in letters:
            merges.append(f"{a} {b}")
            tokens.append(a + b)
    types = [TokenType.NORMAL] * len(tokens)
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        tokens.append(s)
        types.append(TokenType.CONTROL)
    return tokens, types, merges


def permute(w, n_head, n_kv):
    """llama.cpp convert_hf_to_gguf.py's LlamaModel.permute."""
    if n_kv is not None and n_head != n_kv:
        n_head = n_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


NAMES = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
         "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
         "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
         "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
QTYPES = {"attn_q": Q.Q4_1, "attn_k": Q.Q5_0, "attn_v": Q.Q8_0, "attn_output": Q.F16, "ffn_gate": Q.Q4_1,
          "ffn_up": Q.Q5_1, "ffn_down": Q.Q4_0}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    return f"blk.{parts[2]}.{NAMES['.'.join(parts[3:-1])]}.weight"


def write(path, cfg, tensors, arch, pre=None, drop=None, short_types=False):
    tokens, types, merges = vocab()
    w = GGUFWriter(path, arch)
    w.add_vocab_size(cfg["vocab_size"])  # the embedding rows; the token list is shorter
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"] if "rope_parameters" in cfg else cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre or ("qwen2" if arch == "qwen3" else "smollm"))
    w.add_token_list(tokens)
    w.add_token_types(types[:-1] if short_types else types)
    w.add_token_merges(merges)
    w.add_bos_token_id(len(tokens) - 3)
    w.add_eos_token_id(len(tokens) - 1)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    for hf, t in tensors.items():
        name = gguf_name(hf)
        if name == drop:
            continue
        t = t.astype(np.float32)
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):
            kv = cfg["num_attention_heads"] if "attn_q" in name else cfg["num_key_value_heads"]
            t = permute(t, cfg["num_attention_heads"], kv)
        kind = name.split(".")[-2]
        qt = Q.Q8_0 if name == "token_embd.weight" else QTYPES.get(kind, Q.F32)
        if qt == Q.F32:
            w.add_tensor(name, t)
        elif qt == Q.F16:
            w.add_tensor(name, t.astype(np.float16))
        else:
            w.add_tensor(name, quants.quantize(t, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def random_qwen3():
    """An untied Qwen3 with head_dim 128: transformers' GGUF loading takes
    Qwen3's head_dim from its config default (128), not from key_length."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    torch.manual_seed(11)
    cfg = Qwen3Config(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=128, rms_norm_eps=1e-6,
                      max_position_embeddings=256, tie_word_embeddings=False, initializer_range=0.08,
                      rope_parameters=dict(rope_type="default", rope_theta=1000000.0))
    model = Qwen3ForCausalLM(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    return cfg.to_dict(), {k: v.detach().numpy() for k, v in model.state_dict().items()}


def main():
    import json
    os.makedirs(OUT, exist_ok=True)
    for arch in ["llama", "qwen3"]:
        if arch == "llama":
            d = os.path.join(MODELS, "llama_tied_fp32")
            cfg = json.load(open(os.path.join(d, "config.json")))
            tensors = load_file(os.path.join(d, "model.safetensors"))
        else:
            cfg, tensors = random_qwen3()
        name = f"{arch}.gguf"
        path = os.path.join(OUT, name)
        write(path, cfg, tensors, arch)
        ref = AutoModelForCausalLM.from_pretrained(OUT, gguf_file=name, dtype=torch.float32).eval()
        g = torch.Generator().manual_seed(5)
        V = cfg["vocab_size"]
        tok = torch.randint(0, V, (B, T + 1), generator=g)
        with torch.no_grad():
            logits = ref(tok[:, :T]).logits.float()
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), tok[:, 1:].reshape(-1))
        with open(os.path.join(OUT, f"{arch}.reference.bin"), "wb") as f:
            f.write(struct.pack("<5i", MAGIC, 1, B, T, V))
            f.write(tok.numpy().astype("<i4").tobytes())
            f.write(logits.numpy().astype("<f4").tobytes())
            f.write(struct.pack("<f", loss.item()))
        print(arch, "loss", loss.item(), os.path.getsize(path), "bytes")
        if arch == "llama":
            write(os.path.join(OUT, "bad_arch.gguf"), cfg, tensors, "falcon")
            write(os.path.join(OUT, "bad_types.gguf"), cfg, tensors, arch, short_types=True)
            write(os.path.join(OUT, "bad_pre.gguf"), cfg, tensors, arch, pre="no-such-pre")
            write(os.path.join(OUT, "bad_missing.gguf"), cfg, tensors, arch, drop="blk.1.ffn_up.weight")


if __name__ == "__main__":
    main()
