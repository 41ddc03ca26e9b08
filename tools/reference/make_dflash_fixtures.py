#!/usr/bin/env python3
"""Reference for trit's DFlash drafter (src/model/drafter.c), written in torch
from the architecture as published (arXiv 2602.06036; z-lab/dflash's
DFlashDraftModel), not from trit's code.

A drafter of `layers` Qwen3 layers reads the target's hidden states at its
tapped layers: c_t = RMSNorm(fc([h_tap1,t ; ... ; h_tapn,t])). Each layer
makes keys/values of the context rows with its own k_proj (then k_norm) and
v_proj; the block rows x (the target's embedding of [anchor token, MASK,
...]) go through input_layernorm, q/k/v (q_norm, k_norm), RoPE at absolute
positions, attention over [context rows before the anchor ; the block's own
rows] with no mask among them, o_proj and residual, then the SwiGLU MLP
after post_attention_layernorm and residual; a final RMSNorm. Block j sits at
positions anchor_j..anchor_j+B-1 and sees the context rows < anchor_j.

Training loss (as SpecForge's DFlash trainer): the logits of the target's
LM head on block row k >= 1 predict token[anchor_j + k] (same position),
weight exp(-(k-1)/gamma) times the loss mask, summed cross-entropy over the
weight sum + 1e-6. D-PACE (arXiv 2605.18810, SpecForge's _dpace_weight): per
block, q_k the draft's probability of its label (detached), s_k = 0.5 q_k +
0.5, P_k the product of s over the scored positions up to k, position k's
weight the sum of P over the scored positions from k on; the loss the sum of
weight x cross-entropy.

tests/fixtures/dflash/<name>/ gets:
  drafter/          the drafter in the published layout (config.json, model.safetensors)
  io.safetensors    feats (S, n_taps*C): the context rows' tap features;
                    x_in (N*B, C): the blocks' input embeddings; anchors (N,) int32;
                    out (N*B, C): the drafter's final-normed hidden rows;
                    embed (V, C): the target's (tied) embedding / LM head;
                    labels (N*B,) int32, weights (N*B,): the loss's labels and weights;
                    loss (1,); grad.<name> for every drafter tensor;
                    loss_dpace (1,), dgrad.<name>: the same under D-PACE.
The sums run in float64, so the fixture is the architecture's exact value.
Run: python3 tools/reference/make_dflash_fixtures.py   (needs torch, safetensors)
"""
import json
import math
import os
import shutil

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/dflash")
C, NH, NKV, HD, F, V = 64, 4, 2, 16, 128, 96
TARGET_LAYERS, THETA, EPS = 6, 10000.0, 1e-6
S, GAMMA = 20, 4.0
VARIANTS = [
    # a mask row of the target's embedding, as the published Qwen3 drafters
    dict(name="mask_row", layers=2, B=4, taps=[1, 2, 3], mask_token_id=95, anchors=[5, 11, 16]),
    # a trained mask embedding of its own, one layer, one tap
    dict(name="mask_embedding", layers=1, B=3, taps=[2], mask_token_id=None, anchors=[1, 8, 12, 17]),
]


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rope(x, pos):
    # HF "rotate half": pairs (i, i + HD/2), frequency theta^(-2i/HD)
    half = HD // 2
    inv = 1.0 / (THETA ** (torch.arange(half, dtype=torch.float64) * 2 / HD))
    ang = pos.to(torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    cos = torch.cat([cos, cos], -1)[:, None, :]
    sin = torch.cat([sin, sin], -1)[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def layer_forward(p, l, x, c, anchor, B):
    """One drafter layer on one block x (B, C) at positions anchor.., context c (anchor, C)."""
    g = lambda n: p[f"layers.{l}.{n}"]  # noqa: E731
    u = rms(x, g("input_layernorm.weight"))
    q = (u @ g("self_attn.q_proj.weight").T).view(B, NH, HD)
    kin = torch.cat([c, u], 0)
    k = (kin @ g("self_attn.k_proj.weight").T).view(-1, NKV, HD)
    v = (kin @ g("self_attn.v_proj.weight").T).view(-1, NKV, HD)
    q = rms(q, g("self_attn.q_norm.weight"))
    k = rms(k, g("self_attn.k_norm.weight"))
    q = rope(q, torch.arange(anchor, anchor + B))
    k = rope(k, torch.cat([torch.arange(anchor), torch.arange(anchor, anchor + B)]))
    rep = NH // NKV
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    att = torch.softmax(torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(HD), -1)
    o = torch.einsum("hqk,khd->qhd", att, v).reshape(B, NH * HD)
    x = x + o @ g("self_attn.o_proj.weight").T
    u = rms(x, g("post_attention_layernorm.weight"))
    gate = u @ g("mlp.gate_proj.weight").T
    up = u @ g("mlp.up_proj.weight").T
    return x + (torch.nn.functional.silu(gate) * up) @ g("mlp.down_proj.weight").T


def drafter_forward(p, cfg, feats, x_in, anchors):
    B = cfg["B"]
    c = rms(feats @ p["fc.weight"].T, p["hidden_norm.weight"])
    outs = []
    for j, a in enumerate(anchors):
        x = x_in[j * B:(j + 1) * B]
        for l in range(cfg["layers"]):
            x = layer_forward(p, l, x, c[:a], a, B)
        outs.append(rms(x, p["norm.weight"]))
    return torch.cat(outs, 0)


def make(cfg, gen):
    B, L, nt = cfg["B"], cfg["layers"], len(cfg["taps"])
    names = {"fc.weight": (C, nt * C), "hidden_norm.weight": (C,), "norm.weight": (C,)}
    if cfg["mask_token_id"] is None:
        names["mask_embedding"] = (C,)
    per = {"input_layernorm.weight": (C,), "self_attn.q_proj.weight": (NH * HD, C),
           "self_attn.k_proj.weight": (NKV * HD, C), "self_attn.v_proj.weight": (NKV * HD, C),
           "self_attn.o_proj.weight": (C, NH * HD), "self_attn.q_norm.weight": (HD,),
           "self_attn.k_norm.weight": (HD,), "post_attention_layernorm.weight": (C,),
           "mlp.gate_proj.weight": (F, C), "mlp.up_proj.weight": (F, C), "mlp.down_proj.weight": (C, F)}
    for l in range(L):
        for n, s in per.items():
            names[f"layers.{l}.{n}"] = s
    p = {}
    for n, s in names.items():
        if len(s) == 1 and n != "mask_embedding":  # norms near 1, not exactly, so their gradients matter
            p[n] = (1.0 + 0.1 * torch.randn(s, generator=gen, dtype=torch.float64))
        else:  # larger than the init's 0.02, so every path moves the output
            p[n] = 0.15 * torch.randn(s, generator=gen, dtype=torch.float64)
    p = {n: t.float().double().requires_grad_(True) for n, t in p.items()}  # exactly fp32 values

    embed = (0.5 * torch.randn(V, C, generator=gen, dtype=torch.float64)).float().double()
    tokens = torch.randint(0, V - 1, (S,), generator=gen)
    feats = torch.randn(S, nt * C, generator=gen, dtype=torch.float64).float().double()
    anchors = cfg["anchors"]
    N = len(anchors)
    mask_row = p["mask_embedding"] if cfg["mask_token_id"] is None else embed[cfg["mask_token_id"]]
    rows, labels, weights = [], [], []
    for a in anchors:
        rows.append(embed[tokens[a]][None, :])
        for k in range(1, B):
            rows.append(mask_row[None, :])
        for k in range(B):
            labels.append(int(tokens[a + k]) if a + k < S else 0)
            ok = k >= 1 and a + k < S
            weights.append(math.exp(-(k - 1) / GAMMA) if ok else 0.0)
    x_in = torch.cat(rows, 0)
    out = drafter_forward(p, cfg, feats, x_in, anchors)
    logits = out @ embed.T
    w = torch.tensor(weights, dtype=torch.float64)
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor(labels), reduction="none")
    loss = (w * ce).sum() / (w.sum() + 1e-6)
    loss.backward()
    grads = {n: t.grad.clone() for n, t in p.items()}
    for t in p.values():
        t.grad = None
    out2 = drafter_forward(p, cfg, feats, x_in, anchors)
    logits2 = out2 @ embed.T
    ce2 = torch.nn.functional.cross_entropy(logits2, torch.tensor(labels), reduction="none")
    q = torch.exp(-ce2).detach()
    scored = w > 0
    dweights = torch.zeros(N * B, dtype=torch.float64)
    for j in range(N):
        rows = [j * B + k for k in range(B) if scored[j * B + k]]
        P, run = [], 1.0
        for r in rows:
            run = run * (0.5 * q[r] + 0.5)
            P.append(run)
        for i, r in enumerate(rows):
            dweights[r] = sum(P[i:])
    loss_dpace = (dweights * ce2).sum()
    loss_dpace.backward()

    d = os.path.join(OUT, cfg["name"])
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "drafter"))
    config = {
        "architectures": ["DFlashDraftModel"], "model_type": "qwen3", "attention_bias": False,
        "hidden_act": "silu", "hidden_size": C, "intermediate_size": F, "num_hidden_layers": L,
        "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD, "rms_norm_eps": EPS,
        "rope_theta": THETA, "max_position_embeddings": 128, "vocab_size": V, "tie_word_embeddings": False,
        "bos_token_id": None, "eos_token_id": None, "torch_dtype": "float32",
        "block_size": B, "num_target_layers": TARGET_LAYERS,
        "dflash_config": {"mask_token_id": cfg["mask_token_id"], "target_layer_ids": cfg["taps"]},
    }
    with open(os.path.join(d, "drafter", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file({n: t.detach().float().contiguous() for n, t in p.items()},
              os.path.join(d, "drafter", "model.safetensors"), metadata={"format": "pt"})
    io = {"feats": feats.float(), "x_in": x_in.detach().float(), "anchors": torch.tensor(anchors, dtype=torch.int32),
          "out": out.detach().float(), "embed": embed.float(), "labels": torch.tensor(labels, dtype=torch.int32),
          "weights": w.float(), "loss": loss.detach().float().reshape(1),
          "loss_dpace": loss_dpace.detach().float().reshape(1)}
    for n, t in p.items():
        io["grad." + n] = grads[n].float()
        io["dgrad." + n] = t.grad.float()
    save_file({n: t.contiguous() for n, t in io.items()}, os.path.join(d, "io.safetensors"))
    print(f"{cfg['name']}: {N} blocks of {B}, loss {loss.item():.6f}, D-PACE {loss_dpace.item():.6f}")


def main():
    gen = torch.Generator().manual_seed(2602)
    for cfg in VARIANTS:
        make(cfg, gen)


if __name__ == "__main__":
    main()
