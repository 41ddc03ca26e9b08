#!/usr/bin/env python3
"""Reference for trit's training step: gradients of every parameter under the
straight-through ternary projection, and 10 steps of the recipe, computed by
torch on HF transformers' Qwen3 and Llama.

The recipe (as trit implements it): every linear layer and the embedding
(tied or untied LM head too) are used as t*s in the forward, t = clamp(round(W/s),
-1, 1) per group of G consecutive input weights with s = mean(|W|) of the group;
the gradient passes straight through (dW = d(t*s)). Norm weights stay fp32.
AdamW (0.9, 0.95, eps 1e-8, weight decay on matrices only), cosine schedule
with linear warm-up, global-norm clipping at 1.0.

For each variant, tests/fixtures/train/<name>/ gets:
  model/            the starting checkpoint (save_pretrained, fp32)
  batches.bin       int32 magic 'TRIT', version 2, steps, B, T, then steps x B x (T+1) tokens
  grads.safetensors gradient of the mean loss of batch 0 for every parameter (HF names)
  trace.json        per step: loss, grad norm before clipping, lr; the recipe
  final.safetensors the latent weights after `steps` steps
Distillation variants add a frozen teacher (the starting model in fp32) and
the loss alpha*CE + (1 - alpha)*tau^2*KL(softmax(teacher/tau) || softmax(student/tau))
(with a reverse share r: (1 - r)*KL(teacher || student) + r*KL(student || teacher));
some also ramp the quantization ((1 - lam)*W + lam*t*s, lam = step/N) or keep
the embedding / LM head out of the projection (fp32, or rounded to bf16), or
add beta times the hidden-state term: the mean over layers and tokens of
||h_l - t_l||^2 / (||t_l||^2 + 1e-6*C), h_l and t_l the student's and the
teacher's output of decoder layer l. The learned-scale variant (trit train
--scale learned) trains one scale per group beside the weights: they start
as each group's MSE-optimal fp16 scale, the forward rounds them to fp16, and
their gradient is LSQ's (t - w/s where |w/s| <= 1, t outside); AdamW without
weight decay, inside the same global-norm clip. It also writes
scales.safetensors: init.<name>, grad.<name> (batch 0) and final.<name>.
The adapter variant (trit's --adapter-rank) gives every linear layer but the
head a rank-r correction: its forward uses t*s + B@A, A (r, in) and B (out, r)
rounded to bf16 (straight-through, fp32 latent) and trained without weight decay; they are saved with the model under PEFT's
names (<linear>.lora_A.weight, <linear>.lora_B.weight) beside config.json's
"trit_adapter_rank", and their gradients and final values with the rest; the
teacher (the starting model) runs W + B@A.
Run: python3 tools/reference/make_train_fixtures.py   (needs torch, transformers, safetensors)
"""
import json
import math
import os
import shutil
import struct

import sys

import numpy as np
import torch
import torch.nn.functional as Fn
from safetensors.torch import save_file
import argparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_quant_fixtures import mse_scale  # noqa: E402  the independent MSE-optimal scale
from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/train")
VOCAB, B, T = 256, 2, 16
RECIPE = dict(group_size=32, lr=2e-3, min_lr=2e-4, warmup=3, steps=10, beta1=0.9, beta2=0.95, eps=1e-8,
              weight_decay=0.01, clip=1.0)
VARIANTS = [
    dict(name="tied_ternary", tie=True, quant=True, steps=RECIPE["steps"]),
    dict(name="untied_ternary", tie=False, quant=True, steps=RECIPE["steps"]),
    dict(name="untied_none", tie=False, quant=False, steps=3),
    # Llama (no head norms), one with llama3 RoPE scaling.
    dict(name="llama_tied_ternary", arch="llama", tie=True, quant=True, steps=RECIPE["steps"],
         rope=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=8)),
    dict(name="llama_untied_ternary", arch="llama", tie=False, quant=True, steps=RECIPE["steps"]),
    # Distillation from the frozen starting model (the recipe's other levers too).
    dict(name="distill_ramp", tie=True, quant=True, steps=RECIPE["steps"], distill=(0.3, 2.0), ramp=4),
    dict(name="llama_distill_keep_bf16", arch="llama", tie=False, quant=True, steps=RECIPE["steps"],
         distill=(0.0, 1.0), keep="bf16"),
    dict(name="distill_keep_fp32", tie=True, quant=True, steps=RECIPE["steps"], distill=(0.5, 0.5), keep="fp32",
         ramp=10),
    # The hidden-state term beside the KL (trit train --distill-hidden).
    dict(name="distill_hidden", tie=True, quant=True, steps=RECIPE["steps"], distill=(0.2, 1.0), hidden=0.7),
    # Learned group scales (trit train --scale learned), as trit convert distils.
    dict(name="distill_learned_scales", tie=True, quant=True, steps=RECIPE["steps"], distill=(0.0, 1.0),
         learned=True),
    # Rank-4 adapters on every linear, with learned scales, as trit convert --adapter-rank trains them.
    dict(name="distill_adapters", tie=True, quant=True, steps=RECIPE["steps"], distill=(0.0, 1.0), learned=True,
         adapters=4),
    # Forward and reverse KL mixed (trit train --distill-reverse).
    dict(name="distill_reverse", tie=True, quant=True, steps=RECIPE["steps"], distill=(0.2, 1.0), reverse=0.5),
]


def model_class(v):
    return LlamaForCausalLM if v.get("arch") == "llama" else Qwen3ForCausalLM


def ternary(w, group):
    """t*s per group of `group` consecutive weights of each row. The scale is
    the mean of |w| computed in float64, rounded to float32 and then to fp16
    (clamped to its largest finite value) as trit does, since the packed GGUF
    types store it so; then w/s is a float32 division."""
    rows, cols = w.shape
    g = w.reshape(rows, cols // group, group)
    s = g.double().abs().mean(-1, keepdim=True).float().clamp(max=65504.0).half().float()
    t = torch.where(s > 0, torch.clamp(torch.round(g / torch.where(s > 0, s, torch.ones_like(s))), -1, 1),
                    torch.zeros_like(g))
    return (t * s).reshape(rows, cols)


def ste(w, group):
    return w + (ternary(w.detach(), group) - w).detach()


def forward_weight(w, group, lam, keep):
    """What trit's forward uses for the latent w: t*s, mixed (1 - lam)*w + lam*t*s
    during a quantization ramp, or a kept embedding (w itself, or w rounded to
    bf16). The gradient is the identity in every case (straight-through)."""
    with torch.no_grad():
        if keep == "fp32":
            f = w.clone()
        elif keep == "bf16":
            f = w.to(torch.bfloat16).float()
        else:
            f = ternary(w, group)
            if lam < 1.0:
                f = (1.0 - lam) * w + lam * f
    return f + (w - w.detach())


def init_scales(w, group):
    """Each group's MSE-optimal fp16 scale (rows, groups, 1), a parameter."""
    a = w.detach().double().numpy()
    s = [[mse_scale(a[r, g0:g0 + group], np.ones(group)) for g0 in range(0, a.shape[1], group)]
         for r in range(a.shape[0])]
    return torch.nn.Parameter(torch.tensor(s, dtype=torch.float32).unsqueeze(-1))


def learned_weight(w, s, group):
    """t*fp16(s) with straight-through gradient to w and LSQ's to s."""
    rows, cols = w.shape
    g = w.reshape(rows, cols // group, group)
    with torch.no_grad():
        sd = s.clamp(max=65504.0).half().float()
        ok = sd > 0
        v = g / torch.where(ok, sd, torch.ones_like(sd))
        t = torch.where(ok, torch.clamp(torch.round(v), -1, 1), torch.zeros_like(v))
        ds = torch.where(ok, torch.where(v.abs() <= 1, t - v, t), torch.zeros_like(v))
        value = t * sd
    q = g + (value - g).detach() + (s - s.detach()) * ds
    return q.reshape(rows, cols)


def patch_ternary(model, group, state):
    """state["lam"] is read at every forward; the embedding / LM head are kept
    when state["keep"] is set. With state["scales"] (a dict, filled here by
    weight name) the scales are learned; with state["adapters"] (module name:
    (A, B)) those linears add B @ A to their weight."""
    head = model.get_output_embeddings()
    names = {id(p): n for n, p in model.named_parameters()}
    scales = state.get("scales")

    def weight(w, keep):
        if scales is not None and not keep:
            n = names[id(w)]
            if n not in scales:
                scales[n] = init_scales(w, group)
            return learned_weight(w, scales[n], group)
        return forward_weight(w, group, state["lam"], keep)

    adapters = state.get("adapters") or {}

    def linear(m, k, name):
        if name in adapters:
            A, Bm = adapters[name]
            return lambda x: Fn.linear(x, weight(m.weight, k) + forward_weight(Bm, 0, 1.0, "bf16") @
                                       forward_weight(A, 0, 1.0, "bf16"), m.bias)
        return lambda x: Fn.linear(x, weight(m.weight, k), m.bias)

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            keep = state.get("keep") if mod is head else None
            mod.forward = linear(mod, keep, name)
    emb = model.model.embed_tokens
    emb.forward = lambda ids: Fn.embedding(ids, weight(emb.weight, state.get("keep")))
    if scales is not None:  # every scale made now, before the optimizer sees them
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear) and not (mod is head and state.get("keep")):
                weight(mod.weight, None)
        weight(emb.weight, state.get("keep"))


def build(v, seed):
    torch.manual_seed(seed)
    rope = dict(rope_type="default", rope_theta=10000.0)
    rope.update(v.get("rope", {}))
    cfg = (LlamaConfig if v.get("arch") == "llama" else Qwen3Config)(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, rope_parameters=rope,
        rms_norm_eps=1e-6, max_position_embeddings=128, tie_word_embeddings=v["tie"],
        initializer_range=0.05, bos_token_id=1, eos_token_id=2)
    model = model_class(v)(cfg).float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    return model


def lr_at(step, total):
    r = RECIPE
    if step < r["warmup"]:
        return r["lr"] * (step + 1) / r["warmup"]
    progress = min(1.0, (step - r["warmup"]) / max(1, total - 1 - r["warmup"]))
    return r["min_lr"] + 0.5 * (r["lr"] - r["min_lr"]) * (1 + math.cos(math.pi * progress))


def layer_outputs(model):
    """A list that each forward fills with every decoder layer's output."""
    outs = []
    for layer in model.model.layers:
        layer.register_forward_hook(lambda m, i, o: outs.append(o[0] if isinstance(o, tuple) else o))
    return outs


def hidden_term(hs, ht):
    terms = []
    for h, t in zip(hs, ht):
        e = ((h - t) ** 2).sum(-1)
        terms.append(e / ((t * t).sum(-1) + 1e-6 * t.shape[-1]))
    return torch.stack(terms).mean()


def add_adapters(model, d, rank, seed):
    """Random A, B for every linear of the decoder layers, written into the
    saved checkpoint d/model (and its config's trit_adapter_rank); module
    name: (A, B) as parameters."""
    from safetensors.torch import load_file
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and ".layers." in name:
            # bf16 values, as trit's quantize starts them
            A = torch.nn.Parameter((0.05 * torch.randn(rank, mod.in_features, generator=g)).bfloat16().float())
            Bm = torch.nn.Parameter((0.05 * torch.randn(mod.out_features, rank, generator=g)).bfloat16().float())
            out[name] = (A, Bm)
    path = os.path.join(d, "model", "model.safetensors")
    tensors = load_file(path)
    for name, (A, Bm) in out.items():
        tensors[f"{name}.lora_A.weight"] = A.detach().clone()
        tensors[f"{name}.lora_B.weight"] = Bm.detach().clone()
    save_file(tensors, path, metadata={"format": "pt"})
    cfg_path = os.path.join(d, "model", "config.json")
    cfg = json.load(open(cfg_path))
    cfg["trit_adapter_rank"] = rank
    json.dump(cfg, open(cfg_path, "w"), indent=2, sort_keys=True)
    return out


def named_params(model):
    # state_dict names (HF), one entry per distinct tensor (the tied head is the embedding)
    seen, out = set(), []
    for name, p in model.named_parameters():
        if id(p) not in seen:
            seen.add(id(p))
            out.append((name, p))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="write only these variants")
    args = ap.parse_args()
    for i, v in enumerate(VARIANTS):
        if args.only and v["name"] not in args.only:
            continue
        d = os.path.join(OUT, v["name"])
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        model = build(v, 4321 + i)
        model.save_pretrained(os.path.join(d, "model"), safe_serialization=True)
        model = model_class(v).from_pretrained(os.path.join(d, "model"), dtype=torch.float32,
                                                 attn_implementation="eager")
        model.train()
        adapters = add_adapters(model, d, v["adapters"], 99 + i) if v.get("adapters") else {}
        state = dict(lam=1.0, keep=v.get("keep"), scales={} if v.get("learned") else None, adapters=adapters)
        if v["quant"]:
            patch_ternary(model, RECIPE["group_size"], state)
        teacher = None
        if v.get("distill"):
            teacher = model_class(v).from_pretrained(os.path.join(d, "model"), dtype=torch.float32,
                                                       attn_implementation="eager").eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
            with torch.no_grad():  # the teacher is the starting model as it runs: W + B @ A
                mods = dict(teacher.named_modules())
                for name, (A, Bm) in adapters.items():
                    mods[name].weight += Bm @ A
        if v.get("hidden"):
            student_out, teacher_out = layer_outputs(model), layer_outputs(teacher)
        params = named_params(model)
        decay = [p for n, p in params if "norm" not in n]
        no_decay = [p for n, p in params if "norm" in n]
        for name, (A, Bm) in adapters.items():  # not decayed
            params += [(f"{name}.lora_A.weight", A), (f"{name}.lora_B.weight", Bm)]
            no_decay += [A, Bm]
        scales = state["scales"] or {}
        init = {f"init.{n}": p.detach().clone().squeeze(-1) for n, p in scales.items()}
        opt = torch.optim.AdamW([dict(params=decay, weight_decay=RECIPE["weight_decay"]),
                                 dict(params=no_decay + list(scales.values()), weight_decay=0.0)],
                                lr=RECIPE["lr"], betas=(RECIPE["beta1"], RECIPE["beta2"]), eps=RECIPE["eps"])
        g = torch.Generator().manual_seed(7 + i)
        # Two distinct batches, alternating: random tokens the model can
        # memorise, so the loss visibly falls within a few steps.
        pool = torch.randint(0, VOCAB, (2, B, T + 1), generator=g)
        batches = pool[torch.arange(v["steps"]) % 2]
        trace = []
        for step in range(v["steps"]):
            lr = lr_at(step, v["steps"])
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            state["lam"] = step / v["ramp"] if v.get("ramp") and step < v["ramp"] else 1.0
            x, y = batches[step, :, :T], batches[step, :, 1:]
            if v.get("hidden"):
                student_out.clear()
                teacher_out.clear()
            logits = model(x).logits.reshape(-1, VOCAB)
            loss = Fn.cross_entropy(logits, y.reshape(-1))
            if teacher is not None:
                # alpha*CE + (1 - alpha)*tau^2*[(1 - beta)*KL(teacher || student) + beta*KL(student || teacher)],
                # both at temperature tau.
                alpha, tau = v["distill"]
                beta = v.get("reverse", 0.0)
                with torch.no_grad():
                    lt = Fn.log_softmax(teacher(x).logits.reshape(-1, VOCAB) / tau, -1)
                ls = Fn.log_softmax(logits / tau, -1)
                kl = Fn.kl_div(ls, lt, log_target=True, reduction="batchmean")
                if beta:
                    rkl = (ls.exp() * (ls - lt)).sum(-1).mean()
                    kl = (1 - beta) * kl + beta * rkl
                loss = alpha * loss + (1 - alpha) * tau * tau * kl
                if v.get("hidden"):
                    loss = loss + v["hidden"] * hidden_term(student_out, teacher_out)
            loss.backward()
            if step == 0:
                save_file({n: p.grad.detach().contiguous() for n, p in params}, os.path.join(d, "grads.safetensors"))
                init.update({f"grad.{n}": p.grad.detach().clone().squeeze(-1) for n, p in scales.items()})
            norm = torch.nn.utils.clip_grad_norm_([p for _, p in params] + list(scales.values()), RECIPE["clip"])
            opt.step()
            trace.append(dict(step=step, loss=loss.item(), grad_norm=norm.item(), lr=lr))
        save_file({n: p.detach().contiguous() for n, p in params}, os.path.join(d, "final.safetensors"))
        if scales:
            init.update({f"final.{n}": p.detach().clone().squeeze(-1) for n, p in scales.items()})
            save_file({k: t.contiguous() for k, t in init.items()}, os.path.join(d, "scales.safetensors"))
        with open(os.path.join(d, "batches.bin"), "wb") as f:
            f.write(struct.pack("<5i", 0x54524954, 2, v["steps"], B, T))
            f.write(batches.numpy().astype("<i4").tobytes())
        extra = dict(quant_ramp=v.get("ramp", 0), keep_embedding=v.get("keep", "none"))
        if v.get("distill"):
            extra.update(distill_alpha=v["distill"][0], distill_temp=v["distill"][1])
        if v.get("hidden"):
            extra.update(distill_hidden=v["hidden"])
        if v.get("reverse"):
            extra.update(distill_reverse=v["reverse"])
        if v.get("learned"):
            extra.update(scale="learned")
        json.dump(dict(recipe=dict(RECIPE, steps=v["steps"], quant="ternary" if v["quant"] else "none", **extra),
                       trace=trace), open(os.path.join(d, "trace.json"), "w"), indent=1)
        print(v["name"], " ".join(f"{t['loss']:.4f}" for t in trace))


if __name__ == "__main__":
    main()
